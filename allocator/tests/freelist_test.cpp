// Unit tests of the sorted freelist policies (docs/DESIGN.md §1.4, §1.5, §5.2), single-threaded.
//
// Exact freelist states are built by exhausting the bump region (fill(): the listed blocks, then
// one filler block for everything that remains, so every later allocation must come from the
// freelist) and freeing chosen blocks (never the filler, so nothing rolls the bump offset back).
// States are observed through allocation outcomes, check(), and walk() (freelist_test_support.hpp:
// a quiescent read of the list as persisted in the region).
//
// The spec's examples (docs/DESIGN.md §1.4) use sizes that are not multiples of 8; each is tested
// twice:
//  - scaled by 8 (exact): optimistic 800 -> 768 -> 400, request 160 gives 768 -> 640 -> 400;
//    pessimistic 336 -> 672 -> 800, request 400 gives 272 -> 336 -> 800;
//  - rounded up to 8 as the arena rounds them (100->104, 50->56, 20->24, 42->48, 84->88,
//    request 50->56, min_segment 16): optimistic 104 -> 96 -> 56, request 20 gives
//    96 -> 80 -> 56; pessimistic 48 -> 88 -> 104, request 50 gives 32 -> 48 -> 104.
#include <lfarena/arena.hpp>

#include <gtest/gtest.h>

#include "freelist_test_support.hpp"

#include <algorithm>
#include <cstdint>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace {

using lfarena::Arena;
using lfarena::Block;
using lfarena::errc;
using Kind = lfarena::FreelistKind;

using lfarena_test::Seg;
using lfarena_test::walk;

Arena make(Kind kind, std::uint32_t min_segment = 32, bool checked = false,
           std::uint32_t capacity = 1u << 16, bool size_index = true) {
  auto r = Arena::heap({.capacity = capacity,
                        .min_segment = min_segment,
                        .freelist = kind,
                        .checked = checked,
                        .size_index = size_index});
  EXPECT_TRUE(r) << r.message();
  return std::move(*r);
}

Block alloc(const Arena &a, std::uint32_t size, std::uint32_t align = 8) {
  auto r = a.allocate(size, align);
  EXPECT_TRUE(r) << "allocate(" << size << ", " << align << "): " << r.message();
  return r ? *r : Block{};
}

void release(const Arena &a, Block b) {
  auto s = a.deallocate(b.offset, b.size);
  EXPECT_TRUE(s) << "deallocate(" << b.offset << ", " << b.size << "): " << s.message();
}

// Allocates `sizes` from the bump region, then a filler block for all that remains.
std::vector<Block> fill(const Arena &a, const std::vector<std::uint32_t> &sizes) {
  std::vector<Block> out;
  for (std::uint32_t s : sizes)
    out.push_back(alloc(a, s));
  if (const auto rest = a.stats().remaining; rest != 0)
    alloc(a, static_cast<std::uint32_t>(rest));
  EXPECT_EQ(a.stats().remaining, 0u);
  return out;
}

// check() is ok, and its accounting balances with `live` bytes in use.
lfarena::CheckReport expect_consistent(const Arena &a, std::uint64_t live) {
  auto r = a.check();
  EXPECT_TRUE(r) << r.message();
  if (!r)
    return {};
  const auto st = a.stats();
  EXPECT_EQ(r->live_bytes, live);
  EXPECT_EQ(r->live_bytes + r->free_bytes + st.discarded, st.allocated);
  return *r;
}

// Allocating each segment's exact size takes the segments in list order (under both policies),
// after which the freelist is empty.
void expect_drains_in_order(const Arena &a, const std::vector<Seg> &list) {
  for (const Seg &s : list) {
    const Block b = alloc(a, static_cast<std::uint32_t>(s.size));
    EXPECT_EQ(b.offset, s.offset) << "expected segment " << s;
    EXPECT_EQ(b.size, s.size);
  }
  EXPECT_EQ(a.allocate(8).code(), errc::out_of_memory);
  EXPECT_TRUE(walk(a).empty());
}

std::uint64_t filler_bytes(const Arena &a, const std::vector<Block> &blocks) {
  std::uint64_t sum = 0;
  for (const Block &b : blocks)
    sum += b.size;
  return a.stats().allocated - sum;
}

