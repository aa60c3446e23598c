// lfarena/detail/sorted_policy.hpp -- the optimistic and pessimistic policies: sorted free lists,
// indexed by size class so that neither best fit nor ordered insert walks every free segment.
//
// Sequential spec (unchanged by the index; sorted_list.hpp): all free segments in one order on
// (size, offset) -- optimistic: size descending, allocation takes the first segment (the
// largest) if it fits, else fails; pessimistic: size ascending, allocation takes the first
// segment that fits (best fit).
//
// Representation (format v2, Options::size_index, the default): one sorted Harris list
// (sorted_list.hpp) per size class (size_class.hpp), heads and the bitmap of non-empty classes in
// the class table. Classes are size ranges in size order, so the lists concatenated in class
// order (descending for optimistic) are exactly the one sorted list of the spec, and:
//  - insert walks only the segments of its own class;
//  - pessimistic take starts at floor_class(size) (no smaller class can fit) and walks the
//    classes with their bit set upward; the first fitting segment met is the spec's;
//  - optimistic take reads the head of the highest class with its bit set.
// Cost: O(segments in one class) instead of O(all segments); with segments spread over sizes,
// a fraction 1/populated-classes of the linear scan (bench/churn: lfarena-*-linear vs indexed).
//
// Without a class table (Geometry::class_table_offset == 0: format v1 files, or size_index off)
// there is one list at hdr::freelist_head and every segment is in "class 0": the linear policy.
//
// Bitmap: a hint with the guarantee of size_class.hpp (every non-empty class has its bit set at
// quiescence); in a sequential run a clear bit always means an empty class (a set bit may be
// stale: the class is then found empty and skipped), so the spec holds exactly. A class found empty
// clears its bit. Before reporting failure, every class is read afresh (a bit may lag a
// concurrent insert), so no allocation fails spuriously.
//
// Damage met in any list is reported at once (Inserted::damaged, Taken::damaged): a damaged class
// is never skipped silently, since its segments would look lost.
//
// Thread-safety: insert() and take() are lock-free and may run concurrently from any thread or
// process; walk() is for quiescent checks.
#pragma once

#include <cstdint>

#include "lfarena/detail/atomic.hpp"
#include "lfarena/detail/header.hpp"
#include "lfarena/detail/node.hpp"
#include "lfarena/detail/segment.hpp"
#include "lfarena/detail/size_class.hpp"
#include "lfarena/detail/sorted_list.hpp"
#include "lfarena/detail/tagged.hpp"

