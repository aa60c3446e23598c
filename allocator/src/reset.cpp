// reset.cpp -- Arena::reset(): every byte free again at once (arena.hpp).
//
// Quiescent by contract, and checked as far as the region can tell: for a file, the caller is
// its sole read-write opener for the whole reset (run_as_sole_opener: the join lock keeps new
// openers out until the reset is done; a process that joined between a check and the writes
// would otherwise have its blocks handed out again, which an outside attack showed), and no
// slot is held by another live thread of this opener once the caller's own is given back.
// Then the mutable header words, the slot table, the size-class table and the checked-mode
// bitmaps are written as a new arena's (relaxed stores: nobody else reads them; the caller's
// later synchronisation publishes them), the bump offset last, with release.
// A new node key first (see reset_words()), so no node word from before is valid after.
// Not crash-atomic: a crash of the process inside reset() can leave a file arena whose lists
// are already empty while its bump offset is not yet back (unchecked files then open with every
// old byte counted as live; checked ones fail their accounting check), or, between the new key
// and the cleared lists, lists whose nodes fail under the new key (corrupt_freelist). The crash
// tests do not cover it: treat such a file with lfarena-check.
//
// Thread-safety: the caller's thread alone uses the arena during the call.
#include <string>

#include "arena_factory.hpp"
#include "lfarena/arena.hpp"
#include "lfarena/detail/checked.hpp"
#include "lfarena/detail/size_class.hpp"
#include "process.hpp"

namespace lfarena {

namespace {

// The reset itself, once nothing else can touch the region (see the banner).
Status reset_words(const detail::ArenaState &s, bool file) {
  const detail::RegionWords mem{s.base};
  const detail::Geometry &g = s.core.geometry();
  // A fork relative shares our file description, so the lock cannot see it: then the open
  // count must say we are alone (a relative that exited without closing keeps it refused).
  if (file && s.fork_shared.load(std::memory_order_relaxed)) {
    if (const std::uint64_t n = detail::load_acquire(mem.word(detail::hdr::open_count)); n != 1)
      return Error(errc::in_use,
                   s.name +
                       ": reset: a fork shared this file's description with another "
                       "process and the file is open " +
                       std::to_string(n) +
                       " times; reset needs that process to close it (the lock cannot tell "
                       "it from us)");
  }
  // Slots owned with our token belong to live threads of this opener: refuse. Any other owner
  // is dead: for a file, we are its sole read-write opener (the opener lock says so, whatever
  // a dead opener left in open_count); for a heap or anonymous arena, only a fork parent's
  // threads, whose chunks live on in its own copy, not in ours.
  const std::uint64_t mine = detail::owner_token(s.id);
  std::uint32_t held = 0;
  for (std::uint32_t i = 0; i < detail::kChunkSlots; ++i)
    held += detail::load_acquire(mem.word(detail::slot_owner_at(i))) == mine ? 1 : 0;
  if (held != 0)
    return Error(errc::in_use, s.name + ": reset: " + std::to_string(held) +
                                   " thread-chunk slot(s) are held by other threads (they give "
                                   "them back when they exit); reset needs quiescence");
  // A new node key first (helper-25): the data area keeps its bytes, and blocks handed out
  // after the reset would hold the old free nodes' valid words, which a user's copy of its own
  // block, written back after a free, would turn into a node again (a live block handed out
  // twice). Under the new key every old node word fails its checks (node.hpp). Files of format
  // v1/v2 have no key (0) and keep none.
  if (g.node_key != 0) {
    const std::uint64_t key = detail::random_u64() | 1; // never 0: "no key"
    auto *h = reinterpret_cast<unsigned char *>(s.base);
    detail::put_le64(h + detail::hdr::node_key, key);
    detail::put_le64(h + detail::hdr::checksum,
                     detail::header_checksum(h, detail::get_le32(h + detail::hdr::format_version)));
    // The arena's own state (its policies' copies of the key): quiescent by contract, and
    // the object is not const, only the handle's view of it.
    const_cast<detail::ArenaState &>(s).core.rekey(key);
  }
  // Lists first (empty: nothing can be taken from them), then the slots (no chunk tail or cache
  // block is counted any more), then the statistics, then the bump offset.
  detail::store_relaxed(mem.word(detail::hdr::freelist_head), 0);
  if (g.class_table_offset != 0)
    for (std::uint32_t at = 0; at < detail::kClassTableBytes; at += 8)
      detail::store_relaxed(mem.word(g.class_table_offset + at), 0);
  for (std::uint32_t i = 0; i < detail::kChunkSlots; ++i)
    for (std::uint32_t w = 0; w < detail::kChunkSlotBytes; w += 8)
      detail::store_relaxed(mem.word(detail::slot_owner_at(i) + w), 0);
  if (g.bitmap_offset != 0)
    for (std::uint32_t at = 0; at < detail::checked_map_bytes(g.capacity); at += 8)
      detail::store_relaxed(mem.word(g.bitmap_offset + at), 0);
  detail::store_relaxed(mem.word(detail::hdr::discarded), 0);
  detail::store_relaxed(mem.word(detail::hdr::leaked), 0);
  if (file) // exactly one opener now: us (a dead opener's count goes with its lock)
    detail::store_relaxed(mem.word(detail::hdr::open_count), 1);
  // Release: a later acquirer of the bump word sees the cleared lists and maps first.
  detail::store_release(mem.word(detail::hdr::bump), g.data_offset);
  // ASan builds: the whole data area is never-handed-out memory again (memory.hpp).
  detail::poison_bytes(mem, g.data_offset, g.capacity - g.data_offset);
  return {};
}

} // namespace

Status Arena::reset() const {
  if (state_ == nullptr)
    return empty_handle_error("reset");
  if (state_->read_only)
    return read_only_error("reset");
  const detail::ArenaState &s = *state_;
  detail::release_own_chunk(s);
  if (const auto *f = std::get_if<detail::FileBacking>(&s.backing))
    return detail::run_as_sole_opener(*f, s.name + ": reset", // (no fork during the body)
                                      [&s] { return reset_words(s, true); });
  Status r; // no fork in between: a fork child's private copy is all old or all new
  detail::without_fork([&] { r = reset_words(s, false); });
  return r;
}

} // namespace lfarena
