// bench/link_bench.cpp -- cost of the tagged link word operations (lfarena::detail::Link) and of
// a CAS on an atomic_u64 through the atomics policy, single-threaded. A baseline for the freelist
// benchmarks that follow. Names: link/<op>/threads:1 (the bench/ naming scheme).
#include "workloads.hpp" // FaultMeter

#include <lfarena/detail/atomic.hpp>
#include <lfarena/detail/tagged.hpp>

#include <benchmark/benchmark.h>

#include <cstdint>

namespace {

using lfarena::detail::atomic_u64;
using lfarena::detail::Link;

void BM_LinkRedirect(benchmark::State &state) {
  Link l = Link::make(8, 0);
  std::uint32_t off = 8;
  lfb::pin_bench_thread(state.thread_index());
  lfb::FaultMeter faults;
  faults.start();
  for (auto _ : state) {
    off += 8;
    l = l.redirect(off);
    benchmark::DoNotOptimize(l);
  }
  state.SetItemsProcessed(state.iterations());
  faults.report(state);
}

void BM_LinkCasRedirect(benchmark::State &state) {
  atomic_u64 word;
  lfarena::detail::store_relaxed(word, Link::make(8, 0).raw);
  std::uint32_t off = 8;
  lfb::pin_bench_thread(state.thread_index());
  lfb::FaultMeter faults;
  faults.start();
  for (auto _ : state) {
    std::uint64_t expected = lfarena::detail::load_acquire(word);
    off += 8;
    const bool ok = lfarena::detail::cas_acq_rel(word, expected, Link{expected}.redirect(off).raw);
    benchmark::DoNotOptimize(ok);
  }
  state.SetItemsProcessed(state.iterations());
  faults.report(state);
}

} // namespace

int main(int argc, char **argv) {
  benchmark::RegisterBenchmark("link/redirect", BM_LinkRedirect)->Threads(1);
  benchmark::RegisterBenchmark("link/cas-redirect", BM_LinkCasRedirect)->Threads(1);
  return lfb::run_main(argc, argv);
}
