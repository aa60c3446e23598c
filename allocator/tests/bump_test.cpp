// Unit tests of single-threaded bump allocation through lfarena::Arena, on every backing (heap,
// anonymous mmap, file mmap): offsets, rounding, absolute alignment, argument errors, exhaustion,
// rollback of the most recent block, discarding with freelist policy none, typed construction,
// bounds-checked access, stats, flushing and the user area (docs/DESIGN.md §1, §4).
#include <lfarena/arena.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "arena_test_support.hpp"

namespace {

using lfarena::Arena;
using lfarena::Block;
using lfarena::errc;
using lfarena::Options;
using lfarena_test::BackingKind;

std::uintptr_t addr(const Arena &a, std::uint32_t off) {
  return reinterpret_cast<std::uintptr_t>(a.base() + off);
}

struct Point {
  Point(int x_, double y_, char tag_) : x(x_), y(y_), tag(tag_) {}
  int x;
  double y;
  char tag;
};

struct alignas(64) Line {
  explicit Line(std::uint64_t a_) : a(a_), b(static_cast<std::uint32_t>(a_ * 2)) {}
  std::uint64_t a;
  std::uint32_t b;
};

struct alignas(128) OverAligned {
  std::uint64_t v = 0;
};

class BumpTest : public testing::TestWithParam<BackingKind> {
protected:
  Arena open(Options o = small()) {
    auto r = lfarena_test::make_arena(GetParam(), o, dir_, "bump" + std::to_string(n_++));
    EXPECT_TRUE(r.ok()) << r.message();
    return r.ok() ? *r : Arena();
  }
  static Options small() {
    Options o;
    o.capacity = 64 << 10;
    return o;
  }
  lfarena_test::ScratchDir dir_;
  int n_ = 0;
};

TEST_P(BumpTest, OffsetsAreNonZeroAboveDataOffsetAndDisjoint) {
  Arena a = open();
  const std::uint32_t data = a.stats().data_offset;
  EXPECT_GE(data, lfarena::detail::kFixedAreaEnd);
  std::uint32_t prev_end = data;
  for (std::uint32_t size = 1; size <= 200; size += 7) {
    auto b = a.allocate(size);
    ASSERT_TRUE(b.ok()) << b.message();
    EXPECT_NE(b->offset, 0u);
    EXPECT_GE(b->offset, data);
    EXPECT_GE(b->offset, prev_end) << "overlaps the previous block";
    EXPECT_EQ(b->offset % 8, 0u);
    prev_end = b->offset + b->size;
  }
  EXPECT_EQ(a.stats().allocated, prev_end - data);
}

TEST_P(BumpTest, SizesRoundUpToEight) {
  Arena a = open();
  for (std::uint32_t size = 1; size <= 40; ++size) {
    const std::uint64_t before = a.stats().allocated;
    auto b = a.allocate(size);
    ASSERT_TRUE(b.ok()) << b.message();
    const std::uint32_t want = (size + 7) / 8 * 8;
    EXPECT_EQ(b->size, want) << "size " << size;
    EXPECT_EQ(a.stats().allocated - before, want) << "size " << size;
  }
}

TEST_P(BumpTest, AlignmentHoldsForAbsoluteAddressesAndPaddingIsDiscarded) {
  Options o = small();
  o.max_alignment = 4096;
  Arena a = open(o);
  for (std::uint32_t align = 8; align <= 4096; align *= 2) {
    ASSERT_TRUE(a.allocate(8).ok()); // knock the bump word off any large alignment
    const lfarena::Stats before = a.stats();
    const std::uint64_t top = before.data_offset + before.allocated;
    auto b = a.allocate(24, align);
    ASSERT_TRUE(b.ok()) << "align " << align << ": " << b.message();
    EXPECT_EQ(addr(a, b->offset) % align, 0u) << "align " << align;
    EXPECT_EQ(b->offset % align, 0u);
    EXPECT_GE(b->offset, top);
    EXPECT_LT(b->offset - top, align);
    const lfarena::Stats after = a.stats();
    EXPECT_EQ(after.discarded - before.discarded, b->offset - top) << "padding not counted";
    EXPECT_EQ(after.data_offset + after.allocated, b->offset + 24u);
  }
}

TEST_P(BumpTest, AlignmentsBelowEightAreRaisedToEight) {
  Arena a = open();
  for (std::uint32_t align : {1u, 2u, 4u}) {
    ASSERT_TRUE(a.allocate(3, 1).ok());
    auto b = a.allocate(5, align);
    ASSERT_TRUE(b.ok()) << b.message();
    EXPECT_EQ(b->offset % 8, 0u);
    EXPECT_EQ(b->size, 8u);
  }
}

TEST_P(BumpTest, ZeroSizeIsAnError) {
  Arena a = open();
  auto b = a.allocate(0);
  EXPECT_EQ(b.code(), errc::zero_size) << b.message();
  EXPECT_EQ(a.allocate_zeroed(0).code(), errc::zero_size);
  EXPECT_EQ(a.stats().allocated, 0u);
}

TEST_P(BumpTest, BadAlignmentIsAnError) {
  Arena a = open(); // max_alignment 64
  for (std::uint32_t align :
       {0u, 3u, 5u, 6u, 7u, 9u, 12u, 24u, 100u, 128u, 4096u, 0x80000000u, 0xffffffffu}) {
    auto b = a.allocate(16, align);
    EXPECT_EQ(b.code(), errc::bad_alignment) << "align " << align << ": " << b.message();
    EXPECT_NE(b.message().find(std::to_string(align)), std::string::npos) << b.message();
  }
  EXPECT_EQ(a.stats().allocated, 0u);
}

TEST_P(BumpTest, HugeSizesAreSizeOverflowNotWrapAround) {
  Arena a = open();
  ASSERT_TRUE(a.allocate(8).ok());
  const lfarena::Stats before = a.stats();
  for (std::uint32_t size :
       {0xffffffffu, 0xfffffff9u, 0xfffffff8u, 0xffffffc1u, 0x80000000u, before.capacity + 1}) {
    for (std::uint32_t align : {8u, 64u}) {
      auto b = a.allocate(size, align);
      EXPECT_EQ(b.code(), errc::size_overflow) << "size " << size << ": " << b.message();
    }
  }
  EXPECT_EQ(a.stats().allocated, before.allocated);
  EXPECT_EQ(a.stats().discarded, before.discarded);
}

TEST_P(BumpTest, ExhaustionIsOutOfMemoryAndLeavesTheArenaUnchanged) {
  Arena a = open();
  std::uint32_t count = 0;
  lfarena::Result<Block> b = a.allocate(1000);
  for (; b.ok(); b = a.allocate(1000))
    ++count;
  EXPECT_EQ(b.code(), errc::out_of_memory) << b.message();
  const lfarena::Stats s = a.stats();
  EXPECT_EQ(count, (s.capacity - s.data_offset) / 1000);
  EXPECT_LT(s.remaining, 1000u);
  EXPECT_EQ(s.allocated + s.remaining, s.capacity - s.data_offset);
  // A failed allocation moves nothing, however often it is retried.
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(a.allocate(1000).code(), errc::out_of_memory);
    EXPECT_EQ(a.allocate(999, 64).code(), errc::out_of_memory);
    const lfarena::Stats t = a.stats();
    EXPECT_EQ(t.allocated, s.allocated);
    EXPECT_EQ(t.remaining, s.remaining);
    EXPECT_EQ(t.discarded, s.discarded);
  }
  // What still fits is still handed out, to the last byte.
  ASSERT_GT(s.remaining, 0u);
  auto last = a.allocate(static_cast<std::uint32_t>(s.remaining));
  ASSERT_TRUE(last.ok()) << last.message();
  EXPECT_EQ(last->offset + last->size, s.capacity);
  EXPECT_EQ(a.stats().remaining, 0u);
  EXPECT_EQ(a.allocate(8).code(), errc::out_of_memory);
}

