// verify/relacy/free_cache_check.cpp -- model checks of the per-thread free caches of the
// segregated policy (detail/free_cache.hpp: owner push and pop, the chain push of a spill or
// drain, detail/segregated_policy.hpp insert_chain) racing pops and pushes of the shared class
// stack by another thread (detail/core.hpp), ending in the quiescent invariant of model.hpp.
//
// The model region is exact: after setup the bump region is used up, so every allocation in the
// racing part is served by the class stacks. Thread 0 owns the cache block (a live block of
// cache_block_bytes(), as attach_cache() makes it).
//
//   drain_pop   setup: blocks A and B in thread 0's cache, C on the shared stack of their class.
//               Thread 0 frees D into its cache, pops it back, frees it again and drains the
//               cache (one chain D, B, A pushed with one CAS); thread 1 allocates (a pop that may
//               meet the stack before or after the chain arrives), frees and allocates again.
//   drain_push  the same drain racing thread 1's free of its own block onto that stack (two
//               publishers of one head).
//   refill_run  setup: B, A and C on the shared stack (B on top), D held by thread 1. Thread 0
//               refills its cache with a run of up to 3 (one CAS: SegregatedPolicy::pop_run),
//               takes one more block from its cache and drains it; thread 1 frees D (a push)
//               and allocates twice (pops): both race the run's walk and its CAS.
// Each runs twice: with the chain layout, and with the array layout of every new file
// (kFeatureCacheArray: entries in the cache block; *_arrays).
// Mutants built from this file (must be caught): RUN_HEAD_RELOADED (the run's CAS expects the
// head read after the walk: a block popped meanwhile is handed out twice), RELAXED_PUBLISH (the
// chain's CAS is relaxed: a popper owns a block of the chain without a happens-before edge to the
// drainer's free of it: a data race on the model users' ownership vars). The tag argument of
// insert_chain is the stack's (next_link), whose mutant TAG_NOT_INCREMENTED segregated_check.cpp's
// aba scenario catches; these two scenarios have no pop-pop-push ABA window of their own.
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <relacy/relacy.hpp>

#include <lfarena/detail/core.hpp>
#include <lfarena/detail/free_cache.hpp>

#include "model.hpp"
#include "relacy_main.hpp"

namespace {

using namespace lfarena::relacy_model;
using lfarena::errc;
using Kind = lfarena::FreelistKind;
namespace d = lfarena::detail;

// The cache layouts: chains of nodes (files without kFeatureCacheArray) or arrays of entries,
// whose classes get room from a class budget of 64 bytes (the model's region is far below the
// capacity whose budget would give 16-byte blocks room): 4 entries of 16 bytes.
constexpr std::uint32_t kArrayBudget = 64;
constexpr d::Geometry layout_geometry(bool arrays) {
  d::Geometry g;
  g.min_segment = 16;
  g.thread_cache = g.cache_256 = g.cache_array = arrays;
  g.cache_budget = arrays ? kArrayBudget : 0;
  return g;
}
constexpr std::uint32_t kBlockBytes[2] = {d::cache_block_bytes(layout_geometry(false)),
                                          d::cache_block_bytes(layout_geometry(true))};

// Data: 32 bytes of padding in front of the 64-aligned cache block, the block, four 16-byte
// blocks and a fifth that stays live on top (so no free rolls the bump offset back): the bump
// region ends exactly there.
constexpr unsigned data_words(bool arrays) { return (32 + kBlockBytes[arrays] + 5 * 16) / 8; }

template <class Derived, bool Arrays>
struct CacheTest : ModelTest<Derived, 2, data_words(Arrays), Kind::segregated> {
  static constexpr bool kChecked = false;
  static constexpr unsigned kDataWords = data_words(Arrays);
  using Base = ModelTest<Derived, 2, kDataWords, Kind::segregated>;
  static d::Geometry geometry() {
    d::Geometry g = Base::H::geometry(false, 16, 64); // 64: the block
    const d::Geometry l = layout_geometry(Arrays);
    g.thread_cache = l.thread_cache;
    g.cache_256 = l.cache_256;
    g.cache_array = l.cache_array;
    g.cache_budget = l.cache_budget;
    return g;
  }
  std::uint32_t cache = 0;
  Held a, b, c, dd;

