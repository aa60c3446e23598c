// thread_chunk.cpp -- the slow path of thread-local bump chunks (see detail/thread_chunk.hpp):
// claiming a slot, reserving and refilling chunks, giving tails back at thread exit and close.
//
// Thread-safety: slot owner words are claimed with a CAS; everything else in a slot is written
// by its owner only. The per-thread registry is thread_local.
#include <unistd.h>

#include <atomic>
#include <memory>
#include <vector>

#include "lfarena/arena.hpp"

namespace lfarena::detail {

namespace {

std::atomic<std::uint32_t> g_next_thread{1};
thread_local std::uint32_t t_thread_number = 0;

// The owner word of a slot: the pid (high 32 bits), the claiming ArenaState's id (16 bits: so
// closing one of two handles on the same file in a process gives back only its own chunks) and
// a thread number unique in the process (16 bits). Never 0.
std::uint64_t owner_id(const ArenaState &s) {
  if (t_thread_number == 0)
    t_thread_number = g_next_thread.fetch_add(1, std::memory_order_relaxed);
  return std::uint64_t{static_cast<std::uint32_t>(::getpid())} << 32 | (s.id & 0xffff) << 16 |
         (t_thread_number & 0xffff) | 1u << 15;
}
constexpr std::uint64_t kOwnerArenaMask = ~std::uint64_t{0xffff}; // pid and arena id

struct Entry {
  std::weak_ptr<ArenaState> arena;
  std::uint64_t id = 0;
  std::uint32_t slot_at = 0; // 0: no free slot was found
  std::uint32_t cursor = 0, end = 0;
  std::uint32_t retry_in = 0; // no slot: allocations to wait before scanning again
};

// Gives back a chunk's unused tail and its alignment waste. The slot is cleared first: a crash
// after that under-counts (the bytes look live, or are leaked in checked mode); the other order
// would let recovery count them a second time.
void give_back_tail(const ArenaState &s, std::uint32_t slot_at, std::uint32_t cursor,
                    std::uint32_t end) {
  const RegionWords mem{s.base};
  atomic_u64 &waste = mem.word(slot_at + kSlotWaste);
  const std::uint64_t pad = load_relaxed(waste);
  store_relaxed(mem.word(slot_at + kSlotCursorEnd), 0);
  store_relaxed(waste, 0);
  s.core.release(cursor, end - cursor);
  s.core.discard(static_cast<std::uint32_t>(pad));
}

void free_slot(const ArenaState &s, std::uint32_t slot_at) {
  // Release: the slot's words (zeroed above) are settled before another thread may claim it.
  store_release(RegionWords{s.base}.word(slot_at), 0);
}

// The thread's chunks in every arena it allocated from; gives them back when the thread exits.
struct Registry {
  std::vector<Entry> entries;
  ~Registry() {
    save_cache();
    for (Entry &e : entries) {
      if (e.slot_at == 0)
        continue;
      if (std::shared_ptr<ArenaState> s = e.arena.lock()) {
        give_back_tail(*s, e.slot_at, e.cursor, e.end);
        free_slot(*s, e.slot_at);
      }
    }
    tl_chunk = ChunkCache{};
  }
  Entry *find(std::uint64_t id) {
    for (Entry &e : entries)
      if (e.id == id)
        return &e;
    return nullptr;
  }
  // Writes the fast-path cache back into its entry.
  void save_cache() {
    if (tl_chunk.arena_id == 0)
      return;
    if (Entry *e = find(tl_chunk.arena_id)) {
      e->cursor = tl_chunk.cursor;
      e->end = tl_chunk.end;
    }
  }
  void forget_dead() {
    std::erase_if(entries, [](const Entry &e) { return e.arena.expired(); });
  }
};
thread_local Registry t_registry;

std::uint32_t claim_slot(const ArenaState &s) {
  const RegionWords mem{s.base};
  const std::uint64_t me = owner_id(s);
  // Even slots first: two slots share a 64-byte line, and the owner stores its cursor there on
  // every allocation, so neighbours would false-share the line (two threads scaled 1.25x
  // instead of ~2x). Odd slots only once 32 threads hold the even ones.
  for (std::uint32_t n = 0; n < kChunkSlots; ++n) {
    const std::uint32_t i = n < kChunkSlots / 2 ? 2 * n : 2 * (n - kChunkSlots / 2) + 1;
    atomic_u64 &owner = mem.word(slot_owner_at(i));
    std::uint64_t expected = 0;
    // acq_rel: acquire pairs with the previous owner's release in free_slot().
    if (load_relaxed(owner) == 0 && cas_acq_rel(owner, expected, me))
      return slot_owner_at(i);
  }
  return 0;
}

} // namespace

bool chunk_refill_allocate(ArenaState &s, std::uint32_t size, std::uint32_t align,
                           std::uint32_t &offset, std::uint32_t &block) {
  Registry &reg = t_registry;
  reg.save_cache();
  Entry *e = reg.find(s.id);
  if (e == nullptr) {
    reg.forget_dead();
    reg.entries.push_back(Entry{s.weak_from_this(), s.id, 0, 0, 0, 0});
    e = &reg.entries.back();
  }
  if (e->slot_at == 0) {
    if (e->retry_in > 0) {
      --e->retry_in;
      return false;
    }
    e->slot_at = claim_slot(s);
    if (e->slot_at == 0) {
      e->retry_in = 1024; // all slots taken: use the shared path for a while
      return false;
    }
  }
  const std::uint64_t a = align < kGranule ? kGranule : align;
  const std::uint64_t need = align_up(size, kGranule);
  std::uint64_t start = align_up(e->cursor, a);
  if (e->end == 0 || start + need > e->end) {
    // Exhausted (or new): give the tail back and reserve a fresh chunk in the same slot.
    if (e->end != 0)
      give_back_tail(s, e->slot_at, e->cursor, e->end);
    const BumpGrab grab = s.core.reserve(s.chunk_size);
    if (grab.offset == 0) { // the bump region is (nearly) full: shared path from now on
      e->cursor = e->end = 0;
      tl_chunk = ChunkCache{s.id, 0, 0, e->slot_at};
      return false;
    }
    if (grab.pad != 0)
      s.core.discard(grab.pad);
    e->cursor = grab.offset;
    e->end = grab.offset + s.chunk_size;
    start = align_up(e->cursor, a);
  }
  const RegionWords mem{s.base};
  const std::uint64_t pad = start - e->cursor;
  e->cursor = static_cast<std::uint32_t>(start + need);
  // Cursor first, then the waste: a crash between them under-counts, never double-counts.
  store_relaxed(mem.word(e->slot_at + kSlotCursorEnd), e->cursor | std::uint64_t{e->end} << 32);
  if (pad != 0) {
    atomic_u64 &waste = mem.word(e->slot_at + kSlotWaste);
    store_relaxed(waste, load_relaxed(waste) + pad);
  }
  tl_chunk = ChunkCache{s.id, e->cursor, e->end, e->slot_at};
  offset = static_cast<std::uint32_t>(start);
  block = static_cast<std::uint32_t>(need);
  s.core.note_allocated(offset, block);
  return true;
}

void release_process_chunks(ArenaState &s) {
  const RegionWords mem{s.base};
  const std::uint64_t mine = owner_id(s) & kOwnerArenaMask;
  for (std::uint32_t i = 0; i < kChunkSlots; ++i) {
    const std::uint32_t at = slot_owner_at(i);
    const std::uint64_t owner = load_acquire(mem.word(at));
    if (owner == 0 || (owner & kOwnerArenaMask) != mine)
      continue;
    const std::uint64_t ce = load_relaxed(mem.word(at + kSlotCursorEnd));
    const auto cursor = static_cast<std::uint32_t>(ce), end = static_cast<std::uint32_t>(ce >> 32);
    give_back_tail(s, at, end != 0 ? cursor : 0, end);
    free_slot(s, at);
  }
}

} // namespace lfarena::detail