// Blocks A, B, C of `sizes` are allocated in that order and freed C, A, B; the list must read
// `before` (indices), then `request` must be cut from the front of block `taken` and the list
// must read `after` (index -1: the remainder of the taken segment).
struct Example {
  Kind kind;
  std::uint32_t min_segment;
  std::vector<std::uint32_t> sizes;
  std::vector<int> before;
  std::uint32_t request, rounded;
  int taken;
  std::vector<std::pair<int, std::uint32_t>> after;
};

void run_example(const Example &e) {
  const Arena a = make(e.kind, e.min_segment);
  const std::vector<Block> b = fill(a, e.sizes);
  const std::uint64_t filler = filler_bytes(a, b);
  for (int i : {2, 0, 1})
    release(a, b[i]);
  std::vector<Seg> before;
  for (int i : e.before)
    before.push_back({b[i].offset, b[i].size});
  ASSERT_EQ(walk(a), before);

  const std::uint64_t discarded = a.stats().discarded;
  const Block got = alloc(a, e.request);
  EXPECT_EQ(got.offset, b[e.taken].offset);
  EXPECT_EQ(got.size, e.rounded);
  std::vector<Seg> after;
  std::uint64_t free_bytes = 0, largest = 0;
  for (auto [i, size] : e.after) {
    after.push_back({i < 0 ? got.offset + e.rounded : b[i].offset, size});
    free_bytes += size;
    largest = std::max<std::uint64_t>(largest, size);
  }
  EXPECT_EQ(walk(a), after);
  EXPECT_EQ(a.stats().discarded, discarded);
  const auto rep = expect_consistent(a, filler + e.rounded);
  EXPECT_EQ(rep.free_segments, 3u);
  EXPECT_EQ(rep.free_bytes, free_bytes);
  EXPECT_EQ(rep.largest_free, largest);
  expect_drains_in_order(a, after);
}

TEST(FreelistExample, OptimisticScaledBy8) {
  run_example({.kind = Kind::optimistic,
               .min_segment = 32,
               .sizes = {800, 768, 400},
               .before = {0, 1, 2},
               .request = 160,
               .rounded = 160,
               .taken = 0,
               .after = {{1, 768}, {-1, 640}, {2, 400}}});
}
TEST(FreelistExample, OptimisticRounded) {
  run_example({.kind = Kind::optimistic,
               .min_segment = 16,
               .sizes = {104, 96, 56},
               .before = {0, 1, 2},
               .request = 20,
               .rounded = 24,
               .taken = 0,
               .after = {{1, 96}, {-1, 80}, {2, 56}}});
}
TEST(FreelistExample, PessimisticScaledBy8) {
  run_example({.kind = Kind::pessimistic,
               .min_segment = 32,
               .sizes = {336, 672, 800},
               .before = {0, 1, 2},
               .request = 400,
               .rounded = 400,
               .taken = 1,
               .after = {{-1, 272}, {0, 336}, {2, 800}}});
}
TEST(FreelistExample, PessimisticRounded) {
  run_example({.kind = Kind::pessimistic,
               .min_segment = 16,
               .sizes = {48, 88, 104},
               .before = {0, 1, 2},
               .request = 50,
               .rounded = 56,
               .taken = 1,
               .after = {{-1, 32}, {0, 48}, {2, 104}}});
}

// Every policy test runs on both layouts (size_index): the results must be the same.
class FreelistPolicy : public ::testing::TestWithParam<std::tuple<Kind, bool>> {
protected:
  Kind kind() const { return std::get<0>(GetParam()); }
  Arena make_p(std::uint32_t min_segment = 32) const {
    return make(kind(), min_segment, false, 1u << 16, std::get<1>(GetParam()));
  }
};
INSTANTIATE_TEST_SUITE_P(Kinds, FreelistPolicy,
                         ::testing::Combine(::testing::Values(Kind::optimistic, Kind::pessimistic),
                                            ::testing::Bool()),
                         [](const auto &info) {
                           return std::string(std::get<0>(info.param) == Kind::optimistic
                                                  ? "optimistic"
                                                  : "pessimistic") +
                                  (std::get<1>(info.param) ? "_indexed" : "_linear");
                         });

