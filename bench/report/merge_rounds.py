#!/usr/bin/python3
"""bench/report/merge_rounds.py -- merge the rounds of a benchmark run into one JSON per suite.

  merge_rounds.py --out RUN RUN/rounds/1 RUN/rounds/2 RUN/rounds/3

Why rounds: this project's VM changes state while a run goes on (the host moves its vCPUs: the
cache-line hand-off between the two CPUs measured 252 ns at the start of one hour-long run and
55 ns at its end, and 2-thread rows move 2x with it). Run suite after suite, a peer's rows and
lfarena's are measured minutes apart, and a ratio between them carries that change. So
`ci/bench.sh --full` runs every suite once per round, a few repetitions each (3 rounds of 3),
and each row's 9 repetitions come from three windows spread over the run, the same windows for
every subject.

For every `<suite>_bench.json` of the first round directory: the repetitions (run_type
"iteration") of every round, in round order, renumbered (repetition_index 0..n-1, repetitions
n) and marked with their round (lfarena_round, from 1: generate.py shows each speed target's
ratio per round too), followed by the aggregates Google Benchmark itself writes (mean, median,
stddev, cv of real_time, cpu_time and every counter) recomputed over all of them, so every
reader of a single run's JSON (generate.py, compare.py) reads the merged file unchanged. An
errored repetition (error_occurred) is kept and takes no part in the aggregates. The context
is the first round's, plus lfarena_rounds (the number of rounds) and lfarena_round_dates (each
round's own date). A suite missing from a later round is an error: its rows would not be
comparable. Standard library only.
"""
import argparse
import json
import math
import os
import statistics
import sys

# Fields of an entry that are not measurements (everything else numeric is aggregated).
KEYS = {"name", "family_index", "per_family_instance_index", "run_name", "run_type",
        "repetitions", "repetition_index", "threads", "iterations", "time_unit",
        "aggregate_name", "aggregate_unit", "error_occurred", "error_message", "label",
        "lfarena_round"}


class MergeError(Exception):
    pass


def number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def aggregates(run_name, reps):
    """Google Benchmark's four aggregate entries over the repetitions `reps` (dicts), by its
    rules: none when fewer than 2 repetitions succeeded; every measurement any successful one
    has (the union of their fields, in order of appearance), over the ones that have it;
    `iterations` the number of repetitions, errored ones included; the first one's label. A
    measurement with a non-finite value (an infinite rate) has NaN aggregates."""
    ok = [e for e in reps if not e.get("error_occurred")]
    if len(ok) < 2:
        return []
    first = ok[0]
    fields = []
    for e in ok:
        fields += [k for k, v in e.items() if k not in KEYS and number(v) and k not in fields]
    cols = {k: [float(e[k]) for e in ok if number(e.get(k))] for k in fields}

    def stddev(v):
        return statistics.stdev(v) if len(v) > 1 else 0.0

    def cv(v):
        m = statistics.fmean(v)
        return stddev(v) / m if m != 0 else math.nan

    out = []
    for name, fn, unit in (("mean", statistics.fmean, "time"),
                           ("median", statistics.median, "time"),
                           ("stddev", stddev, "time"), ("cv", cv, "percentage")):
        e = {"name": f"{run_name}_{name}", "family_index": first.get("family_index", 0),
             "per_family_instance_index": first.get("per_family_instance_index", 0),
             "run_name": run_name, "run_type": "aggregate", "repetitions": len(reps),
             "threads": first.get("threads", 1), "aggregate_name": name, "aggregate_unit": unit,
             "iterations": len(reps), "time_unit": first.get("time_unit", "ns")}
        for k, v in cols.items():
            if v:
                e[k] = fn(v) if all(math.isfinite(x) for x in v) else math.nan
        if isinstance(first.get("label"), str):
            e["label"] = first["label"]
        out.append(e)
    return out


