// cache_array_file_test.cpp -- segregated files whose thread caches hold arrays of entries
// (kFeatureCacheArray, docs/DESIGN.md §5.11) across the file's life: a grow (Options::grow)
// keeps the layout their cache blocks were made for, which follows the class budget and so the
// capacity below 1 MiB (the budget is pinned in the header, hdr::cache_budget), after a clean
// close and after a crash; a pinned budget larger than the capacity gives is damage; and a
// checked-mode recovery that fails after draining the caches puts every entry back (a failed
// open leaves the file unchanged).
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <lfarena/arena.hpp>
#include <lfarena/detail/cache_layout.hpp>
#include <lfarena/detail/header.hpp>

#include "arena_test_support.hpp"

namespace {

using lfarena::Arena;
using lfarena::Block;
using lfarena::errc;
using lfarena::FreelistKind;
using lfarena::Options;
namespace d = lfarena::detail;
using Bytes = std::vector<unsigned char>;

constexpr std::uint32_t kBlock = 32; // cached from 16 KiB on (cache_size_limit())

Options cached(std::uint32_t capacity, bool checked = false) {
  Options o;
  o.capacity = capacity;
  o.freelist = FreelistKind::segregated;
  o.thread_chunk = 1024;
  o.checked = checked;
  o.open_mode = lfarena::OpenMode::open_or_create;
  return o;
}

// Live blocks, each holding its own offset, whose offsets the file keeps in order from the
// first one's (a test reads them back after reopening).
std::vector<std::uint32_t> fill(const Arena &a, int live, int freed) {
  std::vector<std::uint32_t> kept;
  std::vector<Block> gone;
  for (int i = 0; i < live + freed; ++i) {
    auto b = a.allocate(kBlock);
    EXPECT_TRUE(b) << b.message();
    if (!b)
      break;
    if (i % 2 == 1 && static_cast<int>(gone.size()) < freed) {
      gone.push_back(*b);
      continue;
    }
    std::memcpy(a.base() + b->offset, &b->offset, sizeof b->offset);
    kept.push_back(b->offset);
  }
  for (const Block &b : gone) // to this thread's cache
    EXPECT_TRUE(a.deallocate(b.offset, b.size));
  return kept;
}

void expect_kept(const Arena &a, const std::vector<std::uint32_t> &kept) {
  for (const std::uint32_t o : kept) {
    std::uint32_t v = 0;
    std::memcpy(&v, a.base() + o, sizeof v);
    ASSERT_EQ(v, o) << "the live block at " << o << " was handed out again";
  }
}

struct GrowCase {
  std::uint32_t from, to;
  bool crashed; // imaged while its opener held cached blocks, as a kill leaves it
};

class CacheArrayGrow : public ::testing::TestWithParam<GrowCase> {};

TEST_P(CacheArrayGrow, TheGrownFileOpensKeepsItsBlocksAndAccountsForEveryByte) {
  const GrowCase p = GetParam();
  lfarena_test::ScratchDir dir;
  const std::string path = dir.file("c.arena");
  std::vector<std::uint32_t> kept;
  {
    auto a = Arena::open_file(path, cached(p.from));
    ASSERT_TRUE(a) << a.message();
    kept = fill(*a, 40, 12);
    ASSERT_FALSE(kept.empty());
    if (p.crashed) {
      const Bytes image = lfarena_test::read_all(path);
      *a = Arena{};
      lfarena_test::write_all(path, image);
    }
  }
  Options o = cached(p.to);
  o.open_mode = lfarena::OpenMode::open_existing;
  o.grow = true;
  {
    auto a = Arena::open_file(path, o);
    ASSERT_TRUE(a) << a.message(); // before: corrupt_freelist (the blocks' layout moved)
    EXPECT_EQ(a->stats().capacity, p.to);
    EXPECT_EQ(a->recovery().ran, p.crashed);
    auto report = a->check();
    EXPECT_TRUE(report) << report.message();
    expect_kept(*a, kept);
    // The cached blocks and the new space serve allocations; none is a live one.
    std::vector<Block> more;
    for (int i = 0; i < 200; ++i) {
      auto b = a->allocate(kBlock);
      ASSERT_TRUE(b) << b.message();
      std::memset(a->base() + b->offset, 0xEE, kBlock);
      more.push_back(*b);
    }
    expect_kept(*a, kept);
    for (std::size_t i = 0; i < more.size(); i += 2)
      ASSERT_TRUE(a->deallocate(more[i].offset, more[i].size));
    report = a->check();
    EXPECT_TRUE(report) << report.message();
  }
  const Bytes after = lfarena_test::read_all(path);
  const std::uint32_t pinned = d::get_le32(after.data() + d::hdr::cache_budget);
  EXPECT_EQ(pinned, d::cache_class_budget(p.from)) << "the grow pins the budget the file had";
  Options plain = cached(p.from); // the file's capacity wins
  plain.open_mode = lfarena::OpenMode::open_existing;
  auto again = Arena::open_file(path, plain);
  ASSERT_TRUE(again) << again.message();
  EXPECT_FALSE(again->recovery().ran);
  auto report = again->check();
  EXPECT_TRUE(report) << report.message();
  expect_kept(*again, kept);
}

INSTANTIATE_TEST_SUITE_P(
    Sizes, CacheArrayGrow,
    ::testing::Values(GrowCase{16 << 10, 64 << 10, false}, GrowCase{16 << 10, 64 << 10, true},
                      GrowCase{64 << 10, 1 << 20, false}, GrowCase{64 << 10, 1 << 20, true},
                      GrowCase{256 << 10, 4 << 20, false}, GrowCase{256 << 10, 4 << 20, true},
                      GrowCase{1 << 20, 4 << 20, false}, GrowCase{1 << 20, 4 << 20, true}),
    [](const auto &info) {
      return std::to_string(info.param.from >> 10) + "KiB_to_" +
             std::to_string(info.param.to >> 10) + "KiB" + (info.param.crashed ? "_crashed" : "");
    });

TEST(CacheArrayGrow, APinnedBudgetLargerThanTheCapacityGivesIsDamage) {
  lfarena_test::ScratchDir dir;
  const std::string path = dir.file("c.arena");
  {
    auto a = Arena::open_file(path, cached(64 << 10));
    ASSERT_TRUE(a) << a.message();
    fill(*a, 10, 4);
  }
  Bytes bytes = lfarena_test::read_all(path);
  d::put_le32(bytes.data() + d::hdr::cache_budget, d::cache_class_budget(64 << 10) + 8);
  lfarena_test::write_all(path, bytes);
  Options o = cached(64 << 10);
  o.open_mode = lfarena::OpenMode::open_existing;
  auto a = Arena::open_file(path, o);
  ASSERT_FALSE(a);
  EXPECT_EQ(a.code(), errc::bad_geometry);
  EXPECT_NE(a.message().find("cache class budget 264"), std::string::npos) << a.message();
  EXPECT_EQ(lfarena_test::read_all(path), bytes);
}

// A checked file left by a dead opener whose cache held entries, its discarded counter damaged
// upwards (by less than the live bytes, so only the accounting after the drains finds it):
// recovery drains the cache, then fails, and must put back every word it wrote.
TEST(CacheArrayRecovery, AFailedCheckedRecoveryPutsEveryEntryBack) {
  lfarena_test::ScratchDir dir;
  const std::string path = dir.file("c.arena");
  Bytes image;
  {
    auto a = Arena::open_file(path, cached(1 << 20, true));
    ASSERT_TRUE(a) << a.message();
    fill(*a, 200, 30);
    image = lfarena_test::read_all(path);
  }
  unsigned char *h = image.data();
  d::put_le64(h + d::hdr::discarded, d::get_le64(h + d::hdr::discarded) + 200 * kBlock / 2);
  lfarena_test::write_all(path, image);
  auto a = Arena::open_file(path, cached(1 << 20, true));
  ASSERT_FALSE(a) << "the damaged accounting went unnoticed";
  const Bytes after = lfarena_test::read_all(path);
  ASSERT_EQ(after.size(), image.size());
  std::size_t changed = 0, first = 0;
  for (std::size_t i = 0; i < after.size(); ++i)
    if (after[i] != image[i] && changed++ == 0)
      first = i;
  EXPECT_EQ(changed, 0u) << "a failed open changed " << changed << " bytes, the first at " << first
                         << " (" << a.message() << ")";
}

} // namespace
