// Unit tests of checked mode (Options::checked, detail/checked.hpp): bad frees are reported with
// their own error code and a message naming the offset, change nothing, and leave the block
// freeable; check() counts live blocks and bytes exactly from the bitmaps; and of two threads
// freeing the same block at once exactly one succeeds.
//
// The double-free race frees 10^4 blocks twice at once per freelist kind with LFARENA_SCALE=ci
// (the default) and 10^6 with LFARENA_SCALE=nightly. Its threads meet at a spin barrier.
#include <lfarena/arena.hpp>
#include <lfarena/detail/checked.hpp>
#include <lfarena/detail/header.hpp>

#include "arena_test_support.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

using lfarena::Arena;
using lfarena::Block;
using lfarena::errc;
using Kind = lfarena::FreelistKind;

using lfarena_test::kind_name;

Arena make(Kind kind, std::uint32_t capacity = 1u << 16) {
  auto r =
      Arena::heap({.capacity = capacity, .min_segment = 32, .freelist = kind, .checked = true});
  EXPECT_TRUE(r) << r.message();
  return std::move(*r);
}

Block alloc(const Arena &a, std::uint32_t size, std::uint32_t align = 8) {
  auto r = a.allocate(size, align);
  EXPECT_TRUE(r) << "allocate(" << size << ", " << align << "): " << r.message();
  return r ? *r : Block{};
}

// Exhausts the bump region so that later allocations come from the freelist; returns the filler.
Block fill_rest(const Arena &a) {
  const auto rest = a.stats().remaining;
  const Block filler = rest != 0 ? alloc(a, static_cast<std::uint32_t>(rest)) : Block{};
  EXPECT_EQ(a.stats().remaining, 0u);
  return filler;
}

// deallocate(offset, size) fails with `code`, its message names the offset, and nothing changed.
void expect_rejected(const Arena &a, std::uint32_t offset, std::uint32_t size, errc code) {
  const auto before = a.check();
  ASSERT_TRUE(before) << before.message();
  const auto st = a.stats();
  const auto s = a.deallocate(offset, size);
  EXPECT_EQ(s.code(), code) << "deallocate(" << offset << ", " << size << "): " << s.message();
  EXPECT_NE(s.message().find("offset " + std::to_string(offset)), std::string::npos) << s.message();
  const auto after = a.check();
  ASSERT_TRUE(after) << after.message();
  EXPECT_EQ(after->live_blocks, before->live_blocks);
  EXPECT_EQ(after->live_bytes, before->live_bytes);
  EXPECT_EQ(after->free_segments, before->free_segments);
  EXPECT_EQ(after->free_bytes, before->free_bytes);
  EXPECT_EQ(a.stats().allocated, st.allocated);
  EXPECT_EQ(a.stats().discarded, st.discarded);
}

void expect_live(const Arena &a, std::uint64_t blocks, std::uint64_t bytes) {
  const auto r = a.check();
  ASSERT_TRUE(r) << r.message();
  EXPECT_EQ(r->live_blocks, blocks);
  EXPECT_EQ(r->live_bytes, bytes);
  EXPECT_EQ(r->live_bytes + r->free_bytes + a.stats().discarded, a.stats().allocated);
}

class Checked : public ::testing::TestWithParam<Kind> {};
INSTANTIATE_TEST_SUITE_P(Kinds, Checked,
                         ::testing::Values(Kind::none, Kind::optimistic, Kind::pessimistic),
                         [](const auto &info) { return kind_name(info.param); });
class CheckedSplit : public Checked {};
INSTANTIATE_TEST_SUITE_P(Kinds, CheckedSplit,
                         ::testing::Values(Kind::optimistic, Kind::pessimistic),
                         [](const auto &info) { return kind_name(info.param); });

TEST_P(Checked, DoubleFreeIsReported) {
  const Arena a = make(GetParam());
  const Block x = alloc(a, 64), guard = alloc(a, 8); // the guard keeps x from rolling back
  ASSERT_TRUE(a.deallocate(x.offset, x.size));
  expect_rejected(a, x.offset, 64, errc::double_free);
  expect_rejected(a, x.offset, 60, errc::double_free); // the requested size: same answer
  expect_rejected(a, x.offset, 8, errc::double_free);  // the state is checked before the size
  expect_live(a, 1, guard.size);
}

TEST_P(Checked, SecondFreeOfARolledBackBlockIsOutOfRange) {
  const Arena a = make(GetParam());
  const Block x = alloc(a, 64); // the most recent block: its free rolls the bump offset back
  const auto allocated = a.stats().allocated;
  ASSERT_TRUE(a.deallocate(x.offset, x.size));
  EXPECT_EQ(a.stats().allocated, allocated - 64);
  EXPECT_EQ(a.deallocate(x.offset, x.size).code(), errc::offset_out_of_range);
  const Block again = alloc(a, 64); // the same bytes, handed out once more, are live again
  EXPECT_EQ(again.offset, x.offset);
  expect_live(a, 1, 64);
  ASSERT_TRUE(a.deallocate(again.offset, again.size));
  expect_live(a, 0, 0);
}

