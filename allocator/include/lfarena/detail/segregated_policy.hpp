// lfarena/detail/segregated_policy.hpp -- the `segregated` freelist policy: O(1) size classes.
//
// Free segments live in kClassCount lock-free stacks (TLSF-style classes): sizes below 256 have
// one class per 8 bytes; from 256 up, each power of two is cut into 8 sub-classes. A segment of
// size s goes on the stack of floor_class(s). An allocation needing n bytes (size plus worst-case
// alignment padding) starts at ceil_class(n), the first class whose every segment fits, and pops
// the first non-empty class from there, found with a bitmap of non-empty classes: O(1) in the
// number of free segments. Fit error (documented bound): the segment handed out is at most one
// class above the smallest that fits, i.e. at most 8 bytes (small) or 1/8 (large) bigger than
// needed before splitting; the split (segment.hpp) returns any remainder >= min_segment.
//
// Representation: a stack head per class, a Link {top offset, tag} in the class table
// (size_class.hpp). Nodes are the sorted list's (node.hpp: an encoded link to the next node, a
// checked size word). Only heads are ever CAS'd.
//
// Why pop is safe although the node's `next` may be read after the node was popped, handed out
// and overwritten by a user: that value is only ever used in a CAS of the head that expects the
// head word we read before it, tag included; every push and pop bumps the tag, so if the CAS
// succeeds no pop happened in between and `next` was the node's genuine link (published by the
// pusher's release, which our acquire load of the head synchronised with).
//
// The bitmap is a hint (protocol and its seq_cst argument: size_class.hpp): a push sets its bit
// after the push, a pop that finds a class empty clears the bit and re-sets it if the class
// turned non-empty meanwhile. A class that is non-empty with its bit still clear (a push between
// its CAS and its bit update) is found by the fallback scan, which runs only before reporting
// failure, so no allocation fails spuriously.
//
// Damage: before the CAS a pop checks the node it read (offset, size word check, its size class:
// a copied link can lead into another class's stack, the next offset's range, no link to
// itself, no mark: a popped node's link is left marked, so a cycle that leads back to a node
// already handed out is refused). If the node is bad and the head
// still holds the value that led to it, the node is the genuine top (nobody popped it, so nobody
// recycled it) and its words are damaged: the pop reports its offset instead of following it (a
// stray user write can never send a pop outside the region). If the head changed, another thread
// made progress: retry.
//
// Thread-safety: insert() and take() are lock-free and may run concurrently from any thread or
// process; walk() is for quiescent checks.
#pragma once

#include <cstdint>

#include "lfarena/detail/atomic.hpp"
#include "lfarena/detail/crash_point.hpp"
#include "lfarena/detail/header.hpp"
#include "lfarena/detail/memory.hpp"
#include "lfarena/detail/mutant.hpp"
#include "lfarena/detail/node.hpp"
#include "lfarena/detail/run_hints.hpp"
#include "lfarena/detail/segment.hpp"
#include "lfarena/detail/size_class.hpp"
#include "lfarena/detail/tagged.hpp"

