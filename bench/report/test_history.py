#!/usr/bin/python3
"""bench/report/test_history.py -- benchmark history: the raw JSON a report keeps, "Changes since"
from Google Benchmark's compare.py (U test), and the dashboard rendered in headless Chromium
(check_dashboard.py) passing when drawn and failing on seeded faults. ctest report.history (label
`report`), registered when compare.py, scipy and chromium are present (ci/deps.sh installs them)."""
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.dont_write_bytecode = True  # never leave __pycache__ in the source tree

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.join(HERE, "fixtures", "run")
BENCH = "churn/lfarena-segregated/size:64/segments:1000/iterations:1000/real_time/threads:1"
SLOWER = "churn/lfarena-pessimistic/size:64/segments:1000/iterations:1000/real_time/threads:1"
FASTER = "churn/mimalloc/size:64/segments:1000/iterations:1000/real_time/threads:1"


def gbench_json(times_by_name, seed):
    """Google Benchmark JSON with every repetition (what --benchmark_display_aggregates_only
    writes to --benchmark_out) plus the median aggregate, like a real suite."""
    rng = random.Random(seed)
    out = []
    for name, centre in times_by_name.items():
        reps = [centre * (1 + rng.uniform(-0.02, 0.02)) for _ in range(9)]
        for i, t in enumerate(reps):
            out.append({"name": name, "family_index": 0, "per_family_instance_index": 0,
                        "run_name": name, "run_type": "iteration", "repetitions": 9,
                        "repetition_index": i, "threads": 1, "iterations": 1000,
                        "real_time": t, "cpu_time": t, "time_unit": "ns",
                        "items_per_second": 1e9 / t})
        med = sorted(reps)[4]
        out.append({"name": name + "_median", "family_index": 0, "per_family_instance_index": 0,
                    "run_name": name, "run_type": "aggregate", "repetitions": 9, "threads": 1,
                    "aggregate_name": "median", "aggregate_unit": "time", "iterations": 9,
                    "real_time": med, "cpu_time": med, "time_unit": "ns",
                    "items_per_second": 1e9 / med})
    return {"context": {"date": "2026-01-01T00:00:00+00:00", "host_name": "fixture-host",
                        "num_cpus": 2, "library_build_type": "release"}, "benchmarks": out}


def generate(*args):
    return subprocess.run([sys.executable, os.path.join(HERE, "generate.py"), *args],
                          capture_output=True, text=True)


