// Seeded random single-thread sequences against the sequential spec, per freelist policy (none,
// optimistic, pessimistic), checked mode off/on and size index on/off (same results either way):
// 10^5 allocate/deallocate operations each
// (sizes 1..128, a quarter 1..512; an eighth aligned to 16..64) on a 64 KiB arena, whose bump
// region runs out after a few hundred blocks, so the freelist does most of the work.
//
// Model is docs/DESIGN.md §1.3-1.5 written as plainly as possible: bump first (its alignment
// padding is given back like a freed piece), then the policy's segment (optimistic: the head of a
// list sorted by size desc, offset asc, or nothing; pessimistic: the first that fits in size asc,
// offset asc), the block cut from the front, padding and remainder kept if >= min_segment; a free
// of the most recent block rolls the bump back, other frees go to the list or are discarded.
// Every allocation must return exactly the model's block (or out_of_memory exactly when the model
// has none); every 100 operations the list read from the region equals the model's, and the
// bump offset and discarded bytes equal the model's. Independently of the model: blocks are
// aligned and never overlap a live block (shadow std::map), each block's pattern is intact when
// it is freed, and every 1000 operations and at the end check() is ok, its live_bytes equals the
// shadow sum (live_blocks the shadow count in checked mode) and live + free + discarded ==
// allocated.
#include <lfarena/arena.hpp>

#include <gtest/gtest.h>

#include "freelist_test_support.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <iterator>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace {

using lfarena::Arena;
using lfarena::errc;
using lfarena_test::Seg;
using Kind = lfarena::FreelistKind;

constexpr std::uint32_t kCapacity = 64u << 10;
constexpr std::uint32_t kMinSegment = 32;
constexpr int kOps = 100000;

std::uint64_t align_up(std::uint64_t x, std::uint64_t a) { return (x + a - 1) / a * a; }

class Model {
public:
  Model(Kind kind, std::uint64_t data_offset) : top(data_offset), kind_(kind) {}

  std::optional<Seg> allocate(std::uint32_t size, std::uint32_t align) {
    const std::uint64_t rounded = align_up(size, 8);
    if (const std::uint64_t start = align_up(top, align); start + rounded <= kCapacity) {
      const std::uint64_t old_top = top;
      top = start + rounded;
      if (start != old_top)
        give_back(old_top, start - old_top);
      return Seg{static_cast<std::uint32_t>(start), rounded};
    }
    auto fits = [&](const Seg &s) {
      return align_up(s.offset, align) - s.offset + rounded <= s.size;
    };
    auto it =
        kind_ == Kind::optimistic ? list.begin() : std::find_if(list.begin(), list.end(), fits);
    if (kind_ == Kind::none || it == list.end() || !fits(*it))
      return std::nullopt;
    const Seg seg = *it;
    list.erase(it);
    const std::uint64_t start = align_up(seg.offset, align), pad = start - seg.offset;
    Seg block{static_cast<std::uint32_t>(start), seg.size - pad};
    if (pad >= kMinSegment)
      insert({seg.offset, pad});
    else
      discarded += pad;
    if (const std::uint64_t rest = block.size - rounded; rest >= kMinSegment) {
      block.size = rounded;
      insert({static_cast<std::uint32_t>(start + rounded), rest});
    }
    return block;
  }

  void deallocate(std::uint32_t offset, std::uint32_t size) {
    const std::uint64_t rounded = align_up(size, 8);
    if (offset + rounded == top)
      top = offset;
    else
      give_back(offset, rounded);
  }

  std::vector<Seg> list; // in list order
  std::uint64_t top, discarded = 0;

private:
  void give_back(std::uint64_t offset, std::uint64_t size) {
    if (kind_ != Kind::none && size >= kMinSegment)
      insert({static_cast<std::uint32_t>(offset), size});
    else
      discarded += size;
  }
  // In front of the first segment whose size does not come before this one's (equal sizes
  // newest first: detail/sorted_list.hpp).
  void insert(const Seg &s) {
    auto size_before = [&](const Seg &a, const Seg &b) {
      return kind_ == Kind::optimistic ? a.size > b.size : a.size < b.size;
    };
    list.insert(std::lower_bound(list.begin(), list.end(), s, size_before), s);
  }
  Kind kind_;
};

class FreelistRandom : public ::testing::TestWithParam<std::tuple<Kind, bool, bool>> {};
INSTANTIATE_TEST_SUITE_P(KindsChecked, FreelistRandom,
                         ::testing::Combine(::testing::Values(Kind::none, Kind::optimistic,
                                                              Kind::pessimistic),
                                            ::testing::Bool(), ::testing::Bool()),
                         [](const auto &info) {
                           const Kind k = std::get<0>(info.param);
                           return std::string(k == Kind::none         ? "none"
                                              : k == Kind::optimistic ? "optimistic"
                                                                      : "pessimistic") +
                                  (std::get<1>(info.param) ? "_checked" : "_unchecked") +
                                  (std::get<2>(info.param) ? "_indexed" : "_linear");
                         });

