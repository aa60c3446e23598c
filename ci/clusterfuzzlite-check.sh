#!/usr/bin/env bash
# ci/clusterfuzzlite-check.sh -- runs .clusterfuzzlite/build.sh the way the ClusterFuzzLite and
# OSS-Fuzz builder would, then replays every target's seed corpus from $OUT. Usage:
#   bash ci/clusterfuzzlite-check.sh
# Source: a clean clone of the committed HEAD in a temporary $SRC/lfarena (uncommitted changes
# do not count); $OUT and $WORK (the build tree) are temporary too, removed at the end unless
# CFL_CHECK_KEEP=1. CFL_CHECK_SRC=<dir> checks a copy of <dir> instead (to test this script).
# Builder environment: CC=clang-14 CXX=clang++-14; $CFLAGS = $CXXFLAGS = OSS-Fuzz's base flags,
# its `address` and its `undefined` sanitizer flags (OSS-Fuzz builds each alone; one build here
# saves minutes) and its coverage flags (-fsanitize=fuzzer-no-link); LIB_FUZZING_ENGINE=
# -fsanitize=fuzzer. Not reproduced: OSS-Fuzz's -stdlib=libc++ and its newer clang.
# Then for every target (each fuzz/<target>_fuzz.cpp of the source, and any *_fuzz binary in
# $OUT), $OUT must hold <target>_fuzz, <target>_fuzz_seed_corpus.zip, <target>_fuzz.options with
# a max_len, and the dictionary the options name (and the options must name <target>_fuzz.dict
# when that exists); the corpus is unzipped and replayed once, no fuzzing:
#   <target>_fuzz -runs=0 -max_len=<options> [-dict=<options>] <seeds>
# Prints one line per target and a final line
#   clusterfuzzlite: <N> targets, <P> passed, <F> failed
# Exit status 1 if a target failed, 2 if the check could not run at all. Needs clang-14, cmake,
# ninja, git, zip, unzip, python3 (ci/deps.sh).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=ci/fuzz-options.sh
source "$root/ci/fuzz-options.sh"

tmp="$(mktemp -d /tmp/lfarena-cflite.XXXXXX)"
if [[ -n "${CFL_CHECK_KEEP:-}" ]]; then
  echo "clusterfuzzlite: keeping $tmp (CFL_CHECK_KEEP)"
else
  trap 'rm -rf "$tmp"' EXIT
fi
export SRC="$tmp/src" OUT="$tmp/out" WORK="$tmp/work"
mkdir -p "$SRC" "$OUT" "$WORK" "$tmp/replay"

if [[ -n "${CFL_CHECK_SRC:-}" ]]; then
  mkdir -p "$SRC/lfarena"
  if ! cp -a "$CFL_CHECK_SRC/." "$SRC/lfarena/"; then
    echo "clusterfuzzlite: cannot copy $CFL_CHECK_SRC" >&2
    exit 2
  fi
  echo "clusterfuzzlite: source: a copy of $CFL_CHECK_SRC (CFL_CHECK_SRC)"
else
  head="$(git -C "$root" rev-parse HEAD)"
  if ! git clone -q --no-checkout "$root" "$SRC/lfarena" ||
    ! git -C "$SRC/lfarena" checkout -q --detach "$head"; then
    echo "clusterfuzzlite: cannot clone $root at $head" >&2
    exit 2
  fi
  echo "clusterfuzzlite: source: a clean clone of HEAD $head"
  if [[ -n "$(git -C "$root" status --porcelain)" ]]; then
    echo "clusterfuzzlite: (uncommitted changes in $root are not part of the check)"
  fi
fi
# What the Dockerfile does: build.sh beside the source, in $SRC.
if [[ ! -f "$SRC/lfarena/.clusterfuzzlite/build.sh" ]]; then
  echo "clusterfuzzlite: the source has no .clusterfuzzlite/build.sh" >&2
  exit 2
