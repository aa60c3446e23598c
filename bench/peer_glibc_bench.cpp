// bench/peer_glibc_bench.cpp -- peer `glibc`: malloc/free (aligned_alloc for alignment 64).
#include "peer.hpp"

#include <cstdlib>

struct GlibcFns {
  void *alloc(std::size_t n, std::size_t a) {
    return a <= 16 ? std::malloc(n) : std::aligned_alloc(a, lfb::align_up(n, a));
  }
  void free(void *p, std::size_t, std::size_t) { std::free(p); }
};

int main(int argc, char **argv) { return lfb::peer_main<GlibcFns>("glibc", argc, argv); }
