// recovered_view_test.cpp -- check() of a read-only opener of a crashed file
// (src/recovered_view.hpp): it validates what the next read-write open validates, on the file as it
// is now, and its join lock is its own (helper-27's findings, one test each).
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <lfarena/arena.hpp>
#include <lfarena/detail/header.hpp>

#include "arena_test_support.hpp"
#include "liveness_lock.hpp"
#include "recovered_view.hpp"

namespace {

using lfarena::Arena;
using lfarena::errc;
using lfarena::FreelistKind;
using lfarena::OpenMode;
using lfarena::Options;
namespace d = lfarena::detail;

Options file_options(bool checked, std::uint32_t capacity = 64 << 10) {
  Options o;
  o.capacity = capacity;
  o.freelist = FreelistKind::pessimistic;
  o.checked = checked;
  o.open_mode = OpenMode::open_or_create;
  return o;
}
Options read_only(Options o) {
  o.read_only = true;
  o.open_mode = OpenMode::open_existing;
  return o;
}

// Writes `bytes` at `offset` of the file (under a mapping that shares them).
void poke(const std::string &path, std::uint32_t offset, const void *bytes, std::size_t n) {
  const int fd = ::open(path.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::pwrite(fd, bytes, n, offset), static_cast<ssize_t>(n));
  ::close(fd);
}
void poke64(const std::string &path, std::uint32_t offset, std::uint64_t v) {
  unsigned char b[8];
  d::put_le64(b, v);
  poke(path, offset, b, 8);
}

// A file with a few live and free blocks, closed, then marked as left by a dead writer.
void crashed_file(const std::string &path, const Options &o) {
  {
    auto a = Arena::open_file(path, o);
    ASSERT_TRUE(a) << a.message();
    for (int i = 0; i < 8; ++i) {
      auto b = a->allocate(64);
      ASSERT_TRUE(b);
      if (i % 2 == 0) {
        ASSERT_TRUE(a->deallocate(b->offset, b->size));
      }
    }
  }
  poke64(path, d::hdr::open_count, 1);
}

// Another opener grows the file at `path` to 256 KiB and leaves a free segment of 100 KiB past
// its old end (a live block after it keeps its free from rolling the bump word back). Returns
// that opener's options.
Options grown(const std::string &path, const Options &small) {
  Options big = small;
  big.capacity = 256 << 10;
  big.grow = true;
  auto g = Arena::open_file(path, big);
  EXPECT_TRUE(g) << g.message();
  if (!g)
    return big;
  EXPECT_EQ(g->stats().capacity, big.capacity);
  auto b = g->allocate(100 << 10);
  EXPECT_TRUE(b && g->allocate(64) && g->deallocate(b->offset, b->size));
  return big;
}

// The bump word went bad after the read-only open: the check fails as the read-write open does
// (bump_out_of_range). The view ran recovery without validating the mutable words first: a
// checked file crashed it (SIGSEGV in the bitmap repair), an unchecked one passed.
class ViewMutableWords : public ::testing::TestWithParam<bool> {};
TEST_P(ViewMutableWords, ABumpWordOutOfRangeFailsTheCheckAsItFailsTheOpen) {
  lfarena_test::ScratchDir dir;
  const std::string path = dir.file("bump.arena");
  const Options o = file_options(GetParam());
  crashed_file(path, o);
  auto r = Arena::open_file(path, read_only(o));
  ASSERT_TRUE(r) << r.message();
  poke64(path, d::hdr::bump, 0xfffff000u);
  auto rep = r->check();
  ASSERT_FALSE(rep) << "the check passed a file the next open refuses";
  EXPECT_EQ(rep.code(), errc::bump_out_of_range) << rep.message();
  auto w = Arena::open_file(path, o);
  ASSERT_FALSE(w);
  EXPECT_EQ(w.code(), errc::bump_out_of_range) << w.message();
}
INSTANTIATE_TEST_SUITE_P(Modes, ViewMutableWords, ::testing::Bool(),
                         [](const auto &i) { return i.param ? "checked" : "unchecked"; });

// The header's checksummed part went bad after the read-only open: the check fails with the
// open's checksum_mismatch (the view fell back to the opener's old header and passed).
TEST(RecoveredView, AHeaderDamagedSinceTheOpenFailsTheCheck) {
  lfarena_test::ScratchDir dir;
  const std::string path = dir.file("header.arena");
  const Options o = file_options(false);
  crashed_file(path, o);
  auto r = Arena::open_file(path, read_only(o));
  ASSERT_TRUE(r) << r.message();
  const unsigned char junk[4] = {0xde, 0xad, 0xbe, 0xef};
  poke(path, d::hdr::user_version, junk, sizeof junk);
  auto rep = r->check();
  ASSERT_FALSE(rep) << "the check passed a file the next open refuses";
  EXPECT_EQ(rep.code(), errc::checksum_mismatch) << rep.message();
  EXPECT_EQ(Arena::open_file(path, o).code(), errc::checksum_mismatch);
}

// Another opener grew the file after the read-only open, then died: the view checks the file
// at its new capacity (with the old geometry, the free segments past the old end were
// "outside the data area" and the check said the open would fail; it succeeds).
TEST(RecoveredView, AFileGrownSinceTheOpenIsCheckedAtItsNewSize) {
  lfarena_test::ScratchDir dir;
  const std::string path = dir.file("grown.arena");
  const Options small = file_options(false, 64 << 10);
  crashed_file(path, small);
  poke64(path, d::hdr::open_count, 0);
  auto r = Arena::open_file(path, read_only(small));
  ASSERT_TRUE(r) << r.message();
  const Options big = grown(path, small);
  poke64(path, d::hdr::open_count, 1);
  auto rep = r->check();
  ASSERT_TRUE(rep) << rep.message();
  EXPECT_TRUE(rep->pending_recovery.ran);
  auto w = Arena::open_file(path, big);
  ASSERT_TRUE(w) << w.message();
  auto after = w->check();
  ASSERT_TRUE(after) << after.message();
  EXPECT_EQ(rep->free_bytes, after->free_bytes);
  EXPECT_EQ(rep->free_segments, after->free_segments);
}

// The view holds the join lock on a description of its own: an unlock through the arena's
// descriptor (another thread's finished check, or a fork child's, when views used the shared
// descriptor) does not drop it, and no writer joins while it is held.
TEST(RecoveredView, HoldsTheJoinLockOnItsOwnDescription) {
  lfarena_test::ScratchDir dir;
  const std::string path = dir.file("views.arena");
  const Options o = file_options(true);
  crashed_file(path, o);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  auto f = d::FileBacking::map(fd, path, o.capacity, true);
  ASSERT_TRUE(f) << f.message();
  const int other = ::open(path.c_str(), O_RDWR | O_CLOEXEC); // a would-be writer
  ASSERT_GE(other, 0);
  {
    d::RecoveredView view;
    ASSERT_TRUE(view.open(*f, *Arena::file_options(path), path));
    EXPECT_TRUE(view.recovery().ran);
    EXPECT_NE(view.descriptor(), f->fd());
    d::ofd_lock(f->fd(), d::kJoinByte, F_UNLCK, false);
    EXPECT_FALSE(d::ofd_lock(other, d::kJoinByte, F_WRLCK, false))
        << "a writer could join while a view held the join lock";
  }
  EXPECT_TRUE(d::ofd_lock(other, d::kJoinByte, F_WRLCK, false)) << "the view kept its lock";
  ::close(other);
}

// A fork child does not inherit a view's descriptor (the fork handler closes it): a child that
// outlived its parent kept the view's join lock, and a writer waited until the child exited.
TEST(RecoveredView, AForkChildClosesTheDescriptorsOfViewsInFlight) {
  lfarena_test::ScratchDir dir;
  const std::string path = dir.file("fork.arena");
  const Options o = file_options(false);
  crashed_file(path, o);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  auto f = d::FileBacking::map(fd, path, o.capacity, true);
  ASSERT_TRUE(f) << f.message();
  d::RecoveredView view;
  ASSERT_TRUE(view.open(*f, *Arena::file_options(path), path));
  const int held = view.descriptor();
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0)
    ::_exit(::fcntl(held, F_GETFD) == -1 && errno == EBADF ? 0 : 1);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "the child inherited the view's descriptor";
  EXPECT_NE(::fcntl(held, F_GETFD), -1) << "the parent's view lost its descriptor";
}

