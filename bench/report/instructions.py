#!/usr/bin/env python3
"""bench/report/instructions.py -- instructions per operation of chosen 1-thread rows (callgrind).

Usage: instructions.py --bench-dir build/bench/bench --out RUN/instructions.json [--jobs 2]

Times on this VM follow its state; instruction counts do not. Each chosen row (ROWS: churn at
every shape and segment count for the segregated and sorted policies and the malloc peers, and
the 64 B bump for lfarena, the raw bump pointers and the peers) runs once at quick scale under
`valgrind --tool=callgrind --collect-atstart=no`; the workload toggles collection on just
before its timed loop and off just after (bench/counted_loop.hpp), so callgrind's "Collected"
count is exactly the loop's, and divided by the iterations it is the row's instructions per
operation (churn: per free+allocate pair; bump: per allocation), the workload's own few
included. The report prints them next to the times (tables.instructions_section).

Writes {"schema": 1, "tool", "scale", "rows": [{name, binary, suite, subject, params,
iterations, instructions, per_op, failures}], "errors": [...]} and exits 0 even when a row
failed (its error is listed, the report says so); without valgrind it writes "skipped" with the
reason. A binary built without the toggles (`callgrind_toggles` in its context is not "yes")
is refused: its count would be the whole program's.
"""
import argparse
import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # never leave __pycache__ in the source tree
import generate  # noqa: E402
from instr_section import BUMP, CHURN  # noqa: E402

SCALE = "quick"
ROWS = [re.compile(r"^churn/(" + "|".join(map(re.escape, CHURN)) + r")/size:(64|mixed)/"
                   r"segments:\d+/iterations:\d+/real_time/threads:1$"),
        re.compile(r"^bump/(" + "|".join(map(re.escape, BUMP)) + r")/size:64/align:8/"
                   r"iterations:\d+/real_time/threads:1$")]
COLLECTED = re.compile(r"Collected : (\d+)")


def chosen(bench_dir, errors):
    """(binary path, benchmark name) of every row ROWS chooses, from each suite's test list; a
    suite that cannot list its tests is named in `errors`."""
    out = []
    for exe in sorted(os.listdir(bench_dir)) if os.path.isdir(bench_dir) else []:
        path = os.path.join(bench_dir, exe)
        if not exe.endswith("_bench") or not os.access(path, os.X_OK):
            continue
        names = subprocess.run([path, "--benchmark_list_tests"], capture_output=True, text=True,
                               env=dict(os.environ, LFARENA_BENCH_SCALE=SCALE))
        if names.returncode != 0:
            errors.append(f"{exe} --benchmark_list_tests: exit {names.returncode}")
            continue
        out += [(path, n) for n in names.stdout.split() if any(r.match(n) for r in ROWS)]
    return out


def gb_escape(name):
    """`name` as a literal in Google Benchmark's filter (std::regex, which refuses Python's
    escape of '-'): only the regex operators are escaped."""
    return re.sub(r"([.^$|?*+()\[\]{}\\])", r"\\\1", name)


def count(path, name, valgrind="valgrind"):
    """The row's count: a dict for the output's rows, or an error string."""
    with tempfile.TemporaryDirectory() as tmp:
        js = os.path.join(tmp, "out.json")
        cmd = [valgrind, "--tool=callgrind", "--collect-atstart=no",
               f"--callgrind-out-file={os.path.join(tmp, 'callgrind.out')}", path,
               f"--benchmark_filter=^{gb_escape(name)}$", "--benchmark_repetitions=1",
               f"--benchmark_out={js}", "--benchmark_out_format=json"]
        p = subprocess.run(cmd, capture_output=True, text=True,
                           env=dict(os.environ, LFARENA_BENCH_SCALE=SCALE))
        try:
            with open(js, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError) as e:
            data = {"error": str(e)}
        if p.returncode != 0 or "error" in data:
            last = (p.stderr.strip().splitlines() or ["no output"])[-1]
            return f"{name}: exit {p.returncode}, {data.get('error', 'no error')}: {last}"
    if data.get("context", {}).get("callgrind_toggles") != "yes":
        return (f"{name}: built without the callgrind toggles (bench/counted_loop.hpp: "
                "valgrind's header missing at build time), so its count would be the whole "
                "program's")
    runs = [b for b in data.get("benchmarks", []) if b.get("run_type") == "iteration"]
    found = COLLECTED.findall(p.stderr)
    if len(runs) != 1 or not found or runs[0].get("error_occurred"):
        return f"{name}: {len(runs)} runs, {len(found)} counts, error {runs[0].get('error_message') if runs else None}"
    it = int(runs[0]["iterations"])
    n = int(found[-1])
    suite, subject, params = generate.parse_name(name)
    return {"name": name, "binary": os.path.basename(path), "suite": suite, "subject": subject,
            "params": params, "iterations": it, "instructions": n, "per_op": n / it,
            "failures": int(runs[0].get("failures", 0) or 0)}


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
