#!/usr/bin/python3
"""bench/report/generate.py -- turn one benchmark run into the published report.

  generate.py --run-dir build/bench/runs/<stamp> --reports-dir reports [--name <date>-<host>]

  generate.py ... --compare reports/<earlier report>   # adds "Changes since <earlier report>"

Reads the run's Google Benchmark JSON files (*_bench.json), machine.json and, if the run has
it, instructions.json (instructions.py: callgrind's counts per operation) and pairs.json
(pairs.py: the speed targets' rows run back to back), writes
reports/<name>/{report.md, results.json, *.png, index.html, raw/} and copies them to
reports/latest/. raw/ keeps the suites' Google Benchmark JSON unchanged (every repetition plus the
aggregates) with machine.json, instructions.json and pairs.json, for existing tools and as the baseline of a later --compare
(changes.py: Google Benchmark's compare.py, U test).
index.html is a self-contained dashboard (inline CSS/JS/SVG, no network) over every kept run
(reports/*/results.json). Names follow `<suite>/<subject>/<param>:<value>/...` (bench/harness.hpp).
Throughput is `wall_items_per_second` when a suite reports it (aggregate over wall-clock time),
else Google Benchmark's items_per_second; ns/op = 1e9 / throughput. Standard library plus
matplotlib (Debian python3-matplotlib) for the charts; without matplotlib the charts are skipped.
"""
import argparse
import datetime
import glob
import json
import math
import os
import shutil
import statistics
import sys

sys.dont_write_bytecode = True  # never leave __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import changes  # noqa: E402
import dashboard  # noqa: E402
from jsonsafe import finite  # noqa: E402
from names import parse_name  # noqa: E402
import tables  # noqa: E402

# A run directory's JSON files that are not a suite's: the machine, the instruction counts
# (instructions.py) and the targets' back-to-back pairs (pairs.py), each kept in raw/ as well.
NOT_SUITES = {"machine.json", "instructions.json", "pairs.json"}


def iterations_param(run_name):
    for p in run_name.split("/"):
        if p.startswith("iterations:") and p[len("iterations:"):].isdigit():
            return int(p[len("iterations:"):])
    return None


def load_run(run_dir):
    """All benchmarks of a run, one normalised row per benchmark (median over repetitions)."""
    rows, context = [], {}
    for path in sorted(glob.glob(os.path.join(run_dir, "*.json"))):
        if os.path.basename(path) in NOT_SUITES:
            continue
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        context = context or data.get("context", {})
        binary = os.path.basename(path)[:-5]
        groups = {}
        for b in data.get("benchmarks", []):
            groups.setdefault(b.get("run_name", b["name"]), []).append(b)
        for run_name, entries in groups.items():
            medians = [e for e in entries if e.get("aggregate_name") == "median"]
            means = [e for e in entries if e.get("aggregate_name") == "mean"]
            iters = [e for e in entries if e.get("run_type", "iteration") == "iteration"]
            pick = medians or iters or entries
            reps = len(iters) or int(entries[0].get("repetitions", 1) or 1)
            row = normalise(run_name, pick, binary, reps)
            row["round_ns"] = round_ns(iters, data.get("context", {}).get("lfarena_rounds"))
            # Some repetitions failed, the rest have a median: the row's median then stands for
            # fewer repetitions (in a run in rounds, fewer windows) than its neighbours', so it
            # is named in Errors and takes no part in a ratio (tables.Index.ns).
            errored = [e for e in iters if e.get("error_occurred")]
            if errored and not row["error"]:
                row["error"] = (f"{len(errored)} of {len(iters)} repetitions failed: "
                                f"{errored[0].get('error_message') or 'no message'}")
            # Failed operations over every repetition (a median of 0 can hide failing ones).
            if iters:
                row["failed_ops"] = sum(e.get("failures", 0) for e in iters)
            elif means:
                row["failed_ops"] = round(means[0].get("failures", 0) * reps)
            else:
                row["failed_ops"] = row["counters"].get("failures", 0)
            rows.append(row)
    return rows, context


def round_ns(iters, rounds):
    """ns/op per round of a run in `rounds` rounds (merge_rounds.py marks each repetition with
    its lfarena_round, from 1): entry k-1 is the median throughput of round k's error-free
    repetitions, as for the whole row, or None if round k has none. [] for a run not in rounds."""
    if not isinstance(rounds, int) or isinstance(rounds, bool) or rounds < 2:
        return []
    by = {k: [] for k in range(1, rounds + 1)}
    for e in iters:
        k = e.get("lfarena_round")
        ips = e.get("wall_items_per_second") or e.get("items_per_second")
        if (k in by and not e.get("error_occurred") and isinstance(ips, (int, float))
                and math.isfinite(ips) and ips > 0):
            by[k].append(ips)
    return [1e9 / statistics.median(by[k]) if by[k] else None for k in sorted(by)]


