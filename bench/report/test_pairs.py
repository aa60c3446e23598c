#!/usr/bin/python3
"""report.pairs: pairs.py runs each speed target's two rows back to back (with stand-in suites,
so no build is needed), alternating their order, and the report judges a target on the median
of the pairs' ratios (targets.paired, tables.targets_section, generate.py)."""
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import unittest

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import generate  # noqa: E402
import pairs  # noqa: E402
import tables  # noqa: E402
import targets  # noqa: E402

# A stand-in suite: lists NAMES; a run of one (--benchmark_filter=^name$) appends the name to
# $PAIRS_LOG, checks the scale and arguments pairs.py promises, and writes Google Benchmark JSON
# of 3 repetitions whose median is NS[name] ns per operation (as wall_items_per_second; a
# 1-element list: that wall_items_per_second as it is), with FAILURES[name] failures in one of
# them, or exits with EXIT[name].
FAKE_SUITE = """#!{py}
import json, os, re, sys
NAMES = {names!r}
NS, FAILURES, EXIT = {ns!r}, {failures!r}, {exits!r}
args = dict(a.split("=", 1) for a in sys.argv[1:] if "=" in a)
if "--benchmark_list_tests" in sys.argv:
    print("\\n".join(NAMES)); sys.exit(0)
assert os.environ["LFARENA_BENCH_SCALE"] == "full", os.environ["LFARENA_BENCH_SCALE"]
assert args["--benchmark_repetitions"] == "3" and args["--benchmark_min_time"] == "0.5", args
name = [n for n in NAMES if re.fullmatch(args["--benchmark_filter"][1:-1], n)]
assert len(name) == 1, (args["--benchmark_filter"], name)
name = name[0]
with open(os.environ["PAIRS_LOG"], "a") as f:
    f.write(name + "\\n")
if name in EXIT:
    print("boom", file=sys.stderr); sys.exit(EXIT[name])
# Three repetitions: the median's, a slower first one and a faster last one.
with open(args["--benchmark_out"], "w") as f:
    json.dump({{"benchmarks": [{{"name": name, "run_name": name, "run_type": "iteration",
        "iterations": 1000, "failures": FAILURES.get(name, 0) if k == 1 else 0,
        "wall_items_per_second": 1e9 / (NS[name] * x) if isinstance(NS[name], float)
                                 else NS[name][0]}} for k, x in ((0, 3), (1, 1), (2, 0.9))]
        + [{{"name": name + "_median", "run_name": name, "run_type": "aggregate",
             "aggregate_name": "median", "wall_items_per_second": 1.0}}]}}, f)
"""
LF_BUMP = "bump/lfarena-heap/size:64/align:8/iterations:1000/real_time/threads:1"
RAW_BUMP = "bump/raw-atomic/size:64/align:8/iterations:1000/real_time/threads:1"
SEG = "churn/lfarena-segregated-tlc/size:64/segments:1000/iterations:1000/real_time/threads:1"
SEG_10K = "churn/lfarena-segregated-tlc/size:64/segments:10000/iterations:1000/real_time/threads:1"
MI = "churn/mimalloc/size:64/segments:1000/iterations:1000/real_time/threads:1"
TCHUNK = "bump/lfarena-heap-tlc/size:64/align:8/iterations:1000/real_time/threads:1"
MI_BUMP = "bump/mimalloc/size:64/align:8/iterations:1000/real_time/threads:1"
BUMP_T = "bump, 1 thread, 64 B: lfarena-heap vs raw atomic fetch_add"
CHUNK_T = "bump, 1 thread, 64 B: thread-local chunks vs mimalloc"
SEG_T = "segregated churn, 64, 1k segments, 1 thread: vs mimalloc"


def suite(names, ns, failures=None, exits=None):
    return FAKE_SUITE.format(py=sys.executable, names=names, ns=ns, failures=failures or {},
                             exits=exits or {})


