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

#include <cstdint>

#include "lfarena/detail/chunk.hpp"

namespace lfarena::detail {

struct ArenaState;

// The calling thread's chunk in the arena it used last.
struct ChunkCache {
  std::uint64_t arena_id = 0; // ArenaState::id (unique in the process, never reused); 0: none
  Chunk chunk;
};
inline thread_local ChunkCache tl_chunk;

// Slow path: claims a slot or refills the chunk, then allocates; 0 if no chunk can serve the
// request (the caller then uses the shared path).
std::uint32_t chunk_refill_allocate(ArenaState &s, std::uint32_t need, std::uint32_t align);
// Gives back every chunk this opener (this ArenaState) holds in the arena (at close).
void release_opener_chunks(ArenaState &s);
// In a fork child: forget the calling thread's inherited chunks without giving them back.
void forget_inherited_chunks() noexcept;

} // namespace lfarena::detail
