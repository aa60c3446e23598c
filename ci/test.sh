#!/usr/bin/env bash
# ci/test.sh [preset...] -- all tests. Installs dependencies (ci/deps.sh), then for each preset
# (default: default clang asan tsan relacy fuzz clusterfuzzlite bench consumers) runs
# `cmake --workflow --preset <name>` (configure, build with 2 jobs, ctest; bench: the one-shot
# smoke run of every suite) with its output in build/ci-logs/<name>.log, and prints one line per
# preset:
#   preset <name>: <N> tests, <P> passed, <F> failed, <S> s
# tsan runs our users' command literally instead, on a fresh clone of HEAD (committed state
# only): `cmake --preset tsan && ctest` in the clone's source directory. `consumers` is not a
# preset: ci/consumers.sh installs the library and builds three consumers (find_package,
# pkg-config, add_subdirectory); it counts as 3 tests, 1 failed if any step fails. Nor is
# `clusterfuzzlite`: ci/clusterfuzzlite-check.sh runs .clusterfuzzlite/build.sh as the OSS-Fuzz /
# ClusterFuzzLite builder would, on a fresh clone of HEAD, and replays each target's seed corpus
# from $OUT; one test per fuzz target, failures as it counts them.
# A preset whose configure or build fails, or that runs no test, counts as 1 failed; so does a
# label with fewer tests than its minimum in ci/test-minimums.txt (tests lost silently).
# Arguments restrict the list. Ends with the line `<total passed> passed, <total failed> failed`;
# exit status 1 if anything failed.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash ci/deps.sh || { echo "ci/test.sh: ci/deps.sh failed" >&2; exit 1; }

export CMAKE_BUILD_PARALLEL_LEVEL=2
export CTEST_PARALLEL_LEVEL=2

if (($# > 0)); then
  run=("$@")
else
  run=(default clang asan tsan relacy fuzz clusterfuzzlite bench consumers)
fi
export CTEST_OUTPUT_ON_FAILURE=1

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

# Our users' command, literally, on a fresh clone (a CI check that it builds and runs tests).
literal() { # preset -> exit status
  local tmp rc
  tmp=$(mktemp -d)
  git clone -q . "$tmp/lfarena" && (cd "$tmp/lfarena" && cmake --preset "$1" && ctest)
  rc=$?
  rm -rf "$tmp"
  return "$rc"
}

# Labels with fewer tests than their minimum: "preset label minimum" lines, # comments.
lost_tests() { # preset log -> prints one line per label below its minimum
  local preset=$1 log=$2 p label min n
  while read -r p label min; do
    [[ -z "$p" || "$p" == \#* || "$p" != "$preset" ]] && continue
    n=$(sed -nE "s/^${label//./\\.} +=.*\(([0-9]+) tests?\)\$/\1/p" "$log" | tail -n 1)
    if ((${n:-0} < min)); then
      echo "preset $preset: label $label has ${n:-0} tests, fewer than its minimum $min"
    fi
  done <ci/test-minimums.txt
}

for preset in "${run[@]}"; do
  log="$logs/$preset.log"
  start=$EPOCHREALTIME
  if [[ "$preset" == tsan ]]; then
    literal tsan >"$log" 2>&1
  elif [[ "$preset" == consumers ]]; then
    bash ci/consumers.sh >"$log" 2>&1 # not a preset: 3 consumers of the installed library
  elif [[ "$preset" == clusterfuzzlite ]]; then
    bash ci/clusterfuzzlite-check.sh >"$log" 2>&1 # not a preset: the fuzz engines' build
  else
    cmake --workflow --preset "$preset" >"$log" 2>&1
  fi
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
  if [[ "$preset" == consumers ]]; then
    total=3
    failed=$((rc != 0 ? 1 : 0))
  fi
  if [[ "$preset" == clusterfuzzlite ]]; then
    summary=$(grep -E '^clusterfuzzlite: [0-9]+ targets, ' "$log" | tail -n 1)
    if [[ "$summary" =~ ([0-9]+)\ targets,\ [0-9]+\ passed,\ ([0-9]+)\ failed ]]; then
      total=${BASH_REMATCH[1]}
      failed=${BASH_REMATCH[2]}
    fi
  fi
  passed=$((total - failed))
  if ((rc != 0 || total == 0)) && ((failed == 0)); then
    failed=1 # configure/build failed, or no test ran
  fi
  lost=$(lost_tests "$preset" "$log")
  if [[ -n "$lost" ]]; then
    echo "$lost"
    failed=$((failed + $(wc -l <<<"$lost")))
  fi
  if ((rc != 0)); then
    show_tail "$log"
  fi
  echo "preset $preset: $total tests, $passed passed, $failed failed, $secs s"
  total_passed=$((total_passed + passed))
  total_failed=$((total_failed + failed))
done

echo "$total_passed passed, $total_failed failed"
((total_failed == 0))
