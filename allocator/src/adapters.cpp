// adapters.cpp -- what the standard adapters and Owned<T> do when a free fails where no error can
// be returned (noexcept deallocate, destructors): say why on stderr, then abort (allocator.hpp).
#include <cstdio>
#include <cstdlib>

#include "lfarena/owned.hpp"

namespace lfarena::detail {

void adapter_failure(const char *who, const Error &e) noexcept {
  std::fprintf(stderr, "%s: %s (%s)\n", who, e.message().c_str(), to_string(e.code()));
  std::fflush(stderr);
  std::abort();
}

} // namespace lfarena::detail