// Equal sizes newest first: a free goes in front of its equals (no walk past them), and an
// allocation of that size takes the newest.
TEST_P(FreelistPolicy, EqualSizesAreNewestFirst) {
  const Arena a = make_p();
  const auto b = fill(a, {64, 64, 64, 64});
  for (int i : {3, 1, 0, 2})
    release(a, b[i]);
  const std::vector<Seg> order = {
      {b[2].offset, 64}, {b[0].offset, 64}, {b[1].offset, 64}, {b[3].offset, 64}};
  EXPECT_EQ(walk(a), order);
  expect_drains_in_order(a, order);
}

// Newest first among equals, but sizes still in the policy's order around them.
TEST_P(FreelistPolicy, EqualSizesStayBetweenTheirNeighbourSizes) {
  const Arena a = make_p();
  const auto b = fill(a, {96, 64, 128, 64, 96});
  for (int i : {0, 1, 2, 3, 4})
    release(a, b[i]);
  const std::vector<Seg> asc = {{b[3].offset, 64},
                                {b[1].offset, 64},
                                {b[4].offset, 96},
                                {b[0].offset, 96},
                                {b[2].offset, 128}};
  const std::vector<Seg> desc = {{b[2].offset, 128},
                                 {b[4].offset, 96},
                                 {b[0].offset, 96},
                                 {b[3].offset, 64},
                                 {b[1].offset, 64}};
  EXPECT_EQ(walk(a), kind() == Kind::optimistic ? desc : asc);
}

TEST_P(FreelistPolicy, PoliciesChooseDifferentSegments) {
  const Arena a = make_p();
  const auto b = fill(a, {64, 200, 120});
  for (int i : {0, 1, 2})
    release(a, b[i]);
  const Block got = alloc(a, 64);
  EXPECT_EQ(got.size, 64u);
  if (kind() == Kind::optimistic) { // the largest, split: [136, 120, 64]
    EXPECT_EQ(got.offset, b[1].offset);
    EXPECT_EQ(walk(a),
              (std::vector<Seg>{{b[1].offset + 64, 136}, {b[2].offset, 120}, {b[0].offset, 64}}));
  } else { // best fit, exact: [120, 200]
    EXPECT_EQ(got.offset, b[0].offset);
    EXPECT_EQ(walk(a), (std::vector<Seg>{{b[2].offset, 120}, {b[1].offset, 200}}));
  }
}

TEST_P(FreelistPolicy, SplitRemainderBelowMinSegmentGoesWithTheBlock) {
  for (std::uint32_t request : {72u, 65u, 88u, 96u}) { // remainders 24, 24, 8, 0 (< 32)
    SCOPED_TRACE(request);
    const Arena a = make_p(32);
    const auto b = fill(a, {96});
    release(a, b[0]);
    const std::uint64_t discarded = a.stats().discarded;
    const Block got = alloc(a, request);
    EXPECT_EQ(got.offset, b[0].offset);
    EXPECT_EQ(got.size, 96u);
    EXPECT_TRUE(walk(a).empty());
    EXPECT_EQ(a.stats().discarded, discarded); // not discarded: handed out with the block
    release(a, got);                           // and it all comes back
    EXPECT_EQ(walk(a), (std::vector<Seg>{{b[0].offset, 96}}));
  }
}

TEST_P(FreelistPolicy, SplitRemainderOfMinSegmentIsReinserted) {
  for (std::uint32_t min_segment : {16u, 32u, 48u}) {
    SCOPED_TRACE(min_segment);
    const Arena a = make_p(min_segment);
    const auto b = fill(a, {96});
    release(a, b[0]);
    const Block got = alloc(a, 96 - min_segment);
    EXPECT_EQ(got.offset, b[0].offset);
    EXPECT_EQ(got.size, 96 - min_segment);
    EXPECT_EQ(walk(a), (std::vector<Seg>{{b[0].offset + 96 - min_segment, min_segment}}));
    expect_consistent(a, filler_bytes(a, b) + got.size);
  }
}

