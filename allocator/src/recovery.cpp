// recovery.cpp -- the crash recovery pass (see recovery.hpp).
#include "recovery.hpp"

#include "free_scan.hpp"

#include <utility>
#include <vector>

#include "lfarena/detail/checked.hpp"
#include "lfarena/detail/crash_point.hpp"
#include "lfarena/detail/free_cache.hpp"
#include "lfarena/detail/memory.hpp"
#include "lfarena/detail/mutant.hpp"
#include "lfarena/detail/segregated_policy.hpp"
#include "lfarena/detail/sorted_policy.hpp"
#include "lfarena/detail/tagged.hpp"
#include "lfarena/detail/thread_chunk.hpp"

namespace lfarena::detail {

namespace {

std::string num(std::uint64_t v) { return std::to_string(v); }

// Everything recovery may write before its last check (node links it unmarks, the slot table,
// the class bitmap, the checked-mode bitmaps: all below data_offset but the nodes), saved so a
// recovery that fails after writing puts the file back as it was (a failed open must not
// change the file; fuzz finding: a checked image whose accounting only fails after repair).
class UndoLog {
public:
  UndoLog(const RegionWords &mem, std::uint32_t from, std::uint32_t to) : mem_(mem), from_(from) {
    for (std::uint32_t o = from; o < to; o += 8)
      area_.push_back(load_relaxed(mem.word(o)));
  }
  void save_word(std::uint32_t offset) {
    words_.emplace_back(offset, load_relaxed(mem_.word(offset)));
  }
  void restore() const { // newest first
    for (auto it = words_.rbegin(); it != words_.rend(); ++it)
      store_relaxed(mem_.word(it->first), it->second);
    for (std::size_t i = 0; i < area_.size(); ++i)
      store_relaxed(mem_.word(from_ + static_cast<std::uint32_t>(i) * 8), area_[i]);
  }

private:
  RegionWords mem_;
  std::uint32_t from_;
  std::vector<std::uint64_t> area_;
  std::vector<std::pair<std::uint32_t, std::uint64_t>> words_;
};

// The seeded recovery bug (mutant RECOVERY_DROPS_SEGMENT): unlinks the first node of the first
// non-empty list, so its bytes are neither free nor counted. The crash-point test must catch it.
[[maybe_unused]] void drop_first_segment(const RegionWords &mem, const Geometry &g,
                                         const NodeLayout &node) {
  const std::uint32_t heads = g.class_table_offset != 0 ? kClassCount : 1;
  for (std::uint32_t i = 0; i < heads; ++i) {
    atomic_u64 &head = mem.word(g.class_table_offset != 0 ? g.class_table_offset + i * 8
                                                          : std::uint32_t{hdr::freelist_head});
    const Link h{load_relaxed(head)};
    if (h.offset() == 0)
      continue;
    const Link next = node.decode_link(load_relaxed(mem.word(h.offset() + kNodeLinkWord)));
    store_relaxed(head, h.redirect(next.offset()).raw);
    return;
  }
}

// recover()'s steps, one function each, in order. Steps 1 and 2 only read: a recovery that
// fails there has written nothing. From step 3 on it writes; only checked mode can still fail
// (step 5, the accounting check), and then the undo log puts the file back as it was.
class Recovery {
public:
  Recovery(std::byte *base, const Geometry &g, const std::string &path)
      : mem_{base}, g_(g), path_(path), node_(g), top_(load_acquire(mem_.word(hdr::bump))),
        checked_(g.bitmap_offset != 0) {
    rep_.ran = true;
  }

  // 1. The free lists, validated through the library's own walk, which also lists the nodes
  // whose remover died between mark and unlink (still linked, and marked).
  Status scan_lists() {
    const Core<RegionWords> core(mem_, g_);
    Result<FreeScan> scan = scan_free_lists(core, top_, true, path_ + ": recovery");
    if (!scan)
      return scan.error();
    scan_ = std::move(*scan);
    return {};
  }

  // 2. The slot table: a dead owner's chunk tail must lie below the bump offset, apart from
  // the free segments and from other tails, and all of them together within the allocated
  // bytes (free_scan.hpp); else damage would make step 4 count bytes as leaked twice or
  // without bound.
  Status check_slots() {
    const Core<RegionWords> core(mem_, g_);
    Result<SlotScan> slots = scan_chunk_slots(core, scan_, top_, path_ + ": recovery");
    if (!slots)
      return slots.error();
    chunk_bytes_ = slots->held;

    return {};
  }

  // 3. Repair the lists: finish the unlinks of dead removers' marked nodes by unmarking them
  // (they are free segments), and set the bit of every non-empty class (a crash between a push
  // and its bit update leaves it clear).
  void repair_lists(UndoLog &undo) {
    for (const std::uint32_t cur : scan_.marked) {
      if (checked_)
        undo.save_word(cur + kNodeLinkWord);
      const Link next = node_.decode_link(load_acquire(mem_.word(cur + kNodeLinkWord)));
      store_release(mem_.word(cur + kNodeLinkWord),
                    node_.encode_link(Link::make(next.offset(), next.tag() + 1)));
      LFARENA_CRASH_POINT(recovery_node_unmarked);
    }
    rep_.nodes_unmarked = scan_.marked.size();
    if constexpr (LFARENA_SEEDED_BUG(recovery_drops_segment))
      drop_first_segment(mem_, g_, node_); // the first free segment is lost
    if (g_.class_table_offset != 0)
      ClassTable<RegionWords>(mem_, g_.class_table_offset).rebuild();
  }

