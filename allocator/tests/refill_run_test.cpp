// refill_run_test.cpp -- a thread cache's refill pops a run of blocks from the shared stack of
// their size with one CAS (SegregatedPolicy::pop_run, docs/DESIGN.md §5.11 "Refill"); these
// are its sequential results and its answers to damage inside the run: the run ends before a
// damaged node, and a link out of the region or back into the run (a cycle) falls back to a
// single pop, so damage is reported, never followed, and no block is handed out twice.
#include <cstdint>
#include <set>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <lfarena/arena.hpp>

#include "arena_test_support.hpp"
#include "worker_thread.hpp"

namespace {

using lfarena::Arena;
using lfarena::Block;
using lfarena::errc;
using lfarena::FreelistKind;
using lfarena::Options;
using lfarena_test::read64;
using lfarena_test::scribble64;

class RefillRun : public ::testing::TestWithParam<bool> {
protected:
  // A full arena of 64-byte blocks whose first kFreed blocks (b[0..7]) are on the shared stack
  // of 64, b[7] on top: a thread freed them into its cache and its exit drained the cache.
  static constexpr unsigned kFreed = 8;
  void SetUp() override {
    Options o;
    o.capacity = 1 << 20;
    o.thread_chunk = 4096;
    o.checked = GetParam();
    o.freelist = FreelistKind::segregated;
    auto made = Arena::heap(o);
    ASSERT_TRUE(made) << made.message();
    a = *made;
    std::thread([&] {
      for (Block x; (x = a.try_allocate(64)).offset != 0;)
        b.push_back(x);
    }).join();
    ASSERT_GT(b.size(), 1000u);
    std::thread([&] {
      for (unsigned i = 0; i < kFreed; ++i)
        ASSERT_TRUE(a.deallocate(b[i].offset, b[i].size));
    }).join();
  }
  // What a fresh thread gets from `calls` allocations of 64 bytes (its first refill may take
  // a run of up to half the cache limit): offsets, 0 for a failure (its code in `errors`).
  std::vector<std::uint32_t> take(unsigned calls, std::vector<errc> *errors = nullptr) {
    std::vector<std::uint32_t> got;
    std::thread([&] {
      for (unsigned i = 0; i < calls; ++i) {
        auto r = a.allocate(64);
        got.push_back(r ? r->offset : 0);
        if (!r && errors != nullptr)
          errors->push_back(r.code());
      }
    }).join();
    return got;
  }
  // Makes b[from]'s link name b[to] instead of b[from - 1] (the node below it on the stack).
  void relink(unsigned from, unsigned to) {
    const std::uint64_t word = read64(a, b[from].offset) ^ b[from - 1].offset ^ b[to].offset;
    scribble64(a, b[from].offset, word);
  }
  Arena a;
  std::vector<Block> b;
};

TEST_P(RefillRun, ARunHandsOutTheStackInOrderAndLeavesTheRestOnIt) {
  const std::vector<std::uint32_t> got = take(kFreed + 1);
  for (unsigned i = 0; i < kFreed; ++i)
    EXPECT_EQ(got[i], b[kFreed - 1 - i].offset) << "allocation " << i;
  EXPECT_EQ(got[kFreed], 0u) << "nothing else is free";
  auto rep = a.check();
  ASSERT_TRUE(rep) << rep.message();
}

// b[5] (third from the top) gets a garbage size word: the run is b[7], b[6]; the refill after
// them reports b[5].
TEST_P(RefillRun, ARunEndsBeforeADamagedNodeWhichTheNextPopReports) {
  scribble64(a, b[5].offset + 8, 0x0123456789abcdefull);
  std::vector<errc> errors;
  const std::vector<std::uint32_t> got = take(3, &errors);
  EXPECT_EQ(got[0], b[7].offset);
  EXPECT_EQ(got[1], b[6].offset);
  EXPECT_EQ(got[2], 0u);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], errc::corrupt_freelist);
  auto rep = a.check();
  ASSERT_FALSE(rep);
  EXPECT_EQ(rep.code(), errc::corrupt_freelist);
}

