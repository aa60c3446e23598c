// salvage.cpp -- rebuilding damaged free lists (see salvage.hpp).
#include "salvage.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <string>
#include <vector>

#include "free_scan.hpp"
#include "lfarena/detail/checked.hpp"
#include "lfarena/detail/chunk.hpp"
#include "lfarena/detail/core.hpp"
#include "lfarena/detail/free_cache.hpp"
#include "lfarena/detail/node.hpp"
#include "recovery.hpp"

namespace lfarena::detail {

namespace {

struct Kept {
  std::uint32_t offset;
  std::uint32_t size;
  std::uint32_t list;
};

struct Lists {
  const RegionWords mem;
  const Geometry &g;
  const SortedPolicy<RegionWords> index{mem, g};
  const ClassTable<RegionWords> table{mem, g.class_table_offset};
  bool segregated() const { return g.freelist_kind == FreelistKind::segregated; }
  std::uint32_t count() const { return segregated() ? kClassCount : index.list_count(); }
  std::uint32_t head_at(std::uint32_t l) const {
    return segregated() ? table.head_at(l) : index.head_at(l);
  }
  // The class every node of list l must be in (kClassCount: any, the one linear list).
  std::uint32_t class_of(std::uint32_t l) const {
    return segregated() || index.indexed() ? l : kClassCount;
  }
};

// Live blocks (checked mode) sorted by offset, for the overlap test.
bool overlaps_live(const std::vector<Kept> &live, std::uint32_t o, std::uint32_t size) {
  auto it = std::upper_bound(live.begin(), live.end(), o,
                             [](std::uint32_t x, const Kept &b) { return x < b.offset; });
  if (it != live.end() && it->offset < std::uint64_t{o} + size)
    return true;
  return it != live.begin() && std::uint64_t{std::prev(it)->offset} + std::prev(it)->size > o;
}

// Checked mode: a cache block must be a live block of its own (the allocation that made it).
bool not_a_live_block(const std::vector<Kept> &live, std::uint32_t block, std::uint32_t bytes) {
  auto it = std::lower_bound(live.begin(), live.end(), block,
                             [](const Kept &b, std::uint32_t x) { return b.offset < x; });
  return it == live.end() || it->offset != block || it->size != bytes;
}

// Every head word of the block is one a cache can hold: word 0 unused unless it is the 256-byte
// class, counts within the limit, a first node exactly when the count is not 0, in range. A
// block that fails is not a cache block (a damaged word 3 naming other bytes): salvage must not
// write into it.
bool heads_plausible(const RegionWords &mem, const NodeLayout &node, const Geometry &g,
                     std::uint32_t block) {
  if (!g.cache_256 && load_relaxed(mem.word(block)) != 0)
    return false;
  const CacheArrayLayout arrays = cache_array_layout(g);
  for (std::uint32_t c = cache_first_class(g); c < kCacheClasses; ++c) {
    const std::uint64_t h = load_relaxed(mem.word(block + c * kGranule));
    const std::uint32_t first = cache_first(h), count = cache_count(h);
    if (g.cache_array) { // the count, within the class's limit
      if (h > CacheArrayLayout::limit(arrays.of(cache_class_bytes(c))))
        return false;
      continue;
    }
    if (count > kCacheLimit || (first == 0) != (count == 0) ||
        (first != 0 && !node.plausible_offset(first)))
      return false;
  }
  return true;
}

std::string num(std::uint64_t v) { return std::to_string(v); }

// The end of the highest well-formed free segment the lists lead to (as far as they validate;
// 0 if none): a free segment above the bump offset is evidence that the bump word was lowered.
std::uint64_t highest_free_end(const RegionWords &mem, const Geometry &g, const Lists &lists) {
  if (g.freelist_kind == FreelistKind::none)
    return 0;
  const NodeLayout node(g);
  const std::uint64_t limit = node.max_nodes();
  std::uint64_t highest = 0;
  for (std::uint32_t l = 0; l < lists.count(); ++l) {
    Link cur{load_acquire(mem.word(lists.head_at(l)))};
    for (std::uint64_t steps = 0; cur.offset() != 0 && steps < limit; ++steps) {
      const std::uint32_t o = cur.offset();
      if (!node.plausible_offset(o))
        break;
      const std::uint32_t size = node.decode_size(o, load_relaxed(mem.word(o + kNodeSizeWord)));
      if (size == 0)
        break;
      highest = std::max(highest, o + std::uint64_t{size});
      cur = node.decode_link(load_relaxed(mem.word(o + kNodeLinkWord)));
    }
  }
  return highest;
}

// Unchecked mode, before anything is written: a free segment above the bump offset means the
// bump word was lowered below blocks that exist, and the live ones among them cannot be told
// from free bytes, so no bump offset is known to be safe: refused, the file left as it was.
// So is a thread-chunk slot whose cursor (its chunk's bytes below it were handed out) or free
// cache block lies above it (helper-33: the slot was cleared as damaged, and the salvaged file
// handed out a live block).
Status check_unchecked_bump(const RegionWords &mem, const Geometry &g, const Lists &lists,
                            std::uint64_t top, const std::string &path) {
  auto refuse = [&](const std::string &what) {
    return Error(errc::bump_out_of_range,
                 path + ": salvage: " + what + ", above the bump offset " + num(top) +
                     ": the bump word is damaged, and an unchecked file cannot tell its live "
                     "blocks above it from free bytes; not repaired");
  };
  if (const std::uint64_t free_end = highest_free_end(mem, g, lists); free_end > top)
    return refuse("a well-formed free segment ends at offset " + num(free_end));
  for (std::uint32_t i = 0; i < kChunkSlots; ++i) {
    const std::uint64_t ce = load_relaxed(mem.word(slot_owner_at(i) + kSlotCursorEnd));
    const auto cursor = static_cast<std::uint32_t>(ce), end = static_cast<std::uint32_t>(ce >> 32);
    if (end != 0 && cursor > top && cursor <= end && end <= g.capacity)
      return refuse("thread-chunk slot " + num(i) + " has handed out its chunk up to offset " +
                    num(cursor));
    const std::uint64_t cache =
        g.thread_cache ? load_relaxed(mem.word(slot_owner_at(i) + kSlotCache)) : 0;
    if (cache != 0 && cache_block_plausible(g, cache, g.capacity) &&
        std::uint64_t{cache_word_block(cache)} + cache_word_bytes(cache) > top)
      return refuse("thread-chunk slot " + num(i) + " names the free cache block at offset " +
                    num(cache_word_block(cache)));
  }
  return {};
}

// Checked mode, exclusive: the bump offset salvage leaves, never below `top`. Marks at or
// above `top` are damage of one of two kinds. A lone mark (an end mark closing no live block,
// a live start without its end: one flipped bit) is cleared, as repair() clears it below the
// bump; the maps are then repaired up to the capacity instead of the bump offset, so a block
// straddling `top` keeps its end mark. A complete live block, or a well-formed free segment,
// above `top` means the bump word itself was lowered: the offset is raised to the end of the
// highest (raising only makes bytes unavailable; lowering would hand live ones out again).
std::uint64_t repair_maps_and_bump(const BlockMap<RegionWords> &map, const RegionWords &mem,
                                   const Geometry &g, const Lists &lists, std::uint64_t top,
                                   std::uint64_t &drops, std::uint64_t &strays) {
  const std::uint32_t granules = g.capacity / kGranule;
  const auto from = static_cast<std::uint32_t>((top + kGranule - 1) / kGranule);
  const bool marks_above = map.first_mark_from(from, granules) != ~std::uint32_t{0};
  map.repair(g.data_offset, marks_above ? g.capacity : static_cast<std::uint32_t>(top), drops,
             strays);
  drops += map.clear_impossible(granules); // outside that range
  std::uint64_t raised = std::max(top, highest_free_end(mem, g, lists));
  // Only complete blocks are left: the highest mark is the end of the highest one.
  for (std::uint32_t at = map.first_mark_from(from, granules); at != ~std::uint32_t{0};
       at = map.first_mark_from(at + 1, granules))
    raised = std::max(raised, (std::uint64_t{at} + 1) * kGranule);
  return raised;
}

// What salvage writes, saved so that a salvage that fails (in the recovery at its end) leaves
// the file as it was: the area below the data offset (header, slots, class table, bitmaps) and
// the words of the nodes it rewrites.
class Snapshot {
public:
  Snapshot(const RegionWords &mem, std::uint32_t data_offset) : mem_(mem), below_(data_offset / 8) {
    for (std::uint32_t i = 0; i < below_.size(); ++i)
      below_[i] = load_relaxed(mem.word(i * 8));
  }
  void save_node(std::uint32_t o) {
    nodes_.push_back(
        {o,
         {load_relaxed(mem_.word(o + kNodeLinkWord)), load_relaxed(mem_.word(o + kNodeSizeWord))}});
  }
  void restore() const {
    for (const auto &[o, w] : nodes_) {
      store_relaxed(mem_.word(o + kNodeLinkWord), w[0]);
      store_relaxed(mem_.word(o + kNodeSizeWord), w[1]);
    }
    for (std::uint32_t i = 0; i < below_.size(); ++i)
      store_relaxed(mem_.word(i * 8), below_[i]);
  }

private:
  RegionWords mem_;
  std::vector<std::uint64_t> below_;
  std::vector<std::pair<std::uint32_t, std::array<std::uint64_t, 2>>> nodes_;
};

} // namespace

Result<SalvageReport> salvage_lists(std::byte *base, const Geometry &g, const std::string &path) {
  const RegionWords mem{base};
  const NodeLayout node(g);
  const Lists lists{mem, g};
  std::uint64_t top = load_acquire(mem.word(hdr::bump));
  const bool crashed = load_acquire(mem.word(hdr::open_count)) != 0;
  SalvageReport rep;
  const bool has_lists = g.freelist_kind != FreelistKind::none;
  if (g.bitmap_offset == 0) {
    if (Status s = check_unchecked_bump(mem, g, lists, top, path); !s)
      return s.error();
  }
  Snapshot before(mem, g.data_offset); // the header (bump word) and the bitmaps too

  // Checked mode: the bitmaps first (what a crash or damage left) and the bump offset, then the
  // live blocks.
  std::vector<Kept> live;
  std::uint64_t repaired_drops = 0, repaired_strays = 0;
  if (g.bitmap_offset != 0) {
    const BlockMap<RegionWords> map(mem, g.bitmap_offset, g.capacity);
    if (const std::uint64_t raised =
            repair_maps_and_bump(map, mem, g, lists, top, repaired_drops, repaired_strays);
        raised != top) {
      rep.bump_raised_from = top;
      rep.bump_raised_to = raised;
      top = raised;
      store_release(mem.word(hdr::bump), top);
    }
    map.for_each_live(g.data_offset, static_cast<std::uint32_t>(top),
                      [&](std::uint32_t o, std::uint32_t s) {
                        live.push_back({o, s, 0});
                      });
    rep.bytes_counted = true;
  }

  // A list (or a cache class) cut at node o: o and what lies behind it are dropped.
  auto cut = [&rep](std::uint32_t o) {
    ++rep.lists_cut;
    ++rep.nodes_dropped;
    if (rep.first_damage == 0)
      rep.first_damage = o;
  };

  // 1. Follow every list while its nodes validate.
  std::vector<Kept> kept;
  std::vector<bool> seen(g.capacity / kGranule + 1);
  const std::uint64_t limit = node.max_nodes();
  for (std::uint32_t l = 0; has_lists && l < lists.count(); ++l) {
    bool have_prev = false;
    std::uint32_t prev_size = 0, prev_off = 0;
    Link cur{load_acquire(mem.word(lists.head_at(l)))};
    for (std::uint64_t steps = 0; cur.offset() != 0; ++steps) {
      const std::uint32_t o = cur.offset();
      bool good = node.plausible_offset(o) && !seen[o / kGranule] && steps < limit;
      std::uint32_t size = 0;
      Link next;
      if (good) {
        size = node.decode_size(o, load_relaxed(mem.word(o + kNodeSizeWord)));
        next = node.decode_link(load_relaxed(mem.word(o + kNodeLinkWord)));
        const std::uint32_t c = lists.class_of(l);
        good = size != 0 && o + std::uint64_t{size} <= top &&
               (c == kClassCount || floor_class(size) == c) &&
               (lists.segregated() || !have_prev ||
                lists.index.in_order(prev_size, prev_off, size, o)) &&
               (crashed || !next.marked()) && !overlaps_live(live, o, size);
      }
      if (!good) { // the list is cut here: this node and what lies behind it are dropped
        cut(o);
        break;
      }
      seen[o / kGranule] = true;
      kept.push_back({o, size, l});
      have_prev = true;
      prev_size = size;
      prev_off = o;
      cur = next;
    }
  }
  // 1b. The thread caches (free_cache.hpp): their nodes go to the class stacks with the rest.
  // A slot naming an implausible cache block forgets it (its bytes stay unaccounted).
  std::vector<std::uint32_t> caches;
  for (std::uint32_t i = 0; g.thread_cache && i < kChunkSlots; ++i) {
    const std::uint32_t at = slot_owner_at(i) + kSlotCache;
    const std::uint64_t word = load_relaxed(mem.word(at));
    if (word == 0)
      continue;
    const std::uint32_t block = cache_word_block(word);
    if (!cache_block_plausible(g, word, top) ||
        (g.bitmap_offset != 0 && not_a_live_block(live, block, cache_word_bytes(word))) ||
        !heads_plausible(mem, node, g, block)) {
      store_relaxed(mem.word(at), 0); // below the data offset: the snapshot has it
      ++rep.slots_cleared;
      continue;
    }
    // Its nodes, class by class while they validate. A block where every non-empty class
    // fails at its first node is no cache (a damaged word 3 naming a user's block whose words
    // merely look like heads): forgotten without writing into it.
    std::vector<Kept> nodes;
    std::uint32_t classes = 0, with_nodes = 0, first_bad = 0, cuts = 0;
    const CacheArrayLayout arrays = cache_array_layout(g);
    for (std::uint32_t c = cache_first_class(g); g.cache_array && c < kCacheClasses; ++c) {
      // The array layout: entries, kept while they check (encode_entry) and lie in the
      // allocated area clear of live blocks and of segments kept before.
      const std::uint32_t size = cache_class_bytes(c), meta = arrays.of(size);
      const auto count =
          static_cast<std::uint32_t>(load_relaxed(mem.word(block + c * kGranule))); // plausible
      classes += count != 0 ? 1 : 0;
      for (std::uint32_t i = 0; i < count; ++i) {
        const std::uint32_t where = block + CacheArrayLayout::entry_at(meta, i);
        const std::uint64_t e = load_relaxed(mem.word(where));
        const auto o = static_cast<std::uint32_t>(e);
        if (!node.plausible_block(o, size) || e != node.encode_entry(o, size, where) ||
            seen[o / kGranule] || o + std::uint64_t{size} > top || size < g.min_segment ||
            overlaps_live(live, o, size)) {
          ++cuts;
          first_bad = first_bad != 0 ? first_bad : (o != 0 ? o : block + c * kGranule);
          break;
        }
        with_nodes += i == 0 ? 1 : 0;
        nodes.push_back({o, size, floor_class(size)}); // its shared stack
      }
    }
    for (std::uint32_t c = cache_first_class(g); !g.cache_array && c < kCacheClasses; ++c) {
      std::uint32_t o = cache_first(load_relaxed(mem.word(block + c * kGranule)));
      classes += o != 0 ? 1 : 0;
      for (std::uint32_t steps = 0; o != 0; ++steps) {
        const std::uint32_t size = cache_class_bytes(c);
        bool good = node.plausible_offset(o) && !seen[o / kGranule] && steps < kCacheLimit;
        Link next;
        if (good) {
          next = node.decode_link(load_relaxed(mem.word(o + kNodeLinkWord)));
          good = node.decode_size(o, load_relaxed(mem.word(o + kNodeSizeWord))) == size &&
                 o + std::uint64_t{size} <= top && !next.marked() && !overlaps_live(live, o, size);
        }
        if (!good) {
          ++cuts;
          first_bad = first_bad != 0 ? first_bad : o;
          break;
        }
        with_nodes += steps == 0 ? 1 : 0;
        nodes.push_back({o, size, floor_class(size)}); // its shared stack
        o = next.offset();
      }
    }
    if (classes != 0 && with_nodes == 0) {
      store_relaxed(mem.word(at), 0);
      ++rep.slots_cleared;
      continue;
    }
    if (cuts != 0)
      cut(first_bad);
    rep.lists_cut += cuts - (cuts != 0 ? 1 : 0);
    rep.nodes_dropped += cuts - (cuts != 0 ? 1 : 0);
    caches.push_back(block);
    for (const Kept &k : nodes) {
      seen[k.offset / kGranule] = true;
      kept.push_back(k);
    }
  }

  // 2. Segments that overlap an earlier kept one.
  std::sort(kept.begin(), kept.end(),
            [](const Kept &a, const Kept &b) { return a.offset < b.offset; });
  std::vector<Kept> good;
  for (const Kept &k : kept) {
    if (!good.empty() && std::uint64_t{good.back().offset} + good.back().size > k.offset) {
      ++rep.nodes_dropped;
      continue;
    }
    good.push_back(k);
    rep.bytes_kept += k.size;
  }
  rep.segments_kept = good.size();

  // 3. The lists anew: per list in its order (a stack in any), fresh node words and tags.
  if (has_lists) {
    std::stable_sort(good.begin(), good.end(), [&](const Kept &a, const Kept &b) {
      if (a.list != b.list)
        return a.list < b.list;
      return !lists.segregated() && lists.index.before(a.size, a.offset, b.size, b.offset);
    });
    for (const Kept &k : good)
      before.save_node(k.offset);
    for (std::uint32_t l = 0; l < lists.count(); ++l)
      store_relaxed(mem.word(lists.head_at(l)), 0);
    for (const std::uint32_t block : caches) { // every cached node is on the stacks now
      for (std::uint32_t c = 0; c < kCacheClasses; c += 2) {
        before.save_node(block + c * kGranule); // two head words
        store_relaxed(mem.word(block + c * kGranule), 0);
        store_relaxed(mem.word(block + (c + 1) * kGranule), 0);
      }
      // And every entry of the array layout: none stays valid for a count damage may raise.
      for (std::uint32_t at = block + kCacheBlockBytes;
           g.cache_array && at < block + cache_block_bytes(g); at += 2 * kGranule) {
        before.save_node(at);
        store_relaxed(mem.word(at), 0);
        store_relaxed(mem.word(at + kGranule), 0);
      }
    }
    store_relaxed(mem.word(hdr::freelist_head), 0);
    for (std::size_t i = good.size(); i-- > 0;) {
      const Kept &k = good[i];
      const bool last_of_list = i + 1 == good.size() || good[i + 1].list != k.list;
      const std::uint32_t next = last_of_list ? 0 : good[i + 1].offset;
      const auto tag = static_cast<std::uint32_t>(fetch_add_relaxed(mem.word(hdr::node_tags), 1));
      store_relaxed(mem.word(k.offset + kNodeSizeWord), node.encode_size(k.offset, k.size));
      store_relaxed(mem.word(k.offset + kNodeLinkWord), node.encode_link(Link::make(next, tag)));
      if (i == 0 || good[i - 1].list != k.list)
        store_release(mem.word(lists.head_at(k.list)), Link::make(k.offset, tag).raw);
    }
  }

  if (!has_lists) // `none` keeps no list: its head word is 0 (a flipped bit there is cleared)
    store_relaxed(mem.word(hdr::freelist_head), 0);

  // A discarded counter that claims more than the live blocks (checked mode) and the kept free
  // segments leave is damaged: the slot pass below would blame innocent slots for it, and the
  // recovery refuse the file. It is set to 0: checked-mode recovery then counts exactly the
  // bytes neither live nor free as discarded (as leaked too; the leaked count is put back
  // below); unchecked mode cannot tell them from live bytes, and counts them as live.
  const std::uint64_t leaked = load_relaxed(mem.word(hdr::leaked));
  {
    std::uint64_t live_bytes = 0;
    for (const Kept &k : live)
      live_bytes += k.size;
    const std::uint64_t discarded = load_relaxed(mem.word(hdr::discarded));
    if (discarded + live_bytes + rep.bytes_kept > top - g.data_offset) {
      rep.discarded_recounted_from = discarded;
      store_relaxed(mem.word(hdr::discarded), 0); // in the header: the snapshot has it
    }
  }

  // Thread-chunk slots the recovery below would refuse (free_scan.hpp: out of range, tails
  // overlapping each other or a free segment, more bytes held than allocated): forgotten, one
  // culprit at a time; their bytes stay unaccounted (checked mode: counted as leaked by the
  // recovery below).
  const Core<RegionWords> core(mem, g);
  if (Result<FreeScan> rebuilt = scan_free_lists(core, top, false, path); rebuilt) {
    std::uint32_t bad = kChunkSlots;
    // At most one pass per slot: every pass clears a slot that held something.
    for (std::uint32_t pass = 0;
         pass <= kChunkSlots && !scan_chunk_slots(core, *rebuilt, top, path, &bad) &&
         bad < kChunkSlots;
         ++pass) {
      for (std::uint32_t w = 0; w < kChunkSlotBytes; w += 8)
        store_relaxed(mem.word(slot_owner_at(bad) + w), 0);
      ++rep.slots_cleared;
      bad = kChunkSlots;
    }
  }

  // 4. Crash recovery on the rebuilt lists: dead owners' chunks, the class bitmap, checked-mode
  // accounting (the dropped bytes become leaked).
  Result<RecoveryReport> r = recover(base, g, path);
  if (!r) {
    before.restore();
    return r.error();
  }
  if (rep.discarded_recounted_from != 0) { // the recovery counted them all as leaked: not so,
                                           // and the leaked bytes are a part of the discarded
    rep.discarded_recounted_to = load_relaxed(mem.word(hdr::discarded));
    store_relaxed(mem.word(hdr::leaked), std::min(leaked, rep.discarded_recounted_to));
  }
  rep.recovery = *r;
  rep.recovery.blocks_dropped += repaired_drops;
  rep.recovery.stray_ends += repaired_strays;
  store_release(mem.word(hdr::open_count), 0);
  return rep;
}

} // namespace lfarena::detail
