#!/usr/bin/python3
"""report.instructions: instructions.py counts the chosen rows (with a stand-in valgrind and
stand-in suites, so the test needs neither valgrind nor a build), refuses what it cannot count,
and the report prints the counts (instr_section.py, generate.py)."""
import json
import os
import stat
import subprocess
import sys
import tempfile
import unittest

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import generate  # noqa: E402
import instr_section  # noqa: E402
import instructions  # noqa: E402
import suites  # noqa: E402

# A stand-in valgrind: drops its own options and runs the program (a stand-in suite prints
# callgrind's "Collected" line itself).
FAKE_VALGRIND = """#!/bin/sh
while [ $# -gt 0 ]; do case "$1" in --*) shift ;; *) break ;; esac; done
exec "$@"
"""
# A stand-in suite: lists NAMES; a run of one (--benchmark_filter=^name$) checks that it runs
# as instructions.py promises (quick scale, loops toggled, no BENCHMARK_* variable, no warm-up),
# writes Google Benchmark JSON with 1000 iterations and FAILURES, prints "Collected : COLLECTED"
# and exits EXIT.
FAKE_SUITE = """#!{py}
import json, os, re, sys
NAMES = {names!r}
args = dict(a.split("=", 1) for a in sys.argv[1:] if "=" in a)
if "--benchmark_list_tests" in sys.argv:
    print("\\n".join(NAMES)); sys.exit(0)
assert os.environ["LFARENA_BENCH_SCALE"] == "quick"
assert os.environ["LFARENA_BENCH_COUNT_LOOPS"] == "1"
assert not [k for k in os.environ if k.startswith("BENCHMARK_")]
assert args["--benchmark_min_warmup_time"] == "0"
if {exit_code}:
    sys.exit({exit_code})
name = [n for n in NAMES if re.fullmatch(args["--benchmark_filter"][1:-1], n)]
assert len(name) == 1, (args["--benchmark_filter"], name)
with open(args["--benchmark_out"], "w") as f:
    json.dump({{"context": {{"callgrind_toggles": "{toggles}"}}, "benchmarks": [
        {{"name": name[0], "run_name": name[0], "run_type": "iteration", "iterations": 1000,
          "failures": {failures}}}]}}, f)
print("==1== Collected : {collected}", file=sys.stderr)
"""
CHURN = "churn/lfarena-segregated-tlc/size:64/segments:1000/iterations:1000/real_time/threads:1"
BUMP = "bump/mimalloc/size:64/align:8/iterations:1000/real_time/threads:1"
NOT_CHOSEN = ["churn/lfarena-segregated-tlc/size:64/segments:1000/iterations:1000/real_time/threads:2",
              "bump/mimalloc/size:16/align:8/iterations:1000/real_time/threads:1",
              "xthread/mimalloc/size:64/batch:4096/iterations:1000/real_time/threads:2"]


def executable(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)


def suite(names, toggles="yes", failures=0, exit_code=0, collected=233000):
    return FAKE_SUITE.format(py=sys.executable, names=names, toggles=toggles, failures=failures,
                             exit_code=exit_code, collected=collected)


def run_tool(files, valgrind=True):
    """files: {name in the bench dir: script text, or None for a directory} -> the
    instructions.json instructions.py writes for that bench dir (with the stand-in valgrind)."""
    with tempfile.TemporaryDirectory() as tmp:
        bench = os.path.join(tmp, "bench")
        os.makedirs(bench)
        for name, text in files.items():
            if text is None:
                os.makedirs(os.path.join(bench, name))
            else:
                executable(os.path.join(bench, name), text)
        executable(os.path.join(tmp, "valgrind"), FAKE_VALGRIND)
        out = os.path.join(tmp, "instructions.json")
        old = os.environ.get("BENCHMARK_MIN_WARMUP_TIME")
        os.environ["BENCHMARK_MIN_WARMUP_TIME"] = "1"  # must not reach the suite
        try:
            instructions.main(["--bench-dir", bench, "--out", out, "--valgrind",
                               os.path.join(tmp, "valgrind" if valgrind else "no-such-valgrind")])
        finally:
            if old is None:
                del os.environ["BENCHMARK_MIN_WARMUP_TIME"]
            else:
                os.environ["BENCHMARK_MIN_WARMUP_TIME"] = old
        with open(out, encoding="utf-8") as f:
            return json.load(f)


