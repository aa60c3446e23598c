#!/usr/bin/env bash
# ci/test.sh [preset...] -- all tests. Installs dependencies (ci/deps.sh), then for each preset
# (default: default clang asan tsan relacy fuzz) runs `cmake --workflow --preset <name>`
# (configure, build with 2 jobs, ctest) with its output in build/ci-logs/<name>.log, and prints one
# line per preset:
#   preset <name>: <N> tests, <P> passed, <F> failed, <S> s
# A preset whose configure or build fails, or that runs no test, counts as 1 failed. Then it builds
# (does not run) the `bench` preset. Arguments restrict the list (`bench` among them means: build
# it). Ends with the line `<total passed> passed, <total failed> failed`; exit status 1 if anything
# failed.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash ci/deps.sh || { echo "ci/test.sh: ci/deps.sh failed" >&2; exit 1; }

export CMAKE_BUILD_PARALLEL_LEVEL=2
export CTEST_PARALLEL_LEVEL=2

if (($# > 0)); then
  presets=("$@")
  build_bench=0
  run=()
  for p in "${presets[@]}"; do
    if [[ "$p" == bench ]]; then build_bench=1; else run+=("$p"); fi
  done
else
  run=(default clang asan tsan relacy fuzz)
  build_bench=1
fi

logs=build/ci-logs
mkdir -p "$logs"
total_passed=0
total_failed=0

elapsed() { # start -> seconds with one decimal
  awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'
}

show_tail() { # log -> last lines on stderr
  echo "---- last 40 lines of $1 ----" >&2
  tail -n 40 "$1" >&2
  echo "---- end ----" >&2
}

for preset in "${run[@]}"; do
  log="$logs/$preset.log"
  start=$EPOCHREALTIME
  cmake --workflow --preset "$preset" >"$log" 2>&1
  rc=$?
  secs=$(elapsed "$start")
  summary=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1)
  if [[ "$summary" =~ ([0-9]+)\ tests?\ failed\ out\ of\ ([0-9]+) ]]; then
    failed=${BASH_REMATCH[1]}
    total=${BASH_REMATCH[2]}
  else
    failed=0
    total=0
  fi
  passed=$((total - failed))
  if ((rc != 0 || total == 0)) && ((failed == 0)); then
    failed=1 # configure/build failed, or no test ran
  fi
  if ((rc != 0)); then
    show_tail "$log"
  fi
  echo "preset $preset: $total tests, $passed passed, $failed failed, $secs s"
  total_passed=$((total_passed + passed))
  total_failed=$((total_failed + failed))
done

if ((build_bench)); then
  log="$logs/bench.log"
  start=$EPOCHREALTIME
  { cmake --preset bench && cmake --build --preset bench; } >"$log" 2>&1
  rc=$?
  secs=$(elapsed "$start")
  if ((rc == 0)); then
    echo "preset bench: built (not run), $secs s"
  else
    show_tail "$log"
    echo "preset bench: build FAILED, $secs s"
    total_failed=$((total_failed + 1))
  fi
fi

echo "$total_passed passed, $total_failed failed"
((total_failed == 0))
