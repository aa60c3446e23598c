// lfarena/detail/bump.hpp -- lock-free bump allocation over the header's `bump` word.
//
// The bump word holds the offset of the first byte never handed out (or handed back by a
// rollback). Allocation is a CAS loop that only succeeds if nobody moved the word meanwhile, with
// checked 64-bit arithmetic: the end of a block can never pass the capacity, wrap, or move the
// word on failure. Alignment is computed on offsets; the arena guarantees the region base is
// aligned to at least the largest permitted alignment, so it holds for absolute addresses too.
//
// Rollback: freeing the most recent block (its end equals the bump word) moves the word back to
// the block's start with one CAS; a concurrent allocation that read the old value then fails its
// own CAS and retries, so the same bytes are never handed out twice (docs/DESIGN.md §5.1).
//
// Thread-safety: all functions may be called concurrently from any thread or process that maps
// the region. Lock-free: a CAS fails only because another thread's CAS succeeded.
#pragma once

#include <cstdint>

#include "lfarena/detail/atomic.hpp"
#include "lfarena/detail/crash_point.hpp"
#include "lfarena/detail/header.hpp"
#include "lfarena/detail/memory.hpp"
#include "lfarena/detail/mutant.hpp"

namespace lfarena::detail {

struct BumpGrab {
  std::uint32_t offset = 0; // 0: the bump region cannot serve the request
  std::uint32_t pad = 0;    // bytes skipped in front of the block to honour the alignment
};

template <class Mem> class Bump {
public:
  Bump(Mem mem, std::uint32_t capacity) : mem_(mem), capacity_(capacity) {}

  // `size` is a non-zero multiple of kGranule, `align` a power of two >= kGranule.
  BumpGrab allocate(std::uint32_t size, std::uint32_t align) const {
    std::uint64_t guess = 0;
    return allocate(size, align, guess);
  }

  // The same with a guess of the bump word (0: none) as the CAS's first expected value instead
  // of a load. Why: a load of the word just before the CAS cannot start until the previous
  // locked instruction retires, and the CAS waits for the load; that made a bump about 1.7x the
  // cost of a raw fetch_add on this project's VM (docs/DESIGN.md §5.1). A thread allocating
  // alone knows the word (it wrote it), so its CAS starts at once. Any guess is safe: only a CAS
  // that finds exactly `guess` in the word succeeds, and a failed one returns the true value to
  // retry with. A guess that fails the capacity test is replaced by the loaded word once, so
  // exhaustion is decided on a value that was really there. On success `guess` is the word's
  // new value (the caller's next guess).
  BumpGrab allocate(std::uint32_t size, std::uint32_t align, std::uint64_t &guess) const {
    atomic_u64 &top = mem_.word(hdr::bump);
    bool guessed = guess != 0;
    // Relaxed: this is only the CAS's first guess; the CAS itself re-reads the word.
    std::uint64_t cur = guessed ? guess : load_relaxed(top);
    for (;;) {
      const std::uint64_t start = align_up(cur, align);
      const std::uint64_t end = start + size; // < 2^33: cannot wrap in 64 bits
      if (end > capacity_) {
        if (!guessed)
          return {};
        guessed = false; // the guess may be stale (a rollback, a reset): ask the word itself
        cur = load_relaxed(top);
        continue;
      }
      if constexpr (LFARENA_SEEDED_BUG(guess_trusted)) {
        if (guessed) { // seeded bug: the guessed word taken as the truth and overwritten
          store_release(top, end);
          guess = end;
          return {static_cast<std::uint32_t>(start), static_cast<std::uint32_t>(start - cur)};
        }
      }
      // acq_rel: acquire pairs with the release of a rollback CAS, so the bytes the rolled-back
      // block's owner wrote happen-before our user's writes; release orders our previous frees
      // likewise for whoever rolls back next. On failure `cur` is refreshed and we retry.
      if (cas_acq_rel(top, cur, end)) {
        LFARENA_CRASH_POINT(bump_taken);
        guess = end;
        return {static_cast<std::uint32_t>(start), static_cast<std::uint32_t>(start - cur)};
      }
      guessed = false;
    }
  }

  // Gives [offset, offset+size) back to the bump region if it is the most recent block.
  bool try_rollback(std::uint32_t offset, std::uint32_t size) const {
    atomic_u64 &top = mem_.word(hdr::bump);
    std::uint64_t expected = std::uint64_t{offset} + size;
    if constexpr (LFARENA_SEEDED_BUG(rollback_store)) {
      // Seeded bug: check-then-store lets a concurrent bump slip in between.
      if (load_acquire(top) != expected)
        return false;
      store_release(top, offset);
      return true;
    }
    // A plain load first: almost every free is not of the top block, and a CAS (even a failing
    // one) takes the shared bump line exclusive, so every free of every thread would bounce it.
    // Relaxed: only a hint; the CAS below decides (a stale value only skips a rollback, and the
    // block then goes to the freelist, which is equally correct).
    if (load_relaxed(top) != expected)
      return false;
    // acq_rel: release publishes the freed block's last writes to the next allocator of these
    // bytes (which acquires in allocate()); acquire keeps the pairing symmetric.
    if (!cas_acq_rel(top, expected, offset))
      return false;
    LFARENA_CRASH_POINT(bump_rolled_back);
    return true;
  }

  std::uint64_t top() const { return load_acquire(mem_.word(hdr::bump)); }

private:
  Mem mem_;
  std::uint32_t capacity_;
};

} // namespace lfarena::detail
