// lfarena/detail/crash_point.hpp -- named crash points: test-only hooks at every atomic step of
// allocate, free, split, chunk refill and give-back, and crash recovery (docs/DESIGN.md §6.3).
//
// LFARENA_CRASH_POINT(name) marks the moment right after one atomic step, where a process that
// dies leaves the region in an intermediate state that crash recovery must handle. In every
// real build the macro is nothing at all. The library variant `lfarena_crash_points` (CMake
// option LFARENA_CRASH_POINTS, for tests only) defines LFARENA_CRASH_POINTS=1: then each point
// counts its hits, and arm_crash_point() makes the process SIGKILL itself at the Nth hit of one
// named point (verify/crash_points/ enumerates every point x policy x checked mode).
//
// Thread-safety: the hit counter is atomic; arm before starting threads.
#pragma once

#include <cstdint>

namespace lfarena::detail {

#define LFARENA_CRASH_POINT_LIST(X)                                                                \
  X(bump_taken)             /* bump CAS done; padding not kept, block not returned */              \
  X(bump_rolled_back)       /* a free of the top block rolled the bump word back */                \
  X(split_padding_kept)     /* split: front padding given back, remainder not yet */               \
  X(split_remainder_kept)   /* split: remainder given back, block not yet returned */              \
  X(sorted_marked)          /* sorted take: mark CAS won, node still linked */                     \
  X(sorted_unlinked)        /* sorted take: node unlinked, not yet split */                        \
  X(sorted_node_written)    /* sorted insert: node words written, not yet published */             \
  X(sorted_published)       /* sorted insert: publish CAS done */                                  \
  X(segregated_popped)      /* segregated pop: head CAS done, node not yet marked or scrubbed */   \
  X(segregated_pushed)      /* segregated push: head CAS done, class bit not yet set */            \
  X(checked_end_marked)     /* checked allocate: end mark set, start not yet live */               \
  X(checked_allocated)      /* checked allocate: start live, block not yet returned */             \
  X(checked_start_freed)    /* checked free: start marked freed, end mark still set */             \
  X(checked_freed)          /* checked free: bitmaps done, segment not yet on the freelist */      \
  X(chunk_slot_claimed)     /* a thread claimed a chunk slot, no chunk yet */                      \
  X(chunk_reserved)         /* refill: chunk reserved from the bump region, slot not updated */    \
  X(chunk_refilled)         /* refill: slot words name the new chunk */                            \
  X(chunk_cursor_moved)     /* chunk allocation: cursor stored, waste not yet */                   \
  X(chunk_slot_cleared)     /* give-back: slot words cleared, tail not yet released */             \
  X(chunk_tail_released)    /* give-back: tail released, slot still owned */                       \
  X(cache_pushed)           /* thread cache push: head stored, node on the owner's list */         \
  X(cache_popped)           /* thread cache pop: head stored, node not yet marked or scrubbed */   \
  X(cache_spill_unlinked)   /* thread cache spill: chain off the cache, not yet on the stack */    \
  X(recovery_node_unmarked) /* recovery: one marked node unmarked, others not yet */               \
  X(recovery_cache_drained) /* recovery: one slot's free cache drained, slot not yet released */   \
  X(recovery_slot_released) /* recovery: one dead owner's slot released, others not yet */         \
  X(recovery_leak_counted)  /* recovery: leaked bytes counted, open not yet finished */

enum class CrashPoint : std::uint8_t {
#define LFARENA_CRASH_POINT_ENUM(name) name,
  LFARENA_CRASH_POINT_LIST(LFARENA_CRASH_POINT_ENUM)
#undef LFARENA_CRASH_POINT_ENUM
      count
};

inline constexpr const char *kCrashPointNames[] = {
#define LFARENA_CRASH_POINT_NAME(name) #name,
    LFARENA_CRASH_POINT_LIST(LFARENA_CRASH_POINT_NAME)
#undef LFARENA_CRASH_POINT_NAME
};
inline constexpr unsigned kCrashPointCount = static_cast<unsigned>(CrashPoint::count);
static_assert(sizeof kCrashPointNames / sizeof kCrashPointNames[0] == kCrashPointCount);

#if defined(LFARENA_CRASH_POINTS) && LFARENA_CRASH_POINTS
// src/crash_point.cpp (crash-point builds only).
void crash_point_reached(CrashPoint p);
// The process SIGKILLs itself at the nth (1-based) time `p` is reached from now on (every
// count restarts at 0). Replaces any earlier arm.
void arm_crash_point(CrashPoint p, std::uint64_t nth);
// Two operations in flight at once: the first thread to reach `first` waits there (yielding,
// up to about a second) until another thread reaches `second`; that thread calls `on_pair`
// (if given) and SIGKILLs the process. A partner that never comes: the waiter kills anyway.
void arm_crash_pair(CrashPoint first, CrashPoint second, void (*on_pair)());
// How often `p` was reached in this process.
std::uint64_t crash_point_hits(CrashPoint p);
#define LFARENA_CRASH_POINT(name)                                                                  \
  ::lfarena::detail::crash_point_reached(::lfarena::detail::CrashPoint::name)
#else
#define LFARENA_CRASH_POINT(name) ((void)0)
#endif

} // namespace lfarena::detail
