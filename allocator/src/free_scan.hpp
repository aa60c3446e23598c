// free_scan.hpp (private) -- the one quiescent walk of every free list of a region, shared by
// check(), crash recovery, open-time validation and lfarena-check --repair.
//
// It follows the lists through the library's own code (SortedPolicy::walk, SegregatedPolicy::
// walk: node.hpp's layout and checks) and adds what only a whole-region view can check: every
// segment below the bump offset, no two segments overlapping.
//
// It also checks the thread-chunk slot table against the lists (scan_chunk_slots): the bytes
// chunks hold back must be neither free nor held twice, or accounting (and crash recovery,
// which counts a dead owner's tail as leaked) would count them twice.
//
// Thread-safety: reads only; meaningful only while nobody allocates or frees.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lfarena/detail/core.hpp"
#include "lfarena/detail/free_cache.hpp"
#include "lfarena/error.hpp"

namespace lfarena::detail {

struct FreeRange {
  std::uint32_t offset = 0;
  std::uint32_t size = 0;
};

struct FreeScan {
  std::vector<FreeRange> segments; // sorted by offset
  std::uint64_t bytes = 0;
  std::uint64_t largest = 0;
  std::vector<std::uint32_t> marked; // nodes whose link is marked (allow_marked only)
};

// Walks every list. Fails with errc::corrupt_freelist and a message "<who>: ..." naming the
// node and what is wrong with it. `allow_marked`: crash recovery's view (a node whose remover
// died is still linked and marked; such nodes are listed in FreeScan::marked).
Result<FreeScan> scan_free_lists(const Core<RegionWords> &core, std::uint64_t top,
                                 bool allow_marked, const std::string &who);

// The slot table (chunk.hpp) at quiescence: a free slot's words are zero; every owned slot's
// unused tail [cursor, end) lies in the allocated data area, no two tails overlap, no tail
// overlaps a free segment of `free`, and tails + waste + free + discarded bytes do not exceed
// the allocated bytes (cache blocks included: they are neither live nor free, the slots hold
// them). Returns the bytes the slots hold back (tails + waste) and their cache blocks, or
// errc::accounting_mismatch naming the slot; then `*culprit` (if given) is a slot without which
// the check may pass (salvage clears it), or kChunkSlots if no slot is to blame (free and
// discarded alone exceed the allocated bytes).
struct SlotScan {
  std::uint64_t held = 0;        // chunk tails + waste of owned slots
  std::vector<FreeRange> caches; // the slots' free cache blocks (free_cache.hpp), sorted
  std::uint64_t cache_bytes() const {
    std::uint64_t n = 0;
    for (const FreeRange &c : caches)
      n += c.size;
    return n;
  }
};
Result<SlotScan> scan_chunk_slots(const Core<RegionWords> &core, const FreeScan &free,
                                  std::uint64_t top, const std::string &who,
                                  std::uint32_t *culprit = nullptr);

} // namespace lfarena::detail
