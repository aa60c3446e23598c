// Unit tests of the guessed bump (detail/bump.hpp, Arena::allocate's fast path): each thread
// keeps its guess of the bump word from its last bump and starts its CAS with it instead of a
// load. The guess is only ever a guess: every test here makes it wrong (a rollback or reset
// lowered the word, another thread, opener or process moved it, another arena's word) and
// checks that the block still comes from the word as it really is (docs/DESIGN.md §5.1).
#include <lfarena/arena.hpp>

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <thread>

#include "arena_test_support.hpp"

namespace {

using lfarena::Arena;
using lfarena::Block;
using lfarena::errc;
using lfarena::Options;
using lfarena_test::BackingKind;

Options small() {
  Options o;
  o.capacity = 64 << 10;
  return o;
}

class BumpGuessTest : public testing::TestWithParam<BackingKind> {
protected:
  Arena open(Options o = small()) {
    auto r = lfarena_test::make_arena(GetParam(), o, dir_, "guess" + std::to_string(n_++));
    EXPECT_TRUE(r.ok()) << r.message();
    return r.ok() ? *r : Arena();
  }
  lfarena_test::ScratchDir dir_;
  int n_ = 0;
};

// The guess (b's end) is above the word after the rollback: the CAS fails, and the next block
// is b's bytes again, not the bytes after them.
TEST_P(BumpGuessTest, AGuessAboveARolledBackWordTakesTheRolledBackBytes) {
  Arena a = open();
  auto x = a.allocate(64);
  auto b = a.allocate(64);
  ASSERT_TRUE(x && b);
  ASSERT_TRUE(a.deallocate(b->offset, b->size));
  auto c = a.allocate(64);
  ASSERT_TRUE(c) << c.message();
  EXPECT_EQ(c->offset, b->offset);
  EXPECT_EQ(a.stats().data_offset + a.stats().allocated, std::uint64_t{c->offset} + 64);
}

// Filling the arena leaves a guess at the capacity; after reset() the word is back at the start
// and the next bump must not be refused on the guess.
TEST_P(BumpGuessTest, AGuessFromAFullArenaDoesNotRefuseTheFirstBumpAfterReset) {
  Arena a = open();
  std::uint32_t first = 0;
  for (;;) {
    auto r = a.allocate(1024);
    if (!r) {
      EXPECT_EQ(r.code(), errc::out_of_memory);
      break;
    }
    if (first == 0)
      first = r->offset;
  }
  ASSERT_TRUE(a.reset());
  const Block b = a.try_allocate(1024);
  EXPECT_EQ(b.offset, first);
}

// One guess per thread, two arenas: alternating between them each keeps its own dense sequence.
TEST_P(BumpGuessTest, TwoArenasInTurnEachBumpFromTheirOwnWord) {
  Arena a = open(), b = open();
  std::uint32_t last_a = 0, last_b = 0;
  for (int i = 0; i < 8; ++i) {
    auto x = a.allocate(48), y = b.allocate(48);
    ASSERT_TRUE(x && y);
    if (i > 0) { // braces: EXPECT_EQ is an if/else
      EXPECT_EQ(x->offset, last_a + 48);
      EXPECT_EQ(y->offset, last_b + 48);
    }
    last_a = x->offset;
    last_b = y->offset;
  }
}

// Another thread moves the word between two of this thread's bumps: this thread's guess is
// behind, and its next block starts where the other thread's ended.
TEST_P(BumpGuessTest, AGuessBehindAnotherThreadsBumpTakesTheBytesAfterIt) {
  Arena a = open();
  auto x = a.allocate(64);
  ASSERT_TRUE(x);
  Block other{};
  std::thread([&] { other = a.try_allocate(128); }).join();
  ASSERT_EQ(other.offset, x->offset + 64);
  auto y = a.allocate(64);
  ASSERT_TRUE(y);
  EXPECT_EQ(y->offset, other.offset + 128);
}

INSTANTIATE_TEST_SUITE_P(Backings, BumpGuessTest, testing::ValuesIn(lfarena_test::kAllBackings),
                         [](const auto &info) { return lfarena_test::backing_name(info.param); });

// Two openers of one file are two arenas of this thread: each guess is of its own opener, and
// both are behind once the other opener bumped.
TEST(BumpGuessFile, TwoOpenersOfOneFileNeverHandOutTheSameBytes) {
  lfarena_test::ScratchDir dir;
  Options o = small();
  o.open_mode = lfarena::OpenMode::create_new;
  auto a = Arena::open_file(dir.file("two.bin"), o);
  ASSERT_TRUE(a) << a.message();
  o.open_mode = lfarena::OpenMode::open_existing;
  auto b = Arena::open_file(dir.file("two.bin"), o);
  ASSERT_TRUE(b) << b.message();
  std::uint32_t end = 0;
  for (int i = 0; i < 6; ++i) {
    const Arena &who = i % 2 == 0 ? *a : *b;
    auto r = who.allocate(64);
    ASSERT_TRUE(r) << r.message();
    if (end != 0) {
      EXPECT_EQ(r->offset, end) << "bump " << i;
    }
    end = r->offset + 64;
  }
}

// A fork child inherits the parent's guess; its bump moves the shared file's word, so the
// parent's guess is behind when it bumps next.
TEST(BumpGuessFile, AForkChildsBumpMovesTheParentsNextBlock) {
  lfarena_test::ScratchDir dir;
  Options o = small();
  o.open_mode = lfarena::OpenMode::create_new;
  auto a = Arena::open_file(dir.file("fork.bin"), o);
  ASSERT_TRUE(a) << a.message();
  auto x = a->allocate(64);
  ASSERT_TRUE(x);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const Block b = a->try_allocate(128);
    ::_exit(b.offset == x->offset + 64 ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the child's block was wrong";
  auto y = a->allocate(64);
  ASSERT_TRUE(y);
  EXPECT_EQ(y->offset, x->offset + 64 + 128);
}

} // namespace
