// thread_chunk.cpp -- the per-thread registry of chunks (see detail/thread_chunk.hpp): claiming a
// slot, refilling through chunk.hpp, giving chunks back at thread exit and at close, forgetting
// inherited ones in a fork child.
//
// Thread-safety: the registry is thread_local; slot words follow chunk.hpp's contract.
#include <algorithm>
#include <memory>
#include <vector>

#include "lfarena/detail/thread_chunk.hpp"
#include "process.hpp"

namespace lfarena::detail {

// Gives the chunk's tail back, drains the slot's free cache and frees the slot (owner only).
void release_slot(const ChunkHost &s, Chunk &c);

namespace {

struct Entry {
  std::weak_ptr<const ChunkHost> arena;
  std::uint64_t id = 0;
  Chunk chunk;                // slot_at 0: no slot yet (or none free)
  std::uint32_t retry_in = 0; // no slot: allocations to wait before scanning again
  CachePolicy policy;         // ChunkCache::policy while the entry is not cached
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
    if (Entry *e = find(tl_chunk.arena_id)) {
      e->chunk = tl_chunk.chunk;
      e->policy = tl_chunk.policy;
    }
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
    if (std::shared_ptr<const ChunkHost> s = e.arena.lock())
      release_slot(*s, e.chunk);
  }
}

// Gives the slot at `slot_at` a new (zeroed: every class empty) cache block unless it has one.
// false: no room for one (the arena is full, or its slots hold cache_blocks_cap() bytes of
// blocks already). Any thread may provision any slot, owned or not, hence the CAS: its release
// publishes the zeroed words to the owner's acquire load in attach_cache(); the loser of a race
// frees its block again.
bool provision_cache(const ChunkHost &s, std::uint32_t slot_at) {
  const RegionWords mem{s.base};
  atomic_u64 &word = mem.word(slot_at + kSlotCache);
  if (load_relaxed(word) != 0) // relaxed: only a hint; the CAS below decides
    return true;
  const Geometry &g = s.chunk_space().geometry();
  const std::uint32_t bytes = cache_block_bytes(g);
  // The cap counts the slots' blocks and this opener's provisioning in flight (ours included).
  // acq_rel: a provisioner whose fetch_sub our fetch_add reads from set its word 3 before it, so
  // the relaxed loads below see that block; one that has not finished is in `pending`. Exact
  // within one opener; other openers' provisioning at the same moment may pass it.
  const std::uint64_t pending =
      s.cache_provisioning.fetch_add(bytes, std::memory_order_acq_rel) + bytes;
  struct Finished {
    const ChunkHost &s;
    std::uint32_t bytes;
    ~Finished() { s.cache_provisioning.fetch_sub(bytes, std::memory_order_acq_rel); }
  } finished{s, bytes};
  std::uint64_t held = 0;
  for (std::uint32_t i = 0; i < kChunkSlots; ++i)
    held += cache_word_bytes(load_relaxed(mem.word(slot_owner_at(i) + kSlotCache)));
  if (held + pending > cache_blocks_cap(g))
    return false;
  RawBlock b;
  if (s.chunk_space().allocate(bytes, kCacheBlockAlign, b) != errc::ok)
    return false;
  for (std::uint32_t c = 0; c < kCacheClasses; ++c)
    store_relaxed(mem.word(b.offset + c * kGranule), 0);
  // A crash before this CAS leaks the block (checked-mode recovery counts it), never loses a
  // cached node: the block holds none yet.
  std::uint64_t expected = 0;
  if (!cas_release(word, expected, cache_word(b.offset, b.size)))
    (void)s.chunk_space().deallocate(b.offset, b.size);
  return true;
}

// The block a slot's word 3 names, or 0 if it names none or one no allocation can have made
// (damage: the thread then runs without a cache, and check() names the word). Read the word
// with acquire first: the block's bump CAS happened before its release store, so top() is at
// least the block's end.
std::uint32_t plausible_cache_block(const ChunkHost &s, std::uint64_t word) {
  return word != 0 && cache_block_plausible(s.chunk_space().geometry(), word, s.chunk_space().top())
             ? cache_word_block(word)
             : 0;
}

// The slot's cache block: the one an earlier owner (or a provisioning thread) left in word 3,
// else new ones, for this slot and the next cache_provision() - 1 slots in claim order. 0 if
// the arena has no thread caches or no room, or word 3 is damaged.
std::uint32_t attach_cache(const ChunkHost &s, std::uint32_t slot_at) {
  if (s.cache_max == 0)
    return 0;
  const RegionWords mem{s.base};
  // Acquire: pairs with the provisioning CAS (release), so the block's zeroed words are
  // visible; the claim's acquire CAS already ordered a previous owner's words before this.
  atomic_u64 &word = mem.word(slot_at + kSlotCache);
  if (const std::uint64_t kept = load_acquire(word); kept != 0)
    return plausible_cache_block(s, kept);
  const std::uint32_t first = claim_rank((slot_at - kChunkTableOffset) / kChunkSlotBytes);
  const Geometry &g = s.chunk_space().geometry();
  const std::uint32_t last =
      std::min(kChunkSlots, first + cache_provision(g.capacity, cache_block_bytes(g)));
  for (std::uint32_t n = first; n < last; ++n)
    if (!provision_cache(s, slot_owner_at(slot_in_claim_order(n))))
      break;
  return plausible_cache_block(s, load_acquire(word));
}

// The calling thread's registry entry for arena `s`, with a slot claimed (and its cache
// attached); nullptr if the thread is exiting or no slot is free (then the thread retries
// only after 1024 calls).
Entry *owned_entry(const ChunkHost &s) {
  if (t_registry_gone)
    return nullptr;
  Registry &reg = t_registry;
  t_registry_ptr = &reg;
  reg.save_cache();
  Entry *e = reg.find(s.id);
  if (e == nullptr) {
    reg.forget_dead();
    // A new entry has nothing cached from before: the pressure so far is answered.
    reg.entries.push_back(Entry{s.weak_host(), s.id, Chunk{}, 0,
                                CachePolicy{s.cache_pressure.load(std::memory_order_relaxed)}});
    e = &reg.entries.back();
  }
  if (e->chunk.slot_at == 0) {
    if (e->retry_in > 0) {
      --e->retry_in;
      return nullptr;
    }
    e->chunk.slot_at = claim_slot(RegionWords{s.base}, owner_token(s.id));
    if (e->chunk.slot_at == 0) {
      e->retry_in = 1024; // all slots taken: use the shared path for a while
      return nullptr;
    }
    e->chunk.cache_at = attach_cache(s, e->chunk.slot_at);
  }
  tl_chunk = ChunkCache{s.id, e->chunk, e->policy};
  // Now that tl_chunk is this arena's: a thread whose last use was another arena answers the
  // pressure here (the slow paths' own check, before the switch, could not see it).
  answer_cache_pressure(s);
  return e;
}

} // namespace

