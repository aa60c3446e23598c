// verify/crash_points/crash_point_test.cpp -- a process dies exactly at each named crash point
// (allocator/include/lfarena/detail/crash_point.hpp), for every policy x checked mode x thread
// chunks on/off; the file must reopen, recover and keep every acknowledged block
// (docs/DESIGN.md §4 promise 6, §6.3).
//
// A child opens the file, arms one point for its nth hit (n = 1 and 3) and runs a fixed
// allocate/free workload, acknowledging each completed operation over a pipe (crash_support.hpp)
// with a per-allocation sequence number that is also the block's canary tag. The point's hit
// SIGKILLs the child. The parent checks every acknowledgement as it arrives (no overlap with a
// live block), then reopens (crash recovery) and verifies: recovery ran, check() passes, each
// acknowledged live block keeps its canary and (checked mode) is exactly one live block, the
// bytes recovery counts as leaked stay within what one operation in flight can hold, and after
// freeing everything the arena still allocates and checks clean. Recovery's own points are
// tested the same way on a file left dirty by a first kill: the second child dies inside
// recovery and the third open must recover again.
//
// Every point must be reached (and kill) in each configuration that can reach it; the linked
// library variant decides nothing else. The same source linked against the variant with the
// seeded recovery bug (mutant RECOVERY_DROPS_SEGMENT) must fail (CMakeLists.txt).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include <lfarena/detail/cache_layout.hpp>
#include <lfarena/detail/crash_point.hpp>

#include "../crash/crash_support.hpp"

