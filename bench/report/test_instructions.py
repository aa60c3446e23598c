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

# A stand-in valgrind: drops its own options and runs the program (a stand-in suite prints
# callgrind's "Collected" line itself).
FAKE_VALGRIND = """#!/bin/sh
while [ $# -gt 0 ]; do case "$1" in --*) shift ;; *) break ;; esac; done
exec "$@"
"""
# A stand-in suite: lists NAMES; a run of one (--benchmark_filter=^name$) writes Google
# Benchmark JSON with ITERATIONS and FAILURES, prints "Collected : COUNT" and exits EXIT.
FAKE_SUITE = """#!{py}
import json, re, sys
NAMES = {names!r}
args = dict(a.split("=", 1) for a in sys.argv[1:] if "=" in a)
if "--benchmark_list_tests" in sys.argv:
    print("\\n".join(NAMES)); sys.exit(0)
if {exit_code}:
    sys.exit({exit_code})
name = [n for n in NAMES if re.fullmatch(args["--benchmark_filter"][1:-1], n)]
assert len(name) == 1, (args["--benchmark_filter"], name)
with open(args["--benchmark_out"], "w") as f:
    json.dump({{"context": {{"callgrind_toggles": "{toggles}"}}, "benchmarks": [
        {{"name": name[0], "run_name": name[0], "run_type": "iteration", "iterations": 1000,
          "failures": {failures}}}]}}, f)
print("==1== Collected : 233000", file=sys.stderr)
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


class CountTest(unittest.TestCase):
    def run_tool(self, suites):
        """suites: {binary name: (names, toggles, failures, exit code)} -> instructions.json."""
        with tempfile.TemporaryDirectory() as tmp:
            bench = os.path.join(tmp, "bench")
            os.makedirs(bench)
            for exe, (names, toggles, failures, code) in suites.items():
                executable(os.path.join(bench, exe), FAKE_SUITE.format(
                    py=sys.executable, names=names, toggles=toggles, failures=failures,
                    exit_code=code))
            executable(os.path.join(tmp, "valgrind"), FAKE_VALGRIND)
            out = os.path.join(tmp, "instructions.json")
            instructions.main(["--bench-dir", bench, "--out", out,
                               "--valgrind", os.path.join(tmp, "valgrind")])
            with open(out, encoding="utf-8") as f:
                return json.load(f)

    def test_chosen_rows_are_counted_per_operation(self):
        data = self.run_tool({"churn_bench": ([CHURN] + NOT_CHOSEN, "yes", 0, 0),
                              "peer_mimalloc_bench": ([BUMP], "yes", 7, 0)})
        self.assertEqual([], data["errors"])
        got = {r["name"]: r for r in data["rows"]}
        self.assertEqual({CHURN, BUMP}, set(got))  # 2-thread, 16 B and xthread rows are not
        self.assertEqual(233.0, got[CHURN]["per_op"])
        self.assertEqual(("churn", "lfarena-segregated-tlc"),
                         (got[CHURN]["suite"], got[CHURN]["subject"]))
        self.assertEqual("1000", got[CHURN]["params"]["segments"])
        self.assertEqual(7, got[BUMP]["failures"])

    def test_a_build_without_toggles_is_refused(self):
        # Its count would be the whole program's, taken for the loop's.
        data = self.run_tool({"churn_bench": ([CHURN], "no", 0, 0)})
        self.assertEqual([], data["rows"])
        self.assertEqual(1, len(data["errors"]))
        self.assertIn("without the callgrind toggles", data["errors"][0])

    def test_a_failing_run_is_an_error_not_a_traceback(self):
        data = self.run_tool({"churn_bench": ([CHURN], "yes", 0, 3)})
        self.assertEqual([], data["rows"])
        self.assertIn("exit 3", data["errors"][0])

    def test_a_suite_that_cannot_list_its_tests_is_named(self):
        with tempfile.TemporaryDirectory() as tmp:
            executable(os.path.join(tmp, "broken_bench"), "#!/bin/sh\nexit 4\n")
            executable(os.path.join(tmp, "valgrind"), FAKE_VALGRIND)
            out = os.path.join(tmp, "i.json")
            instructions.main(["--bench-dir", tmp, "--out", out,
                               "--valgrind", os.path.join(tmp, "valgrind")])
            with open(out, encoding="utf-8") as f:
                data = json.load(f)
        self.assertIn("broken_bench --benchmark_list_tests: exit 4", data["errors"])

    def test_without_valgrind_the_count_is_skipped(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "i.json")
            instructions.main(["--bench-dir", tmp, "--out", out,
                               "--valgrind", os.path.join(tmp, "no-such-valgrind")])
            with open(out, encoding="utf-8") as f:
                data = json.load(f)
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


if __name__ == "__main__":
    unittest.main()