TEST_P(BumpTest, FreeingTheMostRecentBlockRollsTheBumpBack) {
  Arena a = open();
  auto first = a.allocate(40);
  auto second = a.allocate(100);
  ASSERT_TRUE(first.ok() && second.ok());
  const std::uint64_t before = a.stats().allocated;
  ASSERT_TRUE(a.deallocate(second->offset, 100).ok()); // the requested size rounds the same
  EXPECT_EQ(a.stats().allocated, before - 104);
  auto again = a.allocate(100);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->offset, second->offset);
  // Freeing in reverse order rolls everything back, nothing is discarded.
  ASSERT_TRUE(a.deallocate(again->offset, again->size).ok());
  ASSERT_TRUE(a.deallocate(first->offset, first->size).ok());
  EXPECT_EQ(a.stats().allocated, 0u);
  EXPECT_EQ(a.stats().discarded, 0u);
  EXPECT_EQ(a.allocate(8)->offset, first->offset);
}

TEST_P(BumpTest, FreeingAnOlderBlockWithPolicyNoneCountsItDiscarded) {
  Arena a = open();
  auto older = a.allocate(40);
  auto newer = a.allocate(16);
  ASSERT_TRUE(older.ok() && newer.ok());
  const lfarena::Stats before = a.stats();
  ASSERT_TRUE(a.deallocate(older->offset, older->size).ok());
  const lfarena::Stats after = a.stats();
  EXPECT_EQ(after.discarded, before.discarded + 40);
  EXPECT_EQ(after.allocated, before.allocated) << "an older block cannot roll back";
  auto next = a.allocate(40);
  ASSERT_TRUE(next.ok());
  EXPECT_NE(next->offset, older->offset) << "policy none must not reuse freed bytes";
  EXPECT_GE(next->offset, newer->offset + newer->size);
}

