// free_cache_test.cpp -- per-thread free caches of the segregated policy (detail/free_cache.hpp):
// a thread's small frees come back to its own allocations, a full class spills to the shared
// stack, exits and closes drain, cross-thread frees land in the freeing thread's cache, the
// accounting counts cached bytes as free and the cache blocks apart, and damage in a cached
// block is reported, never followed.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <lfarena/arena.hpp>
#include <lfarena/detail/free_cache.hpp>

#include "arena_test_support.hpp"

namespace {

using lfarena::Arena;
using lfarena::Block;
using lfarena::errc;
using lfarena::FreelistKind;
using lfarena::Options;
using lfarena::detail::kCacheBatch;
using lfarena::detail::kCacheBlockBytes;
using lfarena::detail::kCacheLimit;
using lfarena_test::read64;
using lfarena_test::scribble64;

// The bytes of a cache block in a cached() arena (the array layout of every new file), and of
// the blocks after the first attachment: its slot and the next ones.
lfarena::detail::Geometry cached_geometry() {
  lfarena::detail::Geometry g;
  g.capacity = 1 << 20;
  g.min_segment = Options().min_segment;
  g.thread_cache = g.cache_256 = g.cache_array = true;
  return g;
}
const std::uint32_t kBlockBytes = lfarena::detail::cache_block_bytes(cached_geometry());
const std::uint64_t kProvisioned =
    lfarena::detail::cache_provision(1 << 20, kBlockBytes) * std::uint64_t{kBlockBytes};

// The word of entry i of the class of `size` in the cache block at `block` (array layout).
std::uint32_t entry_word(std::uint32_t block, std::uint32_t size, std::uint32_t i) {
  const auto layout = lfarena::detail::cache_array_layout(cached_geometry());
  return block + lfarena::detail::CacheArrayLayout::entry_at(layout.of(size), i);
}

Options cached(bool checked, std::uint32_t chunk = 4096) {
  Options o;
  o.capacity = 1 << 20;
  o.thread_chunk = chunk;
  o.checked = checked;
  o.freelist = FreelistKind::segregated;
  return o;
}

std::string temp_path(const char *name) {
  return "/tmp/lfarena_free_cache_" + std::string(name) + "_" + std::to_string(::getpid());
}

class FreeCache : public ::testing::TestWithParam<bool> {};

TEST_P(FreeCache, AFreedBlockComesBackToTheSameThread) {
  auto a = Arena::heap(cached(GetParam()));
  ASSERT_TRUE(a) << a.message();
  auto x = a->allocate(64);
  auto y = a->allocate(64);
  ASSERT_TRUE(x && y);
  ASSERT_TRUE(a->deallocate(x->offset, x->size));
  auto rep = a->check();
  ASSERT_TRUE(rep) << rep.message();
  EXPECT_EQ(rep->free_segments, 1u) << "the cached block is free";
  EXPECT_EQ(rep->free_bytes, 64u);
  EXPECT_EQ(rep->cache_reserved, kProvisioned) << "the first slot provisioned the next ones";
  EXPECT_EQ(rep->live_bytes, 64u);
  auto z = a->allocate(64);
  ASSERT_TRUE(z);
  EXPECT_EQ(z->offset, x->offset) << "popped from the thread's cache";
  EXPECT_EQ(a->check()->free_segments, 0u);
}

TEST_P(FreeCache, AFullClassSpillsToTheSharedStack) {
  auto a = Arena::heap(cached(GetParam()));
  ASSERT_TRUE(a);
  std::vector<Block> blocks;
  for (std::uint32_t i = 0; i < kCacheLimit + 10; ++i)
    blocks.push_back(*a->allocate(48));
  for (const Block &b : blocks)
    ASSERT_TRUE(a->deallocate(b.offset, b.size));
  auto rep = a->check();
  ASSERT_TRUE(rep) << rep.message();
  EXPECT_EQ(rep->free_segments, blocks.size()) << "cached or on the stack: all free";
  // Another thread (its own, empty cache) finds the spilled ones on the shared stack once its
  // chunk cannot serve: here, through the shared path of a request above the cached sizes.
  std::set<std::uint32_t> mine;
  for (const Block &b : blocks)
    mine.insert(b.offset);
  std::uint32_t reused = 0;
  std::thread([&] {
    for (std::uint32_t i = 0; i < kCacheBatch; ++i) {
      auto b = a->allocate(48);
      ASSERT_TRUE(b);
      reused += mine.count(b->offset) != 0 ? 1 : 0;
    }
  }).join();
  EXPECT_EQ(reused, 0u) << "the other thread's chunk serves first (bump region not exhausted)";
  // This thread takes its own cached blocks back: the newest first.
  for (std::uint32_t i = 0; i < 5; ++i) {
    auto b = a->allocate(48);
    ASSERT_TRUE(b);
    EXPECT_EQ(mine.count(b->offset), 1u) << i;
  }
  EXPECT_TRUE(a->check()) << a->check().message();
}

TEST_P(FreeCache, ThreadExitDrainsTheCacheToTheSharedStacks) {
  auto a = Arena::heap(cached(GetParam()));
  ASSERT_TRUE(a);
  std::vector<Block> blocks;
  std::thread([&] {
    for (int i = 0; i < 20; ++i)
      blocks.push_back(*a->allocate(32 + 8 * (i % 5))); // min_segment 32: all cacheable
    for (const Block &b : blocks)
      ASSERT_TRUE(a->deallocate(b.offset, b.size));
  }).join();
  auto rep = a->check();
  ASSERT_TRUE(rep) << rep.message();
  EXPECT_EQ(rep->free_segments, 20u);
  EXPECT_EQ(rep->chunk_reserved, 0u);
  EXPECT_EQ(rep->cache_reserved, kProvisioned) << "the slots keep their blocks for reuse";
  // Every class of the slot's cache block is empty: the nodes are on the shared stacks.
  std::uint64_t block = 0;
  std::memcpy(&block, a->base() + lfarena::detail::kChunkTableOffset + lfarena::detail::kSlotCache,
              8);
  ASSERT_NE(block, 0u) << "slot 0 (the first claimed) keeps its cache block";
  block = lfarena::detail::cache_word_block(block);
  for (std::uint32_t c = 0; c < lfarena::detail::kCacheClasses; ++c) {
    std::uint64_t head;
    std::memcpy(&head, a->base() + block + 8 * c, 8);
    EXPECT_EQ(head, 0u) << "class " << c;
  }
}

TEST_P(FreeCache, CrossThreadFreesLandInTheFreeingThreadsCache) {
  auto a = Arena::heap(cached(GetParam()));
  ASSERT_TRUE(a);
  std::vector<Block> blocks;
  for (int i = 0; i < 10; ++i)
    blocks.push_back(*a->allocate(32));
  std::set<std::uint32_t> theirs;
  for (const Block &b : blocks)
    theirs.insert(b.offset);
  std::uint32_t back = 0;
  std::thread([&] {
    for (const Block &b : blocks)
      ASSERT_TRUE(a->deallocate(b.offset, b.size));
    auto rep = a->check();
    ASSERT_TRUE(rep) << rep.message();
    EXPECT_EQ(rep->cache_reserved, kProvisioned) << "the freeing thread's slot was provisioned";
    for (int i = 0; i < 10; ++i) {
      auto b = a->allocate(32);
      ASSERT_TRUE(b);
      back += theirs.count(b->offset) != 0 ? 1 : 0;
    }
  }).join();
  EXPECT_EQ(back, 10u);
  EXPECT_TRUE(a->check());
}

// A cached block holds no node in the array layout: the user's write into it after the free
// changes nothing of the allocator's (the block is handed out again as it is).
TEST_P(FreeCache, AWriteIntoACachedBlockChangesNothing) {
  auto a = Arena::heap(cached(GetParam()));
  ASSERT_TRUE(a);
  auto x = a->allocate(40);
  auto y = a->allocate(40);
  ASSERT_TRUE(x && y);
  ASSERT_TRUE(a->deallocate(y->offset, y->size));
  ASSERT_TRUE(a->deallocate(x->offset, x->size)); // x newest
  auto live = a->allocate(200);
  ASSERT_TRUE(live);
  scribble64(*a, x->offset, read64(*a, x->offset) ^ y->offset ^ live->offset);
  scribble64(*a, x->offset + 8, 0);
  scribble64(*a, y->offset, ~std::uint64_t{0});
  auto first = a->allocate(40);
  auto second = a->allocate(40);
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->offset, x->offset);
  EXPECT_EQ(second->offset, y->offset);
  EXPECT_TRUE(a->check()) << a->check().message();
}

