// grow_test.cpp -- Options::grow: an unchecked file grows to a larger requested capacity on
// reopen (blocks and user data kept, the new space usable, the file and header consistent for
// every later open); checked files, read-only opens and files with other openers are refused
// with the file unchanged; a grow cut short by a crash (the file extended, the header not yet)
// still opens, while the same extra bytes without the grow record are damage.
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include <gtest/gtest.h>

#include <lfarena/arena.hpp>
#include <lfarena/detail/header.hpp>

#include "arena_test_support.hpp"

namespace {

using lfarena::Arena;
using lfarena::errc;
using lfarena::FreelistKind;
using lfarena::Options;

constexpr std::uint32_t kSmall = 1u << 20, kLarge = 4u << 20;

Options opts(FreelistKind kind, bool checked = false) {
  Options o;
  o.capacity = kSmall;
  o.freelist = kind;
  o.checked = checked;
  o.user_reserved = 16;
  return o;
}

std::uint64_t file_size(const std::string &path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
}

// A file with one block holding `value`, whose offset is kept in the user area.
void make_file(const std::string &path, const Options &o, std::uint64_t value) {
  Options c = o;
  c.open_mode = lfarena::OpenMode::create_new;
  auto a = Arena::open_file(path, c);
  ASSERT_TRUE(a) << a.message();
  auto b = a->allocate(64);
  ASSERT_TRUE(b);
  std::memcpy(a->base() + b->offset, &value, sizeof value);
  std::memcpy(a->user_area().data(), &b->offset, sizeof b->offset);
  for (int i = 0; i < 100; ++i) // and some free segments
    ASSERT_TRUE(a->deallocate(a->allocate(200)->offset, 200));
}

std::uint64_t kept_value(const Arena &a) {
  std::uint32_t at = 0;
  std::memcpy(&at, a.user_area().data(), sizeof at);
  std::uint64_t v = 0;
  std::memcpy(&v, a.base() + at, sizeof v);
  return v;
}

class Grow : public ::testing::TestWithParam<FreelistKind> {};

TEST_P(Grow, AnUncheckedFileGrowsAndKeepsEverything) {
  lfarena_test::ScratchDir dir;
  const std::string path = dir.file("g.arena");
  make_file(path, opts(GetParam()), 0xC0FFEE);
  Options o = opts(GetParam());
  o.open_mode = lfarena::OpenMode::open_existing;
  o.capacity = kLarge;
  o.grow = true;
  {
    auto a = Arena::open_file(path, o);
    ASSERT_TRUE(a) << a.message();
    EXPECT_EQ(a->stats().capacity, kLarge);
    EXPECT_EQ(kept_value(*a), 0xC0FFEEu);
    EXPECT_TRUE(a->check()) << a->check().message();
    // The new space is usable: more than the old capacity in one block.
    auto big = a->allocate(kSmall + 4096);
    ASSERT_TRUE(big) << big.message();
    EXPECT_TRUE(a->check()) << a->check().message();
  }
  EXPECT_EQ(file_size(path), kLarge);
  Options plain = opts(GetParam());
  plain.open_mode = lfarena::OpenMode::open_existing; // capacity 1 MiB asked: the file wins
  auto again = Arena::open_file(path, plain);
  ASSERT_TRUE(again) << again.message();
  EXPECT_EQ(again->stats().capacity, kLarge);
  EXPECT_FALSE(again->recovery().ran);
  EXPECT_EQ(kept_value(*again), 0xC0FFEEu);
}

INSTANTIATE_TEST_SUITE_P(Policies, Grow,
                         ::testing::Values(FreelistKind::none, FreelistKind::optimistic,
                                           FreelistKind::pessimistic, FreelistKind::segregated),
                         [](const auto &info) { return lfarena_test::kind_name(info.param); });

// thread_chunk is checked against the capacity the file grows to.
TEST(GrowThreadChunk, IsCheckedAgainstTheGrownCapacity) {
  lfarena_test::ScratchDir dir;
  const std::string path = dir.file("g.arena");
  Options small = opts(FreelistKind::segregated);
  small.capacity = 16384;
  small.user_reserved = 0;
  {
    small.open_mode = lfarena::OpenMode::create_new;
    ASSERT_TRUE(Arena::open_file(path, small));
  }
  Options o = small;
  o.open_mode = lfarena::OpenMode::open_existing;
  o.capacity = kSmall;
  o.thread_chunk = 8192; // above 16384 / 4, within 1 MiB / 4
  o.grow = true;
  auto a = Arena::open_file(path, o);
  ASSERT_TRUE(a) << a.message();
  EXPECT_EQ(a->stats().capacity, kSmall);
  EXPECT_TRUE(a->allocate(64));
}

TEST(GrowRefused, WithoutTheOptionOrToASmallerSizeNothingChanges) {
  lfarena_test::ScratchDir dir;
  const std::string path = dir.file("g.arena");
  make_file(path, opts(FreelistKind::segregated), 1);
  const auto before = lfarena_test::read_all(path);
  Options o = opts(FreelistKind::segregated);
  o.open_mode = lfarena::OpenMode::open_existing;
  o.capacity = kLarge; // grow not asked
  {
    auto a = Arena::open_file(path, o);
    ASSERT_TRUE(a) << a.message();
    EXPECT_EQ(a->stats().capacity, kSmall);
  }
  o.capacity = kSmall / 2; // asked, but smaller: never shrinks
  o.grow = true;
  {
    auto a = Arena::open_file(path, o);
    ASSERT_TRUE(a) << a.message();
    EXPECT_EQ(a->stats().capacity, kSmall);
  }
  EXPECT_EQ(file_size(path), kSmall);
}

TEST(GrowRefused, CheckedReadOnlyAndSharedFilesAreLeftUnchanged) {
  lfarena_test::ScratchDir dir;
  const std::string checked = dir.file("c.arena"), shared = dir.file("s.arena");
  make_file(checked, opts(FreelistKind::pessimistic, true), 2);
  make_file(shared, opts(FreelistKind::pessimistic), 3);
  const auto checked_bytes = lfarena_test::read_all(checked);
  const auto shared_bytes = lfarena_test::read_all(shared);
  Options o = opts(FreelistKind::pessimistic);
  o.open_mode = lfarena::OpenMode::open_existing;
  o.capacity = kLarge;
  o.grow = true;
  auto c = Arena::open_file(checked, o);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.code(), errc::invalid_capacity);
  EXPECT_NE(c.message().find("checked file"), std::string::npos) << c.message();
  EXPECT_EQ(lfarena_test::read_all(checked), checked_bytes);