// b[6]'s link points out of the region: the run falls back to a single pop (b[7]), and the
// next refill reports b[6] instead of following its link.
TEST_P(RefillRun, ALinkOutOfTheRegionFallsBackToOnePopAndIsReported) {
  scribble64(a, b[6].offset, read64(a, b[6].offset) ^ b[5].offset ^ 0xfffffff0u);
  std::vector<errc> errors;
  const std::vector<std::uint32_t> got = take(2, &errors);
  EXPECT_EQ(got[0], b[7].offset);
  EXPECT_EQ(got[1], 0u);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], errc::corrupt_freelist);
}

// b[5]'s link names b[6] (a cycle b[6] -> b[5] -> b[6]): no block is handed out twice, and the
// damage is reported.
TEST_P(RefillRun, ACycleInsideARunNeverHandsABlockOutTwice) {
  relink(5, 6);
  std::vector<errc> errors;
  const std::vector<std::uint32_t> got = take(kFreed + 2, &errors);
  std::set<std::uint32_t> seen;
  for (std::uint32_t o : got) {
    if (o != 0) {
      EXPECT_TRUE(seen.insert(o).second) << "block " << o << " handed out twice";
    }
  }
  ASSERT_FALSE(errors.empty());
  EXPECT_EQ(errors[0], errc::corrupt_freelist);
}

// A cycle that closes exactly where a full run ends: the 32nd node's link names the 2nd. The
// walk stops at the run's length there, so that link was not compared with the run, and the
// head became a node inside the refilling thread's cache (helper-24: another thread's refill
// then handed out the same blocks). Now it falls back to one pop: the thread's cache stays
// empty, and its next block comes from the stack, not one another thread took.
TEST_P(RefillRun, ACycleClosingAtTheEndOfAFullRunFallsBackToOnePop) {
  std::thread([&] { // 40 more on top: b[47] .. b[8], then b[7] .. b[0]
    for (unsigned i = kFreed; i < kFreed + 40; ++i)
      ASSERT_TRUE(a.deallocate(b[i].offset, b[i].size));
  })
      .join();
  relink(16, 46); // b[16], the 32nd from the top, links to b[46], the 2nd
  lfarena_test::Worker t;
  std::uint32_t first = 0, second = 0;
  t.run([&] { first = a.try_allocate(64).offset; });
  EXPECT_EQ(first, b[47].offset);
  const std::vector<std::uint32_t> other = take(1); // the 2nd node: the stack's next top
  EXPECT_EQ(other[0], b[46].offset);
  // With the bug, the first thread's cache held b[46] .. b[16] as well, and the other
  // thread's pop scrubbed b[46]: this allocation reported damage instead.
  t.run([&] { second = a.try_allocate(64).offset; });
  EXPECT_NE(second, 0u) << "the first thread's cache shared blocks with the stack";
  EXPECT_NE(second, other[0]) << "handed out twice";
}

// Blocks 4 KiB apart share a bit of the walk's run filter (offset / 8 modulo 512): the filter
// only screens, and contains() must confirm before a run is refused as a cycle. Eight such
// blocks on top of b[7] .. b[0]: one refill takes all 16, so another thread finds the stack
// empty (with a filter hit taken as a cycle, the refill fell back to one pop and the other
// thread got the second block).
TEST_P(RefillRun, BlocksThatShareAFilterBitStillFormOneRun) {
  std::vector<Block> apart;
  for (std::size_t i = kFreed + 1; i < b.size() && apart.size() < 8; ++i)
    if ((b[i].offset - b[kFreed].offset) % 4096 == 0)
      apart.push_back(b[i]);
  ASSERT_EQ(apart.size(), 8u);
  std::thread([&] {
    for (const Block &x : apart)
      ASSERT_TRUE(a.deallocate(x.offset, x.size));
  }).join();
  lfarena_test::Worker t;
  std::vector<std::uint32_t> mine;
  t.run([&] { mine.push_back(a.try_allocate(64).offset); });
  EXPECT_EQ(mine[0], apart[7].offset);
  std::vector<errc> errors;
  EXPECT_EQ(take(1, &errors)[0], 0u) << "the refill left blocks on the stack";
  t.run([&] {
    for (unsigned i = 0; i < 15; ++i)
      mine.push_back(a.try_allocate(64).offset);
  });
  for (unsigned i = 1; i < 8; ++i)
    EXPECT_EQ(mine[i], apart[7 - i].offset) << "allocation " << i;
  for (unsigned i = 0; i < kFreed; ++i)
    EXPECT_EQ(mine[8 + i], b[kFreed - 1 - i].offset) << "allocation " << 8 + i;
}

