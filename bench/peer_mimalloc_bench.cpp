// bench/peer_mimalloc_bench.cpp -- peer `mimalloc`: mi_malloc/mi_malloc_aligned/mi_free.
#include "peer.hpp"

#include <mimalloc.h>

struct MimallocFns {
  void *alloc(std::size_t n, std::size_t a) {
    return a <= 16 ? mi_malloc(n) : mi_malloc_aligned(n, a);
  }
  void free(void *p, std::size_t, std::size_t) { mi_free(p); }
};

int main(int argc, char **argv) { return lfb::peer_main<MimallocFns>("mimalloc", argc, argv); }