def run_tool(files, n=4, only=None, bench_dir=None, code=None, extra=()):
    """files: {suite name: script} -> (pairs.json as written, the rows run in order); `code`:
    the exit status expected (default 0 when a target was measured)."""
    with tempfile.TemporaryDirectory() as tmp:
        bench = os.path.join(tmp, "bench")
        os.makedirs(bench)
        for name, text in files.items():
            path = os.path.join(bench, name)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)
        log, out = os.path.join(tmp, "log"), os.path.join(tmp, "pairs.json")
        open(log, "w").close()
        os.environ["PAIRS_LOG"] = log
        argv = ["--bench-dir", bench_dir or bench, "--out", out, "--pairs", str(n), "--scale",
                "full", "--min-time", "0.5"] + (["--only", only] if only else []) + list(extra)
        status = pairs.main(argv)
        with open(out, encoding="utf-8") as f, open(log, encoding="utf-8") as g:
            data = json.load(f)
            order = g.read().split()
        expected = code if code is not None else 0 if data["targets"] else 1
        assert status == expected, (status, expected)
        return data, order


class RunnerTest(unittest.TestCase):
    def test_pairs_alternate_and_take_the_exact_rows(self):
        ns = {SEG: 20.0, SEG_10K: 99.0, MI: 10.0}
        data, order = run_tool({"churn_bench": suite([SEG, SEG_10K], ns),
                                "peer_mimalloc_bench": suite([MI], ns)}, n=4, only="^segregated")
        self.assertEqual([SEG_T], [t["name"] for t in data["targets"]])
        # mimalloc is the numerator of a "vs mimalloc" target: it runs first in even pairs.
        self.assertEqual([MI, SEG, SEG, MI, MI, SEG, SEG, MI], order)  # never segments:10000
        t = data["targets"][0]
        self.assertEqual((MI, SEG), (t["num"], t["den"]))
        self.assertEqual(["num", "den", "num", "den"], [r["first"] for r in t["runs"]])
        self.assertEqual([0.5] * 4, [round(targets.pair_ratio(r), 6) for r in t["runs"]])
        self.assertAlmostEqual(20.0, t["runs"][0]["den"]["ns"])  # the median repetition's
        self.assertEqual((4, 3, "full", "0.5"),
                         (data["pairs"], data["repetitions"], data["scale"], data["min_time"]))

    def test_a_failed_run_or_failed_operations_leave_that_pair_without_a_ratio(self):
        ns = {LF_BUMP: 12.0, RAW_BUMP: 10.0, TCHUNK: 5.0, MI_BUMP: 10.0}
        data, order = run_tool({"bump_bench": suite([LF_BUMP, RAW_BUMP, TCHUNK], ns,
                                                    failures={TCHUNK: 3}, exits={RAW_BUMP: 6}),
                                "peer_mimalloc_bench": suite([MI_BUMP], ns)}, n=2,
                               only="^bump, 1 thread")
        got = {t["name"]: t for t in data["targets"]}
        self.assertEqual({BUMP_T, CHUNK_T}, set(got))
        self.assertEqual(8, len(order))  # a failing run stops neither its pair nor the others
        bump = got[BUMP_T]["runs"][0]
        self.assertIsNone(bump["den"]["ns"])
        self.assertIn("exit 6", bump["den"]["error"])
        self.assertIn("boom", bump["den"]["error"])
        self.assertAlmostEqual(12.0, bump["num"]["ns"])
        self.assertEqual((None, [None, None], [set(), set()]), targets.paired(got[BUMP_T]))
        median, ratios, failing = targets.paired(got[CHUNK_T])
        self.assertEqual((None, [{"den"}, {"den"}]), (median, failing))  # 3 failed: no ratio

    def test_rows_the_build_lacks_are_named(self):
        data, order = run_tool({"churn_bench": suite([SEG], {SEG: 1.0})}, n=1, only="^segregated",
                               code=1)
        self.assertEqual([], order)
        self.assertIn(f"{SEG_T}: no row mimalloc, 1 thread in this build", data["errors"])

    def test_no_suite_or_no_target_is_an_error_and_exit_1(self):
        data, _ = run_tool({}, bench_dir="/nonexistent/bench", code=1)
        self.assertEqual(["no suite with rows in /nonexistent/bench"], data["errors"])
        data, _ = run_tool({"churn_bench": suite([SEG], {SEG: 1.0})}, only="^nothing", code=1)
        self.assertEqual(["no target's name matches --only '^nothing'"], data["errors"])
        with self.assertRaises(SystemExit):
            run_tool({}, only="(")  # refused before anything runs

    def test_a_bool_or_infinite_time_is_no_time(self):
        for ns in ([True], [1e-320]):  # wall_items_per_second: 1e9 / 1e-320 is inf
            data, _ = run_tool({"bump_bench": suite([LF_BUMP, RAW_BUMP], {LF_BUMP: ns, RAW_BUMP: 1.0})},
                               n=1, only="raw atomic")
            side = data["targets"][0]["runs"][0]["num"]
            self.assertEqual((None, 0), (side["ns"], side["failures"]), side)

    def test_the_budget_stops_between_pairs(self):
        ns = {LF_BUMP: 12.0, RAW_BUMP: 10.0}
        clock = iter(range(100))  # one second passes at every look at the clock
        real = pairs.time.monotonic
        pairs.time.monotonic = lambda: float(next(clock))
        try:
            data, order = run_tool({"bump_bench": suite([LF_BUMP, RAW_BUMP], ns)}, n=5,
                                   only="raw atomic", extra=["--budget", "2.5"])
        finally:
            pairs.time.monotonic = real
        self.assertEqual([LF_BUMP, RAW_BUMP, RAW_BUMP, LF_BUMP], order)  # 2 pairs, then no time
        self.assertIn(f"{BUMP_T}: the budget of 2.5 s was spent after 2 pairs", data["errors"])

    def test_a_process_left_behind_holding_stderr_does_not_make_it_wait(self):
        leaves = ("#!/bin/sh\ncase \"$*\" in *list_tests*) echo " + RAW_BUMP + " ;; *)\n"
                  "setsid sleep 4 &\nexec " + os.path.join("$(dirname \"$0\")", "bump_bench")
                  + " \"$@\" ;; esac\n")
        old = pairs.RUN_TIMEOUT
        pairs.RUN_TIMEOUT = 3
        try:
            data, _ = run_tool({"bump_bench": suite([LF_BUMP, RAW_BUMP], {LF_BUMP: 12.0, RAW_BUMP: 10.0}),
                                "raw_bench": leaves}, n=1, only="raw atomic")
        finally:
            pairs.RUN_TIMEOUT = old
        self.assertAlmostEqual(10.0, data["targets"][0]["runs"][0]["den"]["ns"])

    def test_a_run_that_hangs_is_killed_and_its_target_skips_its_other_pairs(self):
        hang = ("#!/bin/sh\ncase \"$*\" in *list_tests*) echo " + RAW_BUMP + " ;; "
                "*) echo x >> \"$PAIRS_LOG\"; sleep 30 & wait ;; esac\n")
        old = pairs.RUN_TIMEOUT
        pairs.RUN_TIMEOUT = 1
        try:
            data, order = run_tool({"bump_bench": suite([LF_BUMP], {LF_BUMP: 1.0}),
                                    "raw_bench": hang}, n=5, only="raw atomic")
        finally:
            pairs.RUN_TIMEOUT = old
        self.assertEqual([LF_BUMP, "x"], order)  # pair 1 only: the other 4 skipped
        self.assertEqual("no result within 1 s", data["targets"][0]["runs"][0]["den"]["error"])
        self.assertIn(f"{BUMP_T}: a run timed out, 4 pairs skipped", data["errors"])