  void setup() {
    RL_ASSERT(this->core.free_cache().arrays() == Arrays);
    // The cache block: live (kept[0]), every class empty.
    this->kept[0] = this->alloc(kBlockBytes[Arrays], 9, d::kCacheBlockAlign);
    cache = this->kept[0].offset;
    RL_ASSERT(cache != 0);
    for (std::uint32_t w = 0; w < d::kCacheClasses; ++w)
      d::store_relaxed(this->h.view().word(cache + w * 8), 0);
    a = this->alloc(16, 9);
    b = this->alloc(16, 9);
    c = this->alloc(16, 9);
    dd = this->alloc(16, 0);
    this->kept[1] = this->alloc(16, 9);
    RL_ASSERT(this->kept[1].offset != 0 && a.offset != 0 && b.offset != 0 && c.offset != 0 &&
              dd.offset != 0);
    RL_ASSERT(this->core.top() == this->kDataOffset + kDataWords * 8); // bump used up
    cache_free(a, 9);
    cache_free(b, 9);
    this->release(c, 9); // the shared stack
    this->held[0][0] = dd;
  }

  // Arena::deallocate of a thread with a cache.
  void cache_free(Held &x, int who) {
    this->h.disown(x, who);
    RL_ASSERT(this->core.deallocate(x.offset, x.size, nullptr, cache) == errc::ok);
    x = {};
  }
  // Thread 0's part: free D into the cache, pop it back, free it again, drain.
  void owner() {
    Held &x = this->held[0][0];
    cache_free(x, 0);
    std::uint32_t damaged = 0;
    const std::uint32_t o = this->core.cache_take(cache, 16, damaged);
    RL_ASSERT(o == dd.offset && damaged == 0); // owner-only: the newest comes back
    x = Held{o, 16};
    this->h.own(x, 0);
    cache_free(x, 0);
    RL_ASSERT(!this->core.free_cache().drain(cache));
    for (std::uint32_t w = 0; w < d::kCacheClasses; ++w) // drained: every class empty
      RL_ASSERT(d::load_relaxed(this->h.view().word(cache + w * 8)) == 0);
  }
};

template <bool Arrays> struct drain_pop : CacheTest<drain_pop<Arrays>, Arrays> {
  static constexpr const char *kName = Arrays ? "drain_pop_arrays" : "drain_pop";
  void run(unsigned t) {
    if (t == 0) {
      this->owner();
      return;
    }
    Held x = this->alloc(16, 1); // C, or the chain's head, or nothing yet (out of memory)
    this->release(x, 1);
    this->held[1][0] = this->alloc(16, 1);
  }
};

template <bool Arrays> struct drain_push : CacheTest<drain_push<Arrays>, Arrays> {
  static constexpr const char *kName = Arrays ? "drain_push_arrays" : "drain_push";
  void setup() {
    CacheTest<drain_push<Arrays>, Arrays>::setup();
    this->held[1][0] = this->alloc(16, 1); // C back from the stack: thread 1's block
  }
  void run(unsigned t) {
    if (t == 0) {
      this->owner();
      return;
    }
    this->release(this->held[1][0], 1);    // a push racing the chain push
    this->held[1][1] = this->alloc(16, 1); // then a pop
  }
};

template <bool Arrays> struct refill_run : CacheTest<refill_run<Arrays>, Arrays> {
  static constexpr const char *kName = Arrays ? "refill_run_arrays" : "refill_run";
  void setup() {
    CacheTest<refill_run<Arrays>, Arrays>::setup();
    // The cache's chain (B, A) goes on top of C as one push: the stack is B, A, C.
    RL_ASSERT(!this->core.free_cache().drain(this->cache));
    this->h.disown(this->dd, 0); // D is thread 1's
    this->h.own(this->dd, 1);
    this->held[1][0] = this->dd;
    this->held[0][0] = {};
  }
  void run(unsigned t) {
    if (t == 0) {
      std::uint32_t damaged = 0;
      const std::uint32_t o = this->core.cache_refill_run(this->cache, 16, 3, damaged);
      RL_ASSERT(damaged == 0);
      if (o != 0) {
        this->held[0][0] = Held{o, 16};
        this->h.own(this->held[0][0], 0);
      }
      const std::uint32_t x = this->core.cache_take(this->cache, 16, damaged);
      RL_ASSERT(damaged == 0);
      if (x != 0) {
        this->held[0][1] = Held{x, 16};
        this->h.own(this->held[0][1], 0);
      }
      RL_ASSERT(!this->core.free_cache().drain(this->cache));
      return;
    }
    this->release(this->held[1][0], 1);    // a push racing the walk
    this->held[1][1] = this->alloc(16, 1); // pops
    this->held[1][2] = this->alloc(16, 1);
  }
};

} // namespace

int main() {
  // The array layout first: a mutant run stops at its first catch, and new files use arrays.
  return lfarena::relacy_check::run<drain_pop<true>, drain_push<true>, refill_run<true>,
                                    drain_pop<false>, drain_push<false>, refill_run<false>>(
      "free_cache");
}
