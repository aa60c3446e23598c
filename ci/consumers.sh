#!/usr/bin/env bash
# ci/consumers.sh -- lfarena as other projects consume it: install the library (a Release build
# of the root project) into a temporary prefix, then build and run three tiny consumers of
# ci/consumers/consumer.cpp:
#   find_package(lfarena) against the prefix (CMake package config),
#   pkg-config --cflags --libs lfarena against the prefix (lfarena.pc, compiled with g++-12),
#   add_subdirectory(<this checkout>) (the FetchContent way), which must build the library only:
#     `ctest -N` there lists exactly the consumer's own test, none of lfarena's.
# Fails on the first step that fails. Needs cmake, ninja, g++-12, pkg-config (ci/deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$(mktemp -d /tmp/lfarena-consumers.XXXXXX)
trap 'rm -rf "$work"' EXIT

echo "ci/consumers.sh: installing lfarena into $work/prefix"
# A multiarch libdir (Debian's layout), two levels below the prefix: the .pc file must still
# find the prefix.
cmake -S . -B "$work/lib" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=g++-12 \
  -DLFARENA_TESTS=OFF -DCMAKE_INSTALL_LIBDIR=lib/x86_64-linux-gnu >/dev/null
cmake --build "$work/lib" -j2 >/dev/null
cmake --install "$work/lib" --prefix "$work/prefix" >/dev/null
test -f "$work/prefix/share/doc/lfarena/LICENSE"

echo "ci/consumers.sh: find_package(lfarena)"
cmake -S ci/consumers/find_package -B "$work/fp" -G Ninja -DCMAKE_CXX_COMPILER=g++-12 \
  -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/fp" >/dev/null
"$work/fp/consumer"

echo "ci/consumers.sh: pkg-config lfarena"
pc_dir=$(dirname "$(find "$work/prefix" -name lfarena.pc | head -n 1)")
flags=$(PKG_CONFIG_PATH="$pc_dir" pkg-config --cflags --libs lfarena)
# shellcheck disable=SC2086 # the flags are words
g++-12 -std=c++20 -O2 ci/consumers/consumer.cpp $flags -o "$work/pc-consumer"
"$work/pc-consumer"

echo "ci/consumers.sh: add_subdirectory(lfarena)"
cmake -S ci/consumers/subproject -B "$work/sub" -G Ninja -DCMAKE_CXX_COMPILER=g++-12 \
  -DLFARENA_SOURCE_DIR="$root" >/dev/null
cmake --build "$work/sub" >/dev/null
tests=$(cd "$work/sub" && ctest -N | sed -n 's/^Total Tests: //p')
if [[ $tests != 1 ]]; then
  echo "ci/consumers.sh: the subproject build registered $tests tests (want only the consumer's)" >&2
  (cd "$work/sub" && ctest -N) >&2
  exit 1
fi
(cd "$work/sub" && ctest --output-on-failure >/dev/null)
echo "ci/consumers.sh: all three consumers built and ran"
