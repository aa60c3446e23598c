// lfarena/detail/memory.hpp -- how the algorithms see the region: 64-bit atomic words by offset.
//
// The bump, freelist and checked-mode code are templates over a `Mem` with one member,
// `atomic_u64 &word(std::uint32_t offset) const` (offset 8-aligned). In production that is the
// mapped region itself (RegionWords below); the Relacy model checks pass an array of
// rl::atomic words instead, so the same algorithm code runs under the model checker.
//
// Also here: the guard of every *speculative* access (made in sorted_list.hpp and
// segregated_policy.hpp only), i.e. an atomic access to a node word of a segment that may have been
// handed out and overwritten by its user since we read the link that led us to it (docs/DESIGN.md
// §4 promise 4, §5.2). Those accesses are atomic on our side and every decision made from them is
// validated by a tagged re-read or CAS, so a stale value can never commit; but the user's plain
// writes to the same bytes are, formally, a race with them. The `Speculative` guard tells
// ThreadSanitizer to ignore exactly these accesses: the node-word loads of a traversal or pop,
// and the CAS instruction alone on a node's link word (never a head's, never a header word;
// operands are computed before the guard). Their synchronisation is still tracked, which is
// why TSan runs with no suppressions file (tsan_scope_test.cpp checks both sides).
#pragma once

#include <cstddef>
#include <cstdint>

#include "lfarena/detail/atomic.hpp"

#if defined(__SANITIZE_THREAD__)
#define LFARENA_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define LFARENA_TSAN 1
#endif
#endif

#if defined(LFARENA_ASAN) && !defined(LFARENA_RELACY)
#include <sanitizer/asan_interface.h>
#endif

#if defined(LFARENA_TSAN) && !defined(LFARENA_RELACY)
extern "C" void AnnotateIgnoreReadsBegin(const char *file, int line);
extern "C" void AnnotateIgnoreReadsEnd(const char *file, int line);
extern "C" void AnnotateIgnoreWritesBegin(const char *file, int line);
extern "C" void AnnotateIgnoreWritesEnd(const char *file, int line);
#endif

namespace lfarena::detail {

// The production view: the region's bytes reinterpreted as atomic words. Every node word,
// bitmap word and header atomic is only ever accessed through this view.
struct RegionWords {
  std::byte *base = nullptr;
  atomic_u64 &word(std::uint32_t offset) const {
    return *reinterpret_cast<atomic_u64 *>(base + offset);
  }
  // A hint that the line at `offset` is read and written soon (not an access).
  void prefetch(std::uint32_t offset) const { __builtin_prefetch(base + offset, 1, 3); }
};

// AddressSanitizer's view of the region (asan builds; no-ops otherwise and for the Relacy
// model's memory): bytes that are free or were never handed out are poisoned, so a user's read
// or write after free inside an arena is reported like one on a heap block. The allocator
// unpoisons a block when it hands it out and poisons it when it is freed; its own accesses to
// node words inside poisoned bytes go through the uninstrumented helpers of atomic.hpp.
template <class Mem> void poison_bytes(const Mem &, std::uint32_t, std::uint32_t) {}
template <class Mem> void unpoison_bytes(const Mem &, std::uint32_t, std::uint32_t) {}
inline void poison_bytes([[maybe_unused]] const RegionWords &m, [[maybe_unused]] std::uint32_t at,
                         [[maybe_unused]] std::uint32_t n) {
#if defined(LFARENA_ASAN) && !defined(LFARENA_RELACY)
  ASAN_POISON_MEMORY_REGION(m.base + at, n);
#endif
}
inline void unpoison_bytes([[maybe_unused]] const RegionWords &m, [[maybe_unused]] std::uint32_t at,
                           [[maybe_unused]] std::uint32_t n) {
#if defined(LFARENA_ASAN) && !defined(LFARENA_RELACY)
  ASAN_UNPOISON_MEMORY_REGION(m.base + at, n);
#endif
}

// RAII scope for speculative node accesses (see the banner). A no-op outside TSan builds.
struct Speculative {
#if defined(LFARENA_TSAN) && !defined(LFARENA_RELACY)
  Speculative() {
    AnnotateIgnoreReadsBegin(__FILE__, __LINE__);
    AnnotateIgnoreWritesBegin(__FILE__, __LINE__);
  }
  ~Speculative() {
    AnnotateIgnoreWritesEnd(__FILE__, __LINE__);
    AnnotateIgnoreReadsEnd(__FILE__, __LINE__);
  }
  Speculative(const Speculative &) = delete;
  Speculative &operator=(const Speculative &) = delete;
#endif
};

inline constexpr std::uint64_t align_up(std::uint64_t x, std::uint64_t a) {
  return (x + a - 1) & ~(a - 1);
}
// `size` rounded up to a multiple of 8 in 32-bit arithmetic, for the inline paths, whose sizes
// are already bounded (at most the capacity, itself at most 2^32 - 8: no wrap). The 64-bit
// align_up() truncated to 32 bits made the compiler keep both widths (callgrind: 2
// instructions per free or allocation).
inline constexpr std::uint32_t granule_up(std::uint32_t size) { return (size + 7u) & ~7u; }

} // namespace lfarena::detail