namespace lfarena::detail {

template <class Mem> class SortedPolicy {
public:
  SortedPolicy(Mem mem, const Geometry &g)
      : mem_(mem), geo_(g), node_(g), table_(mem, g.class_table_offset),
        optimistic_(g.freelist_kind == FreelistKind::optimistic) {}

  bool indexed() const { return geo_.class_table_offset != 0; }

  // Inserts the owned segment [offset, offset+size) (size >= min_segment) in order in its class.
  Inserted insert(std::uint32_t offset, std::uint32_t size, Fault &fault) const {
    const std::uint32_t c = class_of(size);
    const Inserted r = list(c).insert(offset, size, fault);
    if (r == Inserted::ok && indexed())
      table_.note_nonempty(c);
    return r;
  }

  // Takes a segment for `size` bytes at `align` (the spec's choice) and splits it, giving pieces
  // worth keeping to give_back(offset, size). Taken::damaged names a damaged node met.
  template <class GiveBack>
  Taken take(std::uint32_t size, std::uint32_t align, GiveBack &&give_back) const {
    if (!indexed())
      return list(0).take(size, align, give_back);
    return optimistic_ ? take_largest(size, align, give_back)
                       : take_best_fit(size, align, give_back);
  }

  // Quiescent walk in the spec's order: visit(offset, size) for every node. Returns the first
  // damage (SortedList::walk(), which also rejects a node filed in the wrong class).
  template <class Visit> Fault walk(Visit &&visit, bool allow_marked = false) const {
    if (!indexed())
      return list(0).walk(visit, allow_marked);
    for (std::uint32_t i = 0; i < kClassCount; ++i) {
      const std::uint32_t c = optimistic_ ? kClassCount - 1 - i : i;
      const Fault f = list(c).walk(visit, allow_marked);
      if (f)
        return f;
    }
    return Fault{};
  }

  // May node (sb, ob) follow node (sa, oa) in the spec's order (sizes ordered; equal sizes in
  // any order, or by offset in a format v1-v3 file)? Every list and check uses it.
  bool in_order(std::uint64_t sa, std::uint32_t oa, std::uint64_t sb, std::uint32_t ob) const {
    return SortedList<Mem>::in_order(optimistic_, geo_.ties_by_offset, sa, oa, sb, ob);
  }
  // A strict total order that in_order() accepts for every file: sizes, then offsets (salvage
  // rebuilds lists in it).
  bool before(std::uint64_t sa, std::uint32_t oa, std::uint64_t sb, std::uint32_t ob) const {
    return SortedList<Mem>::in_order(optimistic_, true, sa, oa, sb, ob);
  }

  // Head words of every list (recovery walks them): hdr::freelist_head, or the class heads.
  std::uint32_t list_count() const { return indexed() ? kClassCount : 1; }
  std::uint32_t head_at(std::uint32_t c) const {
    return indexed() ? table_.head_at(c) : hdr::freelist_head;
  }

private:
  std::uint32_t class_of(std::uint64_t size) const { return indexed() ? floor_class(size) : 0; }
  SortedList<Mem> list(std::uint32_t c) const {
    return {mem_, node_, geo_, head_at(c), indexed() ? c : SortedList<Mem>::kAnyClass};
  }
  bool empty(std::uint32_t c) const {
    return Link{load_acquire(mem_.word(head_at(c)))}.offset() == 0;
  }

  // Pessimistic: the first fit in the first class (upward from floor_class(size)) that has one.
  template <class GiveBack>
  Taken take_best_fit(std::uint32_t size, std::uint32_t align, GiveBack &give_back) const {
    const std::uint32_t first = floor_class(size);
    for (std::uint32_t c = table_.next_set(first); c < kClassCount; c = table_.next_set(c + 1)) {
      if (const Taken t = list(c).take(size, align, give_back); t.offset != 0 || t.damaged != 0)
        return t;
      if (empty(c))
        table_.clear_if_empty(c);
    }
    return fallback(first, size, align, give_back);
  }

  // Optimistic: the head of the highest non-empty class, if it fits.
  template <class GiveBack>
  Taken take_largest(std::uint32_t size, std::uint32_t align, GiveBack &give_back) const {
    for (std::uint32_t c = table_.prev_set(kClassCount - 1); c < kClassCount;
         c = c == 0 ? kClassCount : table_.prev_set(c - 1)) {
      bool was_empty = false;
      if (const Taken t = list(c).take(size, align, give_back, &was_empty);
          t.offset != 0 || t.damaged != 0)
        return t;
      // The traversal's own verdict, not a re-read: an insert after it must not turn "this
      // class was empty" into "its head does not fit" (a spurious failure).
      if (!was_empty)
        return {}; // the largest segment does not fit: nothing does (no scan past the head)
      table_.clear_if_empty(c);
    }
    // Only classes that could hold `size` at all (lower ones hold smaller segments).
    return fallback(floor_class(size), size, align, give_back);
  }
  // Before failing: every candidate class read afresh (bits may lag a concurrent insert).
  template <class GiveBack>
  Taken fallback(std::uint32_t first, std::uint32_t size, std::uint32_t align,
                 GiveBack &give_back) const {
    for (std::uint32_t i = first; i < kClassCount; ++i) {
      const std::uint32_t c = optimistic_ ? kClassCount - 1 - (i - first) : i;
      if (Link{load_latest_acq_rel(mem_.word(head_at(c)))}.offset() == 0)
        continue;
      bool was_empty = false;
      if (const Taken t = list(c).take(size, align, give_back, &was_empty);
          t.offset != 0 || t.damaged != 0)
        return t;
      if (optimistic_ && !was_empty)
        return {};
    }
    return {};
  }

  Mem mem_;
  Geometry geo_;
  NodeLayout node_;
  ClassTable<Mem> table_;
  bool optimistic_;
};

} // namespace lfarena::detail
