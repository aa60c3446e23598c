// adapters_test.cpp -- the C++ library surface: lfarena::allocator<T> and lfarena::memory_resource
// with real containers in heap and file arenas and every policy, Options::exact_sizes and
// Arena::allocate_exact, typed handles (Ref<T>, Owned<T>, make_owned), and what the adapters do
// with bad input (exceptions on allocation, abort with the arena's message on a failed free).
#include <atomic>
#include <map>
#include <memory_resource>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <gtest/gtest.h>

#include <lfarena/allocator.hpp>
#include <lfarena/arena.hpp>
#include <lfarena/memory_resource.hpp>
#include <lfarena/owned.hpp>
#include <lfarena/ref.hpp>

#include "arena_test_support.hpp"

namespace {

using lfarena::Arena;
using lfarena::FreelistKind;
using lfarena::Options;
using lfarena_test::BackingKind;

Options opts(FreelistKind kind, bool checked = false) {
  Options o;
  o.capacity = 8u << 20;
  o.freelist = kind;
  o.checked = checked;
  o.min_segment = 32;
  return o;
}

// Every byte handed out came back: nothing live.
void expect_all_free(const Arena &a) {
  auto rep = a.check();
  ASSERT_TRUE(rep) << rep.message();
  EXPECT_EQ(rep->live_bytes, 0u);
}

bool inside(const Arena &a, const void *p) { return static_cast<bool>(a.offset_of(p)); }

const FreelistKind kReusing[] = {FreelistKind::optimistic, FreelistKind::pessimistic,
                                 FreelistKind::segregated};

class Adapters
    : public ::testing::TestWithParam<std::tuple<FreelistKind, BackingKind, bool /*checked*/>> {
protected:
  lfarena_test::ScratchDir dir;
  Arena make() {
    auto [kind, backing, checked] = GetParam();
    auto a = lfarena_test::make_arena(backing, opts(kind, checked), dir);
    EXPECT_TRUE(a) << a.message();
    return a ? *a : Arena{};
  }
};

TEST_P(Adapters, VectorAndMapLiveInTheArenaAndGiveEverythingBack) {
  Arena a = make();
  ASSERT_TRUE(a.valid());
  {
    std::vector<std::uint64_t, lfarena::allocator<std::uint64_t>> v{
        lfarena::allocator<std::uint64_t>(a)};
    for (std::uint64_t i = 0; i < 20000; ++i)
      v.push_back(i * 3);
    EXPECT_TRUE(inside(a, v.data()));
    std::uint64_t sum = 0;
    for (auto x : v)
      sum += x;
    EXPECT_EQ(sum, 3ull * 20000 * 19999 / 2);

    using Pair = std::pair<const int, std::uint64_t>;
    std::map<int, std::uint64_t, std::less<int>, lfarena::allocator<Pair>> m{
        lfarena::allocator<Pair>(a)};
    for (int i = 0; i < 5000; ++i)
      m.emplace(i, static_cast<std::uint64_t>(i) * 7);
    for (int i = 0; i < 5000; i += 2)
      m.erase(i);
    EXPECT_EQ(m.size(), 2500u);
    EXPECT_EQ(m.at(4999), 4999u * 7);
    EXPECT_TRUE(inside(a, &*m.begin()));
    EXPECT_TRUE(a.check()) << a.check().message();
  }
  expect_all_free(a);
}

TEST_P(Adapters, PmrStringsAndUnorderedMapGiveEverythingBack) {
  Arena a = make();
  ASSERT_TRUE(a.valid());
  lfarena::memory_resource mr(a);
  {
    std::pmr::unordered_map<std::pmr::string, std::pmr::string> m(&mr);
    for (int i = 0; i < 3000; ++i)
      m.emplace(
          std::pmr::string("key number " + std::to_string(i) + " long enough to allocate", &mr),
          std::pmr::string(std::string(static_cast<std::size_t>(i % 300), 'v'), &mr));
    for (int i = 0; i < 3000; i += 3)
      m.erase(
          std::pmr::string("key number " + std::to_string(i) + " long enough to allocate", &mr));
    EXPECT_EQ(m.size(), 2000u);
    const auto &v = m.at(std::pmr::string("key number 2999 long enough to allocate", &mr));
    EXPECT_EQ(v.size(), 299u);
    EXPECT_TRUE(inside(a, v.data()));
    EXPECT_TRUE(a.check()) << a.check().message();
  }
  expect_all_free(a);
}

INSTANTIATE_TEST_SUITE_P(
    PoliciesAndBackings, Adapters,
    ::testing::Combine(::testing::Values(FreelistKind::none, FreelistKind::optimistic,
                                         FreelistKind::pessimistic, FreelistKind::segregated),
                       ::testing::Values(BackingKind::heap, BackingKind::file), ::testing::Bool()),
    [](const auto &info) {
      return lfarena_test::kind_name(std::get<0>(info.param)) +
             lfarena_test::backing_name(std::get<1>(info.param)) +
             (std::get<2>(info.param) ? "Checked" : "Unchecked");
    });

// A freelist segment whose remainder is too small to keep (below min_segment) comes with the
// block, unless exact sizes are asked for: then the block is exactly the rounded request and
// the remainder is counted as discarded. Same for allocate_exact() on any arena.
TEST(ExactSizes, ARemainderBelowMinSegmentIsDiscardedNotHandedOut) {
  for (FreelistKind kind : kReusing)
    for (bool option : {false, true})
      for (bool per_call : {false, true}) {
        SCOPED_TRACE(lfarena_test::kind_name(kind) + (option ? " exact_sizes" : "") +
                     (per_call ? " allocate_exact" : ""));
        Options o = opts(kind);
        o.exact_sizes = option;
        o.capacity = 64u << 10;
        auto a = Arena::heap(o);
        ASSERT_TRUE(a) << a.message();
        auto x = a->allocate(96);
        auto guard = a->allocate(64); // x is not the top block: its free goes to the freelist
        ASSERT_TRUE(x && guard);
        std::uint64_t filler = 0; // exhaust the bump region: the freelist serves from now on
        for (std::uint32_t size : {256u, 8u})
          while (a->try_allocate(size).offset != 0)
            filler += size;
        ASSERT_GT(filler, 0u);
        ASSERT_TRUE(a->deallocate(x->offset, x->size));
        // 80 of the 96 free bytes: a 16-byte remainder, below min_segment 32.
        auto y = per_call ? a->allocate_exact(76) : a->allocate(76);
        ASSERT_TRUE(y) << y.message();
        EXPECT_EQ(y->offset, x->offset) << "reused from the freelist";
        const bool exact = option || per_call;
        EXPECT_EQ(y->size, exact ? 80u : 96u);
        EXPECT_EQ(a->stats().discarded, exact ? 16u : 0u);
        auto rep = a->check();
        ASSERT_TRUE(rep) << rep.message();
        EXPECT_EQ(rep->live_bytes, y->size + guard->size + filler);
      }
}

// `none` reuses nothing: every block, exact or not, is the rounded request from the bump region,
// and frees are counted as discarded.
TEST(ExactSizes, NoneHandsOutTheRoundedRequestEitherWay) {
  for (bool option : {false, true}) {
    Options o = opts(FreelistKind::none);
    o.exact_sizes = option;
    auto a = Arena::heap(o);
    ASSERT_TRUE(a);
    for (std::uint32_t n : {1u, 76u, 96u, 1000u}) {
      auto x = a->allocate(n);
      auto y = a->allocate_exact(n);
      ASSERT_TRUE(x && y);
      EXPECT_EQ(x->size, (n + 7) / 8 * 8);
      EXPECT_EQ(y->size, (n + 7) / 8 * 8);
      ASSERT_TRUE(a->deallocate(x->offset, x->size));
    }
    EXPECT_TRUE(a->check()) << a->check().message();
  }
}

TEST(ExactSizes, CheckedModeAcceptsTheExactSizeBackAndRefusesTheOldOne) {
  Options o = opts(FreelistKind::pessimistic, true);
  o.exact_sizes = true;
  o.capacity = 64u << 10;
  auto a = Arena::heap(o);
  ASSERT_TRUE(a);
  auto x = a->allocate(96);
  auto guard = a->allocate(64);
  ASSERT_TRUE(x && guard);
  for (std::uint32_t size : {256u, 8u})
    while (a->try_allocate(size).offset != 0) {
    }
  ASSERT_TRUE(a->deallocate(x->offset, 96));
  auto y = a->allocate(76);
  ASSERT_TRUE(y);
  ASSERT_EQ(y->offset, x->offset);
  ASSERT_EQ(y->size, 80u);
  EXPECT_EQ(a->deallocate(y->offset, 96).code(), lfarena::errc::wrong_size);
  EXPECT_TRUE(a->deallocate(y->offset, 76));
  EXPECT_TRUE(a->check()) << a->check().message();
}

TEST(AllocatorErrors, AllocationFailuresThrow) {
  Options o = opts(FreelistKind::pessimistic);
  o.capacity = 64u << 10;
  o.max_alignment = 64;
  auto a = Arena::heap(o);
  ASSERT_TRUE(a);
  lfarena::allocator<std::uint64_t> al(*a);
  EXPECT_THROW((void)al.allocate(1u << 20), std::bad_alloc) << "more than the capacity";
  EXPECT_THROW((void)al.allocate(std::size_t{1} << 62), std::bad_array_new_length);
  struct alignas(128) Wide {
    char c[128];
  };
  lfarena::allocator<Wide> wide(*a);
  EXPECT_THROW((void)wide.allocate(1), std::bad_alloc) << "alignment above max_alignment 64";
  lfarena::allocator<int> none{Arena{}};
  EXPECT_THROW((void)none.allocate(1), std::bad_alloc) << "empty handle";
  lfarena::memory_resource mr(*a);
  std::size_t three = 3; // not a constant: clang rejects a literal bad alignment at compile time
  EXPECT_THROW((void)mr.allocate(16, three), std::bad_alloc) << "alignment not a power of two";
  EXPECT_THROW((void)mr.allocate(std::size_t{1} << 33, 8), std::bad_alloc);
  void *p = mr.allocate(0, 8); // a distinct block, freed with size 0 again
  ASSERT_NE(p, nullptr);
  mr.deallocate(p, 0, 8);
  EXPECT_EQ(a->check()->live_bytes, 0u);
}

TEST(AllocatorErrors, ReadOnlyArenaThrowsOnAllocate) {
  lfarena_test::ScratchDir dir;
  {
    auto w = lfarena_test::make_arena(BackingKind::file, opts(FreelistKind::segregated), dir);
    ASSERT_TRUE(w) << w.message();
  }
  Options ro = opts(FreelistKind::segregated);
  ro.read_only = true;
  ro.open_mode = lfarena::OpenMode::open_existing;
  auto r = Arena::open_file(dir.file("arena.bin"), ro);
  ASSERT_TRUE(r) << r.message();
  lfarena::memory_resource mr(*r);
  EXPECT_THROW((void)mr.allocate(16, 8), std::bad_alloc);
}

using AdapterDeathTest = ::testing::Test;

TEST(AdapterDeathTest, AFailedFreeAbortsWithTheArenasMessage) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  auto a = Arena::heap(opts(FreelistKind::pessimistic, /*checked=*/true));
  ASSERT_TRUE(a);
  lfarena::allocator<std::uint64_t> al(*a);
  std::uint64_t *p = al.allocate(4);
  std::uint64_t *guard = al.allocate(4); // p is not the top block: its free is not a rollback
  al.deallocate(p, 4);
  EXPECT_DEATH(al.deallocate(p, 4), "lfarena::allocator::deallocate: .*already freed");
  int outside = 0;
  lfarena::memory_resource mr(*a);
  EXPECT_DEATH(mr.deallocate(&outside, sizeof outside, alignof(int)),
               "lfarena::memory_resource::deallocate: .*not inside the data area");
  al.deallocate(guard, 4);
  // An over-aligned block freed with another alignment than it was allocated with.
  void *wide = mr.allocate(100, 128);
  EXPECT_DEATH(mr.deallocate(wide, 100, 256), "was not allocated with alignment 256");
  mr.deallocate(wide, 100, 128);
}