// Arena::deallocate sends a size to the inline cache free when its block is at least
// min_segment (sizes from min_segment - 7 on) and the arena is unchecked; everything else goes
// to the slow path. Every size around that bound, freed with the block's size and with the
// size asked for (allocate_exact), leaves a consistent arena, and a block of min_segment or
// more comes back to the next allocation of its size.
TEST_P(FreeCache, EverySizeAroundMinSegmentFreesAndComesBack) {
  for (const std::uint32_t min_segment : {16u, 32u, 48u}) {
    Options o = cached(GetParam());
    o.min_segment = min_segment;
    auto a = Arena::heap(o);
    ASSERT_TRUE(a) << a.message();
    for (std::uint32_t size = 1; size <= min_segment + 16; ++size) {
      auto b = a->allocate(size);
      auto e = a->allocate_exact(size);
      ASSERT_TRUE(b && e) << size;
      ASSERT_TRUE(a->deallocate(b->offset, b->size))
          << "min_segment " << min_segment << " size " << size;
      auto s = a->deallocate(e->offset, size);
      ASSERT_TRUE(s) << "min_segment " << min_segment << " size " << size << ": " << s.message();
      auto again = a->allocate_exact(size);
      ASSERT_TRUE(again) << size;
      if ((size + 7) / 8 * 8 >= min_segment) { // smaller blocks (thread chunks) are discarded
        EXPECT_EQ(again->offset, e->offset) << "min_segment " << min_segment << " size " << size;
      }
      ASSERT_TRUE(a->deallocate(again->offset, size));
    }
    auto rep = a->check();
    ASSERT_TRUE(rep) << "min_segment " << min_segment << ": " << rep.message();
    EXPECT_EQ(rep->live_bytes, 0u);
  }
}

// Damage to the cache block itself (a user's overflow into it, a damaged file): an entry naming
// a live block fails its check and is reported, never handed out.
TEST_P(FreeCache, AnEntryNamingALiveBlockIsReportedNotFollowed) {
  auto a = Arena::heap(cached(GetParam()));
  ASSERT_TRUE(a);
  auto x = a->allocate(40);
  auto y = a->allocate(40);
  ASSERT_TRUE(x && y);
  ASSERT_TRUE(a->deallocate(y->offset, y->size));
  ASSERT_TRUE(a->deallocate(x->offset, x->size)); // entries: y, x
  auto live = a->allocate(200);
  ASSERT_TRUE(live);
  const std::uint32_t block = lfarena::detail::tl_chunk.chunk.cache_at;
  ASSERT_NE(block, 0u);
  const std::uint32_t at = entry_word(block, 40, 1);
  ASSERT_EQ(static_cast<std::uint32_t>(read64(*a, at)), x->offset);
  scribble64(*a, at, read64(*a, at) ^ x->offset ^ live->offset); // x's check, live's offset
  auto r = a->allocate(40);
  ASSERT_FALSE(r) << "handed out " << r->offset;
  EXPECT_EQ(r.code(), errc::corrupt_freelist) << r.message();
  EXPECT_NE(r.message().find(std::to_string(live->offset)), std::string::npos) << r.message();
  auto rep = a->check();
  ASSERT_FALSE(rep);
  EXPECT_EQ(rep.code(), errc::corrupt_freelist);
  EXPECT_NE(rep.message().find("free cache"), std::string::npos) << rep.message();
  EXPECT_TRUE(a->allocate(16)) << "other sizes still work";
}

