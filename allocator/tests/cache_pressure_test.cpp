// cache_pressure_test.cpp -- exhaustion with blocks in another thread's free cache
// (docs/DESIGN.md §5.11 "Pressure"): an allocation that finds the arena full asks every thread
// of the process to give its cached blocks back to the shared stacks; each does at its next
// free or slow-path allocation, so the next allocation finds them. Before, a thread's cache
// could hold most of a small arena's free memory for its whole life while every other thread
// failed (the 2-thread mixed churn benchmark: 11176 failed allocations in 800000).
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <lfarena/arena.hpp>
#include <lfarena/detail/free_cache.hpp>

#include "worker_thread.hpp"

namespace {

using lfarena::Arena;
using lfarena::Block;
using lfarena::errc;
using lfarena::FreelistKind;
using lfarena::Options;
using lfarena_test::Worker;

// A whole refill: half a 64-byte class's cache limit (detail/free_cache.hpp).
constexpr unsigned kHalf = lfarena::detail::cache_limits(1 << 20).of(64) / 2;
static_assert(kHalf == lfarena::detail::kCacheLimit / 2);

// 1 MiB: the smallest capacity whose caches hold 64 blocks of 64 bytes (CacheLimits; smaller
// arenas cache fewer), which the tests below count on.
Options small(bool checked) {
  Options o;
  o.capacity = 1 << 20;
  o.freelist = FreelistKind::segregated;
  o.thread_chunk = 4096;
  o.checked = checked;
  return o;
}

// Fills the arena with 64-byte blocks from the calling thread until an allocation fails.
std::vector<Block> fill(const Arena &a) {
  std::vector<Block> all;
  for (;;) {
    const Block b = a.try_allocate(64);
    if (b.offset == 0)
      return all;
    all.push_back(b);
  }
}

class CachePressure : public ::testing::TestWithParam<bool> {};

// Gives the first `n` blocks of `all` to worker `w`'s free cache (n below its limit: no spill).
void cache_in(Worker &w, const Arena &a, const std::vector<Block> &all, int n) {
  w.run([&] {
    for (int i = 0; i < n; ++i)
      ASSERT_TRUE(a.deallocate(all[i].offset, all[i].size));
  });
}

// The worker's free after the failure drains its cache: the main thread's next allocation
// succeeds.
TEST_P(CachePressure, AFailedAllocationMakesTheNextFreeOfAnotherThreadGiveItsCacheBack) {
  auto a = Arena::heap(small(GetParam()));
  ASSERT_TRUE(a) << a.message();
  std::vector<Block> all = fill(*a);
  ASSERT_GT(all.size(), 100u);
  Worker w;
  cache_in(w, *a, all, 32);
  auto r = a->allocate(64);
  ASSERT_FALSE(r) << "every free byte is in the worker's cache";
  EXPECT_EQ(r.code(), errc::out_of_memory) << r.message();
  w.run([&] { ASSERT_TRUE(a->deallocate(all[32].offset, all[32].size)); });
  auto s = a->allocate(64);
  ASSERT_TRUE(s) << "the worker kept its cache after the failure: " << s.message();
  auto check = a->check();
  ASSERT_TRUE(check) << check.message();
}

// A thread that only allocates also gives its cache back, at its next slow-path allocation (one
// that succeeds: a failing one drains its own cache anyway).
TEST_P(CachePressure, AnotherThreadsSlowAllocationAfterTheFailureGivesItsCacheBack) {
  auto a = Arena::heap(small(GetParam()));
  ASSERT_TRUE(a) << a.message();
  auto big = a->allocate(264); // 264 bytes: no cache class, its free goes to the shared stack
  ASSERT_TRUE(big);
  std::vector<Block> all = fill(*a);
  ASSERT_GT(all.size(), 100u);
  Worker w;
  cache_in(w, *a, all, 32);
  ASSERT_FALSE(a->allocate(64));
  ASSERT_TRUE(a->deallocate(big->offset, big->size));
  w.run([&] { ASSERT_TRUE(a->allocate(264)); }); // not cached: the slow path, served shared
  auto s = a->allocate(64);
  ASSERT_TRUE(s) << "the worker kept its cache after the failure: " << s.message();
}

// A thread whose last use was another arena answers too: its slow path switches its
// thread-local state to this arena first (found by an outside review: the check ran before
// the switch, so a thread alternating between two arenas never drained).
TEST_P(CachePressure, AThreadComingFromAnotherArenaAnswersToo) {
  auto a = Arena::heap(small(GetParam()));
  auto b = Arena::heap(small(GetParam()));
  ASSERT_TRUE(a && b);
  std::vector<Block> all = fill(*a);
  ASSERT_GT(all.size(), 100u);
  Worker w;
  cache_in(w, *a, all, 32);
  w.run([&] { ASSERT_TRUE(b->allocate(64)); }); // the worker's last use: arena b
  ASSERT_FALSE(a->allocate(64));
  w.run([&] { ASSERT_TRUE(a->deallocate(all[32].offset, all[32].size)); });
  auto s = a->allocate(64);
  ASSERT_TRUE(s) << "the worker kept its cache after the failure: " << s.message();
}

// After answering pressure a thread's refills start again from one block and double (1, then
// 2): it does not take straight back what its drain gave up (review: with whole refills the
// failing thread never got a block of the drained class), and it answers each pressure once
// (before e8370cd an answer made on arriving from another arena was forgotten, and the next
// slow allocation answered again, restarting its batch at 1).
TEST_P(CachePressure, AfterPressureRefillsStartFromOneBlock) {
  auto a = Arena::heap(small(GetParam()));
  auto b = Arena::heap(small(GetParam()));
  ASSERT_TRUE(a && b);
  std::vector<Block> all = fill(*a);
  ASSERT_GT(all.size(), 200u);
  std::thread([&] { // 96 frees and the exit's drain: all on the shared stack
    for (int i = 0; i < 96; ++i)
      ASSERT_TRUE(a->deallocate(all[i].offset, all[i].size));
  })
      .join();
  Worker w;
  w.run([&] {
    ASSERT_TRUE(a->allocate(64)); // a whole refill: the block and 31 more in the worker's cache
    ASSERT_TRUE(b->allocate(64)); // the worker's last use: arena b
  });
  unsigned before = 0;
  while (a->try_allocate(64).offset != 0) // the other 64, then a failure: pressure
    ++before;
  EXPECT_EQ(before, 96u - kHalf);
  w.run([&] {
    ASSERT_NE(a->try_allocate(64).offset, 0u); // answers (drains 31), refills 1
    ASSERT_NE(a->try_allocate(64).offset, 0u); // refills 2: one handed out, one cached
  });
  unsigned after = 0;
  while (a->try_allocate(64).offset != 0)
    ++after;
  EXPECT_EQ(after, kHalf - 1 - 3) << "the worker took 1 + 2 of its drained blocks back";
}

// Without a failure nobody is asked: the worker's blocks stay in its cache and come back to it.
TEST_P(CachePressure, WithoutAFailureTheCacheStaysWithItsThread) {
  auto a = Arena::heap(small(GetParam()));
  ASSERT_TRUE(a) << a.message();
  std::vector<Block> all = fill(*a);
  ASSERT_GT(all.size(), 100u);
  Worker w;
  std::uint32_t again = 0;
  w.run([&] {
    ASSERT_TRUE(a->deallocate(all[0].offset, all[0].size));
    ASSERT_TRUE(a->deallocate(all[1].offset, all[1].size));
    again = a->try_allocate(64).offset;
  });
  EXPECT_EQ(again, all[1].offset) << "the worker's own last free, from its cache";
}

// A small arena's caches hold few bytes (CacheLimits: capacity / 256 per class, at least 2
// blocks): of 16 blocks of 248 bytes the worker frees in a 128 KiB arena, it keeps 2 and the
// other 14 serve the main thread at once. Before, its cache held all 16 (4 KiB per class in
// every arena: 30 classes of it were all the free memory of a small one), and the main thread's
// first allocation failed (a half-full 128 KiB arena failed 7% of its allocations with 2 threads).
TEST_P(CachePressure, ASmallArenasCachesHoldFewBlocks) {
  Options o = small(GetParam());
  o.capacity = 128 << 10;
  auto a = Arena::heap(o);
  ASSERT_TRUE(a) << a.message();
  std::vector<Block> all;
  for (Block b; (b = a->try_allocate(248)).offset != 0;)
    all.push_back(b);
  ASSERT_GT(all.size(), 100u);
  Worker w;
  w.run([&] {
    for (int i = 0; i < 16; ++i)
      ASSERT_TRUE(a->deallocate(all[i].offset, all[i].size));
  });
  EXPECT_EQ(lfarena::detail::cache_limits(o.capacity).of(248), 2u);
  unsigned served = 0;
  while (a->try_allocate(248).offset != 0)
    ++served;
  EXPECT_EQ(served, 14u) << "the worker's cache kept more than 2 blocks";
}

// A tiny arena caches only sizes whose class budget holds two blocks (16 KiB: capacity / 256 =
// 64 bytes per class, so up to 32-byte blocks): two 128-byte blocks freed by a thread that then
// sits idle (and so never answers pressure) serve the main thread at once. Before, every class
// held at least 2 blocks whatever the budget, about 8 KiB per thread in all (helper-22: an idle
// thread kept 8352 free bytes of a 16 KiB arena from every other thread).
TEST_P(CachePressure, ATinyArenaCachesOnlyBlocksItsBudgetHoldsTwiceOf) {
  Options o = small(GetParam());
  o.capacity = 16 << 10;
  auto a = Arena::heap(o);
  ASSERT_TRUE(a) << a.message();
  std::vector<Block> all;
  for (Block b; (b = a->try_allocate(128)).offset != 0;)
    all.push_back(b);
  ASSERT_GT(all.size(), 20u);
  Worker w;
  w.run([&] {
    ASSERT_TRUE(a->deallocate(all[0].offset, all[0].size));
    ASSERT_TRUE(a->deallocate(all[1].offset, all[1].size));
  });
  unsigned served = 0;
  while (a->try_allocate(128).offset != 0)
    ++served;
  EXPECT_EQ(served, 2u) << "the idle worker's cache kept them";
}

INSTANTIATE_TEST_SUITE_P(Modes, CachePressure, ::testing::Values(false, true),
                         [](const auto &info) { return info.param ? "Checked" : "Unchecked"; });

} // namespace
