#!/usr/bin/env python3
"""bench/report/pairs.py -- the speed targets' two rows measured back to back, pair after pair.

Usage: pairs.py --bench-dir build/bench/bench --out RUN/pairs.json --pairs 9 --scale full
                [--min-time 0.5] [--repetitions 3] [--budget 1800] [--only REGEX]

Why: this VM changes state within seconds, every subject at once (2026-12-06: 16 alternating
runs of the 64 B 1k churn row gave lfarena 13.5 to 36.4 ns and mimalloc 8.1 to 18.3 ns, fast
and slow together), and a run's suites execute minutes apart, so a ratio of two rows' medians
also measures how the machine moved between them. Here each target (targets.py) runs its two
rows one after the other, each as a round runs it (3 repetitions in its own process, their
median, so a process's first repetition weighs as much as in the rounds), `--pairs` times, the
order alternating (numerator first in even pairs, denominator first in odd ones, so a drift within
a pair favours neither side); the ratio of each pair is taken within seconds, and
tables.targets_section() judges the target on the median of those ratios.

Writes {"schema": 1, "scale", "pairs", "repetitions", "min_time", "seconds", "targets": [{name,
num, den, runs: [{first, num: {ns, failures, error}, den: {...}}, ...]}], "errors": [...]} and
exits 0 even when a run failed (its error is kept, the report says so), 1 when no target was
measured or an exception stopped it (the pairs finished until then are kept and the exception is
named in errors). A target whose rows the build lacks is listed in errors. Every run has a time limit
(a target whose run timed out skips its other pairs), and all of them a budget.
"""
import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # never leave __pycache__ in the source tree
import suites  # noqa: E402
import targets  # noqa: E402

RUN_TIMEOUT = 300  # seconds for one side (its repetitions): the slowest takes about 5
BUDGET = 1800      # seconds for all pairs (9 took 7 minutes): then the pairs left are skipped


def measure(path, name, scale, min_time, repetitions):
    """One side of a pair: the row run as a round runs it, `repetitions` repetitions in its own
    process, {"ns": ns per operation of their median throughput, or None, "failures": failed
    operations over all of them, "error": None or why there is no time}. Never raises: one
    run's trouble must not lose the others."""
    try:
        return _measure(path, name, scale, min_time, repetitions)
    except Exception as e:  # noqa: BLE001 -- kept as the run's error
        return {"ns": None, "failures": 0, "error": f"{type(e).__name__}: {e}"}


