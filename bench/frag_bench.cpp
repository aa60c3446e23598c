// bench/frag_bench.cpp -- suite `frag`: fragmentation and memory efficiency per freelist policy.
//
// One long, seeded, single-threaded mixed workload on an 8 MiB heap arena (default options:
// min_segment 32): sizes log-uniform 24..4096 B with 5% large blocks 4..32 KiB, frees of random
// live blocks, and a live-set target that rises and falls in five waves between 10% and 70% of
// the region, so freed space must be reused by differently sized requests. Reported counters:
//   discarded_bytes      bytes neither live nor free at the end (padding, pieces too small to keep)
//   stranded_free_bytes  mean free bytes at an allocation failure that had free bytes >= request:
//                        free memory that could not serve a request
//   fail_with_free       allocation failures while the freelist held >= the requested bytes
//   failures             all allocation failures
//   peak_region_bytes    high-water mark of the bump offset (region use; bump-first means a long
//                        workload uses the whole region before any reuse)
//   peak_live_bytes      the largest live set the workload reached
//   free_bytes_end, free_segments_end, largest_free_end   check() at the end
// Timing covers the workload only (check() calls on failures are paused); one item = one op.
#include "workloads.hpp"

#include <cmath>

using namespace lfb;
using lfarena::FreelistKind;

namespace {

std::uint64_t frag_ops() {
  const Scale sc = scale();
  return sc == Scale::smoke ? 5000 : sc == Scale::quick ? 30000 : 100000;
}

void frag_run(benchmark::State &st, FreelistKind kind) {
  constexpr std::uint32_t kCap = 8u << 20;
  const std::uint64_t ops = frag_ops();
  long faults = 0; // minor page faults while timed, all iterations (FaultMeter)
  pin_bench_thread(st.thread_index());
  for (auto _ : st) {
    st.PauseTiming();
    lfarena::Options o;
    o.capacity = kCap;
    o.freelist = kind;
    auto made = lfarena::Arena::heap(o);
    if (!made) {
      st.SkipWithError(made.message().c_str());
      break;
    }
    const lfarena::Arena arena = std::move(made.value());
    struct Live {
      std::uint32_t off, size;
    };
    std::vector<Live> live;
    live.reserve(1 << 16);
    Rng r(0xF7A6);
    std::uint64_t live_bytes = 0, peak_live = 0, peak_region = 0, failures = 0, with_free = 0;
    double stranded_sum = 0;
    const double two_pi = 6.283185307179586;
    const long faults_before = FaultMeter::minor(); // timed part only: creation zero-fills
    st.ResumeTiming();
    for (std::uint64_t op = 0; op < ops; ++op) {
      const double wave = std::sin(two_pi * 5.0 * static_cast<double>(op) / ops);
      const double target = kCap * (0.40 + 0.30 * wave);
      const double p_alloc = live_bytes < target ? 0.7 : 0.3;
      if (live.empty() || r.unit() < p_alloc) {
        const std::uint32_t size = r.unit() < 0.05
                                       ? round8(4096.0 * std::pow(8.0, r.unit()))
                                       : round8(24.0 * std::pow(4096.0 / 24.0, r.unit()));
        const auto b = arena.allocate(size, 8);
        if (b) {
          live.push_back({b->offset, b->size});
          live_bytes += b->size;
          peak_live = std::max(peak_live, live_bytes);
        } else {
          st.PauseTiming();
          ++failures;
          const auto rep = arena.check();
          if (rep && rep->free_bytes >= size) {
            ++with_free;
            stranded_sum += static_cast<double>(rep->free_bytes);
          }
          st.ResumeTiming();
        }
      } else {
        const std::uint32_t i = r.below(static_cast<std::uint32_t>(live.size()));
        (void)arena.deallocate(live[i].off, live[i].size);
        live_bytes -= live[i].size;
        live[i] = live.back();
        live.pop_back();
      }
      if ((op & 63) == 0)
        peak_region = std::max(peak_region, arena.stats().allocated);
    }
    st.PauseTiming();
    faults += FaultMeter::minor() - faults_before;
    peak_region = std::max(peak_region, arena.stats().allocated);
    const auto rep = arena.check();
    const auto stats = arena.stats();
    auto &c = st.counters;
    c["discarded_bytes"] = static_cast<double>(stats.discarded);
    c["stranded_free_bytes"] = with_free ? stranded_sum / static_cast<double>(with_free) : 0.0;
    c["fail_with_free"] = static_cast<double>(with_free);
    c["failures"] = static_cast<double>(failures);
    c["minor_faults"] = static_cast<double>(faults);
    c["peak_region_bytes"] = static_cast<double>(peak_region);
    c["peak_live_bytes"] = static_cast<double>(peak_live);
    c["region_bytes"] = static_cast<double>(stats.capacity - stats.data_offset);
    c["free_bytes_end"] = rep ? static_cast<double>(rep->free_bytes) : -1.0;
    c["free_segments_end"] = rep ? static_cast<double>(rep->free_segments) : -1.0;
    c["largest_free_end"] = rep ? static_cast<double>(rep->largest_free) : -1.0;
    if (!rep)
      st.SkipWithError(rep.message().c_str());
    st.ResumeTiming();
  }
  st.SetItemsProcessed(static_cast<std::int64_t>(st.iterations() * ops));
}

} // namespace

int main(int argc, char **argv) {
  for (FreelistKind k : {FreelistKind::none, FreelistKind::optimistic, FreelistKind::pessimistic,
                         FreelistKind::segregated}) {
    const std::string name =
        std::string("frag/lfarena-") + to_string(k) + "/ops:" + std::to_string(frag_ops());
    benchmark::RegisterBenchmark(name.c_str(), [k](benchmark::State &st) { frag_run(st, k); })
        ->Iterations(1)
        ->UseRealTime()
        ->Threads(1);
  }
  return run_main(argc, argv);
}
