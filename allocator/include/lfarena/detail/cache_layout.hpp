// lfarena/detail/cache_layout.hpp -- the shape of a per-thread free cache block (free_cache.hpp):
// its classes, how many blocks each holds in an arena of a given capacity, where a class's head
// word (and, in the array layout, its entries) sit in the block, and the slot word that names it.
//
// Pure constants and arithmetic on the geometry: thread-safe.
#pragma once

#include <cstdint>

#include "lfarena/detail/header.hpp"

namespace lfarena::detail {
inline constexpr std::uint32_t kSlotCache = 24;    // slot word 3: the cache block's offset
inline constexpr std::uint32_t kCacheClasses = 32; // sizes 8..248, and 256 as class 0
inline constexpr std::uint32_t kCacheBlockBytes = kCacheClasses * 8;
inline constexpr std::uint32_t kCacheBlockAlign = 64;         // its own cache lines
inline constexpr std::uint32_t kCacheLimit = 64;              // the most nodes a class ever holds
inline constexpr std::uint32_t kCacheBatch = kCacheLimit / 2; // a full 64-node class's spill
inline constexpr std::uint32_t kCacheClassBytes = 4096;       // the most bytes a class holds
inline constexpr std::uint32_t kCacheCapacityShare = 256;     // and at most capacity / 256 bytes
inline constexpr std::uint32_t kCacheMinNodes = 2; // but room for 2 nodes (a spill moves 1)
inline constexpr std::uint32_t kCacheWideSize = kCacheBlockBytes; // class 0 (kFeatureCache256)

// Nodes a class of `size`-byte blocks holds before a spill moves half of them: about
// `class_bytes` / size, at most kCacheLimit, at least kCacheMinNodes. Why a byte budget: a
// thread keeps its cached blocks away from every other thread, and in a fixed-size arena the
// others then fail while those bytes are free; the fewer bytes cached, the rarer. Why relative
// to the capacity: 30 classes of 4 KiB are 120 KiB per thread, all the free memory of a small
// arena (a half-full 128 KiB arena churning 24..256 B blocks failed 7% of its allocations with 2
// threads, 9% with 8; 0.01% and none with capacity / 256 per class). (A table: a division by
// the size would cost more than the rest of a push.)
struct CacheLimits {
  std::uint8_t by_class[kCacheClasses] = {};
  constexpr explicit CacheLimits(std::uint32_t class_bytes) {
    for (std::uint32_t c = 0; c < kCacheClasses; ++c) {
      const std::uint32_t n = class_bytes / (c != 0 ? c * 8 : kCacheWideSize);
      by_class[c] = static_cast<std::uint8_t>(n > kCacheLimit      ? kCacheLimit
                                              : n < kCacheMinNodes ? kCacheMinNodes
                                                                   : n);
    }
  }
  constexpr std::uint32_t of(std::uint32_t size) const {
    return by_class[size / 8 % kCacheClasses];
  }
};
// The byte budget of a class in an arena of `capacity` bytes (region bytes, header included).
inline constexpr std::uint32_t cache_class_budget(std::uint32_t capacity) {
  const std::uint32_t share = capacity / kCacheCapacityShare;
  return share < kCacheClassBytes ? share : kCacheClassBytes;
}
inline constexpr CacheLimits cache_limits(std::uint32_t capacity) {
  return CacheLimits{cache_class_budget(capacity)};
}
// The largest block size such an arena caches: one whose budget holds kCacheMinNodes blocks.
// Larger classes would hold their 2-node minimum whatever the budget: about 8 KiB per thread in
// all, half a 16 KiB arena, kept by a thread that may sit idle and so never answer pressure
// (helper-22 found exactly that). 256 from 128 KiB on, 128 at 64 KiB, 32 at 16 KiB.
inline constexpr std::uint32_t cache_size_limit_of_budget(std::uint32_t class_bytes) {
  return class_bytes / kCacheMinNodes / 8 * 8;
}
inline constexpr std::uint32_t cache_size_limit(std::uint32_t capacity) {
  return cache_size_limit_of_budget(cache_class_budget(capacity));
}
static_assert(cache_size_limit(128 << 10) == 256 && cache_size_limit(16 << 10) == 32);
static_assert(cache_limits(1 << 20).of(64) == kCacheLimit && cache_limits(1 << 20).of(248) == 16 &&
              cache_limits(1 << 20).of(8) == 64 && cache_limits(1 << 20).of(kCacheWideSize) == 16);
static_assert(cache_limits(128 << 10).of(64) == 8 && cache_limits(128 << 10).of(256) == 2 &&
              cache_limits(4096).of(8) == kCacheMinNodes);

// The block size of class c, and where the head word of `size`-byte blocks sits in a cache block
// (its byte offset: the size itself, 0 for 256).
inline constexpr std::uint32_t cache_class_bytes(std::uint32_t c) {
  return c != 0 ? c * kGranule : kCacheWideSize;
}
inline constexpr std::uint32_t cache_head_at(std::uint32_t size) {
  return size & (kCacheBlockBytes - 1);
}
static_assert(cache_head_at(cache_class_bytes(0)) == 0 &&
              cache_head_at(cache_class_bytes(31)) == 248);
// The first class a file's cache blocks use (0 with the 256-byte class), and the largest size.
inline std::uint32_t cache_first_class(const Geometry &g) { return g.cache_256 ? 0 : 1; }
inline std::uint32_t cache_max_size(const Geometry &g) {
  return g.cache_256 ? kCacheWideSize : (kCacheClasses - 1) * kGranule;
}

// The array layout (kFeatureCacheArray, docs/DESIGN.md §5.11): after the 32 head words, each
// class whose blocks the arena can cache (min_segment <= size <= cache_size_limit()) has room
// for its limit of 8-byte entries, one per cached block (NodeLayout::encode_entry: the block's
// offset and a keyed check of it), classes in order 0..31; the others have none (limit 0: a
// count above it is damage). A class's meta word packs its limit (low 8 bits) and the index of
// its first entry's byte offset in the block (above), so a push or pop reads both with one load.
// A class's head word is its count (the high half 0): one compare with the limit checks it.
struct CacheArrayLayout {
  std::uint32_t meta[kCacheClasses] = {};
  std::uint32_t entries = 0; // in all classes
  constexpr CacheArrayLayout(const CacheLimits &limits, std::uint32_t min_size,
                             std::uint32_t max_size) {
    for (std::uint32_t c = 0; c < kCacheClasses; ++c) {
      const std::uint32_t size = cache_class_bytes(c);
      const std::uint32_t n = size >= min_size && size <= max_size ? limits.by_class[c] : 0;
      meta[c] = n | (kCacheBlockBytes + entries * 8) << 8;
      entries += n;
    }
  }
  constexpr std::uint32_t of(std::uint32_t size) const { return meta[size / 8 % kCacheClasses]; }
  static constexpr std::uint32_t limit(std::uint32_t m) { return m & 0xff; }
  // The byte offset, in the block, of entry i of the class whose meta word is m.
  static constexpr std::uint32_t entry_at(std::uint32_t m, std::uint32_t i) {
    return (m >> 8) + i * 8;
  }
};
inline constexpr CacheArrayLayout cache_array_layout(std::uint32_t capacity,
                                                     std::uint32_t min_segment) {
  return CacheArrayLayout{cache_limits(capacity), min_segment, cache_size_limit(capacity)};
}
// The class byte budget of regions of `g`: the capacity's, unless the file pinned the one its
// array layout was made for (hdr::cache_budget: a grown file keeps its cache blocks' layout) or
// a model check set its own.
inline constexpr std::uint32_t cache_class_budget(const Geometry &g) {
  return g.cache_budget != 0 ? g.cache_budget : cache_class_budget(g.capacity);
}
// The largest block size arenas of `g` cache: cache_size_limit() of their class budget.
inline constexpr std::uint32_t cache_size_limit(const Geometry &g) {
  return cache_size_limit_of_budget(cache_class_budget(g));
}
inline constexpr CacheArrayLayout cache_array_layout(const Geometry &g) {
  return CacheArrayLayout{CacheLimits{cache_class_budget(g)}, g.min_segment, cache_size_limit(g)};
}
static_assert(cache_array_layout(1 << 20, 16).entries == 1124 &&
              cache_array_layout(48 << 10, 32).entries == 28);

// The bytes of a cache block in files of `g` (its allocation may be a little larger: a remainder
// below min_segment comes with it, segment.hpp): the head words, and the entries of the array
// layout, rounded up to whole 64-byte lines (blocks provisioned one after another then leave
// no padding between them).
inline constexpr std::uint32_t cache_block_bytes(const Geometry &g) {
  const std::uint32_t entries = g.cache_array ? cache_array_layout(g).entries : 0;
  return (kCacheBlockBytes + entries * 8 + kCacheBlockAlign - 1) / kCacheBlockAlign *
         kCacheBlockAlign;
}

// The most bytes of cache blocks an arena of `g` gives its slots in all: a thirty-second of the
// capacity, but room for 2 blocks. A slot keeps its block for every later owner, so without a
// cap each thread that ever ran at once added one (helper-45: 64 threads held half of a 1 MiB
// arena in array-layout blocks); a thread arriving past the cap has no cache (the shared
// stacks serve it).
inline constexpr std::uint64_t cache_blocks_cap(const Geometry &g) {
  const std::uint64_t share = g.capacity / 32, two = 2ull * cache_block_bytes(g);
  return share > two ? share : two;
}

// Slots a thread's first cache attachment provisions with a cache block of `block_bytes`: its
// own and the next ones in claim order (src/thread_chunk.cpp), about 1/1024 of the capacity in
// all, at least 2 (so a second thread that first arrives once the arena is full, with no
// contiguous free block that large left, still finds one), at most every slot.
inline constexpr std::uint32_t cache_provision(std::uint32_t capacity,
                                               std::uint32_t block_bytes = kCacheBlockBytes) {
  const std::uint32_t n = capacity / block_bytes / 1024;
  return n < 2 ? 2 : n > kChunkSlots ? kChunkSlots : n;
}
static_assert(cache_provision(1 << 20) == 4 && cache_provision(64 << 20) == kChunkSlots);

// A class head word of the chain layout: {first node, count}.
inline std::uint32_t cache_first(std::uint64_t h) { return static_cast<std::uint32_t>(h); }
inline std::uint32_t cache_count(std::uint64_t h) { return static_cast<std::uint32_t>(h >> 32); }
inline std::uint64_t cache_head(std::uint32_t first, std::uint32_t count) {
  return first | std::uint64_t{count} << 32;
}

// Whether a block of `size` bytes (a multiple of kGranule) has a cache class in files of `g`
// (in the array layout: a class with entries).
inline bool cache_class_size(std::uint32_t size, const Geometry &g) {
  return size <= cache_max_size(g) && size >= g.min_segment &&
         (!g.cache_array || size <= cache_size_limit(g));
}

// Slot word 3: {block offset:32, block size:32}. The block is the allocation that made it,
// which may be a little larger than kCacheBlockBytes (a freelist segment's remainder below
// min_segment comes with a block, segment.hpp).
inline std::uint32_t cache_word_block(std::uint64_t w) { return static_cast<std::uint32_t>(w); }
inline std::uint32_t cache_word_bytes(std::uint64_t w) {
  return static_cast<std::uint32_t>(w >> 32);
}
inline std::uint64_t cache_word(std::uint32_t block, std::uint32_t bytes) {
  return block | std::uint64_t{bytes} << 32;
}

// Where a cache block can be: 64-aligned, of cache_block_bytes() plus less than min_segment (a
// split remainder that came with it, segment.hpp), a multiple of kGranule, inside the
// allocated data area below `top`.
inline bool cache_block_plausible(const Geometry &g, std::uint64_t word, std::uint64_t top) {
  const std::uint32_t at = cache_word_block(word), bytes = cache_word_bytes(word);
  const std::uint32_t want = cache_block_bytes(g);
  return at >= g.data_offset && at % kCacheBlockAlign == 0 && bytes >= want &&
         bytes < std::uint64_t{want} + g.min_segment && bytes % kGranule == 0 &&
         std::uint64_t{at} + bytes <= top;
}

} // namespace lfarena::detail
