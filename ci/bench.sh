#!/usr/bin/env bash
# ci/bench.sh [--full] [--compare <report dir> [--fail-on-regression]] -- the benchmark job:
# install dependencies (ci/deps.sh), build the `bench` preset, run every bench suite
# (build/bench/bench/*_bench) writing Google Benchmark JSON into a run directory
# build/bench/runs/<UTC stamp>/ together with
# machine.json (CPU, cores, kernel, compilers, governor, load, date, git commit) and
# instructions.json (callgrind's instructions per operation of the 1-thread churn and bump rows,
# bench/report/instructions.py), then render the
# report with bench/report/generate.py into reports/<date>-<host>/ and reports/latest/.
#
#   quick (default): LFARENA_BENCH_SCALE=quick, --benchmark_min_time=0.05, 3 repetitions
#                    (medians);
#   --full:          LFARENA_BENCH_SCALE=full, --benchmark_min_time=0.5, 9 repetitions (medians;
#                    9 is what a meaningful U test needs) in 3 interleaved rounds: every suite
#                    runs 3 repetitions per round, round after round, into RUN/rounds/<k>/, and
#                    bench/report/merge_rounds.py merges the rounds into RUN/<suite>.json, so each
#                    row's repetitions come from three windows spread over the run, the same ones
#                    for every subject (this VM changes state within an hour: a ratio between
#                    two suites run minutes apart carried that change). cpu_probe runs between
#                    rounds too (machine.json cpu_probe_rounds). Then every speed target's two
#                    rows run back to back, 9 pairs (quick: 3), into RUN/pairs.json
#                    (bench/report/pairs.py), and the report judges the targets on the pairs.
#   --compare DIR:   also run Google Benchmark's compare.py (Mann-Whitney U test over the
#                    repetitions) suite by suite against the raw JSON kept in DIR/raw/ (an earlier
#                    report) and write "Changes since <DIR>" into report.md and the dashboard;
#   --fail-on-regression: with --compare, exit 3 after writing the report when a benchmark with
#                    9+ repetitions on both sides is significantly slower (a regression gate).
# The JSON keeps every repetition next to the aggregates (--benchmark_display_aggregates_only
# limits only the console), and the report keeps it in reports/<name>/raw/ (unchanged but for
# NaN, which JSON lacks, written as null).
# The stateful suites (bump, churn, skiplist) run fixed iteration counts set by the scale, on a
# fresh state per repetition (bump: the same region rewound, not rebuilt and faulted again;
# frag: one iteration); min_time only drives the link micro suite. Benchmark threads run pinned
# (LFARENA_BENCH_CPUS, default every allowed CPU in ascending order; none: unpinned; see
# bench/harness.hpp), and each suite records the list in its JSON context (bench_cpus).
# Fails if the build, a suite or the report generator fails, or a suite runs past its time limit
# (ci/run-suite.sh: 1800 s per suite run in --full, 900 s quick; LFARENA_BENCH_SUITE_LIMIT
# overrides); prints one progress line per suite.
set -euo pipefail
caller=$PWD # a relative --compare path is the caller's, not the repository root's
cd "$(dirname "${BASH_SOURCE[0]}")/.."