def pair(num, den, num_failures=0):
    return {"num": {"ns": num, "failures": num_failures, "error": None},
            "den": {"ns": den, "failures": 0, "error": None}}


class StoppedTest(unittest.TestCase):
    def test_an_exception_keeps_the_pairs_measured_names_it_and_exits_1(self):
        ns = {LF_BUMP: 12.0, RAW_BUMP: 10.0, TCHUNK: 5.0, MI_BUMP: 10.0}
        real_measure, calls = pairs.measure, []

        def failing(*args):  # the fourth run (the second pair's second side) raises
            calls.append(args)
            if len(calls) == 4:
                raise OSError("disk full")
            return real_measure(*args)
        pairs.measure = failing
        try:
            data, _ = run_tool({"bump_bench": suite([LF_BUMP, RAW_BUMP, TCHUNK], ns),
                                "peer_mimalloc_bench": suite([MI_BUMP], ns)}, n=3,
                               only="^bump, 1 thread", code=1)
        finally:
            pairs.measure = real_measure
        self.assertEqual([BUMP_T], [t["name"] for t in data["targets"]])
        self.assertEqual(1, len(data["targets"][0]["runs"]), "the first pair is kept")
        self.assertEqual(["pairs.py stopped by OSError: disk full (1 of 2 targets begun, their "
                          "finished pairs kept)"], data["errors"])


