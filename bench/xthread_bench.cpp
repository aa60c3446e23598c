// bench/xthread_bench.cpp -- suite `xthread` (xthread.hpp): a producer thread allocates, a
// consumer thread frees, per freelist policy (`lfarena-segregated-tlc`: with 64 KiB thread-local
// chunks) and std::pmr::synchronized_pool_resource; glibc/jemalloc/mimalloc/tcmalloc run the same
// workload in peer_<name>_bench. `none` cannot reuse: its region has bump headroom for every
// object, and its frees only count discarded bytes.
#include "xthread.hpp"

using namespace lfb;
using lfarena::FreelistKind;

int main(int argc, char **argv) {
  for (const FreelistKind kind : {FreelistKind::none, FreelistKind::optimistic,
                                  FreelistKind::pessimistic, FreelistKind::segregated})
    register_xthread<LfArena>(
        std::string("lfarena-") + to_string(kind),
        [kind](Setup s) { return std::make_unique<LfArena>(s, Backing::heap, kind, 16); },
        /*headroom=*/kind == FreelistKind::none);
  register_xthread<LfArena>("lfarena-segregated-tlc", [](Setup s) {
    return std::make_unique<LfArena>(s, Backing::heap, FreelistKind::segregated, 16, 64u << 10);
  });
  register_xthread<PmrPool>("pmr-sync-pool", [](Setup s) { return std::make_unique<PmrPool>(s); });
  return run_main(argc, argv);
}