namespace lfarena::detail {

template <class Mem> class SegregatedPolicy {
public:
  SegregatedPolicy(Mem mem, const Geometry &g)
      : mem_(mem), node_(g), table_(mem, g.class_table_offset), capacity_(g.capacity),
        min_segment_(g.min_segment) {}

  // Pushes the owned segment [offset, offset+size) (size >= min_segment) on its class. `duplicate`
  // if it is already the top of that class (an unchecked double free caught cheaply; one deeper
  // in the stack is not detected: unchecked double frees are undefined behaviour).
  Inserted insert(std::uint32_t offset, std::uint32_t size) const {
    const std::uint32_t c = floor_class(size);
    atomic_u64 &head = table_.head(c);
    Link h{load_relaxed(head)};
    if (h.offset() == offset) // before writing anything: the top node's words tell
      return duplicate_or_damaged(offset);
    // Relaxed: published by the seq_cst CAS below.
    store_relaxed(mem_.word(offset + kNodeSizeWord), node_.encode_size(offset, size));
    for (;;) {
      if (h.offset() == offset)
        return duplicate_or_damaged(offset);
      store_relaxed(mem_.word(offset + kNodeLinkWord),
                    node_.encode_link(Link::make(h.offset(), 0)));
      // Seq_cst (release would do for the node's words, which the popper acquires): the bitmap
      // protocol orders this push before the bit read below (size_class.hpp). On failure `h`
      // is refreshed (the latest head) and we relink.
      if constexpr (LFARENA_SEEDED_BUG(relaxed_publish)) {
        if (cas_relaxed(head, h.raw, next_link(h, offset).raw))
          break;
      } else if (cas_seq_cst(head, h.raw, next_link(h, offset).raw)) {
        break;
      }
    }
    LFARENA_CRASH_POINT(segregated_pushed);
    table_.note_nonempty(c);
    return Inserted::ok;
  }

  // Pushes the chain first .. last (linked through their link words, every node of `size`
  // bytes, owned by the caller: a thread cache's spill, free_cache.hpp) on the class of `size`
  // with one CAS: last's link is rewritten to the current top until the CAS succeeds. No
  // duplicate check (the chain's nodes were checked where they were cached).
  void insert_chain(std::uint32_t first, std::uint32_t last, std::uint32_t size) const {
    const std::uint32_t c = floor_class(size);
    atomic_u64 &head = table_.head(c);
    Link h{load_relaxed(head)};
    for (;;) {
      store_relaxed(mem_.word(last + kNodeLinkWord), node_.encode_link(Link::make(h.offset(), 0)));
      // Seq_cst, as insert(): its release publishes every node of the chain (written by this
      // thread before), and the bitmap protocol needs the publish in S (size_class.hpp).
      if constexpr (LFARENA_SEEDED_BUG(relaxed_publish)) {
        if (cas_relaxed(head, h.raw, next_link(h, first).raw))
          break;
      } else if (cas_seq_cst(head, h.raw, next_link(h, first).raw)) {
        break;
      }
    }
    LFARENA_CRASH_POINT(segregated_pushed);
    table_.note_nonempty(c);
  }

  // Pops the top node of the stack of `size`'s class if it is a block of exactly `size` bytes,
  // for a thread cache's refill (free_cache.hpp): its offset, or 0 if the stack is empty, its
  // top is another size (the class of 256 holds 256..287: the top is left where it is) or
  // damaged (then *damaged names it). No split, and no bitmap update: a set bit of a class this
  // leaves empty is a stale hint, which take() clears.
  std::uint32_t pop_exact(std::uint32_t size, std::uint32_t &damaged) const {
    const Popped p = pop(floor_class(size), false, size, size);
    if (p.damaged != 0)
      damaged = p.damaged;
    return p.offset; // pop() took it only if it is exactly `size` bytes
  }

  // The most nodes pop_run() takes with one CAS (a cache class's refill is at most half its
  // limit: free_cache.hpp kCacheBatch).
  static constexpr std::uint32_t kRunMax = 32;
  // A run of popped nodes: first -> second -> ... -> last, linked as the stack linked them
  // (last's link still names the node that is now the top). second is 0 if count is 1.
  struct Run {
    std::uint32_t first = 0, second = 0, last = 0, count = 0;
  };

  // Pops up to `max` (1..kRunMax) nodes of exactly `size` bytes from the top of the stack of
  // `size`'s class with one CAS, for a thread cache's refill (Core::cache_refill): the caller
  // hands out `first` (scrubbed and marked as pop() leaves a node) and keeps the rest, whose
  // words are still the stack's (a cache chain has the same format, free_cache.hpp). count 0:
  // the stack is empty, its top is another size, or damaged (*damaged names it).
  //
  // Why one CAS: a producer whose blocks another thread frees refills every class from the
  // stacks, and with a pop per block every block paid a CAS on the line the freeing thread's
  // spills CAS too. Why it is safe: the walk reads nodes that may have been popped and reused
  // meanwhile, but the CAS expects the head word (tag included) read before the walk; if it
  // succeeds, no push or pop happened since, so every link read was the node's genuine link
  // (the argument of pop() and the banner, over more nodes). The run ends before a node of
  // another size, or with a marked link: that node stays the top for the next pop, which
  // takes, skips or reports it. Damage within the run (a link out of the region, or back into
  // the run: a cycle that would leave a handed-out node on the stack) falls back to a single
  // pop of the top, which has pop()'s checks; the deeper damage is met by later pops, as
  // before runs.
  Run pop_run(std::uint32_t size, std::uint32_t max, std::uint32_t &damaged) const {
    atomic_u64 &head = table_.head(floor_class(size));
    std::uint32_t seen[kRunMax];
    max = max < 1 ? 1 : max > kRunMax ? kRunMax : max;
    const std::uint32_t cap = run_hint_cap(size); // hints per node (run_hints.hpp)
    // Acquire: pairs with the pushers' release CASes (every push is an RMW of the head, so the
    // head's value carries all of them), so the nodes' words are visible.
    Link h{load_acquire(head)};
    for (;;) {
      std::uint32_t n = 0, at = h.offset();
      bool clean = true;
      RunFilter filter;
      {
        [[maybe_unused]] Speculative spec; // the nodes may have been popped and reused since
        while (at != 0 && n < max) {
          // The whole block inside the region (a size word forged with the key must not hand
          // out bytes past it): plausible_block, then one compare with the size word a node of
          // exactly this size has (decode_size()'s checks for a known size).
          if (!node_.plausible_block(at, size) ||
              (filter.test_and_set(at) && contains(seen, n, at))) {
            clean = false;
            break;
          }
          const Link next = node_.decode_link(load_acquire(mem_.word(at + kNodeLinkWord)));
          if (next.marked() ||
              load_relaxed(mem_.word(at + kNodeSizeWord)) != node_.encode_size(at, size))
            break;
          // The addresses of nodes further down, if a spill left them here (the walk's n-th
          // node names nodes n*cap+1 .. n*cap+cap of the run): fetched together instead of one
          // miss per link (only prefetches: the links above stay the walk's sole guide).
          if (cap != 0 && n * cap + 1 < max)
            prefetch_run_hints(mem_, node_, at, size, max - 1 - n * cap);
          seen[n++] = at;
          at = next.offset();
        }
      }
      // A full run's last link becomes the head unread: back into the run, it would leave the
      // head on a node of the caller's cache (helper-24: another refill took the same blocks).
      if (clean && n == max && filter.test(at) && contains(seen, n, at))
        clean = false;
      if (n == 0 || !clean) { // the top alone, with pop()'s checks and damage report
        const std::uint32_t o = pop_exact(size, damaged);
        return o != 0 ? Run{o, 0, o, 1} : Run{};
      }
      if constexpr (LFARENA_SEEDED_BUG(run_head_reloaded))
        h = Link{load_acquire(head)}; // seeded bug: the walk may have read another stack
      // acq_rel, as pop(): acquire orders the nodes' previous contents before our writes;
      // release continues the chain for the next popper. Fails (refreshing h) if anyone
      // pushed or popped since we read h, which is what makes the walk's links genuine.
      if (cas_acq_rel(head, h.raw, next_link(h, at).raw)) {
        LFARENA_CRASH_POINT(segregated_popped);
        // The first node is handed out: marked and scrubbed as pop() leaves it.
        store_relaxed(mem_.word(seen[0] + kNodeLinkWord),
                      node_.encode_link(Link::make(0, 0, true)));
        store_relaxed(mem_.word(seen[0] + kNodeSizeWord), 0);
        return Run{seen[0], n > 1 ? seen[1] : 0, seen[n - 1], n};
      }
    }
  }

  // Takes a segment for `size` bytes at `align` and splits it, giving pieces worth keeping to
  // give_back(offset, size). {0,0,0} if none fits; Taken::damaged names a damaged node found.
  template <class GiveBack>
  Taken take(std::uint32_t size, std::uint32_t align, GiveBack &&give_back) const {
    const std::uint64_t need = std::uint64_t{size} + (align > kGranule ? align - kGranule : 0);
    if (need > capacity_)
      return {};
    // kClassCount when `need` is above the top class's lower bound: then only the top class
    // (first - 1) can hold it, through the exact-fit pop and the search below.
    const std::uint32_t ceil = ceil_class(need);
    const std::uint32_t first = ceil < kClassCount ? ceil : kClassCount;
    // The class below `first` holds segments that may or may not fit, unless `need` is its
    // upper neighbour's lower bound (then floor == first: none of them fits, skip it).
    const std::uint32_t floor = floor_class(need);
    const bool floor_may_fit = floor < first;
    // Exact fits first: the floor class's top segment is taken if it fits (uniform sizes then
    // reuse freed blocks as they are, instead of splitting bigger segments into crumbs that
    // nothing coalesces).
    Popped p = floor_may_fit ? pop(floor, false, need) : Popped{};
    // The next set bit is looked up only after a pop came back empty (a for-loop increment
    // would scan the bitmap once more after every successful pop).
    for (std::uint32_t c = p.empty() ? table_.next_set(first) : kClassCount; c < kClassCount;) {
      p = pop(c);
      if (!p.empty())
        break;
      table_.clear_if_empty(c);
      c = table_.next_set(c + 1);
    }
    // Before failing: the floor class may hold a fitting segment below its top (bounded search),
    // and the bitmap may lag a push (banner), so read the heads fresh.
    if (p.empty() && floor_may_fit)
      p = search(floor, need);
    for (std::uint32_t c = first; c < kClassCount && p.empty(); ++c)
      p = pop(c, true);
    if (p.damaged != 0)
      return Taken{0, 0, 0, p.damaged};
    if (p.offset == 0)
      return {};
    return split_segment(p.offset, p.size, size, align, min_segment_, give_back);
  }

  // Quiescent walk: visit(offset, size) for every node of every class. Returns the first
  // damage: an offset out of range, a size word failing its check, a node in the wrong class, a
  // marked link, a cycle, or a node visit() rejects.
  template <class Visit> Fault walk(Visit &&visit) const {
    std::uint64_t steps = 0;
    const std::uint64_t limit = node_.max_nodes();
    for (std::uint32_t c = 0; c < kClassCount; ++c) {
      std::uint32_t at = table_.head_at(c);
      for (Link cur{load_acquire(table_.head(c))}; cur.offset() != 0; ++steps) {
        const std::uint32_t o = cur.offset();
        if (steps >= limit || !node_.plausible_offset(o))
          return Fault{steps >= limit ? o : at};
        const std::uint32_t size = node_.decode_size(o, load_relaxed(mem_.word(o + kNodeSizeWord)));
        const Link next = node_.decode_link(load_acquire(mem_.word(o + kNodeLinkWord)));
        // A linked stack node is never marked (only a popped one is: pop()).
        if (size == 0 || floor_class(size) != c || next.marked() || !visit(o, size))
          return Fault{o};
        at = o;
        cur = next;
      }
    }
    return Fault{};
  }

private:
  struct Popped {
    std::uint32_t offset = 0; // 0: nothing popped
    std::uint32_t size = 0;
    std::uint32_t damaged = 0; // the damaged node met, if any
    bool empty() const { return offset == 0 && damaged == 0; }
  };

  // The offsets a run walk has met, as a 512-bit filter of offset / kGranule: a node whose bit
  // is clear is not in the run, and only a set bit is confirmed by contains(). Offsets within
  // 4 KiB of each other never share a bit (stacked blocks are often that close). Why: testing
  // every node against the whole run with contains() made a 32-node walk about 500 compares;
  // callgrind, cross-thread benchmark, mixed sizes: pop_run about 1480 instructions per refill.
  struct RunFilter {
    std::uint64_t bits[8] = {};
    static std::uint32_t bit(std::uint32_t o) { return o / kGranule % 512; }
    bool test(std::uint32_t o) const { return (bits[bit(o) / 64] >> (bit(o) % 64) & 1) != 0; }
    bool test_and_set(std::uint32_t o) {
      const bool was = test(o);
      bits[bit(o) / 64] |= std::uint64_t{1} << (bit(o) % 64);
      return was;
    }
  };
  static bool contains(const std::uint32_t *seen, std::uint32_t n, std::uint32_t o) {
    for (std::uint32_t i = 0; i < n; ++i)
      if (seen[i] == o)
        return true;
    return false;
  }

  // The top of a stack is the segment being freed: a real (unchecked) double free leaves its
  // node words valid; a live block installed as the top by damage (a stale link written into a
  // free node) has its size word scrubbed by the pop that handed it out, or user data there.
  Inserted duplicate_or_damaged(std::uint32_t offset) const {
    const std::uint64_t word = load_relaxed(mem_.word(offset + kNodeSizeWord));
    return node_.decode_size(offset, word) != 0 ? Inserted::duplicate : Inserted::damaged;
  }

  Link next_link(Link head, std::uint32_t target) const {
    if constexpr (LFARENA_SEEDED_BUG(tag_not_incremented))
      return Link::make(target, head.tag());
    return head.redirect(target);
  }

  // Pops the top node of class c; empty if the class is empty or its top node is smaller than
  // min_size or larger than max_size. `fresh`: read the head's latest value (an RMW) instead
  // of a load that may return an older one.
  Popped pop(std::uint32_t c, bool fresh = false, std::uint64_t min_size = 0,
             std::uint64_t max_size = UINT64_MAX) const {
    atomic_u64 &head = table_.head(c);
    // Acquire: pairs with the pusher's release CAS, so the node's words are visible.
    Link h{fresh ? load_latest_acq_rel(head) : load_acquire(head)};
    while (h.offset() != 0) {
      const std::uint32_t o = h.offset();
      Link next;
      std::uint32_t size = 0;
      if (node_.plausible_offset(o)) {
        [[maybe_unused]] Speculative spec; // the node may have been popped and reused since
        next = node_.decode_link(load_acquire(mem_.word(o + kNodeLinkWord)));
        size = node_.decode_size(o, load_relaxed(mem_.word(o + kNodeSizeWord)));
      }
      // `next` and `size` are genuine if the head still holds h (checked by the CAS, or by the
      // re-read below): nobody popped o since, so nobody recycled it.
      if (size == 0 || floor_class(size) != c || next.marked() || next.offset() == o ||
          (next.offset() != 0 && !node_.plausible_offset(next.offset()))) {
        // The latest head (an RMW reads the last value in modification order; a plain load
        // could return h although a popper already changed it, and then see its mark): still h
        // means no push or pop since we read h, so o is still the top and these are its words.
        const std::uint64_t now =
            LFARENA_SEEDED_BUG(damage_eager) ? load_acquire(head) : load_latest_acq_rel(head);
        if (now == h.raw)
          return Popped{0, 0, o}; // the top node itself is damaged
        h = Link{now};
        continue;
      }
      // If it was stale and we give up, we only skipped a candidate of a class that is not
      // guaranteed to fit anyway.
      if (size < min_size || size > max_size)
        return {};
      // acq_rel: acquire orders the segment's previous contents before our user's writes;
      // release continues the chain for the next popper. Fails (refreshing h) if anyone pushed
      // or popped since we read h, which is what makes a stale `next` harmless.
      if (cas_acq_rel(head, h.raw, next_link(h, next.offset()).raw)) {
        LFARENA_CRASH_POINT(segregated_popped);
        // Ours. A popped node's link is left marked (never valid in a stack): if damage ever
        // leads a pop here again (a cycle), the node is refused instead of handed out twice.
        // Its size word is scrubbed, so the user never finds a valid one in its block (and
        // could write it back after a free, passing the check with a stale size).
        store_relaxed(mem_.word(o + kNodeLinkWord), node_.encode_link(Link::make(0, 0, true)));
        store_relaxed(mem_.word(o + kNodeSizeWord), 0);
        // The next pop of this class reads the next node's words, most often written by another
        // thread (a cross-thread free): start fetching its line now, while our caller uses o.
        // Only a hint (it may be popped by someone else meanwhile): no access, no race.
        mem_.prefetch(next.offset());
        return Popped{o, size, 0};
      }
    }
    return {};
  }

  // Pops up to kSearchDepth nodes of class c looking for one of at least `need` bytes, and
  // pushes the others back. Bounded work; meanwhile the held nodes are invisible to others
  // (they may see the class emptier than it is), and after a crash they are in flight (leaked).
  static constexpr unsigned kSearchDepth = 8;
  Popped search(std::uint32_t c, std::uint64_t need) const {
    Popped held[kSearchDepth];
    unsigned n = 0;
    Popped found;
    while (n < kSearchDepth) {
      const Popped p = pop(c);
      if (p.empty() || p.damaged != 0 || p.size >= need) { // ours now: the size is genuine
        found = p;
        break;
      }
      held[n++] = p;
    }
    while (n > 0) {
      const Popped &p = held[--n];
      (void)insert(p.offset, p.size);
    }
    return found;
  }

  Mem mem_;
  NodeLayout node_;
  ClassTable<Mem> table_;
  std::uint32_t capacity_;
  std::uint32_t min_segment_;
};

} // namespace lfarena::detail
