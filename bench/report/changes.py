"""bench/report/changes.py -- "Changes since <report>": Google Benchmark's own compare.py (a
two-sided Mann-Whitney U test over the individual repetitions) run suite by suite between the raw
JSON an earlier report kept (reports/<name>/raw/<suite>.json) and the raw JSON of this run.

We do not reimplement the test: compare.py comes from Debian's libbenchmark-tools
(/usr/share/benchmark/compare.py, needs python3-scipy) and we read its --dump_to_json output.
A benchmark is a significant change when its real-time p-value is below alpha; it is a regression
when its median real time grew. compare.py matches benchmarks by full name, and our names carry
the registered iteration count (`iterations:N`, set by the bench scale), so a quick run and a full
run share no names: that shows as "only in one run", never as a change."""
import json
import os
import statistics
import subprocess
import sys
import tempfile

COMPARE_PY = "/usr/share/benchmark/compare.py"
OPTIMAL_REPETITIONS = 9  # compare.py's own threshold for a meaningful U test


class CompareError(Exception):
    """The comparison cannot be made (no raw JSON, no compare.py, compare.py failed)."""


def raw_suites(report_dir):
    """{suite file name: path} of the raw Google Benchmark JSON a report (or a run dir) holds."""
    raw = os.path.join(report_dir, "raw")
    d = raw if os.path.isdir(raw) else report_dir
    return {f: os.path.join(d, f) for f in sorted(os.listdir(d))
            if f.endswith("_bench.json")} if os.path.isdir(d) else {}


def find_tool(python=None, tool=None):
    """(python, compare.py) that can run the U test, or CompareError saying what is missing."""
    tool = tool or os.environ.get("LFARENA_COMPARE_PY") or COMPARE_PY
    if not os.path.isfile(tool):
        raise CompareError(f"{tool} not found: install Debian's libbenchmark-tools "
                           "(ci/deps.sh does), or set LFARENA_COMPARE_PY")
    for cand in ([python] if python else []) + ["/usr/bin/python3", sys.executable]:
        if cand and os.path.exists(cand) and subprocess.run(
                [cand, "-c", "import scipy, numpy"], capture_output=True).returncode == 0:
            return cand, tool
    raise CompareError("no python3 that imports scipy and numpy for compare.py's U test: "
                       "install Debian's python3-scipy (ci/deps.sh does)")


def _run_compare(python, tool, old, new, alpha):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "diff.json")
        p = subprocess.run([python, tool, "--no-color", "--alpha", str(alpha), "-d", out,
                            "benchmarks", old, new], capture_output=True, text=True)
        if p.returncode != 0 or not os.path.exists(out):
            raise CompareError(f"compare.py failed on {old} vs {new} (exit {p.returncode}): "
                               + (p.stderr or p.stdout).strip()[-500:])
        with open(out, encoding="utf-8") as f:
            return json.load(f)


def _names(path):
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    return {b.get("run_name", b["name"]) for b in data.get("benchmarks", [])
            if b.get("run_type", "iteration") == "iteration" and not b.get("error_occurred")}


def compare_reports(baseline_dir, run_dir, baseline_name=None, alpha=0.05, python=None,
                    tool=None):
    """Compare every suite the baseline report kept with the same suite of this run."""
    old = raw_suites(baseline_dir)
    if not old:
        raise CompareError(f"{baseline_dir} keeps no raw Google Benchmark JSON (raw/*_bench.json): "
                           "only reports made since raw JSON is kept can be a baseline")
    new = raw_suites(run_dir)
    python, tool = find_tool(python, tool)
    rows, only_old, only_new, suites = [], 0, 0, []
    for suite, new_path in new.items():
        if suite not in old:
            only_new += len(_names(new_path))
            continue
        suites.append(suite[:-len(".json")])
        old_names, new_names = _names(old[suite]), _names(new_path)
        only_old += len(old_names - new_names)
        only_new += len(new_names - old_names)
        for e in _run_compare(python, tool, old[suite], new_path, alpha):
            u = e.get("utest") or {}
            if e.get("run_type") != "iteration" or e["name"] not in new_names & old_names:
                continue  # aggregates (mean/median/stddev rows) and the overall geomean
            before = statistics.median(m["real_time"] for m in e["measurements"])
            after = statistics.median(m["real_time_other"] for m in e["measurements"])
            p = u.get("time_pvalue")
            rows.append({
                "suite": suite[:-len("_bench.json")], "name": e["name"],
                "time_unit": e.get("time_unit", "ns"), "old": before, "new": after,
                "change": (after - before) / before if before else None,
                "p_value": p, "repetitions": [u.get("nr_of_repetitions"),
                                               u.get("nr_of_repetitions_other")],
                "significant": p is not None and p < alpha,
            })
    only_old += sum(len(_names(p)) for s, p in old.items() if s not in new)
    reps = [r for row in rows for r in row["repetitions"] if r]
    return {"baseline": baseline_name or os.path.basename(os.path.normpath(baseline_dir)),
            "alpha": alpha, "tool": tool, "suites": suites, "compared": len(rows),
            "only_in_baseline": only_old, "only_in_this_run": only_new,
            "min_repetitions": min(reps) if reps else 0, "rows": rows}


def _fmt_time(v, unit):
    return f"{v:.4g} {unit}"


def changes_md(ch):
    """The report.md section for a compare_reports() result."""
    sig = [r for r in ch["rows"] if r["significant"]]
    worse = sorted((r for r in sig if r["change"] and r["change"] > 0), key=lambda r: -r["change"])
    better = sorted((r for r in sig if r["change"] and r["change"] < 0), key=lambda r: r["change"])
    text = f"## Changes since {ch['baseline']}\n\n"
    text += (f"Google Benchmark's `compare.py` (two-sided Mann-Whitney U test on real time over "
             f"the individual repetitions, alpha {ch['alpha']}) per suite against the raw JSON "
             f"kept in `reports/{ch['baseline']}/raw/`: {ch['compared']} benchmarks compared in "
             f"{len(ch['suites'])} suites, **{len(worse)} significant regressions**, "
             f"**{len(better)} significant improvements**; {ch['only_in_baseline']} only in the "
             f"baseline, {ch['only_in_this_run']} only in this run (names carry the iteration "
             "count of the bench scale, so quick and full runs do not match).\n\n")
    if ch["min_repetitions"] < OPTIMAL_REPETITIONS:
        text += (f"Only {ch['min_repetitions']} repetitions per benchmark on one side: the U test "
                 f"needs {OPTIMAL_REPETITIONS}+ to be meaningful (compare.py warns the same), and "
                 "with 3 against 3 no p-value falls below 0.1. Compare `--full` runs.\n\n")
    for title, sel in (("Regressions (slower)", worse), ("Improvements (faster)", better)):
        if not sel:
            text += f"{title}: none.\n\n"
            continue
        text += f"{title}:\n\n| benchmark | before | after | change | p-value |\n|---|---|---|---|---|\n"
        for r in sel:
            text += (f"| `{r['name']}` | {_fmt_time(r['old'], r['time_unit'])} | "
                     f"{_fmt_time(r['new'], r['time_unit'])} | {r['change'] * 100:+.1f}% | "
                     f"{r['p_value']:.4f} |\n")
        text += "\n"
    return text
