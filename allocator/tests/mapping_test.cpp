// mapping_test.cpp -- how the region is mapped: Options::populate (every page resident right
// away, seen with mincore) and Options::huge_pages (transparent: the region is advised, seen in
// /proc/self/smaps VmFlags `hg`; hugetlb: anonymous only, and a clear map_failed when no huge
// pages are reserved), and the errors for the combinations that cannot work.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <lfarena/arena.hpp>

#include "arena_test_support.hpp"

namespace {

using lfarena::Arena;
using lfarena::errc;
using lfarena::HugePages;
using lfarena::Options;
using lfarena_test::BackingKind;

Options opts(std::uint32_t capacity = 8u << 20) {
  Options o;
  o.capacity = capacity;
  o.freelist = lfarena::FreelistKind::segregated;
  return o;
}

// Resident pages of the region (mincore).
std::size_t resident_pages(const Arena &a, std::size_t *total) {
  const long page = ::sysconf(_SC_PAGESIZE);
  const std::size_t n = (a.stats().capacity + page - 1) / page;
  std::vector<unsigned char> v(n);
  EXPECT_EQ(::mincore(a.base(), n * page, v.data()), 0);
  std::size_t in = 0;
  for (unsigned char c : v)
    in += c & 1;
  *total = n;
  return in;
}

// The VmFlags of the /proc/self/smaps mapping that contains `p` ("" if none).
std::string vm_flags(const void *p) {
  std::ifstream smaps("/proc/self/smaps");
  const auto at = reinterpret_cast<std::uintptr_t>(p);
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    std::uintptr_t lo = 0, hi = 0;
    char dash = 0;
    std::istringstream head(line);
    if (head >> std::hex >> lo >> dash >> hi && dash == '-' && line.find(':') > line.find(' ')) {
      inside = lo <= at && at < hi;
      continue;
    }
    if (inside && line.rfind("VmFlags:", 0) == 0)
      return line;
  }
  return "";
}

TEST(Populate, AnonymousAndFileRegionsAreResidentRightAway) {
  lfarena_test::ScratchDir dir;
  for (BackingKind kind : {BackingKind::anonymous, BackingKind::file})
    for (bool populate : {false, true}) {
      SCOPED_TRACE(lfarena_test::backing_name(kind) + (populate ? " populate" : ""));
      Options o = opts();
      o.populate = populate;
      auto a = lfarena_test::make_arena(kind, o, dir, populate ? "p.bin" : "n.bin");
      ASSERT_TRUE(a) << a.message();
      std::size_t total = 0;
      const std::size_t in = resident_pages(*a, &total);
      if (populate) {
        EXPECT_EQ(in, total) << "every page faulted in";
      } else if (kind == BackingKind::anonymous) { // (a new file's blocks exist up front)
        EXPECT_LT(in, total / 2) << "only the header's pages were touched";
      }
      auto b = a->allocate(4096); // and it is an ordinary arena
      ASSERT_TRUE(b);
      EXPECT_TRUE(a->check());
    }
}

TEST(HugePages, TransparentAdvisesTheRegion) {
  for (BackingKind kind : {BackingKind::heap, BackingKind::anonymous}) {
    SCOPED_TRACE(lfarena_test::backing_name(kind));
    lfarena_test::ScratchDir dir;
    Options o = opts(16u << 20);
    o.huge_pages = HugePages::transparent;
    auto a = lfarena_test::make_arena(kind, o, dir);
    ASSERT_TRUE(a) << a.message();
    const std::string flags = vm_flags(a->base() + (4u << 20));
    ASSERT_FALSE(flags.empty()) << "no smaps entry for the region";
    EXPECT_NE(flags.find(" hg"), std::string::npos) << flags;
    auto b = a->allocate(1u << 20);
    ASSERT_TRUE(b);
    EXPECT_TRUE(a->check());
  }
}

TEST(HugePages, TransparentOnAFileIsOnlyAHint) {
  lfarena_test::ScratchDir dir;
  Options o = opts();
  o.huge_pages = HugePages::transparent;
  auto a = lfarena_test::make_arena(BackingKind::file, o, dir);
  ASSERT_TRUE(a) << a.message() << " (a file system without huge pages must not fail the open)";
  EXPECT_TRUE(a->allocate(64));
}

TEST(HugePages, HugetlbWorksOrSaysWhyNot) {
  Options o = opts(4u << 20);
  o.huge_pages = HugePages::hugetlb;
  auto a = Arena::anonymous(o);
  std::ifstream nr("/proc/sys/vm/nr_hugepages");
  long reserved = 0;
  nr >> reserved;
  if (a) {
    EXPECT_GT(reserved, 0) << "MAP_HUGETLB only succeeds with reserved pages";
    EXPECT_TRUE(a->allocate(1u << 20));
    EXPECT_TRUE(a->check());
  } else {
    EXPECT_EQ(a.code(), errc::map_failed) << a.message();
    EXPECT_NE(a.message().find("nr_hugepages is"), std::string::npos) << a.message();
    EXPECT_NE(a.message().find("HugePages::transparent"), std::string::npos) << a.message();
  }
}

TEST(HugePages, HugetlbIsRefusedForHeapAndFileArenasAndBadValuesAreRefused) {
  lfarena_test::ScratchDir dir;
  Options o = opts();
  o.huge_pages = HugePages::hugetlb;
  auto h = Arena::heap(o);
  ASSERT_FALSE(h);
  EXPECT_EQ(h.code(), errc::invalid_huge_pages);
  EXPECT_NE(h.message().find("anonymous"), std::string::npos) << h.message();
  auto f = Arena::open_file(dir.file("f.bin"), o);
  ASSERT_FALSE(f);
  EXPECT_EQ(f.code(), errc::invalid_huge_pages);
  EXPECT_NE(f.message().find("hugetlbfs"), std::string::npos) << f.message();
  EXPECT_FALSE(std::ifstream(dir.file("f.bin")).good()) << "nothing was created";
  o.huge_pages = static_cast<HugePages>(7);
  for (bool heap : {true, false}) {
    auto r = heap ? Arena::heap(o) : Arena::anonymous(o);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.code(), errc::invalid_huge_pages);
    EXPECT_NE(r.message().find("huge_pages 7"), std::string::npos) << r.message();
  }
}

} // namespace
