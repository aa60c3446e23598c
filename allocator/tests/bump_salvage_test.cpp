// bump_salvage_test.cpp -- salvage (lfarena-check --repair) of a checked file whose bitmaps mark
// something at or above its bump offset (docs/DESIGN.md §5.7). The sole open refuses such a
// file (accounting_mismatch); salvage used to refuse it too ("the bump word is damaged"), which
// left a file with one flipped bitmap bit unopenable for good (helper-31: single-bit damage).
// Now a lone mark there (an end mark closing nothing, a live start without its end) is cleared
// as the damage it is, and complete live blocks there (the bump word itself lowered) make
// salvage raise the bump offset over them: never lower, so no live byte is handed out again.
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <lfarena/arena.hpp>
#include <lfarena/detail/header.hpp>

#include "arena_test_support.hpp"

namespace {

using lfarena::Arena;
using lfarena::Block;
using lfarena::errc;
using lfarena::FreelistKind;
using lfarena::OpenMode;
using lfarena::Options;
using lfarena_test::ScratchDir;
namespace d = lfarena::detail;
using Bytes = std::vector<unsigned char>;

constexpr std::uint32_t kCapacity = 64 << 10;
constexpr unsigned char kPattern = 0x5a;

Options checked_file(FreelistKind kind) {
  Options o;
  o.capacity = kCapacity;
  o.freelist = kind;
  o.checked = true;
  o.open_mode = OpenMode::open_or_create;
  return o;
}

// A cleanly closed checked file: 40 blocks of 64 bytes, every 4th freed, the others filled with
// kPattern. Its live blocks, bump offset and image.
struct File {
  std::vector<Block> live;
  std::uint64_t bump = 0;
  Bytes image;
};
File make_file(const std::string &path, FreelistKind kind) {
  File f;
  {
    auto a = Arena::open_file(path, checked_file(kind));
    EXPECT_TRUE(a) << a.message();
    if (!a)
      return f;
    std::vector<Block> blocks;
    for (int i = 0; i < 40; ++i)
      blocks.push_back(*a->allocate(64));
    for (int i = 0; i < 40; ++i) {
      if (i % 4 == 0) {
        EXPECT_TRUE(a->deallocate(blocks[i].offset, 64));
      } else {
        std::memset(a->base() + blocks[i].offset, kPattern, 64);
        f.live.push_back(blocks[i]);
      }
    }
    f.bump = a->stats().data_offset + a->stats().allocated;
  }
  f.image = lfarena_test::read_all(path);
  return f;
}

// The damaged image is refused by the sole open, then salvaged. Returns the salvage report.
lfarena::SalvageReport refused_then_salvaged(const std::string &path, FreelistKind kind,
                                             const Bytes &damaged) {
  lfarena_test::write_all(path, damaged);
  auto refused = Arena::open_file(path, checked_file(kind));
  EXPECT_FALSE(refused) << "a file with a mark above its bump offset was opened";
  if (!refused) { // a lowered bump word with a list head above it: the head is out of range
    EXPECT_TRUE(refused.code() == errc::accounting_mismatch ||
                refused.code() == errc::freelist_head_out_of_range)
        << refused.message();
  }
  auto salvaged = Arena::salvage_file(path);
  EXPECT_TRUE(salvaged) << "salvage left the file unopenable: " << salvaged.message();
  return salvaged ? *salvaged : lfarena::SalvageReport{};
}

// After salvage: the file opens, passes check(), every live block still holds its bytes and is
// not handed out again while the arena is allocated to exhaustion, and each frees once.
void expect_usable(const std::string &path, FreelistKind kind, const File &f,
                   std::uint64_t expected_bump) {
  auto a = Arena::open_file(path, checked_file(kind));
  ASSERT_TRUE(a) << a.message();
  EXPECT_EQ(a->stats().data_offset + a->stats().allocated, expected_bump);
  auto rep = a->check();
  ASSERT_TRUE(rep) << rep.message();
  EXPECT_EQ(rep->live_blocks, f.live.size());
  std::vector<Block> fresh;
  while (auto b = a->allocate(64))
    fresh.push_back(*b);
  for (const Block &b : fresh)
    std::memset(a->base() + b.offset, 0, b.size);
  for (const Block &x : f.live)
    for (std::uint32_t i = 0; i < x.size; ++i)
      ASSERT_EQ(a->base()[x.offset + i], std::byte{kPattern})
          << "live block " << x.offset << " was handed out again";
  for (const Block &x : f.live)
    EXPECT_TRUE(a->deallocate(x.offset, x.size)) << x.offset;
  for (const Block &b : fresh)
    EXPECT_TRUE(a->deallocate(b.offset, b.size)) << b.offset;
  auto after = a->check();
  EXPECT_TRUE(after) << after.message();
}

class BumpSalvage : public ::testing::TestWithParam<FreelistKind> {};

// One flipped bit: an end mark far above the bump offset, closing no block. Salvage clears it
// and keeps the bump offset.
TEST_P(BumpSalvage, AStrayEndMarkAboveTheBumpIsCleared) {
  ScratchDir dir;
  const std::string path = dir.file("end.arena");
  const File f = make_file(path, GetParam());
  ASSERT_FALSE(f.image.empty());
  Bytes damaged = f.image;
  lfarena_test::Bitmaps{damaged, kCapacity}.set_end(kCapacity - 1024, true);
  const auto rep = refused_then_salvaged(path, GetParam(), damaged);
  EXPECT_EQ(rep.bump_raised_from, 0u) << "raised to " << rep.bump_raised_to;
  EXPECT_EQ(rep.recovery.stray_ends, 1u);
  expect_usable(path, GetParam(), f, f.bump);
}

// One flipped bit: a live start above the bump offset with no end mark. Cleared; the bump
// offset stays.
TEST_P(BumpSalvage, ALoneLiveStartAboveTheBumpIsCleared) {
  ScratchDir dir;
  const std::string path = dir.file("start.arena");
  const File f = make_file(path, GetParam());
  ASSERT_FALSE(f.image.empty());
  Bytes damaged = f.image;
  lfarena_test::Bitmaps{damaged, kCapacity}.set_state(static_cast<std::uint32_t>(f.bump) + 512, 1);
  const auto rep = refused_then_salvaged(path, GetParam(), damaged);
  EXPECT_EQ(rep.bump_raised_from, 0u) << "raised to " << rep.bump_raised_to;
  EXPECT_EQ(rep.recovery.blocks_dropped, 1u);
  expect_usable(path, GetParam(), f, f.bump);
}

// The bump word lowered to the 21st block (live blocks and free segments above it): salvage
// raises it back exactly to the end of the last live block, and nothing live is handed out again.
TEST_P(BumpSalvage, ALoweredBumpWordIsRaisedOverTheLiveBlocks) {
  ScratchDir dir;
  const std::string path = dir.file("lowered.arena");
  const File f = make_file(path, GetParam());
  ASSERT_FALSE(f.image.empty());
  Bytes damaged = f.image;
  const std::uint64_t lowered = f.live[15].offset;
  std::memcpy(damaged.data() + d::hdr::bump, &lowered, 8);
  const auto rep = refused_then_salvaged(path, GetParam(), damaged);
  EXPECT_EQ(rep.bump_raised_from, lowered);
  EXPECT_EQ(rep.bump_raised_to, f.bump) << "the last block (39th) is live: its end is the bump";
  expect_usable(path, GetParam(), f, f.bump);
}

// A live block straddling the lowered bump word (its start below, its end mark above) is kept
// whole: its end mark is not taken for a stray.
TEST_P(BumpSalvage, ABlockStraddlingALoweredBumpWordIsKeptWhole) {
  ScratchDir dir;
  const std::string path = dir.file("straddle.arena");
  const File f = make_file(path, GetParam());
  ASSERT_FALSE(f.image.empty());
  Bytes damaged = f.image;
  const Block &last = f.live.back();
  ASSERT_EQ(last.offset + last.size, f.bump);
  const std::uint64_t lowered = last.offset + 32;
  std::memcpy(damaged.data() + d::hdr::bump, &lowered, 8);
  const auto rep = refused_then_salvaged(path, GetParam(), damaged);
  EXPECT_EQ(rep.bump_raised_from, lowered);
  EXPECT_EQ(rep.bump_raised_to, f.bump);
  EXPECT_EQ(rep.recovery.blocks_dropped, 0u);
  expect_usable(path, GetParam(), f, f.bump);
}

// One flipped high bit in a list head word (the size class of 64 bytes, or the sorted policies'
// list): open refuses it (freelist_head_out_of_range), and so did salvage, before it looked at
// the lists: the file stayed unopenable. Now salvage cuts the list at the bad head.
TEST_P(BumpSalvage, AFlippedBitInAListHeadIsCutBySalvage) {
  ScratchDir dir;
  const std::string path = dir.file("head.arena");
  const File f = make_file(path, GetParam());
  ASSERT_FALSE(f.image.empty());
  // The head word: below the bitmaps, a word whose offset half names a freed block (blocks
  // 4, 8, ..., 36: block 0's offset is also the header's data offset). `none`: the legacy
  // head word, always 0.
  std::uint32_t head_at = d::hdr::freelist_head;
  const std::uint32_t meta_end = d::get_le32(&f.image[d::hdr::bitmap_offset]);
  for (std::uint32_t at = d::hdr::freelist_head; GetParam() != FreelistKind::none && at < meta_end;
       at += 8) {
    const std::uint32_t o = d::get_le32(&f.image[at]);
    const std::uint32_t block0 = f.live[0].offset - 64;
    if (o > block0 && o < f.bump && (o - block0) % 256 == 0) {
      head_at = at;
      break;
    }
  }
  ASSERT_TRUE(GetParam() == FreelistKind::none || head_at != d::hdr::freelist_head ||
              d::get_le32(&f.image[head_at]) != 0);
  Bytes damaged = f.image;
  damaged[head_at + 3] ^= 0x40; // offset + 2^30: far outside the region
  const auto rep = refused_then_salvaged(path, GetParam(), damaged);
  if (GetParam() != FreelistKind::none) {
    EXPECT_EQ(rep.lists_cut, 1u);
  }
  expect_usable(path, GetParam(), f, f.bump);
}

// The discarded counter raised by damage (still within the allocated bytes, so the header
// validates): live + free + discarded exceed the allocated bytes and the file is refused. Salvage
// used to refuse it too (its recovery found the same mismatch: the reopen fuzzer's salvage step
// found it); in checked mode it now recounts the counter from the bitmaps and lists.
TEST_P(BumpSalvage, ADamagedDiscardedCounterIsRecounted) {
  ScratchDir dir;
  const std::string path = dir.file("discarded.arena");
  const File f = make_file(path, GetParam());
  ASSERT_FALSE(f.image.empty());
  Bytes damaged = f.image;
  const std::uint64_t allocated = f.bump - d::get_le32(&f.image[d::hdr::data_offset]);
  const std::uint64_t before = d::get_le64(&f.image[d::hdr::discarded]);
  d::put_le64(&damaged[d::hdr::discarded], allocated);
  if (GetParam() == FreelistKind::none) // no free list: a clean open does not count them
    GTEST_SKIP() << "opens, then fails check() (docs/DESIGN.md §5.9)";
  const auto rep = refused_then_salvaged(path, GetParam(), damaged);
  EXPECT_EQ(rep.discarded_recounted_from, allocated);
  EXPECT_EQ(rep.discarded_recounted_to, before);
  expect_usable(path, GetParam(), f, f.bump);
}

INSTANTIATE_TEST_SUITE_P(Policies, BumpSalvage,
                         ::testing::Values(FreelistKind::none, FreelistKind::optimistic,
                                           FreelistKind::pessimistic, FreelistKind::segregated),
                         [](const auto &info) { return lfarena_test::kind_name(info.param); });

} // namespace
