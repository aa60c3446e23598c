// Unit tests of file arenas across open/close (docs/DESIGN.md §3.2, §4 promise 5):
// round trips read-write and read-only, the open modes, and reopen validation. Every refused
// open has its own errc, a message naming the file, and leaves the file byte-for-byte unchanged.
// The header layout used to corrupt files is the table in lfarena/detail/header.hpp.
#include <lfarena/arena.hpp>
#include <lfarena/detail/header.hpp>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "arena_test_support.hpp"

namespace {

using lfarena::Arena;
using lfarena::Block;
using lfarena::errc;
using lfarena::FreelistKind;
using lfarena::OpenMode;
using lfarena::Options;
namespace hdr = lfarena::detail::hdr;
using Bytes = std::vector<unsigned char>;

constexpr std::uint32_t kCapacity = 64 << 10;

Options opts(FreelistKind kind = FreelistKind::none, OpenMode mode = OpenMode::open_existing) {
  Options o;
  o.capacity = kCapacity;
  o.freelist = kind;
  o.user_version = 7;
  o.open_mode = mode;
  return o;
}

void fix_checksum(Bytes &b) {
  lfarena::detail::put_le64(
      b.data() + hdr::checksum,
      lfarena::detail::header_checksum(b.data(),
                                       lfarena::detail::get_le32(b.data() + hdr::format_version)));
}

void fill(const Arena &a, const Block &b, unsigned char seed) {
  for (std::uint32_t i = 0; i < b.size; ++i)
    a.base()[b.offset + i] = static_cast<std::byte>(seed + i);
}
bool holds(const Arena &a, const Block &b, unsigned char seed) {
  for (std::uint32_t i = 0; i < b.size; ++i)
    if (a.base()[b.offset + i] != static_cast<std::byte>(seed + i))
      return false;
  return true;
}

class Reopen : public testing::Test {
protected:
  // Creates the file with three written blocks; with a freelist, the first is freed onto it.
  std::vector<Block> populate(FreelistKind kind = FreelistKind::none) {
    auto a = Arena::open_file(path_, opts(kind, OpenMode::create_new));
    EXPECT_TRUE(a.ok()) << a.message();
    if (!a)
      return {};
    std::vector<Block> blocks;
    for (std::uint32_t size : {64u, 100u, 24u}) {
      auto b = a->allocate(size);
      EXPECT_TRUE(b.ok()) << b.message();
      fill(*a, *b, static_cast<unsigned char>(blocks.size() * 50));
      blocks.push_back(*b);
    }
    if (kind != FreelistKind::none) {
      EXPECT_TRUE(a->deallocate(blocks[0].offset, 64).ok());
    }
    return blocks;
  }
  lfarena::Result<Arena> open(Options o) { return Arena::open_file(path_, o); }
  // Opening with `o` fails with `code`, names the file, and does not change a byte of it.
  void expect_refused(const Options &o, errc code, const std::string &also = "") {
    const Bytes before = lfarena_test::read_all(path_);
    auto r = open(o);
    ASSERT_FALSE(r.ok()) << "opened a file that should be refused";
    EXPECT_EQ(r.code(), code) << r.message();
    EXPECT_NE(r.message().find(path_), std::string::npos) << r.message();
    EXPECT_NE(r.message().find(also), std::string::npos) << r.message();
    EXPECT_EQ(lfarena_test::read_all(path_), before) << "a failed open modified the file";
  }
  void patch(const std::function<void(Bytes &)> &edit) {
    Bytes b = lfarena_test::read_all(path_);
    edit(b);
    lfarena_test::write_all(path_, b);
  }

