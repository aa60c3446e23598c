// recovered_view_test.cpp -- check() of a read-only opener of a crashed file
// (src/recovered_view.hpp): it validates what the next read-write open validates, on the file as it
// is now, and its join lock is its own (helper-27's findings, one test each).
#include <fcntl.h>
#include <unistd.h>

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
  Options big = small;
  big.capacity = 256 << 10;
  big.grow = true;
  {
    auto g = Arena::open_file(path, big);
    ASSERT_TRUE(g) << g.message();
    ASSERT_EQ(g->stats().capacity, big.capacity);
    auto b = g->allocate(100 << 10); // past the old end
    ASSERT_TRUE(b) << b.message();
    ASSERT_TRUE(g->allocate(64)); // keeps b's free from rolling the bump word back
    ASSERT_TRUE(g->deallocate(b->offset, b->size));
  }
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

// Two views of one descriptor (two threads checking one read-only arena): when the first one
// goes, the second still holds the join lock, so no read-write opener joins (and recovers the
// file) under it. With the views locking the shared descriptor, the first one's unlock
// dropped the lock for both (OFD locks belong to the description).
TEST(RecoveredView, EachViewHoldsItsOwnJoinLock) {
  lfarena_test::ScratchDir dir;
  const std::string path = dir.file("views.arena");
  const Options o = file_options(true);
  crashed_file(path, o);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  auto f = d::FileBacking::map(fd, path, o.capacity, true);
  ASSERT_TRUE(f) << f.message();
  const Options stored = *Arena::file_options(path);
  auto first = std::make_unique<d::RecoveredView>();
  d::RecoveredView second;
  ASSERT_TRUE(first->open(*f, stored, path));
  ASSERT_TRUE(second.open(*f, stored, path));
  EXPECT_TRUE(first->active() && second.active());
  first.reset();
  const int writer = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(writer, 0);
  EXPECT_FALSE(d::ofd_lock(writer, d::kJoinByte, F_WRLCK, false))
      << "a read-write opener could join while a view was still open";
  ::close(writer);
}

} // namespace