TEST(AllocatorEquality, SameMappingIsEqualOthersAreNot) {
  auto a = Arena::heap(opts(FreelistKind::segregated));
  auto b = Arena::heap(opts(FreelistKind::segregated));
  ASSERT_TRUE(a && b);
  lfarena::allocator<int> x(*a), y(*a), z(*b);
  lfarena::allocator<double> rebound(x);
  EXPECT_TRUE(x == y);
  EXPECT_TRUE(x == rebound);
  EXPECT_FALSE(x == z);
  EXPECT_TRUE(x != z);
  lfarena::memory_resource m1(*a), m2(*a), m3(*b);
  EXPECT_TRUE(m1.is_equal(m2));
  EXPECT_FALSE(m1.is_equal(m3));
  EXPECT_FALSE(m1.is_equal(*std::pmr::new_delete_resource()));
  // Memory from one equal allocator is freed through the other.
  int *p = x.allocate(10);
  y.deallocate(p, 10);
  expect_all_free(*a);
}

TEST(AllocatorPropagation, MoveAssignmentTakesTheOtherArena) {
  auto a = Arena::heap(opts(FreelistKind::segregated));
  auto b = Arena::heap(opts(FreelistKind::segregated));
  ASSERT_TRUE(a && b);
  using Vec = std::vector<int, lfarena::allocator<int>>;
  Vec va(100, 1, lfarena::allocator<int>(*a)), vb(50, 2, lfarena::allocator<int>(*b));
  const int *data_b = vb.data();
  va = std::move(vb); // the allocator propagates: va now uses b, no element is copied
  EXPECT_EQ(va.data(), data_b);
  EXPECT_TRUE(va.get_allocator() == lfarena::allocator<int>(*b));
  EXPECT_EQ(a->check()->live_bytes, 0u) << "va's old buffer went back to a";
}