  lfarena_test::ScratchDir dir_;
  std::string path_ = dir_.file("reopen.arena");
};

TEST_F(Reopen, ReadWriteRoundTripKeepsDataAndContinuesTheBump) {
  const auto blocks = populate();
  auto a = open(opts());
  ASSERT_TRUE(a.ok()) << a.message();
  EXPECT_FALSE(a->read_only());
  for (std::size_t i = 0; i < blocks.size(); ++i)
    EXPECT_TRUE(holds(*a, blocks[i], static_cast<unsigned char>(i * 50))) << "block " << i;
  const Block &last = blocks.back();
  EXPECT_EQ(a->stats().data_offset + a->stats().allocated, last.offset + last.size);
  auto more = a->allocate(32);
  ASSERT_TRUE(more.ok()) << more.message();
  EXPECT_EQ(more->offset, last.offset + last.size) << "the bump word was not persisted";
  EXPECT_TRUE(holds(*a, last, 100));
}

TEST_F(Reopen, GeometryComesFromTheFileNotTheOptions) {
  Options create = opts(FreelistKind::none, OpenMode::create_new);
  create.min_segment = 48;
  create.max_alignment = 256;
  create.user_reserved = 24;
  ASSERT_TRUE(open(create).ok());
  Options o = opts(); // different capacity, min_segment, max_alignment, user_reserved
  o.capacity = 1 << 20;
  auto a = open(o);
  ASSERT_TRUE(a.ok()) << a.message();
  EXPECT_EQ(a->stats().capacity, kCapacity);
  EXPECT_EQ(a->options().capacity, kCapacity);
  EXPECT_EQ(a->options().min_segment, 48u);
  EXPECT_EQ(a->options().max_alignment, 256u);
  EXPECT_EQ(a->user_area().size(), 24u);
  EXPECT_TRUE(a->allocate(8, 256).ok());
}

TEST_F(Reopen, FreelistHeadSurvivesReopen) {
  const auto blocks = populate(FreelistKind::optimistic);
  auto a = open(opts(FreelistKind::optimistic));
  ASSERT_TRUE(a.ok()) << a.message();
  const std::uint32_t rest = static_cast<std::uint32_t>(a->stats().remaining);
  ASSERT_TRUE(a->allocate(rest).ok()); // exhaust the bump region
  auto reused = a->allocate(64);       // so this one must come from the persisted freelist
  ASSERT_TRUE(reused.ok()) << reused.message();
  EXPECT_EQ(reused->offset, blocks[0].offset);
  EXPECT_TRUE(holds(*a, blocks[1], 50));
}

TEST_F(Reopen, ReadOnlyReadsBackAndRefusesEveryMutation) {
  const auto blocks = populate();
  const Bytes before = lfarena_test::read_all(path_);
  {
    Options o = opts();
    o.read_only = true;
    auto a = open(o);
    ASSERT_TRUE(a.ok()) << a.message();
    EXPECT_TRUE(a->read_only());
    for (std::size_t i = 0; i < blocks.size(); ++i)
      EXPECT_TRUE(holds(*a, blocks[i], static_cast<unsigned char>(i * 50)));
    const lfarena::Stats s = a->stats();
    auto alloc = a->allocate(8);
    EXPECT_EQ(alloc.code(), errc::read_only);
    EXPECT_NE(alloc.message().find(path_), std::string::npos) << alloc.message();
    EXPECT_EQ(a->allocate_zeroed(8).code(), errc::read_only);
    EXPECT_EQ(a->create<std::uint64_t>(42u).code(), errc::read_only);
    EXPECT_EQ(a->deallocate(blocks.back().offset, blocks.back().size).code(), errc::read_only);
    EXPECT_EQ(a->deallocate(0, 8).code(), errc::read_only);
    EXPECT_EQ(a->allocate(0).code(), errc::read_only);
    EXPECT_EQ(a->stats().allocated, s.allocated);
    EXPECT_EQ(a->stats().discarded, s.discarded);
    EXPECT_TRUE(a->flush().ok());
    EXPECT_TRUE(a->flush_async().ok());
    Arena copy = *a;
    EXPECT_EQ(copy.allocate(8).code(), errc::read_only);
  }
  EXPECT_EQ(lfarena_test::read_all(path_), before) << "a read-only session wrote the file";
}

TEST_F(Reopen, OpenModes) {
  auto fresh = open(opts(FreelistKind::none, OpenMode::open_or_create));
  ASSERT_TRUE(fresh.ok()) << fresh.message();
  EXPECT_EQ(std::filesystem::file_size(path_), kCapacity);
  auto b = fresh->allocate(16);
  ASSERT_TRUE(b.ok());
  fill(*fresh, *b, 9);
  fresh = Arena();
  expect_refused(opts(FreelistKind::none, OpenMode::create_new), errc::file_exists);
  auto again = open(opts(FreelistKind::none, OpenMode::open_or_create));
  ASSERT_TRUE(again.ok()) << again.message();
  EXPECT_TRUE(holds(*again, *b, 9)) << "open_or_create recreated an existing file";
  EXPECT_EQ(again->stats().allocated, 16u);

  const std::string missing = dir_.file("missing.arena");
  for (bool ro : {false, true}) {
    for (OpenMode m : {OpenMode::open_existing, OpenMode::open_or_create}) {
      if (!ro && m == OpenMode::open_or_create)
        continue;
      Options o = opts(FreelistKind::none, m);
      o.read_only = ro;
      auto r = Arena::open_file(missing, o);
      EXPECT_EQ(r.code(), errc::file_not_found) << r.message();
      EXPECT_NE(r.message().find(missing), std::string::npos) << r.message();
      EXPECT_FALSE(std::filesystem::exists(missing));
    }
  }
  Options ro_new = opts(FreelistKind::none, OpenMode::create_new);
  ro_new.read_only = true;
  EXPECT_EQ(Arena::open_file(missing, ro_new).code(), errc::read_only);
  EXPECT_FALSE(std::filesystem::exists(missing));
  EXPECT_EQ(Arena::open_file(dir_.path(), opts()).code(), errc::io_error) << "a directory";
  EXPECT_EQ(
      Arena::open_file(dir_.file("no/such/dir"), opts(FreelistKind::none, OpenMode::create_new))
          .code(),
      errc::io_error);
}

TEST_F(Reopen, CopiesShareOneMapping) {
  auto a = open(opts(FreelistKind::none, OpenMode::create_new));
  ASSERT_TRUE(a.ok()) << a.message();
  Arena copy = *a;
  EXPECT_EQ(copy.base(), a->base());
  EXPECT_EQ(copy.stats().handle_count, 2u);
  auto b = copy.allocate(32);
  ASSERT_TRUE(b.ok());
  fill(copy, *b, 3);
  EXPECT_TRUE(holds(*a, *b, 3));
  EXPECT_EQ(a->stats().allocated, 32u);
  *a = Arena(); // drop the original: the copy keeps the mapping alive
  EXPECT_EQ(copy.stats().handle_count, 1u);
  EXPECT_TRUE(holds(copy, *b, 3));
  EXPECT_TRUE(copy.allocate(8).ok());
}

TEST_F(Reopen, LastHandleSyncsWithoutExplicitFlush) {
  Block b;
  {
    auto a = open(opts(FreelistKind::none, OpenMode::create_new));
    ASSERT_TRUE(a.ok()) << a.message();
    b = *a->allocate(200);
    Arena last = *a;
    *a = Arena();
    fill(last, b, 77); // written through the last handle, never flushed explicitly
  }
  const Bytes file = lfarena_test::read_all(path_);
  ASSERT_EQ(file.size(), kCapacity);
  for (std::uint32_t i = 0; i < b.size; ++i)
    ASSERT_EQ(file[b.offset + i], static_cast<unsigned char>(77 + i)) << "byte " << i;
  auto a = open(opts());
  ASSERT_TRUE(a.ok()) << a.message();
  EXPECT_TRUE(holds(*a, b, 77));
  EXPECT_EQ(a->stats().allocated, 200u);
}

// ---- refused opens, one distinct errc each --------------------------------------------------
struct Corruption {
  const char *name;
  FreelistKind file_kind;
  std::function<void(Bytes &)> edit;
  errc code;
  const char *message_part = "";
  std::function<void(Options &)> tweak = [](Options &) {};
};

void PrintTo(const Corruption &c, std::ostream *os) { *os << c.name; }

class ReopenRefused : public Reopen, public testing::WithParamInterface<Corruption> {};

TEST_P(ReopenRefused, FailsWithItsOwnCodeAndLeavesTheFileAlone) {
  const Corruption &c = GetParam();
  populate(c.file_kind);
  patch(c.edit);
  Options o = opts(c.file_kind);
  c.tweak(o);
  expect_refused(o, c.code, c.message_part);
  o.read_only = true;
  expect_refused(o, c.code, c.message_part);
}

// Sets a checksummed field and recomputes the checksum, so that only this field is wrong.
std::function<void(Bytes &)> set32(std::uint32_t at, std::uint32_t v) {
  return [=](Bytes &b) {
    lfarena::detail::put_le32(&b[at], v);
    fix_checksum(b);
  };
}
// Sets one of the mutable atomics (not checksummed).
std::function<void(Bytes &)> set64(std::uint32_t at, std::uint64_t v) {
  return [=](Bytes &b) { lfarena::detail::put_le64(&b[at], v); };
}
constexpr auto kOpt = FreelistKind::optimistic;
constexpr auto kNone = FreelistKind::none;

const Corruption kCorruptions[] = {
    {"TruncatedToZero", kNone, [](Bytes &b) { b.clear(); }, errc::file_truncated, "0 bytes"},
    {"TruncatedIntoHeader", kNone, [](Bytes &b) { b.resize(255); }, errc::file_truncated, "255"},
    {"TruncatedByOneByte", kNone, [](Bytes &b) { b.resize(kCapacity - 1); }, errc::file_truncated,
     "65535"},
    {"GrownByOneByte", kNone, [](Bytes &b) { b.push_back(0); }, errc::bad_geometry, "65537"},
    {"WrongMagic", kNone, [](Bytes &b) { b[0] = 'X'; }, errc::bad_magic, "magic"},
    {"NewerVersion", kNone, set32(hdr::format_version, lfarena::detail::kFormatVersion + 1),
     errc::unsupported_version, "newer"},
    {"VersionZero", kNone, set32(hdr::format_version, 0), errc::unsupported_version, "version 0"},
    {"UnknownFeatureBit5", kNone, set32(hdr::feature_flags, 1u << 5), errc::unknown_features,
     "0x00000020"},
    {"Cache256WithoutThreadCaches", kNone, set32(hdr::feature_flags, 1u << 2), errc::bad_geometry,
     "256-byte cache class"},
    {"FreelistKindMismatch", kNone, [](Bytes &) {}, errc::freelist_kind_mismatch, "optimistic",
     [](Options &o) { o.freelist = FreelistKind::optimistic; }},
    {"UserVersionMismatch", kNone, [](Bytes &) {}, errc::user_version_mismatch, "expected 8",
     [](Options &o) { o.user_version = 8; }},
    {"DataOffsetMoved", kNone, set32(hdr::data_offset, 512), errc::bad_geometry, "data offset 512"},
    {"BumpPastCapacity", kNone, set64(hdr::bump, kCapacity + 8), errc::bump_out_of_range, "65544"},
    {"BumpFarPastCapacity", kNone, set64(hdr::bump, 1ull << 40), errc::bump_out_of_range},
    {"BumpBelowDataOffset", kNone, set64(hdr::bump, 8), errc::bump_out_of_range},
    {"FreelistHeadPastBump", kOpt,
     [](Bytes &b) {
       lfarena::detail::put_le64(&b[hdr::freelist_head],
                                 lfarena::detail::get_le64(&b[hdr::bump]) + 64);
     },
     errc::freelist_head_out_of_range},
    {"FreelistHeadInHeader", kOpt, set64(hdr::freelist_head, 64), errc::freelist_head_out_of_range},
    {"FreelistHeadMarked", kOpt, [](Bytes &b) { b[hdr::freelist_head + 7] |= 0x80; },
     errc::freelist_head_out_of_range},
    {"FreelistHeadWithoutFreelist", kNone, set64(hdr::freelist_head, 256),
     errc::freelist_head_out_of_range},
    {"DiscardedExceedsAllocated", kNone, set64(hdr::discarded, 1u << 20), errc::bad_geometry},
};

INSTANTIATE_TEST_SUITE_P(Corruptions, ReopenRefused, testing::ValuesIn(kCorruptions),
                         [](const testing::TestParamInfo<Corruption> &i) { return i.param.name; });

TEST_F(Reopen, EveryChecksummedHeaderByteFlippedIsRefused) {
  populate();
  const Bytes good = lfarena_test::read_all(path_);
  for (std::uint32_t i = 0; i < hdr::checksummed_bytes; ++i) {
    for (unsigned char mask : {0xffu, 0x01u}) {
      SCOPED_TRACE("byte " + std::to_string(i) + " ^ " + std::to_string(mask));
      Bytes bad = good;
      bad[i] ^= mask;
      lfarena_test::write_all(path_, bad);
      // Expected from the fixed validation order: magic, version, features, checksum.
      errc want = errc::checksum_mismatch;
      const std::uint32_t version = lfarena::detail::get_le32(&bad[hdr::format_version]);
      if (i < 8)
        want = errc::bad_magic;
      else if (i < 12 && (version < lfarena::detail::kOldestFormatVersion ||
                          version > lfarena::detail::kFormatVersion))
        want = errc::unsupported_version;
      else if (i < 16 && (lfarena::detail::get_le32(&bad[12]) & ~1u) != 0)
        want = errc::unknown_features;
      expect_refused(opts(), want);
    }
  }
  lfarena_test::write_all(path_, good);
  EXPECT_TRUE(open(opts()).ok()) << "the restored file must open again";
}

TEST_F(Reopen, ChecksumFieldFlippedIsChecksumMismatch) {
  populate();
  const Bytes good = lfarena_test::read_all(path_);
  for (std::uint32_t i = hdr::checksum; i < hdr::checksum + 8; ++i) {
    SCOPED_TRACE("byte " + std::to_string(i));
    Bytes bad = good;
    bad[i] ^= 0x10;
    lfarena_test::write_all(path_, bad);
    expect_refused(opts(), errc::checksum_mismatch, "checksum");
  }
}

// The opener's own options are checked as options (each with its own code, naming the value
// and the file), never reported as damage of a healthy file; a property the file cannot give
// (checked mode on an unchecked file) is refused with its own code too.
TEST_F(Reopen, OpenerOptionErrorsAreOptionErrorsNotFileDamage) {
  populate();
  struct Case {
    const char *name;
    std::function<void(Options &)> tweak;
    errc code;
    const char *message_part;
  };
  const Case cases[] = {
      {"thread_chunk above capacity/4", [](Options &o) { o.thread_chunk = 65536; },
       errc::invalid_thread_chunk, "65536"},
      {"thread_chunk below 256", [](Options &o) { o.thread_chunk = 100; },
       errc::invalid_thread_chunk, "100"},
      {"open mode 7", [](Options &o) { o.open_mode = static_cast<OpenMode>(7); },
       errc::invalid_open_mode, "7"},
      {"min_segment 12", [](Options &o) { o.min_segment = 12; }, errc::invalid_min_segment, "12"},
      {"max_alignment 3", [](Options &o) { o.max_alignment = 3; }, errc::invalid_alignment_option,
       "3"},
      {"freelist kind 9", [](Options &o) { o.freelist = static_cast<FreelistKind>(9); },
       errc::invalid_freelist_kind, "9"},
      {"checked on an unchecked file", [](Options &o) { o.checked = true; }, errc::checked_mismatch,
       "checked"},
  };
  for (const Case &c : cases) {
    SCOPED_TRACE(c.name);
    Options o = opts();
    c.tweak(o);
    expect_refused(o, c.code, c.message_part);
    if (c.code != errc::invalid_open_mode) {
      o.read_only = true;
      expect_refused(o, c.code, c.message_part);
    }
  }
  // Valid opener options that differ from the file's geometry are the documented rule: the
  // file's geometry wins (GeometryComesFromTheFileNotTheOptions), and a checked file stays
  // checked for an opener that did not ask for it.
  EXPECT_TRUE(open(opts()).ok());
}

TEST_F(Reopen, InvalidOpenModeNeverCreatesAFile) {
  const std::string missing = dir_.file("never-created.arena");
  Options o = opts();
  o.open_mode = static_cast<OpenMode>(7);
  auto r = Arena::open_file(missing, o);
  EXPECT_EQ(r.code(), errc::invalid_open_mode) << r.message();
  EXPECT_FALSE(std::filesystem::exists(missing));
}

// A FIFO at the path is refused, not waited for: a read-only open(2) of a FIFO blocks until a
// writer comes (the library opens arena files O_NONBLOCK; before, this open never returned).
TEST_F(Reopen, AFifoAtThePathIsRefusedNotWaitedFor) {
  const std::string fifo = dir_.file("fifo.arena");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  for (const bool read_only : {true, false}) {
    SCOPED_TRACE(read_only);
    Options o = opts();
    o.read_only = read_only;
    auto r = Arena::open_file(fifo, o);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.message().find(fifo), std::string::npos) << r.message();
    auto options = Arena::file_options(fifo);
    EXPECT_FALSE(options.ok());
  }
}