class InterruptTest(unittest.TestCase):
    def test_sigterm_keeps_the_pairs_file_and_kills_the_run_in_progress(self):
        # The run asks for the job's end itself (SIGTERM to pairs.py), then hangs: pairs.py
        # must kill it (its own process group), write pairs.json naming the interrupt, and stop.
        with tempfile.TemporaryDirectory() as tmp:
            bench = os.path.join(tmp, "bench")
            os.makedirs(bench)
            pidfile = os.path.join(tmp, "pid")
            script = f"""#!{sys.executable}
import os, signal, sys, time
if "--benchmark_list_tests" in sys.argv:
    print({LF_BUMP!r}); print({RAW_BUMP!r}); sys.exit(0)
with open({pidfile!r}, "w") as f:
    f.write(str(os.getpid()))
os.kill(os.getppid(), signal.SIGTERM)
time.sleep(600)
"""
            path = os.path.join(bench, "bump_bench")
            with open(path, "w", encoding="utf-8") as f:
                f.write(script)
            os.chmod(path, 0o755)
            out = os.path.join(tmp, "pairs.json")
            r = subprocess.run([sys.executable, os.path.join(HERE, "pairs.py"), "--bench-dir",
                                bench, "--out", out, "--pairs", "3", "--scale", "full",
                                "--only", "raw atomic"], capture_output=True, text=True,
                               timeout=60, check=False)
            self.assertNotEqual(0, r.returncode)
            self.assertIn("KeyboardInterrupt", r.stderr)
            with open(out, encoding="utf-8") as f:
                data = json.load(f)
            self.assertEqual([BUMP_T], [t["name"] for t in data["targets"]])
            self.assertEqual([], data["targets"][0]["runs"])
            self.assertEqual(["pairs.py stopped by an interrupt (1 of 1 targets begun, their "
                              "finished pairs kept)"], data["errors"])
            with open(pidfile, encoding="utf-8") as f:
                pid = int(f.read())
            with self.assertRaises(ProcessLookupError):  # killed and reaped, not left behind
                os.kill(pid, 0)


class PairedTest(unittest.TestCase):
    def test_median_of_the_pairs_that_have_a_ratio(self):
        e = {"runs": [pair(1, 2), pair(3, 2), pair(2, 2), pair(9, 1, num_failures=1),
                      pair(None, 1)]}
        self.assertEqual((1.0, [0.5, 1.5, 1.0, None, None], [set(), set(), set(), {"num"}, set()]),
                         targets.paired(e))
        self.assertEqual(1.25, targets.paired({"runs": [pair(1, 1), pair(3, 2)]})[0])

    def test_malformed_entries_have_no_ratio_and_do_not_raise(self):
        for e in (None, {}, {"runs": 3}, {"runs": [None, 7, {"num": 1}]},
                  {"runs": [pair(float("inf"), 1), pair(-1, 1), pair(True, 1), pair("1", 1)]}):
            median, ratios, _ = targets.paired(e)
            self.assertIsNone(median)
            self.assertTrue(all(v is None for v in ratios))


def index(ns):
    """A run's Index holding the bump rows with these ns/op (no rounds)."""
    rows = [{"name": n, "suite": "bump", "subject": s, "params": {"size": "64", "align": "8"},
             "threads": 1, "ns_per_op": v, "counters": {}, "failed_ops": 0, "error": None}
            for (s, n), v in ns.items()]
    return tables.Index(rows)


