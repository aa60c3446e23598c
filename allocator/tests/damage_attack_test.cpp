// damage_attack_test.cpp -- damage an outside attack found after the damage matrix
// (damage_test.cpp) was green (docs/DESIGN.md §5.8): each case hung, handed out live bytes or
// was accepted on the code before its fix.
//  - A freed node's link replaced by a copy of its predecessor's link word with the mark bit
//    flipped (two keyless writes): the node is marked and links to itself, so helping "unlinked"
//    it onto itself forever with a fresh tag each time, and the cycle bound, which needs the
//    tag counter to stay still, never fired (sorted policies: deallocate hung).
//  - Two freed nodes' links made a cycle of marked nodes (a copied link word, two mark bits
//    flipped), walked by several threads at once: each one's helping tags looked like the
//    others' progress and every thread restarted forever (a second attack, 4 threads).
//  - Segregated: a freed node's link replaced by a copy of a node of a smaller class: the pop
//    handed the small segment out for the big request (live bytes handed out and overwritten).
//  - An unmarked node linking to itself where a walk stops: handed out, or linked in front of
//    (a third attack, after the cycle check moved to Brent's checkpoints).
//  - A file whose bump word was lowered while the checked-mode bitmaps mark live blocks above
//    it: opened read-write, it handed live blocks out again; --repair rewrote it and kept it.
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include <lfarena/arena.hpp>
#include <lfarena/detail/header.hpp>

#include "arena_test_support.hpp"