// A zeroed entry (or head word beyond the class's limit) is reported, never followed; a free of
// the same size after it is cached above it and served first.
TEST_P(FreeCache, AZeroedEntryIsReported) {
  auto a = Arena::heap(cached(GetParam()));
  ASSERT_TRUE(a);
  auto x = a->allocate(64);
  ASSERT_TRUE(x);
  ASSERT_TRUE(a->deallocate(x->offset, x->size));
  const std::uint32_t block = lfarena::detail::tl_chunk.chunk.cache_at;
  scribble64(*a, entry_word(block, 64, 0), 0);
  auto r = a->allocate(64);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.code(), errc::corrupt_freelist) << r.message();
  EXPECT_FALSE(a->check());
  scribble64(*a, block + 64, 65); // count 65 > the class's 64
  auto over = a->allocate(64);
  ASSERT_FALSE(over);
  EXPECT_EQ(over.code(), errc::corrupt_freelist) << over.message();
  auto f = a->deallocate(x->offset, x->size);
  EXPECT_FALSE(f) << "a push over a damaged head spills, meets the damage and reports it";
}

// helper-45: a pop lowered the count but left its entry in the array, still checking valid; a
// damaged count within the class's limit (an 8-byte overflow of the block before the cache
// block writes word 0, the 256-byte class's count) then handed out those blocks again while
// they were live, and check() passed. A popped entry is cleared now: a count over it reports.
TEST_P(FreeCache, AStaleEntryUnderADamagedCountIsNeverHandedOut) {
  auto a = Arena::heap(cached(GetParam()));
  ASSERT_TRUE(a);
  for (const std::uint32_t size : {64u, 256u}) {
    std::vector<Block> live;
    for (int i = 0; i < 10; ++i)
      live.push_back(*a->allocate(size));
    for (const Block &b : live)
      ASSERT_TRUE(a->deallocate(b.offset, b.size));
    std::set<std::uint32_t> offsets;
    for (Block &b : live) {
      b = *a->allocate(size);
      offsets.insert(b.offset);
    }
    const std::uint32_t block = lfarena::detail::tl_chunk.chunk.cache_at;
    scribble64(*a, block + lfarena::detail::cache_head_at(size), 8); // count 8, class empty
    auto r = a->allocate(size);
    if (r)
      EXPECT_EQ(offsets.count(r->offset), 0u) << size << " B: handed out live block " << r->offset;
    else
      EXPECT_EQ(r.code(), errc::corrupt_freelist) << r.message();
    EXPECT_FALSE(a->check()) << size << " B: the damaged count passed check()";
    scribble64(*a, block + lfarena::detail::cache_head_at(size), 0); // repaired, for the next
  }
}

// helper-45: every slot that ever had a cacheable thread kept a cache block of about 8-10 KiB
// for good, so 64 threads held half of a 1 MiB arena. Blocks in all now stay within
// cache_blocks_cap() (a thirty-second of the capacity); a thread arriving past it has no cache
// and uses the shared stacks.
TEST_P(FreeCache, CacheBlocksTakeAtMostAThirtySecondOfTheArena) {
  auto a = Arena::heap(cached(GetParam()));
  ASSERT_TRUE(a);
  constexpr int kThreads = 24;
  std::atomic<int> arrived{0}, done{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&] {
      auto b = a->allocate(64);
      ASSERT_TRUE(b);
      ASSERT_TRUE(a->deallocate(b->offset, b->size)); // attaches a cache if it can
      arrived.fetch_add(1);
      while (!go.load()) // every thread holds its slot until all have attached
        std::this_thread::yield();
      done.fetch_add(1);
    });
  while (arrived.load() < kThreads)
    std::this_thread::yield();
  auto rep = a->check();
  go.store(true);
  for (auto &t : threads)
    t.join();
  ASSERT_TRUE(rep) << rep.message();
  EXPECT_LE(rep->cache_reserved, (1u << 20) / 32 + kBlockBytes) << "one race may pass the cap";
  EXPECT_GE(rep->cache_reserved, 2u * kBlockBytes) << "the first thread still provisions ahead";
  auto after = a->check();
  ASSERT_TRUE(after) << after.message();
}

// helper-46: an entry is keyed by its place too. A valid entry copied over another one (a stray
// copy inside the cache block, a damaged file) handed the same block out twice, in checked mode
// too, since a pop never reads the block.
TEST_P(FreeCache, AnEntryCopiedToAnotherPlaceIsReportedNotHandedOutTwice) {
  auto a = Arena::heap(cached(GetParam()));
  ASSERT_TRUE(a);
  std::vector<Block> blocks;
  for (int i = 0; i < 10; ++i)
    blocks.push_back(*a->allocate(64));
  for (const Block &b : blocks)
    ASSERT_TRUE(a->deallocate(b.offset, b.size));
  const std::uint32_t block = lfarena::detail::tl_chunk.chunk.cache_at;
  scribble64(*a, entry_word(block, 64, 7), read64(*a, entry_word(block, 64, 3)));
  std::set<std::uint32_t> got;
  unsigned reported = 0;
  for (int i = 0; i < 10; ++i) {
    auto r = a->allocate(64);
    if (!r) {
      EXPECT_EQ(r.code(), errc::corrupt_freelist) << r.message();
      ++reported;
      break;
    }
    EXPECT_TRUE(got.insert(r->offset).second) << "block " << r->offset << " handed out twice";
  }
  EXPECT_EQ(reported, 1u) << "the copy is found before it is used";
}

