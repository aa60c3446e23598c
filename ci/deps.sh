#!/usr/bin/env bash
# ci/deps.sh -- install the Debian 12 packages lfarena builds, tests and benchmarks with.
# Idempotent: checks each package with dpkg-query and, only if some are missing, runs
# `apt-get update` once and installs just those (as root, or through sudo). Silent when
# everything is present. Never vendors anything: all third-party code comes from Debian.
# libbenchmark-tools + python3-scipy: Google Benchmark's compare.py (U test) for `ci/bench.sh
# --compare`; chromium: the headless render check of the benchmark dashboard; zip unzip: the
# seed corpus archives of ci/clusterfuzzlite-check.sh; valgrind: callgrind's instruction counts per
# operation in the benchmark report (bench/report/instructions.py) and the header of the toggles
# around the timed loops (bench/counted_loop.hpp).
set -euo pipefail

packages=(
  g++-12 clang-14 libclang-rt-14-dev cmake ninja-build
  relacy-dev libgtest-dev libbenchmark-dev
  libjemalloc-dev libmimalloc-dev libgoogle-perftools-dev
  python3 python3-matplotlib hyperfine pkg-config zip unzip
  libbenchmark-tools python3-scipy chromium valgrind
)

missing=()
for pkg in "${packages[@]}"; do
  status="$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)"
  if [[ "$status" != "installed" ]]; then
    missing+=("$pkg")
  fi
done
if ((${#missing[@]} == 0)); then
  exit 0
fi

if [[ "$(id -u)" -eq 0 ]]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
else
  echo "ci/deps.sh: missing ${missing[*]}; run as root or install sudo" >&2
  exit 1
fi

echo "ci/deps.sh: installing ${missing[*]}"
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