usage="usage: ci/bench.sh [--full] [--compare <report dir> [--fail-on-regression]]"
mode=quick
compare=()
gate=()
while (($# > 0)); do
  case "$1" in
    --full) mode=full ;;
    --compare)
      [[ $# -ge 2 ]] || { echo "ci/bench.sh: --compare needs a report directory; $usage" >&2; exit 2; }
      base=$2
      [[ $base == /* ]] || base="$caller/$base"
      # Checked before an hour of benchmarks, not after: the baseline must keep raw JSON. The
      # quoted part of the pattern is literal, so brackets or spaces in the path are no glob.
      found=0
      for f in "${base%/}"/raw/*_bench.json; do [[ -f "$f" ]] && found=1; done
      if ((found == 0)); then
        echo "ci/bench.sh: --compare '$2': no raw/*_bench.json there (only reports made since raw" \
             "JSON is kept can be a baseline)" >&2
        exit 2
      fi
      compare=(--compare "$base")
      shift ;;
    --fail-on-regression) gate=(--fail-on-regression) ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "ci/bench.sh: unknown argument '$1'; $usage" >&2; exit 2 ;;
  esac
  shift
done
if ((${#gate[@]} > 0 && ${#compare[@]} == 0)); then
  echo "ci/bench.sh: --fail-on-regression needs --compare; $usage" >&2
  exit 2
fi

# Each suite run's time limit (ci/run-suite.sh): a hung suite ends the job, named, instead of a
# job that never ends. The longest suite run of 2026-12-06-vm-4 (--full) took 587 s (bump_bench);
# LFARENA_BENCH_SUITE_LIMIT overrides (seconds).
if [[ $mode == full ]]; then suite_limit=1800; else suite_limit=900; fi
suite_limit=${LFARENA_BENCH_SUITE_LIMIT:-$suite_limit}
# The limit and the kill grace checked before the build (ci/run-suite.sh's own check).
bash ci/run-suite.sh --check "$suite_limit" || exit 2

started=$(date +%s)
bash ci/deps.sh
export CMAKE_BUILD_PARALLEL_LEVEL=2
echo "ci/bench.sh: configuring and building the bench preset"
cmake --preset bench >/dev/null
cmake --build --preset bench

# The python that has matplotlib (Debian's python3-matplotlib lives in /usr/bin/python3; a pyenv
# python3 earlier in PATH would not see it).
py=python3
for cand in /usr/bin/python3 python3; do
  if command -v "$cand" >/dev/null && "$cand" -c 'import matplotlib' 2>/dev/null; then py=$cand; break; fi
done

stamp=$(date -u +%Y%m%dT%H%M%SZ)
run="build/bench/runs/$stamp"
mkdir -p "$run"
if [[ $mode == full ]]; then
  rounds=3 # of 3 repetitions each: 9 per row
  pairs=9 min_time=0.5
  gb_args=(--benchmark_min_time=0.5 --benchmark_repetitions=3 --benchmark_display_aggregates_only=true)
else
  rounds=1
  pairs=3 min_time=0.05
  gb_args=(--benchmark_min_time=0.05 --benchmark_repetitions=3 --benchmark_display_aggregates_only=true)
fi

"$py" bench/report/machine_info.py --mode "$mode" --out "$run/machine.json" \
  --probe build/bench/bench/cpu_probe

shopt -s nullglob
suites=()
for exe in build/bench/bench/*_bench; do [[ -x $exe ]] && suites+=("$exe"); done
if ((${#suites[@]} == 0)); then echo "ci/bench.sh: no suites built" >&2; exit 1; fi
# One round: every suite once into directory $1, round $2 of $rounds.
run_round() {
  local out=$1 k=$2 i=0 exe name
  mkdir -p "$out"
  for exe in "${suites[@]}"; do
    i=$((i + 1))
    name=$(basename "$exe")
    if ((rounds > 1)); then printf 'round %d/%d ' "$k" "$rounds"; fi
    printf '[%d/%d] %-24s ' "$i" "${#suites[@]}" "$name"
    LFARENA_BENCH_SCALE=$mode bash ci/run-suite.sh "$suite_limit" "$out" "$exe" "${gb_args[@]}" ||
      exit 1
  done
}
if ((rounds == 1)); then
  run_round "$run" 1
else
  dirs=()
  for ((k = 1; k <= rounds; k++)); do
    dirs+=("$run/rounds/$k")
    run_round "$run/rounds/$k" "$k"
    if ((k < rounds)); then
      "$py" bench/report/machine_info.py --after-round "$run/machine.json" --round "$k" \
        --probe build/bench/bench/cpu_probe
    fi
  done
  "$py" bench/report/merge_rounds.py --out "$run" "${dirs[@]}"
fi

"$py" bench/report/machine_info.py --finish "$run/machine.json" --probe build/bench/bench/cpu_probe
# The speed targets' two rows back to back, pair after pair (bench/report/pairs.py: the VM
# changes state within seconds, so a ratio of medians taken minutes apart carries that change;
# the report judges each target on its pairs), after the end probe, which describes the rounds.
# About 7 minutes with 9 pairs. A diagnostic like the counts below: its failure (or nothing
# measured: exit 1) is reported, never the end of the run.
# A pairs step that died without writing pairs.json (killed, or failed before its first pair)
# leaves one that says so: the report names it instead of passing for a run without pairs.
pairs_rc=0
"$py" bench/report/pairs.py --bench-dir build/bench/bench --out "$run/pairs.json" \
  --pairs "$pairs" --scale "$mode" --min-time "$min_time" || pairs_rc=$?
if ((pairs_rc != 0)); then
  echo "ci/bench.sh: warning: the back-to-back pairs measured nothing or failed (the report says what it has)" >&2
  if [[ ! -s $run/pairs.json ]]; then
    "$py" -c 'import json, sys
json.dump({"schema": 1, "scale": sys.argv[1], "targets": [], "errors": [sys.argv[2]]},
          open(sys.argv[3], "w", encoding="utf-8"))' "$mode" \
      "pairs.py exited with status $pairs_rc without writing pairs.json (ci/bench.sh's output has its messages)" \
      "$run/pairs.json"
  fi
fi
# Instructions per operation of the 1-thread churn and bump rows under callgrind (about a minute
# on 2 cores; quick scale in either mode: the counts do not depend on it, nor on the VM's state).
# A diagnostic: its failure is reported, never the end of the run.
"$py" bench/report/instructions.py --bench-dir build/bench/bench --out "$run/instructions.json" ||
  echo "ci/bench.sh: warning: instruction counts failed; the report goes without them" >&2
"$py" bench/report/generate.py --run-dir "$run" --reports-dir reports "${compare[@]}" "${gate[@]}"
echo "ci/bench.sh: $mode run in $(( $(date +%s) - started )) s; raw JSON in $run/, report in reports/latest/"