TEST_P(BumpTest, DeallocateArgumentErrors) {
  Arena a = open();
  auto b = a.allocate(32);
  ASSERT_TRUE(b.ok());
  const lfarena::Stats s = a.stats();
  EXPECT_EQ(a.deallocate(0, 8).code(), errc::null_offset);
  EXPECT_EQ(a.deallocate(b->offset, 0).code(), errc::zero_size);
  EXPECT_EQ(a.deallocate(8, 8).code(), errc::offset_out_of_range); // inside the header
  EXPECT_EQ(a.deallocate(s.data_offset - 8, 8).code(), errc::offset_out_of_range);
  EXPECT_EQ(a.deallocate(b->offset + 32, 8).code(), errc::offset_out_of_range); // above bump
  EXPECT_EQ(a.deallocate(s.capacity - 8, 8).code(), errc::offset_out_of_range);
  EXPECT_EQ(a.deallocate(0xfffffff8u, 8).code(), errc::offset_out_of_range);
  EXPECT_EQ(a.deallocate(b->offset, 0xffffffffu).code(), errc::offset_out_of_range);
  EXPECT_EQ(a.deallocate(b->offset, 40).code(), errc::offset_out_of_range);
  EXPECT_EQ(a.deallocate(b->offset + 4, 8).code(), errc::not_block_start);
  auto msg = a.deallocate(0xfffffff8u, 8);
  EXPECT_NE(msg.message().find("4294967288"), std::string::npos) << msg.message();
  EXPECT_EQ(a.stats().allocated, s.allocated);
  EXPECT_EQ(a.stats().discarded, s.discarded);
}

TEST_P(BumpTest, AllocateZeroedClearsDirtyBytesReusedByRollback) {
  Arena a = open();
  auto dirty = a.allocate(256);
  ASSERT_TRUE(dirty.ok());
  std::memset(a.base() + dirty->offset, 0xab, 256);
  ASSERT_TRUE(a.deallocate(dirty->offset, 256).ok());
  // The rollback hands the same, still dirty, bytes out again (read only once they are handed
  // out: freed arena memory is poisoned in ASan builds).
  auto again = a.allocate(256);
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(again->offset, dirty->offset);
  ASSERT_EQ(static_cast<unsigned char>(a.base()[dirty->offset + 100]), 0xabu);
  ASSERT_TRUE(a.deallocate(again->offset, 256).ok());
  auto z = a.allocate_zeroed(256);
  ASSERT_TRUE(z.ok());
  ASSERT_EQ(z->offset, dirty->offset);
  const auto *p = reinterpret_cast<const unsigned char *>(a.base() + z->offset);
  EXPECT_TRUE(std::all_of(p, p + 256, [](unsigned char c) { return c == 0; }));
}

TEST_P(BumpTest, CreateConstructsTypedObjectsAtTheirAlignment) {
  Arena a = open();
  ASSERT_TRUE(a.allocate(8).ok()); // so that 64-alignment needs padding
  auto p = a.create<Point>(7, 2.5, 'p');
  ASSERT_TRUE(p.ok()) << p.message();
  auto l = a.create<Line>(std::uint64_t{0x1234567890});
  ASSERT_TRUE(l.ok()) << l.message();
  EXPECT_EQ(addr(a, l->offset) % 64, 0u);
  EXPECT_EQ(addr(a, p->offset) % alignof(Point), 0u);
  const Point *pp = a.pointer<Point>(p->offset);
  ASSERT_NE(pp, nullptr);
  EXPECT_EQ(pp->x, 7);
  EXPECT_EQ(pp->y, 2.5);
  EXPECT_EQ(pp->tag, 'p');
  const Line *lp = a.pointer<Line>(l->offset);
  ASSERT_NE(lp, nullptr);
  EXPECT_EQ(lp->a, 0x1234567890u);
  EXPECT_EQ(lp->b, 0x2468acf120u & 0xffffffffu);
  EXPECT_GE(l->offset, p->offset + sizeof(Point)) << "objects overlap";
  EXPECT_GE(p->size, sizeof(Point));
  // Over-aligned for this arena (max_alignment 64): an error, not a misaligned object.
  EXPECT_EQ(a.create<OverAligned>().code(), errc::bad_alignment);
}

