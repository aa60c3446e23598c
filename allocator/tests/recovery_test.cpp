// recovery_test.cpp -- crash recovery of file arenas on crash states written by hand (the kill -9
// tests in verify/crash/ reach them only by chance): whatever a crash leaves, the next sole
// opener makes the file consistent and opens it; it is never left unopenable.
#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <lfarena/arena.hpp>
#include <lfarena/detail/checked.hpp>
#include <lfarena/detail/header.hpp>

#include "arena_test_support.hpp"

namespace {

using lfarena::Arena;
using lfarena::Block;
using lfarena::FreelistKind;
using lfarena::OpenMode;
using lfarena::Options;
namespace d = lfarena::detail;
using Bytes = std::vector<unsigned char>;

constexpr std::uint32_t kCapacity = 64 << 10;

Options checked_file(FreelistKind kind) { return lfarena_test::checked_file(kind, kCapacity); }

// A file whose every block and free was acknowledged: P (128 bytes) freed and split by A's
// allocation (32 bytes; a 96-byte remainder is free), then B and C (64 bytes each) and a filler
// that takes the rest. Its image, after the arena was closed.
struct SplitFile {
  Block a_block, b_block, c_block, filler;
  Bytes image;
};
SplitFile split_file(const std::string &path) {
  SplitFile f;
  {
    auto a = Arena::open_file(path, checked_file(FreelistKind::pessimistic));
    EXPECT_TRUE(a) << a.message();
    const Block p = *a->allocate(128);
    f.b_block = *a->allocate(64);
    f.c_block = *a->allocate(64);
    f.filler = *a->allocate(static_cast<std::uint32_t>(a->stats().remaining));
    EXPECT_TRUE(a->deallocate(p.offset, p.size));
    f.a_block = *a->allocate(32); // from the freelist: P split, a 96-byte remainder reinserted
    EXPECT_EQ(f.a_block.offset, p.offset);
    EXPECT_EQ(f.a_block.size, 32u);
  }
  f.image = lfarena_test::read_all(path);
  return f;
}

// The state that used to brick a file, written into the file at `path` (split_file()'s): an
// allocation (A) killed between its start-state CAS and its end-bit store, and a free of a later
// block (B) killed between its state CAS and its end-bit clear; the opener died (open_count 1).
SplitFile allocation_and_free_in_flight(const std::string &path) {
  SplitFile f = split_file(path);
  lfarena_test::Bitmaps maps{f.image, kCapacity};
  maps.set_end(f.a_block.offset + f.a_block.size - 8, false); // allocation in flight
  maps.set_state(f.b_block.offset, 2);                        // free in flight: start "freed",
  d::put_le64(&f.image[d::hdr::open_count], 1);               // end still set; its opener died
  lfarena_test::write_all(path, f.image);
  return f;
}

Options read_only(Options o) {
  o.read_only = true;
  o.open_mode = OpenMode::open_existing;
  return o;
}

// Recovery paired the allocation's start with the free's stale end bit, so the allocation's
// free split remainder was counted live and free at once, and every read-write open failed
// with accounting_mismatch.
TEST(Recovery, AllocationAndFreeInFlightTogetherLeaveAnOpenableFile) {
  lfarena_test::ScratchDir dir;
  const std::string path = dir.file("inflight.arena");
  const SplitFile f = allocation_and_free_in_flight(path);

  auto a = Arena::open_file(path, checked_file(FreelistKind::pessimistic));
  ASSERT_TRUE(a) << a.message();
  EXPECT_TRUE(a->recovery().ran);
  EXPECT_EQ(a->recovery().blocks_dropped, 1u);
  EXPECT_EQ(a->recovery().stray_ends, 1u);
  EXPECT_EQ(a->recovery().leaked_bytes, f.a_block.size + f.b_block.size);
  auto rep = a->check();
  ASSERT_TRUE(rep) << rep.message();
  EXPECT_EQ(rep->live_blocks, 2u) << "C and the filler";
  EXPECT_EQ(rep->free_bytes, 96u);
  EXPECT_TRUE(a->deallocate(f.c_block.offset, f.c_block.size));
  EXPECT_TRUE(a->deallocate(f.filler.offset, f.filler.size));
}

// A read-only opener never recovers, and its check() reported the blocks in flight as an
// accounting_mismatch, as if the file were damaged (helper-25). It now checks the file as the
// next read-write open's recovery will leave it, on a private copy, and says what that
// recovery will do; the file itself is not written.
TEST(Recovery, AReadOnlyCheckOfACrashedFileSeesItAsRecoveryWillLeaveIt) {
  lfarena_test::ScratchDir dir;
  const std::string path = dir.file("inflight.arena");
  const SplitFile f = allocation_and_free_in_flight(path);
  {
    auto r = Arena::open_file(path, read_only(checked_file(FreelistKind::pessimistic)));
    ASSERT_TRUE(r) << r.message();
    EXPECT_FALSE(r->recovery().ran);
    for (int twice = 0; twice < 2; ++twice) {
      auto rep = r->check();
      ASSERT_TRUE(rep) << rep.message();
      EXPECT_EQ(rep->live_blocks, 2u) << "C and the filler";
      EXPECT_EQ(rep->free_bytes, 96u);
      EXPECT_TRUE(rep->pending_recovery.ran);
      EXPECT_EQ(rep->pending_recovery.blocks_dropped, 1u);
      EXPECT_EQ(rep->pending_recovery.stray_ends, 1u);
      EXPECT_EQ(rep->pending_recovery.leaked_bytes, f.a_block.size + f.b_block.size);
    }
  }
  EXPECT_EQ(lfarena_test::read_all(path), f.image) << "a read-only check wrote to the file";
  auto a = Arena::open_file(path, checked_file(FreelistKind::pessimistic));
  ASSERT_TRUE(a) << a.message();
  EXPECT_EQ(a->recovery().leaked_bytes, f.a_block.size + f.b_block.size);
  auto rep = a->check();
  ASSERT_TRUE(rep) << rep.message();
  EXPECT_FALSE(rep->pending_recovery.ran) << "recovered: nothing pending";
}

// A writer that died with nothing in flight: the check passes and says a recovery is pending
// (it releases nothing and leaks nothing).
TEST(Recovery, AReadOnlyCheckOfAnIdleCrashedFileSaysRecoveryIsPending) {
  lfarena_test::ScratchDir dir;
  const std::string path = dir.file("idle.arena");
  SplitFile f = split_file(path);
  d::put_le64(&f.image[d::hdr::open_count], 1);
  lfarena_test::write_all(path, f.image);
  auto r = Arena::open_file(path, read_only(checked_file(FreelistKind::pessimistic)));
  ASSERT_TRUE(r) << r.message();
  auto rep = r->check();
  ASSERT_TRUE(rep) << rep.message();
  EXPECT_TRUE(rep->pending_recovery.ran);
  EXPECT_EQ(rep->pending_recovery.leaked_bytes, 0u);
  EXPECT_EQ(rep->live_blocks, 4u) << "A, B, C and the filler";
}

// Damage in a crashed file is still damage: the check of a read-only opener fails as the read-
// write open will (recovery refuses the file), and says that it is the pending recovery that
// fails. Here the free 96-byte remainder is also marked live.
TEST(Recovery, AReadOnlyCheckOfADamagedCrashedFileFailsAsRecoveryWill) {
  lfarena_test::ScratchDir dir;
  const std::string path = dir.file("damaged.arena");
  SplitFile f = split_file(path);
  lfarena_test::Bitmaps maps{f.image, kCapacity};
  const std::uint32_t remainder = f.a_block.offset + f.a_block.size;
  maps.set_state(remainder, 1);
  maps.set_end(remainder + 96 - 8, true);
  d::put_le64(&f.image[d::hdr::open_count], 1);
  lfarena_test::write_all(path, f.image);
  {
    auto r = Arena::open_file(path, read_only(checked_file(FreelistKind::pessimistic)));
    ASSERT_TRUE(r) << r.message();
    auto rep = r->check();
    ASSERT_FALSE(rep);
    EXPECT_EQ(rep.code(), lfarena::errc::accounting_mismatch) << rep.message();
    EXPECT_NE(rep.message().find("recovery"), std::string::npos) << rep.message();
  }
  auto a = Arena::open_file(path, checked_file(FreelistKind::pessimistic));
  ASSERT_FALSE(a);
  EXPECT_EQ(a.code(), lfarena::errc::accounting_mismatch) << a.message();
}

// split_file()'s file with the state 3 at C's start (damage: no allocator writes it), closed
// cleanly or left by a dead opener (`crashed`: open_count 1).
SplitFile impossible_state_at_c(const std::string &path, bool crashed) {
  SplitFile f = split_file(path);
  lfarena_test::Bitmaps maps{f.image, kCapacity};
  maps.set_state(f.c_block.offset, 3);
  if (crashed)
    d::put_le64(&f.image[d::hdr::open_count], 1);
  lfarena_test::write_all(path, f.image);
  return f;
}

// The state 3 (no allocator writes it: a damaged bitmap) at a live block's start. Recovery
// accepted it and the file opened, then failed its own check() ("impossible state"), and
// salvage left it as it was (helper-27: 2 of 400 damaged images). Recovery now clears it as
// damage: the block it may have started is dropped and its bytes counted leaked.
TEST(Recovery, AnImpossibleGranuleStateIsClearedAsDamage) {
  lfarena_test::ScratchDir dir;
  const std::string path = dir.file("impossible.arena");
  const SplitFile f = impossible_state_at_c(path, true);
  {
    auto r = Arena::open_file(path, read_only(checked_file(FreelistKind::pessimistic)));
    ASSERT_TRUE(r) << r.message();
    auto rep = r->check();
    ASSERT_TRUE(rep) << rep.message();
    EXPECT_EQ(rep->pending_recovery.blocks_dropped, 1u);
  }
  auto a = Arena::open_file(path, checked_file(FreelistKind::pessimistic));
  ASSERT_TRUE(a) << a.message();
  EXPECT_EQ(a->recovery().blocks_dropped, 1u);
  EXPECT_EQ(a->recovery().stray_ends, 1u) << "C's end mark";
  EXPECT_EQ(a->recovery().leaked_bytes, f.c_block.size);
  auto rep = a->check();
  ASSERT_TRUE(rep) << rep.message();
  EXPECT_EQ(rep->live_blocks, 3u) << "A, B and the filler";
  EXPECT_EQ(a->deallocate(f.c_block.offset, f.c_block.size).code(), lfarena::errc::not_block_start);
  EXPECT_TRUE(a->deallocate(f.b_block.offset, f.b_block.size));
}

// In a file that was closed cleanly, no recovery runs: the sole open refuses the state 3 (it
// used to open, and the file failed its own check()), naming the granule, and salvage clears it.
TEST(Recovery, AnImpossibleGranuleStateInACleanFileIsRefusedThenSalvaged) {
  lfarena_test::ScratchDir dir;
  const std::string path = dir.file("impossible-clean.arena");
  const SplitFile f = impossible_state_at_c(path, false);
  auto refused = Arena::open_file(path, checked_file(FreelistKind::pessimistic));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.code(), lfarena::errc::accounting_mismatch) << refused.message();
  EXPECT_NE(refused.message().find(std::to_string(f.c_block.offset)), std::string::npos)
      << refused.message();
  EXPECT_EQ(lfarena_test::read_all(path), f.image) << "a refused open wrote to the file";
  auto salvaged = Arena::salvage_file(path);
  ASSERT_TRUE(salvaged) << salvaged.message();
  EXPECT_EQ(salvaged->recovery.blocks_dropped, 1u);
  auto a = Arena::open_file(path, checked_file(FreelistKind::pessimistic));
  ASSERT_TRUE(a) << a.message();
  auto rep = a->check();
  ASSERT_TRUE(rep) << rep.message();
  EXPECT_EQ(rep->live_blocks, 3u) << "A, B and the filler";
}

} // namespace
