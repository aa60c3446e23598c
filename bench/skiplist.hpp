// bench/skiplist.hpp -- a skiplist-like client: concurrent, insert-only, small nodes (32..96 B)
// linked by handle (an arena offset, or an address for general allocators), templated on a
// subject (harness.hpp). It is a workload, not a product: insert-only, so a lock-free insert is a
// CAS per level (no marking), and a tower above level 0 is linked best-effort.
//
// Node layout in allocator memory: [key:8][height:4][size:4][next[height]:8 each][payload].
// Links are std::atomic<uint64_t> constructed in place; 0 is the null handle.
//
// Registered as skiplist/<subject>/inserts:<total>/iterations:<n>/real_time/threads:<t>.
#pragma once

#include "workloads.hpp"

namespace lfb {

inline constexpr int kMaxLevel = 10; // p = 1/4: enough for ~10^6 nodes; node <= 96 B

template <class S> class SkipList {
public:
  explicit SkipList(S &s) : s_(s) {
    head_ = make_node(0, 0, kMaxLevel, 16 + 8 * kMaxLevel);
    if (head_.p == nullptr)
      std::abort();
  }
  Handle head() const { return head_; }

  // Allocates a node of `size` bytes with `height` links and links it in; false if full.
  bool insert(unsigned tid, std::uint64_t key, int height, std::uint32_t size) {
    const Handle n = make_node(tid, key, height, size);
    if (n.p == nullptr)
      return false;
    std::uint64_t preds[kMaxLevel], succs[kMaxLevel];
    find(key, preds, succs);
    for (int l = 0; l < height; ++l) {
      for (;;) {
        next(n.h, l).store(succs[l], std::memory_order_relaxed);
        // release: publishes the node's key and links to whoever follows pred's link.
        std::uint64_t expected = succs[l];
        if (next(preds[l], l)
                .compare_exchange_strong(expected, n.h, std::memory_order_release,
                                         std::memory_order_relaxed))
          break;
        find(key, preds, succs); // somebody inserted next to us: look again
      }
    }
    return true;
  }

private:
  Handle make_node(unsigned tid, std::uint64_t key, int height, std::uint32_t size) {
    Handle n = s_.alloc(tid, size, 8);
    if (n.p == nullptr)
      return n;
    std::memcpy(n.p, &key, 8);
    const std::uint32_t hs[2] = {static_cast<std::uint32_t>(height), n.n};
    std::memcpy(n.p + 8, hs, 8);
    for (int l = 0; l < height; ++l)
      new (n.p + 16 + 8 * l) std::atomic<std::uint64_t>(0);
    return n;
  }
  std::atomic<std::uint64_t> &next(std::uint64_t node, int level) const {
    return *std::launder(
        reinterpret_cast<std::atomic<std::uint64_t> *>(s_.ptr(node) + 16 + 8 * level));
  }
  std::uint64_t key_of(std::uint64_t node) const {
    std::uint64_t k;
    std::memcpy(&k, s_.ptr(node), 8);
    return k;
  }
  // acquire loads: pair with the release CAS that linked each node we step to.
  void find(std::uint64_t key, std::uint64_t *preds, std::uint64_t *succs) const {
    std::uint64_t pred = head_.h;
    for (int l = kMaxLevel - 1; l >= 0; --l) {
      std::uint64_t cur = next(pred, l).load(std::memory_order_acquire);
      while (cur != 0 && key_of(cur) < key) {
        pred = cur;
        cur = next(pred, l).load(std::memory_order_acquire);
      }
      preds[l] = pred;
      succs[l] = cur;
    }
  }

  S &s_;
  Handle head_;
};

// Frees every node of a general allocator's list (a level-0 walk), at quiescence.
template <class S> void skiplist_free_all(S &s, const SkipList<S> &list) {
  std::uint64_t cur = list.head().h;
  while (cur != 0) {
    std::uint32_t hs[2];
    std::memcpy(hs, s.ptr(cur) + 8, 8);
    const std::uint64_t nxt =
        reinterpret_cast<std::atomic<std::uint64_t> *>(s.ptr(cur) + 16)->load();
    s.free(0, Handle{cur, s.ptr(cur), hs[1]}, hs[1], 8);
    cur = nxt;
  }
}

inline std::uint64_t skiplist_inserts() { // all threads together
  const Scale sc = scale();
  return sc == Scale::smoke ? 5000 : sc == Scale::quick ? 200000 : 1000000;
}

template <class S> void skiplist_run(benchmark::State &st, const Make<S> &make) {
  static std::unique_ptr<S> subject;
  static std::unique_ptr<SkipList<S>> list;
  const auto tid = static_cast<unsigned>(st.thread_index());
  pin_bench_thread(st.thread_index());
  const std::uint64_t n = st.max_iterations;
  if (tid == 0) {
    if constexpr (!S::kOwnsMemory)
      if (list)
        skiplist_free_all(*subject, *list); // the previous run's nodes
    list.reset();
    subject.reset();
    subject = make({static_cast<std::size_t>(n * st.threads() * 96 + 4096), st.threads()});
    list = std::make_unique<SkipList<S>>(*subject);
    WallRate::reset();
  }
  Rng r(0x5C1 + tid);
  std::uint64_t i = 0, bytes = 0;
  FaultMeter faults;
  if (tid == 0)
    faults.start();
  for (auto _ : st) {
    if (i == 0)
      WallRate::first_iteration();
    const std::uint64_t x = r.next(), y = r.next(); // key; tower height and size
    int height = 1;
    while (height < kMaxLevel && (y >> (2 * height) & 3) == 0)
      ++height; // geometric, p=1/4
    const std::uint32_t size = std::max<std::uint32_t>(
        16 + 8 * height, 32 + 8 * static_cast<std::uint32_t>((y >> 32) % 9));
    if (!list->insert(tid, x, height, size)) {
      st.SkipWithError("skiplist: the region filled up (sizing bug in the benchmark)");
      break;
    }
    bytes += size;
    ++i;
  }
  st.SetItemsProcessed(static_cast<std::int64_t>(i));
  st.SetBytesProcessed(static_cast<std::int64_t>(bytes));
  WallRate::report(st, static_cast<double>(n) * st.threads());
  if (tid == 0)
    faults.report(st);
}

template <class S>
void register_skiplist(const std::string &subject, Make<S> make,
                       std::vector<int> threads = {1, 2, 4}) {
  for (int t : threads) {
    const std::string name =
        "skiplist/" + subject + "/inserts:" + std::to_string(skiplist_inserts());
    benchmark::RegisterBenchmark(name.c_str(),
                                 [make](benchmark::State &st) { skiplist_run<S>(st, make); })
        ->Iterations(static_cast<benchmark::IterationCount>(skiplist_inserts() / t))
        ->UseRealTime()
        ->Threads(t);
  }
}

} // namespace lfb
