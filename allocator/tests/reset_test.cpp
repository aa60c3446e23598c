// reset_test.cpp -- Arena::reset(): every policy and mode comes back as a fresh arena (stats,
// check(), the first allocation at the data offset, the user area kept, a file reset survives
// a reopen), the calling thread's own chunk and cache are given back first, and a reset is
// refused, changing nothing, while another opener or another thread's chunk is live.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <lfarena/arena.hpp>

#include "arena_test_support.hpp"
#include "opener_wait.hpp"

namespace {

using lfarena::Arena;
using lfarena::Block;
using lfarena::errc;
using lfarena::FreelistKind;
using lfarena::Options;
using lfarena::Status;
using lfarena_test::BackingKind;

Options opts(FreelistKind kind, bool checked, std::uint32_t chunk = 0) {
  Options o;
  o.capacity = 1u << 20;
  o.freelist = kind;
  o.checked = checked;
  o.thread_chunk = chunk;
  o.user_reserved = 32;
  return o;
}

// Forks a child that waits until the parent writes a byte to go[1] (the pipe is made here):
// returns in the child (0) once the byte came, in the parent at once (the child's pid; -1 if
// the pipe or the fork failed).
pid_t fork_held(int go[2]) {
  if (::pipe(go) != 0)
    return -1;
  const pid_t pid = ::fork();
  if (pid == 0) {
    char c = 0;
    (void)!::read(go[0], &c, 1);
  }
  return pid;
}

// A file arena of `kind` holding one live 64-byte block (`kept`): the fork tests' start.
Arena file_with_block(const lfarena_test::ScratchDir &dir, FreelistKind kind, Block &kept) {
  auto a = lfarena_test::make_arena(BackingKind::file, opts(kind, false), dir);
  EXPECT_TRUE(a) << a.message();
  if (!a)
    return Arena{};
  auto b = a->allocate(64);
  EXPECT_TRUE(b) << b.message();
  kept = b ? *b : Block{};
  return std::move(*a);
}

// Allocates a mix, frees every third block, leaves the rest live.
void churn(const Arena &a) {
  std::vector<lfarena::Block> live;
  for (std::uint32_t i = 0; i < 2000; ++i) {
    auto b = a.allocate(16 + (i * 40) % 300);
    ASSERT_TRUE(b) << b.message();
    live.push_back(*b);
  }
  for (std::size_t i = 0; i < live.size(); i += 3)
    ASSERT_TRUE(a.deallocate(live[i].offset, live[i].size));
}

void expect_fresh(const Arena &a) {
  const auto st = a.stats();
  EXPECT_EQ(st.allocated, 0u);
  EXPECT_EQ(st.discarded, 0u);
  EXPECT_EQ(st.leaked, 0u);
  auto rep = a.check();
  ASSERT_TRUE(rep) << rep.message();
  EXPECT_EQ(rep->live_bytes, 0u);
  EXPECT_EQ(rep->free_bytes, 0u);
  EXPECT_EQ(rep->free_segments, 0u);
  EXPECT_EQ(rep->chunk_reserved, 0u);
  EXPECT_EQ(rep->cache_reserved, 0u);
}

class Reset : public ::testing::TestWithParam<std::tuple<FreelistKind, bool, std::uint32_t>> {};

TEST_P(Reset, EveryByteIsFreeAgainAndTheArenaWorksAsNew) {
  auto [kind, checked, chunk] = GetParam();
  auto a = Arena::heap(opts(kind, checked, chunk));
  ASSERT_TRUE(a) << a.message();
  std::memcpy(a->user_area().data(), "user data", 10);
  churn(*a);
  ASSERT_TRUE(a->reset()) << a->reset().message();
  expect_fresh(*a);
  EXPECT_STREQ(reinterpret_cast<const char *>(a->user_area().data()), "user data");
  auto first = a->allocate(4096, 64); // above thread_chunk/4: the shared bump path
  ASSERT_TRUE(first);
  EXPECT_EQ(first->offset, a->stats().data_offset) << "the bump offset starts over";
  churn(*a); // and everything works again, chunks and caches included
  EXPECT_TRUE(a->check()) << a->check().message();
  ASSERT_TRUE(a->reset());
  expect_fresh(*a);
}

// The node words of blocks that were free before a reset are no nodes after it (helper-25).
// reset() leaves the data area as it was, so blocks handed out again held the old free nodes'
// keyed words; a user who copied its own live block (those words included), freed it and wrote
// the copy back through a dangling pointer made the next allocations hand out a live block a
// second time, and unchecked check() found nothing. A reset now draws a new node key.
TEST_P(Reset, NodeWordsFromBeforeAResetAreNoNodesAfterIt) {
  auto [kind, checked, chunk] = GetParam();
  Options o = opts(kind, checked, chunk);
  o.capacity = 1u << 16;
  auto made = Arena::heap(o);
  ASSERT_TRUE(made) << made.message();
  const Arena &a = *made;
  auto A = a.allocate(64), B = a.allocate(64), C = a.allocate(64);
  ASSERT_TRUE(A && B && C);
  ASSERT_TRUE(a.deallocate(A->offset, 64));
  ASSERT_TRUE(a.deallocate(B->offset, 64));
  ASSERT_TRUE(a.reset()) << a.reset().message();
  auto X = a.allocate(64), Y = a.allocate(64), Z = a.allocate(64), W = a.allocate(64);
  ASSERT_TRUE(X && Y && Z && W);
  for (std::uint32_t sz = 4096; sz >= 8; sz /= 2) // full: the next blocks come from the lists
    while (a.allocate(sz)) {
    }
  ASSERT_TRUE(a.deallocate(W->offset, 64));
  std::uint64_t *y = a.pointer<std::uint64_t>(Y->offset);
  for (int i = 2; i < 8; ++i) // the user writes its payload; words 0 and 1 are as handed out
    y[i] = 0x2222222222222222ull * static_cast<std::uint64_t>(i);
  std::uint64_t saved[8];
  std::memcpy(saved, y, sizeof saved);
  ASSERT_TRUE(a.deallocate(Y->offset, 64));
  lfarena_test::scribble(a, Y->offset, saved, sizeof saved); // the dangling write-back
  for (int i = 0; i < 4; ++i) {
    auto b = a.allocate(64);
    if (!b) {
      EXPECT_TRUE(b.code() == errc::out_of_memory || b.code() == errc::corrupt_freelist)
          << b.message();
      continue;
    }
    EXPECT_NE(b->offset, X->offset) << "live block X handed out again";
    EXPECT_NE(b->offset, Z->offset) << "live block Z handed out again";
  }
}

// A read-only opener is not seen by a writer's reset, which draws a new node key: its check()
// takes the key the header holds now (with the old one, every node freed after the reset was
// reported damaged).
TEST(ResetAfter, AReadOnlyOpenersCheckFollowsTheNewNodeKey) {
  lfarena_test::ScratchDir dir;
  Options o = opts(FreelistKind::pessimistic, false);
  {
    auto w = lfarena_test::make_arena(BackingKind::file, o, dir);
    ASSERT_TRUE(w) << w.message();
  }
  Options ro = o;
  ro.open_mode = lfarena::OpenMode::open_existing;
  ro.read_only = true;
  auto reader = Arena::open_file(dir.file("arena.bin"), ro);
  ASSERT_TRUE(reader) << reader.message();
  const pid_t pid = ::fork(); // the writer: its own process, its own open file description
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int code = 0;
    {
      Options rw = o;
      rw.open_mode = lfarena::OpenMode::open_existing;
      auto w = Arena::open_file(dir.file("arena.bin"), rw);
      if (!w || !w->reset()) {
        code = 2;
      } else {
        auto x = w->allocate(64), y = w->allocate(128), z = w->allocate(64);
        if (!x || !y || !z || !w->deallocate(x->offset, x->size) ||
            !w->deallocate(y->offset, y->size))
          code = 3;
      }
    } // a clean close
    ::_exit(code);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "writer status " << status;
  auto rep = reader->check();
  ASSERT_TRUE(rep) << rep.message();
  EXPECT_EQ(rep->free_segments, 2u);
}

INSTANTIATE_TEST_SUITE_P(
    PoliciesModesChunks, Reset,
    ::testing::Combine(::testing::Values(FreelistKind::none, FreelistKind::optimistic,
                                         FreelistKind::pessimistic, FreelistKind::segregated),
                       ::testing::Bool(), ::testing::Values(0u, 4096u)),
    [](const auto &info) {
      return lfarena_test::kind_name(std::get<0>(info.param)) +
             (std::get<1>(info.param) ? "Checked" : "Unchecked") +
             (std::get<2>(info.param) ? "Chunks" : "");
    });

TEST(ResetRefused, WhileAnotherThreadHoldsAChunk) {
  auto a = Arena::heap(opts(FreelistKind::segregated, false, 4096));
  ASSERT_TRUE(a);
  std::mutex m;
  std::condition_variable cv;
  bool holding = false, release = false;
  std::thread t([&] {
    ASSERT_TRUE(a->allocate(64)); // claims a slot and a chunk
    std::unique_lock<std::mutex> lock(m);
    holding = true;
    cv.notify_all();
    cv.wait(lock, [&] { return release; });
  });
  {
    std::unique_lock<std::mutex> lock(m);
    cv.wait(lock, [&] { return holding; });
  }
  const auto before = a->stats().allocated;
  auto r = a->reset();
  EXPECT_EQ(r.code(), errc::in_use) << r.message();
  EXPECT_NE(r.message().find("held by other threads"), std::string::npos) << r.message();
  EXPECT_EQ(a->stats().allocated, before) << "nothing changed";
  {
    std::lock_guard<std::mutex> lock(m);
    release = true;
  }
  cv.notify_all();
  t.join(); // the thread's exit gives its chunk back
  EXPECT_TRUE(a->reset()) << a->reset().message();
  expect_fresh(*a);
}

TEST(ResetRefused, WhileAnotherOpenerHasTheFile) {
  lfarena_test::ScratchDir dir;
  Options o = opts(FreelistKind::pessimistic, true);
  auto a = lfarena_test::make_arena(BackingKind::file, o, dir);
  ASSERT_TRUE(a) << a.message();
  churn(*a);
  o.open_mode = lfarena::OpenMode::open_existing;
  {
    auto b = Arena::open_file(dir.file("arena.bin"), o);
    ASSERT_TRUE(b) << b.message();
    auto r = a->reset();
    EXPECT_EQ(r.code(), errc::in_use) << r.message();
    EXPECT_NE(r.message().find("other read-write openers"), std::string::npos) << r.message();
  }
  ASSERT_TRUE(a->reset()) << a->reset().message();
  *a = Arena{}; // close
  auto c = Arena::open_file(dir.file("arena.bin"), o);
  ASSERT_TRUE(c) << c.message();
  EXPECT_FALSE(c->recovery().ran) << "a clean close after the reset";
  expect_fresh(*c);
}

// A fork child's private copy of a heap arena holds the parent's slots, whose owners live on
// only in the parent: the child may reset its copy.
TEST(ResetAfter, ForkTheChildResetsItsCopyDespiteTheParentsChunk) {
  auto a = Arena::heap(opts(FreelistKind::segregated, true, 4096));
  ASSERT_TRUE(a);
  ASSERT_TRUE(a->allocate(32)); // the parent holds a chunk
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    Status r = a->reset();
    const bool fresh = r && a->stats().allocated == 0 && a->check() &&
                       a->check()->chunk_reserved == 0 && a->allocate(32);
    ::_exit(fresh ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the child's reset failed";
  EXPECT_GT(a->stats().allocated, 0u) << "the parent's arena is its own";
}

// An opener that died without closing leaves a stale open count but no lock: it does not
// block a reset, which also puts the count right. (The dead process is forked before this one
// opens the file, so it never shares this opener's file description.)
TEST(ResetAfter, ADeadOpenerDoesNotBlockIt) {
  lfarena_test::ScratchDir dir;
  Options o = opts(FreelistKind::pessimistic, false);
  {
    auto w = lfarena_test::make_arena(BackingKind::file, o, dir);
    ASSERT_TRUE(w) << w.message();
  }
  o.open_mode = lfarena::OpenMode::open_existing;
  int go[2];
  const pid_t pid = fork_held(go);
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto b = Arena::open_file(dir.file("arena.bin"), o);
    ::_exit(b && b->allocate(64) ? 0 : 1); // dies holding its open count
  }
  auto a = Arena::open_file(dir.file("arena.bin"), o);
  ASSERT_TRUE(a) << a.message();
  churn(*a);
  char c = 'g';
  ASSERT_EQ(::write(go[1], &c, 1), 1);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  // The dead child's lock may outlive waitpid() (opener_wait.hpp): until it goes, the reset
  // rightly finds another opener. We hold the file ourselves, so retry the reset itself.
  lfarena::Status r;
  EXPECT_TRUE(lfarena_test::retry_until_dead_opener_gone([&] {
    r = a->reset();
    return r.code() != errc::in_use;
  })) << "the dead child's opener lock stays";
  ASSERT_TRUE(r) << r.message();
  expect_fresh(*a);
  *a = Arena{};
  auto again = Arena::open_file(dir.file("arena.bin"), o);
  ASSERT_TRUE(again) << again.message();
  EXPECT_FALSE(again->recovery().ran) << "the count was put right: a clean close";
  ::close(go[0]);
  ::close(go[1]);
}

// Another process opening the file while this one resets it again and again: its blocks are
// never handed out to the resetter (the reset holds the join lock; an opener that joined first
// makes the reset fail with in_use).
TEST(ResetAfter, AnOpenerRacingResetsNeverLosesItsBlocks) {
  lfarena_test::ScratchDir dir;
  Options o = opts(FreelistKind::pessimistic, true);
  o.capacity = 8u << 20;
  {
    auto w = lfarena_test::make_arena(BackingKind::file, o, dir);
    ASSERT_TRUE(w) << w.message();
  }
  o.open_mode = lfarena::OpenMode::open_existing;
  int go[2], enough[2];
  ASSERT_EQ(::pipe(go), 0);
  ASSERT_EQ(::pipe2(enough, O_NONBLOCK), 0);
  // Forked before this process opens the file: the other process has its own descriptions.
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    char c = 0;
    (void)!::read(go[0], &c, 1);
    int bad = 0;
    // At least 300 rounds, and on until the resetter has had enough successful resets.
    for (int round = 0; round < 20000 && bad == 0; ++round) {
      if (round >= 300 && ::read(enough[0], &c, 1) == 1)
        break;
      auto b = Arena::open_file(dir.file("arena.bin"), o);
      if (!b)
        ::_exit(2);
      std::vector<lfarena::Block> mine;
      for (int i = 0; i < 8; ++i)
        if (auto x = b->allocate(4096)) {
          std::memset(b->base() + x->offset, 'B', x->size);
          mine.push_back(*x);
        }
      for (const auto &x : mine) {
        for (std::uint32_t k = 0; k < x.size; ++k)
          bad += b->base()[x.offset + k] != std::byte{'B'} ? 1 : 0;
        bad += b->deallocate(x.offset, x.size) ? 0 : 1;
      }
    }
    ::_exit(bad == 0 ? 0 : 1);
  }
  auto a = Arena::open_file(dir.file("arena.bin"), o);
  ASSERT_TRUE(a) << a.message();
  char c = 'g';
  ASSERT_EQ(::write(go[1], &c, 1), 1);
  int status = 0;
  std::uint64_t resets = 0, refused = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (a->reset()) {
      if (++resets == 20)
        (void)!::write(enough[1], &c, 1);
      for (int i = 0; i < 16; ++i)
        if (auto x = a->allocate(4096))
          std::memset(a->base() + x->offset, 'A', x->size);
    } else {
      ++refused;
    }
  }
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "the other process found its blocks overwritten or could not free them (" << resets
      << " resets)";
  EXPECT_GE(resets, 20u) << "too few resets ran: the race was not exercised";
  EXPECT_GT(refused, 0u) << "no reset was ever refused: the other process never held the file";
  for (int fd : {go[0], go[1], enough[0], enough[1]})
    ::close(fd);
}

