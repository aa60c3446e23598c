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
    writes to --benchmark_out) plus the median aggregate and a NaN cv of an all-zero counter,
    like a real suite. A value is a centre (9 repetitions around it) or the list of times."""
    rng = random.Random(seed)
    out = []
    for name, centre in times_by_name.items():
        reps = (centre if isinstance(centre, list)
                else [centre * (1 + rng.uniform(-0.02, 0.02)) for _ in range(9)])
        for i, t in enumerate(reps):
            out.append({"name": name, "family_index": 0, "per_family_instance_index": 0,
                        "run_name": name, "run_type": "iteration", "repetitions": len(reps),
                        "repetition_index": i, "threads": 1, "iterations": 1000,
                        "real_time": t, "cpu_time": t, "time_unit": "ns",
                        "items_per_second": 1e9 / t})
        med = sorted(reps)[len(reps) // 2]
        out.append({"name": name + "_median", "family_index": 0, "per_family_instance_index": 0,
                    "run_name": name, "run_type": "aggregate", "repetitions": len(reps),
                    "threads": 1, "aggregate_name": "median", "aggregate_unit": "time",
                    "iterations": len(reps), "real_time": med, "cpu_time": med,
                    "time_unit": "ns", "items_per_second": 1e9 / med})
        out.append({"name": name + "_cv", "family_index": 0, "per_family_instance_index": 0,
                    "run_name": name, "run_type": "aggregate", "repetitions": len(reps),
                    "threads": 1, "aggregate_name": "cv", "aggregate_unit": "percentage",
                    "iterations": len(reps), "real_time": 0.01, "cpu_time": 0.01,
                    "time_unit": "ns", "failures": float("nan")})
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
        # --compare was absolute (as ci/bench.sh passes it): the report names it from the root.
        self.assertIn("kept in `reports/2026-01-02-fixture-host/raw/`", md)
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

    def test_a_baseline_given_as_latest_is_named_for_the_report_it_copies(self):
        # The run that compares with <reports>/latest then overwrites it: the report must name
        # the kept report latest was a copy of, not latest/raw/ (a copy of the reports, so the
        # other tests' latest stays as it is).
        own = os.path.join(self.tmp.name, "own")
        shutil.copytree(self.reports, own)
        with open(os.path.join(own, "latest", "results.json"), encoding="utf-8") as f:
            copied = json.load(f)["report"]
        r = generate("--run-dir", os.path.join(self.tmp.name, "run2"), "--reports-dir", own,
                     "--name", "vs-latest", "--compare", os.path.join(own, "latest"))
        self.assertEqual(r.returncode, 0, r.stderr)
        md = self.md(os.path.join(own, "vs-latest"))
        self.assertIn(f"kept in `own/{copied}/raw/`", md)
        self.assertNotIn("kept in `own/latest", md)

    def test_raw_json_is_strict_json(self):
        # Google Benchmark writes NaN for the cv of an all-zero counter; JSON has no NaN, and
        # JSON.parse (github-action-benchmark) or serde (Bencher) would reject the file.
        def no_constants(c):
            raise ValueError(f"non-JSON constant {c}")
        for d in (os.path.join(self.out, "raw"), self.out):
            for f in os.listdir(d):
                if f.endswith(".json"):
                    with open(os.path.join(d, f), encoding="utf-8") as fh:
                        json.loads(fh.read(), parse_constant=no_constants)

    def make_run(self, name, times):
        d = os.path.join(self.tmp.name, name)
        shutil.copytree(FIXTURE, d)
        with open(os.path.join(d, "link_bench.json"), "w", encoding="utf-8") as f:
            json.dump(gbench_json(times, 3), f)
        return d

    def test_medians_use_every_repetition_when_counts_differ(self):
        # 3 repetitions against 9 (a quick baseline, a full run): compare.py pairs the two runs
        # only up to 3, so its table would show the new median of the first 3 (10.6, not 30).
        base = self.make_run("r3", {"link/redirect/threads:1": [10, 10.1, 9.9]})
        new = self.make_run("r9", {"link/redirect/threads:1":
                                   [10.5, 10.6, 10.7, 30, 30.1, 30.2, 29.9, 30.3, 29.8]})
        reports = os.path.join(self.tmp.name, "reps")
        self.assertEqual(generate("--run-dir", base, "--reports-dir", reports,
                                  "--name", "base").returncode, 0)
        p = generate("--run-dir", new, "--reports-dir", reports, "--name", "new",
                     "--compare", os.path.join(reports, "base"), "--fail-on-regression")
        self.assertEqual(p.returncode, 0, p.stderr)  # 3 repetitions: a hint, not a verdict
        md = self.md(os.path.join(reports, "new"))
        self.assertIn("| `link/redirect/threads:1` | 10 ns | 29.9 ns | +199.0% |", md)
        self.assertIn("| 3 / 9 (n < 9) |", md)
        self.assertIn("Below 9 on either side the U test is not meaningful", md)

    def test_fail_on_regression_exits_3_after_writing(self):
        reports = os.path.join(self.tmp.name, "gate")
        shutil.copytree(self.baseline, os.path.join(reports, "base"))
        p = generate("--run-dir", os.path.join(self.tmp.name, "run2"), "--reports-dir", reports,
                     "--name", "gated", "--compare", os.path.join(reports, "base"),
                     "--fail-on-regression")
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn("1 significant regressions", p.stderr)
        self.assertTrue(os.path.isfile(os.path.join(reports, "gated", "report.md")))

    def test_a_report_is_never_its_own_baseline(self):
        reports = os.path.join(self.tmp.name, "self")
        shutil.copytree(self.baseline, os.path.join(reports, "x"))
        before = os.listdir(os.path.join(reports, "x", "raw"))
        p = generate("--run-dir", os.path.join(self.tmp.name, "run2"), "--reports-dir", reports,
                     "--name", "x", "--compare", os.path.join(reports, "x"))
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("would overwrite the report it is compared with", p.stderr)
        self.assertEqual(os.listdir(os.path.join(reports, "x", "raw")), before)
        with open(os.path.join(reports, "x", "raw", "churn_bench.json"), encoding="utf-8") as f:
            self.assertIn("100.", f.read())  # still run1's SLOWER times, not run2's 130

    def test_a_damaged_baseline_is_an_error_and_writes_nothing(self):
        reports = os.path.join(self.tmp.name, "damaged")
        shutil.copytree(self.baseline, os.path.join(reports, "base"))
        with open(os.path.join(reports, "base", "raw", "churn_bench.json"), "r+b") as f:
            f.truncate(300)
        p = generate("--run-dir", os.path.join(self.tmp.name, "run2"), "--reports-dir", reports,
                     "--name", "after", "--compare", os.path.join(reports, "base"))
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("is not Google Benchmark JSON", p.stderr)
        self.assertNotIn("Traceback", p.stderr)
        self.assertEqual(sorted(os.listdir(reports)), ["base"])

    def test_latest_as_baseline_is_named_for_what_it_copies(self):
        p = generate("--run-dir", os.path.join(self.tmp.name, "run2"), "--reports-dir",
                     os.path.join(self.tmp.name, "fromlatest"), "--compare",
                     os.path.join(self.reports, "latest"))
        self.assertEqual(p.returncode, 0, p.stderr)
        out = os.path.join(self.tmp.name, "fromlatest", "2026-01-02-fixture-host")
        self.assertIn("## Changes since 2026-01-02-fixture-host-2", self.md(out))

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
        data = json.loads(html.split('id="data">', 1)[1].split("</script>", 1)[0])
        ch = data[-1]["changes"]
        self.assertEqual((ch["n_regressions"], ch["n_improvements"]), (1, 1))
        self.assertEqual(ch["regressions"][0]["name"], SLOWER)
        self.assertEqual(ch["min_repetitions"], 1)  # the fixture's other suites run once

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

    def test_check_runs_the_change_handlers(self):
        # An error only a <select> change would raise: load alone never runs it.
        page = self.seeded("sel.onchange = history; history();",
                           "sel.onchange = () => { undefinedOnChange(); }; history();")
        p = self.check(page)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("undefinedOnChange", p.stdout)

    def test_no_churn_draws_empty_charts_without_a_script_error(self):
        run = os.path.join(self.tmp.name, "nochurn")
        shutil.copytree(FIXTURE, run)
        os.remove(os.path.join(run, "churn_bench.json"))
        reports = os.path.join(self.tmp.name, "nochurn-reports")
        self.assertEqual(generate("--run-dir", run, "--reports-dir", reports).returncode, 0)
        p = self.check(os.path.join(reports, "latest", "index.html"))
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("empty chart #time", p.stdout)
        self.assertNotIn("JavaScript error", p.stdout)

    def test_hostile_names_cannot_break_the_page(self):
        # "<!--<script>" in the data would swallow the page script if "<" were not escaped.
        run = os.path.join(self.tmp.name, "run2")
        reports = os.path.join(self.tmp.name, "hostile")
        p = generate("--run-dir", run, "--reports-dir", reports, "--name", "a<!--<script>b")
        self.assertEqual(p.returncode, 0, p.stderr)
        p = self.check(os.path.join(reports, "latest", "index.html"))
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_check_fails_on_an_empty_chart(self):
        # The bump ratio series loses its data: the chart draws "no data".
        page = self.seeded("(r.bump['lfarena-heap'] || {})['1']", "(r.bump['nothing'] || {})['1']")
        p = self.check(page)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("empty chart #bump", p.stdout)


if __name__ == "__main__":
    unittest.main()