TEST_P(FreelistPolicy, FreedBlockBelowMinSegmentIsDiscardedUnlessItIsTheLastBumpBlock) {
  const Arena a = make_p(32);
  const Block small = alloc(a, 24), next = alloc(a, 8);
  const auto before = a.stats();
  release(a, small);
  EXPECT_TRUE(walk(a).empty());
  EXPECT_EQ(a.stats().discarded, before.discarded + 24);
  release(a, next); // the most recent block: the bump offset rolls back
  EXPECT_EQ(a.stats().allocated, before.allocated - 8);
  EXPECT_EQ(a.stats().discarded, before.discarded + 24);
  expect_consistent(a, 0);
}

TEST_P(FreelistPolicy, ExactFitEmptiesTheList) {
  const Arena a = make_p();
  const auto b = fill(a, {96});
  release(a, b[0]);
  const Block got = alloc(a, 96);
  EXPECT_EQ(got.offset, b[0].offset);
  EXPECT_EQ(got.size, 96u);
  EXPECT_TRUE(walk(a).empty());
  EXPECT_EQ(a.check()->free_segments, 0u);
}

TEST_P(FreelistPolicy, EmptyListIsOutOfMemory) {
  const Arena a = make_p();
  fill(a, {});
  const auto r = a.allocate(8);
  EXPECT_EQ(r.code(), errc::out_of_memory);
  EXPECT_NE(r.message().find("no room for 8 bytes"), std::string::npos) << r.message();
  expect_consistent(a, a.stats().allocated);
}

TEST_P(FreelistPolicy, RequestLargerThanEverySegmentChangesNothing) {
  const Arena a = make_p();
  const auto b = fill(a, {96, 64, 48, 8});
  for (int i : {0, 1, 2})
    release(a, b[i]);
  const auto list = walk(a);
  const auto st = a.stats();
  for (std::uint32_t request : {97u, 104u, 4096u}) {
    EXPECT_EQ(a.allocate(request).code(), errc::out_of_memory);
    EXPECT_EQ(walk(a), list);
    EXPECT_EQ(a.stats().discarded, st.discarded);
    EXPECT_EQ(a.stats().allocated, st.allocated);
  }
  const auto rep = expect_consistent(a, filler_bytes(a, b) + 8);
  EXPECT_EQ(rep.free_segments, 3u);
  EXPECT_EQ(rep.free_bytes, 96u + 64 + 48);
  EXPECT_EQ(rep.largest_free, 96u);
}

// A segment H at an offset = 8 (mod 64) and a segment S at 0 (mod 64); a request of 64 bytes at
// alignment 64 needs 56 bytes of padding in H, so only S can serve it. With H = 72 > S = 64,
// optimistic looks at its head (H) only and fails; pessimistic scans on to S. With H = 64 < S =
// 72 both take S, pessimistic skipping H although H comes first and is big enough unaligned.
TEST_P(FreelistPolicy, AlignmentThatOnlyOneSegmentSatisfies) {
  for (const auto &[h, s] : {std::pair{72u, 64u}, std::pair{64u, 72u}}) {
    SCOPED_TRACE(h);
    const Arena a = make_p();
    ASSERT_EQ(a.stats().data_offset % 64, 0u);
    const auto b = fill(a, {8, h, 128 - 8 - h, s}); // H at base+8, S at base+128
    ASSERT_EQ(b[1].offset % 64, 8u);
    ASSERT_EQ(b[3].offset % 64, 0u);
    release(a, b[1]);
    release(a, b[3]);
    const auto list = walk(a);
    const auto r = a.allocate(64, 64);
    if (kind() == Kind::optimistic && h > s) {
      EXPECT_EQ(r.code(), errc::out_of_memory); // no scan past the head
      EXPECT_EQ(walk(a), list);
      continue;
    }
    ASSERT_TRUE(r) << r.message();
    EXPECT_EQ(r->offset, b[3].offset);
    EXPECT_EQ(r->size, s); // with S = 72 the remainder of 8 goes with the block
    EXPECT_EQ(walk(a), (std::vector<Seg>{{b[1].offset, h}}));
  }
}