  // 4. Release every thread-chunk slot: every owner is dead (we are alone). Their tails and
  // padding were never handed out: leaked. Unchecked mode counts them here; checked mode
  // counts every unaccounted byte in step 5, these included. Their free caches go to the
  // class stacks (step 1 validated them and counted their nodes as free); each slot keeps its
  // cache block for its next owner.
  void release_slots(UndoLog &undo) {
    for (std::uint32_t i = 0; i < kChunkSlots; ++i) {
      const std::uint32_t at = slot_owner_at(i);
      if (const std::uint32_t block = cache_word_block(load_relaxed(mem_.word(at + kSlotCache)));
          g_.thread_cache && block != 0) {
        const Core<RegionWords> core(mem_, g_);
        if (checked_) { // the words a drain writes
          // The heads, and in the array layout every entry (a drain clears them all; unsaved,
          // a failed recovery left the counts over cleared entries: helper-48).
          // (cache_block_bytes() is the 256 head bytes alone in the chain layout.)
          for (std::uint32_t w = block; w < block + cache_block_bytes(g_); w += kGranule)
            undo.save_word(w);
          // Each node's words the spill writes: the array layout every size word and link, the
          // chain layout each chain's last link, both the prefetch hints (run_hints.hpp).
          const bool arrays = g_.cache_array;
          (void)core.free_cache().walk(block, [&](std::uint32_t o, std::uint32_t size) {
            undo.save_word(o + kNodeLinkWord);
            if (arrays)
              undo.save_word(o + kNodeSizeWord);
            for (std::uint32_t h = 0; h < run_hint_cap(size) / 2; ++h)
              undo.save_word(o + kHintWord + h * kGranule);
            return true;
          });
        }
        (void)core.free_cache().drain(block); // step 1 found no damage
        LFARENA_CRASH_POINT(recovery_cache_drained);
      }
      if (load_acquire(mem_.word(at)) == 0)
        continue;
      store_relaxed(mem_.word(at + kSlotCursorEnd), 0);
      store_relaxed(mem_.word(at + kSlotWaste), 0);
      store_release(mem_.word(at), 0);
      ++rep_.chunks_released;
      LFARENA_CRASH_POINT(recovery_slot_released);
    }
    if (!checked_)
      count_leaked(chunk_bytes_); // what step 2 found the slots hold
  }

  // 5. Checked mode: repair the bitmaps, then count what is neither live, free nor discarded.
  Status checked_accounting(const UndoLog &undo) {
    const BlockMap<RegionWords> map(mem_, g_.bitmap_offset, g_.capacity);
    map.repair(g_.data_offset, static_cast<std::uint32_t>(top_), rep_.blocks_dropped,
               rep_.stray_ends);
    rep_.blocks_dropped += map.clear_impossible(g_.capacity / kGranule); // outside that range
    std::uint64_t live = 0;
    map.for_each_live(g_.data_offset, static_cast<std::uint32_t>(top_),
                      [&](std::uint32_t, std::uint32_t size) { live += size; });
    const std::uint64_t discarded = load_relaxed(mem_.word(hdr::discarded));
    const std::uint64_t accounted = live + scan_.bytes + discarded;
    const std::uint64_t allocated = top_ - g_.data_offset;
    if (accounted > allocated) {
      undo.restore();
      return Error(errc::accounting_mismatch,
                   path_ + ": recovery: live " + num(live) + " + free " + num(scan_.bytes) +
                       " + discarded " + num(discarded) + " exceed allocated " + num(allocated));
    }
    count_leaked(allocated - accounted);
    return {};
  }

  // Only checked mode can fail after writing: the undo log saves from the slot table to the
  // end of the checked-mode bitmaps (capacity/21 bytes), else nothing.
  UndoLog undo_log() const {
    return UndoLog(mem_, kChunkTableOffset,
                   checked_ ? g_.bitmap_offset +
                                  static_cast<std::uint32_t>(checked_map_bytes(g_.capacity))
                            : kChunkTableOffset);
  }
  bool checked() const { return checked_; }
  const RecoveryReport &report() const { return rep_; }

private:
  void count_leaked(std::uint64_t bytes) {
    rep_.leaked_bytes = bytes;
    fetch_add_relaxed(mem_.word(hdr::discarded), bytes);
    fetch_add_relaxed(mem_.word(hdr::leaked), bytes);
  }

  RegionWords mem_;
  const Geometry &g_;
  const std::string &path_;
  NodeLayout node_;
  std::uint64_t top_;
  bool checked_;
  FreeScan scan_;                 // step 1's result
  std::uint64_t chunk_bytes_ = 0; // step 2's: the bytes the dead owners' slots hold
  RecoveryReport rep_;
};

} // namespace

Result<RecoveryReport> recover(std::byte *base, const Geometry &g, const std::string &path) {
  Recovery r(base, g, path);
  if (Status s = r.scan_lists(); !s) // 1
    return s.error();
  if (Status s = r.check_slots(); !s) // 2
    return s.error();
  UndoLog undo = r.undo_log();
  r.repair_lists(undo);  // 3
  r.release_slots(undo); // 4
  if (r.checked())
    if (Status s = r.checked_accounting(undo); !s) // 5
      return s.error();
  LFARENA_CRASH_POINT(recovery_leak_counted);
  return r.report();
}

} // namespace lfarena::detail