// helper-47: a spill moves the entries it keeps down; one that failed at its place moved as it
// was, and a copy of the entry that many places below checked at its new place: the block was
// handed out twice (the original from the shared stack, the copy from the cache).
TEST_P(FreeCache, ADamagedEntryMovedByASpillStaysDamaged) {
  auto a = Arena::heap(cached(GetParam()));
  ASSERT_TRUE(a);
  std::vector<Block> blocks;
  for (int i = 0; i < 65; ++i)
    blocks.push_back(*a->allocate(64));
  for (int i = 0; i < 64; ++i) // a full class of 64: the next free spills the oldest 32
    ASSERT_TRUE(a->deallocate(blocks[i].offset, blocks[i].size));
  const std::uint32_t block = lfarena::detail::tl_chunk.chunk.cache_at;
  scribble64(*a, entry_word(block, 64, 35), read64(*a, entry_word(block, 64, 3)));
  (void)a->deallocate(blocks[64].offset, blocks[64].size);
  // Until the arena is exhausted (the shared stack, where the original went, serves only then)
  // or the damage is reported.
  std::set<std::uint32_t> got;
  unsigned twice = 0, reported = 0;
  for (int i = 0; i < 20000; ++i) {
    auto r = a->allocate(64);
    if (!r) {
      ASSERT_TRUE(r.code() == errc::corrupt_freelist || r.code() == errc::out_of_memory)
          << r.message();
      reported += r.code() == errc::corrupt_freelist ? 1 : 0;
      break;
    }
    twice += got.insert(r->offset).second ? 0 : 1;
  }
  EXPECT_EQ(twice, 0u) << "blocks handed out twice";
  EXPECT_EQ(reported, 1u) << "the copy is found";
}

// helper-46: a crash between a pop's count and the clearing of its entry leaves a valid entry
// above the count; a drain (here: the close) now clears every entry above what stays, so a
// count raised by damage later finds none.
TEST_P(FreeCache, ADrainClearsAnEntryACrashLeftAboveTheCount) {
  const std::string path = temp_path(GetParam() ? "stale_checked" : "stale");
  ::unlink(path.c_str());
  std::uint32_t block = 0, third = 0;
  {
    auto a = Arena::open_file(path, cached(GetParam()));
    ASSERT_TRUE(a) << a.message();
    std::vector<Block> blocks;
    for (int i = 0; i < 3; ++i)
      blocks.push_back(*a->allocate(64));
    for (const Block &b : blocks)
      ASSERT_TRUE(a->deallocate(b.offset, b.size));
    block = lfarena::detail::tl_chunk.chunk.cache_at;
    third = blocks[2].offset;
    scribble64(*a, block + 64, 2); // the pop of the third stored its count, then "crashed"
  }
  auto a = Arena::open_file(path, cached(GetParam()));
  ASSERT_TRUE(a) << a.message();
  ASSERT_TRUE(a->allocate(16)); // this thread takes slot 0 again, and its cache block
  ASSERT_EQ(lfarena::detail::tl_chunk.chunk.cache_at, block);
  scribble64(*a, block + 64, 3); // damage raises the count over the stale entry
  auto r = a->allocate(64);
  if (r)
    EXPECT_NE(r->offset, third) << "the stale entry was followed";
  else
    EXPECT_EQ(r.code(), errc::corrupt_freelist) << r.message();
  EXPECT_FALSE(r) << "a count over cleared entries is damage";
  a = Arena{};
  ::unlink(path.c_str());
}

// helper-46: threads provisioning at once all passed the cap (28 blocks where 3 fit, on a fresh
// file mapping whose page faults widen the window). This opener's provisioning in flight now
// counts against it too: the cap is exact within one opener.
TEST_P(FreeCache, ThreadsProvisioningAtOnceStayWithinTheCap) {
  const std::string path = temp_path(GetParam() ? "cap_checked" : "cap");
  constexpr int kThreads = 32;
  for (int trial = 0; trial < 6; ++trial) {
    ::unlink(path.c_str());
    auto a = Arena::open_file(path, cached(GetParam()));
    ASSERT_TRUE(a) << a.message();
    std::atomic<int> ready{0}, arrived{0};
    std::atomic<bool> go{false}, done{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
      threads.emplace_back([&] {
        ready.fetch_add(1);
        while (!go.load())
          std::this_thread::yield();
        auto b = a->allocate(64);
        ASSERT_TRUE(b);
        ASSERT_TRUE(a->deallocate(b->offset, b->size));
        arrived.fetch_add(1);
        while (!done.load()) // every thread holds its slot until all have attached
          std::this_thread::yield();
      });
    while (ready.load() < kThreads)
      std::this_thread::yield();
    go.store(true);
    while (arrived.load() < kThreads)
      std::this_thread::yield();
    auto rep = a->check();
    done.store(true);
    for (auto &t : threads)
      t.join();
    ASSERT_TRUE(rep) << rep.message();
    ASSERT_LE(rep->cache_reserved, (1u << 20) / 32) << "trial " << trial;
    a = Arena{};
  }
  ::unlink(path.c_str());
}

TEST(FreeCacheUnchecked, DoubleFreeOfTheTopIsCaught) {
  auto a = Arena::heap(cached(false));
  ASSERT_TRUE(a);
  auto x = a->allocate(64);
  ASSERT_TRUE(x);
  ASSERT_TRUE(a->deallocate(x->offset, x->size));
  auto again = a->deallocate(x->offset, x->size);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.code(), errc::double_free);
}

