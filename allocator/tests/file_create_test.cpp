// file_create_test.cpp -- creating an arena file: concurrent creators of one path in one process
// (both succeed: one creates, the other opens what it created), and temporaries left behind by a
// crashed creator never block a later create.
#include <unistd.h>

#include <fstream>
#include <latch>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include <lfarena/arena.hpp>

#include "arena_test_support.hpp"

namespace {

using lfarena::Arena;
using lfarena::OpenMode;
using lfarena::Options;

Options small_file(OpenMode mode) {
  Options o;
  o.capacity = 64 << 10;
  o.open_mode = mode;
  return o;
}

TEST(FileCreate, TwoThreadsCreatingOnePathBothGetTheSameArena) {
  lfarena_test::ScratchDir dir;
  const std::string path = dir.file("race.arena");
  for (int round = 0; round < 300; ++round) {
    SCOPED_TRACE(round);
    ::unlink(path.c_str());
    std::latch start(2);
    lfarena::Result<Arena> got[2] = {Arena(), Arena()};
    std::thread t[2];
    for (int i = 0; i < 2; ++i)
      t[i] = std::thread([&, i] {
        start.arrive_and_wait();
        got[i] = Arena::open_file(path, small_file(OpenMode::open_or_create));
      });
    for (auto &th : t)
      th.join();
    ASSERT_TRUE(got[0]) << got[0].message();
    ASSERT_TRUE(got[1]) << got[1].message();
    auto b = got[0]->allocate(64);
    ASSERT_TRUE(b) << b.message();
    EXPECT_EQ(got[1]->stats().allocated, got[0]->stats().allocated) << "two different files";
  }
}

TEST(FileCreate, CreateNewFromTwoThreadsHasExactlyOneWinner) {
  lfarena_test::ScratchDir dir;
  const std::string path = dir.file("race-new.arena");
  for (int round = 0; round < 100; ++round) {
    ::unlink(path.c_str());
    std::latch start(2);
    lfarena::Result<Arena> got[2] = {Arena(), Arena()};
    std::thread t[2];
    for (int i = 0; i < 2; ++i)
      t[i] = std::thread([&, i] {
        start.arrive_and_wait();
        got[i] = Arena::open_file(path, small_file(OpenMode::create_new));
      });
    for (auto &th : t)
      th.join();
    ASSERT_NE(got[0].ok(), got[1].ok()) << got[0].message() << " / " << got[1].message();
    const auto &loser = got[0] ? got[1] : got[0];
    EXPECT_EQ(loser.code(), lfarena::errc::file_exists) << loser.message();
  }
}

// A creator killed before it linked its file into place leaves its temporary behind; the names
// an older build used were <path>.creating.<pid>, and in containers the next creator often has
// the same pid.
TEST(FileCreate, StaleTemporariesDoNotBlockCreation) {
  lfarena_test::ScratchDir dir;
  const std::string path = dir.file("stale.arena");
  for (const std::string &stale : {path + ".creating." + std::to_string(::getpid()),
                                   path + ".creating." + std::to_string(::getpid()) + ".0"}) {
    std::ofstream(stale) << "half-written";
  }
  auto a = Arena::open_file(path, small_file(OpenMode::create_new));
  ASSERT_TRUE(a) << a.message();
  EXPECT_TRUE(a->allocate(8));
}

} // namespace
