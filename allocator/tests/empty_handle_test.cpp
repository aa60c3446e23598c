// empty_handle_test.cpp -- a default-constructed or moved-from Arena is an empty handle: every
// member that returns a Result returns errc::empty_handle, the others return empty values, and
// nothing crashes. (base() and pointer() return null.)
#include <utility>

#include <gtest/gtest.h>

#include <lfarena/arena.hpp>

#include "arena_test_support.hpp"

namespace {

using lfarena::Arena;
using lfarena::errc;

void expect_empty_handle_errors(const Arena &a) {
  EXPECT_FALSE(a.valid());
  EXPECT_EQ(a.allocate(16).code(), errc::empty_handle);
  EXPECT_EQ(a.try_allocate(16).offset, 0u);
  EXPECT_EQ(a.allocate_zeroed(16).code(), errc::empty_handle);
  EXPECT_EQ(a.create<int>(1).code(), errc::empty_handle);
  EXPECT_EQ(a.deallocate(4096, 16).code(), errc::empty_handle);
  EXPECT_EQ(a.check().code(), errc::empty_handle);
  EXPECT_EQ(a.flush().code(), errc::empty_handle);
  EXPECT_EQ(a.flush_range(0, 64).code(), errc::empty_handle);
  EXPECT_EQ(a.flush_async().code(), errc::empty_handle);
  EXPECT_EQ(a.bytes(4096, 8).code(), errc::empty_handle);
  int x = 0;
  EXPECT_EQ(a.offset_of(&x).code(), errc::empty_handle);
  EXPECT_NE(a.allocate(16).message().find("empty"), std::string::npos) << a.allocate(16).message();
  const lfarena::Stats s = a.stats();
  EXPECT_EQ(s.capacity, 0u);
  EXPECT_EQ(s.handle_count, 0u);
  EXPECT_FALSE(a.read_only());
  EXPECT_FALSE(a.name().empty());
  EXPECT_TRUE(a.user_area().empty());
  EXPECT_FALSE(a.recovery().ran);
  EXPECT_EQ(a.options().capacity, lfarena::Options{}.capacity);
  EXPECT_EQ(a.pointer<int>(4096), nullptr);
  EXPECT_EQ(a.base(), nullptr);
}

TEST(EmptyHandle, DefaultConstructedHandleReportsErrors) { expect_empty_handle_errors(Arena()); }

TEST(EmptyHandle, MovedFromHandleReportsErrors) {
  auto made = Arena::heap({});
  ASSERT_TRUE(made) << made.message();
  Arena a = *made;
  Arena b = std::move(a);
  expect_empty_handle_errors(a); // NOLINT(bugprone-use-after-move): the point of the test
  EXPECT_TRUE(b.allocate(16));
}

} // namespace
