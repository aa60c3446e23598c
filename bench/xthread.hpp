// bench/xthread.hpp -- the cross-thread workload (suite `xthread`): one producer thread allocates
// objects in batches and hands each batch to one consumer thread, which frees them. Every free
// is of a block another thread allocated: the pattern of allocator benchmark suites' producer /
// consumer tests (and of a memtable whose nodes another thread releases).
//
// Both Google Benchmark threads run the same fixed number of iterations n (xthread_objects()):
// thread 0 allocates n objects (writing each one's first word), publishing every kBatch of them;
// thread 1 frees the n objects in order as they are published. The producer stays at most
// kAhead batches ahead (so the live set, and an arena's region, stay small); either thread
// yields while it waits for the other. Reported: wall_items_per_second = objects per second
// through the pair (allocated and freed), `failures` (allocations that failed: the region was
// full) and `minor_faults`. Every run starts from a fresh subject.
#pragma once

#include "workloads.hpp"

namespace lfb {

inline constexpr std::uint64_t kBatch = 4096;
inline constexpr std::uint64_t kAhead = 4;

// Objects per run (all passing from the producer to the consumer).
inline std::uint64_t xthread_objects() {
  switch (scale()) {
  case Scale::smoke:
    return 2 * kBatch;
  case Scale::quick:
    return 256 * kBatch; // about 50 ms at 50 ns per object
  case Scale::full:
    return 1024 * kBatch;
  }
  return 0;
}

template <class S> struct XthreadState {
  std::unique_ptr<S> subject;
  std::vector<Handle> handles; // handles[i]: the i-th object (written by the producer)
  alignas(64) std::atomic<std::uint64_t> produced{0}; // objects published (release)
  alignas(64) std::atomic<std::uint64_t> consumed{0}; // objects freed (release)
};

template <class S>
void xthread_run(benchmark::State &st, const Make<S> &make, std::uint32_t size, bool headroom) {
  static XthreadState<S> x;
  const auto tid = static_cast<unsigned>(st.thread_index());
  pin_bench_thread(st.thread_index());
  const std::uint64_t n = st.max_iterations;
  const SizeTable table = churn_sizes(size);
  const std::uint32_t biggest = size ? size : 256;
  if (tid == 0) { // a fresh subject per run; the live set is at most (kAhead + 1) batches
    x.subject.reset();
    const std::uint64_t live = (kAhead + 2) * kBatch * biggest;
    x.subject = make({static_cast<std::size_t>(headroom ? n * biggest + live : 2 * live), 2});
    x.handles.assign(n, Handle{});
    x.produced.store(0, std::memory_order_relaxed);
    x.consumed.store(0, std::memory_order_relaxed);
    WallRate::reset();
  }
  setup_gate(2);
  FaultMeter faults;
  if (tid == 0)
    faults.start();
  std::uint64_t i = 0, fails = 0;
  for (auto _ : st) {
    if (i == 0)
      WallRate::first_iteration();
    if (tid == 0) { // producer
      if (i % kBatch == 0) {
        // Acquire: the consumer's frees of the older batches happen-before our reuse.
        while (i - x.consumed.load(std::memory_order_acquire) >= kAhead * kBatch)
          std::this_thread::yield();
      }
      const std::uint32_t sz = table[i & (kTable - 1)];
      Handle h = x.subject->alloc(0, sz, 8);
      if (h.p)
        touch(h, i);
      else
        ++fails;
      x.handles[i] = h;
      if ((i + 1) % kBatch == 0 || i + 1 == n) // release: publishes the batch's handles
        x.produced.store(i + 1, std::memory_order_release);
    } else { // consumer
      while (x.produced.load(std::memory_order_acquire) <= i)
        std::this_thread::yield();
      const Handle h = x.handles[i];
      if (h.p)
        x.subject->free(1, h, h.n, 8);
      if ((i + 1) % kBatch == 0 || i + 1 == n)
        x.consumed.store(i + 1, std::memory_order_release);
    }
    ++i;
  }
  st.SetItemsProcessed(static_cast<std::int64_t>(i));
  if (tid == 0)
    st.counters["failures"] = benchmark::Counter(static_cast<double>(fails));
  WallRate::report(st, static_cast<double>(n));
  if (tid == 0)
    faults.report(st);
}

// Registers xthread/<subject>/size:<64|mixed>/batch:4096/iterations:<n>/real_time/threads:2.
template <class S>
void register_xthread(const std::string &subject, Make<S> make, bool headroom = false) {
  for (std::uint32_t size : {64u, 0u}) {
    const std::string name =
        "xthread/" + subject + "/size:" + size_name(size) + "/batch:" + std::to_string(kBatch);
    benchmark::RegisterBenchmark(
        name.c_str(),
        [make, size, headroom](benchmark::State &st) { xthread_run<S>(st, make, size, headroom); })
        ->Iterations(static_cast<benchmark::IterationCount>(xthread_objects()))
        ->UseRealTime()
        ->Threads(2);
  }
}

} // namespace lfb