TEST_P(BumpTest, PointerIsNullOutOfBoundsOrMisaligned) {
  Arena a = open();
  const lfarena::Stats s = a.stats();
  EXPECT_EQ(a.pointer<std::uint64_t>(0), nullptr);
  EXPECT_EQ(a.pointer<std::uint64_t>(8), nullptr) << "header is not data";
  EXPECT_EQ(a.pointer<std::uint64_t>(s.data_offset - 8), nullptr);
  EXPECT_EQ(a.pointer<std::uint64_t>(s.data_offset + 4), nullptr) << "misaligned";
  EXPECT_EQ(a.pointer<Line>(s.data_offset + 8), nullptr) << "misaligned for alignas(64)";
  EXPECT_EQ(a.pointer<std::uint64_t>(s.capacity - 4), nullptr);
  EXPECT_EQ(a.pointer<std::uint64_t>(s.capacity), nullptr);
  EXPECT_EQ(a.pointer<std::uint64_t>(0xfffffff8u), nullptr);
  EXPECT_EQ(a.pointer<std::uint64_t>(s.data_offset),
            reinterpret_cast<std::uint64_t *>(a.base() + s.data_offset));
  EXPECT_NE(a.pointer<std::uint64_t>(s.capacity - 8), nullptr);
  EXPECT_NE(a.pointer<char>(s.data_offset + 1), nullptr);
}

TEST_P(BumpTest, BytesAreBoundsChecked) {
  Arena a = open();
  const lfarena::Stats s = a.stats();
  auto ok = a.bytes(s.data_offset, 16);
  ASSERT_TRUE(ok.ok()) << ok.message();
  EXPECT_EQ(ok->data(), a.base() + s.data_offset);
  EXPECT_EQ(ok->size(), 16u);
  auto tail = a.bytes(s.capacity - 16, 16);
  ASSERT_TRUE(tail.ok()) << tail.message();
  EXPECT_EQ(tail->data(), a.base() + s.capacity - 16);
  EXPECT_EQ(a.bytes(s.data_offset - 1, 1).code(), errc::offset_out_of_range);
  EXPECT_EQ(a.bytes(0, 8).code(), errc::offset_out_of_range);
  EXPECT_EQ(a.bytes(s.capacity - 16, 17).code(), errc::offset_out_of_range);
  EXPECT_EQ(a.bytes(s.data_offset, 0xffffffffu).code(), errc::offset_out_of_range);
  auto wrap = a.bytes(0xffffffffu, 0xffffffffu);
  EXPECT_EQ(wrap.code(), errc::offset_out_of_range);
  EXPECT_NE(wrap.message().find("4294967295"), std::string::npos) << wrap.message();
}

TEST_P(BumpTest, OffsetOfRoundTripsAndRejectsForeignPointers) {
  Arena a = open();
  for (std::uint32_t size : {8u, 24u, 100u}) {
    auto b = a.allocate(size);
    ASSERT_TRUE(b.ok());
    auto back = a.offset_of(a.base() + b->offset);
    ASSERT_TRUE(back.ok()) << back.message();
    EXPECT_EQ(*back, b->offset);
    EXPECT_EQ(*a.offset_of(a.base() + b->offset + size - 1), b->offset + size - 1);
  }
  const lfarena::Stats s = a.stats();
  EXPECT_EQ(*a.offset_of(a.base() + s.capacity - 1), s.capacity - 1);
  int on_stack = 0;
  auto on_heap = std::make_unique<int>(0);
  EXPECT_EQ(a.offset_of(&on_stack).code(), errc::offset_out_of_range);
  EXPECT_EQ(a.offset_of(on_heap.get()).code(), errc::offset_out_of_range);
  EXPECT_EQ(a.offset_of(nullptr).code(), errc::offset_out_of_range);
  EXPECT_EQ(a.offset_of(a.base()).code(), errc::offset_out_of_range) << "the header";
  EXPECT_EQ(a.offset_of(a.base() + s.data_offset - 1).code(), errc::offset_out_of_range);
  EXPECT_EQ(a.offset_of(a.base() + s.capacity).code(), errc::offset_out_of_range);
  Arena other = open();
  EXPECT_EQ(a.offset_of(other.base() + s.data_offset).code(), errc::offset_out_of_range);
}

