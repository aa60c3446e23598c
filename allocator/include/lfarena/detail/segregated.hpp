// lfarena/detail/segregated.hpp -- the `segregated` freelist policy: O(1) size classes.
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
// (size_class.hpp). Nodes are the first 16 bytes of a free segment, like the sorted list's:
// word(o) = Link{next}, word(o+8) = size. Only heads are ever CAS'd.
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
// Thread-safety: insert() and take() are lock-free and may run concurrently from any thread or
// process; walk() is for quiescent checks.
#pragma once

#include <cstdint>

#include "lfarena/detail/atomic.hpp"
#include "lfarena/detail/header.hpp"
#include "lfarena/detail/memory.hpp"
#include "lfarena/detail/mutant.hpp"
#include "lfarena/detail/segment.hpp"
#include "lfarena/detail/size_class.hpp"
#include "lfarena/detail/tagged.hpp"

namespace lfarena::detail {

template <class Mem> class SegregatedFreelist {
public:
  SegregatedFreelist(Mem mem, const Geometry &g)
      : mem_(mem), table_(mem, g.class_table_offset), capacity_(g.capacity),
        data_offset_(g.data_offset), min_segment_(g.min_segment),
        max_nodes_((g.capacity - g.data_offset) / g.min_segment + 1) {}

  // Pushes the owned segment [offset, offset+size) (size >= min_segment) on its class. False
  // if it is already the top of that class (an unchecked double free caught cheaply; one deeper
  // in the stack is not detected: unchecked double frees are undefined behaviour).
  bool insert(std::uint32_t offset, std::uint32_t size) const {
    const std::uint32_t c = floor_class(size);
    atomic_u64 &head = table_.head(c);
    // Relaxed: published by the seq_cst CAS below.
    store_relaxed(mem_.word(offset + 8), size);
    Link h{load_relaxed(head)};
    for (;;) {
      if (h.offset() == offset)
        return false;
      store_relaxed(mem_.word(offset), Link::make(h.offset(), 0).raw);
      // Seq_cst (release would do for the node's words, which the popper acquires): the bitmap
      // protocol orders this push before the bit read below (size_class.hpp). On failure `h`
      // is refreshed (the latest head) and we relink.
      if constexpr (mutant::relaxed_publish) {
        if (cas_relaxed(head, h.raw, next_link(h, offset).raw))
          break;
      } else if (cas_seq_cst(head, h.raw, next_link(h, offset).raw)) {
        break;
      }
    }
    table_.note_nonempty(c);
    return true;
  }

  Taken take(std::uint32_t size, std::uint32_t align) const {
    const std::uint64_t need = std::uint64_t{size} + (align > kGranule ? align - kGranule : 0);
    if (need > capacity_)
      return {};
    // kClassCount when `need` is above the top class's lower bound: then only the top class
    // (first - 1) can hold it, through the exact-fit pop and the search below.
    const std::uint32_t ceil = ceil_class(need);
    const std::uint32_t first = ceil < kClassCount ? ceil : kClassCount;
    // Exact fits first: the class below `first` holds segments that may or may not fit; its top
    // one is taken if it does (uniform sizes then reuse freed blocks as they are, instead of
    // splitting bigger segments into crumbs that nothing coalesces).
    std::uint32_t seg = first > 0 ? pop(first - 1, false, need) : 0;
    for (std::uint32_t c = table_.next_set(first); c < kClassCount && seg == 0;
         c = table_.next_set(c + 1)) {
      seg = pop(c);
      if (seg == 0)
        table_.clear_if_empty(c);
    }
    // Before failing: the floor class may hold a fitting segment below its top (bounded search),
    // and the bitmap may lag a push (banner), so read the heads fresh.
    if (seg == 0 && first > 0)
      seg = search(first - 1, need);
    for (std::uint32_t c = first; c < kClassCount && seg == 0; ++c)
      seg = pop(c, true);
    if (seg == 0)
      return {};
    // We own the popped node; its size was published with it.
    const auto seg_size = static_cast<std::uint32_t>(load_relaxed(mem_.word(seg + 8)));
    return split_segment(seg, seg_size, size, align, min_segment_,
                         [this](std::uint32_t o, std::uint32_t s) { insert(o, s); });
  }

  // Quiescent walk: visit(offset, size, class) for every node of every class; false on an
  // out-of-range offset, a node in the wrong class, or a cycle.
  template <class Visit> bool walk(Visit &&visit) const {
    std::uint64_t steps = 0;
    for (std::uint32_t c = 0; c < kClassCount; ++c) {
      for (Link cur{load_acquire(table_.head(c))}; cur.offset() != 0; ++steps) {
        const std::uint32_t o = cur.offset();
        if (steps >= max_nodes_ || o < data_offset_ || o % kGranule != 0 ||
            std::uint64_t{o} + 16 > capacity_)
          return false;
        const std::uint64_t size = load_relaxed(mem_.word(o + 8));
        if (size < min_segment_ || floor_class(size) != c || !visit(o, size))
          return false;
        cur = Link{load_acquire(mem_.word(o))};
      }
    }
    return true;
  }

private:
  Link next_link(Link head, std::uint32_t target) const {
    if constexpr (mutant::tag_not_incremented)
      return Link::make(target, head.tag());
    return head.redirect(target);
  }

  // Pops the top node of class c; 0 if the class is empty or (min_size) its top node is
  // smaller than min_size. `fresh`: read the head's latest value (an RMW) instead of a load
  // that may return an older one.
  std::uint32_t pop(std::uint32_t c, bool fresh = false, std::uint64_t min_size = 0) const {
    atomic_u64 &head = table_.head(c);
    // Acquire: pairs with the pusher's release CAS, so the node's words are visible.
    Link h{fresh ? load_latest_acq_rel(head) : load_acquire(head)};
    while (h.offset() != 0) {
      Link next;
      std::uint64_t size = 0;
      {
        [[maybe_unused]] Speculative spec; // the node may have been popped and reused since
        next = Link{load_acquire(mem_.word(h.offset()))};
        if (min_size != 0)
          size = load_relaxed(mem_.word(h.offset() + 8));
      }
      // Like `next`, `size` is genuine if the CAS below succeeds; if it was stale and we give
      // up, we only skipped a candidate of a class that is not guaranteed to fit anyway.
      if (size < min_size)
        return 0;
      // acq_rel: acquire orders the segment's previous contents before our user's writes;
      // release continues the chain for the next popper. Fails (refreshing h) if anyone pushed
      // or popped since we read h, which is what makes a stale `next` harmless.
      if (cas_acq_rel(head, h.raw, next_link(h, next.offset()).raw))
        return h.offset();
    }
    return 0;
  }

  // Pops up to kSearchDepth nodes of class c looking for one of at least `need` bytes, and
  // pushes the others back. Bounded work; meanwhile the held nodes are invisible to others
  // (they may see the class emptier than it is), and after a crash they are in flight (leaked).
  static constexpr unsigned kSearchDepth = 8;
  std::uint32_t search(std::uint32_t c, std::uint64_t need) const {
    std::uint32_t held[kSearchDepth];
    unsigned n = 0;
    std::uint32_t found = 0;
    while (n < kSearchDepth) {
      const std::uint32_t o = pop(c);
      if (o == 0)
        break;
      if (load_relaxed(mem_.word(o + 8)) >= need) { // ours now: the size is genuine
        found = o;
        break;
      }
      held[n++] = o;
    }
    while (n > 0) {
      const std::uint32_t o = held[--n];
      (void)insert(o, static_cast<std::uint32_t>(load_relaxed(mem_.word(o + 8))));
    }
    return found;
  }

  Mem mem_;
  ClassTable<Mem> table_;
  std::uint32_t capacity_;
  std::uint32_t data_offset_;
  std::uint32_t min_segment_;
  std::uint64_t max_nodes_;
};

} // namespace lfarena::detail
