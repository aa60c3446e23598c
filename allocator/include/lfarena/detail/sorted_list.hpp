// lfarena/detail/sorted_list.hpp -- one lock-free sorted list of free segments (the building block
// of the optimistic and pessimistic policies; sorted_policy.hpp keeps one per size class).
//
// Sequential spec: free segments form one list sorted by size:
//   optimistic  -- size descending; allocation takes the head if it fits;
//   pessimistic -- size ascending; allocation takes the first that fits.
// Equal sizes: a new segment goes in front of the segments of its size (newest first), so an
// insert stops at the first node of its size and a take of that size finds it at once: O(1)
// however many segments share the size (the common case: uniform node sizes). Files of format
// v1-v3 order equal sizes by offset instead (Geometry::ties_by_offset), as the builds that wrote
// them expect; there an insert walks the run of its size to its offset.
//
// Representation: a free segment holds its own node (node.hpp: a link word and a checked size
// word). The head is a plain Link at `head_at`: hdr::freelist_head (the one list of a layout
// without size classes: format v1 files, or Options::size_index off) or a size class's head in
// the class table. A node's size never changes while the node is linked;
// a split removes the node and the caller inserts the remainder as a fresh node.
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
//
// Damage (docs/DESIGN.md §5.8): a confirmed read is the node's
// genuine words at that instant, and the list is sorted at every instant, so a confirmed node
// whose next offset is implausible or itself, or the node taken whose size word fails its
// check, is damage: a user's write into a freed block, or a damaged file. The traversal reports
// the node's offset (errc::corrupt_freelist upstream). A read that fails its confirmation, or a
// CAS that fails, means the word changed: another thread made progress, and the traversal
// restarts (lock-freedom keeps its meaning). A pass meets nodes in increasing order and no link
// word takes a value twice, so meeting a node with the same link word again in one pass is a
// cycle (Brent's check in find_once()); as a backstop, a walk longer than max_nodes() while the
// node_tags counter grew only by its own helping is damage too, otherwise it restarts. So every
// loop below ends on static memory, and on a cycle however many threads help round it
// (docs/DESIGN.md §5.8).
//
// Thread-safety: insert() and take() may run concurrently from any threads/processes. walk()
// is for quiescent checks only. Lock-free: every restart is caused by a change of a word, i.e.
// by a CAS that succeeded in another thread.
#pragma once

#include <cstdint>

#include "lfarena/detail/atomic.hpp"
#include "lfarena/detail/crash_point.hpp"
#include "lfarena/detail/header.hpp"
#include "lfarena/detail/memory.hpp"
#include "lfarena/detail/mutant.hpp"
#include "lfarena/detail/node.hpp"
#include "lfarena/detail/segment.hpp"
#include "lfarena/detail/size_class.hpp"
#include "lfarena/detail/tagged.hpp"

