// bench/workloads.hpp -- the bump and churn workloads, templated on a subject (harness.hpp), and
// their registration under the one naming scheme `<suite>/<subject>/<param>:<value>/...`.
//
// Shared state: thread 0 builds the subject before the timed loop; Google Benchmark starts every
// thread's loop behind one barrier (State::StartKeepRunning), so the others see it built, and it
// joins all threads before the next run, so thread 0 of the next run may replace it.
//
// bump:  each thread allocates a fixed number of blocks (Iterations: bump_bytes() in total); the
//        region is sized exactly and pre-faulted, so it never fills and no page is first touched
//        while timed. Nothing is freed or written while timed. The first repetition of a
//        benchmark builds its subject; the next ones rewind it (lfarena: Arena::reset(); the raw
//        and pmr bump pointers back to their start) and so run on the same faulted region.
//        The timed loop sees the same state either way (every page present, nothing cached
//        of the blocks: the loop never touches them); only the setup's page faults, which
//        made a full run last hours, are saved.
// churn: fill (a region until its bump part is exhausted, or 2*S blocks), free S blocks chosen at
//        random (S = segments), keep S other random blocks as the live churn set (the rest of
//        an exhausted region stays allocated, untouched: the same working set for every
//        subject), then time a fixed number of pairs "free a random live block of
//        mine, allocate a new one and write its first word" (churn_iterations(): the same for
//        every subject but the linear-scan baselines, no time-driven ramp-up in which a fast
//        subject would run longer and drift into a cheaper state). Every run (every repetition)
//        starts from a fresh build with the same seeds, so repetitions repeat the same work and
//        their median is honest. Failed allocations are counted (`failures`), never passed off as
//        completed pairs.
// Every run reports `minor_faults` (FaultMeter): page faults taken while timed.
#pragma once

#include "counted_loop.hpp"
#include "harness.hpp"

#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <chrono>
#include <climits>
#include <functional>
#include <thread>
#include <utility>

namespace lfb {

template <class S> using Make = std::function<std::unique_ptr<S>(Setup)>;

inline void touch(const Handle &h, std::uint64_t v) { std::memcpy(h.p, &v, sizeof v); }
inline std::string size_name(std::uint32_t size) {
  return size ? std::to_string(size) : std::string("mixed");
}

// ---- bump ---------------------------------------------------------------------------------
// Per-thread iterations so that all threads together allocate about bump_bytes().
inline std::uint64_t bump_iterations(std::uint32_t size, std::uint32_t align, int threads) {
  const SizeTable t = bump_sizes(size);
  double stride = 0;
  for (auto s : t)
    stride += static_cast<double>(align_up(s, align));
  stride /= kTable;
  return std::max<std::uint64_t>(64, static_cast<std::uint64_t>(bump_bytes() / stride / threads));
}

// A reusable spin barrier for the setup phase, before Google Benchmark's own start barrier:
// thread 0 builds the shared subject, then every thread may use it (warm-up, per-thread state).
inline void setup_gate(int threads) {
  static std::atomic<int> arrived{0};
  static std::atomic<std::uint64_t> generation{0};
  const std::uint64_t g = generation.load(std::memory_order_acquire);
  if (arrived.fetch_add(1, std::memory_order_acq_rel) + 1 == threads) {
    arrived.store(0, std::memory_order_relaxed);
    generation.fetch_add(1, std::memory_order_release);
  } else {
    while (generation.load(std::memory_order_acquire) == g)
      std::this_thread::yield();
  }
}

// Aggregate throughput over wall-clock time, from the first thread's first iteration to the end
// of the run (after Google Benchmark's end barrier): counter `wall_items_per_second`. Google
// Benchmark's own items_per_second divides by the *average per-thread* real time, which
// overstates throughput when threads do not overlap (4 threads on 2 cores, short runs).
class WallRate {
public:
  static std::int64_t now() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  static void reset() { start().store(INT64_MAX); } // thread 0, before setup_gate()
  static void first_iteration() {
    const std::int64_t t = now();
    std::int64_t cur = start().load();
    while (t < cur && !start().compare_exchange_weak(cur, t)) {
    }
  }
  // After the loop: `total` items of all threads together.
  static void report(benchmark::State &st, double total) {
    const double wall = static_cast<double>(now() - start().load()) * 1e-9;
    st.counters["wall_items_per_second"] =
        benchmark::Counter(wall > 0 ? total / wall : 0.0, benchmark::Counter::kAvgThreads);
  }

private:
  static std::atomic<std::int64_t> &start() {
    static std::atomic<std::int64_t> s{INT64_MAX};
    return s;
  }
};

// Minor page faults of the process (getrusage RUSAGE_SELF: every thread) while a run's loops ran:
// counter `minor_faults`. Thread 0 starts it after the setup gate and reads it after its loop,
// which Google Benchmark ends behind a barrier of all threads. A fault while timed is a first
// touch the pre-faulting missed, or an allocator mapping memory on demand; the report shows it
// next to the time, so a ratio that includes page faults can be told apart.
class FaultMeter {
public:
  static long minor() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return u.ru_minflt;
  }
  void start() { start_ = minor(); }
  void report(benchmark::State &st) const {
    st.counters["minor_faults"] = benchmark::Counter(static_cast<double>(minor() - start_));
  }

private:
  long start_ = 0;
};