// After fork the child holds the file (with a description and an opener lock of its own, or,
// without /proc, sharing the parent's, when only the open count can tell). The child holds a
// live block; neither side may reset under the other.
TEST(ResetRefused, WhileAForkRelativeSharesTheFile) {
  lfarena_test::ScratchDir dir;
  Block kept;
  Arena a = file_with_block(dir, FreelistKind::pessimistic, kept);
  ASSERT_TRUE(a.valid() && kept.offset != 0);
  std::memset(a.base() + kept.offset, 0xAB, 64);
  int go[2], ack[2];
  ASSERT_EQ(::pipe(go), 0);
  ASSERT_EQ(::pipe(ack), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // The child's reset must be refused too (the parent holds the file), then it waits.
    const bool refused = a.reset().code() == errc::in_use;
    char c = refused ? 'y' : 'n';
    (void)!::write(ack[1], &c, 1);
    (void)!::read(go[0], &c, 1);
    a = Arena{}; // close: the count drops back to the parent's
    ::_exit(0);
  }
  char c = 0;
  ASSERT_EQ(::read(ack[0], &c, 1), 1);
  EXPECT_EQ(c, 'y') << "the child reset the file under its parent";
  auto r = a.reset();
  EXPECT_EQ(r.code(), errc::in_use) << r.message();
  EXPECT_EQ(static_cast<unsigned char>(a.base()[kept.offset]), 0xAB);
  c = 'g';
  ASSERT_EQ(::write(go[1], &c, 1), 1);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(a.reset()) << a.reset().message() << " (the relative has closed)";
  for (int fd : {go[0], go[1], ack[0], ack[1]})
    ::close(fd);
}