// Concurrent allocation through one resource: each thread fills its own pmr containers.
TEST(AdapterThreads, ManyThreadsAllocateThroughOneResource) {
  for (FreelistKind kind : kReusing) {
    SCOPED_TRACE(lfarena_test::kind_name(kind));
    Options o = opts(kind);
    o.capacity = 32u << 20;
    o.thread_chunk = kind == FreelistKind::segregated ? 16u << 10 : 0;
    auto a = Arena::heap(o);
    ASSERT_TRUE(a);
    lfarena::memory_resource mr(*a);
    std::atomic<int> wrong{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
      threads.emplace_back([&, t] {
        for (int round = 0; round < 20; ++round) {
          std::pmr::vector<std::pmr::string> v(&mr);
          for (int i = 0; i < 300; ++i)
            v.emplace_back(static_cast<std::size_t>(20 + (i * 7 + t) % 200),
                           static_cast<char>('a' + t));
          for (const auto &s : v)
            if (s.front() != 'a' + t || s.back() != 'a' + t)
              wrong.fetch_add(1);
        }
      });
    for (auto &th : threads)
      th.join();
    EXPECT_EQ(wrong.load(), 0) << "a string was overwritten by another thread's";
    auto rep = a->check();
    ASSERT_TRUE(rep) << rep.message();
    EXPECT_EQ(rep->live_bytes, 0u);
  }
}

// libstdc++'s pool resources ask their upstream for blocks aligned to their (power-of-two)
// chunk size, far above the default max_alignment of 64: the resource aligns those itself.
TEST(AdapterPools, StandardPoolsRunOnTheResourceWithDefaultOptions) {
  for (FreelistKind kind : kReusing)
    for (bool checked : {false, true}) {
      SCOPED_TRACE(lfarena_test::kind_name(kind) + (checked ? " checked" : ""));
      Options o = opts(kind, checked);
      ASSERT_EQ(o.max_alignment, 64u);
      auto a = Arena::heap(o);
      ASSERT_TRUE(a);
      lfarena::memory_resource mr(*a);
      {
        std::pmr::unsynchronized_pool_resource pool(&mr);
        std::pmr::synchronized_pool_resource shared(&mr);
        std::pmr::vector<std::pmr::string> v(&pool), w(&shared);
        for (int i = 0; i < 200; ++i) {
          v.emplace_back(static_cast<std::size_t>(300 + i * 40), 'p');
          w.emplace_back(static_cast<std::size_t>(5000 + i), 's');
        }
        EXPECT_EQ(v.back().size(), 300u + 199 * 40);
        EXPECT_EQ(w.back().back(), 's');
        EXPECT_TRUE(inside(*a, v.back().data()));
        // Over-aligned blocks straight from the resource: aligned as asked.
        void *p = mr.allocate(1000, 4096);
        EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % 4096, 0u);
        mr.deallocate(p, 1000, 4096);
      }
      expect_all_free(*a);
    }
}

