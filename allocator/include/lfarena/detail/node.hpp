// lfarena/detail/node.hpp -- the one free-node layout: how a free segment describes itself, how
// its words are checked, and the longest list a region can hold. Every list and stack
// (sorted_list.hpp, segregated_policy.hpp), crash recovery, open-time validation and check() read
// nodes through this header only.
//
// A free segment at offset `o` (8-aligned, at least min_segment bytes) holds its node in its
// first 16 bytes:
//   word(o)      link  -- Link {next offset, tag, mark} (tagged.hpp), stored as raw ^ key
//   word(o + 8)  size  -- size in the low 32 bits, check(o, size) in the high 32 bits
// `key` is a random 64-bit value chosen when the region is created (hdr::node_key, covered by
// the header checksum). A user's stray write into a freed block (zeros, ones, an offset, a
// pointer, a copy of another word) then fails the size check, or decodes to a link that fails
// the range, order or size checks of whatever it leads to, instead of passing as a plausible
// node (docs/DESIGN.md §5.8). Format v1/v2 files have no key
// (key 0): plain words, no check (the format table in header.hpp).
//
// List heads (hdr::freelist_head, the class table) hold plain Links: they live in the header
// area, which users never hand out, and are validated on open.
//
// Pure arithmetic on words the caller reads: no shared state, thread-safe.
#pragma once

#include <cstdint>

#include "lfarena/detail/header.hpp"
#include "lfarena/detail/tagged.hpp"

namespace lfarena::detail {

inline constexpr std::uint32_t kNodeLinkWord = 0; // offsets of the node words in a segment
inline constexpr std::uint32_t kNodeSizeWord = 8;
inline constexpr std::uint32_t kNodeBytes = 16;

// What inserting a node did.
enum class Inserted : std::uint8_t {
  ok,
  duplicate, // a node at this offset is already linked: an unchecked double free, caught
  damaged    // the list is damaged (a Fault says where); nothing was inserted
};

// Where a list is damaged: the offset of the node found bad (or of the word holding a bad link).
struct Fault {
  std::uint32_t at = 0; // 0: no damage found
  explicit operator bool() const { return at != 0; }
};

class NodeLayout {
public:
  NodeLayout(const Geometry &g)
      : key_(g.node_key), mul_(g.node_key != 0 ? g.node_key | 1 : 0),
        area_(g.capacity >= g.data_offset + kNodeBytes ? g.capacity - g.data_offset : kNodeBytes),
        key_high_(static_cast<std::uint32_t>(g.node_key >> 32)), data_offset_(g.data_offset),
        span_(static_cast<std::uint32_t>(area_ - kNodeBytes)), capacity_(g.capacity),
        min_segment_(g.min_segment) {}

  // Link words of nodes (never of heads).
  std::uint64_t encode_link(Link l) const { return l.raw ^ key_; }
  Link decode_link(std::uint64_t word) const { return Link{word ^ key_}; }

  // The size word of a node of `size` bytes at `offset`.
  [[gnu::always_inline]] std::uint64_t encode_size(std::uint32_t offset, std::uint32_t size) const {
    return size | std::uint64_t{check(offset, size)} << 32; // key 0: check() is 0
  }
  // A thread cache's entry for a cached block of `size` bytes at `offset`, stored at region
  // offset `at` (the array layout, free_cache.hpp): the offset, and in the high half the check
  // a node's size word carries mixed with a keyed one of `at`, so a valid entry copied to
  // another place (a stray copy, a damaged file) fails there (helper-46: a copy handed a block
  // out twice). (Packing all three into one multiply cost 5 more instructions per churn pair:
  // the compiler spilled more of the fast path.)
  [[gnu::always_inline]] std::uint64_t encode_entry(std::uint32_t offset, std::uint32_t size,
                                                    std::uint32_t at) const {
    const auto where = static_cast<std::uint32_t>((std::uint64_t{at} * mul_) >> 32);
    return offset | std::uint64_t{check(offset, size) ^ where} << 32;
  }
  // The size a node's size word states, or 0 if the word fails its check or the size is not a
  // plausible segment at `offset` (a multiple of 8, >= min_segment, inside the region).
  [[gnu::always_inline]] std::uint32_t decode_size(std::uint32_t offset, std::uint64_t word) const {
    const auto size = static_cast<std::uint32_t>(word);
    const std::uint32_t want = check(offset, size);
    // The range test stays even with a key: a deliberately forged word (a damaged file written
    // with the key) must still never send a split outside the region.
    if (word >> 32 != want || size < min_segment_ || size % kGranule != 0 ||
        std::uint64_t{offset} + size > capacity_)
      return 0;
    return size;
  }

  // Where a node can be: 8-aligned, its 16 bytes inside the data area.
  bool plausible_offset(std::uint32_t o) const {
    // One unsigned compare for the range (below data_offset wraps to a huge value); data_offset
    // is 64-aligned, so o's alignment is the difference's.
    const std::uint32_t d = o - data_offset_;
    return d <= span_ && d % kGranule == 0;
  }
  // Where a node of a block of `size` (>= kNodeBytes) bytes can be: plausible_offset() and the
  // whole block inside the region.
  [[gnu::always_inline]] bool plausible_block(std::uint32_t o, std::uint32_t size) const {
    const std::uint32_t d = o - data_offset_;
    return d % kGranule == 0 && std::uint64_t{d} + size <= area_;
  }
  // More nodes than this cannot be free at once: a longer walk of a list that nobody changed
  // meanwhile has a cycle. (A division: callers test a cheap lower bound first.)
  std::uint64_t max_nodes() const { return (capacity_ - data_offset_) / min_segment_ + 1; }
  // No region holds fewer possible nodes than this many steps need to be checked against.
  static constexpr std::uint64_t kWalkFreeSteps = 64;

  std::uint64_t key() const { return key_; }
  std::uint32_t min_segment() const { return min_segment_; }

private:
  // 32 bits that depend on every bit of (offset, size) and of the key: the product of the
  // 64-bit word (offset, size) with an odd multiplier derived from the key is a bijection whose
  // high half mixes all input bits. (Without a key, v1/v2 files, size words hold 0 there: the
  // multiplier and the high half are then 0 too, so every push and pop computes the same
  // expression, without a branch on the key; callgrind: 4 instructions fewer per encode.)
  [[gnu::always_inline]] std::uint32_t check(std::uint32_t offset, std::uint32_t size) const {
    const std::uint64_t x = (std::uint64_t{offset} << 32 | size) * mul_;
    return static_cast<std::uint32_t>(x >> 32) ^ key_high_;
  }

  std::uint64_t key_;
  std::uint64_t mul_;      // key | 1, or 0 without a key
  std::uint64_t area_;     // span_ + kNodeBytes: the bound of a block's end (plausible_block())
  std::uint32_t key_high_; // key >> 32
  std::uint32_t data_offset_;
  std::uint32_t span_; // the last plausible node offset minus data_offset
  std::uint32_t capacity_;
  std::uint32_t min_segment_;
};

} // namespace lfarena::detail