def normalise(run_name, entries, binary, repetitions):
    suite, subject, params = parse_name(run_name)
    keys = set().union(*(e.keys() for e in entries))
    skip = {"name", "run_name", "run_type", "aggregate_name", "aggregate_unit", "family_index",
            "per_family_instance_index", "repetitions", "repetition_index", "threads",
            "iterations", "real_time", "cpu_time", "time_unit", "error_occurred",
            "error_message", "label", "lfarena_round"}
    counters = {}
    for k in sorted(keys - skip):
        vals = [e[k] for e in entries if isinstance(e.get(k), (int, float))]
        if vals:
            counters[k] = sum(vals) / len(vals)
    ips = counters.get("wall_items_per_second") or counters.get("items_per_second")
    err = next((e.get("error_message") for e in entries if e.get("error_occurred")), None)
    return {
        "name": run_name, "suite": suite, "subject": subject, "params": params,
        "threads": int(params.get("threads", entries[0].get("threads", 1))),
        "ns_per_op": (1e9 / ips) if ips else None,
        "items_per_second": ips,
        "bytes_per_second": counters.get("bytes_per_second"),
        "counters": counters, "binary": binary, "repetitions": repetitions, "error": err,
        # Iterations per thread as registered (the name's iterations:N; an aggregate row's own
        # "iterations" field is the repetition count).
        "iterations_per_thread": iterations_param(run_name),
    }


def write_charts(rows, out):
    """PNG charts; returns the file names written (none without matplotlib)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("generate.py: matplotlib not found, charts skipped", file=sys.stderr)
        return []
    made = []
    plt.rcParams["axes.prop_cycle"] = matplotlib.cycler(color=plt.get_cmap("tab20").colors)

    def save(fig, name):
        fig.tight_layout()
        fig.savefig(os.path.join(out, name), dpi=110)
        plt.close(fig)
        made.append(name)

    bump = [r for r in rows if r["suite"] == "bump" and r["ns_per_op"]
            and r["params"].get("size") == "64" and r["params"].get("align") == "8"]
    if bump:
        fig, ax = plt.subplots(figsize=(8, 4.8))
        for subj in sorted({r["subject"] for r in bump}):
            pts = sorted((r["threads"], r["items_per_second"] / 1e6) for r in bump
                         if r["subject"] == subj)
            style = "-o" if subj.startswith("lfarena") else "--."
            ax.plot([p[0] for p in pts], [p[1] for p in pts], style, label=subj)
        ax.set(xlabel="threads", ylabel="million allocations / s (wall clock, all threads)",
               title="bump allocation, 64 B, align 8: throughput vs threads", yscale="log")
        ax.set_xticks(sorted({r["threads"] for r in bump}))
        ax.legend(fontsize=7, ncol=2)
        ax.grid(True, which="both", alpha=0.3)
        save(fig, "bump_threads.png")

    churn = [r for r in rows if r["suite"] == "churn" and r["ns_per_op"] and r["threads"] == 1
             and not tables.failed(r)]  # a failed allocation is not a completed pair
    if churn:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.6), sharey=True)
        for ax, size in zip(axes, ("64", "mixed")):
            sel = [r for r in churn if r["params"].get("size") == size]
            for subj in sorted({r["subject"] for r in sel}):
                pts = sorted((int(r["params"]["segments"]), r["ns_per_op"] / 1e3) for r in sel
                             if r["subject"] == subj)
                style = "-o" if subj.startswith("lfarena") else ":."
                ax.plot([p[0] for p in pts], [p[1] for p in pts], style, label=subj)
            ax.set(xscale="log", yscale="log", xlabel="free segments before timing",
                   title=f"churn, size {size}, 1 thread")
            ax.grid(True, which="both", alpha=0.3)
        axes[0].set_ylabel("µs per free+allocate pair")
        axes[1].legend(fontsize=7)
        save(fig, "churn_segments.png")

    frag = [r for r in rows if r["suite"] == "frag"]
    if frag:
        metrics = [("discarded_bytes", "discarded MiB", 2**20),
                   ("stranded_free_bytes", "free MiB that could not serve (mean at failure)", 2**20),
                   ("fail_with_free", "failures while free bytes >= request", 1),
                   ("free_segments_end", "free segments at the end", 1)]
        fig, axes = plt.subplots(1, len(metrics), figsize=(13, 3.8))
        names = [r["subject"].replace("lfarena-", "") for r in frag]
        for ax, (key, label, div) in zip(axes, metrics):
            ax.bar(names, [r["counters"].get(key, 0) / div for r in frag],
                   color=["#999", "#4a8", "#48c", "#c84"][: len(frag)])
            ax.set_title(label, fontsize=8)
            ax.tick_params(labelsize=8)
        fig.suptitle("fragmentation per freelist policy (one seeded mixed workload)")
        save(fig, "frag.png")
    return made


def unused_name(reports_dir, base, date, baseline):
    """<base>, or <base>-2, -3, ... when <base> holds another run's report: a second run on one
    day never overwrites the first (history keeps both, and a baseline stays intact). The same
    run rendered again keeps its name."""
    name, n = base, 1
    while True:
        path = os.path.join(reports_dir, name)
        try:
            with open(os.path.join(path, "results.json"), encoding="utf-8") as f:
                same_run = json.load(f).get("date") == date
        except (OSError, ValueError, AttributeError):
            same_run = not os.path.exists(path)
        if same_run and os.path.realpath(path) != baseline:
            return name
        n += 1
        name = f"{base}-{n}"


def shown_path(baseline, reports_dir, name):
    """How a report names its baseline `name` (changes.report_name): as the kept report
    <reports dir>/<name> when that exists (so `--compare reports/latest`, which this run then
    overwrites, is named for the report it was a copy of), relative to the directory holding
    the reports dir (the repository root) when below it, so a published report carries no
    machine's absolute path (ci/bench.sh passes --compare absolute); else as given."""
    root = os.path.dirname(os.path.realpath(reports_dir))

    def below_root(path):
        rel = os.path.relpath(os.path.realpath(path), root)
        return None if rel in (os.curdir, os.pardir) or rel.startswith(os.pardir + os.sep) else rel

    kept = os.path.join(reports_dir, name)
    if name and os.path.isdir(os.path.join(kept, "raw")) and below_root(kept):
        return below_root(kept)
    return below_root(baseline) or baseline.rstrip("/") or baseline


