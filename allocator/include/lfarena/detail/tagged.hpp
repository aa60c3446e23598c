// lfarena/detail/tagged.hpp -- the tagged link word: {offset:32, tag:31, mark:1} in 64 bits.
//
// Every link that can be recycled (the freelist head and the link word inside each free segment)
// is one of these words, changed only by a single 64-bit CAS. Each successful change gives it a
// new tag (redirect() counts up, for words that are never recycled; node words in recyclable
// memory take fresh tags from a counter, see sorted_list.hpp), so a CAS prepared from a stale read
// (the ABA shape: the node was removed, handed out, freed and reinserted meanwhile) fails even
// if the offset is the same again (docs/DESIGN.md §5.2).
// The mark bit is Harris-style logical deletion of the node that owns the link.
//
// Pure value arithmetic: no shared state, thread-safe.
#pragma once

#include <cstdint>

namespace lfarena::detail {

struct Link {
  static constexpr std::uint64_t kMarkBit = std::uint64_t{1} << 63;
  static constexpr std::uint32_t kTagMask = 0x7fffffffu;

  std::uint64_t raw = 0;

  static constexpr Link make(std::uint32_t offset, std::uint32_t tag, bool mark = false) {
    return Link{std::uint64_t{offset} | (std::uint64_t{tag & kTagMask} << 32) |
                (mark ? kMarkBit : 0)};
  }
  constexpr std::uint32_t offset() const { return static_cast<std::uint32_t>(raw); }
  constexpr std::uint32_t tag() const { return static_cast<std::uint32_t>(raw >> 32) & kTagMask; }
  constexpr bool marked() const { return (raw & kMarkBit) != 0; }

  // The same link pointing elsewhere, with the tag advanced (wraps within 31 bits) and unmarked.
  constexpr Link redirect(std::uint32_t new_offset) const {
    return make(new_offset, tag() + 1, false);
  }
  // The same target, logically deleted. The tag is advanced too, so a stale CAS expecting the
  // unmarked word can never succeed after a mark/unmark cycle.
  constexpr Link with_mark() const { return make(offset(), tag() + 1, true); }

  friend constexpr bool operator==(Link a, Link b) { return a.raw == b.raw; }
};

} // namespace lfarena::detail
