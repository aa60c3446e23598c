// lfarena/memory_resource.hpp -- lfarena::memory_resource: a std::pmr::memory_resource over an
// Arena, for the std::pmr containers (std::pmr::vector, std::pmr::string,
// std::pmr::unordered_map...) and for pools layered on it (std::pmr::unsynchronized_pool_resource).
//
//   lfarena::memory_resource mr(*arena);
//   std::pmr::unordered_map<std::pmr::string, int> m(&mr);
//
// Behaviour (the same as lfarena::allocator<T>'s, allocator.hpp):
// - do_allocate(bytes, align) takes exactly `bytes` rounded up to 8 (0 bytes: 8), aligned to
//   `align` (at least 8; Arena::allocate_exact); throws std::bad_alloc when the arena cannot
//   serve it (full, align above Options::max_alignment or not a power of two, a request above
//   4 GiB, read-only, damage).
// - do_deallocate(p, bytes, align) cannot report an error: a pointer from elsewhere, a double
//   free (checked mode), a wrong size or damage prints the arena's message and aborts.
// - do_is_equal: another lfarena::memory_resource over the same mapping.
// - The resource keeps an Arena handle (the arena stays open while it lives). It must outlive
//   the containers that use it, as every memory_resource.
//
// Thread-safety: do_allocate/do_deallocate may run concurrently from many threads.
#pragma once

#include <cstddef>
#include <memory_resource>
#include <new>

#include "lfarena/allocator.hpp"
#include "lfarena/arena.hpp"

namespace lfarena {

class memory_resource final : public std::pmr::memory_resource {
public:
  explicit memory_resource(Arena arena) noexcept : arena_(std::move(arena)) {}
  const Arena &arena() const noexcept { return arena_; }

private:
  void *do_allocate(std::size_t bytes, std::size_t align) override {
    const std::uint32_t n = detail::adapter_bytes(bytes);
    if (n == 0 || align == 0 || (align & (align - 1)) != 0 || align > 0x80000000u)
      throw std::bad_alloc();
    Result<Block> b = arena_.allocate_exact(n, detail::adapter_align(align));
    if (!b)
      throw std::bad_alloc();
    return arena_.base() + b->offset;
  }

  void do_deallocate(void *p, std::size_t bytes, std::size_t) override {
    Result<std::uint32_t> at = arena_.offset_of(p);
    if (!at)
      detail::adapter_failure("lfarena::memory_resource::deallocate", at.error());
    if (Status s = arena_.deallocate(*at, detail::adapter_bytes(bytes)); !s)
      detail::adapter_failure("lfarena::memory_resource::deallocate", s.error());
  }

  bool do_is_equal(const std::pmr::memory_resource &other) const noexcept override {
    const auto *o = dynamic_cast<const lfarena::memory_resource *>(&other);
    return o != nullptr && o->arena_.base() == arena_.base();
  }

  Arena arena_;
};

} // namespace lfarena