void release_slot(const ChunkHost &s, Chunk &c) {
  const RegionWords mem{s.base};
  chunk_give_back(mem, s.chunk_space(), c);
  // Damage met by the drain cannot be reported here (thread exit, close): the damaged rest of
  // its class stays in the cache, where check(), the next open and the next owner report it.
  if (c.cache_at != 0)
    (void)s.chunk_space().free_cache().drain(c.cache_at);
  free_slot(mem, c.slot_at);
}

std::uint32_t chunk_refill_allocate(const ChunkHost &s, std::uint32_t need, std::uint32_t align,
                                    std::uint32_t &damaged) {
  Entry *e = owned_entry(s);
  if (e == nullptr)
    return 0;
  if (e->chunk.cache_at != 0 && need <= s.cache_max && align == kGranule)
    if (const std::uint32_t o = s.chunk_space().cache_take(e->chunk.cache_at, need, damaged);
        o != 0 || damaged != 0)
      return o;
  std::uint32_t offset =
      chunk_allocate(RegionWords{s.base}, s.chunk_space(), e->chunk, s.chunk_size, need, align);
  // No chunk (the bump region is exhausted): a cached size refills the cache from the shared
  // stack of its size (Core::cache_refill).
  if (offset == 0 && e->chunk.cache_at != 0 && need <= s.cache_max && align == kGranule) {
    std::uint32_t &batch = tl_chunk.policy.refill_batch;
    offset = s.chunk_space().cache_refill(e->chunk.cache_at, need, batch, damaged);
    batch = batch < kCacheLimit / 4 ? batch * 2 : kCacheLimit / 2;
  }
  // tl_chunk is this arena's since owned_entry(): only the chunk changed (its policy may be
  // newer than the entry's: answered in owned_entry(), or the batch above).
  tl_chunk.chunk = e->chunk;
  return offset;
}

