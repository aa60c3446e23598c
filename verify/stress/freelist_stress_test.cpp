// Seeded multi-thread stress of the freelists, with canaries (docs/DESIGN.md §4 promises 1, 2, 4).
//
// Sizes (env LFARENA_SCALE): ci (the default) runs 20000 operations per thread per run, nightly
// 300000 (15x). There are 48 runs: policy none/optimistic/pessimistic/segregated x checked
// off/on x thread chunks off/4 KiB x T = 2, 3, 4 threads, so CI does 2.88 million operations in
// all, nightly 43.2 million.
//
// Each thread allocates random sizes 8..512 (an eighth of them aligned to 16..64; seeded per
// thread) from one 256 KiB arena, so the bump region is gone after about a thousand blocks and
// from then on allocations from the freelist interleave with frees in the other threads. Every
// block is filled with a canary derived from (offset, owner id, generation). A quarter of the
// blocks are handed to other threads through an array of atomic slots (release/acquire); a
// block is freed, in random order, by whoever holds it, after its canary is verified. So a block
// handed out twice, overlapping another block, or written by the freelist while live shows up as
// a canary mismatch (or as a data race under TSan). After the threads are joined, everything
// still held is verified and freed, and check() must be ok with nothing live: live_bytes == 0
// (live_blocks == 0 in checked mode) and free_bytes + discarded == allocated.
#include <lfarena/arena.hpp>

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

namespace {

using lfarena::Arena;
using lfarena::errc;
using Kind = lfarena::FreelistKind;

constexpr std::uint32_t kCapacity = 256u << 10;
constexpr std::uint32_t kMinSegment = 32;
constexpr std::size_t kSlots = 32;
constexpr std::size_t kMaxHeld = 32;

std::uint64_t ops_per_thread() {
  const char *s = std::getenv("LFARENA_SCALE");
  const std::string scale = s ? s : "ci";
  if (scale == "nightly")
    return 300000;
  EXPECT_TRUE(scale == "ci" || scale.empty()) << "LFARENA_SCALE=" << scale << " (ci|nightly)";
  return 20000;
}

// A block and the identity its canary is derived from.
struct Held {
  std::uint32_t offset, size, owner, gen; // gen: 16 bits
};

// Slot word: offset (32 bits) | size/8 (12) | owner (4) | gen (16). 0 is an empty slot.
std::uint64_t pack(const Held &h) {
  return std::uint64_t{h.offset} | std::uint64_t{h.size / 8} << 32 | std::uint64_t{h.owner} << 44 |
         std::uint64_t{h.gen} << 48;
}
Held unpack(std::uint64_t v) {
  return {static_cast<std::uint32_t>(v), static_cast<std::uint32_t>(v >> 32 & 0xfff) * 8,
          static_cast<std::uint32_t>(v >> 44 & 0xf), static_cast<std::uint32_t>(v >> 48)};
}

std::uint64_t canary(const Held &h, std::uint32_t word) { // splitmix64 of identity and index
  std::uint64_t x = h.offset | std::uint64_t{h.owner} << 32 | std::uint64_t{h.gen} << 40;
  x += 0x9e3779b97f4a7c15ull * (word + 1);
  x = (x ^ x >> 30) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ x >> 27) * 0x94d049bb133111ebull;
  return x ^ x >> 31;
}

struct Counters {
  std::uint64_t ops = 0, allocs = 0, alloc_bytes = 0, frees = 0, oom = 0, passed = 0, adopted = 0,
                mismatches = 0, errors = 0;
  std::string first_problem;
  void problem(const std::string &what) {
    if (first_problem.empty())
      first_problem = what;
  }
};

void fill(const Arena &a, const Held &h) {
  std::uint64_t *p = a.pointer<std::uint64_t>(h.offset);
  for (std::uint32_t i = 0; i < h.size / 8; ++i)
    p[i] = canary(h, i);
}

// Verifies the canary, then frees the block.
void verify_and_free(const Arena &a, const Held &h, Counters &c) {
  const std::uint64_t *p = a.pointer<std::uint64_t>(h.offset);
  for (std::uint32_t i = 0; i < h.size / 8; ++i) {
    if (p[i] == canary(h, i))
      continue;
    ++c.mismatches;
    c.problem("canary of block " + std::to_string(h.offset) + "+" + std::to_string(h.size) +
              " (owner " + std::to_string(h.owner) + ", gen " + std::to_string(h.gen) +
              ") differs at word " + std::to_string(i));
  }
  if (const auto s = a.deallocate(h.offset, h.size); !s) {
    ++c.errors;
    c.problem(s.message());
  }
  ++c.frees;
}

void run_thread(const Arena &a, std::array<std::atomic<std::uint64_t>, kSlots> &slots,
                std::uint32_t id, std::uint64_t seed, std::uint64_t ops, std::vector<Held> &held,
                Counters &c) {
  std::mt19937_64 rng(seed);
  std::uint32_t gen = 0;
  auto free_random = [&] {
    const std::size_t i = rng() % held.size();
    const Held h = held[i];
    held[i] = held.back();
    held.pop_back();
    verify_and_free(a, h, c);
  };
  for (c.ops = 0; c.ops < ops; ++c.ops) {
    const unsigned r = rng() % 100;
    if (r < 50 && held.size() >= kMaxHeld) {
      free_random();
    } else if (r < 50) {
      const auto size = static_cast<std::uint32_t>(8 + rng() % 505);
      const std::uint32_t align = rng() % 8 == 0 ? 16u << (rng() % 3) : 8u;
      const auto b = a.allocate(size, align);
      if (!b) {
        if (b.code() != errc::out_of_memory) {
          ++c.errors;
          c.problem(b.message());
        }
        ++c.oom;
        if (!held.empty())
          free_random();
        continue;
      }
      ++c.allocs;
      c.alloc_bytes += b->size;
      const Held h{b->offset, b->size, id, ++gen & 0xffff};
      fill(a, h);
      if (rng() % 4 == 0) { // hand it to whoever looks into this slot next
        std::uint64_t empty = 0;
        if (slots[rng() % kSlots].compare_exchange_strong(empty, pack(h), std::memory_order_release,
                                                          std::memory_order_relaxed)) {
          ++c.passed;
          continue;
        }
      }
      held.push_back(h);
    } else if (r < 62) {
      const std::uint64_t v = slots[rng() % kSlots].exchange(0, std::memory_order_acquire);
      if (v != 0) {
        held.push_back(unpack(v));
        ++c.adopted;
      }
    } else if (!held.empty()) {
      free_random();
    }
  }
}

