// free_scan.cpp -- the quiescent walk of every free list (see free_scan.hpp).
#include "free_scan.hpp"

#include <algorithm>

#include "lfarena/detail/chunk.hpp"
#include "lfarena/detail/free_cache.hpp"

namespace lfarena::detail {

namespace {

std::string num(std::uint64_t v) { return std::to_string(v); }
std::string range(const FreeRange &r) {
  return "[" + num(r.offset) + ", " + num(std::uint64_t{r.offset} + r.size) + ")";
}

// Why the node (or link word) at `at` stopped a walk, for the message.
std::string diagnose(const Core<RegionWords> &core, std::uint32_t at) {
  const Geometry &g = core.geometry();
  const NodeLayout node(g);
  if (at < g.data_offset)
    return "a list head at offset " + num(at) + " links to a node outside the data area";
  if (!node.plausible_offset(at))
    return "the free node at offset " + num(at) + " is not inside the data area";
  const RegionWords &mem = core.memory();
  const std::uint64_t word = load_relaxed(mem.word(at + kNodeSizeWord));
  if (node.decode_size(at, word) == 0)
    return "the free node at offset " + num(at) + " has a damaged size word (" + num(word) +
           ": fails its check or is not a plausible size)";
  const Link next = node.decode_link(load_relaxed(mem.word(at + kNodeLinkWord)));
  if (next.offset() != 0 && !node.plausible_offset(next.offset()))
    return "the free node at offset " + num(at) + " links to offset " + num(next.offset()) +
           ", outside the data area";
  return "the free node at offset " + num(at) +
         " is out of order, in the wrong size class, marked, or part of a cycle";
}

} // namespace

Result<FreeScan> scan_free_lists(const Core<RegionWords> &core, std::uint64_t top,
                                 bool allow_marked, const std::string &who) {
  auto corrupt = [&](const std::string &what) {
    return Error(errc::corrupt_freelist, who + ": " + what);
  };
  FreeScan scan;
  const RegionWords &mem = core.memory();
  // Checked mode: nothing is allocated above the bump offset, so a mark there means the bump
  // word (or the bitmaps) are damaged; trusting it would hand those live blocks out again.
  if (core.checked()) {
    const Geometry &g = core.geometry();
    const auto from = static_cast<std::uint32_t>((top + kGranule - 1) / kGranule);
    if (const std::uint32_t at = core.block_map().first_mark_from(from, g.capacity / kGranule);
        at != ~std::uint32_t{0})
      return Error(errc::accounting_mismatch,
                   who + ": the checked-mode bitmaps mark a block at offset " +
                       num(std::uint64_t{at} * kGranule) + ", at or above the bump offset " +
                       num(top) + ": the bump word or the bitmaps are damaged");
    // And below it the last mark closes a block. Not for a crashed file (allow_marked):
    // recovery's repair drops such a start itself, as any live start without its end.
    if (const std::uint32_t at =
            allow_marked ? ~std::uint32_t{0}
                         : core.block_map().unclosed_below(g.data_offset / kGranule, from);
        at != ~std::uint32_t{0})
      return Error(errc::accounting_mismatch,
                   who + ": the checked-mode bitmaps mark a live block at offset " +
                       num(std::uint64_t{at} * kGranule) + " with no end mark below the bump " +
                       "offset " + num(top) + ": the bump word or the bitmaps are damaged");
  }
  const NodeLayout node(core.geometry());
  std::string problem;
  bool entries = false; // visiting a cache's array entries: blocks without node words
  auto visit = [&](std::uint32_t off, std::uint64_t size) {
    const FreeRange r{off, static_cast<std::uint32_t>(size)};
    if (off + size > top) {
      problem = "free segment " + range(r) + " lies above the bump offset " + num(top);
      return false;
    }
    if (allow_marked && !entries &&
        node.decode_link(load_relaxed(mem.word(off + kNodeLinkWord))).marked())
      scan.marked.push_back(off);
    scan.segments.push_back(r);
    return true;
  };
  const Fault fault = core.uses_segregated() ? core.segregated().walk(visit)
                                             : core.sorted().walk(visit, allow_marked);
  if (!problem.empty())
    return corrupt(problem);
  if (fault)
    return corrupt(diagnose(core, fault.at));
  entries = core.free_cache().arrays();
  if (core.geometry().thread_cache) // the thread caches' nodes are free segments too
    for (std::uint32_t i = 0; i < kChunkSlots; ++i) {
      const std::uint64_t word = load_relaxed(mem.word(slot_owner_at(i) + kSlotCache));
      if (word == 0)
        continue;
      const std::uint32_t block = cache_word_block(word);
      if (!cache_block_plausible(core.geometry(), word, top))
        return corrupt("thread-chunk slot " + num(i) + " names cache block " + num(block) + " of " +
                       num(cache_word_bytes(word)) + " bytes, not a 64-aligned block of " +
                       num(cache_block_bytes(core.geometry())) +
                       " bytes (or a little more) in the allocated data area below " + num(top));
      const Fault f = core.free_cache().walk(block, visit);
      if (!problem.empty())
        return corrupt(problem);
      if (f)
        return corrupt("in the free cache of thread-chunk slot " + num(i) + " (block " +
                       num(block) + "), " +
                       (f.at >= block && f.at < block + kCacheBlockBytes
                            ? "class " + num((f.at - block) / kGranule) +
                                  " has a damaged head word (count above the class's limit, " +
                                  "or not matching its first node or entries)"
                            : diagnose(core, f.at) + " (or its chain does not match the count)"));
    }
  if (!core.has_freelist() && !scan.segments.empty())
    return corrupt("freelist kind none but " + num(scan.segments.size()) + " segments listed");
  std::sort(scan.segments.begin(), scan.segments.end(),
            [](const FreeRange &a, const FreeRange &b) { return a.offset < b.offset; });
  for (std::size_t i = 0; i < scan.segments.size(); ++i) {
    const FreeRange &s = scan.segments[i];
    scan.bytes += s.size;
    scan.largest = std::max<std::uint64_t>(scan.largest, s.size);
    if (i > 0 && std::uint64_t{scan.segments[i - 1].offset} + scan.segments[i - 1].size > s.offset)
      return corrupt("free segments " + range(scan.segments[i - 1]) + " and " + range(s) +
                     " overlap");
  }
  return scan;
}

Result<SlotScan> scan_chunk_slots(const Core<RegionWords> &core, const FreeScan &free,
                                  std::uint64_t top, const std::string &who,
                                  std::uint32_t *culprit) {
  auto mismatch = [&](std::uint32_t slot, const std::string &what) {
    if (culprit != nullptr)
      *culprit = slot;
    return Error(errc::accounting_mismatch, who + ": " + what);
  };
  const RegionWords &mem = core.memory();
  const std::uint64_t data = core.geometry().data_offset;
  struct Tail {
    FreeRange r;
    std::uint32_t slot;
    bool cache = false; // a cache block (word 3), not a chunk tail
  };
  std::vector<Tail> tails;
  SlotScan out;
  std::uint64_t reserved = 0, most = 0;
  std::uint32_t most_at = kChunkSlots; // the slot holding the most bytes (none: no culprit)
  for (std::uint32_t i = 0; i < kChunkSlots; ++i) {
    const std::uint32_t at = slot_owner_at(i);
    const std::uint64_t ce = load_relaxed(mem.word(at + kSlotCursorEnd));
    const std::uint64_t cursor = ce & 0xffffffffu, end = ce >> 32;
    const std::uint64_t waste = load_relaxed(mem.word(at + kSlotWaste));
    // Cache blocks (in range: scan_free_lists) are held by free slots too. They must not
    // overlap free segments, tails or each other (checked with the tails below), and in checked
    // mode each is exactly one live block (attach_cache allocated it): else a damaged word 3
    // would make the owner write cache heads into a user's block or a free segment.
    if (const std::uint64_t word = load_relaxed(mem.word(at + kSlotCache));
        core.geometry().thread_cache && word != 0) {
      const FreeRange b{cache_word_block(word), cache_word_bytes(word)};
      if (core.checked() && !core.block_map().is_live_block(b.offset, b.size))
        return mismatch(i, "thread-chunk slot " + num(i) + " names cache block " + range(b) +
                               ", which is not one live block in the checked-mode bitmaps");
      out.caches.push_back(b);
      tails.push_back({b, i, true});
    }
    if (load_acquire(mem.word(at)) == 0) {
      // A free slot's words are cleared before it is freed (chunk.hpp), and a new owner trusts
      // them: words left in a free slot are damage (a close would give that "tail" back).
      if (ce != 0 || waste != 0)
        return mismatch(i, "thread-chunk slot " + num(i) + " is free but holds cursor " +
                               num(cursor) + ", end " + num(end) + ", waste " + num(waste));
      continue;
    }
    // A used-up chunk (cursor == end) holds no bytes, and its end may lie above the bump
    // offset: freeing its last block rolled the bump offset back below it. Not damage.
    if (!chunk_words_plausible(cursor, end, data, top) || waste > top - data)
      return mismatch(i, "thread-chunk slot " + num(i) + " is damaged (cursor " + num(cursor) +
                             ", end " + num(end) + ", waste " + num(waste) + ", bump offset " +
                             num(top) + ")");
    if (end > cursor)
      tails.push_back(
          {{static_cast<std::uint32_t>(cursor), static_cast<std::uint32_t>(end - cursor)}, i});
    const std::uint64_t held = (end > cursor ? end - cursor : 0) + waste;
    reserved += held;
    if (held > most) {
      most = held;
      most_at = i;
    }
  }
  std::sort(tails.begin(), tails.end(),
            [](const Tail &a, const Tail &b) { return a.r.offset < b.r.offset; });
  std::size_t f = 0; // tails and free segments both sorted by offset: one merge pass
  for (std::size_t i = 0; i < tails.size(); ++i) {
    const FreeRange &t = tails[i].r;
    // Of a tail and a cache block that overlap, the cache word is blamed (salvage clears that
    // slot): a damaged word 3 naming bytes it does not own is the likelier story, and clearing
    // the tail's slot would leave the bad word to write into those bytes.
    if (i > 0 && std::uint64_t{tails[i - 1].r.offset} + tails[i - 1].r.size > t.offset)
      return mismatch(tails[i - 1].cache && !tails[i].cache ? tails[i - 1].slot : tails[i].slot,
                      "thread-chunk slots " + num(tails[i - 1].slot) + " and " +
                          num(tails[i].slot) + " hold overlapping tails or cache blocks " +
                          range(tails[i - 1].r) + " and " + range(t));
    while (f < free.segments.size() &&
           std::uint64_t{free.segments[f].offset} + free.segments[f].size <= t.offset)
      ++f;
    if (f < free.segments.size() && free.segments[f].offset < std::uint64_t{t.offset} + t.size)
      return mismatch(tails[i].slot,
                      "thread-chunk slot " + num(tails[i].slot) + " holds tail or cache block " +
                          range(t) + ", which overlaps free segment " + range(free.segments[f]));
  }
  std::sort(out.caches.begin(), out.caches.end(),
            [](const FreeRange &a, const FreeRange &b) { return a.offset < b.offset; });
  const std::uint64_t discarded = core.discarded(), allocated = top - data;
  if (reserved + out.cache_bytes() + free.bytes + discarded > allocated)
    return mismatch(most_at,
                    "free " + num(free.bytes) + " + discarded " + num(discarded) +
                        (reserved != 0 ? " + chunk tails and waste " + num(reserved) : "") +
                        (out.caches.empty() ? "" : " + cache blocks " + num(out.cache_bytes())) +
                        " exceed allocated " + num(allocated));
  out.held = reserved;
  return out;
}

} // namespace lfarena::detail
