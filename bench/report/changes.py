"""bench/report/changes.py -- "Changes since <report>": Google Benchmark's own compare.py (a
two-sided Mann-Whitney U test over the individual repetitions) run suite by suite between the raw
JSON an earlier report kept (reports/<name>/raw/<suite>.json) and the raw JSON of this run.

We do not reimplement the test: compare.py comes from Debian's libbenchmark-tools
(/usr/share/benchmark/compare.py, needs python3-scipy) and we take its real-time p-value from its
--dump_to_json output. The medians and repetition counts we show are computed here from every
repetition of both files (compare.py's per-repetition table pairs the two runs only up to the
shorter one). A benchmark is a significant change when its p-value is below alpha; it is a
regression when its median real time grew. The test needs 9+ repetitions per side to mean
anything (compare.py's own warning): rows with fewer are marked, and --fail-on-regression ignores
them. Names carry the bench scale's iteration count for most suites, so runs of different modes
mostly do not match; the section warns when the two runs' modes differ."""
import json
import os
import statistics
import subprocess
import sys
import tempfile

COMPARE_PY = "/usr/share/benchmark/compare.py"
OPTIMAL_REPETITIONS = 9  # compare.py's own threshold for a meaningful U test


class CompareError(Exception):
    """The comparison cannot be made (no raw JSON, unreadable JSON, compare.py failed)."""


def raw_suites(report_dir):
    """{suite file name: path} of the raw Google Benchmark JSON a report keeps in raw/."""
    raw = os.path.join(report_dir, "raw")
    if not os.path.isdir(raw):
        return {}
    return {f: os.path.join(raw, f) for f in sorted(os.listdir(raw)) if f.endswith("_bench.json")}


def run_suites(run_dir):
    """{suite file name: path} of a run directory's Google Benchmark JSON (ci/bench.sh's output)."""
    return {f: os.path.join(run_dir, f) for f in sorted(os.listdir(run_dir))
            if f.endswith("_bench.json")}


def report_name(report_dir):
    """The name a report calls itself (results.json), so `reports/latest` is named for what it
    is a copy of; else its directory name."""
    try:
        with open(os.path.join(report_dir, "results.json"), encoding="utf-8") as f:
            name = json.load(f).get("report")
        if isinstance(name, str) and name:
            return name
    except (OSError, ValueError, AttributeError):
        pass
    return os.path.basename(os.path.normpath(report_dir))


def _machine(machine_path, key):
    """machine.json's `key` (None if the file or the value is missing or unreadable)."""
    try:
        with open(machine_path, encoding="utf-8") as f:
            return json.load(f).get(key)
    except (OSError, ValueError, AttributeError):
        return None


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


def load_suite(path):
    """({name: [real_time of every repetition]}, {name: time_unit}, {errored names})."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        benchmarks = data["benchmarks"]
        times, units, errored = {}, {}, set()
        for b in benchmarks:
            if b.get("run_type", "iteration") != "iteration":
                continue
            name = b.get("run_name", b["name"])
            if b.get("error_occurred"):
                errored.add(name)
                continue
            times.setdefault(name, []).append(float(b["real_time"]))
            units[name] = b.get("time_unit", "ns")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise CompareError(f"{path} is not Google Benchmark JSON: {type(e).__name__}: {e}")
    return times, units, errored - set(times)


def _pvalues(python, tool, old, new, alpha):
    """{benchmark name: real-time p-value} from compare.py's U test."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "diff.json")
        p = subprocess.run([python, tool, "--no-color", "--alpha", str(alpha), "-d", out,
                            "benchmarks", old, new], capture_output=True, text=True)
        if p.returncode != 0 or not os.path.exists(out):
            raise CompareError(f"compare.py failed on {old} vs {new} (exit {p.returncode}): "
                               + (p.stderr or p.stdout).strip()[-500:])
        with open(out, encoding="utf-8") as f:
            diff = json.load(f)
    return {e["name"]: (e.get("utest") or {}).get("time_pvalue") for e in diff
            if e.get("run_type") == "iteration"}