def load_round(path):
    """A round's suite JSON, checked to be the shape Google Benchmark writes."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        raise MergeError(f"{path}: cannot read benchmark JSON: {e}") from e
    if (not isinstance(data, dict) or not isinstance(data.get("context", {}), dict)
            or not isinstance(data.get("benchmarks"), list)
            or not all(isinstance(b, dict) and isinstance(b.get("run_name", b.get("name")), str)
                       for b in data["benchmarks"])):
        raise MergeError(f"{path}: not Google Benchmark JSON (an object with a context and a "
                         "list of benchmarks, each with a name)")
    return data


def merge_suite(paths, warn=None):
    """One suite's JSON files, one per round, merged (see the banner). `warn(text)` hears of
    rows missing from some rounds (their per-round values are n/a there)."""
    rounds = [load_round(p) for p in paths]
    order, reps = [], {}
    for k, data in enumerate(rounds, 1):
        aggregated, repeated = set(), set()
        for b in data["benchmarks"]:
            run_name = b.get("run_name", b.get("name"))
            if b.get("run_type", "iteration") != "iteration":
                aggregated.add(run_name)
                continue  # recomputed below over every round
            repeated.add(run_name)
            if run_name not in reps:
                order.append(run_name)
                reps[run_name] = []
            reps[run_name].append(dict(b, lfarena_round=k))
        lost = sorted(aggregated - repeated)
        if lost:
            raise MergeError(f"{paths[k - 1]}: {lost[0]} has aggregates but no repetitions "
                             "(--benchmark_report_aggregates_only?): cannot merge")
    benchmarks = []
    for run_name in order:
        rs = reps[run_name]
        absent = sorted(set(range(1, len(rounds) + 1)) - {e["lfarena_round"] for e in rs})
        if absent and warn:
            warn(f"{run_name} is missing from round(s) {', '.join(map(str, absent))}")
        for i, e in enumerate(rs):
            e["repetition_index"] = i
            e["repetitions"] = len(rs)
        benchmarks += rs + aggregates(run_name, rs)
    context = dict(rounds[0].get("context", {})) if rounds else {}
    context["lfarena_rounds"] = len(rounds)
    context["lfarena_round_dates"] = [d.get("context", {}).get("date") for d in rounds]
    return {"context": context, "benchmarks": benchmarks}


def merge_run(out_dir, round_dirs, warn=None):
    """Writes out_dir/<suite>.json for every suite of any round (each must be in every round);
    returns their names. Every round is read and checked before anything is written."""
    if not round_dirs:
        raise MergeError("no round directories given")
    suites = set()
    for d in round_dirs:  # a suite any round has: it must be in every round
        try:
            suites |= {f for f in os.listdir(d) if f.endswith("_bench.json")}
        except OSError as e:
            raise MergeError(f"{d}: {e}") from e
    suites = sorted(suites)
    if not suites:
        raise MergeError(f"no *_bench.json in {', '.join(round_dirs)}")
    for suite in suites:  # every suite checked before any is written
        missing = [d for d in round_dirs if not os.path.isfile(os.path.join(d, suite))]
        if missing:
            raise MergeError(f"{suite} is missing from {', '.join(missing)}")
    merged = {suite: merge_suite([os.path.join(d, suite) for d in round_dirs], warn)
              for suite in suites}
    for suite, data in merged.items():
        with open(os.path.join(out_dir, suite), "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2)  # NaN as Google Benchmark writes it (cv of 0)
    return suites


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="the run directory to write the suites into")
    ap.add_argument("rounds", nargs="+", help="the round directories, in the order they ran")
    a = ap.parse_args()
    try:
        suites = merge_run(a.out, a.rounds,
                           lambda text: print(f"merge_rounds.py: warning: {text}", file=sys.stderr))
    except MergeError as e:
        print(f"merge_rounds.py: {e}", file=sys.stderr)
        return 1
    print(f"merge_rounds.py: {len(suites)} suites, {len(a.rounds)} rounds each, into {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