// The push's double-free test compares the newest entry's offset half first and its keyed
// check only when that names the freed block: an entry naming it with a damaged check is no
// double free (the block goes above it) and is reported when a pop reaches it, as before.
TEST(FreeCacheUnchecked, AnEntryNamingTheFreedBlockWithADamagedCheckIsNoDoubleFree) {
  auto a = Arena::heap(cached(false));
  ASSERT_TRUE(a);
  auto x = a->allocate(64);
  ASSERT_TRUE(x);
  ASSERT_TRUE(a->deallocate(x->offset, x->size)); // entry 0: x
  const std::uint32_t block = lfarena::detail::tl_chunk.chunk.cache_at;
  ASSERT_NE(block, 0u);
  const std::uint32_t at = entry_word(block, 64, 0);
  ASSERT_EQ(static_cast<std::uint32_t>(read64(*a, at)), x->offset);
  scribble64(*a, at, read64(*a, at) ^ std::uint64_t{1} << 40); // x's offset, a wrong check
  ASSERT_TRUE(a->deallocate(x->offset, x->size)) << "not the entry a push of x writes";
  auto again = a->allocate(64);
  ASSERT_TRUE(again) << again.message();
  EXPECT_EQ(again->offset, x->offset) << "the newest entry first";
  auto damaged = a->allocate(64);
  ASSERT_FALSE(damaged) << "handed out " << damaged->offset;
  EXPECT_EQ(damaged.code(), errc::corrupt_freelist) << damaged.message();
}

TEST(FreeCacheChecked, DoubleFreeIsCaughtByTheBitmaps) {
  auto a = Arena::heap(cached(true));
  ASSERT_TRUE(a);
  auto x = a->allocate(64);
  auto y = a->allocate(64);
  ASSERT_TRUE(x && y);
  ASSERT_TRUE(a->deallocate(x->offset, x->size));
  ASSERT_TRUE(a->deallocate(y->offset, y->size));
  auto again = a->deallocate(x->offset, x->size);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.code(), errc::double_free);
  EXPECT_TRUE(a->check());
}

TEST_P(FreeCache, CloseDrainsAndReopenKeepsEveryFreeByte) {
  const std::string path = temp_path(GetParam() ? "close_checked" : "close");
  ::unlink(path.c_str());
  Options o = cached(GetParam());
  std::uint64_t free_before = 0;
  {
    auto a = Arena::open_file(path, o);
    ASSERT_TRUE(a) << a.message();
    std::vector<Block> blocks;
    for (int i = 0; i < 50; ++i)
      blocks.push_back(*a->allocate(16 + 8 * (i % 20)));
    for (std::size_t i = 0; i < blocks.size(); i += 2)
      ASSERT_TRUE(a->deallocate(blocks[i].offset, blocks[i].size));
    auto rep = a->check();
    ASSERT_TRUE(rep) << rep.message();
    free_before = rep->free_bytes;
    EXPECT_GT(free_before, 0u);
  }
  auto a = Arena::open_file(path, o);
  ASSERT_TRUE(a) << a.message();
  EXPECT_FALSE(a->recovery().ran) << "a clean close";
  auto rep = a->check();
  ASSERT_TRUE(rep) << rep.message();
  EXPECT_EQ(rep->free_bytes, free_before) << "drained to the stacks at close, none lost";
  EXPECT_EQ(rep->chunk_reserved, 0u);
  ::unlink(path.c_str());
}

TEST(FreeCacheFormat, NewSegregatedFilesCarryTheFeatureAndOtherKindsDoNot) {
  for (const FreelistKind k : {FreelistKind::none, FreelistKind::optimistic,
                               FreelistKind::pessimistic, FreelistKind::segregated}) {
    Options o = cached(false);
    o.freelist = k;
    auto a = Arena::heap(o);
    ASSERT_TRUE(a);
    std::uint32_t flags;
    std::memcpy(&flags, a->base() + lfarena::detail::hdr::feature_flags, 4);
    EXPECT_EQ((flags & lfarena::detail::kFeatureThreadCache) != 0, k == FreelistKind::segregated)
        << lfarena::to_string(k);
  }
}

// Writes 8 bytes at `at` of a closed arena file.
void poke(const std::string &path, std::uint32_t at, std::uint64_t v) {
  const int fd = ::open(path.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::pwrite(fd, &v, 8, at), 8);
  ::close(fd);
}
std::uint64_t peek(const std::string &path, std::uint32_t at) {
  std::uint64_t v = 0;
  const int fd = ::open(path.c_str(), O_RDONLY);
  EXPECT_EQ(::pread(fd, &v, 8, at), 8);
  ::close(fd);
  return v;
}
constexpr std::uint32_t kSlot1Cache =
    lfarena::detail::kChunkTableOffset + lfarena::detail::kChunkSlotBytes + 24;

