// lfarena/detail/size_class.hpp -- size classes and the bitmap of non-empty classes, shared by
// the segregated policy (a stack per class) and the size-indexed sorted policies (a sorted list
// per class).
//
// Classes (TLSF-style): sizes below 256 have one class per 8 bytes; from 256 up, each power of
// two is cut into 8 sub-classes. floor_class(s) is the class a segment of size s is filed under;
// ceil_class(n) is the first class whose every segment holds n bytes. Classes partition the
// sizes into ranges in size order, so lists sorted by size per class, concatenated in class
// order, are one sorted list.
//
// The class table (at Geometry::class_table_offset): kClassCount head words, then kBitmapWords
// words of the bitmap of non-empty classes.
//
// The bitmap protocol. A bit is a hint for finding non-empty classes in O(1); what it promises:
// at quiescence every non-empty class has its bit set (check() verifies it; recovery rebuilds
// it). A set bit on an empty class is allowed (cleared lazily by the next taker that finds the
// class empty). Writers:
//  - after a push made a class non-empty, the pusher sets the bit if it reads it clear;
//  - a taker that finds the class empty clears the bit, then re-reads the head and re-sets the
//    bit if the class is non-empty again.
// Between a pusher (head CAS, then bitmap read) and a clearer (bitmap RMW, then head read) this
// is the store-buffering pattern: with acquire/release both could miss the other, leaving a
// non-empty class with a clear bit forever. A class turns non-empty only by a head publish (an
// insert behind a node or an unlink never empties or fills a class), so that publish and the
// four protocol accesses are seq_cst: in the single total order S, either the pusher's bitmap
// read comes after the clear (it reads 0 and sets the bit) or before it, and then the clearer's
// head read comes after the publish and sees the class non-empty (other head writes -- pops,
// unlinks, fetch_add(0) re-reads -- are coherence-ordered with it and cannot hide it). (x86:
// same instructions as acquire/release.) Mutant bitmap_acq_rel weakens the four accesses.
//
// Thread-safety: lock-free; any thread or process mapping the region.
#pragma once

#include <cstdint>

#include "lfarena/detail/atomic.hpp"
#include "lfarena/detail/mutant.hpp"
#include "lfarena/detail/tagged.hpp"

