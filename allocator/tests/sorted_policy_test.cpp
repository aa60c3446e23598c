// The size index of the sorted policies (detail/sorted_policy.hpp): its layout on disk, format v1
// files without it, the non-empty-class bitmap promise (check() and recovery), and bad class
// heads refused on reopen. That it allocates exactly like one sorted list is shown by
// freelist_test.cpp and freelist_random_test.cpp, which run every case on both layouts.
#include <lfarena/arena.hpp>

#include <gtest/gtest.h>

#include "arena_test_support.hpp"
#include "freelist_test_support.hpp"

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace {

namespace d = lfarena::detail;
using lfarena::Arena;
using lfarena::errc;
using lfarena::OpenMode;
using lfarena::Options;
using Kind = lfarena::FreelistKind;
using Bytes = std::vector<unsigned char>;

class SortedPolicy : public ::testing::Test {
protected:
  Options opts(Kind kind, bool size_index = true) const {
    return {.capacity = 1u << 16,
            .min_segment = 32,
            .freelist = kind,
            .size_index = size_index,
            .open_mode = OpenMode::open_or_create};
  }
  // Creates the file and leaves free segments of sizes 64, 64, 512 and 2048 (classes 8, 8,
  // 40 and 56) between live blocks.
  void populate(const Options &o) {
    auto a = Arena::open_file(path_, o);
    ASSERT_TRUE(a) << a.message();
    std::vector<lfarena::Block> keep, drop;
    for (std::uint32_t size : {64u, 64u, 512u, 2048u}) {
      auto b = a->allocate(size);
      ASSERT_TRUE(b) << b.message();
      drop.push_back(*b);
      auto k = a->allocate(16);
      ASSERT_TRUE(k) << k.message();
      keep.push_back(*k);
    }
    for (const auto &b : drop)
      ASSERT_TRUE(a->deallocate(b.offset, b.size));
  }
  Bytes image() const { return lfarena_test::read_all(path_); }
  std::uint32_t table(const Bytes &b) const { return d::get_le32(&b[d::hdr::class_table_offset]); }

  lfarena_test::ScratchDir dir_;
  std::string path_ = dir_.file("indexed.arena");
};

TEST_F(SortedPolicy, FilesEachSegmentUnderItsSizeClassAndSetsItsBit) {
  populate(opts(Kind::pessimistic));
  const Bytes b = image();
  EXPECT_EQ(d::get_le32(&b[d::hdr::format_version]), d::kFormatVersion);
  const std::uint32_t t = table(b);
  ASSERT_NE(t, 0u) << "a size-indexed file has a class table";
  EXPECT_EQ(d::get_le64(&b[d::hdr::freelist_head]), 0u) << "the single-list head stays unused";
  const std::uint64_t bitmap0 = d::get_le64(&b[t + d::kClassCount * 8]);
  for (std::uint32_t c : {8u, 40u, 56u}) {
    EXPECT_NE(d::Link{d::get_le64(&b[t + c * 8])}.offset(), 0u) << "class " << c;
    EXPECT_NE(bitmap0 & (std::uint64_t{1} << c), 0u) << "class " << c;
  }
  EXPECT_EQ(bitmap0 & ~((1ull << 8) | (1ull << 40) | (1ull << 56)), 0u);
  auto a = Arena::open_file(path_, opts(Kind::pessimistic));
  ASSERT_TRUE(a) << a.message();
  const std::vector<lfarena_test::Seg> order = lfarena_test::walk(*a);
  ASSERT_EQ(order.size(), 4u);
  EXPECT_EQ(order[0].size, 64u);
  EXPECT_EQ(order[1].size, 64u);
  EXPECT_GT(order[0].offset, order[1].offset) << "equal sizes newest first (the later free)";
  EXPECT_EQ(order[2].size, 512u);
  EXPECT_EQ(order[3].size, 2048u);
  ASSERT_TRUE(a->check()) << a->check().message();
}

TEST_F(SortedPolicy, OptimisticWalksClassesLargestFirstAndTakesTheLargest) {
  populate(opts(Kind::optimistic));
  auto a = Arena::open_file(path_, opts(Kind::optimistic));
  ASSERT_TRUE(a) << a.message();
  const auto order = lfarena_test::walk(*a);
  ASSERT_EQ(order.size(), 4u);
  EXPECT_EQ(order[0].size, 2048u);
  EXPECT_EQ(order[3].size, 64u);
  auto rest = a->allocate(static_cast<std::uint32_t>(a->stats().remaining)); // bump comes first
  ASSERT_TRUE(rest) << rest.message();
  auto b = a->allocate(40);
  ASSERT_TRUE(b) << b.message();
  EXPECT_EQ(b->offset, order[0].offset) << "optimistic takes the largest segment";
  ASSERT_TRUE(a->check()) << a->check().message();
}

TEST_F(SortedPolicy, LinearLayoutIsKeptOnReopenWhateverTheOptionsSay) {
  populate(opts(Kind::pessimistic, false));
  const Bytes b = image();
  EXPECT_EQ(table(b), 0u);
  EXPECT_NE(d::Link{d::get_le64(&b[d::hdr::freelist_head])}.offset(), 0u);
  auto a = Arena::open_file(path_, opts(Kind::pessimistic, true));
  ASSERT_TRUE(a) << a.message();
  EXPECT_FALSE(a->options().size_index) << "the file's layout wins";
  EXPECT_EQ(lfarena_test::walk(*a).size(), 4u);
  ASSERT_TRUE(a->check()) << a->check().message();
}

// The oldest version that describes the layout: 4 for the sorted policies (equal sizes newest
// first), 3 for the others, so older builds keep reading those.
TEST_F(SortedPolicy, NewFilesCarryTheOldestVersionOfTheirLayoutAndAFreeNodeKey) {
  for (const Kind kind : {Kind::none, Kind::segregated, Kind::pessimistic, Kind::optimistic}) {
    populate(opts(kind, false));
    const bool sorted = kind == Kind::pessimistic || kind == Kind::optimistic;
    EXPECT_EQ(d::get_le32(&image()[d::hdr::format_version]), sorted ? 4u : 3u)
        << static_cast<int>(kind);
    EXPECT_NE(d::get_le64(&image()[d::hdr::node_key]), 0u) << static_cast<int>(kind);
    std::remove(path_.c_str());
  }
}

// A v3 file (written by an older build, which orders equal sizes by offset and refuses
// anything else) keeps that order and its version: an older build can still open it.
TEST_F(SortedPolicy, Version3FilesKeepEqualSizesInOffsetOrder) {
  for (const bool indexed : {false, true}) {
    SCOPED_TRACE(indexed);
    std::vector<lfarena::Block> blocks;
    {
      auto a = Arena::open_file(path_, opts(Kind::pessimistic, indexed));
      ASSERT_TRUE(a) << a.message();
      for (int i = 0; i < 4; ++i) {
        blocks.push_back(*a->allocate(64));
        ASSERT_TRUE(a->allocate(16));
      }
    }
    Bytes b = image();
    d::put_le32(&b[d::hdr::format_version], 3);
    d::put_le64(&b[d::hdr::checksum], d::header_checksum(b.data(), 3));
    lfarena_test::write_all(path_, b);
    {
      auto a = Arena::open_file(path_, opts(Kind::pessimistic, indexed));
      ASSERT_TRUE(a) << a.message();
      for (int i : {3, 1, 0, 2})
        ASSERT_TRUE(a->deallocate(blocks[i].offset, blocks[i].size));
      const std::vector<lfarena_test::Seg> order = lfarena_test::walk(*a);
      ASSERT_EQ(order.size(), 4u);
      for (int i = 0; i < 4; ++i)
        EXPECT_EQ(order[i].offset, blocks[i].offset) << i;
      ASSERT_TRUE(a->check()) << a->check().message();
    }
    EXPECT_EQ(d::get_le32(&image()[d::hdr::format_version]), 3u) << "the file keeps its version";
    std::remove(path_.c_str());
  }
}

// A v3 file whose equal sizes are not in offset order was not written by a v3 build: damage.
TEST_F(SortedPolicy, Version3FileWithEqualSizesNewestFirstIsRefused) {
  {
    auto a = Arena::open_file(path_, opts(Kind::pessimistic));
    ASSERT_TRUE(a) << a.message();
    std::vector<lfarena::Block> blocks;
    for (int i = 0; i < 2; ++i) {
      blocks.push_back(*a->allocate(64));
      ASSERT_TRUE(a->allocate(16));
    }
    for (const lfarena::Block &x : blocks) // newest first: the higher offset leads
      ASSERT_TRUE(a->deallocate(x.offset, x.size));
  }
  Bytes b = image();
  d::put_le32(&b[d::hdr::format_version], 3);
  d::put_le64(&b[d::hdr::checksum], d::header_checksum(b.data(), 3));
  lfarena_test::write_all(path_, b);
  auto a = Arena::open_file(path_, opts(Kind::pessimistic));
  ASSERT_FALSE(a);
  EXPECT_EQ(a.code(), errc::corrupt_freelist) << a.message();
  EXPECT_EQ(lfarena_test::read_all(path_), b);
}

TEST_F(SortedPolicy, AVersion1FileCannotHaveASortedClassTable) {
  populate(opts(Kind::pessimistic));
  Bytes b = image();
  d::put_le32(&b[d::hdr::format_version], 1);
  d::put_le64(&b[d::hdr::checksum], d::header_checksum(b.data(), 1));
  lfarena_test::write_all(path_, b);
  auto a = Arena::open_file(path_, opts(Kind::pessimistic));
  ASSERT_FALSE(a);
  EXPECT_EQ(a.code(), errc::bad_geometry) << a.message();
  EXPECT_NE(a.message().find("format version 1"), std::string::npos) << a.message();
  EXPECT_EQ(lfarena_test::read_all(path_), b);
}

// A v1 file (written by an older build: one list, plain node words without a key) opens, keeps
// its layout, and its new nodes are written plain too.
TEST_F(SortedPolicy, FormatVersion1FilesStillOpen) {
  std::vector<lfarena::Block> blocks;
  {
    auto a = Arena::open_file(path_, opts(Kind::optimistic, false));
    ASSERT_TRUE(a) << a.message();
    for (std::uint32_t size : {64u, 200u, 64u, 96u, 16u})
      blocks.push_back(*a->allocate(size));
  }
  Bytes b = image();
  d::put_le32(&b[d::hdr::format_version], 1);
  d::put_le64(&b[d::hdr::node_key], 0);
  d::put_le64(&b[d::hdr::checksum], d::header_checksum(b.data(), 1));
  lfarena_test::write_all(path_, b);
  {
    auto a = Arena::open_file(path_, opts(Kind::optimistic));
    ASSERT_TRUE(a) << a.message();
    EXPECT_FALSE(a->options().size_index);
    for (int i : {0, 1, 3})
      ASSERT_TRUE(a->deallocate(blocks[i].offset, blocks[i].size));
    ASSERT_TRUE(a->check()) << a->check().message();
  }
  b = image();
  EXPECT_EQ(d::get_le32(&b[d::hdr::format_version]), 1u) << "the file keeps its version";
  EXPECT_EQ(d::get_le64(&b[blocks[1].offset + 8]), 200u) << "a plain size word, no check";
  auto a = Arena::open_file(path_, opts(Kind::optimistic));
  ASSERT_TRUE(a) << a.message();
  EXPECT_EQ(lfarena_test::walk(*a).size(), 3u);
  ASSERT_TRUE(a->allocate(static_cast<std::uint32_t>(a->stats().remaining))); // bump used up
  auto blk = a->allocate(100);
  ASSERT_TRUE(blk) << blk.message();
  EXPECT_EQ(blk->offset, blocks[1].offset) << "optimistic takes the largest";
  ASSERT_TRUE(a->check()) << a->check().message();
}

TEST_F(SortedPolicy, CheckReportsANonEmptyClassWithAClearBit) {
  populate(opts(Kind::pessimistic));
  Bytes b = image();
  const std::uint32_t bitmap_at = table(b) + d::kClassCount * 8;
  d::put_le64(&b[bitmap_at], d::get_le64(&b[bitmap_at]) & ~(std::uint64_t{1} << 40));
  lfarena_test::write_all(path_, b);
  auto a = Arena::open_file(path_, opts(Kind::pessimistic));
  ASSERT_TRUE(a) << a.message();
  auto r = a->check();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.code(), errc::corrupt_freelist);
  EXPECT_NE(r.message().find("size class 40"), std::string::npos) << r.message();
}