// Outside attack (helper-10, problem 1): a slot's word 3 naming a user's live block (checked
// mode: not a live block of 256 bytes) or a free segment (both modes: an overlap) was accepted
// by open, and the slot's next owner wrote cache heads into those bytes. Now open refuses it
// and salvage forgets it without writing into the block.
TEST_P(FreeCache, ASlotNamingOtherBytesAsItsCacheIsRefusedAndSalvagedUntouched) {
  const std::string path = temp_path(GetParam() ? "word3_checked" : "word3");
  ::unlink(path.c_str());
  Options o = cached(GetParam());
  std::uint32_t user = 0, freed = 0;
  {
    auto a = Arena::open_file(path, o);
    ASSERT_TRUE(a) << a.message();
    // A user's live block (above the chunk path), larger than a cache block: not one live block
    // of that size.
    auto u = a->allocate(kBlockBytes + 1024, 64);
    auto f = a->allocate(kBlockBytes + 1024, 64);
    auto keep = a->allocate(kBlockBytes + 1024, 64);
    ASSERT_TRUE(u && f && keep);
    std::memset(a->base() + u->offset, 0, u->size); // zeros: plausible empty cache heads
    a->base()[u->offset + 1000] = std::byte{0x5a};
    ASSERT_TRUE(a->deallocate(f->offset, f->size));
    user = u->offset;
    freed = f->offset;
  }
  for (const std::uint32_t target : {user, freed}) {
    if (target == user && !GetParam())
      continue; // unchecked: zeros in a live block cannot be told from an empty cache block
    poke(path, kSlot1Cache, lfarena::detail::cache_word(target, kBlockBytes));
    auto a = Arena::open_file(path, o);
    ASSERT_FALSE(a) << "word 3 -> " << target << " accepted";
    auto rep = Arena::salvage_file(path);
    ASSERT_TRUE(rep) << rep.message();
    EXPECT_EQ(peek(path, kSlot1Cache), 0u) << "salvage forgets the slot's block";
    auto b = Arena::open_file(path, o);
    ASSERT_TRUE(b) << b.message();
    EXPECT_EQ(static_cast<int>(b->base()[user + 1000]), 0x5a) << "the user's byte is untouched";
    EXPECT_TRUE(b->check()) << b->check().message();
  }
  ::unlink(path.c_str());
}

// Outside attack (helper-10, problem 3): two slots naming one cache block could not be
// repaired (no slot was blamed). Now the second slot is the culprit and salvage clears it.
TEST_P(FreeCache, TwoSlotsNamingOneCacheBlockAreRepaired) {
  const std::string path = temp_path(GetParam() ? "dup_checked" : "dup");
  ::unlink(path.c_str());
  Options o = cached(GetParam());
  {
    auto a = Arena::open_file(path, o);
    ASSERT_TRUE(a);
    auto x = a->allocate(64);
    ASSERT_TRUE(x);
    ASSERT_TRUE(a->deallocate(x->offset, x->size));
  }
  const std::uint64_t block = peek(path, lfarena::detail::kChunkTableOffset + 24);
  ASSERT_NE(block, 0u);
  poke(path, kSlot1Cache, block);
  EXPECT_FALSE(Arena::open_file(path, o));
  auto rep = Arena::salvage_file(path);
  ASSERT_TRUE(rep) << rep.message();
  auto b = Arena::open_file(path, o);
  ASSERT_TRUE(b) << b.message();
  EXPECT_TRUE(b->check()) << b->check().message();
  ::unlink(path.c_str());
}

// Outside attack (helper-10, problem 5): a damaged node in a cache at thread exit made the
// drain drop the whole class silently (unchecked: check() then passed; checked: accounting
// failed for ever). Now the nodes before the damage move to the stack and the damaged rest
// stays in the slot's cache, where check() reports it.
TEST_P(FreeCache, DamageMetByADrainStaysReported) {
  auto a = Arena::heap(cached(GetParam()));
  ASSERT_TRUE(a);
  std::vector<Block> blocks;
  std::thread([&] {
    for (int i = 0; i < 10; ++i)
      blocks.push_back(*a->allocate(32));
    for (const Block &b : blocks)
      ASSERT_TRUE(a->deallocate(b.offset, b.size));
    const std::uint32_t at = entry_word(lfarena::detail::tl_chunk.chunk.cache_at, 32, 4);
    scribble64(*a, at, read64(*a, at) ^ (std::uint64_t{1} << 40)); // its check, mid-array
  }).join();
  auto rep = a->check();
  ASSERT_FALSE(rep) << "damage dropped silently";
  EXPECT_EQ(rep.code(), errc::corrupt_freelist) << rep.message();
  EXPECT_NE(rep.message().find(std::to_string(blocks[4].offset)), std::string::npos)
      << rep.message();
}

// Second outside attack (helper-11, N1): with min_segment above 256 a cache block taken from the
// freelist came with a remainder of up to min_segment - 8 bytes, and open refused the block as
// implausible: a file made by normal operations did not reopen. Now no cache is set up when no
// class can hold a block, and a block may be up to 256 + min_segment - 8 bytes.
TEST_P(FreeCache, ALargeMinSegmentFileReopens) {
  const std::string path = temp_path(GetParam() ? "minseg_checked" : "minseg");
  ::unlink(path.c_str());
  for (const std::uint32_t min_segment : {128u, 512u}) {
    Options o = cached(GetParam(), 1024);
    o.capacity = 64 << 10;
    o.min_segment = min_segment;
    {
      auto a = Arena::open_file(path, o);
      ASSERT_TRUE(a) << a.message();
      std::vector<Block> blocks;
      for (Block b = a->try_allocate(704, 64); b.offset != 0; b = a->try_allocate(704, 64))
        blocks.push_back(b); // no chunk: 704 > 1024 / 4
      ASSERT_GT(blocks.size(), 2u);
      ASSERT_TRUE(a->deallocate(blocks[1].offset, blocks[1].size));
      std::thread([&] {
        auto b = a->allocate(48); // claims a slot: its cache block comes from the freelist
        ASSERT_TRUE(b) << b.message();
        ASSERT_TRUE(a->deallocate(b->offset, b->size));
      }).join();
      EXPECT_TRUE(a->check()) << a->check().message();
    }
    auto a = Arena::open_file(path, o);
    ASSERT_TRUE(a) << "min_segment " << min_segment << ": " << a.message();
    EXPECT_TRUE(a->check()) << a->check().message();
    a = Arena{};
    ::unlink(path.c_str());
  }
}