namespace lfarena::detail {

inline constexpr std::uint32_t kSmallClasses = 32; // sizes 0..255, one class per 8 bytes
inline constexpr std::uint32_t kSubClasses = 8;    // per power of two from 256 up
inline constexpr std::uint32_t kClassCount = kSmallClasses + (32 - 8) * kSubClasses; // 224
inline constexpr std::uint32_t kBitmapWords = (kClassCount + 63) / 64;
inline constexpr std::uint32_t kClassTableBytes = (kClassCount + kBitmapWords) * 8;

inline constexpr std::uint32_t floor_class(std::uint64_t size) {
  if (size < 256)
    return static_cast<std::uint32_t>(size / 8);
  const auto fl = static_cast<std::uint32_t>(63 - __builtin_clzll(size));
  const auto sl = static_cast<std::uint32_t>(size >> (fl - 3)) & (kSubClasses - 1);
  return kSmallClasses + (fl - 8) * kSubClasses + sl;
}
inline constexpr std::uint64_t class_min(std::uint32_t c) {
  if (c < kSmallClasses)
    return std::uint64_t{c} * 8;
  const std::uint32_t k = c - kSmallClasses, fl = 8 + k / kSubClasses, sl = k % kSubClasses;
  return (std::uint64_t{1} << fl) + std::uint64_t{sl} * (std::uint64_t{1} << (fl - 3));
}
// The first class all of whose segments hold at least `need` bytes.
inline constexpr std::uint32_t ceil_class(std::uint64_t need) {
  const std::uint32_t c = floor_class(need);
  return class_min(c) < need ? c + 1 : c;
}
static_assert(floor_class(255) == 31 && floor_class(256) == 32 && floor_class(288) == 33);
static_assert(class_min(floor_class(1000)) <= 1000 && class_min(ceil_class(1000)) >= 1000);
static_assert(floor_class(0xffffffffu) == kClassCount - 1);

template <class Mem> class ClassTable {
public:
  ClassTable(Mem mem, std::uint32_t table) : mem_(mem), table_(table) {}

  std::uint32_t head_at(std::uint32_t c) const { return table_ + c * 8; }
  atomic_u64 &head(std::uint32_t c) const { return mem_.word(head_at(c)); }

  // After a push made class c non-empty (its head CAS was seq_cst): see the banner. Set only
  // when clear: the bitmap line is shared by every class, an RMW per push would bounce it.
  void note_nonempty(std::uint32_t c) const {
    if constexpr (LFARENA_SEEDED_BUG(bitmap_acq_rel)) {
      if ((load_acquire(bitmap_word(c)) & bit(c)) == 0)
        fetch_or_acq_rel(bitmap_word(c), bit(c));
      return;
    }
    if ((load_seq_cst(bitmap_word(c)) & bit(c)) == 0)
      fetch_or_seq_cst(bitmap_word(c), bit(c));
  }

  // A taker found class c empty: clear its bit, and put it back if a push came in meanwhile.
  void clear_if_empty(std::uint32_t c) const {
    if constexpr (LFARENA_SEEDED_BUG(bitmap_acq_rel)) {
      fetch_and_acq_rel(bitmap_word(c), ~bit(c));
      if (Link{load_acquire(head(c))}.offset() != 0)
        fetch_or_acq_rel(bitmap_word(c), bit(c));
      return;
    }
    fetch_and_seq_cst(bitmap_word(c), ~bit(c));
    if (Link{load_seq_cst(head(c))}.offset() != 0)
      fetch_or_seq_cst(bitmap_word(c), bit(c));
  }

  // Bits of classes 64w .. 64w+63. Acquire: a hint; what the bit leads to is read afresh.
  std::uint64_t bits(std::uint32_t w) const { return load_acquire(mem_.word(bitmap_at(w * 64))); }
  bool bit_set(std::uint32_t c) const { return (bits(c / 64) & bit(c)) != 0; }
  // Quiescent check of the promise: the first non-empty class whose bit is clear, or
  // kClassCount if there is none.
  std::uint32_t first_unmarked_nonempty() const {
    for (std::uint32_t c = 0; c < kClassCount; ++c)
      if (Link{load_acquire(head(c))}.offset() != 0 && !bit_set(c))
        return c;
    return kClassCount;
  }

  // Quiescent repair (recovery, alone on the region): the bits of exactly the non-empty classes.
  void rebuild() const {
    for (std::uint32_t w = 0; w < kBitmapWords; ++w) {
      std::uint64_t v = 0;
      for (std::uint32_t c = w * 64; c < kClassCount && c < w * 64 + 64; ++c)
        if (Link{load_relaxed(head(c))}.offset() != 0)
          v |= bit(c);
      store_release(mem_.word(bitmap_at(w * 64)), v);
    }
  }

  // The first class >= `from` whose bit is set, or kClassCount.
  std::uint32_t next_set(std::uint32_t from) const {
    for (std::uint32_t w = from / 64; w < kBitmapWords; ++w) {
      std::uint64_t b = bits(w);
      if (w == from / 64)
        b &= ~std::uint64_t{0} << (from % 64);
      if (b != 0)
        return w * 64 + static_cast<std::uint32_t>(__builtin_ctzll(b));
    }
    return kClassCount;
  }
  // The last class <= `from` whose bit is set, or kClassCount if none.
  std::uint32_t prev_set(std::uint32_t from) const {
    for (std::uint32_t w = from / 64 + 1; w-- > 0;) {
      std::uint64_t b = bits(w);
      if (w == from / 64 && from % 64 != 63)
        b &= (std::uint64_t{1} << (from % 64 + 1)) - 1;
      if (b != 0)
        return w * 64 + 63 - static_cast<std::uint32_t>(__builtin_clzll(b));
    }
    return kClassCount;
  }

private:
  std::uint32_t bitmap_at(std::uint32_t c) const { return table_ + (kClassCount + c / 64) * 8; }
  atomic_u64 &bitmap_word(std::uint32_t c) const { return mem_.word(bitmap_at(c)); }
  static std::uint64_t bit(std::uint32_t c) { return std::uint64_t{1} << (c % 64); }

  Mem mem_;
  std::uint32_t table_;
};

} // namespace lfarena::detail
