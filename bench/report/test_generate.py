#!/usr/bin/python3
"""bench/report/test_generate.py -- renders a report from the fixture run (fixtures/run/: tiny
Google Benchmark JSON + machine.json) into a temporary directory and checks the files and the
ratios in them. Run directly or through ctest (report.generate, label `report`)."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


class GenerateTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.reports = os.path.join(cls.tmp.name, "reports")
        # An older kept run, so the dashboard has history to compare with.
        old = os.path.join(cls.reports, "2025-12-01-old")
        os.makedirs(old)
        with open(os.path.join(old, "results.json"), "w", encoding="utf-8") as f:
            json.dump({"report": "2025-12-01-old", "date": "2025-12-01T00:00:00+00:00",
                       "results": [{"suite": "churn", "subject": "lfarena-pessimistic",
                                    "params": {"size": "mixed", "segments": "20000"},
                                    "threads": 1, "ns_per_op": 30000.0}]}, f)
        subprocess.run([sys.executable, os.path.join(HERE, "generate.py"), "--run-dir",
                        os.path.join(HERE, "fixtures", "run"), "--reports-dir", cls.reports],
                       check=True)
        cls.out = os.path.join(cls.reports, "2026-01-02-fixture-host")
        with open(os.path.join(cls.out, "report.md"), encoding="utf-8") as f:
            cls.md = f.read()

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_files_exist_in_run_dir_and_latest(self):
        for d in (self.out, os.path.join(self.reports, "latest")):
            for name in ("report.md", "results.json", "index.html"):
                self.assertTrue(os.path.isfile(os.path.join(d, name)), f"{d}/{name}")
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            self.skipTest("no matplotlib: charts are skipped")
        for name in ("bump_threads.png", "churn_segments.png", "frag.png"):
            self.assertGreater(os.path.getsize(os.path.join(self.out, name)), 1000, name)

    def test_ratios(self):
        self.assertIn("**1.50x** (MISSES the 1.25x target)", self.md)  # 9 ns vs 6 ns
        self.assertIn("## Speed targets", self.md)
        self.assertIn("| lfarena-heap | 64 | 8 | 2 | 20.00 ns | 10.00 ns | 2.00x |", self.md)
        self.assertIn("7.50 ns (1.20x)", self.md)  # lfarena-heap / glibc
        self.assertIn("(125x from 1k to 100k segments)", self.md)
        self.assertIn("2-core VM", self.md)
        self.assertIn("library_build_type: debug", self.md)

    def test_failed_rows_take_no_part_in_ratios(self):
        # lfarena-optimistic, mixed, 100k segments: 3 failed allocations in the fixture.
        self.assertIn("375.0 µs (3 failed)", self.md)
        self.assertNotIn("Churn optimistic, mixed 24..256 B", self.md)  # no growth headline
        self.assertRegex(self.md, r"\| lfarena-optimistic \| mixed \| 1 \| [^|]+ \| [^|]+ \| "
                                  r"375.0 µs \(3 failed\) \| n/a \| 3 \|")

    def test_unequal_cpus_are_reported(self):
        self.assertIn("at the start CPU 0: 4.9 / 165.0 ns; CPU 1: 4.6 / 30.6 ns; at the end "
                      "CPU 0: 4.8 / 160.0 ns; CPU 1: 4.6 / 31.0 ns", self.md)
        self.assertIn("**The CPUs are not alike:**", self.md)

    def test_line_hand_off_and_its_drift_are_reported(self):
        self.assertIn("| cache-line hand-off between CPUs (ping-pong) | at the start CPU 0-1: "
                      "48 ns; at the end CPU 0-1: 130 ns |", self.md)
        # Memory latency moved by less than 1.5x; the hand-off by 2.7x (more than 2x).
        self.assertIn("**The machine changed during the run:** the line hand-off between CPUs 0 "
                      "and 1 48 -> 130 ns (`cpu_probe`", self.md)

    def test_page_faults_are_shown(self):
        self.assertIn("## Page faults while timed", self.md)
        # 12 faults over the name's 1000 iterations of one thread (not the row's own
        # "iterations" field, which an aggregate row sets to the repetition count).
        self.assertIn("| churn/lfarena-pessimistic/size:mixed/segments:1000/iterations:1000/real_time/"
                      "threads:1 | 12 | 12.000 |", self.md)

    def test_results_json_normalised(self):
        with open(os.path.join(self.out, "results.json"), encoding="utf-8") as f:
            res = json.load(f)
        by_name = {r["name"]: r for r in res["results"]}
        r = by_name["bump/lfarena-heap/size:64/align:8/iterations:1000/real_time/threads:1"]
        self.assertEqual((r["suite"], r["subject"], r["threads"]), ("bump", "lfarena-heap", 1))
        self.assertEqual(r["params"], {"size": "64", "align": "8", "threads": "1"})
        self.assertAlmostEqual(r["ns_per_op"], 9.0, places=6)
        self.assertEqual(len(res["results"]), 4 + 2 + 9 + 3)

    def test_dashboard_self_contained_with_history(self):
        with open(os.path.join(self.out, "index.html"), encoding="utf-8") as f:
            html = f.read()
        for bad in ("src=\"http", "href=\"http", "@import", "cdn"):
            self.assertNotIn(bad, html)
        self.assertIn("2025-12-01-old", html)
        self.assertIn("2026-01-02-fixture-host", html)
        self.assertIn("pessimistic", html)


class PeerDriftTest(unittest.TestCase):
    """The "Changes since" section reads the peers (code the same in both runs) as controls."""

    @staticmethod
    def changes(peer_changes, lfarena_change=-0.3, cpus=None):
        sys.path.insert(0, HERE)
        import changes  # noqa: E402 (the module under test lives next to this file)
        rows = [{"name": f"churn/mimalloc/size:64/segments:{i}/real_time/threads:1",
                 "time_unit": "ns", "old": 10.0, "new": 10.0 * (1 + c), "change": c,
                 "p_value": 0.001 if c else 0.9, "significant": c != 0,
                 "repetitions": [9, 9], "meaningful": True}
                for i, c in enumerate(peer_changes)]
        rows.append({"name": "churn/lfarena-segregated/size:64/segments:1/real_time/threads:1",
                     "time_unit": "ns", "old": 10.0, "new": 10.0 * (1 + lfarena_change),
                     "change": lfarena_change, "p_value": 0.001, "significant": True,
                     "repetitions": [9, 9], "meaningful": True})
        ch = {"baseline": "base", "baseline_path": "reports/base", "alpha": 0.05,
              "suites": ["churn_bench"], "compared": len(rows), "only_in_baseline": [],
              "only_in_this_run": [], "errored": [], "modes": ["full", "full"], "rows": rows}
        if cpus is not None:
            ch["cpus"] = cpus
        return changes.changes_md(ch)

    def test_peers_that_moved_are_reported_as_a_band(self):
        md = self.changes([0.5, -0.2, 0.0, 0.0, 0.0])
        self.assertIn("The peers moved between the runs:** 2 of 5 peer benchmarks", md)
        self.assertIn("by 35% in the median and up to 50%", md)

    def test_a_baseline_from_another_cpu_is_named(self):
        # Report 2026-12-05-vm-6 (Intel Xeon) compared with vm-5 (AMD EPYC) and did not say so.
        md = self.changes([0.0] * 4, cpus=["AMD EPYC", "Intel(R) Xeon(R) Processor"])
        self.assertIn("**The runs ran on different CPUs** (baseline `AMD EPYC`, this run "
                      "`Intel(R) Xeon(R) Processor`", md)
        for same in (["AMD EPYC", "AMD EPYC"], [None, "AMD EPYC"], None):
            self.assertNotIn("different CPUs", self.changes([0.0] * 4, cpus=same))

    def test_quiet_peers_are_reported_as_controls(self):
        md = self.changes([0.0] * 20)
        self.assertNotIn("The peers moved", md)
        self.assertIn("Peers as controls: 0 of 20 peer benchmarks", md)


class DriftTextTest(unittest.TestCase):
    """The report says when the CPU probe at the end of a run disagrees with the one at its start."""

    @staticmethod
    def text(machine):
        sys.path.insert(0, HERE)
        import machine_section  # noqa: E402
        return machine_section.drift_text(machine)

    def test_a_moved_memory_latency_is_named(self):
        t = self.text({"cpu_probe": [{"cpu": 0, "mem_ns": 35.0}, {"cpu": 1, "mem_ns": 36.0}],
                       "cpu_probe_end": [{"cpu": 0, "mem_ns": 144.0}, {"cpu": 1, "mem_ns": 40.0}]})
        self.assertIn("CPU 0's memory latency 35 -> 144 ns", t)
        self.assertNotIn("CPU 1", t)  # 36 -> 40: within 1.3x

    def test_no_end_probe_or_no_change_says_nothing(self):
        self.assertEqual("", self.text({"cpu_probe": [{"cpu": 0, "mem_ns": 35.0}]}))
        # A hand-off moves by up to 1.6x between two probes a second apart under load.
        self.assertEqual("", self.text({"cpu_pairs": [{"a": 0, "b": 1, "transfer_ns": 50.0}],
                                        "cpu_pairs_end": [{"a": 0, "b": 1, "transfer_ns": 90.0}]}))

    def test_missing_and_null_values_neither_crash_nor_hide_the_end(self):
        sys.path.insert(0, HERE)
        import machine_section  # noqa: E402
        m = {"cpu_probe": None, "cpu_pairs": [{"a": 0, "b": 1, "transfer_ns": None}],
             "cpu_probe_end": [{"cpu": 0, "l2_ns": 4.8, "mem_ns": 150.0}],
             "cpu_pairs_end": None}
        self.assertEqual("", self.text(m))
        rows = dict(machine_section.probe_rows(m))
        self.assertEqual("none at the start; at the end CPU 0: 4.8 / 150.0 ns",
                         rows["load latency per CPU (256 KiB / 16 MiB chase)"])
        self.assertNotIn("cache-line hand-off between CPUs (ping-pong)", rows)
        failed = dict(machine_section.probe_rows({"cpu_pairs": [{"a": 0, "b": 1, "transfer_ns": 50.0}],
                                         "cpu_pairs_end": None, "cpu_probe_end": None}))
        self.assertEqual("at the start CPU 0-1: 50 ns; the end probe failed",
                         failed["cache-line hand-off between CPUs (ping-pong)"])


class PinningTextTest(unittest.TestCase):
    """The report states the CPU pinning the run recorded (context `bench_cpus`), and only that."""

    @staticmethod
    def text(context):
        sys.path.insert(0, HERE)
        import machine_section  # noqa: E402
        return machine_section.pinning_text({"context": context})

    def test_recorded_list_is_named(self):
        t = self.text({"bench_cpus": "1,0"})
        self.assertIn("the list 1, 0", t)
        self.assertIn("ran on CPU 1, and the threads of a 2-thread run on different CPUs", t)

    def test_off_and_unrecorded_are_said_as_such(self):
        self.assertIn("were not pinned", self.text({"bench_cpus": "none"}))
        self.assertIn("did not record whether", self.text({}))


if __name__ == "__main__":
    unittest.main()