namespace {

using lfarena::Arena;
using lfarena::Block;
using lfarena::errc;
using lfarena::FreelistKind;
using lfarena::OpenMode;
using lfarena::Options;
using lfarena_test::ScratchDir;

// Exhausts the bump region so the freelist serves every later allocation.
void exhaust(const Arena &a) {
  while (a.try_allocate(4096).offset != 0) {
  }
  while (a.try_allocate(8).offset != 0) {
  }
}

// A word of arena memory as a buggy user reaches it, free or not (ASan builds: free bytes are
// poisoned, so the test unpoisons them first, as only a test may).
std::uint64_t *word(const Arena &a, std::uint32_t offset) {
#if defined(LFARENA_ASAN)
  ASAN_UNPOISON_MEMORY_REGION(a.base() + offset, 8);
#endif
  return reinterpret_cast<std::uint64_t *>(a.base() + offset);
}

// (policy, checked, size_index)
class MarkedSelfLink : public ::testing::TestWithParam<std::tuple<FreelistKind, bool, bool>> {
protected:
  lfarena::Result<Arena> make(std::uint32_t capacity) const {
    Options o;
    o.capacity = capacity;
    o.freelist = std::get<0>(GetParam());
    o.checked = std::get<1>(GetParam());
    o.size_index = std::get<2>(GetParam());
    return Arena::heap(o);
  }
  // The size of the node at position k of a list of distinct sizes in the policy's order, all in
  // one size class ([512, 576)), so that a walk passes the nodes before position k. (Equal sizes
  // would not do: a new segment goes in front of its equals, and no walk passes them.)
  std::uint32_t size_at(int k) const {
    return std::get<0>(GetParam()) == FreelistKind::pessimistic ? 512 + 8 * k : 568 - 8 * k;
  }
  // Blocks of the given sizes with 8-byte guards between them, then the bump region exhausted.
  static std::vector<Block> blocks(const Arena &a, const std::vector<std::uint32_t> &sizes) {
    std::vector<Block> b;
    for (const std::uint32_t s : sizes) {
      b.push_back(*a.allocate(s));
      EXPECT_EQ(b.back().size, s);
      EXPECT_TRUE(a.allocate(8).ok());
    }
    exhaust(a);
    return b;
  }
};

TEST_P(MarkedSelfLink, IsReportedNotFollowedForever) {
  auto arena = make(1 << 16);
  ASSERT_TRUE(arena.ok()) << arena.message();
  const Arena &a = *arena;
  const std::vector<Block> b = blocks(a, {size_at(0), size_at(1), size_at(2), size_at(3)});
  for (int i : {0, 1, 2}) // the list: b0 -> b1 -> b2
    ASSERT_TRUE(a.deallocate(b[i].offset, b[i].size).ok());
  // The user's two writes into freed b2: b1's link word (-> b2), then the mark bit flipped.
  *word(a, b[2].offset) = *word(a, b[1].offset) ^ (std::uint64_t{1} << 63);
  // b3's insert walks past b1 to b2 (a marked node linking to itself).
  auto freed = a.deallocate(b[3].offset, b[3].size);
  ASSERT_FALSE(freed.ok());
  EXPECT_EQ(freed.code(), errc::corrupt_freelist);
  EXPECT_NE(freed.message().find(std::to_string(b[2].offset)), std::string::npos)
      << freed.message();
  EXPECT_EQ(a.check().code(), errc::corrupt_freelist);
  for (int i = 0; i < 3; ++i) { // later operations return (an error or a valid block)
    auto r = a.allocate(size_at(2));
    if (!r) {
      EXPECT_EQ(r.code(), errc::corrupt_freelist);
    }
  }
}

TEST_P(MarkedSelfLink, CycleOfMarkedNodesEndsForEveryThreadAtOnce) {
  auto arena = make(1 << 20);
  ASSERT_TRUE(arena.ok()) << arena.message();
  const Arena &a = *arena;
  constexpr int kThreads = 4;
  std::vector<std::uint32_t> sizes;
  for (int i = 0; i < 4 + kThreads; ++i)
    sizes.push_back(size_at(i < 4 ? i : 4)); // the freeing threads' blocks go after n3
  const std::vector<Block> all = blocks(a, sizes);
  const std::vector<Block> n(all.begin(), all.begin() + 4), freeing(all.begin() + 4, all.end());
  for (const Block &x : n) // the list: n0 -> n1 -> n2 -> n3
    ASSERT_TRUE(a.deallocate(x.offset, x.size).ok());
  *word(a, n[2].offset) = *word(a, n[0].offset);   // n2 -> n1: a copy of n0's link word
  *word(a, n[1].offset) ^= std::uint64_t{1} << 63; // and both marked
  *word(a, n[2].offset) ^= std::uint64_t{1} << 63;
  std::atomic<int> ready{0};
  std::vector<lfarena::errc> got(kThreads, errc::ok);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      ready.fetch_add(1, std::memory_order_acq_rel);
      while (ready.load(std::memory_order_acquire) < kThreads)
        std::this_thread::yield();
      const Block &mine = freeing[static_cast<std::size_t>(t)];
      got[static_cast<std::size_t>(t)] = a.deallocate(mine.offset, mine.size).code();
    });
  for (std::thread &t : threads)
    t.join();
  for (int t = 0; t < kThreads; ++t)
    EXPECT_EQ(got[static_cast<std::size_t>(t)], errc::corrupt_freelist) << "thread " << t;
}