TEST_F(SortedPolicy, RecoveryRebuildsTheBitmap) {
  populate(opts(Kind::pessimistic));
  Bytes b = image();
  const std::uint32_t bitmap_at = table(b) + d::kClassCount * 8;
  d::put_le64(&b[bitmap_at], 1ull << 3);  // bits of the classes lost, one stale bit set
  d::put_le64(&b[d::hdr::open_count], 1); // an opener died without closing
  lfarena_test::write_all(path_, b);
  auto a = Arena::open_file(path_, opts(Kind::pessimistic));
  ASSERT_TRUE(a) << a.message();
  EXPECT_TRUE(a->recovery().ran);
  ASSERT_TRUE(a->check()) << a->check().message();
  const std::uint64_t bits = d::load_acquire(d::RegionWords{a->base()}.word(bitmap_at));
  EXPECT_EQ(bits, (1ull << 8) | (1ull << 40) | (1ull << 56));
}

TEST_F(SortedPolicy, ABadClassHeadIsRefusedOnReopen) {
  for (const std::uint64_t head :
       {std::uint64_t{8}, std::uint64_t{60000}, std::uint64_t{1} << 63}) {
    populate(opts(Kind::pessimistic));
    Bytes b = image();
    d::put_le64(&b[table(b) + 100 * 8], head);
    lfarena_test::write_all(path_, b);
    auto a = Arena::open_file(path_, opts(Kind::pessimistic));
    ASSERT_FALSE(a) << "head " << head;
    EXPECT_EQ(a.code(), errc::freelist_head_out_of_range) << a.message();
    EXPECT_NE(a.message().find("size class 100"), std::string::npos) << a.message();
    EXPECT_EQ(lfarena_test::read_all(path_), b) << "a refused open must not write";
    std::remove(path_.c_str());
  }
}

TEST_F(SortedPolicy, TheSingleListHeadMustBeZeroWithAClassTable) {
  populate(opts(Kind::optimistic));
  Bytes b = image();
  const std::uint32_t some_node = d::Link{d::get_le64(&b[table(b) + 8 * 8])}.offset();
  d::put_le64(&b[d::hdr::freelist_head], some_node);
  lfarena_test::write_all(path_, b);
  auto a = Arena::open_file(path_, opts(Kind::optimistic));
  ASSERT_FALSE(a);
  EXPECT_EQ(a.code(), errc::freelist_head_out_of_range) << a.message();
}

} // namespace
