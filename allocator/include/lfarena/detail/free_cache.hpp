// lfarena/detail/free_cache.hpp -- per-thread free caches of the segregated policy (files with
// kFeatureThreadCache): small freed blocks go to the freeing thread's own lists, in the region,
// and its allocations of those sizes come back from them without any read-modify-write.
//
// Where they live. A thread-chunk slot's word 3 (kSlotCache, chunk.hpp) holds the offset and
// size of the slot's cache block: kCacheBlockBytes (or a little more) allocated from the arena
// once, the first time an owner of the slot uses a cache, and kept with the slot for every later
// owner (a live block as far as the accounting is concerned). Word c of the block is the head of
// class c (sizes 8c, 1 <= c < kCacheClasses): {first node offset:32, node count:32}; word 0 is
// the class of 256-byte blocks in files with kFeatureCache256 (header.hpp: every segregated file
// since 2026-12-03; unused, always 0, in older ones). Why 256 in word 0: a word's byte offset in
// the block is its size modulo the block's 256 bytes, so push and pop find the head with one
// mask, and the block did not grow (a mixed 24..256 B workload sent every 30th free and
// allocation to the shared stacks, the only shared lines two such threads touched). Nodes are
// ordinary free nodes (node.hpp: keyed link word, checked size word; links with tag 0, like a
// stack's), so a chain of them can be pushed on the shared stack of its class
// (segregated_policy.hpp) with one CAS.
//
// Who touches them. Only the slot's owner thread pushes and pops (relaxed loads and stores: no
// other thread reads these words while the owner lives, except check() at quiescence, after the
// owner's writes happen-before it by whatever made it quiescent). A class holding its limit
// (CacheLimits: 64 small blocks in arenas of 1 MiB or more, fewer in smaller ones) of nodes
// first moves half of them to the shared stack (spill): the owner
// unlinks them from its list (one store), then publishes the chain with the stack's seq_cst head
// CAS, whose release makes the nodes' words (written by this same thread before) visible to the
// popper that acquires the head. A drain (thread exit, close, crash recovery) spills every class
// whole.
//
// Crash states (every store is one word, so a head and its count always agree): a push stores the
// node words, then the head; a pop stores the head, then marks the node's link and scrubs its
// size word (as the stack pop does: a cycle that leads back to a block handed out is refused); a
// spill stores the head, then publishes the chain. A crash between two of these stores leaves the
// node (or chain) on no list: in flight, like a stack operation's, counted as leaked by
// checked-mode recovery, never on two lists at once.
//
// Damage (a user's write into a cached block, a damaged file): every node is checked before it
// is followed (its offset, its size word: exactly the class size, its link: unmarked, not to
// itself, in range, ending exactly when the count says), and a bad one is reported, never
// followed. The count bounds every walk.
//
// Thread-safety: push/pop/spill/drain by the slot's owner only (or by recovery, alone);
// walk() at quiescence.
#pragma once

#include <cstdint>

