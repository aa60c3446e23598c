#!/usr/bin/env python3
"""bench/report/instructions.py -- instructions per operation of chosen 1-thread rows (callgrind).

Usage: instructions.py --bench-dir build/bench/bench --out RUN/instructions.json [--jobs 2]

Times on this VM follow its state; instruction counts hardly do. Each chosen row (ROWS: churn
at every shape and segment count for the segregated and sorted policies and the malloc peers,
and the 64 B bump for lfarena, the raw bump pointers and the peers) runs once at quick scale
under `valgrind --tool=callgrind --collect-atstart=no` with LFARENA_BENCH_COUNT_LOOPS=1; the
workload then toggles collection on just before its timed loop and off just after
(bench/counted_loop.hpp), so callgrind's "Collected" count is exactly the loop's, and divided
by the iterations it is the row's instructions per operation (churn: per free+allocate pair;
bump: per allocation), the workload's own few included. The report prints them next to the
times (instr_section.py).

Writes {"schema": 1, "tool", "scale", "rows": [{name, binary, suite, subject, params,
iterations, instructions, per_op, failures}], "errors": [...]} and exits 0 even when a row
failed (its error is listed, the report says so); without valgrind it writes "skipped" with the
reason. A run that did not toggle (`callgrind_toggles` in its context is not "yes"), a count
of 0, more than one run or count, or a row that is not 1-thread is refused: its count would not
be the loop's. Every suite and row has a time limit; one row's failure never loses the others.
"""
import argparse
import concurrent.futures
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # never leave __pycache__ in the source tree
import names  # noqa: E402
from instr_section import BUMP, CHURN  # noqa: E402
import suites  # noqa: E402
from suites import gb_escape  # noqa: E402

SCALE = "quick"
ROWS = [re.compile(r"^churn/(" + "|".join(map(re.escape, CHURN)) + r")/size:(64|mixed)/"
                   r"segments:\d+/iterations:\d+/real_time/threads:1$"),
        re.compile(r"^bump/(" + "|".join(map(re.escape, BUMP)) + r")/size:64/align:8/"
                   r"iterations:\d+/real_time/threads:1$")]
COLLECTED = re.compile(r"Collected : (\d+)")


COUNT_TIMEOUT = 900  # seconds for one row under callgrind (the slowest takes about 15)


def suite_env():
    """The environment a counted suite runs in: quick scale, the loop toggles on
    (bench/counted_loop.hpp), and none of Google Benchmark's BENCHMARK_* variables, which could
    add runs (a warm-up run repeats the loop inside another counted window)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BENCHMARK_")}
    env.update(LFARENA_BENCH_SCALE=SCALE, LFARENA_BENCH_COUNT_LOOPS="1")
    return env


def chosen(bench_dir, errors):
    """(binary path, benchmark name) of every row ROWS chooses, from each suite's test list; a
    suite that cannot list its tests is named in `errors`."""
    return [(path, n) for path, n in suites.rows(bench_dir, suite_env(), errors)
            if any(r.match(n) for r in ROWS)]


def count(path, name, valgrind="valgrind"):
    """The row's count: a dict for the output's rows, or an error string (never an exception:
    one row's trouble must not lose the others' counts)."""
    try:
        return _count(path, name, valgrind)
    except Exception as e:  # noqa: BLE001 -- reported as the row's error
        return f"{name}: {type(e).__name__}: {e}"


def _count(path, name, valgrind):
    suite, subject, params = names.parse_name(name)
    if params.get("threads") != "1":  # callgrind serialises threads: no count of one
        return f"{name}: not a 1-thread row"
    with tempfile.TemporaryDirectory() as tmp:
        js = os.path.join(tmp, "out.json")
        cmd = [valgrind, "--tool=callgrind", "--collect-atstart=no",
               f"--callgrind-out-file={os.path.join(tmp, 'callgrind.out')}", path,
               f"--benchmark_filter=^{gb_escape(name)}$", "--benchmark_repetitions=1",
               "--benchmark_min_warmup_time=0",
               f"--benchmark_out={js}", "--benchmark_out_format=json"]
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, env=suite_env(),
                               timeout=COUNT_TIMEOUT)
        except subprocess.TimeoutExpired:
            return f"{name}: no result within {COUNT_TIMEOUT} s"
        try:
            with open(js, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError) as e:
            data = {"error": str(e)}
        if p.returncode != 0 or not isinstance(data, dict) or "error" in data:
            last = (p.stderr.strip().splitlines() or ["no output"])[-1]
            err = data.get("error", "no error") if isinstance(data, dict) else "not an object"
            return f"{name}: exit {p.returncode}, {err}: {last}"
    toggles = data.get("context", {}).get("callgrind_toggles")
    if toggles != "yes":
        return (f"{name}: the suite does not toggle callgrind around its loop (callgrind_toggles "
                f"{toggles!r}; bench/counted_loop.hpp), so its count would be the whole "
                "program's")
    runs = [b for b in data.get("benchmarks", []) if b.get("run_type") == "iteration"]
    found = COLLECTED.findall(p.stderr)
    if len(runs) != 1 or len(found) != 1 or runs[0].get("error_occurred"):
        err = runs[0].get("error_message") if runs else None
        return f"{name}: {len(runs)} runs, {len(found)} counts, error {err}"
    it, n = int(runs[0]["iterations"]), int(found[0])
    if it <= 0 or n == 0:  # nothing was counted: the toggles did not run
        return f"{name}: {n} instructions in {it} iterations: nothing counted"
    failures = runs[0].get("failures", 0) or 0
    if not isinstance(failures, (int, float)) or not math.isfinite(failures) or failures < 0:
        return f"{name}: failures counter {failures!r} is not a count"
    return {"name": name, "binary": os.path.basename(path), "suite": suite, "subject": subject,
            "params": params, "iterations": it, "instructions": n, "per_op": n / it,
            "failures": int(failures)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bench-dir", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--jobs", type=int, default=2, help="rows counted at once (default 2)")
    ap.add_argument("--valgrind", default="valgrind", help="the valgrind to run (default: PATH's)")
    a = ap.parse_args(argv)
    result = {"schema": 1, "tool": "callgrind", "scale": SCALE, "rows": [], "errors": []}
    valgrind = shutil.which(a.valgrind)
    if valgrind is None:
        result["skipped"] = f"{a.valgrind} is not installed (ci/deps.sh installs valgrind)"
    else:
        v = subprocess.run([valgrind, "--version"], capture_output=True, text=True)
        result["tool"] = f"callgrind ({v.stdout.strip()})"
        rows = chosen(a.bench_dir, result["errors"])
        with concurrent.futures.ThreadPoolExecutor(max(1, a.jobs)) as pool:
            for r in pool.map(lambda row: count(*row, valgrind=valgrind), rows):
                (result["rows"] if isinstance(r, dict) else result["errors"]).append(r)
        if not rows:
            result["errors"].append(f"no chosen row in {a.bench_dir}")
    tmp = a.out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1)
    os.replace(tmp, a.out)
    print(f"instructions.py: {len(result['rows'])} rows counted, {len(result['errors'])} errors"
          + (f" ({result['skipped']})" if "skipped" in result else "") + f" -> {a.out}")
    for e in result["errors"]:
        print(f"instructions.py: {e}", file=sys.stderr)


if __name__ == "__main__":
    main()
