#!/usr/bin/env bash
# ci/run-suite.sh LIMIT OUT_DIR EXE [ARG...] -- one benchmark suite run of ci/bench.sh: runs EXE
# with ARG... plus --benchmark_out=OUT_DIR/<name>.json (JSON format), its console output in
# OUT_DIR/<name>.log, for at most LIMIT seconds (then SIGTERM, and SIGKILL 30 s later, or
# LFARENA_SUITE_KILL_GRACE seconds: a suite that hangs ends the benchmark job with its name
# instead of a job that never finishes).
# Prints "ok (<s> s, <n> JSON entries)", "FAILED (<why>)" or "TIMED OUT after <LIMIT> s"; on
# failure the log's last 30 lines (at most 8 KiB) go to stderr. A suite that exits 0 without
# writing JSON with results has failed too. Exit status: 0 ok, 1 failed, 2 usage, 124 timed
# out; 130 when interrupted (Ctrl-C reaches the suite, and the caller stops).
set -uo pipefail
usage="usage: ci/run-suite.sh LIMIT OUT_DIR EXE [ARG...] | --check LIMIT"
# A number of seconds: positive, at most 9 digits (bash's arithmetic must not overflow).
seconds() {
  [[ $2 =~ ^[1-9][0-9]{0,8}$ ]] && return 0
  echo "ci/run-suite.sh: $1 must be a positive number of seconds (got '$2'); $usage" >&2
  return 1
}
# --check LIMIT: only the settings (ci/bench.sh, before its build), the grace included.
if [[ ${1-} == --check ]]; then
  seconds "LIMIT (LFARENA_BENCH_SUITE_LIMIT)" "${2-}" &&
    seconds LFARENA_SUITE_KILL_GRACE "${LFARENA_SUITE_KILL_GRACE:-30}" || exit 2
  exit 0
fi
if (($# < 3)); then
  echo "ci/run-suite.sh: $usage" >&2
  exit 2
fi
seconds LIMIT "$1" || exit 2
limit=$1 out=$2 exe=$3
shift 3
if [[ -z $out || ! -d $out || ! -w $out ]]; then
  echo "ci/run-suite.sh: OUT_DIR '$out' is not a writable directory; $usage" >&2
  exit 2
fi
grace=${LFARENA_SUITE_KILL_GRACE:-30}
seconds LFARENA_SUITE_KILL_GRACE "$grace" || exit 2
name=$(basename "$exe")
json="$out/$name.json" log="$out/$name.log"
rm -f "$json"
t0=$(date +%s)
rc=0
# --foreground: the suite stays in the terminal's process group, so Ctrl-C reaches it (without
# it timeout runs the suite in a group of its own, and an interrupted job went on with the next
# suite). --verbose: timeout says in the log when it sent a signal, which tells a time-out from
# a suite's own exit status 124 or a SIGKILL from elsewhere (the OOM killer).
timeout --foreground --verbose --kill-after="$grace" "$limit" "$exe" "$@" \
  --benchmark_out="$json" --benchmark_out_format=json >"$log" 2>&1 || rc=$?
tail_log() { tail -n 30 "$log" | tail -c 8192 >&2; }
if ((rc == 130)); then
  echo "interrupted"
  exit 130
fi
if grep -q '^timeout: sending signal' "$log"; then
  echo "TIMED OUT after $limit s"
  tail_log
  exit 124
fi
if ((rc != 0)); then
  echo "FAILED (exit $rc)"
  tail_log
  exit 1
fi
entries=$(grep -c '"run_name"' "$json" 2>/dev/null) || entries=0
if [[ ! -s $json ]] || ((entries == 0)); then
  echo "FAILED (exit 0, but no benchmark results in $json)"
  tail_log
  exit 1
fi
echo "ok ($(($(date +%s) - t0)) s, $entries JSON entries)"