// A third attack: an unmarked node linking to itself (its predecessor's genuine link word
// copied into it) at the node where a walk stops, so a cycle check that needs a second visit
// never sees it: the take handed the node out (still linked to itself) and an insert linked a
// new node in front of it, both with ok.
TEST_P(MarkedSelfLink, UnmarkedSelfLinkWhereTheWalkStopsIsReported) {
  auto arena = make(1 << 16);
  ASSERT_TRUE(arena.ok()) << arena.message();
  const Arena &a = *arena;
  // b0, d, b1, b2; d has b1's size
  const std::vector<Block> b = blocks(a, {size_at(0), size_at(1), size_at(1), size_at(2)});
  const Block b0 = b[0], d = b[1], b1 = b[2], b2 = b[3];
  for (const Block &x : {b0, b1, b2}) // the list: b0 -> b1 -> b2
    ASSERT_TRUE(a.deallocate(x.offset, x.size).ok());
  *word(a, b1.offset) = *word(a, b0.offset); // b1 -> b1
  // d goes in front of its equal b1: the insert stops at b1.
  auto freed = a.deallocate(d.offset, d.size);
  ASSERT_FALSE(freed.ok()) << "linked in front of a self-linked node";
  EXPECT_EQ(freed.code(), errc::corrupt_freelist);
  EXPECT_NE(freed.message().find(std::to_string(b1.offset)), std::string::npos) << freed.message();
  // Both policies take b0 first (largest first, and best fit for its size), then stop at b1.
  auto first = a.allocate(b0.size);
  ASSERT_TRUE(first.ok()) << first.message();
  EXPECT_EQ(first->offset, b0.offset);
  auto second = a.allocate(b1.size);
  ASSERT_FALSE(second.ok()) << "handed out the self-linked node at " << second->offset;
  EXPECT_EQ(second.code(), errc::corrupt_freelist);
  EXPECT_NE(second.message().find(std::to_string(b1.offset)), std::string::npos)
      << second.message();
}

INSTANTIATE_TEST_SUITE_P(Sorted, MarkedSelfLink,
                         ::testing::Combine(::testing::Values(FreelistKind::optimistic,
                                                              FreelistKind::pessimistic),
                                            ::testing::Bool(), ::testing::Bool()));

class SegregatedCopiedLink : public ::testing::TestWithParam<bool> {};

TEST_P(SegregatedCopiedLink, NeverHandsOutASmallerClassSegment) {
  Options o;
  o.capacity = 1 << 16;
  o.freelist = FreelistKind::segregated;
  o.checked = GetParam();
  auto arena = Arena::heap(o);
  ASSERT_TRUE(arena.ok()) << arena.message();
  const Arena &a = *arena;
  const Block A = *a.allocate(64), L = *a.allocate(64), B = *a.allocate(64);
  const Block G1 = *a.allocate(64), C = *a.allocate(192), G2 = *a.allocate(64);
  std::memset(a.base() + L.offset, 0x5a, 64);
  std::memset(a.base() + G1.offset, 0x5a, 64);
  exhaust(a);
  for (const Block &x : {A, B, C}) // class 64: B -> A; class 192: C
    ASSERT_TRUE(a.deallocate(x.offset, x.size).ok());
  *word(a, C.offset) = *word(a, B.offset); // C's link now leads to A (64 B)
  std::map<std::uint32_t, std::uint32_t> live{{L.offset, 64}, {G1.offset, 64}, {G2.offset, 64}};
  for (int i = 0; i < 3; ++i) {
    auto r = a.allocate(192);
    if (!r) {
      EXPECT_EQ(r.code(), errc::corrupt_freelist) << r.message();
      continue;
    }
    for (const auto &[off, size] : live)
      EXPECT_TRUE(r->offset + r->size <= off || off + size <= r->offset)
          << "block [" << r->offset << ", +" << r->size << ") overlaps live block " << off;
    live[r->offset] = r->size;
  }
  for (const Block &x : {L, G1})
    for (std::uint32_t i = 0; i < 64; ++i)
      ASSERT_EQ(static_cast<unsigned char>(a.base()[x.offset + i]), 0x5a)
          << "the allocator wrote into live block " << x.offset;
  EXPECT_EQ(a.check().code(), errc::corrupt_freelist);
}

INSTANTIATE_TEST_SUITE_P(CheckedOrNot, SegregatedCopiedLink, ::testing::Bool());

// A checked file whose bump word was lowered below live blocks: refused on open (read-write and
// read-only) and left unchanged. --repair used to refuse it too, which left it unopenable; it
// now raises the bump offset back over the live blocks (bump_salvage_test.cpp has the cases).
class LoweredBump : public ::testing::TestWithParam<FreelistKind> {};

