// lfarena/detail/segment.hpp -- what every freelist policy shares: the result of taking a
// segment, and the one place a taken segment is split.
//
// Splitting (docs/DESIGN.md §1.5): the block is cut from the front of the segment at the requested
// alignment. Front padding of at least min_segment goes back to the freelist, smaller padding
// is reported as discarded; a tail remainder of at least min_segment goes back to the freelist,
// a smaller one is handed out with the block (Taken::size says so). So the bytes of the segment
// end up exactly once in block + reinserted + discarded.
//
// Thread-safety: split() works on a segment the caller owns; `insert` must be thread-safe.
#pragma once

#include <cstdint>

#include "lfarena/detail/crash_point.hpp"
#include "lfarena/detail/memory.hpp"
#include "lfarena/detail/mutant.hpp"

namespace lfarena::detail {

// A segment taken off the freelist for an allocation, already split.
struct Taken {
  std::uint32_t offset = 0;    // 0: the freelist could not serve the request
  std::uint32_t size = 0;      // bytes handed out (>= request: a small remainder goes with it)
  std::uint32_t discarded = 0; // alignment padding too small to keep, to be counted
  std::uint32_t damaged = 0;   // offset 0: the free node found damaged (node.hpp), else 0
};

// Splits the owned segment [seg, seg+seg_size) for a block of `size` at `align` (which must
// fit), giving pieces worth keeping back through insert(offset, size).
template <class Insert>
Taken split_segment(std::uint32_t seg, std::uint32_t seg_size, std::uint32_t size,
                    std::uint32_t align, std::uint32_t min_segment, Insert &&insert) {
  const auto start = static_cast<std::uint32_t>(align_up(seg, align));
  const std::uint32_t pad = start - seg;
  Taken t{start, seg_size - pad, 0};
  if (pad >= min_segment) {
    insert(seg, pad);
    LFARENA_CRASH_POINT(split_padding_kept);
  } else {
    t.discarded = pad;
  }
  const std::uint32_t rest = t.size - size;
  if (rest >= min_segment) {
    t.size = size;
    if constexpr (!LFARENA_SEEDED_BUG(drop_remainder))
      insert(start + size, rest);
    LFARENA_CRASH_POINT(split_remainder_kept);
  }
  return t;
}

} // namespace lfarena::detail
