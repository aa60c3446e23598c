#!/usr/bin/python3
"""bench/report/test_run_suite.py -- ci/run-suite.sh, one suite run of ci/bench.sh: a suite that
writes its JSON is "ok", one that fails is "FAILED" with its log's tail, and one that hangs is
killed at the time limit ("TIMED OUT", exit 124) instead of holding the benchmark job forever.
Stand-in suites (shell scripts): no build needed; a 2 s grace before SIGKILL
(LFARENA_SUITE_KILL_GRACE) keeps the test short. Run directly or through ctest
(report.suite_limit, label `report`)."""
import os
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
RUN_SUITE = os.path.join(HERE, "..", "..", "ci", "run-suite.sh")

# A stand-in suite writes what Google Benchmark's --benchmark_out would (two entries, a line
# each) and says which arguments it got on its console.
GOOD = """#!/bin/sh
for a in "$@"; do case "$a" in --benchmark_out=*) out=${a#--benchmark_out=} ;; esac; done
printf '{"benchmarks": [\n{"run_name": "x/1"},\n{"run_name": "x/2"}\n]}\n' > "$out"
echo "args: $*"
"""
FAILING = """#!/bin/sh
echo "suite: something broke"
exit 3
"""
# Hangs until killed (exec: the process timeout signals is the one that hangs).
HANGING = """#!/bin/sh
echo "suite: started"
exec sleep 600
"""
# Exits 0 without writing the JSON, or with an empty one.
NO_JSON = """#!/bin/sh
echo "suite: nothing to write"
"""
EMPTY_JSON = """#!/bin/sh
for a in "$@"; do case "$a" in --benchmark_out=*) out=${a#--benchmark_out=} ;; esac; done
printf '{"benchmarks": []}\\n' > "$out"
"""
# Its own exit status 124 (timeout's for a time-out), or a SIGKILL from elsewhere (137).
EXIT_124 = """#!/bin/sh
echo "suite: internal failure"
exit 124
"""
KILLED = """#!/bin/sh
echo "suite: killed by the OOM killer"
kill -KILL $$
"""
# Ignores SIGTERM: only the SIGKILL after the grace period ends it.
STUBBORN = """#!/bin/sh
trap '' TERM
echo "suite: ignoring SIGTERM"
while :; do sleep 1; done
"""


class RunSuiteTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def suite(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(path, 0o755)
        return path

    def run_suite(self, limit, exe, *args, grace="2"):
        env = dict(os.environ, LFARENA_SUITE_KILL_GRACE=grace)
        return subprocess.run(["bash", RUN_SUITE, str(limit), self.dir, exe, *args], env=env,
                              capture_output=True, text=True, timeout=60, check=False)

    def test_a_suite_that_finishes_is_ok_with_its_entries_counted(self):
        exe = self.suite("good_bench", GOOD)
        r = self.run_suite(60, exe, "--benchmark_repetitions=3")
        self.assertEqual(0, r.returncode, r.stderr)
        self.assertRegex(r.stdout, r"^ok \(\d+ s, 2 JSON entries\)$")
        with open(os.path.join(self.dir, "good_bench.log"), encoding="utf-8") as f:
            log = f.read()
        self.assertIn("--benchmark_repetitions=3", log)
        self.assertIn("--benchmark_out=" + os.path.join(self.dir, "good_bench.json"), log)
        self.assertIn("--benchmark_out_format=json", log)

    def test_a_failing_suite_is_named_with_its_exit_status_and_log(self):
        exe = self.suite("bad_bench", FAILING)
        r = self.run_suite(60, exe)
        self.assertEqual(1, r.returncode)
        self.assertEqual("FAILED (exit 3)", r.stdout.strip())
        self.assertIn("suite: something broke", r.stderr)

    def test_a_hanging_suite_is_killed_at_the_limit(self):
        exe = self.suite("hung_bench", HANGING)
        start = time.monotonic()
        r = self.run_suite(1, exe)
        elapsed = time.monotonic() - start
        self.assertEqual(124, r.returncode, r.stdout + r.stderr)
        self.assertEqual("TIMED OUT after 1 s", r.stdout.strip())
        self.assertIn("suite: started", r.stderr)
        self.assertLess(elapsed, 30, "killed at the limit, not after the 600 s the suite wanted")

    def test_a_suite_that_ignores_sigterm_is_killed_after_the_grace(self):
        exe = self.suite("stubborn_bench", STUBBORN)
        start = time.monotonic()
        r = self.run_suite(1, exe)
        self.assertEqual(124, r.returncode, r.stdout + r.stderr)
        self.assertEqual("TIMED OUT after 1 s", r.stdout.strip())
        self.assertLess(time.monotonic() - start, 30, "killed after the 2 s grace")

    def test_a_grace_that_is_not_a_positive_number_is_refused(self):
        exe = self.suite("good_bench", GOOD)
        for grace in ("0", "x", "-1"):
            r = self.run_suite(60, exe, grace=grace)
            self.assertEqual(2, r.returncode, grace)
            self.assertIn("LFARENA_SUITE_KILL_GRACE must be a positive number", r.stderr)

    def test_a_suite_that_writes_no_results_has_failed(self):
        for name, text in (("nojson_bench", NO_JSON), ("empty_bench", EMPTY_JSON)):
            r = self.run_suite(60, self.suite(name, text))
            self.assertEqual(1, r.returncode, name)
            self.assertRegex(r.stdout.strip(), r"^FAILED \(exit 0, but no benchmark results in ", name)

    def test_a_suites_own_124_or_a_kill_from_elsewhere_is_no_time_out(self):
        r = self.run_suite(600, self.suite("rc124_bench", EXIT_124))
        self.assertEqual((1, "FAILED (exit 124)"), (r.returncode, r.stdout.strip()))
        r = self.run_suite(600, self.suite("oom_bench", KILLED))
        self.assertEqual((1, "FAILED (exit 137)"), (r.returncode, r.stdout.strip()))

    def test_missing_arguments_or_output_directory_are_refused(self):
        exe = self.suite("good_bench", GOOD)
        r = subprocess.run(["bash", RUN_SUITE, "60", self.dir], capture_output=True, text=True,
                           timeout=60, check=False)
        self.assertEqual(2, r.returncode)
        self.assertIn("usage: ci/run-suite.sh LIMIT OUT_DIR EXE", r.stderr)
        for out in ("", os.path.join(self.dir, "missing"), exe):
            r = subprocess.run(["bash", RUN_SUITE, "60", out, exe], capture_output=True, text=True,
                               timeout=60, check=False)
            self.assertEqual(2, r.returncode, out)
            self.assertIn("is not a writable directory", r.stderr)

    def test_check_validates_the_limit_and_the_grace_without_running_anything(self):
        def check(limit, grace="2"):
            env = dict(os.environ, LFARENA_SUITE_KILL_GRACE=grace)
            return subprocess.run(["bash", RUN_SUITE, "--check", limit], env=env,
                                  capture_output=True, text=True, timeout=60, check=False)
        self.assertEqual(0, check("1800").returncode)
        r = check("15m")
        self.assertEqual(2, r.returncode)
        self.assertIn("LIMIT (LFARENA_BENCH_SUITE_LIMIT) must be a positive number", r.stderr)
        r = check("1800", grace="10s")
        self.assertEqual(2, r.returncode)
        self.assertIn("LFARENA_SUITE_KILL_GRACE must be a positive number", r.stderr)

    def test_a_limit_that_is_not_a_positive_number_is_refused(self):
        exe = self.suite("good_bench", GOOD)
        for limit in ("0", "-5", "1.5", "ten", "", "05", "1e3", "9223372036854775808"):
            r = self.run_suite(limit, exe)
            self.assertEqual(2, r.returncode, limit)
            self.assertIn("LIMIT must be a positive number of seconds", r.stderr)
            self.assertFalse(os.path.exists(os.path.join(self.dir, "good_bench.json")), limit)


if __name__ == "__main__":
    unittest.main()
