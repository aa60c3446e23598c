// damage_test.cpp -- damaged memory is an error, never a hang or a crash (docs/DESIGN.md
// §4 promise 8, §5.8): a user's write into a freed block, a damaged file, garbage frees.
//
// The matrix: every policy x checked on/off x a damage pattern written into one free node (the
// one the next allocation meets first) x an operation (allocate from the freelist, deallocate of
// another block, check(), reopen of the file). Each operation must return promptly with either a
// valid result (a block inside the data area that overlaps no live block) or
// errc::corrupt_freelist naming the damaged offset; check() must always report the damage; a
// reopen must refuse the file and leave it byte-for-byte unchanged; and afterwards every
// operation still returns and the handle closes.
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include <lfarena/arena.hpp>
#include <lfarena/detail/node.hpp>

#include "arena_test_support.hpp"
#include "freelist_test_support.hpp"

namespace {

using lfarena::Arena;
using lfarena::Block;
using lfarena::errc;
using lfarena::FreelistKind;
using lfarena::OpenMode;
using lfarena::Options;
namespace d = lfarena::detail;

enum class Damage { zeros, ones, self_link, link_back, huge_size, unaligned_link, raw_offset };
enum class Op { allocate, deallocate, check, reopen };

const char *damage_name(Damage x) {
  switch (x) {
  case Damage::zeros:
    return "zeros";
  case Damage::ones:
    return "ones";
  case Damage::self_link:
    return "self_link";
  case Damage::link_back:
    return "link_back";
  case Damage::huge_size:
    return "huge_size";
  case Damage::unaligned_link:
    return "unaligned_link";
  case Damage::raw_offset:
    return "raw_offset";
  }
  return "?";
}
const char *op_name(Op op) {
  switch (op) {
  case Op::allocate:
    return "allocate";
  case Op::deallocate:
    return "deallocate";
  case Op::check:
    return "check";
  case Op::reopen:
    return "reopen";
  }
  return "?";
}
using lfarena_test::kind_name;

using lfarena_test::scribble;
using lfarena_test::scribble64;

struct Scene {
  Arena arena;
  std::map<std::uint32_t, Block> live; // offset -> block
  std::vector<Block> freed;            // in the order they were freed
  Block spare;                         // a live block the deallocate op frees
  std::uint32_t target = 0;            // the node damaged
  std::uint32_t other = 0;             // another free node (for link_back)
};

// Free segments of sizes 64, 64, 128 and 256 between live 16-byte spacers, the bump region used
// up; `target` is the node the next 48-byte allocation meets first under this policy.
void build(Scene &s, FreelistKind kind) {
  std::vector<Block> drop;
  for (std::uint32_t size : {64u, 64u, 128u, 256u}) {
    drop.push_back(*s.arena.allocate(size));
    const Block k = *s.arena.allocate(16);
    s.live[k.offset] = k;
  }
  s.spare = *s.arena.allocate(64);
  s.live[s.spare.offset] = s.spare;
  const Block k = *s.arena.allocate(16);
  s.live[k.offset] = k;
  const Block rest = *s.arena.allocate(static_cast<std::uint32_t>(s.arena.stats().remaining));
  s.live[rest.offset] = rest;
  for (const Block &b : drop) {
    ASSERT_TRUE(s.arena.deallocate(b.offset, b.size));
    s.freed.push_back(b);
  }
  switch (kind) {
  case FreelistKind::pessimistic: // best fit for 48: the first 64-byte segment
    s.target = drop[0].offset;
    s.other = drop[3].offset;
    break;
  case FreelistKind::optimistic: // the largest
    s.target = drop[3].offset;
    s.other = drop[1].offset;
    break;
  default: // segregated: the top of the 64-byte class, the one freed last
    s.target = drop[1].offset;
    s.other = drop[3].offset; // another class (the one below is its next already)
    break;
  }
}

void apply(const Scene &s, Damage x) {
  const d::NodeLayout node(lfarena_test::geometry(s.arena));
  const std::uint32_t t = s.target;
  switch (x) {
  case Damage::zeros: {
    const unsigned char z[16] = {};
    scribble(s.arena, t, z, sizeof z);
    break;
  }
  case Damage::ones: {
    unsigned char f[16];
    std::memset(f, 0xff, sizeof f);
    scribble(s.arena, t, f, sizeof f);
    break;
  }
  case Damage::self_link: // a well-formed link word that makes a cycle
    scribble64(s.arena, t + d::kNodeLinkWord, node.encode_link(d::Link::make(t, 12345)));
    break;
  case Damage::link_back: // well-formed, to another free node: out of order or a cycle
    scribble64(s.arena, t + d::kNodeLinkWord, node.encode_link(d::Link::make(s.other, 777)));
    break;
  case Damage::huge_size: // a size word whose check passes, but the size leaves the region
    scribble64(s.arena, t + d::kNodeSizeWord, node.encode_size(t, 0xfffffff0u));
    break;
  case Damage::unaligned_link:
    scribble64(s.arena, t + d::kNodeLinkWord, node.encode_link(d::Link::make(t + 4, 1)));
    break;
  case Damage::raw_offset: // what a stale user pointer update writes: a plain offset
    scribble64(s.arena, t + d::kNodeLinkWord, s.other);
    break;
  }
}

// A block the arena returned must lie in the data area and overlap no live block.
void expect_valid_block(const Scene &s, const Block &b) {
  const auto st = s.arena.stats();
  ASSERT_GE(b.offset, st.data_offset);
  ASSERT_LE(std::uint64_t{b.offset} + b.size, st.capacity);
  auto next = s.live.lower_bound(b.offset);
  if (next != s.live.end()) {
    EXPECT_LE(std::uint64_t{b.offset} + b.size, next->first) << "overlaps a live block";
  }
  if (next != s.live.begin()) {
    const auto prev = std::prev(next);
    EXPECT_LE(std::uint64_t{prev->first} + prev->second.size, b.offset) << "overlaps a live block";
  }
}

// The error names the damaged node, or (a well-formed link to another node) the node it leads
// to, where the damage shows.
void expect_damage_error(const lfarena::Error &e, const Scene &s) {
  EXPECT_EQ(e.code(), errc::corrupt_freelist) << e.message();
  EXPECT_TRUE(e.message().find(std::to_string(s.target)) != std::string::npos ||
              e.message().find(std::to_string(s.other)) != std::string::npos)
      << e.message();
}

using Param = std::tuple<FreelistKind, bool, Damage, Op>;
class DamagedFreeNode : public testing::TestWithParam<Param> {};

TEST_P(DamagedFreeNode, IsAnErrorNeverAHangOrACrash) {
  const auto [kind, checked, damage, op] = GetParam();
  lfarena_test::ScratchDir dir;
  const std::string path = dir.file("damaged.arena");
  Options o;
  o.capacity = 64 << 10;
  o.freelist = kind;
  o.checked = checked;
  o.open_mode = OpenMode::create_new;
  Scene s;
  {
    auto made = Arena::open_file(path, o);
    ASSERT_TRUE(made) << made.message();
    s.arena = *made;
  }
  build(s, kind);
  apply(s, damage);

  switch (op) {
  case Op::allocate: {
    auto r = s.arena.allocate(48);
    if (r) {
      expect_valid_block(s, *r);
      s.live[r->offset] = *r;
    } else {
      expect_damage_error(r.error(), s);
    }
    break;
  }
  case Op::deallocate: {
    auto r = s.arena.deallocate(s.spare.offset, s.spare.size);
    s.live.erase(s.spare.offset);
    if (!r)
      expect_damage_error(r.error(), s);
    break;
  }
  case Op::check:
    break; // below, for every op
  case Op::reopen: {
    s.arena = Arena(); // closes cleanly
    const auto before = lfarena_test::read_all(path);
    Options again = o;
    again.open_mode = OpenMode::open_existing;
    for (const bool ro : {false, true}) {
      again.read_only = ro;
      auto r = Arena::open_file(path, again);
      ASSERT_FALSE(r) << "a damaged file opened (read_only " << ro << ")";
      expect_damage_error(r.error(), s);
      EXPECT_EQ(lfarena_test::read_all(path), before) << "a refused open changed the file";
    }
    // lfarena-check --repair's salvage: the file opens again, consistent, live blocks kept.
    auto salvaged = Arena::salvage_file(path);
    ASSERT_TRUE(salvaged) << salvaged.message();
    EXPECT_GE(salvaged->nodes_dropped, 1u);
    EXPECT_EQ(salvaged->bytes_counted, checked);
    again.read_only = false;
    auto healed = Arena::open_file(path, again);
    ASSERT_TRUE(healed) << healed.message();
    auto rep = healed->check();
    ASSERT_TRUE(rep) << rep.message();
    if (checked) {
      EXPECT_EQ(rep->live_blocks, s.live.size()) << "salvage never drops a live block";
    }
    EXPECT_EQ(rep->free_bytes, salvaged->bytes_kept);
    for (const auto &[off, b] : s.live) {
      auto r = healed->deallocate(b.offset, b.size);
      EXPECT_TRUE(r) << r.message();
    }
    EXPECT_TRUE(healed->check()) << healed->check().message();
    return;
  }
  }
  // The damage is reported by check(), and nothing hangs afterwards.
  auto rep = s.arena.check();
  ASSERT_FALSE(rep) << "check() missed the damage";
  EXPECT_TRUE(rep.code() == errc::corrupt_freelist || rep.code() == errc::accounting_mismatch)
      << rep.message();
  for (int i = 0; i < 8; ++i) {
    auto b = s.arena.allocate(16 + 24 * static_cast<std::uint32_t>(i));
    if (b) {
      expect_valid_block(s, *b);
      s.live[b->offset] = *b;
    } else {
      EXPECT_TRUE(b.code() == errc::corrupt_freelist || b.code() == errc::out_of_memory)
          << b.message();
    }
  }
  for (auto it = s.live.begin(); it != s.live.end();) {
    auto r = s.arena.deallocate(it->second.offset, it->second.size);
    EXPECT_TRUE(r || r.code() == errc::corrupt_freelist) << r.message();
    it = s.live.erase(it);
  }
  // Operations may have removed the damaged node by now (taking it unlinks it); whatever
  // check() says, it returns, and the handle closes.
  (void)s.arena.check();
  s.arena = Arena();
}

std::string param_name(const testing::TestParamInfo<Param> &i) {
  return kind_name(std::get<0>(i.param)) + (std::get<1>(i.param) ? "_checked_" : "_unchecked_") +
         damage_name(std::get<2>(i.param)) + "_" + op_name(std::get<3>(i.param));
}

INSTANTIATE_TEST_SUITE_P(
    Matrix, DamagedFreeNode,
    testing::Combine(testing::Values(FreelistKind::optimistic, FreelistKind::pessimistic,
                                     FreelistKind::segregated),
                     testing::Bool(),
                     testing::Values(Damage::zeros, Damage::ones, Damage::self_link,
                                     Damage::link_back, Damage::huge_size, Damage::unaligned_link,
                                     Damage::raw_offset),
                     testing::Values(Op::allocate, Op::deallocate, Op::check, Op::reopen)),
    param_name);

// `none` keeps no list: a write into a freed block is invisible to it and changes nothing.
TEST(DamagedFreeNode, NoneHasNoListToDamage) {
  for (const bool checked : {false, true}) {
    Options o;
    o.capacity = 64 << 10;
    o.checked = checked;
    auto a = Arena::heap(o);
    ASSERT_TRUE(a);
    const Block b = *a->allocate(64);
    const Block c = *a->allocate(64);
    ASSERT_TRUE(a->deallocate(b.offset, b.size));
    scribble64(*a, b.offset, 0);
    EXPECT_TRUE(a->check()) << a->check().message();
    EXPECT_TRUE(a->deallocate(c.offset, c.size));
  }
}

// Unchecked mode, documented as undefined: a double free with another size, a free of an
// interior offset and a double free below the top of a segregated stack. Whatever they do to
// the lists, no later operation may hang or crash.
TEST(UncheckedMisuse, NeverHangsOrCrashes) {
  for (const FreelistKind kind :
       {FreelistKind::optimistic, FreelistKind::pessimistic, FreelistKind::segregated}) {
    SCOPED_TRACE(kind_name(kind));
    Options o;
    o.capacity = 64 << 10;
    o.freelist = kind;
    auto a = Arena::heap(o);
    ASSERT_TRUE(a);
    std::vector<Block> blocks;
    for (int i = 0; i < 8; ++i) {
      blocks.push_back(*a->allocate(96));
      ASSERT_TRUE(a->allocate(16)); // spacer
    }
    ASSERT_TRUE(a->allocate(static_cast<std::uint32_t>(a->stats().remaining)));
    for (int i : {0, 2, 4})
      ASSERT_TRUE(a->deallocate(blocks[i].offset, blocks[i].size));
    (void)a->deallocate(blocks[2].offset, 48);      // double free with a smaller size
    (void)a->deallocate(blocks[1].offset + 32, 32); // interior offset of a live block
    (void)a->deallocate(blocks[0].offset, 96);      // double free below the top
    for (int round = 0; round < 32; ++round) {
      auto b = a->allocate(8 + 8 * static_cast<std::uint32_t>(round % 12));
      EXPECT_TRUE(b || b.code() == errc::corrupt_freelist || b.code() == errc::out_of_memory)
          << b.message();
      if (b && round % 2 == 0) {
        auto r = a->deallocate(b->offset, b->size);
        EXPECT_TRUE(r || r.code() == errc::corrupt_freelist || r.code() == errc::double_free)
            << r.message();
      }
    }
    (void)a->check(); // may report anything; must return
  }
}

} // namespace