TEST_P(FreelistPolicy, AlignedRequestKeepsOrDiscardsThePadding) {
  struct Case {
    std::uint32_t lead, seg; // spacer before the segment, segment size
    std::uint32_t pad;       // expected padding before the aligned start
    bool pad_kept;           // pad >= min_segment (32)
    std::uint32_t size;      // expected block size (a remainder < 32 goes with it)
  };
  for (const Case c : {Case{8, 256, 56, true, 64}, Case{40, 256, 24, false, 64},
                       Case{40, 96, 24, false, 72}, Case{0, 256, 0, false, 64}}) {
    SCOPED_TRACE(c.lead);
    SCOPED_TRACE(c.seg);
    const Arena a = make_p();
    std::vector<std::uint32_t> sizes = {c.seg};
    if (c.lead)
      sizes.insert(sizes.begin(), c.lead);
    const auto b = fill(a, sizes);
    const Block seg = b.back();
    ASSERT_EQ(seg.offset % 64, c.lead % 64);
    release(a, seg);
    const std::uint64_t discarded = a.stats().discarded;
    const Block got = alloc(a, 64, 64);
    EXPECT_EQ(got.offset % 64, 0u);
    EXPECT_EQ(got.offset, seg.offset + c.pad);
    EXPECT_EQ(got.size, c.size);
    EXPECT_EQ(a.stats().discarded, discarded + (c.pad_kept ? 0 : c.pad));
    std::vector<Seg> expect;
    const std::uint32_t rest = c.seg - c.pad - c.size;
    if (rest != 0)
      expect.push_back({got.offset + c.size, rest});
    if (c.pad_kept)
      expect.push_back({seg.offset, c.pad});
    if (kind() == Kind::pessimistic && expect.size() == 2)
      std::swap(expect[0], expect[1]);
    EXPECT_EQ(walk(a), expect);
    expect_consistent(a, filler_bytes(a, b) + c.lead + c.size);
  }
}

// A double free must never make insertion loop forever. Unchecked mode cannot catch every
// double free (options.hpp: undefined behaviour), but freeing the same block twice in a row
// must not corrupt the list. (Up to at
// least commit 2c231b6 the second insert links the node to itself: check() reports
// corrupt_freelist and the next allocation reaching the node loops forever; the test stops first.)
TEST_P(FreelistPolicy, UncheckedImmediateDoubleFreeKeepsTheListIntact) {
  const Arena a = make_p();
  const auto b = fill(a, {64, 8});
  release(a, b[0]);
  (void)a.deallocate(b[0].offset, b[0].size); // ok or an error, but no corruption
  const auto rep = a.check();
  ASSERT_NE(rep.code(), errc::corrupt_freelist)
      << rep.message() << " (an allocation now would never return)";
  const auto x = a.allocate(64), y = a.allocate(64);
  EXPECT_TRUE(x) << x.message();
  EXPECT_FALSE(x && y && x->offset == y->offset) << "block " << x->offset << " handed out twice";
}

class FreelistRoundTrip : public ::testing::TestWithParam<std::tuple<Kind, bool>> {};
INSTANTIATE_TEST_SUITE_P(KindsChecked, FreelistRoundTrip,
                         ::testing::Combine(::testing::Values(Kind::optimistic, Kind::pessimistic),
                                            ::testing::Bool()),
                         [](const auto &info) {
                           return std::string(std::get<0>(info.param) == Kind::optimistic
                                                  ? "optimistic"
                                                  : "pessimistic") +
                                  (std::get<1>(info.param) ? "_checked" : "_unchecked");
                         });

TEST_P(FreelistRoundTrip, SameSizeComesBackLosslessly) {
  const Kind kind = std::get<0>(GetParam());
  const bool checked = std::get<1>(GetParam());
  const Arena a = make(kind, 32, checked);
  const auto b = fill(a, {200, 48});
  release(a, b[0]);
  const auto st = a.stats();
  for (int i = 0; i < 10000; ++i) {
    const auto r = a.allocate(197); // rounds to 200: the exact segment
    ASSERT_TRUE(r) << "trip " << i << ": " << r.message();
    ASSERT_EQ(r->offset, b[0].offset) << "trip " << i;
    ASSERT_EQ(r->size, 200u) << "trip " << i;
    ASSERT_TRUE(a.deallocate(r->offset, i % 2 ? 197 : 200)) << "trip " << i;
  }
  EXPECT_EQ(a.stats().discarded, st.discarded);
  EXPECT_EQ(a.stats().allocated, st.allocated);
  EXPECT_EQ(walk(a), (std::vector<Seg>{{b[0].offset, 200}}));
  expect_consistent(a, filler_bytes(a, b) + 48);
}

} // namespace
