// thread_chunk_test.cpp -- thread-local bump chunks (Options::thread_chunk): blocks come out of
// per-thread chunks, the accounting counts unused tails, tails go back when threads exit and
// when the arena closes, errors are unchanged, and a crash's chunks are counted as leaked.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <latch>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <lfarena/arena.hpp>

#include "opener_wait.hpp"

namespace {

using lfarena::Arena;
using lfarena::Block;
using lfarena::errc;
using lfarena::FreelistKind;
using lfarena::Options;

Options chunked(bool checked, std::uint32_t chunk = 4096) {
  Options o;
  o.capacity = 1 << 20;
  o.thread_chunk = chunk;
  o.checked = checked;
  o.freelist = FreelistKind::pessimistic;
  return o;
}

class ThreadChunk : public ::testing::TestWithParam<bool> {};

TEST_P(ThreadChunk, SmallBlocksComeOutOfOneChunk) {
  auto a = Arena::heap(chunked(GetParam()));
  ASSERT_TRUE(a) << a.message();
  std::vector<Block> blocks;
  for (int i = 0; i < 100; ++i) {
    auto b = a->allocate(32);
    ASSERT_TRUE(b) << b.message();
    if (!blocks.empty()) {
      EXPECT_EQ(b->offset, blocks.back().offset + 32) << "contiguous in the chunk";
    }
    blocks.push_back(*b);
  }
  EXPECT_EQ(a->stats().allocated, 4096u) << "one chunk reserved from the bump region";
  auto rep = a->check();
  ASSERT_TRUE(rep) << rep.message();
  EXPECT_EQ(rep->chunk_reserved, 4096u - 3200u);
  EXPECT_EQ(rep->live_bytes, 3200u);
}

TEST_P(ThreadChunk, AlignmentPaddingIsAccounted) {
  auto a = Arena::heap(chunked(GetParam()));
  ASSERT_TRUE(a);
  auto x = a->allocate(8);
  auto y = a->allocate(64, 64);
  ASSERT_TRUE(x && y);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(a->base() + y->offset) % 64, 0u);
  auto rep = a->check();
  ASSERT_TRUE(rep) << rep.message();
  EXPECT_EQ(rep->live_bytes, 72u);
}

TEST_P(ThreadChunk, LargeBlocksAndErrorsUseTheSharedPath) {
  auto a = Arena::heap(chunked(GetParam()));
  ASSERT_TRUE(a);
  auto big = a->allocate(2048); // > thread_chunk / 4
  ASSERT_TRUE(big);
  EXPECT_EQ(a->stats().allocated, 2048u) << "no chunk for a large block";
  EXPECT_EQ(a->allocate(0).code(), errc::zero_size);
  // The inline path tests alignments up to kGranule against a table of 1, 2, 4 and 8, and a
  // larger one for a chunk-sized request in a branch of its own (max_alignment is 64 here).
  for (const std::uint32_t align :
       {0u, 3u, 5u, 6u, 7u, 9u, 12u, 24u, 128u, 4096u, 0x80000000u, 0xffffffffu})
    for (const std::uint32_t size : {16u, 2048u})
      EXPECT_EQ(a->allocate(size, align).code(), errc::bad_alignment)
          << "size " << size << " align " << align;
  for (const std::uint32_t align : {1u, 2u, 4u, 8u, 16u, 32u, 64u}) {
    auto b = a->allocate(24, align);
    ASSERT_TRUE(b) << "align " << align << ": " << b.message();
    EXPECT_EQ(b->offset % (align < 8 ? 8 : align), 0u) << "align " << align;
    EXPECT_EQ(b->size, 24u) << "align " << align;
  }
  auto rep = a->check();
  ASSERT_TRUE(rep) << rep.message();
}

