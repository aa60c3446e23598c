// tsan_scope_test.cpp -- what ThreadSanitizer still sees around the allocator's speculative
// accesses (lfarena/detail/memory.hpp, docs/DESIGN.md §5.2). The `Speculative` guard makes TSan
// ignore the memory accesses of a few node-word loads and CASes, never their synchronisation,
// and only inside the guard. So:
//  - a hand-off through the free lists is synchronised for TSan: thread A writes a block and
//    frees it, thread B allocates the same bytes and writes them; no report (in a TSan build a
//    report aborts the test: halt_on_error, sanitizer-configs/tsan.conf);
//  - after heavy concurrent churn (thousands of guards entered and left on both threads), a
//    plain race between two users of one block is still reported (a guard left open, or one
//    that ignored more than its own accesses, would hide it). TSan builds only.
#include <atomic>
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <lfarena/arena.hpp>

#if defined(__SANITIZE_THREAD__)
#define LFARENA_TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define LFARENA_TEST_TSAN 1
#endif
#endif

namespace {

using lfarena::Arena;
using lfarena::Block;
using lfarena::FreelistKind;
using lfarena::Options;

Arena make(FreelistKind kind) {
  Options o;
  o.capacity = 1 << 18;
  o.freelist = kind;
  return *Arena::heap(o);
}

// Two threads allocate, write every byte, and free, 64-byte blocks through one free list.
void churn(const Arena &a, unsigned rounds) {
  auto work = [&](unsigned seed) {
    std::vector<Block> held;
    for (unsigned i = 0; i < rounds; ++i) {
      if (held.size() < 8 || (i + seed) % 3 != 0) {
        auto b = a.allocate(64);
        ASSERT_TRUE(b) << b.message();
        std::memset(a.base() + b->offset, static_cast<int>(i), b->size); // plain user writes
        held.push_back(*b);
      } else {
        const Block b = held[(i * 7 + seed) % held.size()];
        held.erase(held.begin() + static_cast<std::ptrdiff_t>((i * 7 + seed) % held.size()));
        ASSERT_TRUE(a.deallocate(b.offset, b.size));
      }
    }
    for (const Block &b : held)
      ASSERT_TRUE(a.deallocate(b.offset, b.size));
  };
  std::thread t(work, 1);
  work(2);
  t.join();
}

TEST(TsanScope, HandOffThroughTheFreeListsIsSynchronised) {
  for (const FreelistKind kind :
       {FreelistKind::optimistic, FreelistKind::pessimistic, FreelistKind::segregated}) {
    const Arena a = make(kind);
    churn(a, 4000);
    // Every byte was written by a user of some block and freed: all of it is free again.
    auto report = a.check();
    ASSERT_TRUE(report) << report.message();
    EXPECT_EQ(report->live_bytes, 0u);
  }
}

TEST(TsanScopeDeathTest, UsersRacingOnABlockAreReportedAfterChurn) {
#if !defined(LFARENA_TEST_TSAN)
  GTEST_SKIP() << "ThreadSanitizer builds only (the tsan preset)";
#else
  for (const FreelistKind kind : {FreelistKind::optimistic, FreelistKind::segregated}) {
    EXPECT_DEATH(
        {
          const Arena a = make(kind);
          churn(a, 2000);
          const Block b = *a.allocate(64);
          auto *word = reinterpret_cast<std::uint64_t *>(a.base() + b.offset);
          std::thread t([&] { *word = 1; }); // plain writes, no synchronisation between them
          *word = 2;
          t.join();
        },
        "data race");
  }
#endif
}

} // namespace
