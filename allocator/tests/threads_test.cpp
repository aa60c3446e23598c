// Unit tests of concurrent bump allocation (docs/DESIGN.md §4 promises 1 and 2; §5.1
// point): several threads allocate from one arena until it is exhausted; every block handed out
// is unique and disjoint, stays inside the data area, and the accounting adds up. A fixed-size
// workload always ends with the same total, whatever the interleaving. Rollback of the most
// recent block races concurrent bumps without ever handing the same bytes out twice.
// No sleeps and no timing: threads start together on a latch and stop on out_of_memory.
#include <lfarena/arena.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <latch>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "arena_test_support.hpp"

namespace {

using lfarena::Arena;
using lfarena::Block;
using lfarena::errc;
using lfarena::Options;

struct ThreadLog {
  std::vector<Block> blocks;
  errc last = errc::ok;          // the error that stopped the thread
  std::uint64_t align_fails = 0; // blocks not aligned as requested
};

// Runs `body(thread_index, log)` on `threads` threads released together.
template <class Body> std::vector<ThreadLog> run_threads(int threads, Body body) {
  std::vector<ThreadLog> logs(static_cast<std::size_t>(threads));
  std::latch start(threads);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      start.arrive_and_wait();
      body(t, logs[static_cast<std::size_t>(t)]);
    });
  }
  for (auto &th : pool)
    th.join();
  return logs;
}

std::vector<Block> merged(const std::vector<ThreadLog> &logs) {
  std::vector<Block> all;
  for (const auto &l : logs)
    all.insert(all.end(), l.blocks.begin(), l.blocks.end());
  std::sort(all.begin(), all.end(),
            [](const Block &a, const Block &b) { return a.offset < b.offset; });
  return all;
}

// All blocks lie in [data_offset, capacity) and no two share a byte. Returns their total size.
std::uint64_t expect_disjoint(const std::vector<Block> &sorted, const lfarena::Stats &s) {
  std::uint64_t total = 0;
  std::uint64_t prev_end = s.data_offset;
  for (const Block &b : sorted) {
    EXPECT_GE(b.offset, prev_end) << "block at " << b.offset << " overlaps its predecessor";
    EXPECT_LE(std::uint64_t{b.offset} + b.size, s.capacity);
    prev_end = std::uint64_t{b.offset} + b.size;
    total += b.size;
  }
  return total;
}

Arena make(std::uint32_t capacity) {
  Options o;
  o.capacity = capacity;
  auto r = Arena::anonymous(o);
  EXPECT_TRUE(r.ok()) << r.message();
  return r.ok() ? *r : Arena();
}

class Threads : public testing::TestWithParam<int> {};

TEST_P(Threads, RandomSizesUntilExhaustedAreDisjointAndAccountedFor) {
  const int threads = GetParam();
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    Arena a = make(1 << 20);
    auto logs = run_threads(threads, [&](int t, ThreadLog &log) {
      std::mt19937_64 rng(seed * 1000 + static_cast<std::uint64_t>(t));
      std::uniform_int_distribution<std::uint32_t> size(1, 700);
      std::uniform_int_distribution<int> shift(3, 6); // alignment 8..64
      for (;;) {
        const std::uint32_t align = 1u << shift(rng);
        auto b = a.allocate(size(rng), align);
        if (!b) {
          log.last = b.code();
          return;
        }
        if (b->offset % align != 0)
          ++log.align_fails;
        // Write the block: TSan reports a race if anybody else was handed these bytes.
        std::memset(a.base() + b->offset, t + 1, b->size);
        log.blocks.push_back(*b);
      }
    });
    for (const auto &l : logs) {
      EXPECT_EQ(l.last, errc::out_of_memory);
      EXPECT_EQ(l.align_fails, 0u);
    }
    for (int t = 0; t < threads; ++t) {
      for (const Block &b : logs[static_cast<std::size_t>(t)].blocks) {
        const auto *p = reinterpret_cast<const unsigned char *>(a.base() + b.offset);
        ASSERT_TRUE(std::all_of(p, p + b.size, [&](unsigned char c) { return c == t + 1; }))
            << "block at " << b.offset << " of thread " << t << " was overwritten";
      }
    }
    const auto all = merged(logs);
    const lfarena::Stats s = a.stats();
    const std::uint64_t live = expect_disjoint(all, s);
    EXPECT_EQ(live + s.discarded, s.allocated) << "live + padding must be all that was bumped";
    EXPECT_LE(s.data_offset + s.allocated, s.capacity);
    EXPECT_LT(s.remaining, 700u + 64) << "threads stopped although a request could still fit";
  }
}