void release_own_chunk(const ChunkHost &s) {
  if (t_registry_gone || t_registry_ptr == nullptr)
    return;
  Registry &reg = *t_registry_ptr;
  reg.save_cache();
  if (tl_chunk.arena_id == s.id)
    tl_chunk = ChunkCache{};
  if (Entry *e = reg.find(s.id); e != nullptr && e->chunk.slot_at != 0) {
    release_slot(s, e->chunk);
    e->chunk = Chunk{};
    e->retry_in = 0;
  }
}

namespace {
// Gives the calling thread's chunk tail back and drains its free cache in arena `s` (tl_chunk is
// `s`'s). The registry entry gets the emptied chunk too: chunk_refill_allocate() allocates from
// the entry's copy after owned_entry() answered pressure, and a stale copy would hand the
// given-back tail out a second time.
void give_back_reserve(const ChunkHost &s) {
  chunk_give_back(RegionWords{s.base}, s.chunk_space(), tl_chunk.chunk);
  if (t_registry_ptr != nullptr)
    if (Entry *e = t_registry_ptr->find(s.id))
      e->chunk = tl_chunk.chunk;
  // Damage met by the drain is left where it is, as at thread exit (release_slot): the
  // allocation or check() that meets it reports it.
  if (tl_chunk.chunk.cache_at != 0)
    (void)s.chunk_space().free_cache().drain(tl_chunk.chunk.cache_at);
}
} // namespace

void drain_own_cache(const ChunkHost &s, std::uint32_t pressure) {
  tl_chunk.policy = CachePolicy{pressure, 1}; // answered; refills start again from one block
  give_back_reserve(s);
}

namespace {
// The calling thread's entry for arena `s` if it holds a slot there (nothing is claimed, unlike
// owned_entry()); nullptr otherwise.
Entry *held_entry(const ChunkHost &s) {
  if (t_registry_gone || t_registry_ptr == nullptr)
    return nullptr;
  Entry *e = t_registry_ptr->find(s.id);
  return e != nullptr && e->chunk.slot_at != 0 ? e : nullptr;
}
// Makes that entry the fast-path cache (tl_chunk), as owned_entry() does.
void make_current(const ChunkHost &s, const Entry &e) {
  t_registry_ptr->save_cache();
  tl_chunk = ChunkCache{s.id, e.chunk, e.policy};
}
} // namespace

bool answer_from_elsewhere(const ChunkHost &s, std::uint32_t pressure) {
  const Entry *e = held_entry(s);
  if (e == nullptr || e->policy.pressure_seen == pressure)
    return false;
  make_current(s, *e);
  drain_own_cache(s, pressure);
  return true;
}

bool give_back_own_reserve(const ChunkHost &s) {
  if (tl_chunk.arena_id != s.id) {
    const Entry *e = held_entry(s);
    if (e == nullptr)
      return false;
    make_current(s, *e);
  }
  give_back_reserve(s);
  return true;
}

void raise_cache_pressure(const ChunkHost &s) {
  const std::uint32_t p = s.cache_pressure.fetch_add(1, std::memory_order_relaxed) + 1;
  if (tl_chunk.arena_id == s.id)
    tl_chunk.policy = CachePolicy{p, 1}; // this thread drained its own cache just before
}

std::uint32_t thread_cache_block(const ChunkHost &s) {
  const Entry *e = owned_entry(s);
  return e != nullptr ? e->chunk.cache_at : 0;
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
    Chunk c{at, static_cast<std::uint32_t>(ce), static_cast<std::uint32_t>(ce >> 32),
            s.cache_max != 0 ? plausible_cache_block(s, load_relaxed(mem.word(at + kSlotCache)))
                             : 0};
    // A damaged cursor/end word gives no tail back: the words stay in the freed slot, where
    // check() and the next open report them.
    if (!chunk_words_plausible(c.cursor, c.end, s.chunk_space().geometry().data_offset,
                               s.chunk_space().top()))
      c.cursor = c.end = 0;
    release_slot(s, c);
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
