#!/usr/bin/env bash
# ci/bench.sh -- the benchmark job: build the `bench` preset, run every *_bench executable, write
# Google Benchmark JSON to reports/latest/<name>.json. A first version: the report generator,
# repetitions and the peer allocators come with their own issue. Never fails because a suite is
# missing; fails only if the build or a suite itself fails.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash ci/deps.sh
export CMAKE_BUILD_PARALLEL_LEVEL=2
cmake --preset bench >/dev/null
cmake --build --preset bench

out=reports/latest
mkdir -p "$out"
shopt -s nullglob
ran=0
for exe in build/bench/bench/*_bench; do
  [[ -x "$exe" ]] || continue
  name=$(basename "$exe")
  echo "== $name"
  "$exe" --benchmark_min_time=0.05 --benchmark_out="$out/$name.json" --benchmark_out_format=json
  ran=$((ran + 1))
done
echo "ci/bench.sh: ran $ran suite(s), JSON in $out/ (report generator: coming in its own issue)"