// The timed loop is the allocation call and the store of its pointer into a pre-faulted slot
// array: blocks are not written (a write per block makes every subject memory-bound at one
// fresh cache line per op). Every subject stores its pointers, though only general allocators
// need them (to free the blocks after the loop): before 2026-12-05 only they did, an 8-byte
// store per op (a new line of the slot array every 8 ops) that the arenas and raw bump
// pointers did not pay, which favoured them in every ratio against a peer.
// How to destroy the bump subject alive in the process (of whichever type), so that a
// benchmark of another subject type first frees the last one's region: one region at a time.
// (`shared` of a type is therefore non-null only while it is the one alive.)
using DestroyFn = void (*)();
inline DestroyFn &bump_destroy() {
  static DestroyFn destroy = nullptr;
  return destroy;
}

template <class S>
void bump_run(benchmark::State &st, const Make<S> &make, std::uint32_t size, std::uint32_t align) {
  static std::unique_ptr<S> shared; // one subject for all threads of this run
  // The benchmark `shared` was built for: the address of its registration's own copy of `make`
  // (one per registered benchmark, alive as long as the registration).
  static const void *shared_for = nullptr;
  const SizeTable table = bump_sizes(size);
  const auto tid = static_cast<unsigned>(st.thread_index());
  pin_bench_thread(st.thread_index());
  const auto threads = st.threads();
  const std::uint64_t n = st.max_iterations;
  const std::uint32_t first = tid * (kTable / static_cast<unsigned>(threads));
  if (tid == 0) {
    std::uint64_t worst = 0; // exact bytes of the busiest thread
    for (int t = 0; t < threads; ++t) {
      std::uint64_t sum = 0;
      const std::uint32_t f = static_cast<std::uint32_t>(t) * (kTable / threads);
      for (std::uint64_t i = 0; i < n; ++i)
        sum += align_up(table[(f + i) & (kTable - 1)], align);
      worst = std::max(worst, sum);
    }
    // A repetition of the benchmark that built `shared` rewinds it (the same capacity: the
    // iteration count is fixed) instead of building and faulting a new region (at full scale
    // 512 MiB: 3.3 s of page faults on the 2026-12-05 VM, 1890 times in the suite); see
    // "bump" in the banner. Any other benchmark builds its own.
    if (!(shared && shared_for == &make && shared->rewind())) {
      if (bump_destroy() != nullptr)
        bump_destroy()();
      bump_destroy() = [] { shared.reset(); };
      shared = make({static_cast<std::size_t>(worst * threads + 65536), threads});
      shared_for = &make;
    }
    WallRate::reset();
  }
  setup_gate(threads);
  FaultMeter faults;
  std::vector<std::byte *> slots(n); // value-initialised: faulted before the timed loop
  auto size_at = [&](std::uint64_t i) { return table[(first + i) & (kTable - 1)]; };
  if constexpr (!S::kOwnsMemory) { // warm a general allocator with one round of the same shape
    for (std::uint64_t j = 0; j < n; ++j)
      slots[j] = shared->alloc(tid, size_at(j), align).p;
    for (std::uint64_t j = 0; j < n; ++j)
      shared->free(tid, Handle{0, slots[j], size_at(j)}, size_at(j), align);
  }
  std::uint64_t i = 0, bytes = 0;
  setup_gate(threads); // every thread's warm-up round is done before faults are counted
  if (tid == 0)
    faults.start();
  CountedLoop counted(threads);
  for (auto _ : st) {
    if (i == 0)
      WallRate::first_iteration();
    const std::uint32_t sz = size_at(i);
    const Handle h = shared->alloc(tid, sz, align);
    if (h.p == nullptr) {
      st.SkipWithError("bump: the region filled up (sizing bug in the benchmark)");
      break;
    }
    benchmark::DoNotOptimize(h.p);
    slots[i] = h.p; // every subject (banner)
    bytes += sz;
    ++i;
  }
  counted.stop();
  benchmark::DoNotOptimize(slots.data()); // the slots escape: no subject's stores are dead
  st.SetItemsProcessed(static_cast<std::int64_t>(i));
  st.SetBytesProcessed(static_cast<std::int64_t>(bytes));
  WallRate::report(st, static_cast<double>(n) * threads);
  if (tid == 0)
    faults.report(st);
  if constexpr (!S::kOwnsMemory)
    for (std::uint64_t j = 0; j < i; ++j)
      shared->free(tid, Handle{0, slots[j], size_at(j)}, size_at(j), align);
}

