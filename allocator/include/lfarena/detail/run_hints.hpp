// lfarena/detail/run_hints.hpp -- prefetch hints inside the chains a thread cache spills to the
// shared stacks of the segregated policy, so that a refill (SegregatedPolicy::pop_run) fetches
// the nodes of its run together instead of one after another (docs/DESIGN.md §5.11 "Refill").
//
// Why. A refill walks up to 32 nodes from the top of a stack to find where its run ends, and
// each node's address is in the node before it. When another thread freed those blocks (a
// producer refilling from a consumer's spills), every node is a line that thread's CPU just
// wrote: one cross-CPU transfer after another (about 230 ns each on this project's 2-core VM,
// bench/cpu_probe.cpp). perf put 78% of pop_run's samples on that one load.
//
// What. A free node holds its link and size words in its first 16 bytes (node.hpp); the rest of
// a block of `size` >= 24 bytes is unused while it is free. A spill knows every node of the chain
// it pushes (it has just walked them): the first nodes of the chain name the rest, cap offsets
// each (two 32-bit offsets per word, from word 2 on; 0 after the chain's last node ends a list
// early): node k names nodes k*cap+1 .. k*cap+cap. A refill reads the hints of the top node and
// prefetches the nodes they name; nodes 1, 2, ... are among them, so their lists (the nodes
// after the top's) are read, and prefetched, as soon as those nodes arrive: a run of 32 64-byte
// nodes costs three transfers one after another (the top, nodes 1..12, nodes 13..31), not four
// (2026-12-05's layout, node 0, cap, 2*cap, ... each naming the cap nodes after it, made the
// walk arrive at node 12 before it could fetch node 13).
//
// Hints are never trusted. They are read only to pick prefetch addresses (a prefetch is not an
// access and changes nothing), every one must be a plausible node offset inside the region
// (NodeLayout::plausible_offset) and at most `budget` of them are fetched. The walk itself still
// reads and checks every link and size word as before. So any content of those words (a node in
// the middle of a spilled chain, a block whose earlier life left other values, a user's write
// into a freed block, a damaged file) costs at most a few useless prefetches inside the region:
// no check, recovery, salvage or file format reads or depends on them.
//
// Memory order. The spiller writes hints with relaxed stores into nodes it owns, before the
// chain's publishing CAS (seq_cst, a release: SegregatedPolicy::insert_chain); a refill reads them
// relaxed after its acquire load of the head, inside the walk's Speculative scope (the node may
// have been handed out meanwhile: then they are the user's bytes, and only prefetched).
//
// Pure functions of the caller's words: thread-safety is the caller's (the spiller owns the
// chain; a refill's reads are speculative like its link reads).
#pragma once

#include <cstdint>

#include "lfarena/detail/atomic.hpp"
#include "lfarena/detail/node.hpp"

namespace lfarena::detail {

inline constexpr std::uint32_t kHintWord = kNodeBytes; // the first hint word of a node
inline constexpr std::uint32_t kHintWordsMax = 8;      // at most 16 hints per node
inline constexpr std::uint32_t kHintsMax = 2 * kHintWordsMax;

// How many offsets a free node of `size` bytes holds: two per word after its 16-byte node, at
// most kHintsMax (0 for 16-byte blocks: nothing is written or read).
inline constexpr std::uint32_t run_hint_cap(std::uint32_t size) {
  const std::uint32_t words = size / 8 > 2 ? size / 8 - 2 : 0;
  return 2 * (words < kHintWordsMax ? words : kHintWordsMax);
}
static_assert(run_hint_cap(16) == 0 && run_hint_cap(24) == 2 && run_hint_cap(64) == 12 &&
              run_hint_cap(256) == kHintsMax);

// Writes the hints of the chain chain[0] -> ... -> chain[n - 1] of `size`-byte nodes (owned by
// the caller, about to be published): node chain[k] names chain[k*cap+1 .. k*cap+cap] (those
// that exist), and a list shorter than cap ends with a 0.
template <class Mem>
void write_run_hints(const Mem &mem, std::uint32_t size, const std::uint32_t *chain,
                     std::uint32_t n) {
  const std::uint32_t cap = run_hint_cap(size);
  if (cap == 0 || n == 0)
    return;
  // Node 0 always gets a list, if only the terminating 0 of a chain of one (no stale offsets
  // for a refill to prefetch).
  for (std::uint32_t k = 0, first = 1; k == 0 || first < n; ++k, first += cap) {
    const std::uint32_t named = n - first < cap ? n - first : cap;
    // Words up to the one that holds the terminating 0 (the whole list when it is full).
    const std::uint32_t slots = named < cap ? named + 1 : cap;
    for (std::uint32_t s = 0; s < slots; s += 2) {
      const std::uint64_t lo = s < named ? chain[first + s] : 0;
      const std::uint64_t hi = s + 1 < named ? chain[first + s + 1] : 0;
      // Relaxed: the chain's publishing CAS releases it (banner).
      store_relaxed(mem.word(chain[k] + kHintWord + 4 * s), lo | hi << 32);
    }
  }
}

// Prefetches up to `budget` of the nodes named by the hints of node `at` (a node of `size`
// bytes the caller has checked: plausible_block).
template <class Mem>
void prefetch_run_hints(const Mem &mem, const NodeLayout &node, std::uint32_t at,
                        std::uint32_t size, std::uint32_t budget) {
  const std::uint32_t cap = run_hint_cap(size);
  const std::uint32_t want = budget < cap ? budget : cap;
  std::uint64_t w = 0;
  for (std::uint32_t s = 0; s < want; ++s, w >>= 32) {
    // Relaxed: after the caller's acquire of the stack head (banner). Any value is only a hint.
    if (s % 2 == 0)
      w = load_relaxed(mem.word(at + kHintWord + 4 * s));
    const auto o = static_cast<std::uint32_t>(w);
    if (o == 0)
      return;
    if (node.plausible_offset(o))
      mem.prefetch(o);
  }
}

} // namespace lfarena::detail