TEST_P(Checked, InteriorAndNeverAllocatedOffsetsAreNotBlockStarts) {
  const Arena a = make(GetParam());
  const Block x = alloc(a, 64), small = alloc(a, 8);
  const Block aligned = alloc(a, 64, 64); // after a pad (56 bytes) where no block starts
  const std::uint32_t pad = aligned.offset - small.offset - 8;
  ASSERT_GT(pad, 0u);
  alloc(a, 8); // guard
  expect_rejected(a, x.offset + 8, 56, errc::not_block_start);
  expect_rejected(a, x.offset + 56, 8, errc::not_block_start);
  expect_rejected(a, x.offset + 4, 60, errc::not_block_start);    // not 8-aligned
  expect_rejected(a, small.offset + 8, 8, errc::not_block_start); // in the padding
  ASSERT_TRUE(a.deallocate(x.offset, x.size));
  expect_rejected(a, x.offset + 16, 8, errc::not_block_start); // inside a freed block
  expect_live(a, 3, 8 + 64 + 8);
}

TEST_P(CheckedSplit, SplitRemainderStartIsNotABlockStart) {
  const Arena a = make(GetParam());
  const Block x = alloc(a, 256);
  fill_rest(a);
  ASSERT_TRUE(a.deallocate(x.offset, x.size));
  const Block head = alloc(a, 64); // split: the remainder [x+64, x+256) goes back
  ASSERT_EQ(head.offset, x.offset);
  ASSERT_EQ(head.size, 64u);
  expect_rejected(a, x.offset + 64, 192, errc::not_block_start);
  expect_rejected(a, x.offset + 64, 8, errc::not_block_start);
  ASSERT_TRUE(a.deallocate(head.offset, head.size));
}

TEST_P(Checked, WrongSizeIsReportedAndTheCorrectFreeStillWorks) {
  const Arena a = make(GetParam());
  const Block x = alloc(a, 64), y = alloc(a, 64), guard = alloc(a, 8);
  for (std::uint32_t size : {8u, 56u, 72u, 128u, 136u}) { // 128 ends where y ends
    SCOPED_TRACE(size);
    expect_rejected(a, x.offset, size, errc::wrong_size);
    const auto s = a.deallocate(x.offset, size);
    EXPECT_NE(s.message().find("size " + std::to_string(size)), std::string::npos) << s.message();
  }
  ASSERT_TRUE(a.deallocate(x.offset, 61)); // the requested size rounds to the block size
  expect_rejected(a, x.offset, 64, errc::double_free);
  ASSERT_TRUE(a.deallocate(y.offset, y.size)); // y untouched by the attempts that covered it
  expect_live(a, 1, guard.size);
}

// A remainder below min_segment is handed out with the block; the block must then be freed with
// the size it was given (Block::size), not with the size that was requested.
TEST_P(CheckedSplit, EnlargedBlockIsFreedWithItsBlockSize) {
  const Arena a = make(GetParam());
  const Block x = alloc(a, 96);
  fill_rest(a);
  ASSERT_TRUE(a.deallocate(x.offset, x.size));
  const Block b = alloc(a, 65); // rounds to 72; the remainder of 24 < 32 comes with it
  ASSERT_EQ(b.offset, x.offset);
  ASSERT_EQ(b.size, 96u);
  expect_rejected(a, b.offset, 65, errc::wrong_size);
  expect_rejected(a, b.offset, 72, errc::wrong_size);
  ASSERT_TRUE(a.deallocate(b.offset, b.size));
  expect_rejected(a, b.offset, 96, errc::double_free);
}

TEST_P(Checked, CheckCountsLiveBlocksExactly) {
  const Arena a = make(GetParam(), 1u << 14);
  std::vector<Block> live;
  auto expect_shadow = [&] {
    std::uint64_t bytes = 0;
    for (const Block &b : live)
      bytes += b.size;
    expect_live(a, live.size(), bytes);
  };
  expect_shadow();
  for (std::uint32_t s = 8; s <= 512; s += 40)
    live.push_back(alloc(a, s, s % 3 ? 8 : 64));
  expect_shadow();
  std::vector<Block> kept;
  for (std::size_t i = 0; i < live.size(); ++i) { // every other one: into the freelist
    if (i % 2 == 0)
      kept.push_back(live[i]);
    else
      ASSERT_TRUE(a.deallocate(live[i].offset, live[i].size));
  }
  live = kept;
  expect_shadow();
  const auto allocated = a.stats().allocated;
  ASSERT_TRUE(a.deallocate(live.back().offset, live.back().size)); // rolled back
  EXPECT_LT(a.stats().allocated, allocated);
  live.pop_back();
  expect_shadow();
  live.push_back(fill_rest(a));
  expect_shadow();
  for (std::uint32_t s : {24u, 40u, 16u, 100u, 8u}) { // from the freelist (none: out of memory)
    const auto r = a.allocate(s);
    EXPECT_EQ(r.ok(), GetParam() != Kind::none) << r.message();
    if (r)
      live.push_back(*r);
    expect_shadow();
  }
  for (const Block &b : live)
    ASSERT_TRUE(a.deallocate(b.offset, b.size));
  live.clear();
  expect_shadow();
}

