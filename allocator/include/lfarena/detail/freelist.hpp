// lfarena/detail/freelist.hpp -- one lock-free sorted list of free segments (the building block
// of the optimistic and pessimistic policies; sorted_index.hpp keeps one per size class).
//
// Sequential spec: free segments form one list sorted by a total order on (size, offset):
//   optimistic  -- size descending, then offset ascending; allocation takes the head if it fits;
//   pessimistic -- size ascending,  then offset ascending; allocation takes the first that fits.
// (Ties on size are broken by offset so that every node has exactly one place in the order; a
// remover can then find "its" node again, see ensure_unlinked().)
//
// Representation: a free segment at offset `o` holds its own node in its first 16 bytes:
//   word(o)     link  -- Link {next offset, tag, mark}   (detail/tagged.hpp)
//   word(o + 8) size  -- segment size in bytes (multiple of kGranule, >= min_segment)
// The head is a Link at `head_at`: hdr::freelist_head (one list, format v1) or a size class's
// head in the class table. A node's size never changes while the node is linked; a split
// removes the node and the caller inserts the remainder as a fresh node (in its own class).
//
// Algorithm (Harris list with tags and helping):
//  - remove = mark the victim's link (logical), then CAS the predecessor's link past it
//    (physical). Every traversal that meets a marked node unlinks it itself before going on
//    (helping), so a failed unlink never leaves a zombie and nobody spins on one.
//  - the thread that marked a node owns the segment, but only hands it out after the node is
//    physically unlinked (by itself or a helper): ensure_unlinked() guarantees it.
//  - every CAS of the head is seq_cst: the size-class bitmap protocol (size_class.hpp) needs
//    the publish that makes a class non-empty in the single total order (the unlinks need not
//    be, but one rule for the head is simpler; same instructions on x86); other link CASes are
//    acquire/release as commented.
//  - every CAS'd link carries a tag that changes with every write: the head's counts up; a
//    node link word (recyclable memory) gets a fresh value from the header's node_tags counter
//    each time (fresh_tag()), so no two lives of a word share a tag, and a CAS prepared from a
//    stale read (ABA: the segment was removed, handed out, freed and reinserted) fails.
//  - a node's words are read speculatively and confirmed by re-reading the predecessor's link
//    (read_node()): a traverser never acts on a recycled segment's user bytes.
//  - any offset read from a node may be stale (the segment may have been handed out and
//    overwritten since): it is bounds- and alignment-checked before use, traversals are bounded
//    by the largest possible node count, and nonsense restarts the traversal from the head.
//
// Thread-safety: insert() and take() may run concurrently from any threads/processes. walk()
// is for quiescent checks only. Lock-free: every restart is caused by a CAS that succeeded in
// another thread (or by a stale read, which implies one).
#pragma once

#include <cstdint>

#include "lfarena/detail/atomic.hpp"
#include "lfarena/detail/header.hpp"
#include "lfarena/detail/memory.hpp"
#include "lfarena/detail/mutant.hpp"
#include "lfarena/detail/segment.hpp"
#include "lfarena/detail/tagged.hpp"

