// verify/crash/open_live_test.cpp -- a healthy file in use is never refused on open
// (docs/DESIGN.md §4 promise 5: reopen validation must not mistake concurrent change for damage).
//
// Two writer processes allocate and free on one file arena without pause (random sizes, frees in
// random order: bump rollbacks, discarded bytes, freelist heads all change all the time), while
// the parent opens the same file again and again, read-only and read-write, closing each handle
// at once. Every open must succeed: the mutable header words (bump offset, discarded bytes, list
// heads) change between any two reads, and only an opener that is alone may check them against
// each other. Sizes: ci 20000 read-only + 4000 read-write opens per policy (sanitizer builds a
// tenth); nightly 10x.
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "crash_support.hpp"

namespace {

using lfarena::Arena;
using lfarena::Block;
using lfarena::FreelistKind;
using lfarena::OpenMode;
using lfarena::Options;
using namespace lfarena_crash;

constexpr unsigned kWriters = 2;
#if defined(LFARENA_ASAN) || defined(LFARENA_TSAN)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

Options options_for(FreelistKind kind) {
  Options o;
  // `none` discards every freed block that is not the last: room for the whole run (pages the
  // writers never touch cost nothing).
  o.capacity = kind == FreelistKind::none ? (kSanitized ? 64u << 20 : 1u << 30) : 4u << 20;
  o.freelist = kind;
  o.open_mode = OpenMode::open_existing;
  return o;
}

// Allocates and frees until the parent closes the stop pipe; exits 0, or non-zero on an error.
[[noreturn]] void writer(const std::string &path, const Options &o, unsigned id, int ready,
                         int stop) {
  int code = 0;
  {
    auto arena = Arena::open_file(path, o);
    if (!arena)
      ::_exit(2);
    if (::write(ready, "r", 1) != 1)
      ::_exit(3);
    std::mt19937 rng(id * 7919u + 17);
    std::vector<Block> live;
    for (unsigned op = 0; code == 0; ++op) {
      if (op % 256 == 0) {
        pollfd p{stop, POLLIN, 0};
        if (::poll(&p, 1, 0) > 0)
          break; // end of file: the parent is done
      }
      // Few live blocks: then a free changes the discarded bytes by about as much as the whole
      // live set, and a rollback moves the bump offset below a freshly inserted head.
      if (live.size() < 4 && (live.empty() || rng() % 2 == 0)) {
        auto b = arena->allocate(8 + rng() % 200);
        if (b)
          live.push_back(*b);
        else if (b.code() != lfarena::errc::out_of_memory)
          code = 4;
        continue;
      }
      const std::size_t i = rng() % live.size();
      if (!arena->deallocate(live[i].offset, live[i].size))
        code = 5;
      live[i] = live.back();
      live.pop_back();
    }
    for (const Block &b : live)
      (void)arena->deallocate(b.offset, b.size);
  }
  ::_exit(code);
}

void run(FreelistKind kind) {
  // tmpfs where there is one: every read-write close syncs the file (msync), a no-op there.
  const std::string path =
      ::access("/dev/shm", W_OK) == 0
          ? "/dev/shm/lfarena_open_live_" + std::to_string(::getpid()) + ".arena"
          : temp_path("open_live");
  ::unlink(path.c_str());
  Options create = options_for(kind);
  create.open_mode = OpenMode::create_new;
  { ASSERT_TRUE(Arena::open_file(path, create).ok()); }
  const Options o = options_for(kind);

  int ready[2], stop[2];
  ASSERT_EQ(::pipe(ready), 0);
  ASSERT_EQ(::pipe(stop), 0);
  std::vector<pid_t> pids;
  for (unsigned w = 0; w < kWriters; ++w) {
    const pid_t p = ::fork();
    if (p == 0) {
      ::close(ready[0]);
      ::close(stop[1]);
      writer(path, o, w, ready[1], stop[0]);
    }
    pids.push_back(p);
  }
  ::close(ready[1]);
  ::close(stop[0]);
  char c;
  for (unsigned w = 0; w < kWriters; ++w)
    ASSERT_EQ(::read(ready[0], &c, 1), 1) << "a writer could not open the file";
  ::close(ready[0]);

  // Sanitizer builds open a tenth as often: under ASan every open poisons the region's free
  // tail (one shadow byte per 8), which dominates.
  const unsigned slow = kSanitized ? 10 : 1;
  const unsigned read_only_opens = scale(20000, 200000) / slow,
                 read_write_opens = scale(4000, 40000) / slow;
  unsigned refused = 0;
  std::string first_error;
  for (unsigned i = 0; i < read_only_opens + read_write_opens; ++i) {
    Options mine = o;
    mine.read_only = i % 6 != 5; // five read-only opens to one read-write open
    auto a = Arena::open_file(path, mine);
    if (!a) {
      if (refused++ == 0)
        first_error = a.message();
    }
  }
  ::close(stop[1]); // writers see end of file and close cleanly
  for (const pid_t p : pids) {
    int status = 0;
    ::waitpid(p, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "writer status " << status;
  }
  EXPECT_EQ(refused, 0u) << "a healthy file in use was refused, first: " << first_error;
  auto a = Arena::open_file(path, o);
  ASSERT_TRUE(a) << a.message();
  EXPECT_FALSE(a->recovery().ran);
  auto rep = a->check();
  EXPECT_TRUE(rep) << rep.message();
  std::printf("open while in use: %u opens (policy %u) while %u writers ran, %u refused\n",
              read_only_opens + read_write_opens, static_cast<unsigned>(kind), kWriters, refused);
  ::unlink(path.c_str());
}

TEST(OpenWhileInUse, NoneIsNeverRefused) { run(FreelistKind::none); }
TEST(OpenWhileInUse, PessimisticIsNeverRefused) { run(FreelistKind::pessimistic); }
TEST(OpenWhileInUse, SegregatedIsNeverRefused) { run(FreelistKind::segregated); }

} // namespace