// A read lease another process holds on the file (a file server takes them): open(2) waits
// for the holder to give it up; the library's O_NONBLOCK open made open_file() fail at once
// with EWOULDBLOCK instead (helper-31). It now waits as a plain open does.
TEST_F(Reopen, ALeaseHeldElsewhereIsWaitedForNotAnError) {
  populate();
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t holder = ::fork();
  ASSERT_GE(holder, 0);
  if (holder == 0) {
    const int fd = ::open(path_.c_str(), O_RDONLY);
    const bool leased = fd >= 0 && ::fcntl(fd, F_SETLEASE, F_RDLCK) == 0;
    const char c = leased ? 'y' : 'n';
    (void)!::write(ready[1], &c, 1);
    if (!leased)
      ::_exit(1);
    // Give the lease up once a writer's open has started to break it (the kernel then reports
    // the type it is being broken to: none).
    while (::fcntl(fd, F_GETLEASE) != F_UNLCK)
      ::sched_yield();
    ::fcntl(fd, F_SETLEASE, F_UNLCK);
    ::_exit(0);
  }
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ::close(ready[0]);
  ::close(ready[1]);
  if (c != 'y') {
    ::waitpid(holder, nullptr, 0);
    GTEST_SKIP() << "this file system takes no leases";
  }
  auto a = open(opts());
  EXPECT_TRUE(a) << a.message();
  int status = 0;
  ASSERT_EQ(::waitpid(holder, &status, 0), holder);
}

TEST_F(Reopen, CheckedFileStaysCheckedForAnUncheckedOpener) {
  Options create = opts(FreelistKind::pessimistic, OpenMode::create_new);
  create.checked = true;
  ASSERT_TRUE(open(create).ok());
  auto a = open(opts(FreelistKind::pessimistic));
  ASSERT_TRUE(a.ok()) << a.message();
  EXPECT_TRUE(a->options().checked);
  auto b = a->allocate(32);
  ASSERT_TRUE(b.ok());
  ASSERT_TRUE(a->allocate(32).ok()); // so that freeing b does not roll the bump offset back
  ASSERT_TRUE(a->deallocate(b->offset, b->size).ok());
  EXPECT_EQ(a->deallocate(b->offset, b->size).code(), errc::double_free);
}

TEST_F(Reopen, BumpAtExactlyCapacityIsAccepted) {
  populate();
  patch(set64(hdr::bump, kCapacity));
  auto a = open(opts());
  ASSERT_TRUE(a.ok()) << a.message();
  EXPECT_EQ(a->stats().remaining, 0u);
  EXPECT_EQ(a->allocate(8).code(), errc::out_of_memory);
}

} // namespace