def compare_reports(baseline_dir, run_dir, alpha=0.05, python=None, tool=None):
    """Compare every suite the baseline report kept with the same suite of this run."""
    if not 0 < alpha < 1:
        raise CompareError(f"alpha must be between 0 and 1, not {alpha}")
    old = raw_suites(baseline_dir)
    if not old:
        raise CompareError(f"{baseline_dir} keeps no raw Google Benchmark JSON (raw/*_bench.json): "
                           "only reports made since raw JSON is kept can be a baseline")
    new = run_suites(run_dir)
    python, tool = find_tool(python, tool)
    rows, suites, only_old, only_new, errored = [], [], [], [], []
    for suite in sorted(set(old) | set(new)):
        o = load_suite(old[suite]) if suite in old else ({}, {}, set())
        n = load_suite(new[suite]) if suite in new else ({}, {}, set())
        only_old += sorted(set(o[0]) - set(n[0]) - n[2])
        only_new += sorted(set(n[0]) - set(o[0]) - o[2])
        errored += sorted(o[2] | n[2])
        both = set(o[0]) & set(n[0])
        if not both:
            continue
        suites.append(suite[:-len(".json")])
        pvalues = _pvalues(python, tool, old[suite], new[suite], alpha)
        for name in sorted(both):
            before, after = statistics.median(o[0][name]), statistics.median(n[0][name])
            p = pvalues.get(name)
            reps = [len(o[0][name]), len(n[0][name])]
            rows.append({
                "suite": suite[:-len("_bench.json")], "name": name, "time_unit": n[1][name],
                "old": before, "new": after,
                # No relative change from a zero baseline (never seen: times are positive).
                "change": (after - before) / before if before > 0 else None,
                "p_value": p, "repetitions": reps,
                "significant": p is not None and p < alpha and before > 0 and after != before,
                "meaningful": min(reps) >= OPTIMAL_REPETITIONS,
            })
    machines = [os.path.join(baseline_dir, "raw", "machine.json"),
                os.path.join(run_dir, "machine.json")]
    modes = [_machine(m, "mode") for m in machines]
    cpus = [_machine(m, "cpu_model") for m in machines]
    return {"baseline": report_name(baseline_dir), "baseline_path": baseline_dir,
            "alpha": alpha, "tool": tool, "suites": suites, "compared": len(rows),
            "only_in_baseline": only_old, "only_in_this_run": only_new, "errored": errored,
            "modes": modes, "cpus": cpus, "rows": rows}


def significant(ch, direction, meaningful_only=False):
    """Significant rows: direction +1 regressions (slower), -1 improvements; largest first."""
    sel = [r for r in ch["rows"] if r["significant"] and (r["change"] > 0) == (direction > 0)
           and (r["meaningful"] or not meaningful_only)]
    return sorted(sel, key=lambda r: -abs(r["change"]))


def is_peer(name):
    """Whether a benchmark's subject is a peer (not lfarena): code the same in both runs."""
    parts = name.split("/")
    return len(parts) > 1 and not parts[1].startswith("lfarena")


def peer_drift(ch):
    """The peers as controls: (peer rows compared, significant ones, median |change| of those,
    largest |change|). A peer's code is the same in both runs, so its significant changes
    measure how much the machine itself moved between them."""
    peers = [r for r in ch["rows"] if is_peer(r["name"])]
    moved = [abs(r["change"]) for r in peers if r["significant"] and r["change"] is not None]
    return (len(peers), len(moved), statistics.median(moved) if moved else 0.0,
            max(moved) if moved else 0.0)


# Above this share of peer rows changing significantly, the report says the peers moved.
PEER_DRIFT_SHARE = 0.10


def _md_name(name):
    return name.replace("|", "\\|")  # a | ends a table cell even inside backticks (GFM)