def _measure(path, name, scale, min_time, repetitions):
    env = dict(os.environ, LFARENA_BENCH_SCALE=scale)
    with tempfile.TemporaryDirectory() as tmp:
        js = os.path.join(tmp, "out.json")
        cmd = [path, f"--benchmark_filter=^{suites.gb_escape(name)}$",
               f"--benchmark_repetitions={repetitions}", f"--benchmark_min_time={min_time}",
               f"--benchmark_out={js}", "--benchmark_out_format=json"]
        # Its own process group, so that a timeout ends whatever the run started too; stderr
        # into a file, so that nothing the run leaves behind holding it can make us wait.
        with open(os.path.join(tmp, "stderr"), "w+", encoding="utf-8", errors="replace") as err:
            p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env,
                                 start_new_session=True)
            try:
                p.wait(timeout=RUN_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
                return {"ns": None, "failures": 0, "error": f"no result within {RUN_TIMEOUT} s",
                        "timeout": True}
            except BaseException:  # interrupted (Ctrl-C, SIGTERM): the run must not outlive us
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
                raise
            err.seek(0)
            stderr = err.read()
        try:
            with open(js, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError) as e:
            data = {"error": f"{type(e).__name__}: {e}"}
    runs = [b for b in data.get("benchmarks", []) if b.get("run_type") == "iteration"] \
        if isinstance(data, dict) else []
    if p.returncode != 0 or len(runs) != repetitions:
        last = (stderr.strip().splitlines() or ["no output"])[-1]
        why = f" ({data['error']})" if isinstance(data, dict) and "error" in data else ""
        return {"ns": None, "failures": 0,
                "error": f"exit {p.returncode}, {len(runs)} of {repetitions} runs{why}: {last}"}
    failures = [r.get("failures", 0) for r in runs]  # suites without the counter fail nothing
    if not all(targets.real(f) and f >= 0 for f in failures) or not targets.real(sum(failures)):
        return {"ns": None, "failures": 0, "error": f"failures counters {failures!r}"}
    bad = [r for r in runs if r.get("error_occurred")]
    if bad:
        return {"ns": None, "failures": sum(failures),
                "error": bad[0].get("error_message") or "error without a message"}
    # The time the report uses (generate.normalise): wall-clock throughput when the suite
    # reports it, else Google Benchmark's items per second; the median of the repetitions.
    ips = [r.get("wall_items_per_second") or r.get("items_per_second") for r in runs]
    ns = 1e9 / statistics.median(ips) if all(targets.real(v) and v > 0 for v in ips) else None
    if ns is None or not targets.real(ns):
        return {"ns": None, "failures": 0, "error": f"items per second {ips!r}"}
    # Failed operations as counted, never rounded down to none.
    return {"ns": ns, "failures": sum(failures), "error": None}


def measure_targets(a, chosen, where, started, result):
    """Runs the pairs of every chosen target into result["targets"] (each entry listed before its
    first pair, so an exception keeps the pairs it has), naming what was not run in
    result["errors"]. where: {Row: (suite path, benchmark name)} of the rows the build lists."""
    for t in chosen:
        missing = [r.label() for r in (t.num, t.den) if r not in where]
        if missing and where:
            result["errors"].append(f"{t.name}: no row {' and '.join(missing)} in this build")
        if missing:
            continue
        if time.monotonic() - started > a.budget:
            result["errors"].append(f"{t.name}: not run, the budget of {a.budget:g} s was spent")
            continue
        (pn, nn), (pd, nd) = where[t.num], where[t.den]
        entry = {"name": t.name, "num": nn, "den": nd, "runs": []}
        result["targets"].append(entry)
        for i in range(a.pairs):
            if i > 0 and time.monotonic() - started > a.budget:
                result["errors"].append(f"{t.name}: the budget of {a.budget:g} s was spent "
                                        f"after {i} pairs")
                break
            run = {"first": "num" if i % 2 == 0 else "den"}
            for side in (("num", "den") if i % 2 == 0 else ("den", "num")):
                path, name = (pn, nn) if side == "num" else (pd, nd)
                run[side] = measure(path, name, a.scale, a.min_time, a.repetitions)
            entry["runs"].append(run)
            # A row that hung once likely hangs again: its target's other pairs are skipped.
            if any(run[side].pop("timeout", False) for side in ("num", "den")):
                result["errors"].append(f"{t.name}: a run timed out, {a.pairs - i - 1} pairs "
                                        "skipped")
                break
        done = [targets.pair_ratio(r) for r in entry["runs"]]
        print(f"pairs.py: {t.name}: " + " ".join(f"{v:.2f}" if v else "n/a" for v in done),
              flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bench-dir", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--pairs", type=int, default=9, help="pairs per target (default 9)")
    ap.add_argument("--scale", default="quick", choices=("quick", "full"),
                    help="LFARENA_BENCH_SCALE of the runs: the run's own (default quick)")
    ap.add_argument("--min-time", default="0.05",
                    help="--benchmark_min_time of the runs: the run's own (default 0.05)")
    ap.add_argument("--repetitions", type=int, default=3,
                    help="repetitions per side, their median (default 3, as in a round)")
    ap.add_argument("--budget", type=float, default=BUDGET,
                    help=f"seconds for all pairs; the targets left then are skipped (default {BUDGET})")
    ap.add_argument("--only", metavar="REGEX",
                    help="only the targets whose name this regular expression finds")
    a = ap.parse_args(argv)
    if a.pairs < 1 or a.repetitions < 1 or not a.budget > 0:
        ap.error(f"--pairs and --repetitions must be at least 1 and --budget above 0, not "
                 f"{a.pairs}, {a.repetitions}, {a.budget}")
    try:
        only = re.compile(a.only) if a.only is not None else None
    except re.error as e:
        ap.error(f"--only {a.only!r}: {e}")
    started = time.monotonic()
    result = {"schema": 1, "scale": a.scale, "pairs": a.pairs, "repetitions": a.repetitions,
              "min_time": a.min_time, "targets": [], "errors": []}
    listed = suites.rows(a.bench_dir, dict(os.environ, LFARENA_BENCH_SCALE=a.scale),
                         result["errors"])
    if not listed:
        result["errors"].append(f"no suite with rows in {a.bench_dir}")
    where = {targets.row_of(n): (path, n) for path, n in listed}
    chosen = [t for t in targets.speed_targets(lambda r: r in where)
              if only is None or only.search(t.name)]
    if listed and not chosen:
        result["errors"].append(f"no target's name matches --only {a.only!r}")
    # SIGTERM (a job stopped from outside) as Ctrl-C: both keep what was measured.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    interrupted = None
    try:
        measure_targets(a, chosen, where, started, result)
    except (Exception, KeyboardInterrupt) as e:  # noqa: BLE001 -- measured pairs kept, named
        what = "an interrupt" if isinstance(e, KeyboardInterrupt) else f"{type(e).__name__}: {e}"
        result["errors"].append(f"pairs.py stopped by {what} "
                                f"({len(result['targets'])} of {len(chosen)} targets begun, "
                                "their finished pairs kept)")
        stopped = True
        interrupted = e if isinstance(e, KeyboardInterrupt) else None
    else:
        stopped = False
    result["seconds"] = round(time.monotonic() - started, 1)
    tmp = a.out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1, allow_nan=False)
    os.replace(tmp, a.out)
    print(f"pairs.py: {len(result['targets'])} targets x {a.pairs} pairs in {result['seconds']} s, "
          f"{len(result['errors'])} errors -> {a.out}")
    for e in result["errors"]:
        print(f"pairs.py: {e}", file=sys.stderr)
    if interrupted is not None:  # written, and now the interrupt goes on to the caller
        raise interrupted
    # Nothing measured, or stopped by an error: ci/bench.sh warns (the report names the errors).
    return 0 if result["targets"] and not stopped else 1


if __name__ == "__main__":
    sys.exit(main())
