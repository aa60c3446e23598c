// cache_adopt_test.cpp -- a refill's run becoming array-layout cache entries (FreeCache::adopt,
// docs/DESIGN.md §5.11), driven directly on a region: the run's links are genuine when
// pop_run()'s CAS wins, but a user's write after free may change one before adopt() reads it,
// and then the run ends there: entries for the nodes before it, and no write outside the region
// (the old adopt() followed the link and stored to wherever it named).
#include <cstring>
#include <string>

#include <gtest/gtest.h>

#include <lfarena/arena.hpp>
#include <lfarena/detail/core.hpp>
#include <lfarena/detail/header.hpp>
#include <lfarena/detail/memory.hpp>

#include "format.hpp"

namespace {

namespace d = lfarena::detail;

TEST(CacheAdopt, ALinkChangedAfterTheRunsCasEndsTheRunAndNothingOutsideIsWritten) {
  lfarena::Options o;
  o.capacity = 1 << 20;
  o.freelist = lfarena::FreelistKind::segregated;
  auto a = lfarena::Arena::heap(o);
  ASSERT_TRUE(a) << a.message();
  unsigned char header[d::kHeaderSize];
  std::memcpy(header, a->base(), sizeof header);
  lfarena::Options stored;
  auto layout = d::validate_header(header, o.capacity, o, "heap", stored);
  ASSERT_TRUE(layout) << layout.message();
  const d::Geometry &g = layout->geometry;
  ASSERT_TRUE(g.cache_array);
  const d::RegionWords mem{a->base()};
  const d::Core<d::RegionWords> core(mem, g);
  const d::NodeLayout node(g);
  constexpr std::uint32_t kSize = 64;

  // A cache block and a run of three free nodes first -> second -> third, as the stack linked
  // them, taken out of live blocks (nothing else in this arena reads them).
  auto cache = a->allocate(d::cache_block_bytes(g), 64);
  ASSERT_TRUE(cache) << cache.message();
  std::memset(a->base() + cache->offset, 0, cache->size);
  std::uint32_t run[3];
  for (std::uint32_t &at : run) {
    auto b = a->allocate(kSize);
    ASSERT_TRUE(b) << b.message();
    at = b->offset;
  }
  for (int i = 0; i < 3; ++i) {
    d::store_relaxed(mem.word(run[i] + d::kNodeSizeWord), node.encode_size(run[i], kSize));
    d::store_relaxed(mem.word(run[i] + d::kNodeLinkWord),
                     node.encode_link(d::Link::make(i < 2 ? run[i + 1] : 0, 0)));
  }
  // The user writes after free into the second node: its link now names an offset far past the
  // end of the region (the old adopt() read, marked and scrubbed a node there).
  d::store_relaxed(mem.word(run[1] + d::kNodeLinkWord),
                   node.encode_link(d::Link::make(0xFFFFFF00u, 0)));

  core.free_cache().adopt(cache->offset, run[0], run[2], 3, kSize);

  // The two nodes before the changed link are the class's entries, the first one newest.
  std::uint32_t damaged = 0;
  EXPECT_EQ(core.free_cache().pop(cache->offset, kSize, damaged), run[0]);
  EXPECT_EQ(core.free_cache().pop(cache->offset, kSize, damaged), run[1]);
  EXPECT_EQ(core.free_cache().pop(cache->offset, kSize, damaged), 0u);
  EXPECT_EQ(damaged, 0u);
  // The third node was not touched: its words are the stack's still.
  EXPECT_EQ(d::load_relaxed(mem.word(run[2] + d::kNodeSizeWord)), node.encode_size(run[2], kSize));
}

} // namespace