// The parent resets at once after fork() returns, before the child can have run any of its
// own code (helper-26): the child's open was counted only by its fork handler, so the parent
// saw an open count of 1, its reset succeeded, the child's live block was handed out again,
// and the child's later frees under the old node key left a file that failed to reopen. The
// count now goes up in the parent before the fork.
TEST(ResetRefused, RightAfterForkBeforeTheChildRuns) {
  lfarena_test::ScratchDir dir;
  Block kept;
  Arena a = file_with_block(dir, FreelistKind::segregated, kept);
  ASSERT_TRUE(a.valid() && kept.offset != 0);
  int go[2];
  const pid_t pid = fork_held(go);
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    a = Arena{}; // a clean close
    ::_exit(0);
  }
  auto r = a.reset(); // no handshake: the child may not have run yet
  EXPECT_EQ(r.code(), errc::in_use) << "reset under a live fork child: " << r.message();
  char c = 'g';
  ASSERT_EQ(::write(go[1], &c, 1), 1);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_TRUE(a.reset()) << a.reset().message() << " (the child has closed)";
  a = Arena{};
  Options again = opts(FreelistKind::segregated, false);
  again.open_mode = lfarena::OpenMode::open_existing;
  auto re = Arena::open_file(dir.file("arena.bin"), again);
  ASSERT_TRUE(re) << re.message();
  EXPECT_FALSE(re->recovery().ran) << "both closed cleanly: no recovery";
  EXPECT_TRUE(re->check()) << re->check().message();
  for (int fd : go)
    ::close(fd);
}

