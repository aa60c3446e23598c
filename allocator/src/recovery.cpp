// recovery.cpp -- the crash recovery pass (see recovery.hpp).
#include "recovery.hpp"

#include "free_scan.hpp"

#include <utility>
#include <vector>

#include "lfarena/detail/checked.hpp"
#include "lfarena/detail/crash_point.hpp"
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

} // namespace

Result<RecoveryReport> recover(std::byte *base, const Geometry &g, const std::string &path) {
  const RegionWords mem{base};
  RecoveryReport rep;
  rep.ran = true;
  const std::uint64_t top = load_acquire(mem.word(hdr::bump));

  // 1. The free lists: validate them all first (a failed recovery must not have written
  // anything) through the library's own walk, which also lists the nodes whose remover died
  // between mark and unlink (they are still linked, and marked).
  const Core<RegionWords> core(mem, g);
  Result<FreeScan> scan = scan_free_lists(core, top, true, path + ": recovery");
  if (!scan)
    return scan.error();
  const std::uint64_t free_bytes = scan->bytes;
  const NodeLayout node(g);
  // The slot table too: a dead owner's chunk must lie below the bump offset (only damage can
  // put it elsewhere, and its bytes would be counted as leaked without bound).
  for (std::uint32_t i = 0; i < kChunkSlots; ++i) {
    const std::uint32_t at = slot_owner_at(i);
    if (load_acquire(mem.word(at)) == 0)
      continue;
    const std::uint64_t ce = load_relaxed(mem.word(at + kSlotCursorEnd));
    const std::uint64_t cursor = ce & 0xffffffffu, end = ce >> 32;
    const std::uint64_t waste = load_relaxed(mem.word(at + kSlotWaste));
    if ((end != 0 && (cursor < g.data_offset || cursor > end || end > top)) ||
        waste > top - g.data_offset)
      return Error(errc::accounting_mismatch, path + ": recovery: thread-chunk slot " + num(i) +
                                                  " is damaged (cursor " + num(cursor) + ", end " +
                                                  num(end) + ", waste " + num(waste) +
                                                  ", bump offset " + num(top) + ")");
  }
  // Only checked mode can fail after writing (its accounting check comes last): save from the
  // slot table to the end of the checked-mode bitmaps (capacity/21 bytes), else nothing.
  const bool checked = g.bitmap_offset != 0;
  UndoLog undo(mem, kChunkTableOffset,
               checked ? g.bitmap_offset + static_cast<std::uint32_t>(checked_map_bytes(g.capacity))
                       : kChunkTableOffset);
  for (const std::uint32_t cur : scan->marked) {
    if (checked)
      undo.save_word(cur + kNodeLinkWord);
    const Link next = node.decode_link(load_acquire(mem.word(cur + kNodeLinkWord)));
    store_release(mem.word(cur + kNodeLinkWord),
                  node.encode_link(Link::make(next.offset(), next.tag() + 1)));
    LFARENA_CRASH_POINT(recovery_node_unmarked);
  }
  rep.nodes_unmarked = scan->marked.size();
  if constexpr (LFARENA_SEEDED_BUG(
                    recovery_drops_segment)) // seeded bug: the first free segment is lost
    drop_first_segment(mem, g, node);
  // A crash between a push and its bit update leaves a non-empty class with a clear bit.
  if (g.class_table_offset != 0)
    ClassTable<RegionWords>(mem, g.class_table_offset).rebuild();

  // 2. Thread-chunk slots: every owner is dead (we are alone). Their tails and padding were
  // never handed out: leaked. Unchecked mode counts them here; checked mode counts every
  // unaccounted byte below, these included.
  std::uint64_t chunk_bytes = 0;
  for (std::uint32_t i = 0; i < kChunkSlots; ++i) {
    const std::uint32_t at = slot_owner_at(i);
    if (load_acquire(mem.word(at)) == 0)
      continue;
    chunk_bytes += slot_reserved(mem, at);
    store_relaxed(mem.word(at + kSlotCursorEnd), 0);
    store_relaxed(mem.word(at + kSlotWaste), 0);
    store_release(mem.word(at), 0);
    ++rep.chunks_released;
    LFARENA_CRASH_POINT(recovery_slot_released);
  }
  if (g.bitmap_offset == 0) {
    rep.leaked_bytes = chunk_bytes;
    fetch_add_relaxed(mem.word(hdr::discarded), chunk_bytes);
    fetch_add_relaxed(mem.word(hdr::leaked), chunk_bytes);
  }

  // 3. Checked mode: repair the bitmaps, then count what is neither live, free nor discarded.
  if (g.bitmap_offset != 0) {
    const BlockMap<RegionWords> map(mem, g.bitmap_offset, g.capacity);
    map.repair(g.data_offset, static_cast<std::uint32_t>(top), rep.blocks_dropped, rep.stray_ends);
    std::uint64_t live = 0;
    map.for_each_live(g.data_offset, static_cast<std::uint32_t>(top),
                      [&](std::uint32_t, std::uint32_t size) { live += size; });
    const std::uint64_t discarded = load_relaxed(mem.word(hdr::discarded));
    const std::uint64_t accounted = live + free_bytes + discarded;
    const std::uint64_t allocated = top - g.data_offset;
    if (accounted > allocated) {
      undo.restore();
      return Error(errc::accounting_mismatch,
                   path + ": recovery: live " + num(live) + " + free " + num(free_bytes) +
                       " + discarded " + num(discarded) + " exceed allocated " + num(allocated));
    }
    rep.leaked_bytes = allocated - accounted;
    fetch_add_relaxed(mem.word(hdr::discarded), rep.leaked_bytes);
    fetch_add_relaxed(mem.word(hdr::leaked), rep.leaked_bytes);
  }
  LFARENA_CRASH_POINT(recovery_leak_counted);
  return rep;
}

} // namespace lfarena::detail