// A spill writes prefetch hints into the chain it pushes (detail/run_hints.hpp): node k of a
// chain of 64-byte blocks names its nodes 12k+1 .. 12k+12, so the top's list names nodes 1 and
// 2, whose lists come next, and a shorter list ends with a 0. 40 blocks freed by a thread that
// then exits: its drain spills them as one chain, b[47] (top, node 0) .. b[8] (node 39).
TEST_P(RefillRun, TheFirstNodesOfASpilledChainNameTheRestTwelveEach) {
  std::thread([&] {
    for (unsigned i = kFreed; i < kFreed + 40; ++i)
      ASSERT_TRUE(a.deallocate(b[i].offset, b[i].size));
  }).join();
  const auto hints = [&](unsigned holder, unsigned word) {
    return read64(a, b[holder].offset + 16 + 8 * word);
  };
  const auto pair = [&](unsigned lo, unsigned hi) {
    return b[lo].offset | std::uint64_t{b[hi].offset} << 32;
  };
  // Node k is b[47 - k]; its list starts at node 12k + 1, which is b[46 - 12k].
  for (unsigned k = 0; k < 3; ++k)
    for (unsigned w = 0; w < 6; ++w)
      EXPECT_EQ(hints(47 - k, w), pair(46 - 12 * k - 2 * w, 45 - 12 * k - 2 * w))
          << "node " << k << " (b[" << 47 - k << "]), hint word " << w;
  EXPECT_EQ(hints(44, 0), pair(10, 9)) << "node 3 names nodes 37 and 38";
  EXPECT_EQ(hints(44, 1), std::uint64_t{b[8].offset}) << "then node 39, and the list ends with a 0";
  // And the refill that takes them hands them out in stack order, as without hints.
  const std::vector<std::uint32_t> got = take(40);
  for (unsigned i = 0; i < 40; ++i)
    EXPECT_EQ(got[i], b[47 - i].offset) << "allocation " << i;
}

// A chain of one node gets an empty list (its first hint word 0), not the block's old bytes
// for a refill to prefetch: b[kFreed] holds the user's data when a thread frees it and exits.
TEST_P(RefillRun, ASpilledChainOfOneHasAnEmptyHintList) {
  scribble64(a, b[kFreed].offset + 16, b[500].offset | std::uint64_t{b[7].offset} << 32);
  std::thread([&] { ASSERT_TRUE(a.deallocate(b[kFreed].offset, b[kFreed].size)); }).join();
  EXPECT_EQ(read64(a, b[kFreed].offset + 16), 0u);
}

// Hints are only prefetch addresses: whatever the words after a free node's link and size hold
// (a user's write after free, a damaged file: offsets of live blocks, of the node itself, out of
// the region, misaligned, ones), the refill hands out exactly what the links say and check()
// finds nothing wrong.
TEST_P(RefillRun, GarbageInTheHintWordsChangesNoRun) {
  const std::uint64_t garbage[] = {
      ~0ull,
      b[500].offset | std::uint64_t{b[7].offset} << 32,
      (b[3].offset + 4) | std::uint64_t{0xfffffff8u} << 32,
      b[6].offset | std::uint64_t{b[6].offset} << 32,
      0x0123456789abcdefull,
      8,
  };
  for (unsigned i = 0; i < kFreed; ++i)
    for (unsigned w = 0; w < 6; ++w)
      scribble64(a, b[i].offset + 16 + 8 * w, garbage[(i + w) % 6]);
  const std::vector<std::uint32_t> got = take(kFreed + 1);
  for (unsigned i = 0; i < kFreed; ++i)
    EXPECT_EQ(got[i], b[kFreed - 1 - i].offset) << "allocation " << i;
  EXPECT_EQ(got[kFreed], 0u) << "nothing else is free";
  auto rep = a.check();
  ASSERT_TRUE(rep) << rep.message();
}

INSTANTIATE_TEST_SUITE_P(Modes, RefillRun, ::testing::Bool(),
                         [](const auto &info) { return info.param ? "checked" : "unchecked"; });

} // namespace
