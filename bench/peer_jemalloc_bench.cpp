// bench/peer_jemalloc_bench.cpp -- peer `jemalloc`: mallocx/sdallocx (Debian's jemalloc has no
// je_ prefix and replaces malloc for this executable).
#include "peer.hpp"

#include <jemalloc/jemalloc.h>

struct JemallocFns {
  static int flags(std::size_t a) { return a <= 16 ? 0 : MALLOCX_ALIGN(a); }
  void *alloc(std::size_t n, std::size_t a) { return mallocx(n, flags(a)); }
  void free(void *p, std::size_t n, std::size_t a) { sdallocx(p, n, flags(a)); }
};

int main(int argc, char **argv) { return lfb::peer_main<JemallocFns>("jemalloc", argc, argv); }
