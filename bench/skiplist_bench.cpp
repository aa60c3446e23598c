// bench/skiplist_bench.cpp -- suite `skiplist`: a skiplist-like client (skiplist.hpp) inserting
// small nodes (32..96 B) concurrently, linked by offset, on lfarena (heap, freelist none), the raw
// atomic bump pointer and std::pmr::synchronized_pool_resource; the malloc peers run it in
// peer_<name>_bench. 1, 2 and 4 threads; one insert = one item.
#include "skiplist.hpp"

using namespace lfb;

int main(int argc, char **argv) {
  register_skiplist<LfArena>("lfarena-heap", [](Setup s) {
    return std::make_unique<LfArena>(s, Backing::heap, lfarena::FreelistKind::none);
  });
  register_skiplist<RawAtomic>("raw-atomic", [](Setup s) { return std::make_unique<RawAtomic>(s); });
  register_skiplist<PmrPool>("pmr-sync-pool", [](Setup s) { return std::make_unique<PmrPool>(s); });
  return run_main(argc, argv);
}
