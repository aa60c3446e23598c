// bench/churn_bench.cpp -- suite `churn`: freelist churn per policy (none, optimistic,
// pessimistic, segregated, and segregated with thread chunks and so per-thread free caches
// (`lfarena-segregated-tlc`); the sorted ones also as `lfarena-<policy>-linear`, one list instead
// of one per size class: the linear scan the size index is measured against). The region is filled
// until its bump part is exhausted, S random blocks are freed (S = 1k, 20k, 100k free segments),
// then each timed operation frees a random live block and allocates a new one (64 B, or
// mixed 24..256 B), so every allocation is served by the freelist. The linear sorted list is O(n)
// per operation; the indexed one O(segments in one size class): both grow with S, and the report
// says so. `none` cannot reuse: its allocations come from
// bump headroom and its frees are discarded. Peer: std::pmr::synchronized_pool_resource here,
// glibc/jemalloc/mimalloc/tcmalloc in peer_<name>_bench (same shape: 2S blocks, S freed).
// The initial frees into a sorted list are ordered so each lands at its head (an O(S) build);
// the segregated policy (size classes of lock-free stacks) gets them in random order.
#include "workloads.hpp"

using namespace lfb;
using lfarena::FreelistKind;

int main(int argc, char **argv) {
  // min_segment 16: the freelist keeps the smallest (24 B) blocks of the mixed shape.
  register_churn<LfArena>(
      "lfarena-none",
      [](Setup s) { return std::make_unique<LfArena>(s, Backing::heap, FreelistKind::none, 16); },
      false, FreeOrder::random, /*headroom=*/true);
  register_churn<LfArena>(
      "lfarena-optimistic",
      [](Setup s) {
        return std::make_unique<LfArena>(s, Backing::heap, FreelistKind::optimistic, 16);
      },
      true, FreeOrder::head_descending);
  register_churn<LfArena>(
      "lfarena-pessimistic",
      [](Setup s) {
        return std::make_unique<LfArena>(s, Backing::heap, FreelistKind::pessimistic, 16);
      },
      true, FreeOrder::head_ascending);
  for (const FreelistKind kind : {FreelistKind::optimistic, FreelistKind::pessimistic}) {
    const bool opt = kind == FreelistKind::optimistic;
    register_churn<LfArena>(
        opt ? "lfarena-optimistic-linear" : "lfarena-pessimistic-linear",
        [kind](Setup s) {
          return std::make_unique<LfArena>(s, Backing::heap, kind, 16, 0, /*size_index=*/false);
        },
        true, opt ? FreeOrder::head_descending : FreeOrder::head_ascending, false,
        /*linear_scan=*/true);
  }
  register_churn<LfArena>(
      "lfarena-segregated",
      [](Setup s) {
        return std::make_unique<LfArena>(s, Backing::heap, FreelistKind::segregated, 16);
      },
      true, FreeOrder::random);
  // With 64 KiB thread chunks: the per-thread free caches of segregated files
  // (detail/free_cache.hpp) serve each thread's frees and allocations without atomics.
  register_churn<LfArena>(
      "lfarena-segregated-tlc",
      [](Setup s) {
        return std::make_unique<LfArena>(s, Backing::heap, FreelistKind::segregated, 16, 64u << 10);
      },
      true, FreeOrder::random);
  register_churn<PmrPool>(
      "pmr-sync-pool", [](Setup s) { return std::make_unique<PmrPool>(s); }, false,
      FreeOrder::random);
  return run_main(argc, argv);
}