std::string kind_name(Kind k) {
  switch (k) {
  case Kind::none:
    return "none";
  case Kind::optimistic:
    return "optimistic";
  case Kind::pessimistic:
    return "pessimistic";
  default:
    return "segregated";
  }
}

// (policy, checked, thread_chunk)
class FreelistStress : public ::testing::TestWithParam<std::tuple<Kind, bool, std::uint32_t>> {};
INSTANTIATE_TEST_SUITE_P(KindsCheckedChunks, FreelistStress,
                         ::testing::Combine(::testing::Values(Kind::none, Kind::optimistic,
                                                              Kind::pessimistic, Kind::segregated),
                                            ::testing::Bool(), ::testing::Values(0u, 4096u)),
                         [](const auto &info) {
                           return kind_name(std::get<0>(info.param)) +
                                  (std::get<1>(info.param) ? "_checked" : "_unchecked") +
                                  (std::get<2>(info.param) != 0 ? "_chunks" : "");
                         });

TEST_P(FreelistStress, CanariesHoldAndAccountingBalances) {
  const Kind kind = std::get<0>(GetParam());
  const bool checked = std::get<1>(GetParam());
  const std::uint32_t chunk = std::get<2>(GetParam());
  const std::uint64_t ops = ops_per_thread();
  for (std::uint32_t threads = 2; threads <= 4; ++threads) {
    auto made = Arena::heap({.capacity = kCapacity,
                             .min_segment = kMinSegment,
                             .freelist = kind,
                             .checked = checked,
                             .thread_chunk = chunk});
    ASSERT_TRUE(made) << made.message();
    const Arena a = std::move(*made);
    const std::uint64_t seed = 0xF1EE0000u + 128 * static_cast<unsigned>(kind) +
                               (chunk != 0 ? 64 : 0) + (checked ? 32 : 0) + 8 * threads;
    SCOPED_TRACE(std::to_string(threads) + " threads, seeds " + std::to_string(seed) + "+id");

    std::array<std::atomic<std::uint64_t>, kSlots> slots{};
    std::vector<std::vector<Held>> held(threads);
    std::vector<Counters> counters(threads);
    std::vector<std::thread> pool;
    for (std::uint32_t id = 0; id < threads; ++id)
      pool.emplace_back(run_thread, std::cref(a), std::ref(slots), id, seed + id, ops,
                        std::ref(held[id]), std::ref(counters[id]));
    for (std::thread &t : pool)
      t.join();

    Counters total, final_frees;
    for (std::uint32_t id = 0; id < threads; ++id) {
      for (const Held &h : held[id])
        verify_and_free(a, h, final_frees);
      const Counters &c = counters[id];
      total.ops += c.ops, total.allocs += c.allocs, total.alloc_bytes += c.alloc_bytes;
      total.frees += c.frees, total.oom += c.oom, total.passed += c.passed;
      total.adopted += c.adopted, total.mismatches += c.mismatches, total.errors += c.errors;
      total.problem(c.first_problem);
    }
    for (auto &slot : slots)
      if (const std::uint64_t v = slot.exchange(0, std::memory_order_acquire); v != 0)
        verify_and_free(a, unpack(v), final_frees);
    EXPECT_EQ(total.ops, threads * ops);
    EXPECT_EQ(total.mismatches + final_frees.mismatches, 0u)
        << total.first_problem << final_frees.first_problem;
    EXPECT_EQ(total.errors + final_frees.errors, 0u)
        << total.first_problem << final_frees.first_problem;
    EXPECT_EQ(total.frees + final_frees.frees, total.allocs);
    if (kind != Kind::none) { // the bump region alone (with rollbacks) gives ~1.05x capacity
      EXPECT_GT(total.alloc_bytes, 3ull * kCapacity / 2) << "the freelist did little work";
    }

    const auto rep = a.check();
    ASSERT_TRUE(rep) << rep.message();
    const auto st = a.stats();
    EXPECT_EQ(rep->live_bytes, 0u);
    EXPECT_EQ(rep->live_blocks, 0u);
    EXPECT_EQ(rep->chunk_reserved, 0u) << "exited threads gave their chunks back";
    EXPECT_EQ(rep->free_bytes + st.discarded + rep->cache_reserved, st.allocated);
    std::printf(
        "[          ] %s%s, %u threads: %llu ops (%llu allocations, %llu KiB; %llu out of "
        "memory; %llu handed over), %llu free segments, %llu discarded bytes\n",
        kind_name(kind).c_str(), checked ? " checked" : "", threads,
        static_cast<unsigned long long>(total.ops), static_cast<unsigned long long>(total.allocs),
        static_cast<unsigned long long>(total.alloc_bytes >> 10),
        static_cast<unsigned long long>(total.oom), static_cast<unsigned long long>(total.passed),
        static_cast<unsigned long long>(rep->free_segments),
        static_cast<unsigned long long>(st.discarded));
  }
}

} // namespace
