#!/usr/bin/python3
"""bench/report/test_rounds.py -- a run in interleaved rounds (ci/bench.sh --full) merges into
the JSON one run of every repetition would have written (merge_rounds.py), and the report names
the rounds and what cpu_probe measured between them. Run directly or through ctest
(report.rounds, label `report`)."""
import json
import math
import os
import statistics
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import machine_section  # noqa: E402
import merge_rounds  # noqa: E402
import tables  # noqa: E402

ROW_A = "churn/lfarena-segregated-tlc/size:64/segments:1000/iterations:400000/real_time/threads:1"
ROW_B = "churn/lfarena-segregated-tlc/size:64/segments:1000/iterations:400000/real_time/threads:2"


def repetition(run_name, index, reps, ns, threads=1, family=0):
    """An iteration entry as Google Benchmark 1.7 writes it."""
    return {"name": run_name, "family_index": family, "per_family_instance_index": 0,
            "run_name": run_name, "run_type": "iteration", "repetitions": reps,
            "repetition_index": index, "threads": threads, "iterations": 400000,
            "real_time": ns, "cpu_time": ns * threads, "time_unit": "ns", "failures": 0.0,
            "wall_items_per_second": 1e9 / ns}


def write_round(directory, date, times_a, times_b):
    os.makedirs(directory, exist_ok=True)
    bench = [repetition(ROW_A, i, len(times_a), t) for i, t in enumerate(times_a)]
    bench += [repetition(ROW_B, i, len(times_b), t, 2, 1) for i, t in enumerate(times_b)]
    # The aggregates this round's own run wrote: the merge must recompute them, not keep them.
    bench.append({"name": ROW_A + "_median", "run_name": ROW_A, "run_type": "aggregate",
                  "aggregate_name": "median", "real_time": -1.0, "wall_items_per_second": -1.0})
    with open(os.path.join(directory, "churn_bench.json"), "w", encoding="utf-8") as f:
        json.dump({"context": {"date": date, "num_cpus": 2}, "benchmarks": bench}, f)


class MergeTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.run = self.tmp.name
        self.a = [[12.0, 11.0, 13.0], [30.0, 31.0, 29.0], [12.5, 11.5, 12.2]]
        self.b = [[6.0, 6.1, 5.9], [9.0, 9.2, 8.8], [6.2, 6.0, 5.8]]
        self.dirs = []
        for k in range(3):
            d = os.path.join(self.run, "rounds", str(k + 1))
            write_round(d, f"2026-12-05T1{k}:00:00+00:00", self.a[k], self.b[k])
            self.dirs.append(d)

    def tearDown(self):
        self.tmp.cleanup()

    def merged(self):
        self.assertEqual(["churn_bench.json"], merge_rounds.merge_run(self.run, self.dirs))
        with open(os.path.join(self.run, "churn_bench.json"), encoding="utf-8") as f:
            return json.load(f)

    def test_every_round_s_repetitions_in_order_renumbered(self):
        got = self.merged()["benchmarks"]
        reps = [e for e in got if e["run_name"] == ROW_A and e["run_type"] == "iteration"]
        self.assertEqual([t for r in self.a for t in r], [e["real_time"] for e in reps])
        self.assertEqual(list(range(9)), [e["repetition_index"] for e in reps])
        self.assertTrue(all(e["repetitions"] == 9 for e in reps))
        # Google Benchmark's order: a row's repetitions, then its aggregates, row by row.
        names = [e["name"] for e in got]
        aggregates = [ROW_A + "_" + n for n in ("mean", "median", "stddev", "cv")]
        self.assertEqual([ROW_A] * 9 + aggregates, names[:13])
        self.assertEqual(ROW_B, names[13])

    def test_aggregates_are_recomputed_over_all_rounds(self):
        got = self.merged()["benchmarks"]
        agg = {e["aggregate_name"]: e for e in got
               if e["run_name"] == ROW_A and e["run_type"] == "aggregate"}
        flat = [t for r in self.a for t in r]
        self.assertEqual(statistics.median(flat), agg["median"]["real_time"])  # 12.5, not -1
        self.assertAlmostEqual(statistics.fmean(flat), agg["mean"]["real_time"])
        self.assertAlmostEqual(statistics.stdev(flat), agg["stddev"]["real_time"])
        self.assertAlmostEqual(statistics.stdev(flat) / statistics.fmean(flat),
                               agg["cv"]["real_time"])
        self.assertEqual(statistics.median(1e9 / t for t in flat),
                         agg["median"]["wall_items_per_second"])
        self.assertEqual((9, 9, "time", "percentage"),
                         (agg["median"]["repetitions"], agg["median"]["iterations"],
                          agg["median"]["aggregate_unit"], agg["cv"]["aggregate_unit"]))

    def test_context_names_the_rounds(self):
        ctx = self.merged()["context"]
        self.assertEqual(3, ctx["lfarena_rounds"])
        self.assertEqual(["2026-12-05T10:00:00+00:00", "2026-12-05T11:00:00+00:00",
                          "2026-12-05T12:00:00+00:00"], ctx["lfarena_round_dates"])
        self.assertEqual(2, ctx["num_cpus"])

    def test_an_errored_repetition_is_kept_but_not_aggregated(self):
        path = os.path.join(self.dirs[1], "churn_bench.json")
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        data["benchmarks"][0].update(error_occurred=True, error_message="region full",
                                     real_time=0.0)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(data, f)
        got = self.merged()["benchmarks"]
        reps = [e for e in got if e["run_name"] == ROW_A and e["run_type"] == "iteration"]
        self.assertEqual(9, len(reps))
        self.assertTrue(reps[3]["error_occurred"])
        median = next(e for e in got if e["name"] == ROW_A + "_median")
        ok = [t for k, r in enumerate(self.a) for i, t in enumerate(r) if (k, i) != (1, 0)]
        self.assertEqual(statistics.median(ok), median["real_time"])
        self.assertEqual(9, median["iterations"])  # Google Benchmark counts errored ones too

    def test_fewer_than_two_good_repetitions_get_no_aggregates(self):
        for k in range(3):  # as Google Benchmark: one good repetition is no distribution
            path = os.path.join(self.dirs[k], "churn_bench.json")
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
            for i, e in enumerate(data["benchmarks"]):
                if e["run_name"] == ROW_A and (k, i) != (0, 0):
                    e.update(error_occurred=True, error_message="region full")
            with open(path, "w", encoding="utf-8") as f:
                json.dump(data, f)
        got = self.merged()["benchmarks"]
        self.assertEqual([ROW_A] * 9, [e["name"] for e in got if e["run_name"] == ROW_A])

    def test_a_partly_failed_row_is_named_and_left_out_of_every_ratio(self):
        path = os.path.join(self.dirs[1], "churn_bench.json")
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        for e in data["benchmarks"]:
            if e["run_name"] == ROW_A and e["run_type"] == "iteration":
                e.update(error_occurred=True, error_message="region full")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(data, f)
        try:
            import generate  # noqa: E402 (imports matplotlib)
        except ImportError:
            self.skipTest("no matplotlib")
        self.merged()
        rows, _ = generate.load_run(self.run)
        row = next(r for r in rows if r["name"] == ROW_A)
        self.assertEqual("3 of 9 repetitions failed: region full", row["error"])
        self.assertIsNone(row["round_ns"][1])
        ix = tables.Index(rows)
        self.assertIsNone(ix.ns("churn", "lfarena-segregated-tlc", 1, size="64", segments="1000"))
        self.assertEqual([], ix.round_ns("churn", "lfarena-segregated-tlc", 1, size="64",
                                         segments="1000"))

    def test_rows_missing_from_a_round_keep_their_rounds_apart(self):
        path = os.path.join(self.dirs[0], "churn_bench.json")
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        data["benchmarks"] = [e for e in data["benchmarks"] if e["run_name"] != ROW_B]
        with open(path, "w", encoding="utf-8") as f:
            json.dump(data, f)
        warnings = []
        merge_rounds.merge_run(self.run, self.dirs, warnings.append)
        self.assertEqual([f"{ROW_B} is missing from round(s) 1"], warnings)
        try:
            import generate  # noqa: E402 (imports matplotlib)
        except ImportError:
            self.skipTest("no matplotlib")
        rows, _ = generate.load_run(self.run)
        row = next(r for r in rows if r["name"] == ROW_B)
        self.assertIsNone(row["round_ns"][0])  # round 1 n/a, rounds 2 and 3 where they ran
        want = [1e9 / statistics.median(1e9 / t for t in r) for r in self.b[1:]]
        self.assertTrue(all(math.isclose(w, g) for w, g in zip(want, row["round_ns"][1:])))

    def test_bad_rounds_are_clear_errors(self):
        path = os.path.join(self.dirs[2], "churn_bench.json")
        for bad in ("null", "[]", '{"benchmarks": null}', '{"context": null, "benchmarks": []}',
                    '{"benchmarks": [1]}', "{"):
            with open(path, "w", encoding="utf-8") as f:
                f.write(bad)
            with self.assertRaises(merge_rounds.MergeError, msg=bad) as e:
                merge_rounds.merge_run(self.run, self.dirs)
            self.assertIn(path, str(e.exception))
        with open(path, "w", encoding="utf-8") as f:  # aggregates only: nothing to merge
            json.dump({"benchmarks": [{"name": ROW_A + "_median", "run_name": ROW_A,
                                       "run_type": "aggregate", "aggregate_name": "median"}]}, f)
        with self.assertRaises(merge_rounds.MergeError) as e:
            merge_rounds.merge_run(self.run, self.dirs)
        self.assertIn("aggregates but no repetitions", str(e.exception))

    def test_a_suite_missing_from_the_first_round_is_an_error_too(self):
        os.rename(os.path.join(self.dirs[0], "churn_bench.json"),
                  os.path.join(self.dirs[0], "other.txt"))
        with self.assertRaises(merge_rounds.MergeError) as e:
            merge_rounds.merge_run(self.run, self.dirs)
        self.assertIn("churn_bench.json is missing from " + self.dirs[0], str(e.exception))

    def test_infinite_values_and_uneven_counters_aggregate_without_a_crash(self):
        path = os.path.join(self.dirs[0], "churn_bench.json")
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        data["benchmarks"][0]["items_per_second"] = math.inf  # a rate over a zero time
        data["benchmarks"][1]["minor_faults"] = 3.0  # a counter only one repetition has
        with open(path, "w", encoding="utf-8") as f:
            json.dump(data, f)
        got = self.merged()["benchmarks"]
        median = next(e for e in got if e["name"] == ROW_A + "_median")
        self.assertTrue(math.isnan(median["items_per_second"]))
        self.assertEqual(3.0, median["minor_faults"])

    def test_a_suite_missing_from_a_later_round_is_an_error(self):
        os.remove(os.path.join(self.dirs[2], "churn_bench.json"))
        with self.assertRaises(merge_rounds.MergeError) as e:
            merge_rounds.merge_run(self.run, self.dirs)
        self.assertIn("churn_bench.json is missing from", str(e.exception))
        self.assertFalse(os.path.exists(os.path.join(self.run, "churn_bench.json")))

    def test_the_report_loader_reads_the_merged_median(self):
        try:
            import generate  # noqa: E402 (imports matplotlib)
        except ImportError:
            self.skipTest("no matplotlib")
        self.merged()
        rows, context = generate.load_run(self.run)
        row = next(r for r in rows if r["name"] == ROW_A)
        flat = [t for r in self.a for t in r]
        want = 1e9 / statistics.median(1e9 / t for t in flat)
        self.assertTrue(math.isclose(row["ns_per_op"], want))
        self.assertEqual(9, row["repetitions"])
        self.assertEqual(3, context["lfarena_rounds"])


    def test_each_repetition_names_its_round_and_the_loader_keeps_per_round_medians(self):
        got = self.merged()["benchmarks"]
        reps = [e for e in got if e["run_name"] == ROW_A and e["run_type"] == "iteration"]
        self.assertEqual([1, 1, 1, 2, 2, 2, 3, 3, 3], [e["lfarena_round"] for e in reps])
        median = next(e for e in got if e["name"] == ROW_A + "_median")
        self.assertNotIn("lfarena_round", median)  # a label, not a measurement
        try:
            import generate  # noqa: E402 (imports matplotlib)
        except ImportError:
            self.skipTest("no matplotlib")
        rows, _ = generate.load_run(self.run)
        row = next(r for r in rows if r["name"] == ROW_A)
        want = [1e9 / statistics.median(1e9 / t for t in r) for r in self.a]
        self.assertEqual(3, len(row["round_ns"]))
        for w, g in zip(want, row["round_ns"]):
            self.assertTrue(math.isclose(w, g))
        self.assertNotIn("lfarena_round", row["counters"])