class CountTest(unittest.TestCase):
    def test_chosen_rows_are_counted_per_operation(self):
        data = run_tool({"churn_bench": suite([CHURN] + NOT_CHOSEN),
                         "peer_mimalloc_bench": suite([BUMP], failures=7)})
        self.assertEqual([], data["errors"])
        got = {r["name"]: r for r in data["rows"]}
        self.assertEqual({CHURN, BUMP}, set(got))  # 2-thread, 16 B and xthread rows are not
        self.assertEqual(233.0, got[CHURN]["per_op"])
        self.assertEqual(("churn", "lfarena-segregated-tlc"),
                         (got[CHURN]["suite"], got[CHURN]["subject"]))
        self.assertEqual("1000", got[CHURN]["params"]["segments"])
        self.assertEqual(7, got[BUMP]["failures"])

    def test_a_run_that_does_not_toggle_is_refused(self):
        # Its count would be the whole program's, taken for the loop's.
        for toggles in ("off", "not built"):
            data = run_tool({"churn_bench": suite([CHURN], toggles=toggles)})
            self.assertEqual([], data["rows"])
            self.assertEqual(1, len(data["errors"]))
            self.assertIn("does not toggle callgrind", data["errors"][0])

    def test_nothing_counted_is_refused(self):
        data = run_tool({"churn_bench": suite([CHURN], collected=0)})
        self.assertEqual([], data["rows"])
        self.assertIn("nothing counted", data["errors"][0])

    def test_a_failing_run_is_an_error_not_a_traceback(self):
        data = run_tool({"churn_bench": suite([CHURN], exit_code=3)})
        self.assertEqual([], data["rows"])
        self.assertIn("exit 3", data["errors"][0])

    def test_a_bad_failures_counter_is_an_error_and_the_other_rows_stay(self):
        data = run_tool({"churn_bench": suite([CHURN], failures="float('nan')"),
                         "peer_mimalloc_bench": suite([BUMP])})
        self.assertEqual([BUMP], [r["name"] for r in data["rows"]])
        self.assertIn("is not a count", data["errors"][0])

    def test_odd_suites_are_named_or_skipped(self):
        data = run_tool({"broken_bench": "#!/bin/sh\nexit 4\n",
                         "notelf_bench": "not a program\n",  # exec format error
                         "dir_bench": None,
                         "churn_bench": suite([CHURN])})
        self.assertEqual([CHURN], [r["name"] for r in data["rows"]])
        self.assertIn("broken_bench --benchmark_list_tests: exit 4", data["errors"])
        self.assertTrue(any(e.startswith("notelf_bench --benchmark_list_tests:")
                            for e in data["errors"]), data["errors"])
        self.assertEqual(2, len(data["errors"]))

    def test_a_hanging_suite_is_given_up(self):
        old = suites.LIST_TIMEOUT
        suites.LIST_TIMEOUT = 1
        try:
            data = run_tool({"hang_bench": "#!/bin/sh\nexec sleep 30\n"})
        finally:
            suites.LIST_TIMEOUT = old
        self.assertIn("timed out", data["errors"][0])

    def test_only_1_thread_rows_are_counted(self):
        self.assertIn("not a 1-thread row", instructions.count("/bin/true", NOT_CHOSEN[0]))

    def test_without_valgrind_the_count_is_skipped(self):
        data = run_tool({}, valgrind=False)
        self.assertIn("not installed", data["skipped"])
        self.assertIn("Not counted in this run", instr_section.section(data))

    def test_filter_escape_leaves_dashes_alone(self):
        # Google Benchmark's std::regex refuses Python's re.escape of '-' ("\\-").
        self.assertEqual("churn/lfarena-none/a\\.b", instructions.gb_escape("churn/lfarena-none/a.b"))


def row(suite, subject, per_op, failures=0, **params):
    return {"suite": suite, "subject": subject, "params": params, "per_op": per_op,
            "failures": failures}