// Damage to the end map (a wild write, a damaged file): live block x loses its end mark, and
// live block y follows it. The bitmaps then say "a block from x's start to y's end" with y's
// live start inside it. Granules inside a live block have no state (on_allocate clears them),
// so a start inside one is damage.
void lose_end_mark(const Arena &a, Block x) {
  namespace d = lfarena::detail;
  const auto *h = reinterpret_cast<const unsigned char *>(a.base());
  const std::uint32_t ends =
      d::get_le32(h + d::hdr::bitmap_offset) + d::state_map_bytes(a.stats().capacity);
  const std::uint32_t last = (x.offset + x.size) / d::kGranule - 1; // x's end mark
  auto *word = reinterpret_cast<std::uint64_t *>(a.base() + ends) + last / 64;
  ASSERT_NE(*word & (std::uint64_t{1} << (last % 64)), 0u) << "x's end mark not found";
  *word &= ~(std::uint64_t{1} << (last % 64));
}

// check() took x and y for one block of both sizes (the accounting still added up) and passed.
TEST_P(Checked, CheckFindsALiveStartInsideALiveBlock) {
  const Arena a = make(GetParam(), 1u << 14);
  const Block x = alloc(a, 64), y = alloc(a, 64);
  ASSERT_EQ(y.offset, x.offset + x.size) << "the two blocks must be neighbours";
  ASSERT_TRUE(a.check());
  lose_end_mark(a, x);
  const auto rep = a.check();
  ASSERT_FALSE(rep) << "check() passed a live start inside a live block";
  EXPECT_NE(rep.message().find(std::to_string(y.offset)), std::string::npos) << rep.message();
}

// And a free of x with their joint size succeeded: y's bytes were free while y's owner still
// used them (helper-43). It is refused now (wrong_size), and y is still y's.
TEST_P(Checked, AFreeOverALiveStartIsRefused) {
  const Arena a = make(GetParam(), 1u << 14);
  const Block x = alloc(a, 64), y = alloc(a, 64);
  ASSERT_EQ(y.offset, x.offset + x.size) << "the two blocks must be neighbours";
  lose_end_mark(a, x);
  const auto joint = a.deallocate(x.offset, x.size + y.size);
  EXPECT_EQ(joint.code(), errc::wrong_size) << joint.message();
  EXPECT_TRUE(a.deallocate(y.offset, y.size)) << "y is no longer a live block";
}

TEST(CheckedOff, CheckReportsNoLiveBlocksButDerivesLiveBytes) {
  auto r = Arena::heap({.capacity = 1u << 14, .freelist = Kind::optimistic});
  ASSERT_TRUE(r) << r.message();
  const Block x = alloc(*r, 100), y = alloc(*r, 8);
  (void)y;
  ASSERT_TRUE(r->deallocate(x.offset, x.size));
  const auto rep = r->check();
  ASSERT_TRUE(rep) << rep.message();
  EXPECT_EQ(rep->live_blocks, 0u);
  EXPECT_EQ(rep->live_bytes, 8u);
  EXPECT_EQ(rep->free_bytes, 104u);
}

// ---- the double-free race ------------------------------------------------------------------

int race_rounds() {
  const char *s = std::getenv("LFARENA_SCALE");
  const std::string scale = s ? s : "ci";
  if (scale == "nightly")
    return 1000000;
  EXPECT_TRUE(scale == "ci" || scale.empty()) << "LFARENA_SCALE=" << scale << " (ci|nightly)";
  return 10000;
}

