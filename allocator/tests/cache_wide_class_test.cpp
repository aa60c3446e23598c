// cache_wide_class_test.cpp -- the 256-byte class of the per-thread free caches
// (detail/free_cache.hpp, header feature kFeatureCache256): segregated files created since
// 2026-12-03 cache 256-byte blocks in word 0 of a cache block, older files (without the flag)
// keep sending them to the shared stacks, and everything that walks a cache (spill, drain,
// refill, salvage) treats the class like the others, although its shared stack (sizes 256..287)
// is not one size.
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <lfarena/arena.hpp>
#include <lfarena/detail/free_cache.hpp>
#include <lfarena/detail/header.hpp>

#include "arena_test_support.hpp"
#include "opener_wait.hpp"

namespace {

using lfarena::Arena;
using lfarena::Block;
using lfarena::errc;
using lfarena::FreelistKind;
using lfarena::Options;
namespace d = lfarena::detail;

Options cached(bool checked, std::uint32_t capacity = 1 << 20) {
  Options o;
  o.capacity = capacity;
  o.thread_chunk = 4096;
  o.checked = checked;
  o.freelist = FreelistKind::segregated;
  return o;
}

std::string temp_path(const char *name) {
  return "/tmp/lfarena_cache_wide_" + std::string(name) + "_" + std::to_string(::getpid());
}

// Allocates blocks of `size` until the arena is full.
std::vector<Block> fill(const Arena &a, std::uint32_t size) {
  std::vector<Block> all;
  for (;;) {
    auto b = a.allocate(size);
    if (!b)
      return all;
    all.push_back(*b);
  }
}

// Another thread's allocation of `size`: its block, or {0, 0} if it failed.
Block from_another_thread(const Arena &a, std::uint32_t size) {
  Block got{};
  std::thread t([&] {
    auto b = a.allocate(size);
    if (b)
      got = *b;
  });
  t.join();
  return got;
}

std::uint32_t feature_flags(const Arena &a) {
  return d::get_le32(reinterpret_cast<const unsigned char *>(a.base()) + d::hdr::feature_flags);
}

// Creates the arena file `path` and makes it look like one made before the 256-byte class:
// feature bit 2 cleared, the header checksum recomputed.
void make_old_file(const std::string &path, const Options &o) {
  ::unlink(path.c_str());
  ASSERT_TRUE(Arena::open_file(path, o));
  std::vector<unsigned char> bytes = lfarena_test::read_all(path);
  unsigned char *h = bytes.data();
  d::put_le32(h + d::hdr::feature_flags, d::get_le32(h + d::hdr::feature_flags) &
                                             ~(d::kFeatureCache256 | d::kFeatureCacheArray));
  const std::uint32_t version = d::get_le32(h + d::hdr::format_version);
  d::put_le64(h + d::hdr::checksum, d::header_checksum(h, version));
  lfarena_test::write_all(path, bytes);
}

class CacheWideClass : public ::testing::TestWithParam<bool> {};

TEST_P(CacheWideClass, NewSegregatedFilesCarryTheFlag) {
  for (const FreelistKind k : {FreelistKind::none, FreelistKind::optimistic,
                               FreelistKind::pessimistic, FreelistKind::segregated}) {
    Options o = cached(GetParam());
    o.freelist = k;
    auto a = Arena::heap(o);
    ASSERT_TRUE(a) << a.message();
    EXPECT_EQ((feature_flags(*a) & d::kFeatureCache256) != 0, k == FreelistKind::segregated)
        << lfarena::to_string(k);
  }
}

// A freed 256-byte block stays with its thread: in a full arena another thread cannot have it
// (its allocation fails), the freeing thread gets it back. check() counts it as free.
TEST_P(CacheWideClass, A256ByteBlockStaysInTheFreeingThreadsCache) {
  auto a = Arena::heap(cached(GetParam(), 256 << 10));
  ASSERT_TRUE(a) << a.message();
  std::vector<Block> all = fill(*a, 256);
  ASSERT_GT(all.size(), 100u);
  const Block x = all[50];
  ASSERT_TRUE(a->deallocate(x.offset, x.size));
  auto rep = a->check();
  ASSERT_TRUE(rep) << rep.message();
  EXPECT_EQ(rep->free_bytes, 256u);
  EXPECT_EQ(from_another_thread(*a, 256).offset, 0u) << "the block left the freeing thread";
  auto y = a->allocate(256);
  ASSERT_TRUE(y) << y.message();
  EXPECT_EQ(y->offset, x.offset) << "popped from the thread's own cache";
}

// One free more than the class's limit (4 blocks of 256 bytes in a 256 KiB arena) overflows it:
// half of it moves to the shared stack, where another thread finds it; the accounting stays
// exact.
TEST_P(CacheWideClass, AFull256ClassSpillsHalfToTheSharedStack) {
  auto a = Arena::heap(cached(GetParam(), 256 << 10));
  ASSERT_TRUE(a) << a.message();
  std::vector<Block> all = fill(*a, 256);
  ASSERT_GT(all.size(), 100u);
  const std::uint32_t limit = d::cache_limits(256 << 10).of(256);
  ASSERT_EQ(limit, 4u) << "capacity / 256 bytes per class";
  for (std::uint32_t i = 0; i <= limit; ++i)
    ASSERT_TRUE(a->deallocate(all[i].offset, all[i].size));
  auto rep = a->check();
  ASSERT_TRUE(rep) << rep.message();
  EXPECT_EQ(rep->free_bytes, 256u * (limit + 1));
  EXPECT_NE(from_another_thread(*a, 256).offset, 0u) << "the spilled half is on the stack";
  rep = a->check();
  ASSERT_TRUE(rep) << rep.message();
  EXPECT_EQ(rep->free_bytes, 256u * limit);
}

// The shared stack of 256 also holds 264..280-byte segments. A refill for 256 that finds one on
// top leaves it there (and the allocation takes it through the freelist); it popped and lost
// it before (the refill only ever met one size per class).
TEST_P(CacheWideClass, ARefillFindingA264ByteTopLeavesItOnTheStack) {
  auto a = Arena::heap(cached(GetParam(), 256 << 10));
  ASSERT_TRUE(a) << a.message();
  auto odd = a->allocate(264);
  ASSERT_TRUE(odd) << odd.message();
  std::vector<Block> all = fill(*a, 256);
  ASSERT_GT(all.size(), 100u);
  ASSERT_TRUE(a->deallocate(odd->offset, odd->size)); // 264: no cache class, the shared stack
  const Block got = from_another_thread(*a, 256);
  EXPECT_EQ(got.offset, odd->offset) << "the 264-byte segment served the request";
  auto rep = a->check();
  ASSERT_TRUE(rep) << rep.message();
  EXPECT_EQ(rep->free_bytes, 0u);
}

// A file without the flag (made before the class existed) keeps 256-byte blocks out of the
// caches: a freed one is on the shared stack for any thread at once.
TEST_P(CacheWideClass, AFileWithoutTheFlagSends256ByteBlocksToTheSharedStack) {
  const std::string path = temp_path(GetParam() ? "old_checked" : "old");
  const Options o = cached(GetParam(), 256 << 10);
  ASSERT_NO_FATAL_FAILURE(make_old_file(path, o));
  {
    auto a = Arena::open_file(path, o);
    ASSERT_TRUE(a) << a.message();
    std::vector<Block> all = fill(*a, 256);
    ASSERT_GT(all.size(), 100u);
    ASSERT_TRUE(a->deallocate(all[50].offset, all[50].size));
    EXPECT_EQ(from_another_thread(*a, 256).offset, all[50].offset) << "not cached";
    auto rep = a->check();
    ASSERT_TRUE(rep) << rep.message();
    EXPECT_EQ(rep->free_bytes, 0u);
  }
  auto again = Arena::open_file(path, o);
  ASSERT_TRUE(again) << again.message();
  EXPECT_EQ(feature_flags(*again) & d::kFeatureCache256, 0u) << "an old file stays old";
  ::unlink(path.c_str());
}

// Word 0 of the cache blocks of a file without the flag means nothing, as before the class
// existed: a stray value there (a user's overflow of the block before it) must not refuse a
// file the older build opens (helper-21 found this build refused it as a damaged class 0).
TEST_P(CacheWideClass, AFileWithoutTheFlagIgnoresWordZero) {
  const std::string path = temp_path(GetParam() ? "word0_checked" : "word0");
  const Options o = cached(GetParam(), 256 << 10);
  ASSERT_NO_FATAL_FAILURE(make_old_file(path, o));
  {
    auto a = Arena::open_file(path, o);
    ASSERT_TRUE(a) << a.message();
    auto b = a->allocate(64);
    ASSERT_TRUE(b && a->deallocate(b->offset, b->size)); // attaches this thread's cache
  }
  std::vector<unsigned char> bytes = lfarena_test::read_all(path);
  unsigned blocks = 0;
  for (std::uint32_t i = 0; i < d::kChunkSlots; ++i) {
    const std::uint32_t block =
        d::cache_word_block(d::get_le64(bytes.data() + d::slot_owner_at(i) + d::kSlotCache));
    if (block != 0) {
      d::put_le64(bytes.data() + block, 0x0000000100000040ull); // {offset 64, count 1}
      ++blocks;
    }
  }
  ASSERT_GT(blocks, 0u);
  lfarena_test::write_all(path, bytes);
  auto a = Arena::open_file(path, o);
  ASSERT_TRUE(a) << a.message();
  auto rep = a->check();
  EXPECT_TRUE(rep) << rep.message();
  ::unlink(path.c_str());
}

// A process that dies with 256-byte blocks in its cache: salvage moves them to their shared
// stack (the class of 256, not list 0, which is the cache word's index), and the file checks
// and serves them.
TEST_P(CacheWideClass, SalvageReturnsCached256ByteBlocksToTheirStack) {
  const std::string path = temp_path(GetParam() ? "salvage_checked" : "salvage");
  ::unlink(path.c_str());
  const Options o = cached(GetParam(), 256 << 10);
  ASSERT_TRUE(Arena::open_file(path, o));
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto a = Arena::open_file(path, o);
    if (!a)
      ::_exit(2);
    std::vector<Block> blocks;
    for (int i = 0; i < 20; ++i) {
      auto b = a->allocate(256);
      if (!b)
        ::_exit(3);
      blocks.push_back(*b);
    }
    for (int i = 0; i < 10; ++i)
      if (!a->deallocate(blocks[i].offset, blocks[i].size))
        ::_exit(4);
    ::_exit(0); // no close: the cache keeps its ten nodes
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  // salvage_file() refuses a file in use: the dead child's lock may outlive waitpid().
  ASSERT_TRUE(lfarena_test::wait_until_no_opener(path)) << std::strerror(errno);
  auto rep = Arena::salvage_file(path);
  ASSERT_TRUE(rep) << rep.message();
  auto a = Arena::open_file(path, o);
  ASSERT_TRUE(a) << a.message();
  auto check = a->check();
  ASSERT_TRUE(check) << check.message();
  EXPECT_GE(check->free_bytes, 10u * 256);
  ::unlink(path.c_str());
}

INSTANTIATE_TEST_SUITE_P(Modes, CacheWideClass, ::testing::Bool(),
                         [](const auto &info) { return info.param ? "checked" : "unchecked"; });

} // namespace
