// chunk_pressure_test.cpp -- exhaustion with bytes in another thread's chunk (docs/DESIGN.md
// §5.11 "Pressure"): the unused tail of a thread's chunk is reserved for that thread alone, so
// in a full arena it was lost to every other thread until its owner refilled or exited
// (helper-22: 16 threads churning in a 90%-full 128 KiB arena failed 3.9-6.8% of their
// allocations with 4 KiB chunks, 0.72% without chunks). Now an allocation that finds the arena
// full gives back its own thread's tail and retries, and asks the other threads for theirs (as
// for their free caches): each gives its tail back at its next free or slow-path allocation.
#include <cstdint>
#include <vector>

#include <gtest/gtest.h>

#include <lfarena/arena.hpp>

#include "worker_thread.hpp"

namespace {

using lfarena::Arena;
using lfarena::Block;
using lfarena::FreelistKind;
using lfarena::Options;
using lfarena_test::Worker;

struct Case {
  FreelistKind kind;
  bool checked;
};

class ChunkPressure : public ::testing::TestWithParam<Case> {
protected:
  Options options(std::uint32_t capacity = 1 << 20) const {
    Options o;
    o.capacity = capacity;
    o.freelist = GetParam().kind;
    o.thread_chunk = 4096;
    o.checked = GetParam().checked;
    return o;
  }
};

// Allocates `size`-byte blocks from the calling thread until one fails.
std::vector<Block> fill(const Arena &a, std::uint32_t size) {
  std::vector<Block> all;
  for (Block b; (b = a.try_allocate(size)).offset != 0;)
    all.push_back(b);
  return all;
}

unsigned count_served(const Arena &a, std::uint32_t size) {
  unsigned n = 0;
  while (a.try_allocate(size).offset != 0)
    ++n;
  return n;
}

// A worker allocates one 64-byte block (reserving its 4 KiB chunk), the main thread fills the
// arena with 64-byte blocks until one fails (pressure), then the worker frees its block. The
// caller keeps the worker alive: its exit would give the tail back anyway.
void worker_frees_after_a_failure(const Arena &a, Worker &w) {
  Block mine{};
  w.run([&] { mine = a.try_allocate(64); });
  ASSERT_NE(mine.offset, 0u);
  ASSERT_GT(fill(a, 64).size(), 1000u);
  w.run([&] { ASSERT_TRUE(a.deallocate(mine.offset, mine.size)); });
}

// The worker's first allocation reserves a 4 KiB chunk and uses 64 bytes of it; the main thread
// then fills the arena. After the failure, the worker's next free gives its 4032-byte tail back:
// 63 more 64-byte blocks for the main thread.
TEST_P(ChunkPressure, AFailedAllocationMakesAnotherThreadGiveItsChunkTailBack) {
  auto a = Arena::heap(options());
  ASSERT_TRUE(a) << a.message();
  Worker w;
  worker_frees_after_a_failure(*a, w);
  EXPECT_GE(count_served(*a, 64), 63u) << "the worker kept its chunk's tail after the failure";
  auto check = a->check();
  ASSERT_TRUE(check) << check.message();
}

// A thread gives its own tail back before it fails: 2 KiB requests (above thread_chunk / 4:
// never served by a chunk) fill the arena while the calling thread's chunk holds 4032 unused
// bytes; the failing one is then served from them, and at the end no chunk holds 2 KiB.
TEST_P(ChunkPressure, AFailingRequestUsesItsOwnThreadsChunkTail) {
  auto a = Arena::heap(options());
  ASSERT_TRUE(a) << a.message();
  ASSERT_NE(a->try_allocate(64).offset, 0u); // reserves this thread's chunk
  std::vector<Block> big = fill(*a, 2048);
  ASSERT_GT(big.size(), 100u);
  auto check = a->check();
  ASSERT_TRUE(check) << check.message();
  EXPECT_LT(check->chunk_reserved, 2048u) << "a 2 KiB request failed while its own thread's "
                                             "chunk held that much";
}

// A worker whose last call was in another arena answers at its next free here all the same
// (helper-23: frees in a sorted-policy arena, and frees above cache_max, took no path that
// switched the thread to this arena, so the tail stayed reserved until a small allocation or
// the thread's exit). The freed block is 2 KiB: above cache_max everywhere.
TEST_P(ChunkPressure, AThreadLastInAnotherArenaGivesItsTailBackAtItsNextFree) {
  auto a = Arena::heap(options());
  auto other = Arena::heap(options());
  ASSERT_TRUE(a && other);
  Worker w;
  Block big{}, mine{};
  w.run([&] {
    big = a->try_allocate(2048);
    mine = a->try_allocate(64);                    // the worker's chunk in `a`: 4032 unused bytes
    ASSERT_NE(other->try_allocate(64).offset, 0u); // its last arena is now `other`
  });
  ASSERT_NE(big.offset, 0u);
  ASSERT_NE(mine.offset, 0u);
  std::vector<Block> all = fill(*a, 64);
  w.run([&] { ASSERT_TRUE(a->deallocate(big.offset, big.size)); });
  // 2048 freed bytes serve 32 blocks; the tail serves 63 more.
  EXPECT_GE(count_served(*a, 64), 32u + 63u) << "the worker kept its tail in the first arena";
  auto check = a->check();
  ASSERT_TRUE(check) << check.message();
  EXPECT_EQ(check->chunk_reserved, 0u);
}

// The same for the failing thread's own tail: its last call was in another arena, yet a
// failing request gives back its tail in this one first (helper-23: 1000 more 2 KiB requests
// were refused with 4032 bytes in the thread's own chunk).
TEST_P(ChunkPressure, AFailingRequestUsesItsOwnTailAfterACallInAnotherArena) {
  auto a = Arena::heap(options());
  auto other = Arena::heap(options());
  ASSERT_TRUE(a && other);
  ASSERT_NE(a->try_allocate(64).offset, 0u); // this thread's chunk in `a`
  ASSERT_NE(other->try_allocate(64).offset, 0u);
  std::vector<Block> big;
  for (Block b; (b = a->try_allocate(2048)).offset != 0;) {
    big.push_back(b);
    if (big.size() % 64 == 0) { // every so often the thread's last call is elsewhere again
      ASSERT_NE(other->try_allocate(64).offset, 0u);
    }
  }
  ASSERT_NE(other->try_allocate(64).offset, 0u);
  EXPECT_EQ(a->try_allocate(2048).offset, 0u);
  auto check = a->check();
  ASSERT_TRUE(check) << check.message();
  EXPECT_LT(check->chunk_reserved, 2048u) << "a 2 KiB request failed while its own thread's "
                                             "chunk held that much";
}

// A free that answers pressure gives its own block to the shared lists, not to the cache it
// just drained (helper-23: the worker kept that one block: 62 blocks for the main thread).
TEST_P(ChunkPressure, TheFreeThatAnswersKeepsNothing) {
  auto a = Arena::heap(options());
  ASSERT_TRUE(a) << a.message();
  Worker w;
  worker_frees_after_a_failure(*a, w);
  EXPECT_GE(count_served(*a, 64), 64u) << "the worker's tail (63) and its freed block";
  auto check = a->check();
  ASSERT_TRUE(check) << check.message();
}

INSTANTIATE_TEST_SUITE_P(Policies, ChunkPressure,
                         ::testing::Values(Case{FreelistKind::segregated, false},
                                           Case{FreelistKind::segregated, true},
                                           Case{FreelistKind::optimistic, false},
                                           Case{FreelistKind::pessimistic, true}),
                         [](const auto &info) {
                           return std::string(lfarena::to_string(info.param.kind)) +
                                  (info.param.checked ? "Checked" : "Unchecked");
                         });

} // namespace