TEST_P(ThreadChunk, ThreadsGiveTheirTailsBackWhenTheyExit) {
  auto a = Arena::heap(chunked(GetParam()));
  ASSERT_TRUE(a);
  constexpr int kThreads = 4, kBlocks = 500;
  std::vector<std::vector<Block>> held(kThreads);
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      for (int i = 0; i < kBlocks; ++i) {
        auto b = a->allocate(8 + 8 * static_cast<std::uint32_t>((i * 7 + t) % 12));
        if (!b)
          return;
        std::fill_n(a->pointer<unsigned char>(b->offset), b->size,
                    static_cast<unsigned char>(t + 1));
        held[t].push_back(*b);
      }
    });
  }
  for (auto &th : threads)
    th.join();
  std::vector<Block> all;
  std::uint64_t live = 0;
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_EQ(held[t].size(), static_cast<std::size_t>(kBlocks));
    for (const Block &b : held[t]) {
      live += b.size;
      all.push_back(b);
      for (std::uint32_t i = 0; i < b.size; ++i)
        ASSERT_EQ(*a->pointer<unsigned char>(b.offset + i), t + 1) << "another thread wrote here";
    }
  }
  std::sort(all.begin(), all.end(),
            [](const Block &x, const Block &y) { return x.offset < y.offset; });
  for (std::size_t i = 1; i < all.size(); ++i)
    ASSERT_LE(all[i - 1].offset + all[i - 1].size, all[i].offset);
  auto rep = a->check();
  ASSERT_TRUE(rep) << rep.message();
  EXPECT_EQ(rep->chunk_reserved, 0u) << "exited threads returned their chunk tails";
  EXPECT_EQ(rep->live_bytes, live);
}

// The owner stores its cursor in its slot on every allocation: two live owners must not share a
// cache line (two slots per 64-byte line: even slots are claimed first).
TEST_P(ThreadChunk, LiveOwnersHoldSlotsOnDistinctCacheLines) {
  auto a = Arena::heap(chunked(GetParam()));
  ASSERT_TRUE(a);
  constexpr int kThreads = 4;
  std::latch claimed(kThreads + 1), release(1);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&] {
      EXPECT_TRUE(a->allocate(16).ok());
      claimed.count_down();
      release.wait(); // keep the slot while the main thread looks
    });
  ASSERT_TRUE(a->allocate(16).ok());
  claimed.arrive_and_wait();
  const lfarena::detail::RegionWords mem{a->base()};
  std::vector<std::uint32_t> lines;
  for (std::uint32_t i = 0; i < lfarena::detail::kChunkSlots; ++i) {
    const std::uint32_t at = lfarena::detail::slot_owner_at(i);
    if (lfarena::detail::load_acquire(mem.word(at)) != 0)
      lines.push_back(at / 64);
  }
  release.count_down();
  for (auto &th : threads)
    th.join();
  ASSERT_EQ(lines.size(), static_cast<std::size_t>(kThreads + 1));
  std::sort(lines.begin(), lines.end());
  EXPECT_EQ(std::adjacent_find(lines.begin(), lines.end()), lines.end())
      << "two owners share a cache line";
}

TEST_P(ThreadChunk, ClosingTheArenaReturnsTheCallersChunk) {
  const std::string path = ::testing::TempDir() + "lfarena_tlc_" + std::to_string(::getpid());
  std::remove(path.c_str());
  Options o = chunked(GetParam());
  {
    auto a = Arena::open_file(path, o);
    ASSERT_TRUE(a) << a.message();
    ASSERT_TRUE(a->allocate(40));
    EXPECT_GT(a->check()->chunk_reserved, 0u);
  }
  auto again = Arena::open_file(path, o);
  ASSERT_TRUE(again) << again.message();
  EXPECT_FALSE(again->recovery().ran);
  auto rep = again->check();
  ASSERT_TRUE(rep) << rep.message();
  EXPECT_EQ(rep->chunk_reserved, 0u);
  EXPECT_EQ(rep->live_bytes, 40u);
  std::remove(path.c_str());
}