def target_row(md, name):
    return next(line for line in md.splitlines() if line.startswith(f"| {name} |"))


class GoogleBenchmarkAgreementTest(unittest.TestCase):
    """Two rows of a real --full run (fixtures/gb/: 9 repetitions and the aggregates Google
    Benchmark 1.7.1 wrote; NaN kept as null, as reports keep it), split into 3 rounds of 3 and
    merged: every aggregate equals Google Benchmark's own."""

    def test_merged_aggregates_equal_google_benchmark_s(self):
        with open(os.path.join(HERE, "fixtures", "gb", "churn_9_repetitions.json"),
                  encoding="utf-8") as f:
            real = json.load(f)
        with tempfile.TemporaryDirectory() as tmp:
            dirs = []
            for k in range(3):
                d = os.path.join(tmp, str(k + 1))
                os.makedirs(d)
                reps = [dict(e, repetition_index=e["repetition_index"] % 3, repetitions=3)
                        for e in real["benchmarks"]
                        if e["run_type"] == "iteration" and e["repetition_index"] // 3 == k]
                with open(os.path.join(d, "churn_bench.json"), "w", encoding="utf-8") as f:
                    json.dump({"context": real["context"], "benchmarks": reps}, f)
                dirs.append(d)
            out = os.path.join(tmp, "run")
            os.makedirs(out)
            merge_rounds.merge_run(out, dirs)
            with open(os.path.join(out, "churn_bench.json"), encoding="utf-8") as f:
                merged = json.load(f)["benchmarks"]
        self.assertEqual([e["name"] for e in real["benchmarks"]], [e["name"] for e in merged])
        compared = 0
        for want, got in zip(real["benchmarks"], merged):
            self.assertEqual(set(want), set(got) - {"lfarena_round"}, want["name"])
            for k, v in want.items():
                g = got[k]
                if v is None or (isinstance(v, float) and math.isnan(v)):  # cv of a 0 mean
                    self.assertTrue(isinstance(g, float) and math.isnan(g), (want["name"], k))
                elif isinstance(v, float):
                    self.assertTrue(math.isclose(v, g, rel_tol=1e-7, abs_tol=1e-12),
                                    (want["name"], k, v, g))
                    compared += 1
                else:
                    self.assertEqual(v, g, (want["name"], k))
        self.assertGreater(compared, 150)


class RoundTargetsTest(unittest.TestCase):
    """A speed target's ratio is shown per round, and a verdict that not every round agrees
    with says so."""

    @staticmethod
    def row(subject, ns, rounds):
        return {"suite": "bump", "subject": subject, "params": {"size": "64", "align": "8"},
                "threads": 1, "ns_per_op": ns, "round_ns": rounds, "failed_ops": 0}

    def targets(self, heap_rounds, raw_rounds):
        ix = tables.Index([self.row("lfarena-heap", 7.5, heap_rounds),
                           self.row("raw-atomic", 6.0, raw_rounds)])
        return target_row(tables.targets_section(ix),
                          "bump, 1 thread, 64 B: lfarena-heap vs raw atomic fetch_add")

    def test_rounds_that_disagree_are_counted(self):
        # 7.5 / 6.0 = 1.25: met; the rounds 1.10, 1.40, 1.25: two of three agree.
        line = self.targets([6.6, 8.4, 7.5], [6.0, 6.0, 6.0])
        self.assertIn("1.25x (rounds: 1.10 / 1.40 / 1.25)", line)
        self.assertIn("met (2 of 3 rounds agree)", line)

    def test_agreeing_rounds_add_no_caveat(self):
        line = self.targets([7.2, 7.3, 7.4], [6.0, 6.0, 6.0])
        self.assertIn("| met |", line)

    def test_a_round_without_a_value_is_n_a_not_a_disagreement(self):
        line = self.targets([7.2, None, 7.4], [6.0, 6.0, 6.0])
        self.assertIn("(rounds: 1.20 / n/a / 1.23)", line)
        self.assertIn("| met (1 round(s) n/a) |", line)

    def test_a_failed_row_is_n_a_and_does_not_switch_the_subject(self):
        def churn(subject, error=None):
            return {"suite": "churn", "subject": subject, "threads": 1, "ns_per_op": 12.0,
                    "params": {"size": "64", "segments": "1000"}, "round_ns": [12.0] * 3,
                    "failed_ops": 0, "error": error}
        ix = tables.Index([churn("lfarena-segregated-tlc", "3 of 9 repetitions failed: x"),
                           churn("lfarena-segregated"), churn("mimalloc")])
        line = target_row(tables.targets_section(ix),
                          "segregated churn, 64, 1k segments, 1 thread: vs mimalloc")
        self.assertIn("| n/a (lfarena-segregated-tlc, 1 thread: 3 of 9 repetitions failed: x) "
                      "| >= 1x | n/a (lfarena-segregated-tlc, 1 thread: no time) |", line)
        self.assertIn("lfarena-segregated-tlc ns", line)

    @staticmethod
    def xthread(subject, failed_ops=0):
        return {"suite": "xthread", "subject": subject, "threads": 2, "ns_per_op": 500.0,
                "params": {"size": "mixed", "batch": "4096"}, "round_ns": [500.0] * 3,
                "failed_ops": failed_ops}

    def test_failed_allocations_are_named_and_miss_the_target(self):
        # Report 2026-12-05-vm-5 printed "n/a | 1 | not measured" for a row whose 82% of
        # allocations had failed: it was measured, and it missed.
        ix = tables.Index([self.xthread("lfarena-optimistic", 3443537), self.xthread("glibc")])
        line = target_row(tables.targets_section(ix),
                          "optimistic cross-thread frees, mixed: vs glibc")
        self.assertIn("| n/a (lfarena-optimistic, 2 threads: 3443537 failed allocations over "
                      "every repetition) | >= 1x | MISSED (allocations failed) |", line)

    def test_a_peer_s_failed_allocations_leave_the_target_n_a(self):
        # helper-41: a failing peer row made lfarena's target MISSED.
        ix = tables.Index([self.xthread("lfarena-optimistic"), self.xthread("glibc", 12)])
        line = target_row(tables.targets_section(ix),
                          "optimistic cross-thread frees, mixed: vs glibc")
        self.assertIn("| n/a (glibc, 2 threads: 12 failed allocations over every repetition) "
                      "| >= 1x | n/a (glibc, 2 threads: no time) |", line)

    def test_both_reasons_of_a_row_and_its_thread_count_are_named(self):
        # helper-42: failed repetitions next to failed allocations went unnamed, and a
        # 2-vs-1-thread target named the same subject twice.
        def churn(threads, failed_ops=0, error=None):
            return {"suite": "churn", "subject": "lfarena-segregated-tlc", "threads": threads,
                    "ns_per_op": 12.0, "params": {"size": "64", "segments": "1000"},
                    "round_ns": [], "failed_ops": failed_ops, "error": error}
        ix = tables.Index([churn(1), churn(2, 4, "1 of 9 repetitions failed: y")])
        line = target_row(tables.targets_section(ix),
                          "segregated churn, 64, 1k segments: 2 threads vs 1")
        self.assertIn("| n/a (lfarena-segregated-tlc, 2 threads: 4 failed allocations over every "
                      "repetition; 1 of 9 repetitions failed: y) | >= 1.7x | MISSED", line)

    def test_a_subject_that_did_not_run_is_not_measured(self):
        ix = tables.Index([self.xthread("glibc")])
        line = target_row(tables.targets_section(ix),
                          "optimistic cross-thread frees, mixed: vs glibc")
        self.assertIn("| n/a | >= 1x | not measured |", line)

    def test_the_policy_failing_leaves_the_index_target_n_a(self):
        def churn(subject, failed_ops):
            return {"suite": "churn", "subject": subject, "threads": 1, "ns_per_op": 300.0,
                    "params": {"size": "mixed", "segments": "100000"}, "round_ns": [],
                    "failed_ops": failed_ops}
        ix = tables.Index([churn("lfarena-optimistic", 531252),
                           churn("lfarena-optimistic-linear", 0)])
        line = target_row(tables.targets_section(ix),
                          "optimistic size index vs linear scan, mixed, 100k segments")
        self.assertIn("| >= 10x | n/a (allocations failed) |", line)

    def test_a_run_without_rounds_shows_one_ratio(self):
        line = self.targets([], [])
        self.assertIn("| 1.25x |", line)


class AfterRoundTest(unittest.TestCase):
    """The probe between rounds is a diagnostic: a bad machine.json never stops the run."""

    def test_a_missing_or_damaged_machine_json_is_reported_not_raised(self):
        import machine_info  # noqa: E402
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "machine.json")
            self.assertFalse(machine_info.after_round(path, 1, None))
            for bad in ("[]", "{"):
                with open(path, "w", encoding="utf-8") as f:
                    f.write(bad)
                self.assertFalse(machine_info.after_round(path, 1, None))
            with open(path, "w", encoding="utf-8") as f:
                json.dump({"cpu_probe_rounds": None}, f)
            self.assertTrue(machine_info.after_round(path, 2, None))
            with open(path, encoding="utf-8") as f:
                rounds = json.load(f)["cpu_probe_rounds"]
            self.assertEqual([2], [r["round"] for r in rounds])
            os.makedirs(path + ".tmp")  # the write fails: reported, the file left whole
            self.assertFalse(machine_info.after_round(path, 3, None))
            with open(path, encoding="utf-8") as f:
                self.assertEqual([2], [r["round"] for r in json.load(f)["cpu_probe_rounds"]])