  Options ro = o;
  ro.read_only = true;
  auto r = Arena::open_file(shared, ro);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.code(), errc::read_only) << r.message();

  Options plain = opts(FreelistKind::pessimistic);
  plain.open_mode = lfarena::OpenMode::open_existing;
  auto first = Arena::open_file(shared, plain);
  ASSERT_TRUE(first) << first.message();
  auto second = Arena::open_file(shared, o);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.code(), errc::in_use);
  EXPECT_NE(second.message().find("other openers"), std::string::npos) << second.message();
  *first = Arena{};
  EXPECT_EQ(lfarena_test::read_all(shared), shared_bytes);
}

// An open that asks for a grow of a damaged file fails on the damage before the grow writes
// anything: the file keeps its size and every byte (it used to be grown first, then refused).
class GrowDamaged : public ::testing::TestWithParam<FreelistKind> {};

TEST_P(GrowDamaged, IsRefusedBeforeItGrows) {
  lfarena_test::ScratchDir dir;
  const std::string path = dir.file("d.arena");
  std::uint32_t freed = 0;
  {
    Options c = opts(GetParam());
    c.open_mode = lfarena::OpenMode::create_new;
    auto a = Arena::open_file(path, c);
    ASSERT_TRUE(a) << a.message();
    std::uint32_t at[8] = {};
    for (auto &o : at) {
      auto b = a->allocate(64);
      ASSERT_TRUE(b);
      o = b->offset;
    }
    for (int i = 1; i < 7; i += 2) // free segments below the bump offset
      ASSERT_TRUE(a->deallocate(at[i], 64));
    freed = at[3];
  }
  auto bytes = lfarena_test::read_all(path);
  ASSERT_EQ(bytes.size(), kSmall);
  std::memset(bytes.data() + freed, 0xab, 16); // the free node's words
  lfarena_test::write_all(path, bytes);
  Options o = opts(GetParam());
  o.open_mode = lfarena::OpenMode::open_existing;
  o.capacity = kLarge;
  o.grow = true;
  auto a = Arena::open_file(path, o);
  ASSERT_FALSE(a);
  EXPECT_EQ(a.code(), errc::corrupt_freelist) << a.message();
  EXPECT_EQ(file_size(path), kSmall);
  EXPECT_EQ(lfarena_test::read_all(path), bytes);
}

INSTANTIATE_TEST_SUITE_P(Policies, GrowDamaged,
                         ::testing::Values(FreelistKind::optimistic, FreelistKind::pessimistic,
                                           FreelistKind::segregated),
                         [](const auto &info) { return lfarena_test::kind_name(info.param); });

