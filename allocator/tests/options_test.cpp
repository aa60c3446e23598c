// Unit tests of lfarena::Options validation (docs/DESIGN.md §4 promise 5): every invalid
// option is refused by every factory (heap, anonymous, file) with its own errc and a message
// naming the offending value, and nothing is created on disk; the defaults are valid everywhere.
#include <lfarena/arena.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <set>
#include <string>
#include <system_error>

#include "arena_test_support.hpp"

namespace {

using lfarena::Arena;
using lfarena::errc;
using lfarena::FreelistKind;
using lfarena::Options;
using lfarena_test::BackingKind;
using lfarena_test::ScratchDir;

class OptionsTest : public testing::TestWithParam<BackingKind> {
protected:
  // Opens with `o` on the parameter's backing; a failed file open must leave no file behind.
  lfarena::Result<Arena> open(const Options &o) {
    auto r = lfarena_test::make_arena(GetParam(), o, dir_, "opts.arena");
    if (GetParam() == BackingKind::file && !r) {
      EXPECT_FALSE(std::filesystem::exists(dir_.file("opts.arena")))
          << "a refused option still created the file";
    }
    return r;
  }
  // Expects `o` to be refused with `code` and a message containing `value`.
  void expect_invalid(const Options &o, errc code, const std::string &value) {
    auto r = open(o);
    ASSERT_FALSE(r.ok()) << "accepted an invalid option (" << value << ")";
    EXPECT_EQ(r.code(), code) << r.message();
    EXPECT_NE(r.message().find(value), std::string::npos)
        << "message does not name " << value << ": " << r.message();
    if (GetParam() == BackingKind::file) {
      EXPECT_NE(r.message().find(dir_.file("opts.arena")), std::string::npos) << r.message();
    }
  }
  void expect_valid(const Options &o) {
    auto r = open(o);
    ASSERT_TRUE(r.ok()) << r.message();
    EXPECT_TRUE(r->valid());
    EXPECT_EQ(r->stats().capacity, o.capacity);
  }

  ScratchDir dir_;
};

TEST_P(OptionsTest, DefaultsAreValidAndGiveAnEmptyArena) {
  const Options o;
  auto r = open(o);
  ASSERT_TRUE(r.ok()) << r.message();
  const Arena &a = *r;
  EXPECT_TRUE(a.valid());
  EXPECT_FALSE(a.read_only());
  const lfarena::Stats s = a.stats();
  EXPECT_EQ(s.capacity, 1u << 20);
  EXPECT_EQ(s.data_offset, lfarena::detail::kFixedAreaEnd);
  EXPECT_EQ(s.allocated, 0u);
  EXPECT_EQ(s.remaining, s.capacity - s.data_offset);
  EXPECT_EQ(s.discarded, 0u);
  EXPECT_EQ(s.handle_count, 1u);
  EXPECT_EQ(a.options().capacity, o.capacity);
  EXPECT_EQ(a.options().max_alignment, o.max_alignment);
  EXPECT_EQ(a.options().min_segment, o.min_segment);
  EXPECT_EQ(a.options().freelist, FreelistKind::none);
  EXPECT_TRUE(a.user_area().empty());
  EXPECT_TRUE(a.allocate(8).ok());
  if (GetParam() == BackingKind::file) {
    EXPECT_EQ(a.name(), dir_.file("opts.arena"));
    EXPECT_EQ(std::filesystem::file_size(a.name()), o.capacity);
  } else {
    EXPECT_EQ(a.name(), GetParam() == BackingKind::heap ? "heap" : "anonymous");
  }
}

TEST_P(OptionsTest, EveryFreelistKindIsValid) {
  for (FreelistKind k : {FreelistKind::none, FreelistKind::optimistic, FreelistKind::pessimistic,
                         FreelistKind::segregated}) {
    Options o;
    o.freelist = k;
    expect_valid(o);
    std::filesystem::remove(dir_.file("opts.arena"));
  }
}

TEST_P(OptionsTest, CapacityTooSmallIsInvalidCapacity) {
  for (std::uint32_t cap : {0u, 1u, 100u, 256u, 300u, 319u}) {
    Options o;
    o.capacity = cap;
    SCOPED_TRACE(cap);
    expect_invalid(o, errc::invalid_capacity, "capacity " + std::to_string(cap));
  }
}

TEST_P(OptionsTest, SmallestCapacityHoldsHeaderPlus64BytesOfData) {
  Options o;
  o.capacity = lfarena::detail::kFixedAreaEnd + 64;
  auto r = open(o);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->stats().remaining, 64u);
  EXPECT_TRUE(r->allocate(64).ok());
  EXPECT_EQ(r->allocate(8).code(), errc::out_of_memory);
}

TEST_P(OptionsTest, CheckedModeNeedsRoomForItsBitmaps) {
  Options o;
  o.checked = true;
  o.capacity = 330; // enough unchecked, not with the bitmaps in front of the data
  expect_invalid(o, errc::invalid_capacity, "capacity 330");
}

TEST_P(OptionsTest, MaxAlignmentMustBeAPowerOfTwoFrom8To4096) {
  for (std::uint32_t a : {0u, 1u, 2u, 4u, 3u, 12u, 48u, 96u, 4095u, 8192u, 0x80000000u}) {
    Options o;
    o.max_alignment = a;
    SCOPED_TRACE(a);
    expect_invalid(o, errc::invalid_alignment_option, "max_alignment " + std::to_string(a));
  }
}