def target_line(md, name):
    return next(line for line in md.splitlines() if line.startswith(f"| {name} |"))


class ReportTest(unittest.TestCase):
    ix = index({("lfarena-heap", LF_BUMP): 13.0, ("raw-atomic", RAW_BUMP): 10.0})

    def test_without_pairs_the_medians_decide(self):
        md = tables.targets_section(self.ix)
        self.assertNotIn("back to back", md)
        self.assertIn("| 1.30x | <= 1.25x | MISSED |", target_line(md, BUMP_T))

    def test_the_pairs_decide_and_a_disagreeing_medians_ratio_is_named(self):
        p = {"pairs": 3, "repetitions": 3, "seconds": 1.0, "targets": [
            {"name": BUMP_T, "num": LF_BUMP, "den": RAW_BUMP,
             "runs": [pair(11, 10), pair(12, 10), pair(13, 10)]}]}
        md = tables.targets_section(self.ix, p)
        self.assertIn("**Back to back**", md)
        self.assertIn("each in its own process (3 repetitions, their median)", md)
        line = target_line(md, BUMP_T)
        self.assertIn("| 1.20x (3 pairs: 1.10 to 1.30) | 1.30x | <= 1.25x |", line)
        self.assertIn("| met (2 of 3 pairs agree); the medians' ratio says MISSED |", line)
        self.assertIn("| not run |", target_line(md, CHUNK_T))

    def test_the_headline_gives_the_pairs_verdict_too(self):
        self.assertIn("**1.30x** (MISSES the 1.25x target).", tables.headline(self.ix))
        p = {"targets": [{"name": BUMP_T, "num": LF_BUMP, "den": RAW_BUMP,
                          "runs": [pair(11, 10), pair(12, 10), pair(13, 10)]}]}
        self.assertIn("**1.30x** (MISSES the 1.25x target); back to back, the speed targets' "
                      "verdict: **1.20x** (meets).", tables.headline(self.ix, p))

    def test_the_headline_claims_only_what_the_table_decides(self):
        for runs in ([pair(10, 10)] + [pair(None, 10, num_failures=5)] * 8,  # lfarena failed
                     [pair(10, 10)] + [pair(None, 10)] * 8):  # too few pairs
            p = {"targets": [{"name": BUMP_T, "num": LF_BUMP, "den": RAW_BUMP, "runs": runs}]}
            self.assertNotIn("meets", tables.headline(self.ix, p))
        # Pairs measured at another scale than the run's decide nothing.
        p = {"scale": "quick", "targets": [{"name": BUMP_T, "num": LF_BUMP, "den": RAW_BUMP,
                                            "runs": [pair(10, 10)] * 3}]}
        md = tables.targets_section(self.ix, p, "full")
        self.assertIn("**The pairs were measured at scale quick, this run at full: they are not "
                      "used.**", md)
        self.assertIn("| MISSED (by the medians: not run back to back) |", target_line(md, BUMP_T))
        self.assertIn("(meets)", tables.headline(self.ix, p))  # headline alone: report_md's job
        self.assertNotIn("back to back", tables.report_md(
            {"report": "r", "results": [], "machine": {"mode": "full"}, "pairs": p}, [])
            .split("## Speed targets")[0])

    def test_odd_values_neither_crash_nor_count(self):
        big = 10 ** 400
        for e in ({"name": BUMP_T, "num": LF_BUMP.replace("threads:1", "threads:\u00b9"),
                   "den": RAW_BUMP, "runs": [pair(1, 1)]},
                  {"name": BUMP_T, "num": LF_BUMP.replace("threads:1", "threads:" + "9" * 5000),
                   "den": RAW_BUMP, "runs": [pair(1, 1)]},
                  {"name": BUMP_T, "num": LF_BUMP, "den": RAW_BUMP, "runs": [pair(big, 1.0)] * 3}):
            line = target_line(tables.targets_section(self.ix, {"pairs": big, "targets": [e]}),
                               BUMP_T)
            self.assertIn("| MISSED (by the medians", line)
        with_error = pair(10, 10)
        with_error["num"]["error"] = "exit 1"
        self.assertIsNone(targets.pair_ratio(with_error))

    def test_lfarena_failures_in_any_pair_miss_the_target(self):
        runs = [pair(11, 10), pair(11, 10), pair(11, 10), pair(1, 10, num_failures=2)]
        line = target_line(tables.targets_section(self.ix, {"targets": [
            {"name": BUMP_T, "num": LF_BUMP, "den": RAW_BUMP, "runs": runs}]}), BUMP_T)
        self.assertIn("(1 of 4 pairs n/a; 1 with failed operations in lfarena-heap, 1 thread)", line)
        self.assertIn("| MISSED (allocations failed in 1 of 4 pairs) |", line)

    def test_pairs_of_other_rows_are_not_used(self):
        other = LF_BUMP.replace("lfarena-heap", "lfarena-heap-tlc")
        line = target_line(tables.targets_section(self.ix, {"targets": [
            {"name": BUMP_T, "num": other, "den": RAW_BUMP, "runs": [pair(1, 10)] * 3}]}), BUMP_T)
        self.assertIn("| not run | 1.30x |", line)
        self.assertIn("| MISSED (by the medians: not run back to back) |", line)

    def test_malformed_pairs_neither_crash_nor_decide(self):
        for p in ({"errors": None, "targets": [{"name": ["x"], "runs": []}]},
                  {"targets": "x", "pairs": "nine", "seconds": None, "repetitions": [1]},
                  {"targets": [{}, 3, {"name": BUMP_T}], "errors": "abc"}):
            md = tables.targets_section(self.ix, p)
            self.assertIn("**No target ran back to back.**", md)
            self.assertIn("| MISSED (by the medians: not run back to back) |", target_line(md, BUMP_T))
            self.assertNotIn("Pairs not run or cut short: a; b", md)
        md = tables.targets_section(self.ix, {"pairs": "nine", "repetitions": [1], "targets": []})
        self.assertIn("**Back to back** (`bench/report/pairs.py`): nothing was measured, so the "
                      "medians decide every verdict.", md)
        self.assertIn("(pairs.json names no target and no reason.)", md)
        self.assertNotIn("each in its own process", md)  # no method for what did not run
        md = tables.targets_section(self.ix, {"pairs": "nine", "repetitions": [1], "targets": [
            {"name": BUMP_T, "num": LF_BUMP, "den": RAW_BUMP, "runs": [pair(11, 10)]}],
            "errors": ["a\n\n| injected | row |\n"]})
        self.assertIn("1 targets, ? pairs each, ?): ", md)
        self.assertIn("(? repetitions, their median)", md)
        self.assertIn("Pairs not run or cut short: a | injected | row |.", md)
        self.assertNotIn("\n| injected", md)
        huge = {"num": {"ns": 1e308, "failures": 0}, "den": {"ns": 1e-308, "failures": 0}}
        odd = {"num": {"ns": 1.0, "failures": {}}, "den": {"ns": 1.0, "failures": 0}}
        self.assertEqual([None, None], targets.paired({"runs": [huge, odd]})[1])

    def test_with_half_the_pairs_or_fewer_the_medians_decide(self):
        p = {"pairs": 2, "targets": [{"name": BUMP_T, "num": LF_BUMP, "den": RAW_BUMP,
                                      "runs": [pair(11, 10), pair(None, 10)]}]}
        line = target_line(tables.targets_section(self.ix, p), BUMP_T)
        self.assertIn("1.10x (1 pair) (1 of 2 pairs n/a)", line)
        self.assertIn("| MISSED (by the medians: too few pairs) |", line)

    def test_a_stopped_pairs_step_decides_only_with_more_than_half_of_the_planned_pairs(self):
        # 9 planned, 1 run (pairs.py stopped, or its budget ran out): the medians decide, in the
        # table and in the headline (helper-59: one pair of nine turned MISSED into met).
        p = {"pairs": 9, "targets": [{"name": BUMP_T, "num": LF_BUMP, "den": RAW_BUMP,
                                      "runs": [pair(11, 10)]}], "errors": ["pairs.py stopped"]}
        line = target_line(tables.targets_section(self.ix, p), BUMP_T)
        self.assertIn("| MISSED (by the medians: too few pairs) |", line)
        self.assertIsNone(targets.decide(targets.speed_targets(lambda r: True)[0],
                                         p["targets"][0], 9))
        self.assertNotIn("back to back", tables.headline(self.ix, p))
        # 5 of 9 run, all with a ratio: more than half of those planned, so they decide.
        p["targets"][0]["runs"] = [pair(11, 10)] * 5
        line = target_line(tables.targets_section(self.ix, p), BUMP_T)
        self.assertIn("| met; the medians' ratio says MISSED |", line)