namespace lfarena::detail {

template <class Mem> class SortedList {
public:
  // `size_class`: the class every node of this list belongs to (sorted_policy.hpp), or kAnyClass
  // for the one list of a layout without classes.
  static constexpr std::uint32_t kAnyClass = ~std::uint32_t{0};
  SortedList(Mem mem, const Geometry &g, std::uint32_t head_at,
             std::uint32_t size_class = kAnyClass)
      : SortedList(mem, NodeLayout(g), g, head_at, size_class) {}
  // With the region's node layout made once by the caller (sorted_policy.hpp makes a list object
  // per operation: the layout's bounds are not worth recomputing each time).
  SortedList(Mem mem, const NodeLayout &node, const Geometry &g, std::uint32_t head_at,
             std::uint32_t size_class)
      : mem_(mem), node_(node), head_at_(head_at), class_(size_class), min_segment_(g.min_segment),
        optimistic_(g.freelist_kind == FreelistKind::optimistic),
        ties_by_offset_(g.ties_by_offset) {}

  // Inserts the segment [offset, offset+size) in order. The caller owns it (size >= min_segment).
  Inserted insert(std::uint32_t offset, std::uint32_t size, Fault &fault) const {
    atomic_u64 &link = mem_.word(offset + kNodeLinkWord);
    // A tag no earlier node at this offset had, so a stale CAS prepared against an earlier life
    // of a node here (on its link, or with it as predecessor) cannot succeed on the new node.
    // It cannot come from the word itself: its user may have overwritten it with anything, the
    // same value every time (a canary derived from the offset did exactly that, and Relacy
    // cannot see it because its model users write garbage that never repeats a tag). Relaxed:
    // only the RMW's atomicity matters (each tag is handed out once).
    for (bool retry = false;; retry = true) {
      const std::uint32_t own_tag = fresh_tag();
      Window w;
      if (!find(insert_position(size, offset), retry, w, fault))
        return Inserted::damaged;
      // A node at this offset where the new one goes: linking it again would make a cycle.
      // (Newest first, a duplicate is caught only at the front of its size's run; one further
      // back makes a cycle that the walks report as damage: docs/DESIGN.md §5.8.)
      if (w.cur == offset) {
        // A real (unchecked) double free finds its node's words valid; damage (a stale link
        // that leads to this live block) finds its size word scrubbed or user data.
        if (node_.decode_size(offset, w.cur_size_word) != 0)
          return Inserted::duplicate;
        fault.at = offset;
        return Inserted::damaged;
      }
      // The node's words, written only now that no node at this offset is linked where this
      // one goes (a double free must not change a linked node). Relaxed: the node is private
      // until the publishing CAS below; release on the link: a thread whose (stale) mark CAS
      // reads it must also see the size (take() re-reads the size after marking).
      store_relaxed(mem_.word(offset + kNodeSizeWord), node_.encode_size(offset, size));
      store_release(link, node_.encode_link(Link::make(w.cur, own_tag)));
      LFARENA_CRASH_POINT(sorted_node_written);
      if (publish(w.pred_at, w.pred, next_link(w.pred_at, w.pred, offset))) {
        LFARENA_CRASH_POINT(sorted_published);
        return Inserted::ok;
      }
    }
  }

  // Takes a segment that can hold `size` bytes at alignment `align` (size: multiple of kGranule,
  // align: power of two >= kGranule), splits it, gives the remainder to give_back(offset, size)
  // if it is at least min_segment, and returns the block. {0,0,0} if no segment of this list
  // fits, with Taken::damaged set if the list is damaged. give_back() also receives a segment
  // taken on a stale view that turned out not to fit: the caller files it (its size class may
  // differ from this list's). `*reached_end` (optional) tells a failure's reason: true if the
  // traversal found no node to consider (the list was empty for optimistic, or held no fitting
  // node for pessimistic), false if the head did not fit (optimistic).
  template <class GiveBack>
  Taken take(std::uint32_t size, std::uint32_t align, GiveBack &&give_back,
             bool *reached_end = nullptr) const {
    // By value (as every stop predicate here): find_once() copies it into a local, whose
    // fields then stay in registers across the walk's acquire loads.
    auto fits = [size, align](std::uint64_t s, std::uint64_t o) {
      return align_up(o, align) - o + size <= s;
    };
    Fault fault;
    for (bool retry = false;; retry = true) {
      Window w;
      const bool found =
          optimistic_ ? find([](std::uint32_t, std::uint32_t) { return true; }, retry, w, fault)
                      : find(fits, retry, w, fault);
      if (!found)
        return Taken{0, 0, 0, fault.at};
      // The node we would act on: its size word must pass its check (a damaged node is
      // reported and left where it is, for check() and lfarena-check to find).
      const std::uint32_t cur_size = w.cur == 0 ? 0 : node_.decode_size(w.cur, w.cur_size_word);
      if (w.cur != 0 && cur_size == 0)
        return Taken{0, 0, 0, w.cur};
      if (w.cur == 0 || !fits(cur_size, w.cur)) {
        if (reached_end != nullptr)
          *reached_end = w.cur == 0;
        return {}; // optimistic: no scan past the head
      }
      // Logical removal. acq_rel: acquire makes the segment's earlier contents (written before
      // the release that published it) visible to us, the new owner; release orders the mark
      // before our later unlink for helpers that read it.
      std::uint64_t expected = node_.encode_link(w.cur_link);
      const std::uint64_t desired = node_.encode_link(marked(w.cur_link)); // (a header RMW)
      bool won;
      {
        // The node may have been recycled since find(): only this CAS is speculative.
        [[maybe_unused]] Speculative spec;
        won = cas_acq_rel(mem_.word(w.cur + kNodeLinkWord), expected, desired);
      }
      if (!won)
        continue; // someone else took it, or inserted behind it: look again
      LFARENA_CRASH_POINT(sorted_marked);
      // We own the node now. Re-read its size: if our view was stale and the mark hit a node
      // reinserted here since, the size may differ (the release store in insert() makes it
      // visible to our acquiring mark CAS).
      // (Decoded again only if it changed: the check costs a multiply.)
      const std::uint64_t size_word = load_relaxed(mem_.word(w.cur + kNodeSizeWord));
      const std::uint32_t seg_size =
          size_word == w.cur_size_word ? cur_size : node_.decode_size(w.cur, size_word);
      // Physically unlink it before handing it out (docs/DESIGN.md §5.2).
      if (!unlink(w.pred_at, w.pred, next_link(w.pred_at, w.pred, w.cur_link.offset())) &&
          !ensure_unlinked(seg_size, w.cur, fault))
        return Taken{0, 0, 0, fault.at}; // still marked in a damaged list: not handed out
      LFARENA_CRASH_POINT(sorted_unlinked);
      if (seg_size == 0)
        return Taken{0, 0, 0, w.cur}; // our own marked node is damaged: drop it
      if (!fits(seg_size, w.cur)) {   // only after a stale view: give it back and look again
        give_back(w.cur, seg_size);
        continue;
      }
      const Taken t = split_segment(w.cur, seg_size, size, align, min_segment_, give_back);
      // Release fence before the user's first write: orders the unlink (ours, or the helper's
      // we observed) before those writes for a traverser's validating re-read (read_node()).
      fence_release();
      // Then, like a user's write (after the fence, for the same reason), scrub the old size
      // word if it lies in the block handed out: a user must never find a valid one there (it
      // could write it back after a free and pass the check with a stale size). Not if front
      // padding became a fresh node here.
      const std::uint64_t size_at = std::uint64_t{w.cur} + kNodeSizeWord;
      if (size_at >= t.offset && size_at + 8 <= std::uint64_t{t.offset} + t.size)
        store_relaxed(mem_.word(w.cur + kNodeSizeWord), 0);
      return t;
    }
  }

  // Quiescent walk for check(), recovery and open validation: calls visit(offset, size) for each
  // node in list order. Returns the first damage: an offset out of range, a size word that
  // fails its check, a node out of order (in_order()), a cycle, a marked node (unless
  // allow_marked: crash recovery unmarks them), or a node visit() rejects.
  template <class Visit> Fault walk(Visit &&visit, bool allow_marked = false) const {
    Link cur{load_acquire(mem_.word(head_at_))};
    std::uint32_t at = head_at_;
    bool have_prev = false;
    std::uint32_t prev_size = 0, prev_off = 0;
    const std::uint64_t limit = node_.max_nodes();
    for (std::uint64_t steps = 0; cur.offset() != 0; ++steps) {
      const std::uint32_t o = cur.offset();
      if (steps >= limit || !node_.plausible_offset(o) || (!allow_marked && cur.marked()))
        return Fault{steps >= limit ? o : at};
      const Link next = node_.decode_link(load_acquire(mem_.word(o + kNodeLinkWord)));
      const std::uint32_t size = node_.decode_size(o, load_relaxed(mem_.word(o + kNodeSizeWord)));
      if (size == 0 || !in_class(size) || (have_prev && !in_order(prev_size, prev_off, size, o)) ||
          (!allow_marked && next.marked()) || !visit(o, size))
        return Fault{o};
      have_prev = true;
      prev_size = size;
      prev_off = o;
      at = o;
      cur = next;
    }
    return Fault{};
  }

  // May node (sb, ob) follow node (sa, oa) in this list? Sizes in the policy's order; equal
  // sizes in any order (newest first), or by offset in a format v1-v3 file.
  bool in_order(std::uint64_t sa, std::uint32_t oa, std::uint64_t sb, std::uint32_t ob) const {
    return in_order(optimistic_, ties_by_offset_, sa, oa, sb, ob);
  }
  static bool in_order(bool optimistic, bool ties_by_offset, std::uint64_t sa, std::uint32_t oa,
                       std::uint64_t sb, std::uint32_t ob) {
    if (sa != sb)
      return size_before(optimistic, sa, sb);
    return !ties_by_offset || oa < ob;
  }
  // Does size a come before size b in the policy's order?
  static bool size_before(bool optimistic, std::uint64_t a, std::uint64_t b) {
    return optimistic ? a > b : a < b;
  }

private:
  // pred_at: offset of the word holding the predecessor link (the head or a node's link word).
  struct Window {
    std::uint32_t pred_at = 0;
    Link pred;
    std::uint32_t cur = 0; // 0: end of list
    Link cur_link;
    std::uint64_t cur_size_word = 0; // as stored (checked by take() only)
  };

  struct NodeView {
    std::uint64_t link_word; // as stored (encoded)
    Link link;               // decoded
    std::uint64_t size_word; // as stored: the size in the low half, its check in the high half
    std::uint32_t raw_size() const { return static_cast<std::uint32_t>(size_word); }
  };

  // The stop predicate of an insert of (size, offset): the first node whose size does not come
  // before `size` (the front of its size's run: newest first), or with ties by offset the first
  // node not before (size, offset).
  auto insert_position(std::uint32_t size, std::uint32_t offset) const {
    return [optimistic = optimistic_, by_offset = ties_by_offset_, size, offset](std::uint32_t s,
                                                                                 std::uint32_t o) {
      return !size_before(optimistic, s, size) && (!by_offset || s != size || o >= offset);
    };
  }
  // The stop predicate "past every node of `size`" (ties by offset: past (size, offset)), so a
  // walk with it meets the node (size, offset) wherever it is among its equals.
  auto past(std::uint32_t size, std::uint32_t offset) const {
    return [optimistic = optimistic_, by_offset = ties_by_offset_, size, offset](std::uint32_t s,
                                                                                 std::uint32_t o) {
      return size_before(optimistic, size, s) || (by_offset && s == size && o > offset);
    };
  }

  bool is_head(std::uint32_t at) const { return at == head_at_; }
  bool in_class(std::uint32_t size) const {
    return class_ == kAnyClass || floor_class(size) == class_;
  }
  // The link stored at `at` (a head holds a plain Link, a node an encoded one, node.hpp).
  Link decode(std::uint32_t at, std::uint64_t word) const {
    return is_head(at) ? Link{word} : node_.decode_link(word);
  }
  std::uint64_t encode(std::uint32_t at, Link l) const {
    return is_head(at) ? l.raw : node_.encode_link(l);
  }

  // The one speculative read. `cur` was read from the link word at `pred_at` (stored value
  // `pred_word`) and may have been removed, handed out and overwritten by its user since: the words
  // we read may be user bytes, which could even look like a valid link (and a CAS expecting them
  // would succeed on the user's block). So after reading them we re-read pred's link: unchanged
  // (offset, tag and mark; every change bumps the tag) means cur was linked during the whole
  // read, so the view is cur's genuine node. Atomic accesses throughout; acquire on the links
  // pairs with the release that published their targets. False: restart, the view is stale.
  bool read_node(std::uint32_t pred_at, std::uint64_t pred_word, std::uint32_t cur,
                 NodeView &v) const {
    [[maybe_unused]] Speculative spec;
    v.link_word = load_acquire(mem_.word(cur + kNodeLinkWord));
    v.link = node_.decode_link(v.link_word);
    v.size_word = load_relaxed(mem_.word(cur + kNodeSizeWord));
    // Acquire fence: if what we read was written by cur's new user, it pairs with the release
    // fence its owner issued before handing it out (take()), so the re-read below sees the
    // unlink that preceded the hand-out and the validation fails as it must.
    fence_acquire();
    return load_acquire(mem_.word(pred_at)) == pred_word;
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
    if constexpr (LFARENA_SEEDED_BUG(tag_not_incremented))
      return Link::make(target, pred.tag());
    if (is_head(pred_at))
      return pred.redirect(target);
    return Link::make(target, fresh_tag());
  }

  // `link` logically deleted, with a fresh tag (see fresh_tag()).
  Link marked(Link link) const {
    if constexpr (LFARENA_SEEDED_BUG(tag_not_incremented))
      return Link::make(link.offset(), link.tag(), true);
    return Link::make(link.offset(), fresh_tag(), true);
  }

  // CAS of a predecessor link that inserts a new node: release publishes the node's words.
  bool publish(std::uint32_t pred_at, Link pred, Link desired) const {
    std::uint64_t expected = encode(pred_at, pred);
    if constexpr (LFARENA_SEEDED_BUG(relaxed_publish)) {
      [[maybe_unused]] Speculative spec;
      return cas_relaxed(mem_.word(pred_at), expected, encode(pred_at, desired));
    }
    if (is_head(pred_at)) // seq_cst: see the banner. A head is never recycled: not speculative.
      return cas_seq_cst(mem_.word(pred_at), expected, desired.raw);
    const std::uint64_t word = node_.encode_link(desired);
    // pred may be a recycled node (then the tag makes the CAS fail): speculative.
    [[maybe_unused]] Speculative spec;
    return cas_release(mem_.word(pred_at), expected, word);
  }

  // CAS of a predecessor link past a marked node. acq_rel: release keeps the successor's
  // publication visible to later readers of pred (it continues the chain of releases); acquire
  // orders the unlink before the owner's reuse of the segment.
  bool unlink(std::uint32_t pred_at, Link pred, Link desired) const {
    std::uint64_t expected = encode(pred_at, pred);
    if (is_head(pred_at)) // seq_cst: see the banner. A head is never recycled: not speculative.
      return cas_seq_cst(mem_.word(pred_at), expected, desired.raw);
    const std::uint64_t word = node_.encode_link(desired);
    // pred may be a recycled node (then the tag makes the CAS fail): speculative.
    [[maybe_unused]] Speculative spec;
    return cas_acq_rel(mem_.word(pred_at), expected, word);
  }

  enum class Pass : std::uint8_t { found, restart, damaged };

  // Traverses from the head, unlinking every marked node it meets, and fills `w` with the window
  // at the first unmarked node for which stop(size, offset) holds (or the end of the list).
  // False if the list is damaged (`fault` says where). `fresh`: the caller's previous attempt
  // failed, so read the head's latest value.
  template <class Stop> bool find(Stop &&stop, bool fresh, Window &w, Fault &fault) const {
    // Every pass after the first follows a stale read: a plain load might return it again.
    for (;; fresh = true) {
      switch (find_once(stop, fresh, w, fault)) {
      case Pass::found:
        return true;
      case Pass::damaged:
        return false;
      case Pass::restart:
        break;
      }
    }
  }

  // One traversal. The walk runs on local copies of the list (region base, key, bounds) and of
  // the predicate: fields of *this would be reloaded after every acquire load of the walk (the
  // compiler must assume another thread changed them); locals stay in registers. This keeps
  // the per-step cost of the damage checks within budget (docs/DESIGN.md §5.8).
  template <class Stop>
  Pass find_once(const Stop &stop, bool fresh, Window &w, Fault &fault) const {
    const SortedList self = *this;
    Stop local_stop = stop;
    return self.find_once_local(local_stop, fresh, w, fault);
  }

  // find_once() on a local copy (see there). See the banner for when a bad node is damage and
  // when it is a restart.
  template <class Stop>
  [[gnu::always_inline]] Pass find_once_local(Stop &stop, bool fresh, Window &w,
                                              Fault &fault) const {
    std::uint32_t pred_at = head_at_;
    // Acquire: pairs with the release CAS that linked the first node, so its words are visible.
    // `pred_word` is the word at pred_at as stored (a head's plain Link, a node's encoded one):
    // read_node() compares it as is.
    std::uint64_t pred_word =
        fresh ? load_latest_acq_rel(mem_.word(pred_at)) : load_acquire(mem_.word(pred_at));
    Link pred{pred_word};
    // The head's link is checked once here (the allocator never writes an implausible one);
    // every later link is a node's, confirmed by read_node() and checked below.
    if (pred.offset() != 0 && !node_.plausible_offset(pred.offset()))
      return damaged(fault, pred_at);
    // Relaxed: compared at the end of a long walk only; any insert or removal changes it. Our
    // own helping takes tags too (`own`): a walk that only helps itself round a cycle of marked
    // nodes must still end as damage.
    const std::uint64_t tags = load_relaxed(mem_.word(hdr::node_tags));
    std::uint64_t own = 0;
    // Brent's cycle check: the node and link word met at step 2^k. A node's link word never
    // takes a value twice (fresh tags), so meeting node X again with the same word means X was
    // linked, unmoved, all along; and a pass only moves forward from X: each step leaves a node
    // whose link word is confirmed unchanged, i.e. a node that was not removed or moved since
    // the pass met it, so it is still behind X, and so is its successor. Coming back to X from
    // behind it is therefore a cycle, however many threads help round it (their tags would
    // keep the counter test below restarting). This needs no order among equal sizes.
    // (A node linking to itself is tested directly: see below.) The step bound is tested at the
    // same checkpoints (2^k >= max_nodes(), a division, so only from kWalkFreeSteps on): one
    // compare per step for both.
    std::uint32_t seen_at = 0;
    std::uint64_t seen_word = 0;
    std::uint64_t steps = 0, checkpoint = 1;
    for (;;) {
      const std::uint32_t cur = pred.offset();
      if (cur == 0) {
        w = {pred_at, pred, 0, Link{}, 0};
        return Pass::found;
      }
      NodeView v;
      if (!read_node(pred_at, pred_word, cur, v)) {
        if constexpr (LFARENA_SEEDED_BUG(damage_eager)) // seeded bug: concurrency taken for damage
          if (node_.decode_size(cur, v.size_word) == 0 ||
              (v.link.offset() != 0 && !node_.plausible_offset(v.link.offset())))
            return damaged(fault, cur);
        return Pass::restart;
      }
      // Confirmed: cur is linked and these are its words. Its link is checked at once, so a
      // bad offset is never followed nor installed in another link word by an unlink; its size
      // word only by take(), on the node it marks: a node passed over with a damaged size can
      // only misplace a decision, never make us touch memory outside the region. (Order and
      // size class are checked by walk(), on open and by check(): a stray write cannot produce
      // a well-formed keyed link, and a cycle ends at the repeat check below, or at the
      // max_nodes bound.)
      const std::uint32_t next = v.link.offset();
      // No node links to itself. (Brent's check below would find it too, but only on a second
      // visit: a walk that stops at this node, a take or an insert position, never makes one.)
      if (next == cur || (!node_.plausible_offset(next) && next != 0)) // 0 (the end): rare
        return damaged(fault, cur);
      if (cur == seen_at && v.link_word == seen_word)
        return damaged(fault, cur);
      if (++steps == checkpoint) {
        seen_at = cur;
        seen_word = v.link_word;
        checkpoint *= 2;
        if (steps >= NodeLayout::kWalkFreeSteps && steps >= node_.max_nodes())
          // Too long: a cycle, unless others changed the lists meanwhile.
          return load_latest_acq_rel(mem_.word(hdr::node_tags)) - tags == own ? damaged(fault, cur)
                                                                              : Pass::restart;
      }
      if (v.link.marked()) {
        if constexpr (LFARENA_SEEDED_BUG(no_helping)) {
          pred_at = cur; // seeded bug: step over the zombie and hope its remover unlinks it
          pred = Link::make(v.link.offset(), v.link.tag());
          pred_word = node_.encode_link(pred);
          continue;
        }
        // Helping: unlink the logically removed node ourselves.
        own += is_head(pred_at) ? 0 : 1; // next_link() takes a fresh tag for a node's link
        const Link desired = next_link(pred_at, pred, v.link.offset());
        if (!unlink(pred_at, pred, desired))
          return Pass::restart;
        pred = desired;
        pred_word = encode(pred_at, desired);
        continue;
      }
      if (stop(v.raw_size(), cur)) {
        // Not checked here: take() checks the size word of the node it takes, insert() and
        // ensure_unlinked() never use it.
        w = {pred_at, pred, cur, v.link, v.size_word};
        return Pass::found;
      }
      pred_at = cur;
      pred = v.link;
      pred_word = v.link_word;
    }
  }
  static Pass damaged(Fault &fault, std::uint32_t at) {
    fault.at = at;
    return Pass::damaged;
  }

  // After a failed unlink of our own marked node: traverse past every place (size, offset) can
  // sit in the order (past its size's whole run, newest first: a rare path); find() unlinks
  // every marked node on the way, ours included if it is still linked.
  // False if the list is damaged on the way (then the node may still be linked).
  bool ensure_unlinked(std::uint32_t size, std::uint32_t offset, Fault &fault) const {
    if constexpr (LFARENA_SEEDED_BUG(no_helping))
      return true; // seeded bug: hand it out while still linked
    Window w;
    return find(past(size, offset), true, w, fault);
  }

  Mem mem_;
  NodeLayout node_;
  std::uint32_t head_at_;
  std::uint32_t class_;
  std::uint32_t min_segment_;
  bool optimistic_;
  bool ties_by_offset_;
};

} // namespace lfarena::detail