TEST_P(ThreadChunk, ACrashedOwnersChunkIsCountedAsLeaked) {
  const std::string path = ::testing::TempDir() + "lfarena_tlc_crash_" + std::to_string(::getpid());
  std::remove(path.c_str());
  Options o = chunked(GetParam());
  { ASSERT_TRUE(Arena::open_file(path, o)); }
  const pid_t pid = ::fork();
  if (pid == 0) {
    auto a = Arena::open_file(path, o);
    if (!a || !a->allocate(100))
      ::_exit(1);
    ::raise(SIGKILL);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status));
  // Recovery runs only once the dead child's lock is gone, which may be after waitpid().
  ASSERT_TRUE(lfarena_test::wait_until_no_opener(path)) << "the dead child's opener lock stays";
  auto a = Arena::open_file(path, o);
  ASSERT_TRUE(a) << a.message();
  EXPECT_TRUE(a->recovery().ran);
  EXPECT_EQ(a->recovery().chunks_released, 1u);
  EXPECT_EQ(a->recovery().leaked_bytes, 4096u - 104u) << "the dead thread's unused chunk tail";
  auto rep = a->check();
  ASSERT_TRUE(rep) << rep.message();
  EXPECT_EQ(rep->live_bytes, 104u) << "the dead thread's allocation stays live";
  std::remove(path.c_str());
}

// A refill must check the aligned block against the new chunk, not only the old one: with a
// chunk smaller than the alignment padding, allocate(8, 4096) used to get a block outside its
// chunk (overlapping later bump blocks), or at offset == capacity when the chunk was the
// region's last, and the next refill gave back a wrapped ~4 GiB "tail" to the freelist.
TEST_P(ThreadChunk, RefillKeepsAlignedBlocksInsideTheRegionAndApart) {
  for (const FreelistKind kind : {FreelistKind::optimistic, FreelistKind::pessimistic,
                                  FreelistKind::segregated, FreelistKind::none}) {
    SCOPED_TRACE(static_cast<int>(kind));
    Options o = chunked(GetParam(), 256);
    o.capacity = 64 << 10;
    o.max_alignment = 4096;
    o.freelist = kind;
    auto a = Arena::heap(o);
    ASSERT_TRUE(a) << a.message();
    std::vector<Block> blocks;
    for (int i = 0; i < 64; ++i) {
      const std::uint32_t align = i % 3 == 0 ? 8 : (i % 3 == 1 ? 4096 : 512);
      auto b = a->allocate(8, align);
      if (!b) {
        ASSERT_EQ(b.code(), errc::out_of_memory) << b.message();
        break;
      }
      ASSERT_EQ(b->offset % align, 0u);
      ASSERT_GE(b->offset, a->stats().data_offset);
      ASSERT_LE(std::uint64_t{b->offset} + b->size, o.capacity) << "block outside the region";
      blocks.push_back(*b);
    }
    std::sort(blocks.begin(), blocks.end(),
              [](const Block &x, const Block &y) { return x.offset < y.offset; });
    for (std::size_t i = 1; i < blocks.size(); ++i)
      ASSERT_LE(blocks[i - 1].offset + blocks[i - 1].size, blocks[i].offset) << "overlap";
    auto rep = a->check();
    ASSERT_TRUE(rep) << rep.message();
    std::uint64_t live = 0;
    for (const Block &b : blocks)
      live += b.size;
    EXPECT_EQ(rep->live_bytes, live);
    // The freelist stays sane: a free and a freelist allocation return promptly.
    ASSERT_TRUE(a->deallocate(blocks.front().offset, blocks.front().size));
    auto again = a->allocate(8, 8);
    EXPECT_TRUE(again || again.code() == errc::out_of_memory) << again.message();
    EXPECT_TRUE(a->check()) << a->check().message();
  }
}

INSTANTIATE_TEST_SUITE_P(Modes, ThreadChunk, ::testing::Bool(),
                         [](const auto &info) { return info.param ? "checked" : "unchecked"; });

TEST(ThreadChunkOptions, InvalidSizesAreRejected) {
  for (std::uint32_t bad : {100u, 260u, 1u << 20}) {
    Options o = chunked(false, bad);
    auto a = Arena::heap(o);
    EXPECT_EQ(a.code(), errc::invalid_thread_chunk) << bad;
    EXPECT_NE(a.message().find(std::to_string(bad)), std::string::npos) << a.message();
  }
}

} // namespace
