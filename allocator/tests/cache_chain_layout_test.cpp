// cache_chain_layout_test.cpp -- the chain layout of per-thread free caches: segregated files
// made before the array layout (kFeatureCacheArray) keep cached blocks as chains of nodes in
// the blocks themselves, and this build keeps serving them that way (docs/DESIGN.md §5.11): a
// user's write into a cached block is reported, never followed; a file without the flag stays
// without it.
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <lfarena/arena.hpp>
#include <lfarena/detail/free_cache.hpp>
#include <lfarena/detail/header.hpp>

#include "arena_test_support.hpp"

namespace {

using lfarena::Arena;
using lfarena::Block;
using lfarena::errc;
using lfarena::FreelistKind;
using lfarena::Options;
using lfarena_test::read64;
using lfarena_test::scribble64;
namespace d = lfarena::detail;

Options cached(bool checked) {
  Options o;
  o.capacity = 1 << 20;
  o.thread_chunk = 4096;
  o.checked = checked;
  o.freelist = FreelistKind::segregated;
  return o;
}

std::uint32_t feature_flags(const std::string &path) {
  return d::get_le32(lfarena_test::read_all(path).data() + d::hdr::feature_flags);
}

// A chain-layout file, as the build before the array layout made it: a new file (no cache block
// provisioned yet) without the cache-array flag, then opened.
class ChainLayout : public ::testing::TestWithParam<bool> {
protected:
  void SetUp() override {
    path =
        "/tmp/lfarena_chain_layout_" + std::to_string(::getpid()) + (GetParam() ? "_checked" : "");
    ::unlink(path.c_str());
    ASSERT_TRUE(Arena::open_file(path, cached(GetParam())));
    std::vector<unsigned char> bytes = lfarena_test::read_all(path);
    unsigned char *h = bytes.data();
    d::put_le32(h + d::hdr::feature_flags,
                d::get_le32(h + d::hdr::feature_flags) & ~d::kFeatureCacheArray);
    d::put_le64(h + d::hdr::checksum,
                d::header_checksum(h, d::get_le32(h + d::hdr::format_version)));
    lfarena_test::write_all(path, bytes);
    auto opened = Arena::open_file(path, cached(GetParam()));
    ASSERT_TRUE(opened) << opened.message();
    a = *opened;
  }
  void TearDown() override {
    a = Arena{};
    ::unlink(path.c_str());
  }
  std::string path;
  Arena a;
};

TEST_P(ChainLayout, AFileWithoutTheFlagKeepsChainsAndStaysWithoutIt) {
  auto x = a.allocate(64);
  auto y = a.allocate(64);
  ASSERT_TRUE(x && y);
  ASSERT_TRUE(a.deallocate(y->offset, y->size));
  ASSERT_TRUE(a.deallocate(x->offset, x->size));
  // x is the chain's first node: its link names y.
  EXPECT_EQ(d::Link{read64(a, x->offset) ^ lfarena_test::read64(a, d::hdr::node_key)}.offset(),
            y->offset);
  auto rep = a.check();
  ASSERT_TRUE(rep) << rep.message();
  EXPECT_EQ(rep->free_bytes, 128u);
  EXPECT_EQ(rep->cache_reserved, d::cache_provision(1 << 20) * d::kCacheBlockBytes)
      << "chain-layout cache blocks are their 32 head words";
  a = Arena{};
  EXPECT_EQ(feature_flags(path) & d::kFeatureCacheArray, 0u) << "an old file stays old";
  auto again = Arena::open_file(path, cached(GetParam()));
  ASSERT_TRUE(again) << again.message();
  EXPECT_TRUE(again->check()) << again->check().message();
}

TEST_P(ChainLayout, AWriteIntoACachedBlockIsReportedNotFollowed) {
  auto x = a.allocate(40);
  auto y = a.allocate(40);
  ASSERT_TRUE(x && y);
  ASSERT_TRUE(a.deallocate(y->offset, y->size));
  ASSERT_TRUE(a.deallocate(x->offset, x->size)); // x on top, linked to y
  // The user writes into x after freeing it: a link to a live block (y is free, x's link
  // points there; point it at a live block instead).
  auto live = a.allocate(200);
  ASSERT_TRUE(live);
  const std::uint64_t word = read64(a, x->offset) ^ y->offset ^ live->offset;
  scribble64(a, x->offset, word);
  auto first = a.allocate(40); // x itself is genuinely free: handed out
  ASSERT_TRUE(first);
  EXPECT_EQ(first->offset, x->offset);
  auto r = a.allocate(40); // the forged link leads to the live block: refused
  ASSERT_FALSE(r) << "handed out " << r->offset;
  EXPECT_EQ(r.code(), errc::corrupt_freelist) << r.message();
  EXPECT_NE(r.message().find(std::to_string(live->offset)), std::string::npos) << r.message();
  auto rep = a.check();
  ASSERT_FALSE(rep);
  EXPECT_EQ(rep.code(), errc::corrupt_freelist);
  EXPECT_NE(rep.message().find("free cache"), std::string::npos) << rep.message();
  EXPECT_TRUE(a.allocate(16)) << "other sizes still work";
}

TEST_P(ChainLayout, ZerosWrittenIntoTheTopCachedBlockAreReported) {
  auto x = a.allocate(64);
  ASSERT_TRUE(x);
  ASSERT_TRUE(a.deallocate(x->offset, x->size));
  scribble64(a, x->offset, 0);
  scribble64(a, x->offset + 8, 0);
  auto r = a.allocate(64);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.code(), errc::corrupt_freelist);
  auto f = a.deallocate(x->offset, x->size);
  EXPECT_FALSE(f) << "a free of the damaged top reports, never links it twice";
}

// A damaged node met by the drain at thread exit: the nodes before it move to the shared stack,
// the rest stays in the slot's cache, where check() reports it.
TEST_P(ChainLayout, DamageMetByADrainStaysReported) {
  std::vector<Block> blocks;
  std::thread([&] {
    for (int i = 0; i < 10; ++i)
      blocks.push_back(*a.allocate(32));
    for (const Block &b : blocks)
      ASSERT_TRUE(a.deallocate(b.offset, b.size));
    scribble64(a, blocks[4].offset + 8, 0); // a size word, mid-list
  }).join();
  auto rep = a.check();
  ASSERT_FALSE(rep) << "damage dropped silently";
  EXPECT_EQ(rep.code(), errc::corrupt_freelist) << rep.message();
  EXPECT_NE(rep.message().find(std::to_string(blocks[4].offset)), std::string::npos)
      << rep.message();
}

INSTANTIATE_TEST_SUITE_P(Modes, ChainLayout, ::testing::Bool(),
                         [](const auto &info) { return info.param ? "checked" : "unchecked"; });

} // namespace