// Helper-11, N2: salvage wrote into a live user block named by a damaged word 3 whose words
// look like cache heads ({offset, count <= 64} records) although no chain validated. Now a
// block where every non-empty class fails at its first node is forgotten untouched.
TEST_P(FreeCache, SalvageLeavesABlockOfHeadLikeRecordsUntouched) {
  const std::string path = temp_path(GetParam() ? "records_checked" : "records");
  ::unlink(path.c_str());
  Options o = cached(GetParam());
  std::uint32_t user = 0;
  std::vector<std::uint64_t> before;
  {
    auto a = Arena::open_file(path, o);
    ASSERT_TRUE(a);
    auto u = a->allocate(kBlockBytes, 64); // a user's table of {offset, count} records
    auto other = a->allocate(2048, 64);
    ASSERT_TRUE(u && other);
    for (std::uint32_t c = 0; c < lfarena::detail::kCacheClasses; ++c) {
      const std::uint64_t rec = c == 0 ? 0 : lfarena::detail::cache_head(other->offset + 64 * c, 1);
      std::memcpy(a->base() + u->offset + 8 * c, &rec, 8);
      before.push_back(rec);
    }
    user = u->offset;
  }
  poke(path, kSlot1Cache, lfarena::detail::cache_word(user, kBlockBytes));
  EXPECT_FALSE(Arena::open_file(path, o));
  auto rep = Arena::salvage_file(path);
  ASSERT_TRUE(rep) << rep.message();
  EXPECT_EQ(peek(path, kSlot1Cache), 0u) << "the word is forgotten";
  for (std::uint32_t c = 0; c < lfarena::detail::kCacheClasses; ++c)
    EXPECT_EQ(peek(path, user + 8 * c), before[c]) << "record " << c << " rewritten";
  auto b = Arena::open_file(path, o);
  ASSERT_TRUE(b) << b.message();
  EXPECT_TRUE(b->check()) << b->check().message();
  ::unlink(path.c_str());
}

// Helper-11, N4: in a crashed unchecked file, a damaged word 3 naming a block that starts below
// a live owner's chunk tail and overlaps it made salvage clear the tail's slot (the later range
// was blamed) and keep the bad word. Now the cache word is blamed.
TEST(FreeCacheUnchecked, AnOverlapOfATailAndACacheBlockBlamesTheCacheWord) {
  const std::string path = temp_path("overlap"), copy = temp_path("overlap_copy");
  ::unlink(path.c_str());
  ::unlink(copy.c_str());
  {
    auto a = Arena::open_file(path, cached(false));
    ASSERT_TRUE(a);
    ASSERT_TRUE(a->allocate(64));           // slot 0: a chunk (with a tail) and a cache block
    std::filesystem::copy_file(path, copy); // the image of a crashed opener
  }
  const std::uint32_t slot0 = lfarena::detail::kChunkTableOffset;
  const std::uint64_t cursor_end = peek(copy, slot0 + 8), cache0 = peek(copy, slot0 + 24);
  const auto cursor = static_cast<std::uint32_t>(cursor_end);
  ASSERT_GT(cursor_end >> 32, cursor) << "slot 0 holds a tail";
  // Starts below the tail, overlaps its start.
  const std::uint32_t bad = (cursor & ~63u) + 64 - kBlockBytes;
  const std::uint32_t slot2_cache = slot0 + 2 * lfarena::detail::kChunkSlotBytes + 24;
  poke(copy, slot2_cache, lfarena::detail::cache_word(bad, kBlockBytes));
  auto rep = Arena::salvage_file(copy);
  ASSERT_TRUE(rep) << rep.message();
  EXPECT_EQ(peek(copy, slot2_cache), 0u) << "the bad cache word is forgotten";
  EXPECT_EQ(peek(copy, slot0 + 24), cache0) << "slot 0 keeps its genuine cache block";
  auto b = Arena::open_file(copy, cached(false));
  ASSERT_TRUE(b) << b.message();
  EXPECT_TRUE(b->check()) << b->check().message();
  ::unlink(path.c_str());
  ::unlink(copy.c_str());
}

// The churn benchmark's 2-thread mixed run failed allocations while blocks sat in caches. Before
// an allocation fails, the thread's own cache goes back to the shared stacks and the request is
// tried again there (here: a 96-byte request served by a cached 128-byte block, split).
TEST_P(FreeCache, AnExhaustedArenaFallsBackOnTheThreadsOwnCache) {
  Options o = cached(GetParam(), 1024);
  o.capacity = 64 << 10;
  auto a = Arena::heap(o);
  ASSERT_TRUE(a);
  std::vector<Block> blocks;
  for (Block b = a->try_allocate(128); b.offset != 0; b = a->try_allocate(128))
    blocks.push_back(b);
  while (a->try_allocate(8).offset != 0) { // the last bytes of the bump region and chunk
  }
  for (int i = 0; i < 4; ++i)
    ASSERT_TRUE(a->deallocate(blocks[2 * i].offset, blocks[2 * i].size)); // cached
  auto r = a->allocate(96);
  ASSERT_TRUE(r) << r.message();
  EXPECT_TRUE(a->check()) << a->check().message();
}