// Creates the file with 40 64-byte blocks, every 4th freed (free segments and live blocks
// everywhere), closes it, lowers its bump word to the 21st block, and returns the file's bytes.
std::vector<unsigned char> lower_bump(const std::string &path, const Options &o) {
  std::uint64_t lowered = 0;
  {
    auto a = Arena::open_file(path, o);
    EXPECT_TRUE(a.ok()) << a.message();
    if (!a)
      return {};
    std::vector<Block> blocks;
    for (int i = 0; i < 40; ++i)
      blocks.push_back(*a->allocate(64));
    for (int i = 0; i < 40; i += 4)
      EXPECT_TRUE(a->deallocate(blocks[i].offset, 64).ok());
    lowered = blocks[20].offset;
  }
  std::vector<unsigned char> bytes = lfarena_test::read_all(path);
  std::memcpy(bytes.data() + lfarena::detail::hdr::bump, &lowered, 8);
  lfarena_test::write_all(path, bytes);
  return bytes;
}

TEST_P(LoweredBump, CheckedFileIsRefusedThenRepairedByRaisingTheBump) {
  ScratchDir dir;
  const std::string path = dir.file("bump.arena");
  Options o;
  o.capacity = 1 << 16;
  o.freelist = GetParam();
  o.checked = true;
  const std::vector<unsigned char> bytes = lower_bump(path, o);
  ASSERT_FALSE(bytes.empty());
  for (const bool read_only : {false, true}) {
    Options reopen = o;
    reopen.open_mode = OpenMode::open_existing;
    reopen.read_only = read_only;
    auto a = Arena::open_file(path, reopen);
    ASSERT_FALSE(a.ok()) << "a file with live blocks above its bump offset was opened";
    EXPECT_NE(a.message().find("bump"), std::string::npos) << a.message();
    EXPECT_EQ(lfarena_test::read_all(path), bytes) << "a refused open changed the file";
  }
  std::uint64_t lowered = 0;
  std::memcpy(&lowered, bytes.data() + lfarena::detail::hdr::bump, 8);
  auto salvaged = Arena::salvage_file(path);
  ASSERT_TRUE(salvaged.ok()) << salvaged.message();
  EXPECT_EQ(salvaged->bump_raised_from, lowered);
  EXPECT_GT(salvaged->bump_raised_to, lowered);
  Options reopen = o;
  reopen.open_mode = OpenMode::open_existing;
  auto a = Arena::open_file(path, reopen);
  ASSERT_TRUE(a.ok()) << a.message();
  EXPECT_EQ(a->stats().data_offset + a->stats().allocated, salvaged->bump_raised_to);
  EXPECT_TRUE(a->check().ok());
}

// Unchecked: the live blocks above the lowered bump are invisible, but free segments above it
// are evidence: salvage refuses instead of dropping them and keeping the damaged bump offset.
TEST_P(LoweredBump, UncheckedSalvageRefusesFreeSegmentsAboveTheBump) {
  if (GetParam() == FreelistKind::none)
    GTEST_SKIP() << "no free lists";
  ScratchDir dir;
  const std::string path = dir.file("bump.arena");
  Options o;
  o.capacity = 1 << 16;
  o.freelist = GetParam();
  const std::vector<unsigned char> bytes = lower_bump(path, o);
  ASSERT_FALSE(bytes.empty());
  auto salvaged = Arena::salvage_file(path);
  ASSERT_FALSE(salvaged.ok()) << "salvage dropped valid free segments above a damaged bump";
  EXPECT_NE(salvaged.message().find("bump"), std::string::npos) << salvaged.message();
  EXPECT_EQ(lfarena_test::read_all(path), bytes) << "a refused salvage changed the file";
}

INSTANTIATE_TEST_SUITE_P(Policies, LoweredBump,
                         ::testing::Values(FreelistKind::none, FreelistKind::optimistic,
                                           FreelistKind::pessimistic, FreelistKind::segregated));

} // namespace
