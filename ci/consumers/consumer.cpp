// ci/consumers/consumer.cpp -- the smallest real user of an installed (or added) lfarena: a
// std::pmr container in an arena, a typed handle, and the accounting check. Exits 0 on success.
#include <cstdio>
#include <memory_resource>
#include <string>
#include <vector>

#include <lfarena/allocator.hpp>
#include <lfarena/arena.hpp>
#include <lfarena/memory_resource.hpp>
#include <lfarena/owned.hpp>

int main() {
  lfarena::Options o;
  o.capacity = 1u << 20;
  o.freelist = lfarena::FreelistKind::segregated;
  auto arena = lfarena::Arena::heap(o);
  if (!arena) {
    std::fprintf(stderr, "%s\n", arena.message().c_str());
    return 1;
  }
  {
    lfarena::memory_resource mr(*arena);
    std::pmr::vector<std::pmr::string> v(&mr);
    for (int i = 0; i < 100; ++i)
      v.emplace_back(std::string(static_cast<std::size_t>(40 + i), 'x'));
    std::vector<int, lfarena::allocator<int>> w(1000, 7, lfarena::allocator<int>(*arena));
    auto owned = lfarena::make_owned<long>(*arena, 42L);
    if (!owned || **owned != 42 || v.back().size() != 139 || w[999] != 7)
      return 1;
  }
  auto rep = arena->check();
  if (!rep || rep->live_bytes != 0) {
    std::fprintf(stderr, "check: %s\n", rep ? "live bytes left" : rep.message().c_str());
    return 1;
  }
  std::puts("lfarena consumer: ok");
  return 0;
}