inline const std::vector<std::uint32_t> &bump_size_params() {
  static const std::vector<std::uint32_t> v{16, 64, 256, 4096, 0};
  return v;
}

// Registers bump/<subject>/size:<s>/align:<a>/iterations:<n>/real_time/threads:<t>.
template <class S>
void register_bump(const std::string &subject, Make<S> make, std::vector<std::uint32_t> aligns,
                   std::vector<int> threads = {1, 2, 4}) {
  for (std::uint32_t size : bump_size_params())
    for (std::uint32_t align : aligns)
      for (int t : threads) {
        const std::string name =
            "bump/" + subject + "/size:" + size_name(size) + "/align:" + std::to_string(align);
        benchmark::RegisterBenchmark(
            name.c_str(),
            [make, size, align](benchmark::State &st) { bump_run<S>(st, make, size, align); })
            ->Iterations(static_cast<benchmark::IterationCount>(bump_iterations(size, align, t)))
            ->UseRealTime()
            ->Threads(t);
      }
}

// ---- churn --------------------------------------------------------------------------------
// How the initial S frees are ordered: random, or so each insert lands at the head of a sorted
// list (the build is then O(S), not O(S^2); which blocks are freed is still random).
enum class FreeOrder { random, head_ascending, head_descending };

struct ChurnSpec {
  std::uint32_t size;     // 64, or 0 for mixed 24..256
  std::uint32_t segments; // blocks freed before timing
  bool exhaust;           // fill until the bump region is exhausted (lfarena with a freelist)
  bool headroom;          // bump headroom for every pair of the run (lfarena `none`)
  FreeOrder order;
};

