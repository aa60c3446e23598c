// Unit tests of lfarena::detail::Link, the tagged link word {offset:32, tag:31, mark:1}.
#include <lfarena/detail/tagged.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

namespace {

using lfarena::detail::Link;

constexpr std::uint32_t kMaxTag = Link::kTagMask; // 2^31 - 1

TEST(Link, DefaultIsNullUntaggedUnmarked) {
  constexpr Link l{};
  EXPECT_EQ(l.raw, 0u);
  EXPECT_EQ(l.offset(), 0u);
  EXPECT_EQ(l.tag(), 0u);
  EXPECT_FALSE(l.marked());
  EXPECT_EQ(Link::make(0, 0), l);
}

TEST(Link, MakeRoundTripsEveryField) {
  for (std::uint32_t off : {0u, 1u, 8u, 0x12345678u, std::numeric_limits<std::uint32_t>::max()}) {
    for (std::uint32_t tag : {0u, 1u, 77u, kMaxTag - 1, kMaxTag}) {
      for (bool mark : {false, true}) {
        const Link l = Link::make(off, tag, mark);
        EXPECT_EQ(l.offset(), off);
        EXPECT_EQ(l.tag(), tag);
        EXPECT_EQ(l.marked(), mark);
      }
    }
  }
}

TEST(Link, BitLayoutIsOffsetLowTagHighMarkTop) {
  const Link l = Link::make(0xdeadbeefu, 0x1234567u, true);
  EXPECT_EQ(l.raw, 0xdeadbeefull | (0x1234567ull << 32) | (1ull << 63));
  EXPECT_EQ(Link::kMarkBit, 1ull << 63);
}

TEST(Link, MakeMasksTagTo31BitsSoItNeverSetsTheMark) {
  const Link l = Link::make(5, 0xffffffffu);
  EXPECT_EQ(l.tag(), kMaxTag);
  EXPECT_FALSE(l.marked());
  EXPECT_EQ(Link::make(5, 0x80000000u).tag(), 0u);
  EXPECT_FALSE(Link::make(5, 0x80000000u).marked());
}

TEST(Link, RedirectChangesOffsetBumpsTagAndClearsMark) {
  const Link l = Link::make(16, 41, true);
  const Link r = l.redirect(64);
  EXPECT_EQ(r.offset(), 64u);
  EXPECT_EQ(r.tag(), 42u);
  EXPECT_FALSE(r.marked());
  // Redirecting to the same offset still yields a different word (the ABA defence).
  const Link same = Link::make(16, 41).redirect(16);
  EXPECT_EQ(same.offset(), 16u);
  EXPECT_NE(same, Link::make(16, 41));
}

TEST(Link, WithMarkKeepsOffsetBumpsTagAndSetsMark) {
  const Link l = Link::make(24, 9);
  const Link m = l.with_mark();
  EXPECT_EQ(m.offset(), 24u);
  EXPECT_EQ(m.tag(), 10u);
  EXPECT_TRUE(m.marked());
  EXPECT_NE(m, l);
}

TEST(Link, TagWrapsWithin31Bits) {
  const Link top = Link::make(8, kMaxTag);
  const Link r = top.redirect(8);
  EXPECT_EQ(r.tag(), 0u);
  EXPECT_EQ(r.offset(), 8u);
  EXPECT_FALSE(r.marked()); // the wrap must not carry into the mark bit
  const Link m = top.with_mark();
  EXPECT_EQ(m.tag(), 0u);
  EXPECT_EQ(m.offset(), 8u);
  EXPECT_TRUE(m.marked());
}

TEST(Link, ManyRedirectsNeverRepeatAWordWithinTheTagPeriod) {
  // A stale CAS expects an old word; any sequence of fewer than 2^31 changes never recreates it.
  Link l = Link::make(8, kMaxTag - 3);
  const Link start = l;
  for (int i = 0; i < 1000; ++i) {
    l = l.redirect(i % 2 == 0 ? 16u : 8u);
    EXPECT_NE(l, start);
  }
}

TEST(Link, IsConstexpr) {
  static_assert(Link::make(3, 4, true).offset() == 3);
  static_assert(Link::make(3, 4, true).tag() == 4);
  static_assert(Link::make(3, 4, true).marked());
  static_assert(Link::make(3, kMaxTag).redirect(7).tag() == 0);
  static_assert(Link::make(3, 4).with_mark() == Link::make(3, 5, true));
  static_assert(sizeof(Link) == 8);
  SUCCEED();
}

} // namespace
