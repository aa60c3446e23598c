#!/usr/bin/env bash
# ci/fuzz-nightly.sh [seconds-per-target] -- the nightly fuzzing job.
#
# Builds the `fuzz` preset (clang++-14, libFuzzer + ASan + UBSan), then for every fuzz target
# build/fuzz/fuzz/<target>_fuzz, in turn:
#   1. fuzzes a scratch copy of fuzz/corpus/<target>/ for the budget (default 180 s) with
#      -jobs/-workers = the number of cores (2 here), the -max_len and -dict of
#      fuzz/<target>.options (the one source of truth, also what OSS-Fuzz and ClusterFuzzLite
#      get: .clusterfuzzlite/build.sh; a target without one fails), -timeout (FUZZ_TIMEOUT
#      seconds per input, default 10) and -rss_limit_mb so a hang or a memory blow-up is a
#      finding (every libFuzzer invocation below passes -timeout, including the artifact
#      rerun, the minimisation and the merge);
#   2. keeps every crash/leak/timeout/oom artifact, its stack trace (a rerun of the artifact)
#      and a minimised reproducer (-minimize_crash=1) under build/fuzz-results/<date>/<target>/;
#   3. merges the new inputs into fuzz/corpus/<target>/ with -merge=1 (into a temporary
#      directory first, then copied back): from the features libFuzzer's merge records for each
#      input, a greedy set cover keeps at most FUZZ_CORPUS_MAX (default 40) inputs besides the
#      named seeds (anything not called like a SHA-1, always kept); no file over 16 KiB.
# Prints per target: executions, exec/s, cov: and ft: (libFuzzer's coverage counters), corpus
# size, findings. Exits non-zero if any target produced an artifact or a sanitizer report.
#
# Environment: FUZZ_JOBS (default: nproc), FUZZ_TARGETS (default: all), FUZZ_NO_BUILD=1 (skip
# the build), FUZZ_NO_MERGE=1 (leave fuzz/corpus/ alone), FUZZ_RESULTS (results directory),
# FUZZ_CORPUS_MAX (inputs kept per target besides the named seeds, default 40), FUZZ_TIMEOUT
# (seconds one input may take before it counts as a hang, default 10).
# Targets: every build/fuzz/fuzz/<target>_fuzz (ops, threads, reopen, link, damage).
set -uo pipefail

budget="${1:-180}"
if ! [[ "$budget" =~ ^[0-9]+$ ]] || [ "$budget" -lt 1 ]; then
  echo "usage: $0 [seconds-per-target]" >&2
  exit 2
fi

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root" || exit 2
# shellcheck source=ci/fuzz-options.sh
source "$root/ci/fuzz-options.sh"
jobs="${FUZZ_JOBS:-$(nproc)}"
timeout="${FUZZ_TIMEOUT:-10}"
if ! [[ "$timeout" =~ ^[0-9]+$ ]] || [ "$timeout" -lt 1 ]; then
  echo "FUZZ_TIMEOUT must be a positive number of seconds" >&2
  exit 2
fi
stamp="$(date +%Y%m%d-%H%M%S)"
results="${FUZZ_RESULTS:-$root/build/fuzz-results/$stamp}"
mkdir -p "$results"
bindir="$root/build/fuzz/fuzz"

if [ -z "${FUZZ_NO_BUILD:-}" ]; then
  echo "== building the fuzz preset"
  cmake --preset fuzz >"$results/configure.log" 2>&1 || { cat "$results/configure.log"; exit 2; }
  cmake --build --preset fuzz >"$results/build.log" 2>&1 || { tail -50 "$results/build.log"; exit 2; }
fi

# target_options <target>: sets max_len and dict_file from fuzz/<target>.options, or says what is
# wrong and fails. The options name the dictionary as the engines' $OUT holds it,
# <target>_fuzz.dict; its source here is fuzz/<target>.dict.
target_options() {
  local t=$1 opts="$root/fuzz/$1.options" dict
  dict_file=""
  if [ ! -f "$opts" ]; then
    echo "== $t: no $opts (max_len, dict): every target needs one" >&2
    return 1
  fi
  max_len="$(fuzz_option "$opts" max_len)" && dict="$(fuzz_option "$opts" dict)" || return 1
  if ! [[ "$max_len" =~ ^[1-9][0-9]*$ ]]; then
    echo "== $t: $opts has no max_len = <bytes> in [libfuzzer]" >&2
    return 1
  fi
  if [ -n "$dict" ]; then
    if [ "$dict" != "${t}_fuzz.dict" ] || [ ! -f "$root/fuzz/$t.dict" ]; then
      echo "== $t: $opts names dict $dict: want ${t}_fuzz.dict, from fuzz/$t.dict" >&2
      return 1
    fi
    dict_file="$root/fuzz/$t.dict"
  fi
}