// Pairs per thread and run: fixed per scale and segment count. At 100k segments every pair
// touches a random block of a 13 MB working set, and the first milliseconds after a build run
// about 2x slower than the rest (the first repetition in a process up to 3x: memory fresh from the
// kernel); 10000 pairs (2 ms) measured that transient, not the steady state, and repetitions of
// the same row differed by 3x. So 20k and 100k segments run half as many pairs as 1k segments.
// `linear_scan`: a subject whose every operation walks all segments (the sorted policies
// without the size index, kept as the baseline the index is measured against: about 10 ms per
// pair at 100k mixed segments) runs at most 1000 pairs at 20k segments and 200 at 100k, so one
// run stays within seconds.
inline std::uint64_t churn_iterations(std::uint32_t segments, bool linear_scan) {
  if (scale() == Scale::smoke)
    return 2000;
  const bool full = scale() == Scale::full;
  if (linear_scan && segments > 1000)
    return segments <= 20000 ? (full ? 1000 : 400) : (full ? 200 : 100);
  if (segments > 1000)
    return full ? 200000 : 50000;
  return full ? 400000 : 100000;
}

template <class S> struct ChurnState {
  std::unique_ptr<S> subject;
  std::vector<std::vector<Handle>> mine; // live blocks per thread
  // Blocks an exhausting build allocated beyond the churn set: they stay live and untouched, so
  // the bump region stays exhausted while the churn set is as large as every other subject's.
  std::vector<Handle> ballast;
  void clear() {
    if constexpr (!S::kOwnsMemory) {
      for (auto &v : mine)
        for (auto &h : v)
          if (h.p)
            subject->free(0, h, h.n, 8);
      for (auto &h : ballast)
        subject->free(0, h, h.n, 8);
    }
    ballast.clear();
    mine.clear();
    subject.reset();
  }
};

template <class S>
void churn_build(ChurnState<S> &c, const Make<S> &make, const ChurnSpec &spec, int threads,
                 std::uint64_t iterations) {
  const SizeTable table = churn_sizes(spec.size);
  const std::uint32_t biggest = spec.size ? spec.size : 256;
  const double avg = spec.size ? spec.size : 140;
  std::size_t cap = static_cast<std::size_t>(2.0 * spec.segments * avg);
  if (spec.headroom)
    cap = 2ull * spec.segments * biggest + iterations * threads * biggest;
  c.subject = make({cap, threads});
  S &s = *c.subject;
  Rng r(0xC4u + spec.segments);
  std::vector<Handle> all;
  for (std::uint64_t i = 0; spec.exhaust || i < 2ull * spec.segments; ++i) {
    Handle h = s.alloc(0, table[r.below(kTable)], 8);
    if (h.p == nullptr && spec.exhaust)
      h = s.alloc(0, table[0] < 24 ? table[0] : 24, 8);
    if (h.p == nullptr)
      break;
    touch(h, i);
    all.push_back(h);
  }
  for (std::size_t i = all.size(); i > 1; --i) // Fisher-Yates
    std::swap(all[i - 1], all[r.below(static_cast<std::uint32_t>(i))]);
  const std::size_t nfree = std::min<std::size_t>(spec.segments, all.size() / 2);
  auto freed = all.begin() + static_cast<std::ptrdiff_t>(nfree);
  if (spec.order == FreeOrder::head_ascending) // ascending list: free largest first
    std::sort(all.begin(), freed,
              [](const Handle &a, const Handle &b) { return a.n != b.n ? a.n > b.n : a.h > b.h; });
  if (spec.order == FreeOrder::head_descending) // descending by size, ascending by offset
    std::sort(all.begin(), freed,
              [](const Handle &a, const Handle &b) { return a.n != b.n ? a.n < b.n : a.h > b.h; });
  for (auto it = all.begin(); it != freed; ++it)
    s.free(0, *it, it->n, 8);
  // The churn set: `segments` live blocks (the random ones after the freed ones), as every
  // subject has; an exhausting build's other blocks are ballast. (Without it the churn set of
  // an exhausting subject was everything the slack of its capacity held: 6x the peers' at 1k
  // segments, a working set past the L1 and L2 caches that the peers never had.)
  const auto live_end = all.end() - freed > static_cast<std::ptrdiff_t>(spec.segments)
                            ? freed + static_cast<std::ptrdiff_t>(spec.segments)
                            : all.end();
  c.mine.assign(static_cast<std::size_t>(threads), {});
  std::size_t k = 0;
  for (auto it = freed; it != live_end; ++it, ++k)
    c.mine[k % threads].push_back(*it);
  c.ballast.assign(live_end, all.end());
}

