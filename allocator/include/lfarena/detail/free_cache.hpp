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
// Two layouts. In files with kFeatureCacheArray (every segregated file since 2026-12-06) the
// head word of class c is its count, and the block continues with each class's array of
// entries (cache_layout.hpp CacheArrayLayout; NodeLayout::encode_entry: offset and keyed check):
// a push stores an entry and a pop reads one, and neither touches the cached block, which holds
// no node while it is cached; a spill writes the nodes of the chain it pushes. Files without
// the flag keep the chains described here (push_chain, pop_chain). docs/DESIGN.md §5.11.
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
#include "lfarena/detail/cache_layout.hpp"
#include "lfarena/detail/crash_point.hpp"
#include "lfarena/detail/header.hpp"
#include "lfarena/detail/node.hpp"
#include "lfarena/detail/run_hints.hpp"
#include "lfarena/detail/segregated_policy.hpp"
#include "lfarena/detail/tagged.hpp"

namespace lfarena::detail {

template <class Mem> class FreeCache {
public:
  FreeCache(Mem mem, const Geometry &g, const SegregatedPolicy<Mem> &shared)
      : mem_(mem), node_(g), shared_(shared), limits_(cache_class_budget(g)),
        arrays_(cache_array_layout(g)), first_class_(cache_first_class(g)), array_(g.cache_array) {}
  FreeCache(const FreeCache &) = default;
  FreeCache &operator=(const FreeCache &) = default; // Core::rekey() assigns a whole Core

  // Pushes the owned block [offset, offset + size) (cache_class_size()) on the cache of
  // `block` (a cache block's offset). `duplicate` if it is already the class's first node (an
  // unchecked double free caught cheaply); `damaged` (fault says where) if a spill met a bad
  // node: nothing was pushed.
  [[gnu::always_inline]] Inserted push(std::uint32_t block, std::uint32_t offset,
                                       std::uint32_t size, Fault &fault) const {
    if (array_) [[likely]]
      return push_entry(block, offset, size, fault);
    const std::uint64_t r = push_chain_packed(block, offset, size);
    fault.at = static_cast<std::uint32_t>(r >> 32);
    return static_cast<Inserted>(r & 0xff);
  }
  // push_chain() out of line, its two results in one word ({result, fault offset << 32}): a
  // reference into an out-of-line call would keep the caller's `fault` (and with it more of
  // the inline fast path) in memory.
  [[gnu::noinline]] std::uint64_t push_chain_packed(std::uint32_t block, std::uint32_t offset,
                                                    std::uint32_t size) const {
    Fault f;
    const Inserted r = push_chain(block, offset, size, f);
    return static_cast<std::uint64_t>(r) | std::uint64_t{f.at} << 32;
  }
  // push() in the chain layout (files without kFeatureCacheArray), called only through
  // push_chain_packed() (out of line, so the array layout's inline paths keep their registers).
  Inserted push_chain(std::uint32_t block, std::uint32_t offset, std::uint32_t size,
                      Fault &fault) const {
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

  // push() and pop() for callers that know the arena's caches use the array layout (Core's
  // inline forms, which only arenas with ArenaState::fast_id reach): no layout test.
  [[gnu::always_inline]] Inserted push_array(std::uint32_t block, std::uint32_t offset,
                                             std::uint32_t size, Fault &fault) const {
    return push_entry(block, offset, size, fault);
  }
  [[gnu::always_inline]] std::uint32_t pop_array(std::uint32_t block, std::uint32_t size,
                                                 std::uint32_t &damaged) const {
    return pop_entry(block, size, damaged);
  }

  // Puts the chain first -> ... -> last of `count` free nodes of `size` bytes, linked and sized
  // as cache nodes (a run popped from the shared stack, Core::cache_refill), in front of the
  // class of `size` in the cache of `block`: last is relinked to the class's first node. The
  // caller keeps the class within its limit (a refill fills an empty class to half of it).
  void adopt(std::uint32_t block, std::uint32_t first, std::uint32_t last, std::uint32_t count,
             std::uint32_t size) const {
    if (array_)
      return adopt_entries(block, first, count, size);
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
    if (array_) [[likely]]
      return pop_entry(block, size, damaged);
    const std::uint64_t r = pop_chain_packed(block, size);
    if (r >> 32 != 0)
      damaged = static_cast<std::uint32_t>(r >> 32);
    return static_cast<std::uint32_t>(r);
  }
  // pop_chain() out of line, {offset, damaged << 32} (push_chain_packed()).
  [[gnu::noinline]] std::uint64_t pop_chain_packed(std::uint32_t block, std::uint32_t size) const {
    std::uint32_t d = 0;
    const std::uint32_t o = pop_chain(block, size, d);
    return o | std::uint64_t{d} << 32;
  }
  // pop() in the chain layout, called only through pop_chain_packed() (out of line).
  std::uint32_t pop_chain(std::uint32_t block, std::uint32_t size, std::uint32_t &damaged) const {
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

  // Nodes a class of `size`-byte blocks holds before a push spills half of them. In the array
  // layout the class's room of entries: 0 for a class without (below min_segment or above the
  // size limit), so no refill ever writes entries there (they would be the next class's;
  // helper-48: limits_ says 2 or more for every class).
  std::uint32_t limit(std::uint32_t size) const {
    return array_ ? CacheArrayLayout::limit(arrays_.of(size)) : limits_.of(size);
  }
  // How many more blocks of `size` bytes the cache of `block` takes without a spill (a refill's
  // bound; 0 for a damaged head word).
  std::uint32_t room(std::uint32_t block, std::uint32_t size) const {
    const std::uint64_t h = load_relaxed(mem_.word(block + cache_head_at(size)));
    const std::uint64_t count = array_ ? h : cache_count(h);
    const std::uint32_t most = limit(size);
    return count < most ? most - static_cast<std::uint32_t>(count) : 0;
  }
  // Whether cache blocks hold arrays of entries (kFeatureCacheArray) rather than chains.
  bool arrays() const { return array_; }

  // Moves every node of every class of `block` to the shared stacks. Returns the first damage
  // met; a damaged class keeps its nodes from the damaged one on (the ones before it are
  // moved), so check(), the next open and the slot's next owner still find and report it.
  Fault drain(std::uint32_t block) const {
    Fault first;
    if (array_) {
      for (std::uint32_t c = first_class_; c < kCacheClasses; ++c) {
        const std::uint32_t size = cache_class_bytes(c), meta = arrays_.of(size);
        const std::uint64_t n = load_relaxed(mem_.word(block + c * kGranule));
        // A count above the limit is damage: spill_entries() reports it (n is then ignored).
        const auto moved = static_cast<std::uint32_t>(n <= kCacheLimit ? n : 1);
        if (Fault f = n != 0 ? spill_entries(block, size, moved) : Fault{}; f && !first)
          first = f;
        // Every entry above what stays is cleared, one a crash left above the count too (a
        // pop's, helper-46): a count raised by damage later finds none valid.
        const std::uint64_t left = load_relaxed(mem_.word(block + c * kGranule));
        for (std::uint64_t i = left; i < CacheArrayLayout::limit(meta); ++i)
          store_relaxed(
              mem_.word(block + CacheArrayLayout::entry_at(meta, static_cast<std::uint32_t>(i))),
              0);
      }
      return first;
    }
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
    if (array_)
      return walk_entries(block, visit);
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

  // ---- The array layout (kFeatureCacheArray; banner, docs/DESIGN.md §5.11) ----
  // A class's head word is its count; its entries 0..count-1 (oldest first) sit at
  // CacheArrayLayout::entry_at(). A head word above the class's limit (a count too large, or
  // any bit of the high half) is damage: never used to index the array.

  // push() in the array layout: no word of the freed block is written.
  [[gnu::always_inline]] Inserted push_entry(std::uint32_t block, std::uint32_t offset,
                                             std::uint32_t size, Fault &fault) const {
    atomic_u64 &w = mem_.word(block + cache_head_at(size));
    const std::uint32_t meta = arrays_.of(size);
    std::uint64_t count = load_relaxed(w);
    // A count at the limit spills; one above it (damage) too, and the spill reports it.
    if (count >= CacheArrayLayout::limit(meta)) {
      if (Fault f = spill_entries(block, size, CacheArrayLayout::limit(meta) / 2); f) {
        fault = f;
        return Inserted::damaged;
      }
      count = load_relaxed(w);
    }
    const std::uint32_t at = block + CacheArrayLayout::entry_at(meta, 0) +
                             static_cast<std::uint32_t>(count) * 8; // the new entry's place
    // An unchecked double free of the last block cached. The offset half is compared first:
    // the keyed check (two multiplies) is computed only when it names this block, which a
    // churn almost never does (callgrind: 5 instructions fewer per pair), with the same result.
    if (count != 0 && static_cast<std::uint32_t>(load_relaxed(mem_.word(at - 8))) == offset)
        [[unlikely]] {
      if (load_relaxed(mem_.word(at - 8)) == node_.encode_entry(offset, size, at - 8))
        return Inserted::duplicate;
    }
    // Relaxed: owner-only words (banner). The entry first, then the count that covers it: a
    // crash between them leaves the block on no list (in flight).
    store_relaxed(mem_.word(at), node_.encode_entry(offset, size, at));
    store_relaxed(w, count + 1);
    LFARENA_CRASH_POINT(cache_pushed);
    return Inserted::ok;
  }

  // pop() in the array layout: the newest entry, checked (its offset a block of this size
  // inside the region, its check the one a push of this size wrote); the block's own words are
  // not read.
  [[gnu::always_inline]] std::uint32_t pop_entry(std::uint32_t block, std::uint32_t size,
                                                 std::uint32_t &damaged) const {
    const std::uint32_t at = block + cache_head_at(size);
    atomic_u64 &w = mem_.word(at);
    const std::uint64_t count = load_relaxed(w);
    const std::uint32_t meta = arrays_.of(size);
    if (count - 1 >= CacheArrayLayout::limit(meta)) { // empty (0 wraps), or damaged
      if (count != 0)
        damaged = at;
      return 0;
    }
    const std::uint32_t where =
        block + CacheArrayLayout::entry_at(meta, static_cast<std::uint32_t>(count) - 1);
    const std::uint64_t e = load_relaxed(mem_.word(where));
    const auto o = static_cast<std::uint32_t>(e);
    if (!node_.plausible_block(o, size) || e != node_.encode_entry(o, size, where)) {
      damaged = o != 0 ? o : at;
      return 0;
    }
    // plausible_block() rejects 0 (0 - data_offset wraps above the area): said to the compiler,
    // so that a caller's test of the result for 0 folds away on this path.
    if (o == 0)
      __builtin_unreachable();
    store_relaxed(w, count - 1);
    LFARENA_CRASH_POINT(cache_popped);
    // Cleared after the count (a crash between leaves a valid entry above the count, never a
    // count over a cleared one; a drain clears it): a damaged count within the limit must
    // find no stale entry of a block handed out since (helper-45).
    store_relaxed(mem_.word(where), 0);
    return o;
  }

  // adopt() in the array layout: the chain's `n` nodes (genuine links: pop_run's CAS) become
  // entries, the first one newest (popped first, as from the stack), each node marked and
  // scrubbed as a pop leaves one (a stale node in a block handed out later must not pass as
  // free). The caller keeps the class within its limit (room()).
  void adopt_entries(std::uint32_t block, std::uint32_t first, std::uint32_t n,
                     std::uint32_t size) const {
    atomic_u64 &w = mem_.word(block + cache_head_at(size));
    const std::uint32_t meta = arrays_.of(size);
    const auto count = static_cast<std::uint32_t>(load_relaxed(w));
    // The run's nodes, from their links: genuine when pop_run()'s CAS won, but nothing stops a
    // user's write after free into one of them since (helper-48). A link that no longer names
    // a block of this size inside the region ends the run there, never a write outside it
    // (the nodes after it are on no list: in flight, as a crash would leave them).
    std::uint32_t run[SegregatedPolicy<Mem>::kRunMax];
    std::uint32_t got = 0;
    for (std::uint32_t o = first;
         got < n && got < SegregatedPolicy<Mem>::kRunMax && node_.plausible_block(o, size);) {
      run[got++] = o;
      o = node_.decode_link(load_relaxed(mem_.word(o + kNodeLinkWord))).offset();
    }
    for (std::uint32_t i = 0; i < got; ++i) {
      const std::uint32_t o = run[i];
      store_relaxed(mem_.word(o + kNodeLinkWord), node_.encode_link(Link::make(0, 0, true)));
      store_relaxed(mem_.word(o + kNodeSizeWord), 0);
      const std::uint32_t at = block + CacheArrayLayout::entry_at(meta, count + got - 1 - i);
      store_relaxed(mem_.word(at), node_.encode_entry(o, size, at));
    }
    store_relaxed(w, count + got);
    LFARENA_CRASH_POINT(cache_pushed);
  }

  // spill() in the array layout: the `n` oldest entries of the class of `size` become a chain of
  // nodes (size words and links written now), newest first as the cache would pop them, pushed
  // on the shared stack with one CAS; the remaining entries move down. On damage only the
  // entries before the bad one are moved.
  [[gnu::noinline]] Fault spill_entries(std::uint32_t block, std::uint32_t size,
                                        std::uint32_t n) const {
    const std::uint32_t at = block + cache_head_at(size);
    atomic_u64 &w = mem_.word(at);
    const std::uint64_t h = load_relaxed(w);
    const std::uint32_t meta = arrays_.of(size);
    // A class below min_segment holds nothing (its nodes would fail decode_size()).
    if (h > CacheArrayLayout::limit(meta) || n == 0 || n > h || size < node_.min_segment())
      return Fault{at};
    const auto count = static_cast<std::uint32_t>(h);
    std::uint32_t oldest[kCacheLimit], chain[kCacheLimit];
    std::uint32_t moved = 0;
    Fault fault;
    for (; moved < n; ++moved) {
      const std::uint32_t where = block + CacheArrayLayout::entry_at(meta, moved);
      const std::uint64_t e = load_relaxed(mem_.word(where));
      const auto o = static_cast<std::uint32_t>(e);
      if (!node_.plausible_block(o, size) || e != node_.encode_entry(o, size, where)) {
        fault = Fault{o != 0 ? o : at};
        break;
      }
      oldest[moved] = o;
    }
    if (moved == 0)
      return fault;
    for (std::uint32_t i = 0; i < moved; ++i)
      chain[i] = oldest[moved - 1 - i];
    // Relaxed: the chain's publishing CAS releases them (banner). The last link is
    // insert_chain()'s.
    for (std::uint32_t i = 0; i < moved; ++i) {
      store_relaxed(mem_.word(chain[i] + kNodeSizeWord), node_.encode_size(chain[i], size));
      if (i + 1 < moved)
        store_relaxed(mem_.word(chain[i] + kNodeLinkWord),
                      node_.encode_link(Link::make(chain[i + 1], 0)));
    }
    write_run_hints(mem_, size, chain, moved);
    // The rest move down and the entries above them are cleared (as a pop clears its own):
    // the class reads empty meanwhile, so a crash during the moves leaves those blocks on no
    // list (in flight, as the chain), never on two (a count over a half-moved array would
    // name some twice).
    // An entry that checks at its old place is keyed anew for its new one; one that does not
    // (damage) keeps its offset (for the report) with the complement of the check its new place
    // wants, so it fails there for certain (moved as it was, a copy of the entry `moved` places
    // below checked at its new place again and handed that block out twice: helper-47).
    store_relaxed(w, 0);
    for (std::uint32_t i = moved; i < count; ++i) {
      const std::uint32_t from = block + CacheArrayLayout::entry_at(meta, i);
      const std::uint32_t to = block + CacheArrayLayout::entry_at(meta, i - moved);
      const std::uint64_t e = load_relaxed(mem_.word(from));
      const auto o = static_cast<std::uint32_t>(e);
      store_relaxed(mem_.word(to), e == node_.encode_entry(o, size, from)
                                       ? node_.encode_entry(o, size, to)
                                       : node_.encode_entry(o, size, to) ^ ~std::uint64_t{0} << 32);
    }
    for (std::uint32_t i = count - moved; i < count; ++i)
      store_relaxed(mem_.word(block + CacheArrayLayout::entry_at(meta, i)), 0);
    store_relaxed(w, count - moved);
    LFARENA_CRASH_POINT(cache_spill_unlinked);
    shared_.insert_chain(chain[0], chain[moved - 1], size);
    return fault;
  }

  // walk() in the array layout.
  template <class Visit> Fault walk_entries(std::uint32_t block, Visit &&visit) const {
    for (std::uint32_t c = first_class_; c < kCacheClasses; ++c) {
      const std::uint32_t at = block + c * kGranule, size = cache_class_bytes(c);
      const std::uint64_t h = load_relaxed(mem_.word(at));
      const std::uint32_t meta = arrays_.of(size);
      if (h > CacheArrayLayout::limit(meta) || (h != 0 && size < node_.min_segment()))
        return Fault{at};
      for (std::uint32_t i = 0; i < h; ++i) {
        const std::uint32_t where = block + CacheArrayLayout::entry_at(meta, i);
        const std::uint64_t e = load_relaxed(mem_.word(where));
        const auto o = static_cast<std::uint32_t>(e);
        if (!node_.plausible_block(o, size) || e != node_.encode_entry(o, size, where) ||
            !visit(o, size))
          return Fault{o != 0 ? o : at};
      }
    }
    return Fault{};
  }

  Mem mem_;
  NodeLayout node_;
  SegregatedPolicy<Mem> shared_; // a copy: a few words, no state of its own
  CacheLimits limits_;           // of this arena's capacity
  CacheArrayLayout arrays_;      // of this arena's capacity (used with array_ only)
  std::uint32_t first_class_;    // 0: word 0 is the 256-byte class (cache_first_class())
  bool array_;                   // kFeatureCacheArray
};

} // namespace lfarena::detail
