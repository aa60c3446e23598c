#!/usr/bin/env bash
# .clusterfuzzlite/build.sh -- builds lfarena's fuzz targets for ClusterFuzzLite and OSS-Fuzz (the
# same script serves both). Usage: the engine's builder runs it as `bash -eux $SRC/build.sh` in
# $SRC/lfarena (see .clusterfuzzlite/Dockerfile); locally, ci/clusterfuzzlite-check.sh runs it.
#
# Input: only what those builders set. $CXX; $CXXFLAGS, which carry the sanitizer and coverage
# flags (-fsanitize=address,fuzzer-no-link..., or -fprofile-instr-generate in coverage builds),
# so the project adds none of its own (LFARENA_SANITIZE empty, LFARENA_FUZZ_INSTRUMENT OFF);
# $LIB_FUZZING_ENGINE, what the fuzzers link as their engine (LFARENA_FUZZ_ENGINE); $SRC; $OUT;
# $WORK for the build tree (else $SRC/lfarena/build). $CC/$CFLAGS go unused: lfarena is C++ only.
# No CMAKE_BUILD_TYPE, so CMake adds no -O/-DNDEBUG of its own: $CXXFLAGS decide (-O1 there) and
# assertions stay on. LFARENA_WERROR OFF: the builders' clang is newer than ours and may warn more.
#
# Output in $OUT, for every fuzz/<target>_fuzz.cpp: <target>_fuzz, <target>_fuzz_seed_corpus.zip
# (fuzz/corpus/<target>/), <target>_fuzz.options (fuzz/<target>.options: max_len, dict) and
# <target>_fuzz.dict (fuzz/<target>.dict, where one exists). A missing corpus or options file is
# only a warning here, so the engines keep fuzzing every other target; ci/clusterfuzzlite-check.sh
# (our CI) fails on it.
set -euo pipefail

src="$SRC/lfarena"
build="${WORK:-$src/build}/lfarena-fuzz"

targets=()
for cpp in "$src"/fuzz/*_fuzz.cpp; do
  [[ -e "$cpp" ]] && targets+=("$(basename "$cpp" _fuzz.cpp)")
done
if ((${#targets[@]} == 0)); then
  echo "build.sh: no fuzz targets (fuzz/*_fuzz.cpp) in $src" >&2
  exit 1
fi

cmake -S "$src" -B "$build" -G Ninja \
  -DCMAKE_CXX_COMPILER="$CXX" -DCMAKE_CXX_FLAGS="$CXXFLAGS" -DCMAKE_BUILD_TYPE= \
  -DLFARENA_FUZZ=ON -DLFARENA_FUZZ_ENGINE="$LIB_FUZZING_ENGINE" -DLFARENA_FUZZ_INSTRUMENT=OFF \
  -DLFARENA_SANITIZE= -DLFARENA_WERROR=OFF \
  -DLFARENA_TESTS=OFF -DLFARENA_BENCH=OFF -DLFARENA_RELACY=OFF
# Only the fuzzers (and the library they link), not the tools. Parallelism: Ninja's default, or
# CMAKE_BUILD_PARALLEL_LEVEL when set.
cmake --build "$build" --target "${targets[@]/%/_fuzz}"

for t in "${targets[@]}"; do
  cp "$build/fuzz/${t}_fuzz" "$OUT/"
  corpus="$src/fuzz/corpus/$t"
  zip="$OUT/${t}_fuzz_seed_corpus.zip"
  rm -f "$zip" # zip adds to an existing archive: no stale seeds from an earlier build
  if [[ -d "$corpus" ]]; then
    zip -q -j -r "$zip" "$corpus"
  else
    echo "build.sh: warning: target $t has no seed corpus $corpus/" >&2
  fi
  if [[ -f "$src/fuzz/$t.options" ]]; then
    cp "$src/fuzz/$t.options" "$OUT/${t}_fuzz.options"
  else
    echo "build.sh: warning: target $t has no fuzz/$t.options (max_len, dict)" >&2
  fi
  if [[ -f "$src/fuzz/$t.dict" ]]; then
    cp "$src/fuzz/$t.dict" "$OUT/${t}_fuzz.dict"
  fi
done
