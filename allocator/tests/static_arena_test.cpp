// static_arena_test.cpp -- an Arena handle with static storage duration, as a user's program may
// keep one at namespace scope. This file's initialisers run before the library's (the library is
// linked after the tests), so the handle is destroyed at exit after the library's own statics;
// its destruction must not touch any of them. (The list of open arenas for the fork handlers was
// a plain global vector, already freed by then: ASan reported a heap use after free at exit of
// this test's process, found by an outside review; now the list is never destroyed.) The
// assertion that matters is the process's clean exit, which ctest checks, under ASan.
#include <gtest/gtest.h>

#include <lfarena/arena.hpp>

namespace {

lfarena::Arena g_static_arena; // destroyed at exit, holding the arena made below

TEST(StaticArena, AHandleDestroyedAtExitStillClosesItsArena) {
  lfarena::Options o;
  o.capacity = 1 << 16;
  auto a = lfarena::Arena::heap(o);
  ASSERT_TRUE(a) << a.message();
  g_static_arena = std::move(*a);
  ASSERT_TRUE(g_static_arena.valid());
  EXPECT_TRUE(g_static_arena.allocate(64));
}

} // namespace