struct Live {
  std::uint32_t size, requested;
  std::uint64_t pattern;
};

TEST_P(FreelistRandom, MatchesTheSequentialSpecAndAccountingHolds) {
  const Kind kind = std::get<0>(GetParam());
  const bool checked = std::get<1>(GetParam());
  auto made = Arena::heap({.capacity = kCapacity,
                           .min_segment = kMinSegment,
                           .freelist = kind,
                           .checked = checked,
                           .size_index = std::get<2>(GetParam())});
  ASSERT_TRUE(made) << made.message();
  const Arena a = std::move(*made);
  const std::uint64_t seed = 0x5eed00 + 2 * static_cast<unsigned>(kind) + (checked ? 1 : 0);
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const std::uint64_t data_offset = a.stats().data_offset;
  Model model(kind, data_offset);

  std::map<std::uint32_t, Live> live;
  std::vector<std::uint32_t> offsets; // the keys of `live`, for picking one at random
  std::uint64_t live_bytes = 0, ooms = 0, from_freelist = 0;

  auto words = [&](std::uint32_t off, std::uint32_t size) {
    return std::pair{a.pointer<std::uint64_t>(off), size / 8};
  };
  auto expect_check = [&](int op) {
    auto r = a.check();
    ASSERT_TRUE(r) << "op " << op << ": " << r.message();
    const auto st = a.stats();
    EXPECT_EQ(r->live_bytes, live_bytes) << "op " << op;
    EXPECT_EQ(r->live_blocks, checked ? live.size() : 0) << "op " << op;
    EXPECT_EQ(r->live_bytes + r->free_bytes + st.discarded, st.allocated) << "op " << op;
  };

  for (int op = 1; op <= kOps; ++op) {
    if (live.empty() || rng() % 100 < (live_bytes < kCapacity / 3 ? 60u : 40u)) {
      const auto size = static_cast<std::uint32_t>(1 + rng() % (rng() % 4 == 0 ? 512 : 128));
      const std::uint32_t align = rng() % 8 == 0 ? 16u << (rng() % 3) : 8u;
      const std::uint64_t top = model.top;
      const std::optional<Seg> expect = model.allocate(size, align);
      const auto r = a.allocate(size, align);
      if (!expect) {
        ASSERT_EQ(r.code(), errc::out_of_memory) << "op " << op << ": " << r.message();
        ++ooms;
        continue;
      }
      ASSERT_TRUE(r) << "op " << op << ": allocate(" << size << ", " << align
                     << ") failed, the spec gives " << *expect << ": " << r.message();
      const lfarena::Block b = *r;
      ASSERT_EQ((Seg{b.offset, b.size}), *expect)
          << "op " << op << ": allocate(" << size << ", " << align << ")";
      ASSERT_EQ(b.offset % align, 0u) << "op " << op;
      auto next = live.lower_bound(b.offset);
      if (next != live.end()) {
        ASSERT_GE(next->first, b.offset + b.size) << "op " << op << ": overlaps " << next->first;
      }
      if (next != live.begin()) {
        const auto prev = std::prev(next);
        ASSERT_LE(prev->first + prev->second.size, b.offset)
            << "op " << op << ": overlaps " << prev->first;
      }
      from_freelist += model.top == top ? 1 : 0;
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
      model.deallocate(off, free_size);
      live_bytes -= l.size;
    }
    if (op % 100 == 0) {
      ASSERT_EQ(lfarena_test::walk(a), model.list) << "op " << op; // none: both empty
      ASSERT_EQ(a.stats().allocated, model.top - data_offset) << "op " << op;
      ASSERT_EQ(a.stats().discarded, model.discarded) << "op " << op;
    }
    if (op % 1000 == 0)
      expect_check(op);
  }
  if (kind != Kind::none) {
    EXPECT_GT(from_freelist, 1000u) << "the freelist did little work";
  }
  for (const auto &[off, l] : live)
    ASSERT_TRUE(a.deallocate(off, l.size));
  live.clear();
  live_bytes = 0;
  expect_check(kOps + 1);
  std::printf("[          ] seed %llu: %d ops, %llu served by the freelist, %llu out of memory\n",
              static_cast<unsigned long long>(seed), kOps,
              static_cast<unsigned long long>(from_freelist),
              static_cast<unsigned long long>(ooms));
}

} // namespace