def render(run, reports, name):
    """generate.py's report.md for run directory `run`, written as reports/<name>."""
    old = sys.argv
    sys.argv = ["generate.py", "--run-dir", run, "--reports-dir", reports, "--name", name]
    try:
        generate.main()
    finally:
        sys.argv = old
    with open(os.path.join(reports, name, "report.md"), encoding="utf-8") as f:
        return f.read()


class GenerateTest(unittest.TestCase):
    def test_the_report_keeps_and_uses_the_pairs(self):
        with tempfile.TemporaryDirectory() as tmp:
            run = os.path.join(tmp, "run")
            shutil.copytree(os.path.join(HERE, "fixtures", "run"), run)
            p = {"schema": 1, "pairs": 1, "seconds": 2.0, "errors": ["x: no row y in this build"],
                 "targets": [{"name": BUMP_T, "num": LF_BUMP, "den": RAW_BUMP,
                              "runs": [pair(1, 1)]}]}
            with open(os.path.join(run, "pairs.json"), "w", encoding="utf-8") as f:
                json.dump(p, f)
            reports = os.path.join(tmp, "reports")
            md = render(run, reports, "r")
            self.assertIn("| 1.00x (1 pair) |", target_line(md, BUMP_T))
            self.assertIn("each in its own process (one repetition)", md)  # no "repetitions"
            self.assertIn("Pairs not run or cut short: x: no row y in this build.", md)
            with open(os.path.join(reports, "r", "raw", "pairs.json"), encoding="utf-8") as f:
                self.assertEqual(p, json.load(f))
            with open(os.path.join(reports, "r", "results.json"), encoding="utf-8") as f:
                self.assertEqual(p, json.load(f)["pairs"])
            # A pairs.json that is no object, nested too deeply to be written again, or not
            # JSON at all (a pairs step killed while writing it) is named in the report, whose
            # verdicts then come from the medians: it must not pass for a run without pairs.
            for k, (text, why) in enumerate((
                    ("[1]", "not a JSON object"), ("[" * 100000 + "]" * 100000, "nested"),
                    ('{"targets": [], "x": ' + "[" * 900 + "]" * 900 + "}", "nested"),
                    ('{"targets": [{"name"', "Expecting"))):
                with open(os.path.join(run, "pairs.json"), "w", encoding="utf-8") as f:
                    f.write(text)
                md = render(run, reports, f"s{k}")
                self.assertIn("**No target ran back to back.** Pairs not run or cut short: pairs.json "
                              "could not be read: ", md)
                self.assertIn(why, md.split("could not be read: ", 1)[1].split("\n", 1)[0])
                self.assertIn("(by the medians: not run back to back)", target_line(md, BUMP_T))
            # What ci/bench.sh writes when pairs.py died without writing pairs.json.
            with open(os.path.join(run, "pairs.json"), "w", encoding="utf-8") as f:
                json.dump({"schema": 1, "scale": "quick", "targets": [],
                           "errors": ["pairs.py exited with status 137 without writing pairs.json"]},
                          f)
            md = render(run, reports, "stub")
            self.assertIn("**No target ran back to back.** Pairs not run or cut short: pairs.py exited "
                          "with status 137 without writing pairs.json.", md)


if __name__ == "__main__":
    unittest.main()