namespace lfarena::detail {

template <class Mem> class SortedFreelist {
public:
  SortedFreelist(Mem mem, const Geometry &g, std::uint32_t head_at)
      : mem_(mem), head_at_(head_at), capacity_(g.capacity), data_offset_(g.data_offset),
        min_segment_(g.min_segment),
        optimistic_(g.freelist_kind == static_cast<std::uint32_t>(FreelistKind::optimistic)),
        max_nodes_((g.capacity - g.data_offset) / g.min_segment + 1) {}

  // Inserts the segment [offset, offset+size) in order. The caller owns it (size >= min_segment).
  // False if a node at `offset` is already linked (an unchecked double free: linking it again
  // would make a cycle that every traversal would then spin on), in which case nothing changes.
  bool insert(std::uint32_t offset, std::uint32_t size) const {
    atomic_u64 &link = mem_.word(offset);
    // Relaxed stores: the node is private until the publishing CAS below (release).
    store_relaxed(mem_.word(offset + 8), size);
    // A tag no earlier node at this offset had, so a stale CAS prepared against an earlier life
    // of a node here (on its link, or with it as predecessor) cannot succeed on the new node.
    // It cannot come from the word itself: its user may have overwritten it with anything, the
    // same value every time (a canary derived from the offset did exactly that, and Relacy
    // cannot see it because its model users write garbage that never repeats a tag). Relaxed:
    // only the RMW's atomicity matters (each tag is handed out once).
    for (bool retry = false;; retry = true) {
      const auto own_tag =
          static_cast<std::uint32_t>(fetch_add_relaxed(mem_.word(hdr::node_tags), 1));
      const Window w = find(
          [&](std::uint32_t s, std::uint32_t o) { return !before(s, o, size, offset); }, retry);
      if (w.cur == offset)
        return false; // already on the list (see above)
      // Release: a thread whose (stale) mark CAS reads this value must also see the size above
      // (take() re-reads the size after marking).
      store_release(link, Link::make(w.cur, own_tag).raw);
      if (publish(w.pred_at, w.pred, next_link(w.pred_at, w.pred, offset)))
        return true;
    }
  }

  // Takes a segment that can hold `size` bytes at alignment `align` (size: multiple of kGranule,
  // align: power of two >= kGranule), splits it, gives the remainder to give_back(offset, size)
  // if it is at least min_segment, and returns the block. {0,0,0} if no segment of this list
  // fits. give_back() also receives a segment taken on a stale view that turned out not to
  // fit: the caller files it (its size class may differ from this list's). `*reached_end`
  // (optional) tells a failure's reason: true if the traversal found no node to consider (the
  // list was empty for optimistic, or held no fitting node for pessimistic), false if the head
  // did not fit (optimistic).
  template <class GiveBack>
  Taken take(std::uint32_t size, std::uint32_t align, GiveBack &&give_back,
             bool *reached_end = nullptr) const {
    auto fits = [&](std::uint64_t s, std::uint64_t o) {
      return align_up(o, align) - o + size <= s;
    };
    for (bool retry = false;; retry = true) {
      Window w = optimistic_
                     ? find([](std::uint32_t, std::uint32_t) { return true; }, retry)
                     : find([&](std::uint32_t s, std::uint32_t o) { return fits(s, o); }, retry);
      if (w.cur == 0 || !fits(w.cur_size, w.cur)) {
        if (reached_end != nullptr)
          *reached_end = w.cur == 0;
        return {}; // optimistic: no scan past the head
      }
      // Logical removal. acq_rel: acquire makes the segment's earlier contents (written before
      // the release that published it) visible to us, the new owner; release orders the mark
      // before our later unlink for helpers that read it.
      std::uint64_t expected = w.cur_link.raw;
      bool won;
      {
        [[maybe_unused]] Speculative spec; // the node may have been recycled since find()
        won = cas_acq_rel(mem_.word(w.cur), expected, marked(w.cur_link).raw);
      }
      if (!won)
        continue; // someone else took it, or inserted behind it: look again
      // We own the node now. Re-read its size: if our view was stale and the mark hit a node
      // reinserted here since, the size may differ (the release store in insert() makes it
      // visible to our acquiring mark CAS).
      const std::uint64_t seg_size = load_relaxed(mem_.word(w.cur + 8));
      // Physically unlink it before handing it out (DESIGN.md 2a).
      if (!unlink(w.pred_at, w.pred, next_link(w.pred_at, w.pred, w.cur_link.offset())))
        ensure_unlinked(seg_size, w.cur);
      if (!plausible_size(w.cur, seg_size))
        continue;                   // never a node (see DESIGN.md 2a): drop it
      if (!fits(seg_size, w.cur)) { // only after a stale view: give it back and look again
        give_back(w.cur, static_cast<std::uint32_t>(seg_size));
        continue;
      }
      const Taken t = split_segment(w.cur, static_cast<std::uint32_t>(seg_size), size, align,
                                    min_segment_, give_back);
      // Release fence before the user's first write: orders the unlink (ours, or the helper's
      // we observed) before those writes for a traverser's validating re-read (read_node()).
      fence_release();
      return t;
    }
  }

  // Quiescent walk for check(): calls visit(offset, size) for each node in list order and
  // returns false (and stops) if visit does, if an offset is out of range, or if the walk is
  // longer than the largest possible node count (a cycle).
  template <class Visit> bool walk(Visit &&visit) const {
    Link cur{load_acquire(mem_.word(head_at_))};
    for (std::uint64_t steps = 0; cur.offset() != 0; ++steps) {
      if (steps >= max_nodes_ || !plausible_offset(cur.offset()))
        return false;
      const Link next{load_acquire(mem_.word(cur.offset()))};
      const std::uint64_t size = load_relaxed(mem_.word(cur.offset() + 8));
      if (next.marked() || !visit(cur.offset(), size))
        return false;
      cur = next;
    }
    return true;
  }

  // The sequential order: does node (sa, oa) come before node (sb, ob)?
  bool before(std::uint64_t sa, std::uint32_t oa, std::uint64_t sb, std::uint32_t ob) const {
    if (sa != sb)
      return optimistic_ ? sa > sb : sa < sb;
    return oa < ob;
  }

private:
  // pred_at: offset of the word holding the predecessor link (the head or a node's link word).
  struct Window {
    std::uint32_t pred_at = 0;
    Link pred;
    std::uint32_t cur = 0; // 0: end of list
    Link cur_link;
    std::uint64_t cur_size = 0;
  };

  struct NodeView {
    Link link;
    std::uint64_t size;
  };

  // The one speculative read. `cur` was read from the link word at `pred_at` (value `pred`)
  // and may have been removed, handed out and overwritten by its user since: the words we read
  // may be user bytes, which could even look like a valid link (and a CAS expecting them would
  // succeed on the user's block). So after reading them we re-read pred's link: unchanged
  // (offset, tag and mark; every change bumps the tag) means cur was linked during the whole
  // read, so the view is cur's genuine node. Atomic accesses throughout; acquire on the links
  // pairs with the release that published their targets. False: restart, the view is stale.
  bool read_node(std::uint32_t pred_at, Link pred, std::uint32_t cur, NodeView &v) const {
    [[maybe_unused]] Speculative spec;
    v.link = Link{load_acquire(mem_.word(cur))};
    v.size = load_relaxed(mem_.word(cur + 8));
    // Acquire fence: if what we read was written by cur's new user, it pairs with the release
    // fence its owner issued before handing it out (take()), so the re-read below sees the
    // unlink that preceded the hand-out and the validation fails as it must.
    fence_acquire();
    return load_acquire(mem_.word(pred_at)) == pred.raw;
  }

  bool plausible_offset(std::uint32_t o) const {
    return o >= data_offset_ && o % kGranule == 0 && std::uint64_t{o} + 16 <= capacity_;
  }
  bool plausible_size(std::uint32_t o, std::uint64_t s) const {
    return s >= min_segment_ && s % kGranule == 0 && o + s <= capacity_;
  }

  // A tag no earlier value of any node link word had: from the header's counter (relaxed: only
  // the RMW's atomicity matters). Node link words live in recyclable memory, so their tags
  // cannot just count up: a word's next life starts from a counter value, and if changes in
  // this life only added 1 each, the two lives' tags could meet (ABA on a recycled node).
  std::uint32_t fresh_tag() const {
    return static_cast<std::uint32_t>(fetch_add_relaxed(mem_.word(hdr::node_tags), 1));
  }

  // The value that makes the link word at `pred_at` (holding `pred`) point to `target`. The
  // head is never recycled, so counting its tag up is enough; a node's link gets a fresh tag.
  Link next_link(std::uint32_t pred_at, Link pred, std::uint32_t target) const {
    if constexpr (mutant::tag_not_incremented)
      return Link::make(target, pred.tag());
    if (pred_at == head_at_)
      return pred.redirect(target);
    return Link::make(target, fresh_tag());
  }

  // `link` logically deleted, with a fresh tag (see fresh_tag()).
  Link marked(Link link) const {
    if constexpr (mutant::tag_not_incremented)
      return Link::make(link.offset(), link.tag(), true);
    return Link::make(link.offset(), fresh_tag(), true);
  }

  // CAS of a predecessor link that inserts a new node: release publishes the node's words.
  bool publish(std::uint32_t pred_at, Link pred, Link desired) const {
    std::uint64_t expected = pred.raw;
    [[maybe_unused]] Speculative
        spec; // pred may be a recycled node (then the tag makes the CAS fail)
    if constexpr (mutant::relaxed_publish)
      return cas_relaxed(mem_.word(pred_at), expected, desired.raw);
    if (pred_at == head_at_) // seq_cst: see the banner
      return cas_seq_cst(mem_.word(pred_at), expected, desired.raw);
    return cas_release(mem_.word(pred_at), expected, desired.raw);
  }

  // CAS of a predecessor link past a marked node. acq_rel: release keeps the successor's
  // publication visible to later readers of pred (it continues the chain of releases); acquire
  // orders the unlink before the owner's reuse of the segment.
  bool unlink(std::uint32_t pred_at, Link pred, Link desired) const {
    std::uint64_t expected = pred.raw;
    [[maybe_unused]] Speculative spec;
    if (pred_at == head_at_) // seq_cst: see the banner
      return cas_seq_cst(mem_.word(pred_at), expected, desired.raw);
    return cas_acq_rel(mem_.word(pred_at), expected, desired.raw);
  }

  // Traverses from the head, unlinking every marked node it meets, and returns the window at
  // the first unmarked node for which stop(size, offset) holds (or the end of the list).
  // `fresh`: the caller's previous attempt failed, so read the head's latest value.
  template <class Stop> Window find(Stop &&stop, bool fresh) const {
    Window w;
    // Every pass after the first follows a stale read: a plain load might return it again.
    for (;; fresh = true)
      if (find_once(stop, fresh, w))
        return w;
  }

  // One traversal; false if it met something stale and must restart from the head.
  template <class Stop> bool find_once(Stop &stop, bool fresh, Window &w) const {
    std::uint32_t pred_at = head_at_;
    // Acquire: pairs with the release CAS that linked the first node, so its words are visible.
    Link pred{fresh ? load_latest_acq_rel(mem_.word(pred_at)) : load_acquire(mem_.word(pred_at))};
    for (std::uint64_t steps = 0;; ++steps) {
      const std::uint32_t cur = pred.offset();
      if (cur == 0) {
        w = {pred_at, pred, 0, Link{}, 0};
        return true;
      }
      if (steps >= max_nodes_ || !plausible_offset(cur))
        return false; // stale
      NodeView v;
      if (!read_node(pred_at, pred, cur, v))
        return false;
      if (v.link.marked()) {
        if constexpr (mutant::no_helping) {
          pred_at = cur; // seeded bug: step over the zombie and hope its remover unlinks it
          pred = Link::make(v.link.offset(), v.link.tag());
          continue;
        }
        // Helping: unlink the logically removed node ourselves.
        const Link desired = next_link(pred_at, pred, v.link.offset());
        if (!unlink(pred_at, pred, desired))
          return false;
        pred = desired;
        continue;
      }
      if (!plausible_size(cur, v.size))
        return false;
      if (stop(static_cast<std::uint32_t>(v.size), cur)) {
        w = {pred_at, pred, cur, v.link, v.size};
        return true;
      }
      pred_at = cur;
      pred = v.link;
    }
  }

  // After a failed unlink of our own marked node: traverse to where (size, offset) sits in the
  // order; find() unlinks every marked node on the way, ours included if it is still linked.
  void ensure_unlinked(std::uint64_t size, std::uint32_t offset) const {
    if constexpr (mutant::no_helping)
      return; // seeded bug: hand it out while still linked
    find([&](std::uint32_t s, std::uint32_t o) { return !before(s, o, size, offset); }, true);
  }

  Mem mem_;
  std::uint32_t head_at_;
  std::uint32_t capacity_;
  std::uint32_t data_offset_;
  std::uint32_t min_segment_;
  bool optimistic_;
  std::uint64_t max_nodes_;
};

} // namespace lfarena::detail