class History(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        t = cls.tmp.name
        cls.reports = os.path.join(t, "reports")
        # Two runs of one suite: BENCH unchanged, SLOWER 30% slower, FASTER 30% faster.
        for run, slow, fast, seed in (("run1", 100.0, 50.0, 1), ("run2", 130.0, 35.0, 2)):
            d = os.path.join(t, run)
            shutil.copytree(FIXTURE, d)
            with open(os.path.join(d, "churn_bench.json"), "w", encoding="utf-8") as f:
                json.dump(gbench_json({BENCH: 80.0, SLOWER: slow, FASTER: fast}, seed), f)
        first = generate("--run-dir", os.path.join(t, "run1"), "--reports-dir", cls.reports)
        assert first.returncode == 0, first.stderr
        cls.baseline = os.path.join(cls.reports, "2026-01-02-fixture-host")
        cls.second = generate("--run-dir", os.path.join(t, "run2"), "--reports-dir", cls.reports,
                              "--compare", cls.baseline)
        cls.out = os.path.join(cls.reports, "2026-01-02-fixture-host-2")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def md(self, report):
        with open(os.path.join(report, "report.md"), encoding="utf-8") as f:
            return f.read()

    def test_raw_json_kept_unchanged_with_every_repetition(self):
        raw = os.path.join(self.baseline, "raw")
        self.assertEqual(sorted(os.listdir(raw)), sorted(os.listdir(FIXTURE)))
        with open(os.path.join(raw, "churn_bench.json"), encoding="utf-8") as f:
            data = json.load(f)
        reps = [b for b in data["benchmarks"] if b["run_type"] == "iteration"]
        self.assertEqual(len(reps), 27)  # 3 benchmarks x 9 repetitions, not only aggregates

    def test_compare_names_significant_changes_with_p_values(self):
        self.assertEqual(self.second.returncode, 0, self.second.stderr)
        md = self.md(self.out)  # a second report of the same day never overwrites its baseline
        self.assertIn("## Changes since 2026-01-02-fixture-host", md)
        self.assertIn("**1 significant regressions**, **1 significant improvements**", md)
        reg = re.search(r"\| `" + re.escape(SLOWER) + r"` \| [^|]+ \| [^|]+ \| \+(\d+\.\d)% \| "
                        r"(0\.\d{4}) \|", md)
        self.assertIsNotNone(reg, md)
        self.assertAlmostEqual(float(reg.group(1)), 30.0, delta=3)
        self.assertLess(float(reg.group(2)), 0.01)
        imp = re.search(r"\| `" + re.escape(FASTER) + r"` \| [^|]+ \| [^|]+ \| -(\d+\.\d)% \| "
                        r"(0\.\d{4}) \|", md)
        self.assertIsNotNone(imp, md)
        self.assertNotIn(f"`{BENCH}`", md.split("## Changes since")[1].split("\n## ")[0])
        with open(os.path.join(self.out, "results.json"), encoding="utf-8") as f:
            ch = json.load(f)["changes"]
        churn = [r for r in ch["rows"] if r["suite"] == "churn"]
        self.assertEqual(len(churn), 3)
        self.assertEqual({tuple(r["repetitions"]) for r in churn}, {(9, 9)})
        self.assertEqual(sum(r["significant"] for r in ch["rows"]), 2)
        self.assertNotIn("## Changes since", self.md(self.baseline))

    def test_compare_refuses_a_baseline_without_raw_json(self):
        old = os.path.join(self.tmp.name, "old-report")
        os.makedirs(old, exist_ok=True)
        p = generate("--run-dir", FIXTURE, "--reports-dir", os.path.join(self.tmp.name, "x"),
                     "--compare", old)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("no raw/*_bench.json", p.stderr)

    def check(self, page):
        return subprocess.run([sys.executable, os.path.join(HERE, "check_dashboard.py"), page],
                              capture_output=True, text=True)

    def test_dashboard_renders_in_chromium_with_history_and_changes(self):
        page = os.path.join(self.out, "index.html")
        p = self.check(page)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("4 charts", p.stdout)
        with open(page, encoding="utf-8") as f:
            html = f.read()
        self.assertIn(SLOWER, html)  # the changes table's data

    def test_dashboard_over_the_committed_reports_renders(self):
        # The real history (reports/*/results.json of this repository), drawn by today's code.
        sys.path.insert(0, HERE)
        import dashboard
        runs = dashboard.collect_runs(os.path.join(HERE, "..", "..", "reports"))
        self.assertGreaterEqual(len(runs), 1)
        page = os.path.join(self.tmp.name, "committed.html")
        with open(page, "w", encoding="utf-8") as f:
            f.write(dashboard.render(runs))
        p = self.check(page)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def seeded(self, old, new):
        """A copy of the dashboard with one fault seeded (the check must catch it)."""
        with open(os.path.join(self.out, "index.html"), encoding="utf-8") as f:
            html = f.read()
        self.assertIn(old, html)
        path = os.path.join(self.tmp.name, f"seeded-{abs(hash(new))}.html")
        with open(path, "w", encoding="utf-8") as f:
            f.write(html.replace(old, new, 1))
        return path

    def test_check_fails_on_a_javascript_error(self):
        page = self.seeded("sel.onchange = history; history();",
                           "sel.onchange = history; history(); undefinedFunction();")
        p = self.check(page)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("JavaScript error", p.stdout)
        self.assertIn("undefinedFunction", p.stdout)

    def test_check_fails_on_an_empty_chart(self):
        # The bump ratio series loses its data: the chart draws "no data".
        page = self.seeded("(r.bump['lfarena-heap'] || {})['1']", "(r.bump['nothing'] || {})['1']")
        p = self.check(page)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("empty chart #bump", p.stdout)


if __name__ == "__main__":
    unittest.main()
