// segregated_test.cpp -- the segregated policy (detail/segregated_policy.hpp): size classes up to
// the largest block a region can hold. A request above the last class boundary must still reuse a
// free segment of the top class (the exact-fit pop and the bounded search run for it too).
#include <cstdint>

#include <gtest/gtest.h>

#include <lfarena/arena.hpp>

#include "arena_test_support.hpp"

namespace {

using lfarena::Arena;
using lfarena::errc;
using lfarena::FreelistKind;
using lfarena::Options;

TEST(Segregated, TopSizeClassIsReused) {
  for (const bool checked : {false, true}) {
    SCOPED_TRACE(checked);
    Options o;
    o.capacity = 0xffffffffu; // 4 GiB - 1: an anonymous mapping touches only what is used
    o.freelist = FreelistKind::segregated;
    o.checked = checked;
    auto a = Arena::anonymous(o);
    ASSERT_TRUE(a) << a.message();
    // Above the top class's lower bound (0xf0000000); the checked bitmaps take capacity/21.
    const std::uint32_t kHuge = checked ? 0xf0000008u : 0xf8000000u;
    auto big = a->allocate(kHuge);
    ASSERT_TRUE(big) << big.message();
    auto after = a->allocate(64); // keeps `big` from being rolled back into the bump region
    ASSERT_TRUE(after) << after.message();
    ASSERT_TRUE(a->deallocate(big->offset, big->size));
    auto again = a->allocate(kHuge);
    ASSERT_TRUE(again) << again.message();
    EXPECT_EQ(again->offset, big->offset) << "the free segment of the top class was not reused";
    EXPECT_EQ(a->allocate(kHuge).code(), errc::out_of_memory);
  }
}

} // namespace