class RoundProbeTextTest(unittest.TestCase):
    MACHINE = {"cpu_pairs": [{"a": 0, "b": 1, "transfer_ns": 230.0}],
               "cpu_probe_rounds": [
                   {"round": 1, "pairs": [{"a": 0, "b": 1, "transfer_ns": 55.0}]},
                   {"round": 2, "pairs": None}],
               "cpu_pairs_end": [{"a": 0, "b": 1, "transfer_ns": 229.0}]}

    def test_a_change_between_rounds_is_named_even_if_the_ends_agree(self):
        t = machine_section.drift_text(self.MACHINE)
        # Round 2's probe failed: every value carries its label.
        self.assertIn("the line hand-off between CPUs 0 and 1 230 ns (start) -> 55 ns (after "
                      "round 1) -> 229 ns (end)", t)
        self.assertIn("after each round", t)
        self.assertIn("same windows", t)

    def test_a_complete_series_is_labelled_once_and_bad_values_are_skipped(self):
        m = {"cpu_pairs": [{"a": 0, "b": 1, "transfer_ns": 230.0}],
             "cpu_probe_rounds": [{"round": 1, "pairs": [{"a": 0, "b": 1, "transfer_ns": 55.0}]},
                                  {"round": 2, "pairs": [{"a": 0, "b": 1, "transfer_ns": True}]}],
             "cpu_pairs_end": [{"a": 0, "b": 1, "transfer_ns": 0.0}]}
        self.assertIn("230 ns (start) -> 55 ns (after round 1)", machine_section.drift_text(m))
        m["cpu_probe_rounds"][1]["pairs"][0]["transfer_ns"] = 60.0
        m["cpu_pairs_end"][0]["transfer_ns"] = 229.0
        self.assertIn("230 -> 55 -> 60 -> 229 ns (start, after round 1, after round 2, end)",
                      machine_section.drift_text(m))

    def test_the_machine_table_lists_the_probes_between_rounds(self):
        rows = dict(machine_section.probe_rows(self.MACHINE))
        self.assertEqual("after round 1: CPU 0-1 55 ns; after round 2: probe failed",
                         rows["cache-line hand-off between rounds"])

    def test_a_run_without_rounds_has_no_such_row(self):
        m = {"cpu_pairs": [{"a": 0, "b": 1, "transfer_ns": 230.0}],
             "cpu_pairs_end": [{"a": 0, "b": 1, "transfer_ns": 60.0}]}
        self.assertNotIn("cache-line hand-off between rounds", dict(machine_section.probe_rows(m)))
        self.assertIn("230 -> 60 ns", machine_section.drift_text(m))
        self.assertIn("Suites run one after another", machine_section.drift_text(m))


if __name__ == "__main__":
    unittest.main()