fi
cp "$SRC/lfarena/.clusterfuzzlite/build.sh" "$SRC/build.sh"

# OSS-Fuzz's flags (infra/base-images/base-clang and base-builder): CFLAGS, SANITIZER_FLAGS_address,
# SANITIZER_FLAGS_undefined (unsigned-integer-overflow is instrumented as a coverage signal only:
# recoverable, and silenced at run time by UBSAN_OPTIONS=silence_unsigned_overflow=1) and
# COVERAGE_FLAGS. CXXFLAGS there also has -stdlib=libc++, which needs libc++ headers we do not use.
ubsan_checks=array-bounds,bool,builtin,enum,function,integer-divide-by-zero,null,object-size
ubsan_checks+=,return,returns-nonnull-attribute,shift,signed-integer-overflow,unreachable
ubsan_checks+=,vla-bound,vptr
flags="-O1 -fno-omit-frame-pointer -gline-tables-only -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION"
flags+=" -fsanitize=address -fsanitize-address-use-after-scope"
flags+=" -fsanitize=$ubsan_checks,unsigned-integer-overflow -fno-sanitize-recover=$ubsan_checks"
flags+=" -fsanitize=fuzzer-no-link"
export CC=clang-14 CXX=clang++-14 CFLAGS="$flags" CXXFLAGS="$flags"
export LIB_FUZZING_ENGINE=-fsanitize=fuzzer FUZZING_ENGINE=libfuzzer FUZZING_LANGUAGE=c++
export SANITIZER=address ARCHITECTURE=x86_64
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}" # a shared 2-core machine

start=$SECONDS
build_ok=1
if (cd "$SRC/lfarena" && bash -eux "$SRC/build.sh") >"$tmp/build.log" 2>&1; then
  echo "clusterfuzzlite: build.sh ok, $((SECONDS - start)) s"
else
  build_ok=0
  echo "clusterfuzzlite: build.sh FAILED after $((SECONDS - start)) s; last lines of its output:"
  tail -n 60 "$tmp/build.log"
fi
grep -E '^build\.sh: warning' "$tmp/build.log" || true

# Runtime options of the replay: leaks are findings (libFuzzer's default); UBSan as in OSS-Fuzz.
export ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="print_stacktrace=1:silence_unsigned_overflow=1"

