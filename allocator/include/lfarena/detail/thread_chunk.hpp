// lfarena/detail/thread_chunk.hpp -- thread-local bump chunks (Options::thread_chunk).
//
// A thread reserves a chunk of the bump region with one atomic operation (the ordinary bump
// CAS), then bump-allocates small blocks inside it with plain arithmetic. So that other threads,
// other processes, check() and crash recovery can account for the unused part of a chunk, every
// chunk lives in a slot of the region's slot table (header.hpp: kChunkTableOffset, in the shared
// mapping): {owner, cursor:32 | end:32, alignment waste}. The owning thread publishes its cursor
// with a relaxed store after each allocation (a plain store on x86), readers use it only at
// quiescence. Accounting: allocated = live + free + discarded + sum over owned slots of
// (end - cursor) + waste.
//
// Life cycle: the first allocation of a thread in an arena claims a free slot (CAS of the owner
// word) and reserves a chunk; an exhausted chunk's tail is given back (bump rollback, freelist or
// discarded) and a new chunk reserved in the same slot. When the thread exits, or the arena is
// closed, the tail and the slot are given back. After a crash, recovery (alone) counts every
// owned slot's tail and waste as leaked and frees the slots.
//
// The fast path below is inline; its per-thread state is one trivially constructible
// thread_local (no TLS wrapper call). The slow path is in src/thread_chunk.cpp.
//
// Thread-safety: each slot is written by its owner thread only (and by recovery, alone).
#pragma once

#include <cstdint>

#include "lfarena/detail/atomic.hpp"
#include "lfarena/detail/header.hpp"
#include "lfarena/detail/memory.hpp"

namespace lfarena::detail {

struct ArenaState;

// The calling thread's chunk in the arena it used last.
struct ChunkCache {
  std::uint64_t arena_id = 0; // ArenaState::id (unique in the process, never reused); 0: none
  std::uint32_t cursor = 0;
  std::uint32_t end = 0;
  std::uint32_t slot_at = 0; // offset of the slot in the region
};
inline thread_local ChunkCache tl_chunk;

// Slot words.
inline std::uint32_t slot_owner_at(std::uint32_t slot) {
  return kChunkTableOffset + slot * kChunkSlotBytes;
}
inline constexpr std::uint32_t kSlotCursorEnd = 8;
inline constexpr std::uint32_t kSlotWaste = 16;

// Bytes a slot holds back at quiescence: its chunk's unused tail plus alignment waste (0 for a
// free slot).
inline std::uint64_t slot_reserved(const RegionWords &mem, std::uint32_t slot_at) {
  if (load_acquire(mem.word(slot_at)) == 0)
    return 0;
  const std::uint64_t ce = load_relaxed(mem.word(slot_at + kSlotCursorEnd));
  const std::uint64_t cursor = ce & 0xffffffffu, end = ce >> 32;
  return (end > cursor ? end - cursor : 0) + load_relaxed(mem.word(slot_at + kSlotWaste));
}

// Slow path: refills (or claims) the chunk, then allocates; false if no chunk can be had (the
// caller then uses the shared path).
bool chunk_refill_allocate(ArenaState &s, std::uint32_t size, std::uint32_t align,
                           std::uint32_t &offset, std::uint32_t &block);
// Gives back every chunk of this process in the arena (at close).
void release_process_chunks(ArenaState &s);

} // namespace lfarena::detail
