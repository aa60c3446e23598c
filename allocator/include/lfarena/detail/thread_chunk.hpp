// lfarena/detail/thread_chunk.hpp -- the calling thread's chunk cache (Options::thread_chunk):
// what the inline fast path of Arena::allocate reads, and the slow path's entry points.
//
// The chunk protocol itself (slot words, fit test, refill, give-back) is chunk.hpp. Here: each
// thread caches the chunk of the arena it allocated from last in one trivially constructible
// thread_local (no TLS wrapper call on the fast path); the chunks of every arena a thread uses
// are kept in a per-thread registry (src/thread_chunk.cpp) that gives them back when the thread
// exits, whatever the order in which thread_local objects are destroyed.
//
// Lifecycles (docs/DESIGN.md §4 promise 9, §5.10): a slot's owner word is the owner token of the
// Arena handle's state (src/process.hpp), unique among every opener of the file in every process,
// so closing one opener gives back only its own chunks. A fork child forgets the chunks it
// inherited without giving them back (its parent keeps using them) and claims its own.
//
// Thread-safety: tl_chunk is this thread's; the functions below are called by the owner thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "lfarena/detail/chunk.hpp"
#include "lfarena/detail/core.hpp"

namespace lfarena::detail {

// What the thread-chunk code may use of an arena, and nothing more: the region, the arena's
// process-unique id, the chunk size, the bump region chunks are carved from, and a reference
// that expires when the arena closes. ArenaState (arena.hpp) is the one implementation.
class ChunkHost {
public:
  std::byte *const base;
  const std::uint64_t id;         // unique in the process, never reused (0: none)
  const std::uint32_t chunk_size; // Options::thread_chunk (0: off)
  // Blocks of at most this many bytes (a multiple of kGranule) go through the thread's free
  // cache (free_cache.hpp); 0: no caches (not a thread-cache file, no chunks, or read-only).
  const std::uint32_t cache_max;
  // Pressure (docs/DESIGN.md §5.11): bumped by an allocation of this opener that found the
  // arena full even after giving back its own thread's chunk tail and cache; every thread that
  // sees a value it has not answered yet gives its chunk tail back and drains its cache to the
  // shared stacks at its next free or slow-path allocation. Relaxed everywhere: a hint. A late
  // answer costs a failed allocation, never correctness; the drained nodes reach other threads
  // through the stacks' CAS (§5.4).
  mutable std::atomic<std::uint32_t> cache_pressure{0};
  // Bytes of cache blocks this opener's threads are provisioning right now (src/thread_chunk.cpp
  // provision_cache): counted with the slots' blocks against cache_blocks_cap(), so threads
  // provisioning at once cannot all pass the cap (helper-46: 28 blocks where 3 fit).
  mutable std::atomic<std::uint64_t> cache_provisioning{0};
  // reserve / discard / release / note_allocated for chunk.hpp.
  virtual const Core<RegionWords> &chunk_space() const = 0;
  // Held by the thread's registry, which gives the chunk back at thread exit if still alive.
  virtual std::weak_ptr<const ChunkHost> weak_host() const = 0;

protected:
  ChunkHost(std::byte *b, std::uint64_t i, std::uint32_t size, std::uint32_t cache)
      : base(b), id(i), chunk_size(size), cache_max(cache) {}
  ChunkHost(const ChunkHost &) = delete;
  ChunkHost &operator=(const ChunkHost &) = delete;
  ~ChunkHost() = default;
};

// How a thread's free cache in one arena answers cache pressure (docs/DESIGN.md §5.11).
struct CachePolicy {
  std::uint32_t pressure_seen = 0; // the ChunkHost::cache_pressure this thread answered last
  // Blocks the next refill of an empty class takes from the shared stack (the one handed out
  // included): 1 after answering or raising pressure, doubling with every refill after that up
  // to half the cache limit, so a thread under pressure does not take back at once what its
  // drain gave up, nor hoard while others fail.
  std::uint32_t refill_batch = kCacheLimit / 2;
};

// The calling thread's chunk in the arena it used last.
struct ChunkCache {
  std::uint64_t arena_id = 0; // ChunkHost::id (unique in the process, never reused); 0: none
  Chunk chunk;
  CachePolicy policy;
};
inline thread_local ChunkCache tl_chunk;

// The bump word of the arena this thread bump-allocated from last, as its last bump left it:
// the next bump's guess (bump.hpp), so a thread allocating alone never loads the word before
// its CAS. Only a guess: the CAS confirms it, and a stale one costs one failed CAS.
struct BumpGuess {
  std::uint64_t arena_id = 0; // ChunkHost::id; 0: none
  std::uint64_t top = 0;
};
inline thread_local BumpGuess tl_bump;

// Slow path: claims a slot, pops the thread's free cache (need <= cache_max, align kGranule)
// or refills the chunk, then allocates; 0 if neither can serve the request (the caller then
// uses the shared path) or the cache's first node is damaged (then *damaged names it).
std::uint32_t chunk_refill_allocate(const ChunkHost &host, std::uint32_t need, std::uint32_t align,
                                    std::uint32_t &damaged);
// The calling thread's free cache block in this arena (claiming a slot, and the slot's cache
// block, if the thread has none yet); 0 if it cannot have one (no slot free, arena full).
std::uint32_t thread_cache_block(const ChunkHost &host);
// Pressure (ChunkHost::cache_pressure, docs/DESIGN.md §5.11): if the calling thread holds a
// chunk or a free cache in arena `host` and has not answered the current pressure yet, gives
// its chunk's unused tail back and drains its cache to the shared stacks; true if it did.
// Inline: the slow paths call it on every call, and mostly there is nothing to answer. A
// thread whose last call was in another arena (tl_chunk is that arena's) looks its entry for
// `host` up out of line, once `host` has seen pressure at all.
void drain_own_cache(const ChunkHost &host, std::uint32_t pressure);
bool answer_from_elsewhere(const ChunkHost &host, std::uint32_t pressure);
inline bool answer_cache_pressure(const ChunkHost &host) {
  const std::uint32_t p = host.cache_pressure.load(std::memory_order_relaxed);
  if (tl_chunk.arena_id == host.id) {
    if (tl_chunk.policy.pressure_seen == p)
      return false;
    drain_own_cache(host, p);
    return true;
  }
  return p != 0 && host.chunk_size != 0 && answer_from_elsewhere(host, p);
}
// The same for an allocation of this thread that found the arena full, before it retries
// (whatever the epoch, and whichever arena the thread used last): false if the thread holds
// nothing in `host` (nothing changed).
bool give_back_own_reserve(const ChunkHost &host);
// An allocation that another thread's chunk tail or cached blocks could serve found the arena
// full (after give_back_own_reserve()): asks every other thread of this opener to give theirs
// back (and counts this thread as having answered).
void raise_cache_pressure(const ChunkHost &host);
// Gives back the calling thread's chunk and free cache in arena `host`, if it holds them, and
// forgets them (the thread claims a new slot on its next allocation).
void release_own_chunk(const ChunkHost &host);
// Gives back every chunk this opener (this arena handle's state) holds in the region and drains
// its free caches (at close).
void release_opener_chunks(const ChunkHost &host);
// In a fork child: forget the calling thread's inherited chunks without giving them back.
void forget_inherited_chunks() noexcept;

} // namespace lfarena::detail
