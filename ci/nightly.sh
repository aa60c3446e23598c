#!/usr/bin/env bash
# ci/nightly.sh [fuzz-seconds-per-target] -- the long sizes of the tests that are long by nature.
# Configures the relacy, default and asan presets a second time with LFARENA_SCALE=nightly into
# build/nightly-<preset> (so the CI trees keep their short sizes), runs the relacy, stress and
# crash labels there, then ci/fuzz-nightly.sh with the given budget (default 1800 s per target).
# Nightly sizes: Relacy bound-3 search + 10^7 random iterations per scenario; stress 15x
# the CI operation counts; crash 10^4 kill/reopen cycles per policy; multi-process 10^6 ops per
# writer. Prints one line per step and exits non-zero if any failed.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash ci/deps.sh || exit 1
export CMAKE_BUILD_PARALLEL_LEVEL=2
fuzz_seconds=${1:-1800}
failed=0
logs=build/ci-logs
mkdir -p "$logs"

run_step() { # name, labels regex, preset
  local name=$1 labels=$2 preset=$3 dir="build/nightly-$3" log="$logs/nightly-$1.log"
  local start=$SECONDS
  if cmake --preset "$preset" -B "$dir" -DLFARENA_SCALE=nightly >"$log" 2>&1 &&
    cmake --build "$dir" >>"$log" 2>&1 &&
    ctest --test-dir "$dir" -L "$labels" --output-on-failure --no-tests=error -j 2 >>"$log" 2>&1; then
    echo "nightly $name: ok, $((SECONDS - start)) s ($(grep -E 'tests passed' "$log" | tail -1))"
  else
    echo "nightly $name: FAILED, $((SECONDS - start)) s, log $log"
    tail -n 40 "$log"
    failed=1
  fi
}

run_step relacy relacy relacy
run_step stress-crash '^(stress|crash)$' default
run_step asan-stress-crash '^(stress|crash)$' asan
if bash ci/fuzz-nightly.sh "$fuzz_seconds"; then echo "nightly fuzz: ok"; else echo "nightly fuzz: FAILED"; failed=1; fi
exit $failed