TEST_P(OptionsTest, MaxAlignmentBoundsAreValid) {
  for (std::uint32_t a : {8u, 16u, 4096u}) {
    Options o;
    o.max_alignment = a;
    SCOPED_TRACE(a);
    expect_valid(o);
    std::filesystem::remove(dir_.file("opts.arena"));
  }
}

TEST_P(OptionsTest, MinSegmentMustBeAMultipleOf8AtLeast16) {
  for (std::uint32_t m : {0u, 8u, 12u, 15u, 17u, 20u, 36u, (1u << 30) + 8, 0xfffffff8u}) {
    Options o;
    o.min_segment = m;
    SCOPED_TRACE(m);
    expect_invalid(o, errc::invalid_min_segment, "min_segment " + std::to_string(m));
  }
}

TEST_P(OptionsTest, MinSegmentBoundsAreValid) {
  for (std::uint32_t m : {16u, 24u, 4096u}) {
    Options o;
    o.min_segment = m;
    SCOPED_TRACE(m);
    expect_valid(o);
    std::filesystem::remove(dir_.file("opts.arena"));
  }
}

TEST_P(OptionsTest, FreelistKindOutOfRangeIsInvalid) {
  const auto first_bad = static_cast<std::uint32_t>(FreelistKind::segregated) + 1;
  for (std::uint32_t k : {first_bad, first_bad + 1, 255u, 0xffffffffu}) {
    Options o;
    o.freelist = static_cast<FreelistKind>(k);
    SCOPED_TRACE(k);
    expect_invalid(o, errc::invalid_freelist_kind, "freelist kind " + std::to_string(k));
  }
}

TEST_P(OptionsTest, UserReservedThatLeavesNoDataAreaIsInvalid) {
  Options o;
  o.capacity = 4096;
  for (std::uint32_t r : {3800u, 4096u, 1u << 20, 0xffffffffu}) {
    o.user_reserved = r;
    SCOPED_TRACE(r);
    expect_invalid(o, errc::invalid_reserved, "user_reserved " + std::to_string(r));
  }
}

TEST_P(OptionsTest, UserReservedIsBlamedWhenTheCapacityAloneWouldDo) {
  // Each capacity is valid without a reserved area (header + 64 bytes of data fit), so the
  // error belongs to user_reserved, and the message must name it.
  struct Case {
    std::uint32_t capacity, reserved;
  };
  constexpr std::uint32_t F = lfarena::detail::kFixedAreaEnd; // header + thread-chunk slots
  for (const Case c : {Case{F + 94, 8}, Case{F + 3844, 3780}, Case{F + 3840, 3800}}) {
    Options plain;
    plain.capacity = c.capacity;
    expect_valid(plain);
    std::filesystem::remove(dir_.file("opts.arena"));
    Options o = plain;
    o.user_reserved = c.reserved;
    SCOPED_TRACE("capacity " + std::to_string(c.capacity));
    expect_invalid(o, errc::invalid_reserved, "user_reserved " + std::to_string(c.reserved));
  }
}

TEST_P(OptionsTest, UserReservedThatFitsIsValid) {
  Options o;
  o.capacity = 4096;
  o.user_reserved = 4096 - lfarena::detail::kFixedAreaEnd -
                    64; // fixed area + reserved + 64 bytes of data fill it
  auto r = open(o);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->user_area().size(), o.user_reserved);
  EXPECT_EQ(r->stats().remaining, 64u);
}

TEST_P(OptionsTest, FirstInvalidOptionInValidationOrderIsReported) {
  // Several invalid values at once still give one definite error, not a crash.
  Options o;
  o.capacity = 0;
  o.max_alignment = 3;
  o.min_segment = 1;
  o.user_reserved = 0xffffffffu;
  // The order of format.cpp (check_option_values, then plan_layout): alignment, min_segment,
  // then a capacity too small even without reserved bytes, then the reserved bytes that leave
  // no data area. Each fix reveals exactly the next one.
  const std::pair<errc, void (*)(Options &)> order[] = {
      {errc::invalid_alignment_option, [](Options &x) { x.max_alignment = 8; }},
      {errc::invalid_min_segment, [](Options &x) { x.min_segment = 16; }},
      {errc::invalid_capacity, [](Options &x) { x.capacity = 1 << 16; }},
      {errc::invalid_reserved, [](Options &x) { x.user_reserved = 0; }},
  };
  for (const auto &[code, fix] : order) {
    auto r = open(o);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.code(), code) << r.message();
    fix(o);
  }
  EXPECT_TRUE(open(o).ok()) << "all four fixed";
}

INSTANTIATE_TEST_SUITE_P(Backings, OptionsTest, testing::ValuesIn(lfarena_test::kAllBackings),
                         [](const testing::TestParamInfo<BackingKind> &i) {
                           return lfarena_test::backing_name(i.param);
                         });

TEST(ErrorCategory, NamesEveryCodeDistinctly) {
  EXPECT_STREQ(lfarena::error_category().name(), "lfarena");
  EXPECT_EQ(lfarena::make_error_code(errc::invalid_capacity).message(), "invalid_capacity");
  EXPECT_EQ(std::error_code(errc::bad_magic).category(), lfarena::error_category());
  std::set<std::string> names;
  int known = 0;
  for (int v = 0; v < 256; ++v) {
    const std::string n = lfarena::to_string(static_cast<errc>(v));
    if (n == "unknown")
      continue;
    ++known;
    EXPECT_TRUE(names.insert(n).second) << "duplicate name " << n;
  }
  EXPECT_GE(known, 32) << "a code lost its name";
}

} // namespace
