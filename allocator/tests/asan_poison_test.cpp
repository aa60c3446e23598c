// asan_poison_test.cpp -- in ASan builds, arena memory that is free or was never handed out is
// poisoned (lfarena/detail/memory.hpp), so a user's read or write after free inside an arena
// is an AddressSanitizer report exactly like one on a heap block. Other builds skip these tests.
#include <cstdint>

#include <gtest/gtest.h>

#include <lfarena/arena.hpp>

#include "arena_test_support.hpp"

namespace {

using lfarena::Arena;
using lfarena::Block;
using lfarena::FreelistKind;
using lfarena::Options;

#if defined(LFARENA_ASAN)
Arena make(FreelistKind kind, std::uint32_t chunk = 0) {
  Options o;
  o.capacity = 1 << 16;
  o.freelist = kind;
  o.thread_chunk = chunk;
  return *Arena::heap(o);
}

void read_byte(const Arena &a, std::uint32_t offset) {
  volatile std::uint8_t x = *reinterpret_cast<volatile std::uint8_t *>(a.base() + offset);
  (void)x;
}
#endif

TEST(AsanPoisonDeathTest, ReadAfterFreeInsideTheArenaIsReported) {
#if !defined(LFARENA_ASAN)
  GTEST_SKIP() << "AddressSanitizer builds only (the asan preset)";
#else
  for (const FreelistKind kind :
       {FreelistKind::none, FreelistKind::pessimistic, FreelistKind::segregated}) {
    EXPECT_DEATH(
        {
          const Arena a = make(kind);
          const Block b = *a.allocate(64);
          (void)a.allocate(16); // keeps b from being rolled back
          (void)a.deallocate(b.offset, b.size);
          read_byte(a, b.offset + 40);
        },
        "use-after-poison");
  }
#endif
}

TEST(AsanPoisonDeathTest, WriteIntoAFreedNodeIsReported) {
#if !defined(LFARENA_ASAN)
  GTEST_SKIP() << "AddressSanitizer builds only (the asan preset)";
#else
  EXPECT_DEATH(
      {
        const Arena a = make(FreelistKind::optimistic);
        const Block b = *a.allocate(64);
        (void)a.allocate(16);
        (void)a.deallocate(b.offset, b.size);
        *reinterpret_cast<volatile std::uint64_t *>(a.base() + b.offset) = 0; // the link word
      },
      "use-after-poison");
#endif
}

TEST(AsanPoisonDeathTest, MemoryNeverHandedOutIsPoisoned) {
#if !defined(LFARENA_ASAN)
  GTEST_SKIP() << "AddressSanitizer builds only (the asan preset)";
#else
  EXPECT_DEATH(
      {
        const Arena a = make(FreelistKind::none, 4096);
        const Block b = *a.allocate(16); // from a thread chunk: the chunk's tail stays poisoned
        read_byte(a, b.offset + b.size + 8);
      },
      "use-after-poison");
#endif
}

// What the allocator hands out is usable, all of it, and nothing it does itself trips ASan.
TEST(AsanPoison, BlocksHandedOutAreFullyUsable) {
  for (const FreelistKind kind : {FreelistKind::optimistic, FreelistKind::segregated}) {
    Options o;
    o.capacity = 1 << 16;
    o.freelist = kind;
    o.thread_chunk = 1024;
    auto a = Arena::heap(o);
    ASSERT_TRUE(a);
    std::vector<Block> blocks;
    for (int round = 0; round < 3; ++round) {
      while (auto b = a->allocate(24 + 40 * static_cast<std::uint32_t>(blocks.size() % 5))) {
        for (std::uint32_t i = 0; i < b->size; ++i)
          a->base()[b->offset + i] = std::byte{0x5a};
        blocks.push_back(*b);
      }
      for (std::size_t i = 0; i < blocks.size(); i += 2)
        ASSERT_TRUE(a->deallocate(blocks[i].offset, blocks[i].size));
      std::vector<Block> kept;
      for (std::size_t i = 1; i < blocks.size(); i += 2)
        kept.push_back(blocks[i]);
      blocks = kept;
      ASSERT_TRUE(a->check()) << a->check().message();
    }
  }
}

} // namespace
