// lfarena/detail/chunk.hpp -- thread-local bump chunks (Options::thread_chunk): the slot words,
// the one fit test, and the owner's allocate / refill / give-back steps.
//
// A thread reserves a chunk of the bump region with one atomic operation (the ordinary bump
// CAS), then bump-allocates small blocks inside it with plain arithmetic. So that other threads,
// other processes, check() and crash recovery can account for the unused part of a chunk, every
// chunk lives in a slot of the region's slot table (header.hpp: kChunkTableOffset, in the shared
// mapping):
//   word 0  owner        0: free; else the owner token of the opener whose thread holds it
//   word 1  cursor:32 | end:32   the unused range [cursor, end) of the chunk (0: no chunk)
//   word 2  waste        alignment padding skipped inside chunks, not yet counted as discarded
//   word 3  cache        files with thread caches: the slot's cache block {offset:32, size:32}
//                        (free_cache.hpp), kept when the slot is freed; else 0
// Accounting: allocated = live + free + discarded + sum over owned slots of
// (end - cursor) + waste.
//
// The owner publishes its cursor with a relaxed store after each allocation (a plain store on
// x86); readers use it only at quiescence. Only a slot's owner writes words 1 and 2 (and
// recovery, alone), so they need no read-modify-write. The owner word is claimed with a CAS.
//
// This is the model-checked part (verify/relacy/chunk_check.cpp compiles it against Relacy): it
// knows nothing of threads, tokens or the thread-local cache (thread_chunk.hpp), and reaches the
// bump region and the freelist through `space`, the allocation core (core.hpp), which provides
// reserve(size), release(offset, size), discard(bytes) and note_allocated(offset, size).
//
// Thread-safety: every function except claim_slot() is called by the slot's owner only.
#pragma once

#include <cstdint>

#include "lfarena/detail/atomic.hpp"
#include "lfarena/detail/crash_point.hpp"
#include "lfarena/detail/header.hpp"
#include "lfarena/detail/memory.hpp"
#include "lfarena/detail/mutant.hpp"