// A thread whose cache class and chunk are empty takes its next block of that size from the
// shared stack together with half its cache limit more (Core::cache_refill): another thread
// then finds that many fewer on the stack. (Before, every such allocation was a slow-path call
// popping one node: a producer whose blocks another thread frees paid it for every block.)
TEST_P(FreeCache, AnEmptyCacheRefillsFromTheSharedStack) {
  auto a = Arena::heap(cached(GetParam()));
  ASSERT_TRUE(a);
  std::vector<Block> blocks;
  std::thread fill([&] { // its last allocation fails: its own refills would restart from one
    for (Block b = a->try_allocate(64); b.offset != 0; b = a->try_allocate(64))
      blocks.push_back(b);
  });
  fill.join();
  ASSERT_GT(blocks.size(), 200u);
  std::thread give([&] { // 96 frees, then the exit's drain: all 96 on the shared stack
    for (int i = 0; i < 96; ++i)
      ASSERT_TRUE(a->deallocate(blocks[i].offset, blocks[i].size));
  });
  give.join();
  auto first = a->allocate(64); // this thread's cache class and chunk are empty: a refill
  ASSERT_TRUE(first) << first.message();
  unsigned taken = 0;
  std::thread([&] { // another thread takes what is left on the stack, then fails
    while (a->try_allocate(64).offset != 0)
      ++taken;
  })
      .join();
  EXPECT_EQ(taken, 96u - kCacheLimit / 2) << "the refill moved half the cache limit";
  for (unsigned i = 1; i < kCacheLimit / 2; ++i) // the rest of the refill: this thread's cache
    ASSERT_NE(a->try_allocate(64).offset, 0u) << "cached block " << i;
  auto rep = a->check();
  ASSERT_TRUE(rep) << rep.message();
}

// A thread that first uses the arena once it is full (no 256 free contiguous bytes anywhere:
// every free segment is 64 bytes) still gets a cache: the first slot's attachment provisioned
// blocks for the next slots in claim order while there was room.
TEST_P(FreeCache, AThreadArrivingAtAFullArenaStillGetsACache) {
  auto a = Arena::heap(cached(GetParam()));
  ASSERT_TRUE(a);
  std::vector<Block> blocks;
  for (Block b = a->try_allocate(64); b.offset != 0; b = a->try_allocate(64))
    blocks.push_back(b);
  ASSERT_GT(blocks.size(), 1000u);
  for (std::size_t i = 0; i < blocks.size(); i += 2) // no two free blocks adjacent
    ASSERT_TRUE(a->deallocate(blocks[i].offset, blocks[i].size));
  std::uint32_t cache_at = 0, again = 0;
  std::thread([&] {
    ASSERT_TRUE(a->deallocate(blocks[1].offset, blocks[1].size));
    cache_at = lfarena::detail::tl_chunk.chunk.cache_at;
    auto b = a->allocate(64);
    ASSERT_TRUE(b);
    again = b->offset;
  }).join();
  EXPECT_NE(cache_at, 0u) << "the late thread's slot has a cache block";
  EXPECT_EQ(again, blocks[1].offset) << "its free came back from its own cache";
  auto rep = a->check();
  ASSERT_TRUE(rep) << rep.message();
  EXPECT_EQ(rep->cache_reserved % kBlockBytes, 0u);
}

// A cache block is the arena's own bookkeeping, not a block the user was given: in checked mode
// a free of it, whatever the size, is refused as not_block_start (found by ops_fuzz: the block
// was freeable with its size, handing the bytes out again while its slot still cached nodes in
// them). Unchecked mode makes no such promise (a free of a foreign offset is undefined).
TEST(FreeCacheChecked, TheCacheBlockIsNoBlockOfTheUser) {
  auto a = Arena::heap(cached(true));
  ASSERT_TRUE(a);
  auto b = a->allocate(64);
  ASSERT_TRUE(b);
  const std::uint32_t cache_at = lfarena::detail::tl_chunk.chunk.cache_at;
  ASSERT_NE(cache_at, 0u);
  for (std::uint32_t size : {kBlockBytes, 8u, 65u, kCacheBlockBytes}) {
    auto r = a->deallocate(cache_at, size);
    ASSERT_FALSE(r) << "size " << size;
    EXPECT_EQ(r.code(), errc::not_block_start) << r.message();
    EXPECT_NE(r.message().find("cache block"), std::string::npos) << r.message();
  }
  ASSERT_TRUE(a->deallocate(b->offset, b->size));
  auto again = a->allocate(64);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->offset, b->offset) << "the cache still serves its thread";
  auto rep = a->check();
  ASSERT_TRUE(rep) << rep.message();
}

// A thread's first call may provision cache blocks at the bump offset; a bad free there on that
// same call still names the cache block (helper-17: it said wrong_size, as for a user block).
TEST(FreeCacheChecked, AFirstCallsBadFreeNamesTheBlockItJustProvisioned) {
  auto a = Arena::heap(cached(true));
  ASSERT_TRUE(a);
  const auto top = static_cast<std::uint32_t>(a->stats().data_offset + a->stats().allocated);
  auto r = a->deallocate(top, 8);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.code(), errc::not_block_start) << r.message();
  EXPECT_NE(r.message().find("cache block"), std::string::npos) << r.message();
  auto rep = a->check();
  ASSERT_TRUE(rep) << rep.message();
}

// Files without thread caches never use slot word 3, and nothing validates it there: a stray
// value must not refuse the user's own free (helper-17 found it did).
TEST(FreeCacheChecked, WordThreeMeansNothingWithoutThreadCaches) {
  Options o;
  o.capacity = 1u << 20;
  o.freelist = FreelistKind::pessimistic;
  o.checked = true;
  auto a = Arena::heap(o);
  ASSERT_TRUE(a);
  auto b = a->allocate(256);
  ASSERT_TRUE(b);
  const lfarena::detail::RegionWords mem{a->base()};
  lfarena::detail::store_relaxed(
      mem.word(lfarena::detail::slot_owner_at(40) + lfarena::detail::kSlotCache),
      lfarena::detail::cache_word(b->offset, b->size));
  auto r = a->deallocate(b->offset, b->size);
  EXPECT_TRUE(r) << r.message();
}

INSTANTIATE_TEST_SUITE_P(Modes, FreeCache, ::testing::Bool(),
                         [](const auto &info) { return info.param ? "checked" : "unchecked"; });

} // namespace