struct Throws {
  std::uint64_t x[4];
  explicit Throws(int v) : x{} {
    if (v < 0)
      throw std::runtime_error("constructor failed");
    x[0] = static_cast<std::uint64_t>(v);
  }
};

TEST(TypedHandles, AThrowingConstructorLeavesNothingBehind) {
  auto a = Arena::heap(opts(FreelistKind::pessimistic, /*checked=*/true));
  ASSERT_TRUE(a);
  for (int i = 0; i < 100; ++i)
    EXPECT_THROW((void)lfarena::make_owned<Throws>(*a, -1), std::runtime_error);
  for (int i = 0; i < 100; ++i)
    EXPECT_THROW((void)a->create<Throws>(-1), std::runtime_error);
  expect_all_free(*a);
  auto ok = lfarena::make_owned<Throws>(*a, 5);
  ASSERT_TRUE(ok);
  EXPECT_EQ((*ok)->x[0], 5u);
}

struct Counted {
  static inline int alive = 0;
  std::uint64_t value;
  explicit Counted(std::uint64_t v) : value(v) { ++alive; }
  ~Counted() { --alive; }
};

TEST(TypedHandles, RefIsFourTrivialBytesAndLockFreeInAnAtomic) {
  static_assert(sizeof(lfarena::Ref<Counted>) == 4);
  static_assert(std::is_trivially_copyable_v<lfarena::Ref<Counted>>);
  EXPECT_TRUE(std::atomic<lfarena::Ref<Counted>>::is_always_lock_free);
  lfarena::Ref<Counted> null;
  EXPECT_FALSE(null);
  auto a = Arena::heap(opts(FreelistKind::segregated));
  ASSERT_TRUE(a);
  EXPECT_EQ(a->get(null), nullptr);
  EXPECT_EQ(a->get(lfarena::Ref<Counted>(4)), nullptr) << "inside the header";
  EXPECT_EQ(a->get(lfarena::Ref<Counted>(a->stats().data_offset + 4)), nullptr) << "misaligned";
}