TEST_P(BumpTest, StatsTrackAllocationAndHandles) {
  Arena a = open();
  lfarena::Stats s = a.stats();
  EXPECT_EQ(s.capacity, 64u << 10);
  EXPECT_EQ(s.data_offset, lfarena::detail::kFixedAreaEnd);
  EXPECT_EQ(s.allocated, 0u);
  EXPECT_EQ(s.remaining, s.capacity - s.data_offset);
  EXPECT_EQ(s.discarded, 0u);
  EXPECT_EQ(s.handle_count, 1u);
  ASSERT_TRUE(a.allocate(100).ok());
  s = a.stats();
  EXPECT_EQ(s.allocated, 104u);
  EXPECT_EQ(s.remaining, s.capacity - s.data_offset - 104);
  {
    Arena copy = a; // NOLINT(performance-unnecessary-copy-initialization)
    EXPECT_EQ(a.stats().handle_count, 2u);
    std::vector<Arena> more(3, a);
    EXPECT_EQ(copy.stats().handle_count, 5u);
    Arena moved = std::move(more.back());
    more.pop_back();
    EXPECT_EQ(a.stats().handle_count, 5u) << "a move is not a new handle";
    EXPECT_EQ(copy.stats().allocated, 104u) << "copies share the region";
  }
  EXPECT_EQ(a.stats().handle_count, 1u);
}

TEST_P(BumpTest, FlushSucceedsOnEveryBacking) {
  Arena a = open();
  auto b = a.allocate(5000);
  ASSERT_TRUE(b.ok());
  std::memset(a.base() + b->offset, 0x5a, 5000);
  const std::uint32_t cap = a.stats().capacity;
  EXPECT_TRUE(a.flush().ok()) << a.flush().message();
  EXPECT_TRUE(a.flush_range(b->offset, 5000).ok());
  EXPECT_TRUE(a.flush_range(0, cap).ok());
  EXPECT_TRUE(a.flush_range(cap - 1, 1).ok());
  EXPECT_TRUE(a.flush_range(cap - 8, 1000).ok()) << "a range past the end is clipped";
  EXPECT_TRUE(a.flush_async().ok());
  EXPECT_EQ(static_cast<unsigned char>(a.base()[b->offset + 4999]), 0x5au);
}

TEST_P(BumpTest, UserAreaHasTheReservedSizeBetweenHeaderAndData) {
  Options o = small();
  o.user_reserved = 100;
  Arena a = open(o);
  const std::span<std::byte> u = a.user_area();
  ASSERT_EQ(u.size(), 100u);
  const lfarena::Stats s = a.stats();
  EXPECT_GE(u.data(), a.base() + lfarena::detail::kFixedAreaEnd);
  EXPECT_LE(u.data() + u.size(), a.base() + s.data_offset);
  EXPECT_EQ(s.data_offset % 64, 0u);
  EXPECT_TRUE(std::all_of(u.begin(), u.end(), [](std::byte c) { return c == std::byte{0}; }));
  std::memset(u.data(), 0x77, u.size());
  auto b = a.allocate_zeroed(64);
  ASSERT_TRUE(b.ok());
  EXPECT_GE(a.base() + b->offset, u.data() + u.size());
  EXPECT_EQ(a.user_area()[99], std::byte{0x77}) << "allocation clobbered the user area";
}

INSTANTIATE_TEST_SUITE_P(Backings, BumpTest, testing::ValuesIn(lfarena_test::kAllBackings),
                         [](const testing::TestParamInfo<BackingKind> &i) {
                           return lfarena_test::backing_name(i.param);
                         });

TEST(BumpFile, UserAreaSurvivesReopen) {
  lfarena_test::ScratchDir dir;
  const std::string path = dir.file("user.arena");
  Options o;
  o.capacity = 64 << 10;
  o.user_reserved = 40;
  {
    auto a = Arena::open_file(path, o);
    ASSERT_TRUE(a.ok()) << a.message();
    ASSERT_EQ(a->user_area().size(), 40u);
    std::memcpy(a->user_area().data(), "root pointer lives here", 24);
  }
  Options reopen;
  reopen.open_mode = lfarena::OpenMode::open_existing;
  auto a = Arena::open_file(path, reopen); // user_reserved comes from the file
  ASSERT_TRUE(a.ok()) << a.message();
  ASSERT_EQ(a->user_area().size(), 40u);
  EXPECT_EQ(std::memcmp(a->user_area().data(), "root pointer lives here", 24), 0);
  EXPECT_EQ(a->options().user_reserved, 40u);
}

} // namespace
