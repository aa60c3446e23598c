// verify/crash/multiprocess_test.cpp -- several processes map one file arena read-write and
// allocate/free concurrently (docs/DESIGN.md §4 promise 7); a read-only process reads meanwhile.
//
// The parent creates the file, forks N writers and one reader, and releases them together
// through a start pipe (no sleeps). Each writer first allocates kHeld long-lived blocks (all
// writers at once; the parent waits for every writer's `ready` byte before releasing the next
// phase, so with `none`, where nothing is reused, the mix cannot exhaust the region first), then
// runs a seeded random allocate/free mix with per-process canaries, checks its long-lived
// blocks, and reports every block it still holds and closes cleanly. So every policy ends with
// at least N x kHeld surviving blocks to examine (the mix alone leaves few: with `none` or
// `optimistic` the region fills up and the mix frees nearly everything). The reader
// opens read-only, checks every mutator returns read_only, and samples stats() until the
// writers are done. Afterwards the parent reopens and verifies: no crash recovery was needed,
// check() passes, the writers' surviving blocks are pairwise disjoint, keep their canaries, and
// (checked mode) are exactly the live blocks. Sizes: ci 3 writers x 20000 ops per policy;
// nightly 3 x 10^6.
#include <sys/select.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "crash_support.hpp"

namespace {

using lfarena::Arena;
using lfarena::Block;
using lfarena::errc;
using lfarena::FreelistKind;
using lfarena::OpenMode;
using lfarena::Options;
using namespace lfarena_crash;

constexpr unsigned kWriters = 3;
constexpr unsigned kHeld = 128; // long-lived blocks per writer

std::uint64_t tag_of(unsigned writer) { return 0xabc000ull + writer; }

struct WriterPipes {
  int start, ready, mix, out;
};

[[noreturn]] void writer(const std::string &path, Options o, unsigned id, unsigned ops,
                         WriterPipes p) {
  char go = 0;
  if (::read(p.start, &go, 1) != 1)
    ::_exit(5);
  o.open_mode = OpenMode::open_existing;
  int code = 0;
  {
    auto arena = Arena::open_file(path, o);
    if (!arena)
      ::_exit(2);
    std::mt19937 rng(id * 7919u + 1);
    std::vector<Block> held;
    while (held.size() < kHeld) {
      auto b = arena->allocate(8 + rng() % 300, 8);
      if (!b)
        ::_exit(11); // the region has room for every writer's long-lived blocks
      fill_canary(*arena, *b, tag_of(id));
      held.push_back(*b);
    }
    if (::write(p.ready, "r", 1) != 1 || ::read(p.mix, &go, 1) != 1)
      ::_exit(5);
    std::vector<Block> live;
    for (unsigned op = 0; op < ops && code == 0; ++op) {
      if (live.empty() || rng() % 2 == 0) {
        auto b = arena->allocate(8 + rng() % 300, 8);
        if (b) {
          fill_canary(*arena, *b, tag_of(id));
          live.push_back(*b);
          continue;
        }
        if (b.code() != errc::out_of_memory)
          code = 6;
        if (live.empty())
          continue;
      }
      const std::size_t i = rng() % live.size();
      if (!canary_ok(*arena, live[i], tag_of(id)))
        code = 7; // someone wrote into our block
      if (!arena->deallocate(live[i].offset, live[i].size))
        code = 8;
      live[i] = live.back();
      live.pop_back();
    }
    for (const Block &b : held)
      if (!canary_ok(*arena, b, tag_of(id)))
        code = 12; // someone wrote into a long-lived block during the mix
    for (const Block &b : held)
      send(p.out, Kind::allocated, b.offset, b.size);
    for (const Block &b : live)
      send(p.out, Kind::allocated, b.offset, b.size);
  } // clean close
  send(p.out, Kind::done, 0, 0);
  ::_exit(code);
}

[[noreturn]] void reader(const std::string &path, Options o, int start, int stop) {
  char go = 0;
  if (::read(start, &go, 1) != 1)
    ::_exit(5);
  o.open_mode = OpenMode::open_existing;
  o.read_only = true;
  auto arena = Arena::open_file(path, o);
  if (!arena)
    ::_exit(2);
  if (arena->allocate(16).code() != errc::read_only)
    ::_exit(9);
  if (arena->deallocate(arena->stats().data_offset, 16).code() != errc::read_only)
    ::_exit(9);
  // Sample until the parent closes the stop pipe (all writers are done).
  for (;;) {
    const auto s = arena->stats();
    // Each field is exact at some instant (stats.hpp); discarded is read after the bump word,
    // so only its bound by the whole data area holds while writers run.
    if (s.allocated + s.remaining + s.data_offset != s.capacity ||
        s.discarded > s.capacity - s.data_offset)
      ::_exit(10);
    char c;
    fd_set fds;
    FD_ZERO(&fds);
    FD_SET(stop, &fds);
    timeval zero{};
    if (::select(stop + 1, &fds, nullptr, nullptr, &zero) > 0 && ::read(stop, &c, 1) == 0)
      break;
  }
  ::_exit(0);
}

void run(FreelistKind kind, bool checked) {
  const std::string path = temp_path(checked ? "mp_checked" : "mp_unchecked");
  ::unlink(path.c_str());
  Options o;
  o.capacity = 512 << 10;
  o.freelist = kind;
  o.checked = checked;
  o.open_mode = OpenMode::create_new;
  { ASSERT_TRUE(Arena::open_file(path, o).ok()); }
  const unsigned ops = scale(20000, 1000000);

  int start[2], stop[2], out[2], ready[2], mix[2];
  ASSERT_EQ(::pipe(start), 0);
  ASSERT_EQ(::pipe(stop), 0);
  ASSERT_EQ(::pipe(out), 0);
  ASSERT_EQ(::pipe(ready), 0);
  ASSERT_EQ(::pipe(mix), 0);
  std::vector<pid_t> pids;
  for (unsigned w = 0; w < kWriters; ++w) {
    const pid_t p = ::fork();
    if (p == 0) {
      ::close(out[0]);
      ::close(start[1]);
      ::close(stop[1]);
      ::close(ready[0]);
      ::close(mix[1]);
      writer(path, o, w, ops, WriterPipes{start[0], ready[1], mix[0], out[1]});
    }
    pids.push_back(p);
  }
  ::close(ready[1]);
  ::close(mix[0]);
  const pid_t reader_pid = ::fork();
  if (reader_pid == 0) {
    // Every end it does not use: if the reader kept out[1], a writer that died without its
    // `done` message would leave the parent waiting for output forever (and the reader
    // sampling forever, as it waits for the parent).
    ::close(out[0]);
    ::close(out[1]);
    ::close(start[1]);
    ::close(stop[1]);
    ::close(ready[0]);
    ::close(mix[1]);
    reader(path, o, start[0], stop[0]);
  }
  ::close(out[1]);
  ::close(start[0]);
  ::close(stop[0]);
  const char go[kWriters + 1] = {};
  ASSERT_EQ(::write(start[1], go, sizeof go), static_cast<ssize_t>(sizeof go)); // release all
  ::close(start[1]);
  // Every writer holds its long-lived blocks: release the mix. (A writer that died first
  // closes its end early: the read then ends short and the mix is released anyway; its exit
  // status fails the test below.)
  char r[kWriters];
  std::size_t got = 0;
  for (ssize_t n; got < kWriters && (n = ::read(ready[0], r + got, kWriters - got)) > 0;)
    got += static_cast<std::size_t>(n);
  ::close(ready[0]);
  ASSERT_EQ(::write(mix[1], go, kWriters), static_cast<ssize_t>(kWriters));
  ::close(mix[1]);

  Msg m{};
  unsigned done = 0;
  std::vector<Block> pending;
  while (done < kWriters && receive(out[0], m)) {
    if (m.kind == Kind::allocated)
      pending.push_back({m.offset, m.size});
    else if (m.kind == Kind::done)
      ++done;
  }
  ::close(out[0]);
  for (const pid_t p : pids) {
    int status = 0;
    ::waitpid(p, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "writer status " << status;
  }
  ::close(stop[1]); // the reader sees end of file and exits
  int rstatus = 0;
  ::waitpid(reader_pid, &rstatus, 0);
  EXPECT_TRUE(WIFEXITED(rstatus) && WEXITSTATUS(rstatus) == 0) << "reader status " << rstatus;

  Options reopen = o;
  reopen.open_mode = OpenMode::open_existing;
  auto arena = Arena::open_file(path, reopen);
  ASSERT_TRUE(arena) << arena.message();
  EXPECT_FALSE(arena->recovery().ran) << "every writer closed cleanly";
  auto report = arena->check();
  ASSERT_TRUE(report) << report.message();
  std::sort(pending.begin(), pending.end(),
            [](const Block &a, const Block &b) { return a.offset < b.offset; });
  std::uint64_t live = 0;
  for (std::size_t i = 0; i < pending.size(); ++i) {
    live += pending[i].size;
    if (i > 0) {
      ASSERT_LE(pending[i - 1].offset + pending[i - 1].size, pending[i].offset)
          << "two processes hold overlapping blocks";
    }
    bool intact = false;
    for (unsigned w = 0; w < kWriters && !intact; ++w)
      intact = canary_ok(*arena, pending[i], tag_of(w));
    EXPECT_TRUE(intact) << "block at " << pending[i].offset << " lost its canary";
  }
  EXPECT_GE(pending.size(), std::size_t{kWriters} * kHeld) << "every long-lived block reported";
  if (checked)
    EXPECT_EQ(report->live_bytes, live);
  else
    EXPECT_GE(report->live_bytes, live);
  std::printf("multi-process: %u writers x %u ops, policy %u, checked %d: %zu blocks (%llu bytes) "
              "survive, check ok\n",
              kWriters, ops, static_cast<unsigned>(kind), checked, pending.size(),
              static_cast<unsigned long long>(live));
  ::unlink(path.c_str());
}

TEST(MultiProcess, OptimisticChecked) { run(FreelistKind::optimistic, true); }
TEST(MultiProcess, OptimisticUnchecked) { run(FreelistKind::optimistic, false); }
TEST(MultiProcess, PessimisticChecked) { run(FreelistKind::pessimistic, true); }
TEST(MultiProcess, PessimisticUnchecked) { run(FreelistKind::pessimistic, false); }
TEST(MultiProcess, NoneChecked) { run(FreelistKind::none, true); }
TEST(MultiProcess, NoneUnchecked) { run(FreelistKind::none, false); }
TEST(MultiProcess, SegregatedChecked) { run(FreelistKind::segregated, true); }
TEST(MultiProcess, SegregatedUnchecked) { run(FreelistKind::segregated, false); }

} // namespace