// A reader that forked while its view was open, then died without ending the view: its child
// must not keep the view's join lock (helper-28: a writer waited until the child exited; the
// child had the view's descriptor, and its copy of the view's mapping held the description too).
TEST(RecoveredView, AReadersForkChildKeepsNoLockAfterTheReaderDies) {
  lfarena_test::ScratchDir dir;
  const std::string path = dir.file("orphan.arena");
  const Options o = file_options(true);
  crashed_file(path, o);
  const Options stored = *Arena::file_options(path);
  int hold[2], ready[2];
  ASSERT_EQ(::pipe(hold), 0);
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t reader = ::fork();
  ASSERT_GE(reader, 0);
  if (reader == 0) {
    ::close(hold[1]); // only the test keeps the write end: its close ends the child
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    auto f = d::FileBacking::map(fd, path, o.capacity, true);
    auto *view = new d::RecoveredView; // never ended: the reader dies with it
    if (!f || !view->open(*f, stored, path))
      ::_exit(1);
    char c = 0;
    if (::fork() == 0) {               // the reader's child outlives it
      (void)!::write(ready[1], &c, 1); // its fork handlers have run
      (void)!::read(hold[0], &c, 1);
      ::_exit(0);
    }
    (void)!::read(ready[0], &c, 1);
    ::_exit(0);
  }
  ::close(hold[0]);
  ::close(ready[0]);
  ::close(ready[1]);
  int status = 0;
  ASSERT_EQ(::waitpid(reader, &status, 0), reader);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  const int writer = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(writer, 0);
  EXPECT_TRUE(d::ofd_lock(writer, d::kJoinByte, F_WRLCK, false))
      << "the dead reader's child kept the join lock";
  ::close(writer);
  ::close(hold[1]); // the child exits
}

