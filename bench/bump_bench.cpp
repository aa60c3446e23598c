// bench/bump_bench.cpp -- suite `bump`: bump allocation throughput of lfarena per backing (heap,
// anonymous, file on tmpfs; freelist none; and heap with thread-local chunks: lfarena-heap-tlc)
// against the in-process peers: a raw std::atomic fetch_add bump pointer (raw-atomic, the practical
// limit of a shared bump arena), a per-thread plain bump pointer (raw-local, the absolute limit),
// std::pmr::monotonic_buffer_resource behind a std::mutex and std::pmr::synchronized_pool_resource.
// Sizes 16, 64, 256, 4096 and mixed (log-uniform 16..4096); alignment 8 and 64; 1, 2 and 4 threads
// (2x the cores of the reference machine). The malloc peers run the same workload in
// peer_<name>_bench.
#include "workloads.hpp"

using namespace lfb;
using lfarena::FreelistKind;

int main(int argc, char **argv) {
  for (Backing b : {Backing::heap, Backing::anonymous, Backing::file}) {
    register_bump<LfArena>(
        std::string("lfarena-") + to_string(b),
        [b](Setup s) { return std::make_unique<LfArena>(s, b, FreelistKind::none); },
        b == Backing::heap ? std::vector<std::uint32_t>{8, 64} : std::vector<std::uint32_t>{8});
  }
  // Thread-local bump chunks (Options::thread_chunk = 64 KiB): one atomic per chunk.
  register_bump<LfArena>("lfarena-heap-tlc",
                         [](Setup s) {
                           return std::make_unique<LfArena>(s, Backing::heap, FreelistKind::none,
                                                            32, 64u << 10);
                         },
                         {8, 64});
  register_bump<RawAtomic>("raw-atomic", [](Setup s) { return std::make_unique<RawAtomic>(s); },
                           {8, 64});
  register_bump<RawLocal>("raw-local", [](Setup s) { return std::make_unique<RawLocal>(s); },
                          {8, 64});
  register_bump<PmrMonotonicMutex>("pmr-monotonic-mutex",
                                   [](Setup s) { return std::make_unique<PmrMonotonicMutex>(s); },
                                   {8, 64});
  register_bump<PmrPool>("pmr-sync-pool", [](Setup s) { return std::make_unique<PmrPool>(s); },
                         {8, 64});
  return run_main(argc, argv);
}
