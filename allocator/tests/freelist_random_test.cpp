// Seeded random single-thread sequences against a shadow model, per freelist policy (none,
// optimistic, pessimistic) and checked mode on/off: 10^5 allocate/deallocate operations each
// (sizes 1..128, a quarter 1..512; an eighth aligned to 16..64) on a 64 KiB arena, whose bump
// region runs out after a few hundred blocks, so the freelist does the work.
// After every operation: blocks are aligned, never overlap a live block of the shadow std::map,
// and are at least the rounded request (and less than min_segment more); out_of_memory happens
// only when nothing could serve the request (sampled: bump remainder and, for freelist kinds, the
// largest free segment too small). Every block is filled with a pattern that is verified before
// it is freed, so the freelist never writes into live memory. Every 1000 operations and at the
// end, check() is ok, its live_bytes equals the shadow sum (live_blocks the shadow count in
// checked mode) and live + free + discarded == allocated.
#include <lfarena/arena.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <iterator>
#include <map>
#include <random>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace {

using lfarena::Arena;
using lfarena::errc;
using Kind = lfarena::FreelistKind;

constexpr std::uint32_t kCapacity = 64u << 10;
constexpr std::uint32_t kMinSegment = 32;
constexpr int kOps = 100000;

class FreelistRandom : public ::testing::TestWithParam<std::tuple<Kind, bool>> {};
INSTANTIATE_TEST_SUITE_P(KindsChecked, FreelistRandom,
                         ::testing::Combine(::testing::Values(Kind::none, Kind::optimistic,
                                                              Kind::pessimistic),
                                            ::testing::Bool()),
                         [](const auto &info) {
                           const Kind k = std::get<0>(info.param);
                           return std::string(k == Kind::none         ? "none"
                                              : k == Kind::optimistic ? "optimistic"
                                                                      : "pessimistic") +
                                  (std::get<1>(info.param) ? "_checked" : "_unchecked");
                         });

struct Live {
  std::uint32_t size, requested;
  std::uint64_t pattern;
};

TEST_P(FreelistRandom, ShadowModelAndAccountingHold) {
  const Kind kind = std::get<0>(GetParam());
  const bool checked = std::get<1>(GetParam());
  auto made = Arena::heap(
      {.capacity = kCapacity, .min_segment = kMinSegment, .freelist = kind, .checked = checked});
  ASSERT_TRUE(made) << made.message();
  const Arena a = std::move(*made);
  const std::uint64_t seed = 0x5eed00 + 2 * static_cast<unsigned>(kind) + (checked ? 1 : 0);
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);

  std::map<std::uint32_t, Live> live;
  std::vector<std::uint32_t> offsets; // the keys of `live`, for picking one at random
  std::uint64_t live_bytes = 0, ooms = 0, freelist_served = 0;

  auto words = [&](std::uint32_t off, std::uint32_t size) {
    return std::pair{a.pointer<std::uint64_t>(off), size / 8};
  };
  auto expect_check = [&](int op) {
    auto r = a.check();
    ASSERT_TRUE(r) << "op " << op << ": " << r.message();
    const auto st = a.stats();
    EXPECT_EQ(r->live_bytes, live_bytes) << "op " << op;
    if (checked) {
      EXPECT_EQ(r->live_blocks, live.size()) << "op " << op;
    }
    EXPECT_EQ(r->live_bytes + r->free_bytes + st.discarded, st.allocated) << "op " << op;
  };

  for (int op = 1; op <= kOps; ++op) {
    const bool grow = live_bytes < kCapacity / 3;
    if (live.empty() || rng() % 100 < (grow ? 60u : 40u)) {
      const auto size = static_cast<std::uint32_t>(1 + rng() % (rng() % 4 == 0 ? 512 : 128));
      const std::uint32_t align = rng() % 8 == 0 ? 16u << (rng() % 3) : 8u;
      const std::uint32_t rounded = (size + 7) & ~7u;
      const std::uint64_t top_before = a.stats().allocated;
      auto r = a.allocate(size, align);
      if (!r) {
        ASSERT_EQ(r.code(), errc::out_of_memory) << "op " << op << ": " << r.message();
        // Sampled (check() walks everything): nothing could have served an 8-aligned request.
        if (++ooms % 64 == 1 && align == 8) {
          ASSERT_LT(a.stats().remaining, rounded) << "op " << op;
          auto rep = a.check();
          ASSERT_TRUE(rep) << rep.message();
          ASSERT_LT(rep->largest_free, rounded) << "op " << op;
        }
        continue;
      }
      const lfarena::Block b = *r;
      ASSERT_EQ(b.offset % align, 0u) << "op " << op;
      ASSERT_EQ(b.size % 8, 0u) << "op " << op;
      ASSERT_GE(b.size, rounded) << "op " << op;
      ASSERT_LT(b.size, rounded + kMinSegment) << "op " << op;
      auto next = live.lower_bound(b.offset);
      if (next != live.end()) {
        ASSERT_GE(next->first, b.offset + b.size) << "op " << op << ": overlaps " << next->first;
      }
      if (next != live.begin()) {
        const auto prev = std::prev(next);
        ASSERT_LE(prev->first + prev->second.size, b.offset)
            << "op " << op << ": overlaps " << prev->first;
      }
      if (a.stats().allocated <= top_before)
        ++freelist_served;
      const Live l{b.size, size, rng()};
      const auto [p, n] = words(b.offset, b.size);
      for (std::uint32_t i = 0; i < n; ++i)
        p[i] = l.pattern + i;
      live.emplace(b.offset, l);
      offsets.push_back(b.offset);
      live_bytes += b.size;
    } else {
      const std::size_t i = rng() % offsets.size();
      const std::uint32_t off = offsets[i];
      offsets[i] = offsets.back();
      offsets.pop_back();
      const Live l = live.at(off);
      live.erase(off);
      const auto [p, n] = words(off, l.size);
      for (std::uint32_t w = 0; w < n; ++w)
        ASSERT_EQ(p[w], l.pattern + w) << "op " << op << ": block " << off << " word " << w;
      // The requested size is as good as the block size when both round alike.
      const bool same = ((l.requested + 7) & ~7u) == l.size;
      const std::uint32_t free_size = same && rng() % 2 ? l.requested : l.size;
      const auto s = a.deallocate(off, free_size);
      ASSERT_TRUE(s) << "op " << op << ": " << s.message();
      live_bytes -= l.size;
    }
    if (op % 1000 == 0)
      expect_check(op);
  }
  if (kind != Kind::none) {
    EXPECT_GT(freelist_served, 1000u) << "the freelist did little work";
  }
  for (const auto &[off, l] : live)
    ASSERT_TRUE(a.deallocate(off, l.size));
  live.clear();
  live_bytes = 0;
  expect_check(kOps + 1);
  std::printf("[          ] seed %llu: %d ops, %llu served by the freelist, %llu out of memory\n",
              static_cast<unsigned long long>(seed), kOps,
              static_cast<unsigned long long>(freelist_served),
              static_cast<unsigned long long>(ooms));
}

} // namespace