// The file as it is now, crashed or not (helper-28): a file grown by a writer that closed
// cleanly is checked at its new size (the opener's old geometry found "a node outside the data
// area"); a header damaged since the open fails as the read-write open fails; a truncated file
// is file_truncated (not SIGBUS, not a pass).
TEST(RecoveredView, ACleanFileIsCheckedAsItIsNow) {
  lfarena_test::ScratchDir dir;
  const std::string path = dir.file("clean.arena");
  const Options small = file_options(false, 64 << 10);
  crashed_file(path, small);
  poke64(path, d::hdr::open_count, 0);
  auto r = Arena::open_file(path, read_only(small));
  ASSERT_TRUE(r) << r.message();
  (void)grown(path, small);
  auto grown = r->check();
  ASSERT_TRUE(grown) << grown.message();
  EXPECT_FALSE(grown->pending_recovery.ran);
  EXPECT_GE(grown->free_bytes, 100u << 10);

  const auto image = lfarena_test::read_all(path);
  const unsigned char junk[4] = {0xde, 0xad, 0xbe, 0xef};
  poke(path, d::hdr::user_version, junk, sizeof junk);
  EXPECT_EQ(r->check().code(), errc::checksum_mismatch) << r->check().message();
  poke(path, d::hdr::user_version, &image[d::hdr::user_version], sizeof junk);
  ASSERT_TRUE(r->check()) << r->check().message();

  ASSERT_EQ(::truncate(path.c_str(), 4096), 0);
  EXPECT_EQ(r->check().code(), errc::file_truncated) << r->check().message();
}

} // namespace