TEST(TypedHandles, OwnedDestroysAndFreesDetachKeepsTheObject) {
  auto a = Arena::heap(opts(FreelistKind::pessimistic, /*checked=*/true));
  ASSERT_TRUE(a);
  lfarena::Ref<Counted> kept;
  {
    auto one = lfarena::make_owned<Counted>(*a, 11);
    auto two = lfarena::make_owned<Counted>(*a, 22);
    ASSERT_TRUE(one && two) << one.message();
    EXPECT_EQ(Counted::alive, 2);
    EXPECT_EQ((*one)->value, 11u);
    EXPECT_EQ(a->get(one->ref())->value, 11u);
    lfarena::Owned<Counted> moved = std::move(*one);
    EXPECT_FALSE(*one);
    EXPECT_EQ(moved->value, 11u);
    kept = two->detach();
    EXPECT_FALSE(*two);
  }
  EXPECT_EQ(Counted::alive, 1) << "the owned one destroyed, the detached one kept";
  ASSERT_TRUE(kept);
  EXPECT_EQ(a->get(kept)->value, 22u);
  EXPECT_EQ(a->check()->live_bytes, lfarena::Owned<Counted>::block_size());
  lfarena::Owned<Counted> again(*a, kept); // ownership taken back
  again.reset();
  EXPECT_EQ(Counted::alive, 0);
  expect_all_free(*a);
}

TEST(TypedHandles, ARefSurvivesReopenOfAFileArena) {
  lfarena_test::ScratchDir dir;
  Options o = opts(FreelistKind::segregated);
  o.user_reserved = 64;
  std::uint32_t at = 0;
  {
    auto a = lfarena_test::make_arena(BackingKind::file, o, dir);
    ASSERT_TRUE(a) << a.message();
    auto n = lfarena::make_owned<std::uint64_t>(*a, 0xFEEDu);
    ASSERT_TRUE(n);
    lfarena::Ref<std::uint64_t> r = n->detach();
    std::memcpy(a->user_area().data(), &r, sizeof r);
    at = r.offset;
  }
  o.open_mode = lfarena::OpenMode::open_existing;
  auto b = Arena::open_file(dir.file("arena.bin"), o);
  ASSERT_TRUE(b) << b.message();
  lfarena::Ref<std::uint64_t> r;
  std::memcpy(&r, b->user_area().data(), sizeof r);
  EXPECT_EQ(r.offset, at);
  ASSERT_NE(b->get(r), nullptr);
  EXPECT_EQ(*b->get(r), 0xFEEDu);
}

} // namespace
