#!/usr/bin/env bash
# ci/run-suite.sh LIMIT OUT_DIR EXE [ARG...] -- one benchmark suite run of ci/bench.sh: runs EXE
# with ARG... plus --benchmark_out=OUT_DIR/<name>.json (JSON format), its console output in
# OUT_DIR/<name>.log, for at most LIMIT seconds (then SIGTERM, and SIGKILL 30 s later, or
# LFARENA_SUITE_KILL_GRACE seconds: a suite that hangs ends the benchmark job with its name
# instead of a job that never finishes).
# Prints "ok (<s> s, <n> JSON entries)", "FAILED (exit <rc>)" or "TIMED OUT after <LIMIT> s";
# on failure the log's last 30 lines go to stderr. Exit status: 0 ok, 1 failed, 2 usage,
# 124 timed out.
set -uo pipefail
usage="usage: ci/run-suite.sh LIMIT OUT_DIR EXE [ARG...]"
if (($# < 3)) || ! [[ $1 =~ ^[1-9][0-9]*$ ]]; then
  echo "ci/run-suite.sh: LIMIT must be a positive number of seconds (got '${1-}'); $usage" >&2
  exit 2
fi
limit=$1 out=$2 exe=$3
shift 3
grace=${LFARENA_SUITE_KILL_GRACE:-30}
if ! [[ $grace =~ ^[1-9][0-9]*$ ]]; then
  echo "ci/run-suite.sh: LFARENA_SUITE_KILL_GRACE must be a positive number of seconds" \
       "(got '$grace')" >&2
  exit 2
fi
name=$(basename "$exe")
t0=$(date +%s)
rc=0
timeout --kill-after="$grace" "$limit" "$exe" "$@" --benchmark_out="$out/$name.json" \
  --benchmark_out_format=json >"$out/$name.log" 2>&1 || rc=$?
# timeout's 124: the limit passed and SIGTERM ended it; 137 (128 + 9) after the limit: SIGKILL
# after the grace (a SIGKILL before the limit, e.g. the OOM killer's, is a failure).
if ((rc == 124 || (rc == 137 && $(date +%s) - t0 >= limit))); then
  echo "TIMED OUT after $limit s"
  tail -n 30 "$out/$name.log" >&2
  exit 124
fi
if ((rc != 0)); then
  echo "FAILED (exit $rc)"
  tail -n 30 "$out/$name.log" >&2
  exit 1
fi
echo "ok ($(($(date +%s) - t0)) s, $(grep -c '"run_name"' "$out/$name.json") JSON entries)"