namespace lfarena::detail {

inline constexpr std::uint32_t kSlotCursorEnd = 8;
inline constexpr std::uint32_t kSlotWaste = 16;

inline std::uint32_t slot_owner_at(std::uint32_t slot) {
  return kChunkTableOffset + slot * kChunkSlotBytes;
}

// A chunk as its owner sees it: its slot and the unused range [cursor, end).
struct Chunk {
  std::uint32_t slot_at = 0; // offset of the slot's owner word; 0: no slot
  std::uint32_t cursor = 0;
  std::uint32_t end = 0;      // 0: no chunk
  std::uint32_t cache_at = 0; // the slot's free cache block (free_cache.hpp); 0: none
};

// The one fit test of the inline fast path and of the refill: where a block of `need` bytes
// aligned to `align` starts inside [cursor, end), or 0 if it does not fit (an empty chunk,
// cursor = end = 0, fits nothing).
inline std::uint32_t chunk_fit(std::uint32_t cursor, std::uint32_t end, std::uint64_t need,
                               std::uint64_t align) {
  const std::uint64_t start = align_up(cursor, align);
  return start + need <= end ? static_cast<std::uint32_t>(start) : 0;
}

// Records the block [start, start + need) taken from the chunk (start from chunk_fit()): the
// cursor moves past it, the padding in front of it becomes waste.
template <class Mem>
void chunk_take(const Mem &mem, Chunk &c, std::uint32_t start, std::uint32_t need) {
  const std::uint32_t pad = start - c.cursor;
  c.cursor = start + need;
  // Relaxed: read by others only at quiescence (check(), close, recovery). The cursor goes
  // first: a crash before the waste update under-counts rather than double-counts.
  store_relaxed(mem.word(c.slot_at + kSlotCursorEnd), c.cursor | std::uint64_t{c.end} << 32);
  LFARENA_CRASH_POINT(chunk_cursor_moved);
  if (pad != 0) { // owner-only word: load + store is enough
    atomic_u64 &waste = mem.word(c.slot_at + kSlotWaste);
    store_relaxed(waste, load_relaxed(waste) + pad);
  }
}

// The one chunk bump, used by the inline fast path (Arena::allocate) and by chunk_allocate():
// the block of `need` bytes at `align` from the chunk if it fits (taken and counted as
// allocated), else 0 and nothing changes. chunk_bump_granule() is the same for align <=
// kGranule: the cursor is a multiple of kGranule, so there is no padding to compute or count
// (callgrind: 8 instructions fewer per inline 64 B allocation with align 8; 3 more with align
// 64, for the extra branch). `need` is never 0 (a size of at least 1, rounded up to kGranule),
// so an empty chunk (cursor = end = 0) fails the fit test itself: no separate test for it.
template <class Mem, class Space>
[[gnu::always_inline]] inline std::uint32_t chunk_bump_granule(const Mem &mem, const Space &space,
                                                               Chunk &c, std::uint32_t need) {
  const std::uint32_t start = c.cursor;
  if (std::uint64_t{start} + need > c.end)
    return 0;
  // A block that fits never starts at 0: a chunk's cursor is 0 only when it has none (end 0,
  // rejected above), else at least the offset its reserve returned. Said to the compiler so
  // that the caller's test of the result for 0 folds away (2 instructions per allocation).
  if (start == 0)
    __builtin_unreachable();
  c.cursor = start + need;
  // Relaxed, and in this order: chunk_take()'s.
  store_relaxed(mem.word(c.slot_at + kSlotCursorEnd), c.cursor | std::uint64_t{c.end} << 32);
  LFARENA_CRASH_POINT(chunk_cursor_moved);
  space.note_allocated(start, need);
  return start;
}
template <class Mem, class Space>
[[gnu::always_inline]] inline std::uint32_t chunk_bump(const Mem &mem, const Space &space, Chunk &c,
                                                       std::uint32_t need, std::uint32_t align) {
  if (align <= kGranule)
    return chunk_bump_granule(mem, space, c, need);
  const std::uint32_t start = chunk_fit(c.cursor, c.end, need, align);
  if (start != 0) {
    chunk_take(mem, c, start, need);
    space.note_allocated(start, need);
  }
  return start;
}

// Whether a slot's cursor/end pair can be a chunk of this arena: none (end 0), or a cursor in
// the data area (from `data` on) not past its end, and bytes left only below the bump offset
// `top` (a used-up chunk's end may lie above it: freeing its last block rolled the bump offset
// back). check() refuses any other pair, and a close gives no tail of one back.
inline bool chunk_words_plausible(std::uint64_t cursor, std::uint64_t end, std::uint64_t data,
                                  std::uint64_t top) {
  return end == 0 || (cursor >= data && cursor <= end && (end == cursor || end <= top));
}

// Bytes a slot holds back at quiescence: its chunk's unused tail plus its waste (0 for a free
// slot). A cursor past the end (damage) counts as no tail.
template <class Mem> std::uint64_t slot_reserved(const Mem &mem, std::uint32_t slot_at) {
  if (load_acquire(mem.word(slot_at)) == 0)
    return 0;
  const std::uint64_t ce = load_relaxed(mem.word(slot_at + kSlotCursorEnd));
  const std::uint64_t cursor = ce & 0xffffffffu, end = ce >> 32;
  return (end > cursor ? end - cursor : 0) + load_relaxed(mem.word(slot_at + kSlotWaste));
}

// Gives back the chunk's unused tail (bump rollback, freelist or discarded) and counts its waste
// as discarded. The slot words are cleared first: a crash after that under-counts (the bytes
// look live, or are leaked in checked mode); the other order would let recovery count them a
// second time.
template <class Mem, class Space>
void chunk_give_back(const Mem &mem, const Space &space, Chunk &c) {
  if (c.end == 0)
    return;
  atomic_u64 &waste = mem.word(c.slot_at + kSlotWaste);
  const std::uint64_t pad = load_relaxed(waste);
  store_relaxed(mem.word(c.slot_at + kSlotCursorEnd), 0);
  store_relaxed(waste, 0);
  LFARENA_CRASH_POINT(chunk_slot_cleared);
  if (c.end > c.cursor) {
    space.release(c.cursor, c.end - c.cursor);
    LFARENA_CRASH_POINT(chunk_tail_released);
  }
  if (pad != 0)
    space.discard(static_cast<std::uint32_t>(pad));
  c.cursor = c.end = 0;
}

// Gives the old chunk's tail back and reserves a fresh chunk of `chunk_size` bytes for the slot.
// False if the bump region cannot give one (the chunk is then empty).
template <class Mem, class Space>
bool chunk_refill(const Mem &mem, const Space &space, Chunk &c, std::uint32_t chunk_size) {
  chunk_give_back(mem, space, c);
  const auto grab = space.reserve(chunk_size);
  if (grab.offset == 0)
    return false;
  LFARENA_CRASH_POINT(chunk_reserved);
  if (grab.pad != 0)
    space.discard(grab.pad);
  c.cursor = grab.offset;
  c.end = grab.offset + chunk_size;
  // Relaxed like chunk_take(): a crash right after the reserve leaks the chunk (counted by
  // checked-mode recovery), never counts it twice.
  store_relaxed(mem.word(c.slot_at + kSlotCursorEnd), c.cursor | std::uint64_t{c.end} << 32);
  LFARENA_CRASH_POINT(chunk_refilled);
  return true;
}

// Allocates `need` bytes (a non-zero multiple of kGranule) at `align` (a power of two >= kGranule)
// from the chunk, refilling it once if the block does not fit. Returns the block's offset, or 0:
// the request can never fit a chunk of `chunk_size` bytes (its worst-case padding included), or the
// bump region has no room for a new chunk; the caller then uses the shared path.
template <class Mem, class Space>
std::uint32_t chunk_allocate(const Mem &mem, const Space &space, Chunk &c, std::uint32_t chunk_size,
                             std::uint32_t need, std::uint32_t align) {
  // A fresh chunk starts kGranule-aligned: at most align - kGranule bytes of padding.
  if (std::uint64_t{need} + align - kGranule > chunk_size && !LFARENA_SEEDED_BUG(refill_unbounded))
    return 0;
  if (const std::uint32_t start = chunk_bump(mem, space, c, need, align); start != 0)
    return start;
  if (!chunk_refill(mem, space, c, chunk_size))
    return 0;
  if constexpr (LFARENA_SEEDED_BUG(refill_unbounded)) { // trust the fresh chunk to fit
    const auto start = static_cast<std::uint32_t>(align_up(c.cursor, align));
    chunk_take(mem, c, start, need);
    space.note_allocated(start, need);
    return start;
  }
  return chunk_bump(mem, space, c, need, align);
}

// Claims a free slot for `owner` (non-zero); the offset of its owner word, or 0 if all are
// taken. Even slots first: two slots share a 64-byte line, and the owner stores its cursor there
// on every allocation, so neighbours would false-share the line (two threads scaled 1.25x
// instead of ~2x). Odd slots only once half the slots are taken.
// The slot tried n-th (0-based) by claim_slot() among `slots`, and its inverse.
inline std::uint32_t slot_in_claim_order(std::uint32_t n, std::uint32_t slots = kChunkSlots) {
  return n < slots / 2 ? 2 * n : 2 * (n - slots / 2) + 1;
}
inline std::uint32_t claim_rank(std::uint32_t slot, std::uint32_t slots = kChunkSlots) {
  return slot % 2 == 0 ? slot / 2 : slots / 2 + slot / 2;
}

template <class Mem>
std::uint32_t claim_slot(const Mem &mem, std::uint64_t owner, std::uint32_t slots = kChunkSlots) {
  for (std::uint32_t n = 0; n < slots; ++n) {
    const std::uint32_t i = slot_in_claim_order(n, slots);
    atomic_u64 &word = mem.word(slot_owner_at(i));
    std::uint64_t expected = 0;
    // acq_rel: acquire pairs with the previous owner's release in free_slot(), so its clearing
    // of the slot words happens-before our use of them.
    if (load_relaxed(word) == 0 && cas_acq_rel(word, expected, owner)) {
      LFARENA_CRASH_POINT(chunk_slot_claimed);
      return slot_owner_at(i);
    }
  }
  return 0;
}

// Frees the owner's slot after chunk_give_back(). Release: the cleared words are settled before
// another thread may claim the slot.
template <class Mem> void free_slot(const Mem &mem, std::uint32_t slot_at) {
  store_release(mem.word(slot_at), 0);
}

} // namespace lfarena::detail
