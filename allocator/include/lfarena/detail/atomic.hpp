// lfarena/detail/atomic.hpp -- the one atomics policy of lfarena.
//
// Every word that more than one thread (or process) touches is an `atomic_u64`, and every
// operation on it goes through one of the helpers below, whose name carries its memory order.
// That keeps each ordering greppable and reviewable, and lets the very same algorithm code be
// compiled against Relacy's `rl::atomic` when LFARENA_RELACY is defined (see verify/relacy/).
//
// Rules for code that the Relacy build compiles (bump.hpp, sorted_list.hpp, checked.hpp, ...):
//  - include only <cstdint>, <cstddef>, <type_traits>, <bit> and <limits> (Relacy's macros
//    redefine `new`, `delete`, `assert`, `memory_order_*`; the Relacy test includes the standard
//    headers before <relacy/relacy.hpp>);
//  - never spell std::memory_order_* (use the helpers);
//  - no heap allocation, no constexpr constructors on atomic members.
//
// Thread-safety: the helpers are as thread-safe as the underlying atomic operation.
#pragma once

#include <cstddef>
#include <cstdint>

#ifdef LFARENA_RELACY
#include <relacy/relacy.hpp>
#else
#include <atomic>
#endif

// AddressSanitizer builds poison free and never-allocated arena memory (memory.hpp) so that a
// user's access to it is reported; the allocator's own accesses to node, bitmap and header
// words all go through the helpers below, which ASan therefore does not instrument.
#if defined(__SANITIZE_ADDRESS__)
#define LFARENA_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LFARENA_ASAN 1
#endif
#endif
#if defined(LFARENA_ASAN) && !defined(LFARENA_RELACY)
#define LFARENA_NO_ASAN __attribute__((no_sanitize_address))
#else
#define LFARENA_NO_ASAN
#endif