template <class S>
void churn_run(benchmark::State &st, const Make<S> &make, const ChurnSpec &spec) {
  static ChurnState<S> state;
  const auto tid = static_cast<unsigned>(st.thread_index());
  pin_bench_thread(st.thread_index());
  if (tid == 0) { // a fresh state for every run
    state.clear();
    churn_build(state, make, spec, st.threads(), st.max_iterations);
    WallRate::reset();
  }
  static const SizeTable tables[2] = {churn_sizes(0), churn_sizes(64)};
  const SizeTable &table = spec.size ? tables[1] : tables[0];
  setup_gate(st.threads());
  FaultMeter faults;
  if (tid == 0)
    faults.start();
  std::vector<Handle> &mine = state.mine[tid];
  if (mine.empty()) { // the build found no room for a block per thread: a sizing bug
    st.SkipWithError("churn: no live block to free (sizing bug in the benchmark)");
    return;
  }
  Rng r(tid + 1);
  std::uint64_t fails = 0, bytes = 0, k = tid * 977u;
  bool first = true;
  CountedLoop counted(st.threads());
  for (auto _ : st) {
    if (first)
      WallRate::first_iteration(), first = false;
    Handle &b = mine[r.below(static_cast<std::uint32_t>(mine.size()))];
    if (b.p)
      state.subject->free(tid, b, b.n, 8);
    const std::uint32_t sz = table[k++ & (kTable - 1)];
    b = state.subject->alloc(tid, sz, 8);
    if (b.p) {
      touch(b, k);
      bytes += sz;
    } else {
      ++fails;
    }
  }
  counted.stop();
  st.SetItemsProcessed(st.iterations());
  st.SetBytesProcessed(static_cast<std::int64_t>(bytes));
  st.counters["failures"] = benchmark::Counter(static_cast<double>(fails));
  WallRate::report(st, static_cast<double>(st.iterations()) * st.threads());
  if (tid == 0)
    faults.report(st);
}

inline const std::vector<std::uint32_t> &churn_segment_params() {
  static const std::vector<std::uint32_t> v{1000, 20000, 100000};
  return v;
}

// Registers churn/<subject>/size:<64|mixed>/segments:<S>/real_time/threads:<t>.
template <class S>
void register_churn(const std::string &subject, Make<S> make, bool exhaust, FreeOrder order,
                    bool headroom = false, bool linear_scan = false,
                    std::vector<int> threads = {1, 2}) {
  for (std::uint32_t size : {64u, 0u})
    for (std::uint32_t segs : churn_segment_params())
      for (int t : threads) {
        const std::string name =
            "churn/" + subject + "/size:" + size_name(size) + "/segments:" + std::to_string(segs);
        const ChurnSpec spec{size, segs, exhaust, headroom, order};
        benchmark::RegisterBenchmark(
            name.c_str(), [make, spec](benchmark::State &st) { churn_run<S>(st, make, spec); })
            ->Iterations(
                static_cast<benchmark::IterationCount>(churn_iterations(segs, linear_scan)))
            ->UseRealTime()
            ->Threads(t);
      }
}

// Runs the registered benchmarks (after Google Benchmark's own flags).
inline int run_main(int argc, char **argv) {
  benchmark::AddCustomContext("bench_cpus", bench_cpus().text); // before any thread is pinned
  benchmark::AddCustomContext("callgrind_toggles", callgrind_toggles()); // counted_loop.hpp
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv))
    return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

} // namespace lfb