class SectionTest(unittest.TestCase):
    DATA = {"tool": "callgrind (valgrind-3.19.0)", "scale": "quick", "errors": ["x: exit 1"],
            "rows": [row("churn", "mimalloc", 100.0, size="64", segments="1000"),
                     row("churn", "lfarena-segregated-tlc", 233.0, size="64", segments="1000"),
                     row("churn", "lfarena-segregated-tlc", 233.0, size="64", segments="100000"),
                     row("churn", "lfarena-optimistic", 2851.0, 84386, size="mixed", segments="1000"),
                     row("bump", "raw-atomic", 23.0, size="64", align="8"),
                     row("bump", "lfarena-heap", 80.5, size="64", align="8")]}

    def test_tables_ratios_and_errors(self):
        text = instr_section.section(self.DATA)
        self.assertIn("| lfarena-segregated-tlc | 233 | n/a | 233 |", text)
        self.assertIn("| lfarena-segregated-tlc / mimalloc | 2.33x |", text)
        self.assertIn("2851 (84386 failed)", text)
        self.assertIn("lfarena-segregated-tlc 1.00x", text)  # 100k over 1k
        self.assertIn("| lfarena-heap | 80 | 3.50x | n/a |", text)
        self.assertIn("- x: exit 1", text)
        # lfarena's subjects first, in the order of instr_section.CHURN
        self.assertLess(text.index("| lfarena-segregated-tlc | 233"), text.index("| mimalloc |"))

    def test_a_failing_row_takes_no_part_in_a_ratio(self):
        data = {"rows": [row("churn", "lfarena-segregated-tlc", 233.0, 5, size="64", segments="1000"),
                         row("churn", "mimalloc", 100.0, size="64", segments="1000")]}
        self.assertIn("| lfarena-segregated-tlc / mimalloc | n/a |", instr_section.section(data))

    def test_a_malformed_file_is_said_so_never_a_traceback(self):
        good = row("churn", "mimalloc", 100.0, size="64", segments="1000")
        for bad, said in ((["not", "an object"], "not a JSON object"),
                          ({"rows": None}, "no list of rows"),
                          ({"rows": {"a": 1}}, "no list of rows"),
                          ({"rows": [None, good]}, "1 malformed row(s)"),
                          ({"rows": [{"suite": "churn"}, good]}, "1 malformed row(s)"),
                          ({"rows": [dict(good, per_op="3"), good]}, "1 malformed row(s)"),
                          ({"rows": [dict(good, per_op=float("nan")), good]}, "1 malformed row(s)"),
                          ({"rows": [dict(good, params=None), good]}, "1 malformed row(s)"),
                          ({"rows": [dict(good, failures=-1), good]}, "1 malformed row(s)"),
                          ({"rows": [good], "errors": "one string"}, "- one string\n")):
            text = instr_section.section(bad)
            self.assertIn(said, text, bad)
            if isinstance(bad, dict) and isinstance(bad["rows"], list):
                self.assertIn("| mimalloc | 100 |", text)  # the good row stays

    def test_no_counts_no_section(self):
        self.assertEqual("", instr_section.section(None))

    def test_the_report_prints_the_run_s_counts(self):
        # generate.py reads RUN/instructions.json, keeps it in raw/ and never takes it for a
        # suite (report 2026-12-05-vm-5 and before had no such section).
        fixture = os.path.join(HERE, "fixtures", "run")
        with tempfile.TemporaryDirectory() as tmp:
            run = os.path.join(tmp, "run")
            subprocess.run(["cp", "-r", fixture, run], check=True)
            with open(os.path.join(run, "instructions.json"), "w", encoding="utf-8") as f:
                json.dump(self.DATA, f)
            rows, _ = generate.load_run(run)
            self.assertNotIn("instructions", {r["name"] for r in rows})
            reports = os.path.join(tmp, "reports")
            subprocess.run([sys.executable, os.path.join(HERE, "generate.py"), "--run-dir", run,
                            "--reports-dir", reports, "--name", "t", "--no-latest"],
                           check=True, capture_output=True)
            with open(os.path.join(reports, "t", "report.md"), encoding="utf-8") as f:
                md = f.read()
            self.assertIn("## Instructions per operation (callgrind)", md)
            self.assertTrue(os.path.exists(os.path.join(reports, "t", "raw", "instructions.json")))
            with open(os.path.join(reports, "t", "results.json"), encoding="utf-8") as f:
                self.assertEqual(self.DATA["rows"], json.load(f)["instructions"]["rows"])
            # An unreadable file: a warning and a line in the section, the report still written.
            with open(os.path.join(run, "instructions.json"), "w", encoding="utf-8") as f:
                f.write("{ not json")
            p = subprocess.run([sys.executable, os.path.join(HERE, "generate.py"), "--run-dir",
                                run, "--reports-dir", reports, "--name", "u", "--no-latest"],
                               capture_output=True, text=True)
            self.assertEqual(0, p.returncode, p.stderr)
            with open(os.path.join(reports, "u", "report.md"), encoding="utf-8") as f:
                md = f.read()
            self.assertIn("No counts in this run:\n\n- instructions.json could not be read", md)
            self.assertNotIn("Counted by", md)  # no method text for counts that are not there
            # helper-42: an unreadable machine.json or an instructions.json that is no file
            # stopped the report with a traceback.
            with open(os.path.join(run, "machine.json"), "w", encoding="utf-8") as f:
                f.write("{ truncated")
            os.remove(os.path.join(run, "instructions.json"))
            os.makedirs(os.path.join(run, "instructions.json"))
            p = subprocess.run([sys.executable, os.path.join(HERE, "generate.py"), "--run-dir",
                                run, "--reports-dir", reports, "--name", "v", "--no-latest"],
                               capture_output=True, text=True)
            self.assertEqual(0, p.returncode, p.stderr)
            self.assertIn("warning", p.stderr)
            self.assertTrue(os.path.exists(os.path.join(reports, "v", "report.md")))


if __name__ == "__main__":
    unittest.main()