// The crash states of a grow: extended file with the record (opens with the old capacity, and
// a later grow finishes), extended file without it (damage: bad_geometry).
TEST(GrowCrash, AGrowCutShortStillOpensAndExtraBytesWithoutTheRecordAreDamage) {
  lfarena_test::ScratchDir dir;
  const std::string path = dir.file("g.arena");
  make_file(path, opts(FreelistKind::segregated), 0xABCD);
  auto bytes = lfarena_test::read_all(path);
  // The grower recorded the target and extended the file, then died.
  lfarena::detail::put_le64(bytes.data() + lfarena::detail::hdr::growing_to, kLarge);
  bytes.resize(kLarge, 0);
  lfarena_test::write_all(path, bytes);
  Options o = opts(FreelistKind::segregated);
  o.open_mode = lfarena::OpenMode::open_existing;
  {
    auto a = Arena::open_file(path, o);
    ASSERT_TRUE(a) << a.message();
    EXPECT_EQ(a->stats().capacity, kSmall);
    EXPECT_EQ(kept_value(*a), 0xABCDu);
  }
  o.capacity = kLarge;
  o.grow = true;
  {
    auto a = Arena::open_file(path, o);
    ASSERT_TRUE(a) << a.message();
    EXPECT_EQ(a->stats().capacity, kLarge) << "the grow was finished";
    EXPECT_EQ(kept_value(*a), 0xABCDu);
  }
  // Extra bytes with no grow record: refused as before.
  const std::string other = dir.file("h.arena");
  make_file(other, opts(FreelistKind::segregated), 5);
  auto extra = lfarena_test::read_all(other);
  extra.resize(kLarge, 0);
  lfarena_test::write_all(other, extra);
  Options p = opts(FreelistKind::segregated);
  p.open_mode = lfarena::OpenMode::open_existing;
  auto d = Arena::open_file(other, p);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.code(), errc::bad_geometry) << d.message();
  // A record in a checked file (which never grows) explains nothing either.
  const std::string checked = dir.file("c.arena");
  make_file(checked, opts(FreelistKind::segregated, true), 6);
  auto forged = lfarena_test::read_all(checked);
  lfarena::detail::put_le64(forged.data() + lfarena::detail::hdr::growing_to, kLarge);
  forged.resize(kLarge, 0);
  lfarena_test::write_all(checked, forged);
  auto e = Arena::open_file(checked, p);
  ASSERT_FALSE(e);
  EXPECT_EQ(e.code(), errc::bad_geometry) << e.message();
}

// Two grows cut short at different steps (helper-49): the first extended the file to 4 MiB and
// died before its header; the second recorded 8 MiB and died before its ftruncate. The file
// (4 MiB, capacity 1 MiB, record 8 MiB) still opens with its old capacity, and a grow to a
// smaller target than the size it already has finishes too (the file shrinks to it).
TEST(GrowCrash, TwoGrowsCutShortAtDifferentStepsStillOpenAndGrow) {
  lfarena_test::ScratchDir dir;
  const std::string path = dir.file("g.arena");
  make_file(path, opts(FreelistKind::segregated), 0xBEEF);
  auto bytes = lfarena_test::read_all(path);
  lfarena::detail::put_le64(bytes.data() + lfarena::detail::hdr::growing_to, 2 * kLarge);
  bytes.resize(kLarge, 0);
  lfarena_test::write_all(path, bytes);
  Options o = opts(FreelistKind::segregated);
  o.open_mode = lfarena::OpenMode::open_existing;
  {
    auto a = Arena::open_file(path, o); // before: bad_geometry, larger than capacity
    ASSERT_TRUE(a) << a.message();
    EXPECT_EQ(a->stats().capacity, kSmall);
    EXPECT_EQ(kept_value(*a), 0xBEEFu);
  }
  o.capacity = 2 * kSmall; // smaller than the 4 MiB the file already has
  o.grow = true;
  {
    auto a = Arena::open_file(path, o);
    ASSERT_TRUE(a) << a.message();
    EXPECT_EQ(a->stats().capacity, 2 * kSmall);
    EXPECT_EQ(kept_value(*a), 0xBEEFu);
    EXPECT_TRUE(a->check()) << a->check().message();
  }
  EXPECT_EQ(file_size(path), 2 * kSmall);
  // A file larger than its record is still damage.
  auto longer = lfarena_test::read_all(path);
  lfarena::detail::put_le64(longer.data() + lfarena::detail::hdr::growing_to, 3 * kSmall);
  longer.resize(4 * kSmall, 0);
  lfarena_test::write_all(path, longer);
  Options p = opts(FreelistKind::segregated);
  p.open_mode = lfarena::OpenMode::open_existing;
  auto d = Arena::open_file(path, p);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.code(), errc::bad_geometry) << d.message();
}

} // namespace
