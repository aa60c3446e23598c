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

Options checked_file(FreelistKind kind) {
  Options o;
  o.capacity = kCapacity;
  o.freelist = kind;
  o.checked = true;
  o.open_mode = OpenMode::open_or_create;
  return o;
}

// Granule g's 2-bit state and end bit in a file image (layout: detail/checked.hpp).
struct Bitmaps {
  Bytes &b;
  std::uint32_t state_at = d::get_le32(&b[d::hdr::bitmap_offset]);
  std::uint32_t end_at = state_at + d::state_map_bytes(kCapacity);
  void set_state(std::uint32_t offset, unsigned st) {
    const std::uint32_t g = offset / 8;
    unsigned char &byte = b[state_at + g / 4];
    byte = static_cast<unsigned char>((byte & ~(3u << (g % 4 * 2))) | st << (g % 4 * 2));
  }
  void set_end(std::uint32_t offset_of_last_granule, bool on) {
    const std::uint32_t g = offset_of_last_granule / 8;
    unsigned char &byte = b[end_at + g / 8];
    byte = static_cast<unsigned char>(on ? byte | 1u << (g % 8) : byte & ~(1u << (g % 8)));
  }
};

// The state that used to brick a file: an allocation killed between its start-state CAS and its
// end-bit store, and a free of a later block killed between its state CAS and its end-bit clear.
// Recovery paired the allocation's start with the free's stale end bit, so the allocation's
// free split remainder was counted live and free at once, and every read-write open failed
// with accounting_mismatch.
TEST(Recovery, AllocationAndFreeInFlightTogetherLeaveAnOpenableFile) {
  lfarena_test::ScratchDir dir;
  const std::string path = dir.file("inflight.arena");
  Block a_block, b_block, c_block, filler;
  {
    auto a = Arena::open_file(path, checked_file(FreelistKind::pessimistic));
    ASSERT_TRUE(a) << a.message();
    const Block p = *a->allocate(128);
    b_block = *a->allocate(64);
    c_block = *a->allocate(64);
    filler = *a->allocate(static_cast<std::uint32_t>(a->stats().remaining));
    ASSERT_TRUE(a->deallocate(p.offset, p.size));
    a_block = *a->allocate(32); // from the freelist: P split, a 96-byte remainder reinserted
    ASSERT_EQ(a_block.offset, p.offset);
    ASSERT_EQ(a_block.size, 32u);
  }
  Bytes image = lfarena_test::read_all(path);
  Bitmaps maps{image};
  maps.set_end(a_block.offset + a_block.size - 8, false); // allocation in flight
  maps.set_state(b_block.offset, 2);                      // free in flight: start "freed",
  d::put_le64(&image[d::hdr::open_count], 1);             // end still set; its opener died
  lfarena_test::write_all(path, image);

  auto a = Arena::open_file(path, checked_file(FreelistKind::pessimistic));
  ASSERT_TRUE(a) << a.message();
  EXPECT_TRUE(a->recovery().ran);
  EXPECT_EQ(a->recovery().blocks_dropped, 1u);
  EXPECT_EQ(a->recovery().stray_ends, 1u);
  EXPECT_EQ(a->recovery().leaked_bytes, a_block.size + b_block.size);
  auto rep = a->check();
  ASSERT_TRUE(rep) << rep.message();
  EXPECT_EQ(rep->live_blocks, 2u) << "C and the filler";
  EXPECT_EQ(rep->free_bytes, 96u);
  EXPECT_TRUE(a->deallocate(c_block.offset, c_block.size));
  EXPECT_TRUE(a->deallocate(filler.offset, filler.size));
}

} // namespace