def read_side_file(run_dir, fname):
    """(content, problem) of the run's `fname` (machine.json, instructions.json): (None, None)
    if it is absent, (None, the error) if it cannot be read or parsed or holds null."""
    path = os.path.join(run_dir, fname)
    if not os.path.lexists(path):  # a dangling link is a file that cannot be read, said so
        return None, None
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        json.dumps(finite(data))  # the report writes it again: nesting it cannot, refused here
    except (OSError, ValueError) as e:
        return None, str(e)
    except RecursionError:
        return None, "nested too deeply"
    return (data, None) if data is not None else (None, "holds null")


def keep_raw(run_dir, raw):
    """The run's Google Benchmark JSON and machine.json into <report>/raw/: unchanged but for
    non-finite numbers, written as null so the files are valid JSON for every tool."""
    os.makedirs(raw)
    for path in sorted(glob.glob(os.path.join(run_dir, "*.json"))):
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
            data = finite(data)
            text = json.dumps(data, indent=2, allow_nan=False)
        except (OSError, ValueError, RecursionError):
            if os.path.basename(path) not in NOT_SUITES:
                raise
            # machine.json or instructions.json that main() already reported: kept as it was,
            # if it is a file that can be read at all.
            try:
                shutil.copyfile(path, os.path.join(raw, os.path.basename(path)))
            except OSError:
                pass
            continue
        with open(os.path.join(raw, os.path.basename(path)), "w", encoding="utf-8") as f:
            f.write(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run-dir", required=True)
    ap.add_argument("--reports-dir", default="reports")
    ap.add_argument("--name", help="report directory name (default <date>-<host>)")
    ap.add_argument("--no-latest", action="store_true", help="do not update <reports>/latest")
    ap.add_argument("--compare", metavar="REPORT_DIR",
                    help="an earlier report (with raw/): add 'Changes since' (compare.py U test)")
    ap.add_argument("--alpha", type=float, default=0.05, help="U test significance level")
    ap.add_argument("--fail-on-regression", action="store_true",
                    help="with --compare: exit 3 (after writing the report) when a benchmark with "
                         "9+ repetitions on both sides is significantly slower")
    a = ap.parse_args()
    if a.fail_on_regression and not a.compare:
        sys.exit("generate.py: --fail-on-regression needs --compare")
    if not 0 < a.alpha < 1:
        sys.exit(f"generate.py: --alpha must be between 0 and 1, not {a.alpha}")
    baseline = os.path.realpath(a.compare) if a.compare else None
    if baseline and not changes.raw_suites(baseline):
        sys.exit(f"generate.py: --compare {a.compare}: no raw/*_bench.json there (only reports "
                 "made since raw JSON is kept can be a baseline; a run directory is not one)")

    # Both describe the run, neither is a result: a file that cannot be read is said so, no more.
    machine, problem = read_side_file(a.run_dir, "machine.json")
    if machine is not None and not isinstance(machine, dict):
        problem = "not a JSON object"
    machine = machine if isinstance(machine, dict) else {}
    instructions, iproblem = read_side_file(a.run_dir, "instructions.json")
    if iproblem:
        instructions = {"rows": [], "errors": [f"instructions.json could not be read: {iproblem}"]}
    pairs, pproblem = read_side_file(a.run_dir, "pairs.json")
    if pairs is not None and not isinstance(pairs, dict):
        pairs, pproblem = None, "not a JSON object"
    if pproblem:  # said in the report too: without it, it would pass for a run without pairs
        pairs = {"targets": [], "errors": [f"pairs.json could not be read: {pproblem}"]}
    for fname, why in (("machine.json", problem), ("instructions.json", iproblem),
                       ("pairs.json", pproblem)):
        if why:
            print(f"generate.py: warning: {os.path.join(a.run_dir, fname)}: {why}", file=sys.stderr)
    rows, context = load_run(a.run_dir)
    if not rows:
        sys.exit(f"generate.py: no benchmark results in {a.run_dir}")
    date = (machine.get("date") or context.get("date")
            or datetime.datetime.now(datetime.timezone.utc).isoformat())
    host = machine.get("host") or context.get("host_name") or "unknown"
    name = a.name or unused_name(a.reports_dir, f"{date[:10]}-{host}", date, baseline)
    out = os.path.join(a.reports_dir, name)
    if baseline and os.path.realpath(out) == baseline:
        sys.exit(f"generate.py: --name {name} would overwrite the report it is compared with")

    results = {"schema": 1, "report": name, "date": date, "host": host, "machine": machine,
               "context": context, "results": rows}
    if instructions is not None:
        results["instructions"] = instructions
    if pairs is not None:
        results["pairs"] = pairs
    if baseline:  # before anything is written: a failed comparison leaves no half report
        try:
            results["changes"] = changes.compare_reports(baseline, a.run_dir, alpha=a.alpha)
            results["changes"]["baseline_path"] = shown_path(
                a.compare, a.reports_dir, results["changes"]["baseline"])
        except changes.CompareError as e:
            sys.exit(f"generate.py: --compare: {e}")
        if results["changes"]["compared"] == 0:
            print(f"generate.py: warning: nothing compared with {a.compare} (no benchmark name "
                  "in both runs)", file=sys.stderr)
    results = finite(results)

    # Written into a hidden directory (the dashboard's glob skips it) and renamed at the end, so
    # a failure leaves the reports directory as it was.
    os.makedirs(a.reports_dir, exist_ok=True)
    tmp = os.path.join(a.reports_dir, f".{name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    keep_raw(a.run_dir, os.path.join(tmp, "raw"))
    with open(os.path.join(tmp, "results.json"), "w", encoding="utf-8") as f:
        json.dump(results, f, indent=1, allow_nan=False)
    charts = write_charts(rows, tmp)
    with open(os.path.join(tmp, "report.md"), "w", encoding="utf-8") as f:
        f.write(tables.report_md(results, charts))
    runs = dashboard.collect_runs(a.reports_dir, current=results)
    with open(os.path.join(tmp, "index.html"), "w", encoding="utf-8") as f:
        f.write(dashboard.render(runs))
    shutil.rmtree(out, ignore_errors=True)
    os.rename(tmp, out)
    if not a.no_latest:
        latest = os.path.join(a.reports_dir, "latest")
        if os.path.abspath(latest) != os.path.abspath(out):
            shutil.rmtree(latest, ignore_errors=True)
            shutil.copytree(out, latest)
    print(f"generate.py: {len(rows)} results -> {out}/"
          + ("" if a.no_latest else f" (copied to {a.reports_dir}/latest/)"))
    if a.fail_on_regression:
        worse = changes.significant(results["changes"], +1, meaningful_only=True)
        if worse:
            print(f"generate.py: {len(worse)} significant regressions (9+ repetitions each side) "
                  f"since {results['changes']['baseline']}: see {out}/report.md", file=sys.stderr)
            sys.exit(3)


if __name__ == "__main__":
    main()