// Lockstep: for each block, the main thread allocates it (a 64-byte block that is not the most
// recent bump block: from the freelist, or with a guard block behind it for kind none), then it
// and a worker meet at a spin barrier and both free that same block at once: exactly one must
// get ok and the other double_free. A barrier releases its two threads microseconds apart,
// nearly always in the same order, so the thread that won the last block is held back by `bias`
// spins in the next (plus a little seeded noise): this converges to the two frees crossing, so
// either may win. It waits for nothing and decides nothing we assert except that, over the
// rounds, both threads won some blocks (else the frees never overlapped and the test proved
// nothing).
TEST_P(Checked, ConcurrentDoubleFreeHasExactlyOneWinner) {
  const Kind kind = GetParam();
  const int blocks = race_rounds();
  // Kind none uses 64 fresh bytes (plus an 8-byte guard) per block; the checked-mode bitmaps
  // take 3/64 of the capacity.
  const std::uint32_t capacity =
      kind == Kind::none ? static_cast<std::uint32_t>(blocks) * 80 + (1u << 16) : 1u << 16;
  const Arena a = make(kind, capacity);
  Block filler{};
  if (kind != Kind::none) { // one free 64-byte segment, reused every round
    const Block seed = alloc(a, 64);
    filler = fill_rest(a);
    ASSERT_TRUE(a.deallocate(seed.offset, seed.size));
  }
  // Plain data, handed over by the barrier (its acq_rel/acquire pairs order it).
  std::uint32_t offset = 0; // 0: stop
  errc theirs = errc::ok;
  std::atomic<std::uint64_t> ticket{0};
  auto barrier = [&](std::uint64_t k) { // the k-th meeting of the two threads
    ticket.fetch_add(1, std::memory_order_acq_rel);
    // Busy-wait so that both threads leave at nearly the same time; yield after a while in
    // case the machine is oversubscribed.
    for (int spins = 0; ticket.load(std::memory_order_acquire) < 2 * k; ++spins)
      if (spins > 256)
        std::this_thread::yield();
  };
  // A long hold-back also yields: on an oversubscribed machine (ctest -j2 on 2 cores) the other
  // thread may be waiting for this CPU, and spinning would only keep it off.
  auto spin = [](std::uint64_t n) {
    [[maybe_unused]] volatile std::uint64_t sink = 0; // volatile: the loop stays
    for (std::uint64_t i = n; i != 0; --i)
      sink = i;
    if (n >= 2048)
      std::this_thread::yield();
  };
  std::uint64_t worker_delay = 0; // plain, handed over by the barrier like `offset`
  std::thread worker([&] {
    for (std::uint64_t r = 1;; ++r) {
      barrier(2 * r - 1);
      if (offset == 0)
        return;
      spin(worker_delay);
      theirs = a.deallocate(offset, 64).code();
      barrier(2 * r);
    }
  });
  int main_wins = 0, worker_wins = 0, bad = 0;
  std::string first_bad;
  std::mt19937_64 noise(0xdf);
  std::int64_t bias = 0; // > 0: main waits, < 0: the worker waits
  for (std::uint64_t r = 1;; ++r) {
    lfarena::Result<Block> x = Block{}, guard = Block{};
    if (r <= static_cast<std::uint64_t>(blocks)) {
      x = a.allocate(64);
      if (kind == Kind::none)
        guard = a.allocate(8);
    }
    if (r > static_cast<std::uint64_t>(blocks) || !x || x->size != 64 || !guard) {
      if (r <= static_cast<std::uint64_t>(blocks) && bad++ == 0)
        first_bad = "round " + std::to_string(r) + ": allocate: " + x.message() + guard.message();
      offset = 0;
      barrier(2 * r - 1);
      break;
    }
    offset = x->offset;
    worker_delay = static_cast<std::uint64_t>(bias < 0 ? -bias : 0) + noise() % 32;
    barrier(2 * r - 1);
    spin(static_cast<std::uint64_t>(bias > 0 ? bias : 0) + noise() % 32);
    const errc mine = a.deallocate(offset, 64).code();
    barrier(2 * r);
    if (mine == errc::ok && theirs == errc::double_free) {
      ++main_wins;
      bias = std::min<std::int64_t>(bias + 64, 1 << 14);
    } else if (mine == errc::double_free && theirs == errc::ok) {
      ++worker_wins;
      bias = std::max<std::int64_t>(bias - 64, -(1 << 14));
    } else if (bad++ == 0)
      first_bad = "round " + std::to_string(r) + ", block " + std::to_string(offset) + ": main " +
                  lfarena::to_string(mine) + ", worker " + lfarena::to_string(theirs);
    if (kind == Kind::none && !a.deallocate(guard->offset, guard->size) && bad++ == 0)
      first_bad = "round " + std::to_string(r) + ": the guard could not be freed";
  }
  worker.join();
  EXPECT_EQ(bad, 0) << first_bad;
  EXPECT_EQ(main_wins + worker_wins, blocks);
  EXPECT_GT(main_wins, 0) << "the frees never overlapped: the worker always came first";
  EXPECT_GT(worker_wins, 0) << "the frees never overlapped: the main thread always came first";
  std::printf("[          ] %s: %d blocks freed twice at once, main won %d, worker won %d\n",
              kind_name(kind).c_str(), blocks, main_wins, worker_wins);
  expect_live(a, filler.size != 0 ? 1 : 0, filler.size);
}

} // namespace
