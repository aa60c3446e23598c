// cache_slot_word_test.cpp -- damaged slot words are never used: a cache word (slot word 3: the
// thread's free cache block) that names no plausible block leaves the claiming thread without a
// cache, and close() neither drains it nor gives back a damaged chunk tail; check() names both.
// (helper-60's scribbles over the slot table crashed a claiming thread in FreeCache::pop_entry,
// and a close in SegregatedPolicy::insert.)
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <lfarena/arena.hpp>
#include <lfarena/detail/chunk.hpp>
#include <lfarena/detail/free_cache.hpp>

#include "arena_test_support.hpp"

namespace {

namespace d = lfarena::detail;
using lfarena::Arena;
using lfarena::Block;
using lfarena::FreelistKind;
using lfarena::Options;
using lfarena_test::scribble64;

Options cached(bool checked) {
  Options o;
  o.capacity = 1 << 20;
  o.thread_chunk = 4096;
  o.checked = checked;
  o.freelist = FreelistKind::segregated;
  return o;
}

// The geometry of cached(): what sizes a cache block (free_cache_test.cpp's too).
d::Geometry cached_geometry() {
  d::Geometry g;
  g.capacity = 1 << 20;
  g.min_segment = Options().min_segment;
  g.thread_cache = g.cache_256 = g.cache_array = true;
  return g;
}

class CacheSlotWord : public ::testing::TestWithParam<bool> {};

// Every slot's word 3 names a block no allocation made: far above the region (a 64-aligned
// offset, the right size) or inside the header.
TEST_P(CacheSlotWord, ADamagedCacheWordIsNeverUsed) {
  for (const std::uint32_t bad : {0xF8DEAD00u, 64u}) {
    auto a = Arena::heap(cached(GetParam()));
    ASSERT_TRUE(a) << a.message();
    const std::uint32_t bytes = d::cache_block_bytes(cached_geometry());
    for (std::uint32_t i = 0; i < d::kChunkSlots; ++i)
      scribble64(*a, d::slot_owner_at(i) + d::kSlotCache, d::cache_word(bad, bytes));
    std::thread([&] {
      std::vector<Block> held;
      for (int n = 0; n < 100; ++n) {
        auto b = a->allocate(64);
        ASSERT_TRUE(b) << b.message();
        held.push_back(*b);
      }
      for (const Block &b : held)
        ASSERT_TRUE(a->deallocate(b.offset, b.size));
      for (int n = 0; n < 100; ++n)
        ASSERT_TRUE(a->allocate(64)) << "block " << bad;
    }).join(); // the thread's exit gives its slot back: no drain of the damaged block
    auto rep = a->check();
    EXPECT_FALSE(rep) << "check() names the damaged word (block " << bad << ")";
    EXPECT_NE(rep.message().find("names cache block " + std::to_string(bad)), std::string::npos)
        << rep.message();
  }
}

// A damaged cursor/end word (slot word 1) of a slot this opener still holds is not given back
// when the arena closes: its "tail" lies 3.75 GiB past a 1 MiB region (before: the close
// inserted it into the freelist, a store far outside the region).
TEST_P(CacheSlotWord, ADamagedChunkWordIsNotGivenBackAtClose) {
  std::uint32_t held = 0;
  {
    auto a = Arena::heap(cached(GetParam()));
    ASSERT_TRUE(a) << a.message();
    ASSERT_TRUE(a->allocate(64)); // this thread claims a slot and a chunk
    for (std::uint32_t i = 0; i < d::kChunkSlots; ++i)
      if (lfarena_test::read64(*a, d::slot_owner_at(i)) != 0) {
        scribble64(*a, d::slot_owner_at(i) + d::kSlotCursorEnd,
                   0xF0000000u | std::uint64_t{0xF0001000u} << 32);
        ++held;
      }
    auto rep = a->check();
    EXPECT_FALSE(rep);
    EXPECT_NE(rep.message().find("is damaged (cursor 4026531840"), std::string::npos)
        << rep.message();
  } // the close: release_opener_chunks()
  EXPECT_EQ(held, 1u);
}

INSTANTIATE_TEST_SUITE_P(Modes, CacheSlotWord, ::testing::Values(false, true),
                         [](const auto &info) { return info.param ? "checked" : "unchecked"; });

} // namespace
