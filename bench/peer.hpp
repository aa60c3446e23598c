// bench/peer.hpp -- main() of a peer executable: one general-purpose allocator (its functions in
// Fns: alloc(size, align), free(p, size, align)) on the bump, churn, skiplist and cross-thread
// (xthread) workloads, under the subject name given. jemalloc, mimalloc and tcmalloc replace malloc
// for the whole process they are linked into (TOOLCHAIN.md), so each peer has its own executable,
// peer_<name>_bench.
#pragma once

#include "skiplist.hpp"
#include "xthread.hpp"

namespace lfb {

template <class Fns> int peer_main(const std::string &subject, int argc, char **argv) {
  using P = General<Fns>;
  const Make<P> make = [](Setup s) { return std::make_unique<P>(s); };
  register_bump<P>(subject, make, {8, 64});
  register_churn<P>(subject, make, false, FreeOrder::random);
  register_skiplist<P>(subject, make);
  register_xthread<P>(subject, make);
  return run_main(argc, argv);
}

} // namespace lfb
