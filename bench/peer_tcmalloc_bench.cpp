// bench/peer_tcmalloc_bench.cpp -- peer `tcmalloc` (gperftools, minimal): tc_malloc/tc_memalign/
// tc_free.
#include "peer.hpp"

#include <gperftools/tcmalloc.h>

struct TcmallocFns {
  void *alloc(std::size_t n, std::size_t a) {
    return a <= 16 ? tc_malloc(n) : tc_memalign(a, n);
  }
  void free(void *p, std::size_t, std::size_t) { tc_free(p); }
};

int main(int argc, char **argv) { return lfb::peer_main<TcmallocFns>("tcmalloc", argc, argv); }
