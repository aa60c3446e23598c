// thread_chunk.cpp -- the per-thread registry of chunks (see detail/thread_chunk.hpp): claiming a
// slot, refilling through chunk.hpp, giving chunks back at thread exit and at close, forgetting
// inherited ones in a fork child.
//
// Thread-safety: the registry is thread_local; slot words follow chunk.hpp's contract.
#include <memory>
#include <vector>

#include "lfarena/detail/thread_chunk.hpp"
#include "process.hpp"

namespace lfarena::detail {

namespace {

struct Entry {
  std::weak_ptr<const ChunkHost> arena;
  std::uint64_t id = 0;
  Chunk chunk;                // slot_at 0: no slot yet (or none free)
  std::uint32_t retry_in = 0; // no slot: allocations to wait before scanning again
};

// The thread's chunks in every arena it allocated from; gives them back when the thread exits.
struct Registry {
  std::vector<Entry> entries;
  ~Registry();
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
    if (Entry *e = find(tl_chunk.arena_id))
      e->chunk = tl_chunk.chunk;
  }
  void forget_dead() {
    std::erase_if(entries, [](const Entry &e) { return e.arena.expired(); });
  }
};

// Trivially destructible, so still readable from any thread_local destructor that runs after
// the registry's (a thread_local constructed before the thread's first chunk allocation is
// destroyed after the registry and may still allocate: it then takes the shared path).
thread_local bool t_registry_gone = false;
thread_local Registry *t_registry_ptr = nullptr; // set once the registry is constructed
thread_local Registry t_registry;

Registry::~Registry() {
  save_cache();
  tl_chunk = ChunkCache{};
  t_registry_gone = true;
  t_registry_ptr = nullptr;
  for (Entry &e : entries) {
    if (e.chunk.slot_at == 0)
      continue;
    if (std::shared_ptr<const ChunkHost> s = e.arena.lock()) {
      const RegionWords mem{s->base};
      chunk_give_back(mem, s->chunk_space(), e.chunk);
      free_slot(mem, e.chunk.slot_at);
    }
  }
}

} // namespace

std::uint32_t chunk_refill_allocate(const ChunkHost &s, std::uint32_t need, std::uint32_t align) {
  if (t_registry_gone)
    return 0;
  Registry &reg = t_registry;
  t_registry_ptr = &reg;
  reg.save_cache();
  Entry *e = reg.find(s.id);
  if (e == nullptr) {
    reg.forget_dead();
    reg.entries.push_back(Entry{s.weak_host(), s.id, Chunk{}, 0});
    e = &reg.entries.back();
  }
  const RegionWords mem{s.base};
  if (e->chunk.slot_at == 0) {
    if (e->retry_in > 0) {
      --e->retry_in;
      return 0;
    }
    e->chunk.slot_at = claim_slot(mem, owner_token(s.id));
    if (e->chunk.slot_at == 0) {
      e->retry_in = 1024; // all slots taken: use the shared path for a while
      return 0;
    }
  }
  const std::uint32_t offset =
      chunk_allocate(mem, s.chunk_space(), e->chunk, s.chunk_size, need, align);
  tl_chunk = ChunkCache{s.id, e->chunk};
  return offset;
}

void release_opener_chunks(const ChunkHost &s) {
  const RegionWords mem{s.base};
  const std::uint64_t mine = owner_token(s.id);
  for (std::uint32_t i = 0; i < kChunkSlots; ++i) {
    const std::uint32_t at = slot_owner_at(i);
    // Acquire: pairs with the claim's CAS, so the owner's slot words (written by threads of
    // this process before they dropped their last use of the arena) are visible.
    if (load_acquire(mem.word(at)) != mine)
      continue;
    const std::uint64_t ce = load_relaxed(mem.word(at + kSlotCursorEnd));
    Chunk c{at, static_cast<std::uint32_t>(ce), static_cast<std::uint32_t>(ce >> 32)};
    chunk_give_back(mem, s.chunk_space(), c);
    free_slot(mem, at);
  }
}

void forget_inherited_chunks() noexcept {
  tl_chunk = ChunkCache{};
  if (t_registry_ptr != nullptr)
    for (Entry &e : t_registry_ptr->entries) {
      e.chunk = Chunk{}; // no slot: the parent still owns it
      e.retry_in = 0;
    }
}

} // namespace lfarena::detail