# check_target <target>: prints the target's line; status 1 if it failed.
check_target() {
  local t=$1
  local bin="$OUT/${t}_fuzz" zip="$OUT/${t}_fuzz_seed_corpus.zip" opts="$OUT/${t}_fuzz.options"
  local problems=() max_len="" dict="" seeds longer
  # A failed build.sh fails every target, even one whose files it wrote before failing: the
  # engines reject such a build.
  ((build_ok)) || problems+=("build.sh exited non-zero")
  [[ -f "$bin" && -x "$bin" ]] || problems+=("no binary ${t}_fuzz (fuzz/${t}_fuzz.cpp)")
  [[ -f "$zip" ]] || problems+=("no seed corpus ${t}_fuzz_seed_corpus.zip (fuzz/corpus/$t/)")
  if [[ ! -f "$opts" ]]; then
    problems+=("no options file ${t}_fuzz.options (fuzz/$t.options: max_len, dict)")
  elif ! max_len="$(fuzz_option "$opts" max_len 2>&1)" ||
    ! dict="$(fuzz_option "$opts" dict 2>&1)"; then
    problems+=("${t}_fuzz.options does not parse (${max_len}${dict})")
  else
    [[ "$max_len" =~ ^[1-9][0-9]*$ ]] ||
      problems+=("${t}_fuzz.options has no max_len = <bytes> in [libfuzzer] (got '$max_len')")
    if [[ -n "$dict" && ! -f "$OUT/$dict" ]]; then
      problems+=("no dictionary $dict, named by ${t}_fuzz.options (source: fuzz/$t.dict)")
    fi
    if [[ -z "$dict" && -f "$OUT/${t}_fuzz.dict" ]]; then
      problems+=("${t}_fuzz.dict exists but ${t}_fuzz.options names no dict")
    fi
  fi
  if ((${#problems[@]} > 0)); then
    local why
    why="$(printf '%s; ' "${problems[@]}")"
    ((build_ok)) || why="build.sh failed (above), so: $why"
    echo "clusterfuzzlite $t: FAILED: ${why%; }"
    return 1
  fi

  local dir="$tmp/replay/$t" log="$tmp/replay/$t.log"
  local args=(-runs=0 -max_len="$max_len" -timeout=25 -rss_limit_mb=2560)
  [[ -n "$dict" ]] && args+=(-dict="$OUT/$dict")
  mkdir -p "$dir"
  if ! unzip -q "$zip" -d "$dir"; then
    echo "clusterfuzzlite $t: FAILED: $zip does not unzip"
    return 1
  fi
  seeds="$(find "$dir" -type f | wc -l)"
  longer="$(find "$dir" -type f -size +"$max_len"c | wc -l)"
  if ! (cd "$tmp/replay" && "$bin" "${args[@]}" "$dir") >"$log" 2>&1; then
    echo "clusterfuzzlite $t: FAILED: the seed corpus replay failed ($seeds seeds); its output:"
    tail -n 40 "$log"
    return 1
  fi
  # libFuzzer skips empty files (it runs the empty input first anyway): all the others must be
  # read, or seeds went unreplayed.
  local nonempty found runs entries note=""
  nonempty="$(find "$dir" -type f -size +0 | wc -l)"
  found="$(sed -nE 's/^INFO: +([0-9]+) files found in .*/\1/p' "$log" | tail -n 1)"
  runs="$(sed -nE 's/^Done ([0-9]+) runs.*/\1/p' "$log" | tail -n 1)"
  entries="$(sed -nE 's/^Dictionary: ([0-9]+) entries.*/\1/p' "$log" | tail -n 1)"
  if [[ "${found:-0}" != "$nonempty" ]]; then
    echo "clusterfuzzlite $t: FAILED: libFuzzer read ${found:-no} files of $nonempty" \
      "non-empty seeds; its output:"
    tail -n 40 "$log"
    return 1
  fi
  # The engines cut such seeds to max_len too: a few is a note; most is a max_len that makes the
  # committed corpus meaningless, a failure.
  if ((longer * 2 > seeds)); then
    echo "clusterfuzzlite $t: FAILED: $longer of $seeds seeds are longer than max_len $max_len"
    return 1
  fi
  ((longer == 0)) || note=", $longer seeds longer than max_len (cut)"
  echo "clusterfuzzlite $t: ok, $seeds seeds ($found non-empty), ${runs:-?} runs," \
    "max_len $max_len${dict:+, dict $dict (${entries:-?} entries)}$note"
}

targets=()
declare -A known=()
for cpp in "$SRC"/lfarena/fuzz/*_fuzz.cpp; do
  [[ -e "$cpp" ]] || continue
  t="$(basename "$cpp" _fuzz.cpp)"
  targets+=("$t")
  known[$t]=1
done
for bin in "$OUT"/*_fuzz; do
  [[ -f "$bin" && -x "$bin" ]] || continue
  t="$(basename "$bin" _fuzz)"
  [[ -n "${known[$t]:-}" ]] || targets+=("$t")
  known[$t]=1
done
if ((${#targets[@]} == 0)); then
  echo "clusterfuzzlite: no fuzz targets (fuzz/*_fuzz.cpp) in the source" >&2
  exit 2
fi

passed=0 failed=0
for t in "${targets[@]}"; do
  if check_target "$t"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
  fi
done
echo "clusterfuzzlite: ${#targets[@]} targets, $passed passed, $failed failed"
((failed == 0))