namespace lfarena::detail {

#ifdef LFARENA_RELACY

// Under Relacy the helpers take the caller's location as defaulted arguments so that Relacy's
// execution histories point at the algorithm's own lines, not at this file.
#define LFARENA_SITE_PARAMS                                                                        \
  , const char *site_file_ = __builtin_FILE(), unsigned site_line_ = __builtin_LINE(),             \
               const char *site_fn_ = __builtin_FUNCTION()
#define LFARENA_SITE_PARAMS_FIRST                                                                  \
  const char *site_file_ = __builtin_FILE(), unsigned site_line_ = __builtin_LINE(),               \
             const char *site_fn_ = __builtin_FUNCTION()
#define LFARENA_SITE ::rl::debug_info(site_fn_, site_file_, site_line_)

struct atomic_u64 {
  ::rl::atomic<std::uint64_t> v;
};
namespace mo {
inline constexpr ::rl::memory_order relaxed = ::rl::mo_relaxed;
inline constexpr ::rl::memory_order acquire = ::rl::mo_acquire;
inline constexpr ::rl::memory_order release = ::rl::mo_release;
inline constexpr ::rl::memory_order acq_rel = ::rl::mo_acq_rel;
inline constexpr ::rl::memory_order seq_cst = ::rl::mo_seq_cst;
} // namespace mo
#define LFARENA_MO_ARGS(order) order, LFARENA_SITE

#else

#define LFARENA_SITE_PARAMS
#define LFARENA_SITE_PARAMS_FIRST
#define LFARENA_MO_ARGS(order) order

// std::atomic<uint64_t> is lock-free and address-free on every platform we support, so one can
// live in a file mapping shared by several processes (docs/DESIGN.md §4 promise 7).
struct atomic_u64 {
  std::atomic<std::uint64_t> v;
};
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(sizeof(atomic_u64) == 8 && alignof(atomic_u64) == 8);
namespace mo {
inline constexpr std::memory_order relaxed = std::memory_order_relaxed;
inline constexpr std::memory_order acquire = std::memory_order_acquire;
inline constexpr std::memory_order release = std::memory_order_release;
inline constexpr std::memory_order acq_rel = std::memory_order_acq_rel;
inline constexpr std::memory_order seq_cst = std::memory_order_seq_cst;
} // namespace mo

#endif

// ---- loads and stores -----------------------------------------------------------------------
LFARENA_NO_ASAN inline std::uint64_t load_relaxed(const atomic_u64 &a LFARENA_SITE_PARAMS) {
  return a.v.load(LFARENA_MO_ARGS(mo::relaxed));
}
LFARENA_NO_ASAN inline std::uint64_t load_acquire(const atomic_u64 &a LFARENA_SITE_PARAMS) {
  return a.v.load(LFARENA_MO_ARGS(mo::acquire));
}
LFARENA_NO_ASAN inline void store_relaxed(atomic_u64 &a, std::uint64_t x LFARENA_SITE_PARAMS) {
  a.v.store(x, LFARENA_MO_ARGS(mo::relaxed));
}
LFARENA_NO_ASAN inline void store_release(atomic_u64 &a, std::uint64_t x LFARENA_SITE_PARAMS) {
  a.v.store(x, LFARENA_MO_ARGS(mo::release));
}

// Seq_cst flavours: only for the size-class bitmap protocol (size_class.hpp), whose
// correctness needs a single total order over head updates and bitmap reads (a store-buffering
// pattern that acquire/release allows). On x86 they compile to the same instructions.
LFARENA_NO_ASAN inline std::uint64_t load_seq_cst(const atomic_u64 &a LFARENA_SITE_PARAMS) {
  return a.v.load(LFARENA_MO_ARGS(mo::seq_cst));
}
LFARENA_NO_ASAN inline bool cas_seq_cst(atomic_u64 &a, std::uint64_t &expected,
                                        std::uint64_t desired LFARENA_SITE_PARAMS) {
  return a.v.compare_exchange_strong(expected, desired, LFARENA_MO_ARGS(mo::seq_cst));
}
LFARENA_NO_ASAN inline std::uint64_t fetch_or_seq_cst(atomic_u64 &a,
                                                      std::uint64_t x LFARENA_SITE_PARAMS) {
  return a.v.fetch_or(x, LFARENA_MO_ARGS(mo::seq_cst));
}
LFARENA_NO_ASAN inline std::uint64_t fetch_and_seq_cst(atomic_u64 &a,
                                                       std::uint64_t x LFARENA_SITE_PARAMS) {
  return a.v.fetch_and(x, LFARENA_MO_ARGS(mo::seq_cst));
}

// ---- compare-and-swap (strong; `expected` is updated on failure, with acquire on failure
// for the acq_rel/acquire flavours so the caller may follow the value it read) ---------------
LFARENA_NO_ASAN inline bool cas_acq_rel(atomic_u64 &a, std::uint64_t &expected,
                                        std::uint64_t desired LFARENA_SITE_PARAMS) {
  return a.v.compare_exchange_strong(expected, desired, LFARENA_MO_ARGS(mo::acq_rel));
}
LFARENA_NO_ASAN inline bool cas_release(atomic_u64 &a, std::uint64_t &expected,
                                        std::uint64_t desired LFARENA_SITE_PARAMS) {
  return a.v.compare_exchange_strong(expected, desired, LFARENA_MO_ARGS(mo::release));
}
LFARENA_NO_ASAN inline bool cas_relaxed(atomic_u64 &a, std::uint64_t &expected,
                                        std::uint64_t desired LFARENA_SITE_PARAMS) {
  return a.v.compare_exchange_strong(expected, desired, LFARENA_MO_ARGS(mo::relaxed));
}

// ---- read-modify-write --------------------------------------------------------------------
LFARENA_NO_ASAN inline std::uint64_t fetch_add_relaxed(atomic_u64 &a,
                                                       std::uint64_t x LFARENA_SITE_PARAMS) {
  return a.v.fetch_add(x, LFARENA_MO_ARGS(mo::relaxed));
}
LFARENA_NO_ASAN inline std::uint64_t fetch_add_acq_rel(atomic_u64 &a,
                                                       std::uint64_t x LFARENA_SITE_PARAMS) {
  return a.v.fetch_add(x, LFARENA_MO_ARGS(mo::acq_rel));
}
LFARENA_NO_ASAN inline std::uint64_t fetch_or_acq_rel(atomic_u64 &a,
                                                      std::uint64_t x LFARENA_SITE_PARAMS) {
  return a.v.fetch_or(x, LFARENA_MO_ARGS(mo::acq_rel));
}
LFARENA_NO_ASAN inline std::uint64_t fetch_and_acq_rel(atomic_u64 &a,
                                                       std::uint64_t x LFARENA_SITE_PARAMS) {
  return a.v.fetch_and(x, LFARENA_MO_ARGS(mo::acq_rel));
}
// A read that returns the latest value in the word's modification order. A plain load may keep
// returning an older value for a while (and does, forever, under Relacy); after a read proved
// stale, retrying with plain loads could spin on it. An RMW cannot read a stale value. Used only
// on restart paths, never on the fast path (it dirties the cache line).
LFARENA_NO_ASAN inline std::uint64_t load_latest_acq_rel(atomic_u64 &a LFARENA_SITE_PARAMS) {
  return a.v.fetch_add(0, LFARENA_MO_ARGS(mo::acq_rel));
}
LFARENA_NO_ASAN inline std::uint64_t exchange_acq_rel(atomic_u64 &a,
                                                      std::uint64_t x LFARENA_SITE_PARAMS) {
  return a.v.exchange(x, LFARENA_MO_ARGS(mo::acq_rel));
}

// ---- fences ------------------------------------------------------------------------------
LFARENA_NO_ASAN inline void fence_acquire(LFARENA_SITE_PARAMS_FIRST) {
#ifdef LFARENA_RELACY
  ::rl::atomic_thread_fence(::rl::mo_acquire, LFARENA_SITE);
#else
  std::atomic_thread_fence(std::memory_order_acquire);
#endif
}
LFARENA_NO_ASAN inline void fence_release(LFARENA_SITE_PARAMS_FIRST) {
#ifdef LFARENA_RELACY
  ::rl::atomic_thread_fence(::rl::mo_release, LFARENA_SITE);
#else
  std::atomic_thread_fence(std::memory_order_release);
#endif
}

} // namespace lfarena::detail