# Runtime options while fuzzing: libFuzzer reports, so no abort_on_error; leaks are findings.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1:detect_stack_use_after_return=1:strict_string_checks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

targets=()
if [ -n "${FUZZ_TARGETS:-}" ]; then
  read -r -a targets <<<"$FUZZ_TARGETS"
else
  for bin in "$bindir"/*_fuzz; do
    [ -x "$bin" ] && targets+=("$(basename "$bin" _fuzz)")
  done
fi
if [ "${#targets[@]}" -eq 0 ]; then
  echo "no fuzz targets found in $bindir" >&2
  exit 2
fi

is_sha1() { [[ "$1" =~ ^[0-9a-f]{40}$ ]]; }

failed=0
summary="$results/summary.txt"
printf '%-10s %12s %9s %7s %7s %8s %s\n' target executions exec/s cov ft corpus findings >"$summary"

for t in "${targets[@]}"; do
  bin="$bindir/${t}_fuzz"
  corpus="$root/fuzz/corpus/$t"
  out="$results/$t"
  mkdir -p "$out/work" "$out/artifacts"
  if [ ! -x "$bin" ]; then
    echo "== $t: no binary $bin" >&2
    failed=1
    continue
  fi
  if ! target_options "$t"; then
    failed=1
    continue
  fi
  [ -d "$corpus" ] && cp -a "$corpus/." "$out/work/"
  args=(-max_total_time="$budget" -max_len="$max_len" -timeout="$timeout" -rss_limit_mb=2048
        -print_final_stats=1 -artifact_prefix="$out/artifacts/")
  [ -n "$dict_file" ] && args+=(-dict="$dict_file")

  what="max_len $max_len${dict_file:+, dict ${dict_file#"$root"/}}"
  echo "== $t: fuzzing for ${budget}s with $jobs job(s), $what"
  # -jobs writes each job's output to fuzz-<n>.log in the working directory.
  (cd "$out" && "$bin" "${args[@]}" -jobs="$jobs" -workers="$jobs" work >"$out/driver.log" 2>&1)
  driver_rc=$?

  # ---- statistics (summed over jobs; coverage: the largest seen) ----
  execs=0 eps=0 cov=0 ft=0
  for log in "$out"/fuzz-*.log; do
    [ -f "$log" ] || continue
    e="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')"
    [ -z "$e" ] && e="$(grep -o '^#[0-9]*' "$log" | tail -1 | tr -d '#')"
    s="$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')"
    [ -z "$s" ] && s="$(grep -o 'exec/s: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')"
    c="$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')"
    f="$(grep -o 'ft: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')"
    execs=$((execs + ${e:-0})); eps=$((eps + ${s:-0}))
    [ "${c:-0}" -gt "$cov" ] && cov="$c"
    [ "${f:-0}" -gt "$ft" ] && ft="$f"
  done

  # ---- findings ----
  findings=0
  for a in "$out"/artifacts/*; do
    [ -f "$a" ] || continue
    name="$(basename "$a")"
    case "$name" in min-*|*.log) continue ;; esac
    findings=$((findings + 1))
    echo "   finding: $a"
    # -timeout: a hang's artifact must not hang its rerun.
    "$bin" -timeout="$timeout" -rss_limit_mb=2048 "$a" >"$out/artifacts/$name.log" 2>&1
    grep -E 'ERROR|FAILURE|MISMATCH|SUMMARY|ALARM|ops_fuzz:|reopen_fuzz:|threads_fuzz:|damage_fuzz:' \
      "$out/artifacts/$name.log" | head -5 | sed 's/^/     /'
    case "$name" in
      crash-*|leak-*|timeout-*)
        "$bin" -minimize_crash=1 -runs=20000 -max_total_time=60 -max_len="$max_len" \
          -timeout="$timeout" \
          -exact_artifact_path="$out/artifacts/min-$name" "$a" >"$out/artifacts/min-$name.log" 2>&1
        [ -f "$out/artifacts/min-$name" ] && echo "     minimised: $out/artifacts/min-$name" ;;
    esac
  done
  # A sanitizer report or libFuzzer error without an artifact is a finding too.
  if grep -qE '^==[0-9]+== ?ERROR|^SUMMARY: |libFuzzer: (deadly signal|run interrupted|timeout)' \
      "$out"/fuzz-*.log 2>/dev/null && [ "$findings" -eq 0 ]; then
    echo "   a job reported an error without an artifact: see $out/fuzz-*.log"
    findings=1
  fi
  # A fuzzer that never ran is no pass: a bad flag or dictionary stops libFuzzer before the first
  # input (its jobs exit 1 with no artifact), and a run without executions tested nothing.
  if [ "$findings" -eq 0 ] && { [ "$driver_rc" -ne 0 ] || [ "$execs" -eq 0 ] ||
      grep -qE 'exited with exit code [1-9]' "$out/driver.log" "$out"/fuzz-*.log 2>/dev/null; }; then
    echo "   libFuzzer did not run (driver exit $driver_rc, $execs executions): see $out/driver.log"
    grep -hE 'ERROR|error|exited with' "$out/driver.log" "$out"/fuzz-*.log 2>/dev/null | head -5 |
      sed 's/^/     /'
    findings=1
  fi
  [ "$findings" -gt 0 ] && failed=1

  # ---- merge new inputs into the committed corpus ----
  if [ -z "${FUZZ_NO_MERGE:-}" ] && [ -d "$corpus" ]; then
    merged="$(mktemp -d)"
    named="$(mktemp -d)"
    for f in "$corpus"/*; do
      [ -f "$f" ] && ! is_sha1 "$(basename "$f")" && cp "$f" "$named/"
    done
    # libFuzzer's merge computes every input's features into the control file; from that a
    # greedy set cover picks at most FUZZ_CORPUS_MAX files (named seeds forced in first, then
    # repeatedly the input adding the most features), so the committed corpus stays small.
    control="$out/merge.control"
    if "$bin" -merge=1 -merge_control_file="$control" -max_len="$max_len" -timeout="$timeout" \
        -rss_limit_mb=2048 "$merged" "$named" "$corpus" "$out/work" >"$out/merge.log" 2>&1; then
      python3 - "$control" "$named" "$corpus" "${FUZZ_CORPUS_MAX:-40}" 16384 <<'PY'
import hashlib, os, shutil, sys
control, named, corpus, cap, max_size = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
lines = open(control).read().split("\n")
n = int(lines[0]); files = lines[2:2 + n]
feats = {}
for line in lines[2 + n:]:
    parts = line.split()
    if len(parts) >= 2 and parts[0] == "FT":
        feats[int(parts[1])] = set(parts[2:])
chosen, covered, data = [], set(), {}
for i, f in enumerate(files):
    try:
        b = open(f, "rb").read()
    except OSError:
        continue
    if len(b) <= max_size:
        data[i] = b
named_ids = [i for i, f in enumerate(files) if os.path.dirname(f) == named.rstrip("/") and i in data]
for i in named_ids:
    chosen.append(i); covered |= feats.get(i, set())
seen = {hashlib.sha1(data[i]).hexdigest() for i in chosen}
candidates = [i for i in data if i not in chosen]
extra = 0
while extra < cap and candidates:
    best = max(candidates, key=lambda i: (len(feats.get(i, set()) - covered), -len(data[i])))
    gain = len(feats.get(best, set()) - covered)
    if gain == 0:
        break
    candidates.remove(best)
    h = hashlib.sha1(data[best]).hexdigest()
    if h in seen:
        continue
    seen.add(h); covered |= feats.get(best, set()); chosen.append(best); extra += 1
# Replace the SHA-1-named part of the corpus; named seeds stay as they are.
for f in os.listdir(corpus):
    if len(f) == 40 and all(c in "0123456789abcdef" for c in f):
        os.remove(os.path.join(corpus, f))
for i in chosen:
    if i in named_ids:
        continue
    h = hashlib.sha1(data[i]).hexdigest()
    with open(os.path.join(corpus, h), "wb") as out:
        out.write(data[i])
print(f"   corpus: {len(named_ids)} named seed(s) + {extra} selected input(s), {len(covered)} features")
PY
    else
      echo "   merge failed (see $out/merge.log); corpus left unchanged"
    fi
    rm -rf "$merged" "$named"
  fi
  # A crashing input aborts before its harness removes its temporary arena file: remove the
  # files of processes that are gone (the harnesses name them lfarena-<target>-fuzz-<pid>-<n>).
  for f in /dev/shm/lfarena-*-fuzz-*.arena "${TMPDIR:-/tmp}"/lfarena-*-fuzz-*.arena; do
    [ -e "$f" ] || continue
    pid="$(basename "$f" | sed -E 's/^lfarena-[a-z]+-fuzz-([0-9]+)-[0-9]+\.arena$/\1/')"
    [[ "$pid" =~ ^[0-9]+$ ]] && ! kill -0 "$pid" 2>/dev/null && rm -f "$f"
  done
  csize="$(find "$corpus" -type f 2>/dev/null | wc -l)"
  printf '%-10s %12s %9s %7s %7s %8s %s\n' "$t" "$execs" "$eps" "$cov" "$ft" "$csize" "$findings" \
    | tee -a "$summary"
done

echo
echo "== results in $results"
cat "$summary"
if [ "$failed" -ne 0 ]; then
  echo "== FAILED: errors or findings above (artifacts, logs and minimised reproducers under $results)"
  exit 1
fi
echo "== no findings"
exit 0