// Another thread loops reset() while this one (which never touches the arena) forks: a fork in
// the middle of a reset had the child's count, added by the prepare handler, overwritten by the
// reset's "one opener: us", so a later reset succeeded under the live child and wiped its
// blocks (helper-31: 9 of 10 attempts). A reset now runs with no fork in between.
TEST(ResetRefused, AForkDuringAnotherThreadsResetIsCounted) {
  int lost = 0, wiped = 0;
  for (int round = 0; round < 8; ++round) {
    lfarena_test::ScratchDir dir;
    Options o = opts(FreelistKind::segregated, true);
    o.capacity = 32u << 20; // a reset clears 1.5 MiB of bitmaps: forks often land inside
    auto a = lfarena_test::make_arena(BackingKind::file, o, dir);
    ASSERT_TRUE(a) << a.message();
    std::atomic<bool> stop{false}, started{false};
    std::thread resetter([&] {
      while (!stop.load(std::memory_order_relaxed)) {
        (void)a->reset();
        started.store(true, std::memory_order_release);
      }
    });
    while (!started.load(std::memory_order_acquire))
      std::this_thread::yield();
    int go[2];
    const pid_t pid = fork_held(go);
    ASSERT_GE(pid, 0);
    if (pid == 0)
      ::_exit(0); // without closing: still counted
    stop.store(true, std::memory_order_relaxed);
    resetter.join();
    const std::uint64_t count = lfarena::detail::load_acquire(
        lfarena::detail::RegionWords{a->base()}.word(lfarena::detail::hdr::open_count));
    lost += count != 2 ? 1 : 0;
    wiped += a->reset() ? 1 : 0;
    char c = 'g';
    ASSERT_EQ(::write(go[1], &c, 1), 1);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    for (int fd : go)
      ::close(fd);
  }
  EXPECT_EQ(lost, 0) << "rounds (of 8) whose fork child's open was not counted";
  EXPECT_EQ(wiped, 0) << "rounds (of 8) that reset the file under the live child";
}

TEST(ResetRefused, ReadOnlyAndEmptyHandles) {
  lfarena_test::ScratchDir dir;
  Options o = opts(FreelistKind::segregated, false);
  {
    auto w = lfarena_test::make_arena(BackingKind::file, o, dir);
    ASSERT_TRUE(w);
    churn(*w);
  }
  o.open_mode = lfarena::OpenMode::open_existing;
  o.read_only = true;
  auto r = Arena::open_file(dir.file("arena.bin"), o);
  ASSERT_TRUE(r) << r.message();
  EXPECT_EQ(r->reset().code(), errc::read_only);
  EXPECT_GT(r->stats().allocated, 0u);
  EXPECT_EQ(Arena{}.reset().code(), errc::empty_handle);
}

} // namespace
