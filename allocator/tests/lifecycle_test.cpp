// lifecycle_test.cpp -- process and thread lifecycles around thread-local chunks (the contract in
// docs/DESIGN.md §4 promise 9): arena ids never alias however many arenas a process makes, a fork
// child never releases or allocates from its parent's chunks, thread exit works in any
// thread_local destruction order, and chunk owners stay unique across PID namespaces (two
// containers whose programs both run as PID 1 on one shared file).
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <latch>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <lfarena/arena.hpp>

#include "arena_test_support.hpp"

namespace {

using lfarena::Arena;
using lfarena::Block;
using lfarena::FreelistKind;
using lfarena::OpenMode;
using lfarena::Options;

Options chunked_file(std::uint32_t chunk = 4096) {
  Options o;
  o.capacity = 1 << 20;
  o.thread_chunk = chunk;
  o.freelist = FreelistKind::none;
  o.open_mode = OpenMode::open_or_create;
  return o;
}

// Fails the test if two blocks of `blocks` overlap.
void expect_disjoint(std::vector<Block> blocks) {
  std::sort(blocks.begin(), blocks.end(),
            [](const Block &x, const Block &y) { return x.offset < y.offset; });
  for (std::size_t i = 1; i < blocks.size(); ++i)
    EXPECT_LE(blocks[i - 1].offset + blocks[i - 1].size, blocks[i].offset)
        << "blocks at " << blocks[i - 1].offset << " and " << blocks[i].offset << " overlap";
}

// Reads exactly n bytes (the peer writes whole messages).
bool read_exact(int fd, void *buf, std::size_t n) {
  auto *p = static_cast<char *>(buf);
  while (n > 0) {
    const ssize_t r = ::read(fd, p, n);
    if (r <= 0)
      return false;
    p += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}
bool write_exact(int fd, const void *buf, std::size_t n) {
  return ::write(fd, buf, n) == static_cast<ssize_t>(n);
}

std::uint32_t owned_slots(const Arena &a) {
  const lfarena::detail::RegionWords mem{a.base()};
  std::uint32_t n = 0;
  for (std::uint32_t i = 0; i < lfarena::detail::kChunkSlots; ++i)
    n += lfarena::detail::load_acquire(mem.word(lfarena::detail::slot_owner_at(i))) != 0;
  return n;
}

// H1 holds a live chunk in another thread; 65,535 arenas later a second handle H2 on the same
// file gets an id equal to H1's modulo 2^16 (ids are sequential). Closing H2 must not release
// H1's chunk while its thread keeps allocating from it.
TEST(Lifecycle, ArenaIdsNeverAliasAfterManyArenas) {
  lfarena_test::ScratchDir dir;
  const std::string path = dir.file("ids.arena");
  auto h1 = Arena::open_file(path, chunked_file());
  ASSERT_TRUE(h1) << h1.message();
  std::latch has_chunk(1), go(1);
  std::vector<Block> theirs;
  std::thread t([&] {
    theirs.push_back(*h1->allocate(16));
    has_chunk.count_down();
    go.wait();
    for (int i = 0; i < 20; ++i)
      theirs.push_back(*h1->allocate(16));
  });
  has_chunk.wait();
  Options tiny;
  tiny.capacity = 4096;
  for (int i = 0; i < 65535; ++i)
    ASSERT_TRUE(Arena::heap(tiny).ok());
  {
    auto h2 = Arena::open_file(path, chunked_file());
    ASSERT_TRUE(h2) << h2.message();
  } // closing H2 gives back H2's chunks only (it has none)
  std::vector<Block> mine;
  for (int i = 0; i < 20; ++i)
    mine.push_back(*h1->allocate(64));
  go.count_down();
  t.join();
  std::vector<Block> all = theirs;
  all.insert(all.end(), mine.begin(), mine.end());
  expect_disjoint(all);
  auto rep = h1->check();
  EXPECT_TRUE(rep) << rep.message();
}

// A thread_local constructed before the thread's first chunk allocation is destroyed after the
// chunk registry; its destructor still allocates. That allocation must work (from the shared
// path) and leave no slot claimed.
struct AllocatesAtThreadExit {
  const Arena *arena = nullptr;
  ~AllocatesAtThreadExit();
};
Block g_exit_block;
bool g_exit_ok = false;
AllocatesAtThreadExit::~AllocatesAtThreadExit() {
  if (arena == nullptr)
    return;
  auto b = arena->allocate(24);
  g_exit_ok = b.ok();
  if (b)
    g_exit_block = *b;
}
thread_local AllocatesAtThreadExit t_allocates_at_exit;

TEST(Lifecycle, ThreadLocalDestructorMayAllocateAfterTheChunkRegistryIsGone) {
  for (const bool checked : {false, true}) {
    SCOPED_TRACE(checked);
    Options o = chunked_file();
    o.checked = checked;
    auto a = Arena::heap(o);
    ASSERT_TRUE(a) << a.message();
    g_exit_ok = false;
    Block first;
    std::thread t([&] {
      t_allocates_at_exit.arena = &*a; // constructed before the chunk registry
      first = *a->allocate(16);
    });
    t.join();
    ASSERT_TRUE(g_exit_ok) << "the allocation in the thread_local destructor failed";
    expect_disjoint({first, g_exit_block});
    EXPECT_EQ(owned_slots(*a), 0u) << "a slot stayed claimed after its thread exited";
    auto rep = a->check();
    ASSERT_TRUE(rep) << rep.message();
    EXPECT_EQ(rep->chunk_reserved, 0u);
    EXPECT_EQ(rep->live_bytes, first.size + g_exit_block.size);
  }
}

// A child that exits (running thread_local destructors) without touching the arena must not
// give back its parent's chunk tail or free its slot.
TEST(Fork, ChildExitDoesNotReleaseTheParentsChunk) {
  lfarena_test::ScratchDir dir;
  auto a = Arena::open_file(dir.file("fork-exit.arena"), chunked_file());
  ASSERT_TRUE(a) << a.message();
  std::vector<Block> blocks{*a->allocate(16)};
  const pid_t pid = ::fork();
  if (pid == 0)
    std::exit(0); // thread_local and static destructors run in the child
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  for (int i = 0; i < 20; ++i)
    blocks.push_back(*a->allocate(16)); // from the parent's chunk
  blocks.push_back(*a->allocate(2048)); // too big for chunks: the shared bump
  expect_disjoint(blocks);
  EXPECT_EQ(owned_slots(*a), 1u) << "the parent's slot was freed by the child";
  auto rep = a->check();
  EXPECT_TRUE(rep) << rep.message();
}

// Parent and child both allocate after a fork: the child must not allocate from the chunk it
// inherited (the parent keeps using it), so their blocks never overlap.
TEST(Fork, ParentAndChildAllocateDistinctBlocks) {
  for (const bool checked : {false, true}) {
    SCOPED_TRACE(checked);
    lfarena_test::ScratchDir dir;
    Options o = chunked_file();
    o.checked = checked;
    auto a = Arena::open_file(dir.file("fork-both.arena"), o);
    ASSERT_TRUE(a) << a.message();
    std::vector<Block> parent{*a->allocate(16)};
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::close(fds[0]);
      int code = 0;
      for (int i = 0; i < 20 && code == 0; ++i) {
        auto b = a->allocate(16);
        if (!b || !write_exact(fds[1], &*b, sizeof(Block)))
          code = 3;
      }
      *a = Arena(); // the child's copy of the handle closes: only the child's chunks go back
      std::exit(code);
    }
    ::close(fds[1]);
    for (int i = 0; i < 20; ++i)
      parent.push_back(*a->allocate(16));
    std::vector<Block> child;
    Block b;
    while (read_exact(fds[0], &b, sizeof b))
      child.push_back(b);
    ::close(fds[0]);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ASSERT_EQ(child.size(), 20u);
    std::vector<Block> all = parent;
    all.insert(all.end(), child.begin(), child.end());
    expect_disjoint(all);
    for (int i = 0; i < 20; ++i)
      parent.push_back(*a->allocate(16)); // the parent's chunk is still its own
    expect_disjoint(parent);
    auto rep = a->check();
    ASSERT_TRUE(rep) << rep.message();
    if (checked) {
      EXPECT_EQ(rep->live_bytes, 16u * (parent.size() + child.size()));
    }
  }
}

// Runs fn() as PID 1 of a new PID namespace (a container's view); returns its exit status, or
// -1 if this machine does not allow it (then the caller skips).
template <class Fn> pid_t spawn_as_pid1(Fn fn) {
  const pid_t outer = ::fork();
  if (outer != 0)
    return outer;
  if (::unshare(CLONE_NEWPID) != 0)
    ::_exit(77);
  const pid_t inner = ::fork();
  if (inner == 0)
    ::_exit(::getpid() == 1 ? fn() : 78);
  ::close_range(3, ~0u, 0); // the middle process holds no pipe end: EOFs arrive when they should
  int status = 0;
  if (::waitpid(inner, &status, 0) != inner || !WIFEXITED(status))
    ::_exit(79);
  ::_exit(WEXITSTATUS(status));
}

// Two containers share a volume and both run their program as PID 1. A holds a chunk; B opens
// with chunks off, closes and reopens: B's close must not release A's chunk, so B's blocks and
// A's later chunk blocks never overlap.
TEST(Lifecycle, ChunkOwnersAreUniqueAcrossPidNamespaces) {
  lfarena_test::ScratchDir dir;
  const std::string path = dir.file("pidns.arena");
  { ASSERT_TRUE(Arena::open_file(path, chunked_file())); }
  int a_out[2], a_go[2], b_out[2];
  ASSERT_EQ(::pipe(a_out), 0);
  ASSERT_EQ(::pipe(a_go), 0);
  ASSERT_EQ(::pipe(b_out), 0);
  const pid_t a = spawn_as_pid1([&] {
    ::close(a_out[0]); // only our ends: a dead parent then means EOF, never a hang
    ::close(a_go[1]);
    ::close(b_out[0]);
    ::close(b_out[1]);
    auto arena = Arena::open_file(path, chunked_file());
    if (!arena)
      return 2;
    auto first = arena->allocate(16);
    if (!first || !write_exact(a_out[1], &*first, sizeof(Block)))
      return 3;
    char go = 0;
    if (!read_exact(a_go[0], &go, 1))
      return 4;
    for (int i = 0; i < 20; ++i) {
      auto b = arena->allocate(16);
      if (!b || !write_exact(a_out[1], &*b, sizeof(Block)))
        return 5;
    }
    return 0;
  });
  ASSERT_GT(a, 0);
  ::close(a_out[1]);
  ::close(a_go[0]);
  std::vector<Block> blocks(1);
  if (!read_exact(a_out[0], &blocks[0], sizeof(Block))) {
    int status = 0;
    ::waitpid(a, &status, 0);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 77)
      GTEST_SKIP() << "no PID namespaces here (unshare(CLONE_NEWPID) needs CAP_SYS_ADMIN)";
    FAIL() << "container A failed, status " << status;
  }
  const pid_t b = spawn_as_pid1([&] {
    ::close(a_out[0]);
    ::close(a_go[1]);
    ::close(b_out[0]);
    Options o = chunked_file(0);
    { // open and close without ever using chunks: releases nothing
      auto arena = Arena::open_file(path, o);
      if (!arena)
        return 2;
    }
    auto arena = Arena::open_file(path, o);
    if (!arena)
      return 3;
    for (int i = 0; i < 20; ++i) {
      auto blk = arena->allocate(16);
      if (!blk || !write_exact(b_out[1], &*blk, sizeof(Block)))
        return 4;
    }
    return 0;
  });
  ASSERT_GT(b, 0);
  ::close(b_out[1]);
  int status = 0;
  ASSERT_EQ(::waitpid(b, &status, 0), b);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    ::kill(a, SIGKILL);
    ::waitpid(a, nullptr, 0);
    FAIL() << "container B failed, status " << status;
  }
  Block blk;
  while (read_exact(b_out[0], &blk, sizeof blk))
    blocks.push_back(blk);
  ASSERT_TRUE(write_exact(a_go[1], "g", 1));
  ::close(a_go[1]);
  while (read_exact(a_out[0], &blk, sizeof blk))
    blocks.push_back(blk);
  ASSERT_EQ(::waitpid(a, &status, 0), a);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  ::close(a_out[0]);
  ::close(b_out[0]);
  ASSERT_EQ(blocks.size(), 41u);
  expect_disjoint(blocks);
}

} // namespace