def changes_md(ch):
    """The report.md section for a compare_reports() result."""
    worse, better = significant(ch, +1), significant(ch, -1)
    reps = [r["repetitions"] for r in ch["rows"]]
    text = f"## Changes since {ch['baseline']}\n\n"
    text += (f"Google Benchmark's `compare.py` (two-sided Mann-Whitney U test on real time over "
             f"the individual repetitions, alpha {ch['alpha']}) per suite against the raw JSON "
             f"kept in `{ch['baseline_path']}/raw/`: {ch['compared']} benchmarks compared in "
             f"{len(ch['suites'])} suites, **{len(worse)} significant regressions**, "
             f"**{len(better)} significant improvements**; {len(ch['only_in_baseline'])} only in "
             f"the baseline, {len(ch['only_in_this_run'])} only in this run, "
             f"{len(ch['errored'])} with an error in either run"
             + (" (" + ", ".join(f"`{_md_name(n)}`" for n in ch["errored"][:5])
                + (", ..." if len(ch["errored"]) > 5 else "") + ")" if ch["errored"] else "")
             + ".\n\n")
    n_peers, n_moved, med, top = peer_drift(ch)
    if n_peers and n_moved > PEER_DRIFT_SHARE * n_peers:
        text += (f"**The peers moved between the runs:** {n_moved} of {n_peers} peer benchmarks "
                 f"(glibc, jemalloc, mimalloc, tcmalloc, std::pmr and the raw bump pointers: "
                 f"their code is the same in both runs, so they measure the machine and the "
                 f"harness) changed significantly, by {med * 100:.0f}% in the median and up to "
                 f"{top * 100:.0f}%. An lfarena row's change within that band is no evidence of "
                 f"a change in lfarena; ratios measured inside one run (the tables below) are "
                 f"the ones to read.\n\n")
    elif n_peers:
        text += (f"Peers as controls: {n_moved} of {n_peers} peer benchmarks (code that is the "
                 f"same in both runs) changed significantly.\n\n")
    cpus = ch.get("cpus") or [None, None]
    if all(isinstance(c, str) and c and c != "unknown" for c in cpus) and cpus[0] != cpus[1]:
        text += (f"**The runs ran on different CPUs** (baseline `{cpus[0]}`, this run "
                 f"`{cpus[1]}`, see Machine): a change below is first of all the machine's, for "
                 "lfarena's rows as for the peers'; ratios inside one run are still the ones to "
                 "read.\n\n")
    if ch["compared"] == 0:
        text += ("**Nothing was compared**: no benchmark name occurs in both runs (names carry the "
                 "iteration count of the bench scale: compare quick with quick, full with full).\n\n")
    if None not in ch["modes"] and ch["modes"][0] != ch["modes"][1]:
        text += (f"**The runs differ in mode** (baseline `{ch['modes'][0]}`, this run "
                 f"`{ch['modes'][1]}`): only names without an iteration count matched, and a "
                 "change there may be the mode's.\n\n")
    if reps:
        lo_old, hi_old = min(r[0] for r in reps), max(r[0] for r in reps)
        lo_new, hi_new = min(r[1] for r in reps), max(r[1] for r in reps)
        span = lambda lo, hi: f"{lo}" if lo == hi else f"{lo}..{hi}"  # noqa: E731
        text += (f"Repetitions per benchmark: baseline {span(lo_old, hi_old)}, this run "
                 f"{span(lo_new, hi_new)}. ")
        if min(lo_old, lo_new) < OPTIMAL_REPETITIONS:
            text += (f"Below {OPTIMAL_REPETITIONS} on either side the U test is not meaningful "
                     "(compare.py warns the same): such rows are marked `n < 9` and are hints, "
                     "not verdicts; compare two `--full` runs.")
        text += "\n\n"
    for title, sel in (("Regressions (slower)", worse), ("Improvements (faster)", better)):
        if not sel:
            text += f"{title}: none.\n\n"
            continue
        text += (f"{title}:\n\n| benchmark | before | after | change | p-value | repetitions |\n"
                 "|---|---|---|---|---|---|\n")
        for r in sel:
            u = r["time_unit"]
            text += (f"| `{_md_name(r['name'])}` | {r['old']:.4g} {u} | {r['new']:.4g} {u} | "
                     f"{r['change'] * 100:+.1f}% | {r['p_value']:.4f} | "
                     f"{r['repetitions'][0]} / {r['repetitions'][1]}"
                     f"{'' if r['meaningful'] else ' (n < 9)'} |\n")
        text += "\n"
    return text