#include "lfarena/detail/atomic.hpp"
#include "lfarena/detail/crash_point.hpp"
#include "lfarena/detail/header.hpp"
#include "lfarena/detail/node.hpp"
#include "lfarena/detail/run_hints.hpp"
#include "lfarena/detail/segregated_policy.hpp"
#include "lfarena/detail/tagged.hpp"

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
inline constexpr std::uint32_t cache_size_limit(std::uint32_t capacity) {
  return cache_class_budget(capacity) / kCacheMinNodes / 8 * 8;
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

// Slots a thread's first cache attachment provisions with a cache block: its own and the next
// ones in claim order (src/thread_chunk.cpp), about 1/1024 of the capacity, at least 2 (so a
// second thread that first arrives once the arena is full, with no 256 contiguous free bytes
// left, still finds one), at most every slot.
inline constexpr std::uint32_t cache_provision(std::uint32_t capacity) {
  const std::uint32_t n = capacity / (kCacheBlockBytes * 1024);
  return n < 2 ? 2 : n > kChunkSlots ? kChunkSlots : n;
}
static_assert(cache_provision(1 << 20) == 4 && cache_provision(64 << 20) == kChunkSlots);

// A class head word: {first node, count}.
inline std::uint32_t cache_first(std::uint64_t h) { return static_cast<std::uint32_t>(h); }
inline std::uint32_t cache_count(std::uint64_t h) { return static_cast<std::uint32_t>(h >> 32); }
inline std::uint64_t cache_head(std::uint32_t first, std::uint32_t count) {
  return first | std::uint64_t{count} << 32;
}

// Whether a block of `size` bytes (a multiple of kGranule) has a cache class in files of `g`.
inline bool cache_class_size(std::uint32_t size, const Geometry &g) {
  return size <= cache_max_size(g) && size >= g.min_segment;
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

// Where a cache block can be: 64-aligned, of kCacheBlockBytes plus less than min_segment (a
// split remainder that came with it, segment.hpp), a multiple of kGranule, inside the
// allocated data area below `top`.
inline bool cache_block_plausible(const Geometry &g, std::uint64_t word, std::uint64_t top) {
  const std::uint32_t at = cache_word_block(word), bytes = cache_word_bytes(word);
  return at >= g.data_offset && at % kCacheBlockAlign == 0 && bytes >= kCacheBlockBytes &&
         bytes < std::uint64_t{kCacheBlockBytes} + g.min_segment && bytes % kGranule == 0 &&
         std::uint64_t{at} + bytes <= top;
}

template <class Mem> class FreeCache {
public:
  FreeCache(Mem mem, const Geometry &g, const SegregatedPolicy<Mem> &shared)
      : mem_(mem), node_(g), shared_(shared), limits_(cache_limits(g.capacity)),
        first_class_(cache_first_class(g)) {}
  FreeCache(const FreeCache &) = default;
  FreeCache &operator=(const FreeCache &) = default; // Core::rekey() assigns a whole Core

  // Pushes the owned block [offset, offset + size) (cache_class_size()) on the cache of
  // `block` (a cache block's offset). `duplicate` if it is already the class's first node (an
  // unchecked double free caught cheaply); `damaged` (fault says where) if a spill met a bad
  // node: nothing was pushed.
  [[gnu::always_inline]] Inserted push(std::uint32_t block, std::uint32_t offset,
                                       std::uint32_t size, Fault &fault) const {
    const std::uint32_t at = block + cache_head_at(size); // byte 8c = size (256: byte 0)
    atomic_u64 &w = mem_.word(at);
    std::uint64_t h = load_relaxed(w);
    if (const std::uint32_t limit = limits_.of(size); cache_count(h) >= limit) {
      if (Fault f = spill(at, limit / 2, size); f) {
        fault = f;
        return Inserted::damaged;
      }
      h = load_relaxed(w);
    }
    if (cache_first(h) == offset)
      return node_.decode_size(offset, load_relaxed(mem_.word(offset + kNodeSizeWord))) != 0
                 ? Inserted::duplicate
                 : Inserted::damaged;
    // Relaxed: owner-only words until a spill's CAS publishes them (banner).
    store_relaxed(mem_.word(offset + kNodeSizeWord), node_.encode_size(offset, size));
    store_relaxed(mem_.word(offset + kNodeLinkWord),
                  node_.encode_link(Link::make(cache_first(h), 0)));
    store_relaxed(w, cache_head(offset, cache_count(h) + 1));
    LFARENA_CRASH_POINT(cache_pushed);
    return Inserted::ok;
  }

  // Puts the chain first -> ... -> last of `count` free nodes of `size` bytes, linked and sized
  // as cache nodes (a run popped from the shared stack, Core::cache_refill), in front of the
  // class of `size` in the cache of `block`: last is relinked to the class's first node. The
  // caller keeps the class within its limit (a refill fills an empty class to half of it).
  void adopt(std::uint32_t block, std::uint32_t first, std::uint32_t last, std::uint32_t count,
             std::uint32_t size) const {
    atomic_u64 &w = mem_.word(block + cache_head_at(size));
    const std::uint64_t h = load_relaxed(w);
    // Relaxed: owner-only words until a spill's CAS publishes them (banner).
    store_relaxed(mem_.word(last + kNodeLinkWord),
                  node_.encode_link(Link::make(cache_first(h), 0)));
    store_relaxed(w, cache_head(first, cache_count(h) + count));
    LFARENA_CRASH_POINT(cache_pushed);
  }

  // Pops a block of exactly `size` bytes (a size cache_class_size() accepts) from the cache of
  // `block`: its offset, or 0 if the class is empty or its first node is damaged (then
  // *damaged is that node's offset).
  [[gnu::always_inline]] std::uint32_t pop(std::uint32_t block, std::uint32_t size,
                                           std::uint32_t &damaged) const {
    atomic_u64 &w = mem_.word(block + cache_head_at(size));
    const std::uint64_t h = load_relaxed(w);
    const std::uint32_t o = cache_first(h);
    if (o == 0)
      return 0;
    if (!node_.plausible_block(o, size)) {
      damaged = o;
      return 0;
    }
    const Link next = node_.decode_link(load_relaxed(mem_.word(o + kNodeLinkWord)));
    const std::uint32_t count = cache_count(h);
    // The size word must be exactly what a push of this class wrote (decode_size()'s checks in
    // one compare: the size is the class's, the block inside the region).
    if (count == 0 || load_relaxed(mem_.word(o + kNodeSizeWord)) != node_.encode_size(o, size) ||
        !good_link(o, next, count)) {
      damaged = o;
      return 0;
    }
    store_relaxed(w, cache_head(next.offset(), count - 1));
    LFARENA_CRASH_POINT(cache_popped);
    // Popped: the link marked (never valid on a list), the size word scrubbed (the user never
    // finds a valid one in the block to write back later).
    store_relaxed(mem_.word(o + kNodeLinkWord), node_.encode_link(Link::make(0, 0, true)));
    store_relaxed(mem_.word(o + kNodeSizeWord), 0);
    // The next pop reads the next node, often a line not touched for a while (a large free
    // set, or another thread's block): start fetching it while the caller uses o. A hint only.
    mem_.prefetch(next.offset());
    return o;
  }

  // Nodes a class of `size`-byte blocks holds before a push spills half of them.
  std::uint32_t limit(std::uint32_t size) const { return limits_.of(size); }

  // Moves every node of every class of `block` to the shared stacks. Returns the first damage
  // met; a damaged class keeps its nodes from the damaged one on (the ones before it are
  // moved), so check(), the next open and the slot's next owner still find and report it.
  Fault drain(std::uint32_t block) const {
    Fault first;
    for (std::uint32_t c = first_class_; c < kCacheClasses; ++c) {
      const std::uint64_t h = load_relaxed(mem_.word(block + c * kGranule));
      if (h == 0)
        continue;
      if (Fault f = spill(block + c * kGranule, cache_count(h), cache_class_bytes(c)); f && !first)
        first = f;
    }
    return first;
  }

  // Quiescent walk of the cache of `block`: visit(offset, size) for every node. Returns the
  // first damage (a node failing its checks, a chain longer or shorter than its count, a count
  // above kCacheLimit, or a node visit() rejects); `block` itself is checked by the caller
  // (cache_block_plausible).
  template <class Visit> Fault walk(std::uint32_t block, Visit &&visit) const {
    // Word 0 of a file without the 256-byte class is not read, as before that class existed
    // (a stray value there, say a user's overflow, refused an old file the old build opens).
    for (std::uint32_t c = first_class_; c < kCacheClasses; ++c) {
      const std::uint64_t h = load_relaxed(mem_.word(block + c * kGranule));
      std::uint32_t count = cache_count(h), o = cache_first(h);
      if (count > kCacheLimit || (o == 0) != (count == 0))
        return Fault{block + c * kGranule};
      for (; o != 0; --count) {
        const std::uint32_t size = cache_class_bytes(c);
        const Link next = node_.plausible_offset(o)
                              ? node_.decode_link(load_relaxed(mem_.word(o + kNodeLinkWord)))
                              : Link{};
        if (!node_.plausible_offset(o) ||
            node_.decode_size(o, load_relaxed(mem_.word(o + kNodeSizeWord))) != size ||
            !good_link(o, next, count) || !visit(o, size))
          return Fault{o};
        o = next.offset();
      }
    }
    return Fault{};
  }

private:
  // A node's link as the count says it must be: unmarked, not to itself, in range, and 0
  // exactly at the last node. (The count bounds every walk: no cycle check needed.)
  [[gnu::always_inline]] bool good_link(std::uint32_t o, Link next, std::uint32_t count) const {
    const std::uint32_t n = next.offset();
    return !next.marked() && n != o && (n == 0) == (count == 1) &&
           (n == 0 || node_.plausible_offset(n));
  }

  // Moves the first `n` (>= 1) nodes of the class whose head word is at `at` (size bytes each) to
  // the shared stack: checks and walks them, unlinks them from the cache, then pushes the chain
  // with one CAS. On damage only the nodes before the bad one are moved, and the fault names
  // it (or the head word, if the head itself is impossible).
  [[gnu::noinline]] Fault spill(std::uint32_t at, std::uint32_t n, std::uint32_t size) const {
    atomic_u64 &w = mem_.word(at);
    const std::uint64_t h = load_relaxed(w);
    const std::uint32_t first = cache_first(h);
    std::uint32_t count = cache_count(h);
    // A class below min_segment holds nothing (its nodes would fail decode_size()): the
    // compares below check the size word for this size only.
    if (count > kCacheLimit || n == 0 || n > count || first == 0 || size < node_.min_segment())
      return Fault{first != 0 ? first : at};
    std::uint32_t moved = 0, cur = first;
    std::uint32_t chain[kCacheLimit]; // the moved nodes (their prefetch hints, the last one)
    Fault fault;
    while (moved < n) {
      // pop()'s checks: the block inside the region, the size word exactly a node's of this
      // size (decode_size()'s checks for a known size, in one compare), the link.
      if (!node_.plausible_block(cur, size) ||
          load_relaxed(mem_.word(cur + kNodeSizeWord)) != node_.encode_size(cur, size)) {
        fault = Fault{cur};
        break;
      }
      const Link next = node_.decode_link(load_relaxed(mem_.word(cur + kNodeLinkWord)));
      if (!good_link(cur, next, count)) {
        fault = Fault{cur};
        break;
      }
      chain[moved] = cur;
      cur = next.offset();
      ++moved;
      --count;
    }
    if (moved == 0)
      return fault;
    // For the refill that takes them (run_hints.hpp): nodes this thread just walked, so the
    // stores hit its cache.
    write_run_hints(mem_, size, chain, moved);
    store_relaxed(w, cache_head(cur, cache_count(h) - moved));
    LFARENA_CRASH_POINT(cache_spill_unlinked);
    shared_.insert_chain(first, chain[moved - 1], size);
    return fault;
  }

  Mem mem_;
  NodeLayout node_;
  SegregatedPolicy<Mem> shared_; // a copy: a few words, no state of its own
  CacheLimits limits_;           // of this arena's capacity
  std::uint32_t first_class_;    // 0: word 0 is the 256-byte class (cache_first_class())
};

} // namespace lfarena::detail
