#!/usr/bin/env bash
# ci/bench.sh [--full] -- the benchmark job: install dependencies (ci/deps.sh), build the `bench`
# preset, run every bench suite (build/bench/bench/*_bench) writing Google Benchmark JSON into a run
# directory build/bench/runs/<UTC stamp>/ together with machine.json (CPU, cores, kernel,
# compilers, governor, load, date, git commit), then render the report with
# bench/report/generate.py into reports/<date>-<host>/ and reports/latest/.
#
#   quick (default): LFARENA_BENCH_SCALE=quick, --benchmark_min_time=0.05, 3 repetitions
#                    (medians);
#   --full:          LFARENA_BENCH_SCALE=full, --benchmark_min_time=0.5, 9 repetitions (medians).
# The stateful suites (bump, churn, skiplist) run fixed iteration counts set by the scale, on a
# fresh state per repetition (frag: one iteration); min_time only drives the link micro suite.
# Fails if the build, a suite or the report generator fails; prints one progress line per suite.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

mode=quick
for arg in "$@"; do
  case "$arg" in
    --full) mode=full ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "ci/bench.sh: unknown argument '$arg' (usage: ci/bench.sh [--full])" >&2; exit 2 ;;
  esac
done

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
  gb_args=(--benchmark_min_time=0.5 --benchmark_repetitions=9 --benchmark_report_aggregates_only=true)
else
  gb_args=(--benchmark_min_time=0.05 --benchmark_repetitions=3 --benchmark_report_aggregates_only=true)
fi

"$py" bench/report/machine_info.py --mode "$mode" --out "$run/machine.json" \
  --probe build/bench/bench/cpu_probe

shopt -s nullglob
suites=()
for exe in build/bench/bench/*_bench; do [[ -x $exe ]] && suites+=("$exe"); done
if ((${#suites[@]} == 0)); then echo "ci/bench.sh: no suites built" >&2; exit 1; fi
i=0
for exe in "${suites[@]}"; do
  i=$((i + 1))
  name=$(basename "$exe")
  t0=$(date +%s)
  printf '[%d/%d] %-24s ' "$i" "${#suites[@]}" "$name"
  if ! LFARENA_BENCH_SCALE=$mode "$exe" "${gb_args[@]}" \
      --benchmark_out="$run/$name.json" --benchmark_out_format=json >"$run/$name.log" 2>&1; then
    echo "FAILED"
    tail -n 30 "$run/$name.log" >&2
    exit 1
  fi
  echo "ok ($(( $(date +%s) - t0 )) s, $(grep -c '"run_name"' "$run/$name.json") JSON entries)"
done

"$py" bench/report/machine_info.py --finish "$run/machine.json"
"$py" bench/report/generate.py --run-dir "$run" --reports-dir reports
echo "ci/bench.sh: $mode run in $(( $(date +%s) - started )) s; raw JSON in $run/, report in reports/latest/"