namespace {

using lfarena::Arena;
using lfarena::Block;
using lfarena::FreelistKind;
using lfarena::OpenMode;
using lfarena::Options;
using lfarena::detail::CrashPoint;
using lfarena::detail::kCrashPointCount;
using lfarena::detail::kCrashPointNames;
using namespace lfarena_crash;

constexpr std::uint32_t kChunk = 1024;
constexpr std::uint32_t kMinSegment = 32;
// The largest request (8 + 299 rounded up) and the largest alignment padding.
constexpr std::uint64_t kMaxRequest = 304, kMaxPad = 64 - 8;
// Segments never merge: every free segment is a freed block (with a remainder below
// min_segment), a split remainder, alignment padding or a chunk tail.
constexpr std::uint64_t kMaxSegment =
    kMaxRequest + kMaxPad + kMinSegment > kChunk ? kMaxRequest + kMaxPad + kMinSegment : kChunk;

struct Config {
  FreelistKind kind;
  bool checked;
  std::uint32_t chunk;
};

Options options_for(const Config &c, OpenMode mode) {
  Options o;
  o.capacity = 48 << 10;
  o.freelist = c.kind;
  o.checked = c.checked;
  o.thread_chunk = c.chunk;
  o.min_segment = kMinSegment;
  o.max_alignment = 64;
  o.open_mode = mode;
  return o;
}

bool sorted(FreelistKind k) {
  return k == FreelistKind::optimistic || k == FreelistKind::pessimistic;
}

// Can the workload reach point p in configuration c?
bool reachable(CrashPoint p, const Config &c) {
  const std::string n = kCrashPointNames[static_cast<unsigned>(p)];
  auto starts = [&](const char *prefix) { return n.rfind(prefix, 0) == 0; };
  if (starts("sorted_"))
    return sorted(c.kind);
  if (starts("segregated_"))
    return c.kind == FreelistKind::segregated;
  if (starts("split_"))
    return c.kind != FreelistKind::none;
  if (starts("checked_"))
    return c.checked;
  if (starts("chunk_"))
    return c.chunk != 0;
  // Thread caches: segregated files, used by threads with chunks (free_cache.hpp).
  if (starts("cache_") || p == CrashPoint::recovery_cache_drained)
    return c.kind == FreelistKind::segregated && c.chunk != 0;
  if (p == CrashPoint::recovery_node_unmarked)
    return sorted(c.kind);
  if (p == CrashPoint::recovery_slot_released)
    return c.chunk != 0;
  return true;
}
bool in_recovery(CrashPoint p) {
  return std::string(kCrashPointNames[static_cast<unsigned>(p)]).rfind("recovery_", 0) == 0;
}

// The fixed workload of one thread: random allocate/free, then small blocks at alignment 64.
// Sequence numbers step by `stride` from `first_seq`, so two threads never share one.
void run_ops(const Arena &arena, unsigned seed, int out, std::uint32_t first_seq,
             std::uint32_t stride) {
  std::mt19937 rng(seed);
  std::vector<std::pair<Block, std::uint32_t>> live;
  std::uint32_t seq = first_seq;
  auto acknowledge = [&](const Block &b) {
    fill_canary(arena, b, seq);
    send(out, Kind::allocated, b.offset, b.size, seq);
    live.emplace_back(b, seq);
    seq += stride;
  };
  for (int op = 0; op < 700; ++op) {
    if (live.empty() || rng() % 5 < 3) {
      const std::uint32_t size = 8 + rng() % 300;
      if (auto b = arena.allocate(size, 8u << (rng() % 4)); b) {
        acknowledge(*b);
        continue;
      }
      if (live.empty())
        break;
    }
    const std::size_t i = rng() % live.size();
    const Block b = live[i].first;
    live[i] = live.back();
    live.pop_back();
    send(out, Kind::freeing, b.offset, b.size);
    if (!arena.deallocate(b.offset, b.size))
      ::_exit(4);
    send(out, Kind::freed, b.offset, b.size);
  }
  // Then more frees of one size than a thread cache holds (a spill: free_cache.hpp), with room
  // made for them first.
  while (live.size() > 10) {
    const Block b = live.back().first;
    live.pop_back();
    send(out, Kind::freeing, b.offset, b.size);
    if (!arena.deallocate(b.offset, b.size))
      ::_exit(4);
    send(out, Kind::freed, b.offset, b.size);
  }
  std::vector<std::pair<Block, std::uint32_t>> same;
  for (int i = 0; i < 130; ++i) // twice a cache's limit
    if (auto b = arena.allocate(48); b) {
      acknowledge(*b);
      same.push_back(live.back());
      live.pop_back();
    }
  for (const auto &[b, s] : same) {
    send(out, Kind::freeing, b.offset, b.size);
    if (!arena.deallocate(b.offset, b.size))
      ::_exit(4);
    send(out, Kind::freed, b.offset, b.size);
  }
  // Then small blocks at alignment 64 from a freelist of many small segments: best fit, too,
  // meets front padding big enough to keep (split_padding_kept).
  for (int i = 0; i < 60; ++i) {
    auto b = arena.allocate(8, 64);
    if (!b)
      break;
    acknowledge(*b);
  }
}

int g_ack_fd = -1; // the child's acknowledgement pipe, for on_pair()
// Called by the thread that completes an armed pair, just before the kill.
void on_pair() { send(g_ack_fd, Kind::done, 0, 0); }

// What a child arms: one point at its nth hit, or a pair (point, second) on two threads.
struct Arm {
  CrashPoint point;
  std::uint64_t nth = 0;
  CrashPoint second = CrashPoint::count; // count: no pair
};

// The child: arm, open, run the workload (two threads for a pair). Exits 0 if nothing fired
// (the arena is not closed: only the first kill of a file is tested per run).
[[noreturn]] void workload(const std::string &path, const Options &o, const Arm &arm, int out) {
  g_ack_fd = out;
  if (arm.second == CrashPoint::count)
    lfarena::detail::arm_crash_point(arm.point, arm.nth);
  else
    lfarena::detail::arm_crash_pair(arm.point, arm.second, on_pair);
  auto arena = Arena::open_file(path, o);
  if (!arena)
    ::_exit(2);
  if (arm.second == CrashPoint::count) {
    run_ops(*arena, 12345, out, 1, 1);
  } else {
    std::thread other([&] { run_ops(*arena, 777, out, 2, 2); });
    run_ops(*arena, 12345, out, 1, 2);
    other.join();
  }
  ::_exit(0);
}

// What the parent learned from the acknowledgements.
struct Acks {
  std::map<std::uint32_t, std::pair<Block, std::uint32_t>> live; // offset -> block, seq
  std::map<std::uint32_t, Block> doubt;                          // free announced, not acked
  bool paired = false; // an armed pair fired with both operations in flight
};

// Applies one acknowledgement; false (with a failure) if an allocation overlaps a live block.
bool apply(Acks &a, const Msg &m) {
  if (m.kind == Kind::allocated) {
    auto next = a.live.lower_bound(m.offset);
    if (next != a.live.end() && next->first < m.offset + m.size) {
      ADD_FAILURE() << "block [" << m.offset << ", +" << m.size << ") overlaps live block at "
                    << next->first;
      return false;
    }
    if (next != a.live.begin()) {
      const Block prev = std::prev(next)->second.first;
      if (prev.offset + prev.size > m.offset) {
        ADD_FAILURE() << "block [" << m.offset << ", +" << m.size << ") overlaps live block at "
                      << prev.offset;
        return false;
      }
    }
    a.live[m.offset] = {Block{m.offset, m.size}, m.seq};
  } else if (m.kind == Kind::freeing) {
    a.live.erase(m.offset);
    a.doubt[m.offset] = Block{m.offset, m.size};
  } else if (m.kind == Kind::freed) {
    a.doubt.erase(m.offset);
  } else if (m.kind == Kind::done) {
    a.paired = true;
  }
  return true;
}

// Forks a workload child and collects its acknowledgements. True if the point killed it.
bool run_child(const std::string &path, const Options &o, const Arm &arm, Acks &acks) {
  pid_t pid = 0;
  const int in = fork_with_pipe(pid, [&](int out) { workload(path, o, arm, out); });
  if (in < 0) {
    ADD_FAILURE() << "pipe failed";
    return false;
  }
  Msg m{};
  bool ok = true;
  while (receive(in, m))
    ok = apply(acks, m) && ok;
  ::close(in);
  int status = 0;
  ::waitpid(pid, &status, 0);
  const bool killed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
  if (!wait_until_no_opener(path)) { // the dead child's last reference (crash_support.hpp)
    ADD_FAILURE() << "cannot wait for the child's opener lock: " << std::strerror(errno);
    return false;
  }
  if (!killed && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
    ADD_FAILURE() << "child failed on its own at "
                  << kCrashPointNames[static_cast<unsigned>(arm.point)] << ": status " << status;
  return killed && ok;
}

// Opens the file a child was killed in (only this process touches it now), then verifies and
// frees everything it acknowledged. Returns false after recording failures.
bool verify_after_kill(const std::string &path, const Config &c, const Acks &acks,
                       const std::string &where, unsigned in_flight = 1) {
  auto arena = Arena::open_file(path, options_for(c, OpenMode::open_existing));
  if (!arena) {
    ADD_FAILURE() << where << ": reopen after the kill failed: " << arena.message();
    return false;
  }
  const auto &rec = arena->recovery();
  EXPECT_TRUE(rec.ran) << where << ": a killed opener must trigger recovery";
  EXPECT_LE(rec.nodes_unmarked, in_flight) << where;
  EXPECT_LE(rec.blocks_dropped, in_flight) << where;
  EXPECT_LE(rec.chunks_released, in_flight) << where;
  // One operation in flight holds at most one segment and its padding (segregated: the
  // segments its bounded search holds, segregated_policy.hpp); a dead thread's chunk at most its
  // tail. Everything recovery counts as leaked must come from these.
  const std::uint64_t held = c.kind == FreelistKind::segregated ? 9 : 1;
  const std::uint64_t bound =
      in_flight * (held * kMaxSegment + kMaxPad + (c.chunk != 0 ? c.chunk : 0));
  EXPECT_LE(arena->stats().leaked, bound) << where << ": leak bound exceeded";
  auto report = arena->check();
  if (!report) {
    ADD_FAILURE() << where << ": check after recovery: " << report.message();
    return false;
  }
  std::uint64_t acked = 0;
  for (const auto &[off, bs] : acks.live) {
    if (!canary_ok(*arena, bs.first, bs.second)) {
      ADD_FAILURE() << where << ": acknowledged block " << bs.second << " at " << off
                    << " lost its canary";
      return false;
    }
    acked += bs.first.size;
  }
  if (c.checked) {
    EXPECT_GE(report->live_bytes, acked) << where;
  }
  for (const auto &[off, bs] : acks.live) {
    auto freed = arena->deallocate(off, bs.first.size);
    if (!freed) {
      ADD_FAILURE() << where << ": acknowledged block at " << off
                    << " is not a live block: " << freed.message();
      return false;
    }
  }
  if (c.checked) // a free in flight took effect or not; checked mode tells (ok or double_free)
    for (const auto &[off, b] : acks.doubt)
      (void)arena->deallocate(off, b.size);
  auto after = arena->check();
  if (!after) {
    ADD_FAILURE() << where << ": check after freeing: " << after.message();
    return false;
  }
  if (c.checked) { // at most one allocation returned without its acknowledgement, or one cache
    // block whose slot never named it (a crash between its allocation and the word-3 CAS)
    lfarena::detail::Geometry g;
    g.capacity = options_for(c, OpenMode::open_existing).capacity;
    g.min_segment = kMinSegment;
    g.cache_array = true;
    const std::uint64_t block = c.chunk != 0 && c.kind == FreelistKind::segregated
                                    ? lfarena::detail::cache_block_bytes(g)
                                    : 0;
    EXPECT_LE(after->live_bytes, in_flight * std::max(kMaxRequest + kMinSegment, block)) << where;
  }
  // Still an allocator: a round of allocations and frees, then a clean check.
  std::vector<Block> again;
  for (int i = 0; i < 40; ++i)
    if (auto b = arena->allocate(16 + 8 * static_cast<std::uint32_t>(i % 20)); b)
      again.push_back(*b);
  EXPECT_FALSE(again.empty()) << where << ": nothing can be allocated after recovery";
  for (const Block &b : again)
    EXPECT_TRUE(arena->deallocate(b.offset, b.size).ok()) << where;
  auto last = arena->check();
  EXPECT_TRUE(last.ok()) << where << ": " << last.message();
  return !::testing::Test::HasFailure();
}

void create(const std::string &path, const Config &c) {
  ::unlink(path.c_str());
  ASSERT_TRUE(Arena::open_file(path, options_for(c, OpenMode::create_new)).ok());
}

std::string config_name(const Config &c) {
  static const char *kinds[] = {"none", "optimistic", "pessimistic", "segregated"};
  return std::string(kinds[static_cast<unsigned>(c.kind)]) + (c.checked ? "_checked" : "") +
         (c.chunk != 0 ? "_chunks" : "");
}

class CrashPoints : public ::testing::TestWithParam<Config> {};

// Every point outside recovery: kill at its 1st and 3rd hit, reopen, verify.
TEST_P(CrashPoints, KillAtEachPointThenRecover) {
  const Config c = GetParam();
  const std::string path = temp_path(("cp_" + config_name(c)).c_str());
  unsigned runs = 0, kills = 0;
  for (unsigned i = 0; i < kCrashPointCount; ++i) {
    const auto p = static_cast<CrashPoint>(i);
    if (in_recovery(p))
      continue;
    unsigned killed_here = 0;
    for (const std::uint64_t nth : {1u, 3u}) {
      create(path, c);
      Acks acks;
      const bool killed =
          run_child(path, options_for(c, OpenMode::open_existing), Arm{p, nth}, acks);
      ++runs;
      if (::testing::Test::HasFailure())
        return;
      if (!killed)
        continue;
      ++kills;
      ++killed_here;
      const std::string where = std::string(kCrashPointNames[i]) + " #" + std::to_string(nth);
      if (!verify_after_kill(path, c, acks, where))
        return;
    }
    EXPECT_EQ(killed_here > 0, reachable(p, c))
        << kCrashPointNames[i] << (killed_here > 0 ? " fired although" : " never fired although")
        << " the configuration " << (reachable(p, c) ? "reaches" : "cannot reach") << " it";
  }
  ::unlink(path.c_str());
  std::printf("crash points: %s, runs %u, killed at the point %u\n", config_name(c).c_str(), runs,
              kills);
}

// Recovery's own points: a first child dies mid-operation (with a removal in flight where the
// policy has one), a second dies inside the recovery of that file, the third open recovers.
TEST_P(CrashPoints, KillInsideRecoveryThenRecoverAgain) {
  const Config c = GetParam();
  const std::string path = temp_path(("cpr_" + config_name(c)).c_str());
  const CrashPoint first = sorted(c.kind)                       ? CrashPoint::sorted_marked
                           : c.kind == FreelistKind::segregated ? CrashPoint::segregated_popped
                                                                : CrashPoint::bump_taken;
  for (unsigned i = 0; i < kCrashPointCount; ++i) {
    const auto p = static_cast<CrashPoint>(i);
    if (!in_recovery(p))
      continue;
    create(path, c);
    Acks acks;
    ASSERT_TRUE(run_child(path, options_for(c, OpenMode::open_existing), Arm{first, 3}, acks))
        << "the first child must die at " << kCrashPointNames[static_cast<unsigned>(first)];
    Acks none; // the second child dies in open_file, before its workload
    const bool killed = run_child(path, options_for(c, OpenMode::open_existing), Arm{p, 1}, none);
    ASSERT_FALSE(::testing::Test::HasFailure());
    EXPECT_EQ(killed, reachable(p, c)) << kCrashPointNames[i];
    if (!killed) {
      // It recovered and ran its workload to the end: start over to test the kill in
      // recovery only (its acknowledgements replaced the first child's).
      continue;
    }
    if (!verify_after_kill(path, c, acks, std::string("after ") + kCrashPointNames[i]))
      return;
  }
  ::unlink(path.c_str());
}

// Two operations in flight at the kill, one per thread, at chosen pairs of points: among them
// an allocation and a free of the checked bitmaps at once (the state in which checked-mode
// recovery used to leave a file that never opened again).
TEST_P(CrashPoints, TwoOperationsInFlightThenRecover) {
  const Config c = GetParam();
  const std::string path = temp_path(("cp2_" + config_name(c)).c_str());
  using P = CrashPoint;
  const std::pair<P, P> pairs[] = {
      {P::checked_end_marked, P::checked_start_freed},
      {P::sorted_marked, P::checked_start_freed},
      {P::sorted_unlinked, P::sorted_node_written},
      {P::sorted_marked, P::sorted_marked},
      {P::segregated_popped, P::segregated_pushed},
      {P::segregated_popped, P::segregated_popped},
      {P::bump_taken, P::bump_taken},
      {P::chunk_reserved, P::chunk_cursor_moved},
      {P::chunk_cursor_moved, P::bump_taken},
      {P::split_remainder_kept, P::checked_allocated},
  };
  unsigned runs = 0, paired = 0;
  for (const auto &[first, second] : pairs) {
    if (!reachable(first, c) || !reachable(second, c))
      continue;
    create(path, c);
    Acks acks;
    const bool killed =
        run_child(path, options_for(c, OpenMode::open_existing), Arm{first, 0, second}, acks);
    ++runs;
    ASSERT_FALSE(::testing::Test::HasFailure());
    if (!killed)
      continue;
    paired += acks.paired ? 1 : 0;
    const std::string where = std::string(kCrashPointNames[static_cast<unsigned>(first)]) + " + " +
                              kCrashPointNames[static_cast<unsigned>(second)];
    if (!verify_after_kill(path, c, acks, where, 2))
      return;
  }
  ::unlink(path.c_str());
  std::printf("crash point pairs: %s, runs %u, killed with both in flight %u\n",
              config_name(c).c_str(), runs, paired);
  EXPECT_GT(paired, 0u) << "no pair ever had both operations in flight";
}

std::vector<Config> all_configs() {
  std::vector<Config> v;
  for (FreelistKind k : {FreelistKind::none, FreelistKind::optimistic, FreelistKind::pessimistic,
                         FreelistKind::segregated})
    for (bool checked : {false, true})
      for (std::uint32_t chunk : {0u, kChunk})
        v.push_back({k, checked, chunk});
  return v;
}

INSTANTIATE_TEST_SUITE_P(All, CrashPoints, ::testing::ValuesIn(all_configs()),
                         [](const auto &info) { return config_name(info.param); });

} // namespace