TEST_P(Threads, FixedSizeWorkloadAlwaysFillsTheArenaExactly) {
  const int threads = GetParam();
  for (std::uint32_t capacity : {64u << 10, (64u << 10) + 40, 300u << 10}) {
    SCOPED_TRACE("capacity " + std::to_string(capacity));
    std::uint64_t first_total = 0;
    for (int run = 0; run < 4; ++run) {
      Arena a = make(capacity);
      auto logs = run_threads(threads, [&](int, ThreadLog &log) {
        for (;;) {
          auto b = a.allocate(64);
          if (!b) {
            log.last = b.code();
            return;
          }
          log.blocks.push_back(*b);
        }
      });
      for (const auto &l : logs)
        EXPECT_EQ(l.last, errc::out_of_memory);
      const auto all = merged(logs);
      const lfarena::Stats s = a.stats();
      const std::uint64_t total = expect_disjoint(all, s);
      const std::uint64_t expected = (capacity - s.data_offset) / 64 * 64;
      EXPECT_EQ(total, expected);
      EXPECT_EQ(all.size(), expected / 64);
      EXPECT_EQ(s.allocated, expected);
      EXPECT_EQ(s.discarded, 0u);
      EXPECT_LT(s.remaining, 64u);
      if (run == 0)
        first_total = total;
      EXPECT_EQ(total, first_total) << "run " << run << " differs from run 0";
    }
  }
}

TEST_P(Threads, RollbackRacingBumpsNeverHandsBytesOutTwice) {
  const int threads = GetParam();
  Arena a = make(128 << 10);
  auto logs = run_threads(threads, [&](int t, ThreadLog &log) {
    std::mt19937 rng(static_cast<unsigned>(t) + 17);
    std::uniform_int_distribution<std::uint32_t> size(1, 200);
    for (unsigned i = 0;; ++i) {
      auto b = a.allocate(size(rng));
      if (!b) {
        log.last = b.code();
        return;
      }
      auto *p = reinterpret_cast<unsigned char *>(a.base() + b->offset);
      std::memset(p, t + 1, b->size);
      if (i % 2 == 1) {
        // Free at once: rolls the bump back if nobody bumped meanwhile, else discarded.
        if (!std::all_of(p, p + b->size, [&](unsigned char c) { return c == t + 1; })) {
          log.last = errc::corrupt_freelist; // reused as "someone else wrote my block"
          return;
        }
        if (auto s = a.deallocate(b->offset, b->size); !s) {
          log.last = s.code();
          return;
        }
      } else {
        log.blocks.push_back(*b);
      }
    }
  });
  for (const auto &l : logs)
    EXPECT_EQ(l.last, errc::out_of_memory);
  for (int t = 0; t < threads; ++t) {
    for (const Block &b : logs[static_cast<std::size_t>(t)].blocks) {
      const auto *p = reinterpret_cast<const unsigned char *>(a.base() + b.offset);
      ASSERT_TRUE(std::all_of(p, p + b.size, [&](unsigned char c) { return c == t + 1; }))
          << "kept block at " << b.offset << " of thread " << t << " was overwritten";
    }
  }
  const lfarena::Stats s = a.stats();
  const std::uint64_t live = expect_disjoint(merged(logs), s);
  // Every bumped byte is a kept block or a freed block that could not be rolled back.
  EXPECT_EQ(live + s.discarded, s.allocated);
  EXPECT_LT(s.remaining, 200u);
}

INSTANTIATE_TEST_SUITE_P(ThreadCounts, Threads, testing::Values(2, 4),
                         [](const testing::TestParamInfo<int> &i) {
                           return std::to_string(i.param) + "Threads";
                         });

} // namespace
