// lfarena/memory_resource.hpp -- lfarena::memory_resource: a std::pmr::memory_resource over an
// Arena, for the std::pmr containers (std::pmr::vector, std::pmr::string,
// std::pmr::unordered_map...) and for pools layered on it (std::pmr::unsynchronized_pool_resource).
//
//   lfarena::memory_resource mr(*arena);
//   std::pmr::unordered_map<std::pmr::string, int> m(&mr);
//
// Behaviour (the same as lfarena::allocator<T>'s, allocator.hpp):
// - do_allocate(bytes, align) takes exactly `bytes` rounded up to 8 (0 bytes: 8), aligned to
//   `align` (at least 8; Arena::allocate_exact). An alignment above Options::max_alignment
//   (libstdc++'s pool resources ask for their chunk size, e.g. 512 or 4096) takes bytes + align
//   and aligns inside that block, keeping its start in the 8 bytes before the pointer. Throws
//   std::bad_alloc when the arena cannot serve it (full, align not a power of two, a request
//   above 4 GiB, read-only, damage).
// - do_deallocate(p, bytes, align) cannot report an error: a pointer from elsewhere, a double
//   free (checked mode), a wrong size or damage prints the arena's message and aborts.
// - do_is_equal: another lfarena::memory_resource over the same mapping.
// - The resource keeps an Arena handle (the arena stays open while it lives). It must outlive
//   the containers that use it, as every memory_resource.
//
// Thread-safety: do_allocate/do_deallocate may run concurrently from many threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory_resource>
#include <new>
#include <string>

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
    const std::uint32_t a = detail::adapter_align(align);
    if (a <= arena_.options().max_alignment) {
      Result<Block> b = arena_.allocate_exact(n, a);
      if (!b)
        throw std::bad_alloc();
      return arena_.base() + b->offset;
    }
    // Above the arena's max_alignment (libstdc++'s pools ask for their chunk size): a block of
    // n + a bytes holds an a-aligned run of n bytes at least 8 bytes in, and the 8 bytes just
    // before it record where the block starts, with a tag, for do_deallocate.
    if (std::uint64_t{n} + a > 0xFFFFFFF8u)
      throw std::bad_alloc();
    Result<Block> b = arena_.allocate_exact(n + a, 8);
    if (!b)
      throw std::bad_alloc();
    const auto start = reinterpret_cast<std::uintptr_t>(arena_.base()) + b->offset;
    const std::uintptr_t aligned = (start + 8 + a - 1) & ~std::uintptr_t{a - 1};
    const std::uint64_t tag = std::uint64_t{over_aligned_tag(a)} << 32 | b->offset;
    std::memcpy(reinterpret_cast<void *>(aligned - 8), &tag, sizeof tag);
    return reinterpret_cast<void *>(aligned);
  }

  void do_deallocate(void *p, std::size_t bytes, std::size_t align) override {
    const std::uint32_t n = detail::adapter_bytes(bytes);
    Result<std::uint32_t> at = arena_.offset_of(p);
    if (!at)
      detail::adapter_failure("lfarena::memory_resource::deallocate", at.error());
    const std::uint32_t a = detail::adapter_align(align);
    if (a <= arena_.options().max_alignment) {
      if (Status s = arena_.deallocate(*at, n); !s)
        detail::adapter_failure("lfarena::memory_resource::deallocate", s.error());
      return;
    }
    std::uint64_t tag = 0;
    if (*at >= 8)
      std::memcpy(&tag, static_cast<const std::byte *>(p) - 8, sizeof tag);
    const auto start = static_cast<std::uint32_t>(tag);
    if (tag >> 32 != over_aligned_tag(a) || start >= *at || *at - start > a)
      detail::adapter_failure(
          "lfarena::memory_resource::deallocate",
          Error(errc::not_block_start,
                arena_.name() + ": the over-aligned block at offset " + std::to_string(*at) +
                    " was not allocated with alignment " + std::to_string(a) +
                    " (a different alignment, or not this resource's block), or its tag was "
                    "overwritten"));
    if (Status s = arena_.deallocate(start, n + a); !s)
      detail::adapter_failure("lfarena::memory_resource::deallocate", s.error());
  }

  bool do_is_equal(const std::pmr::memory_resource &other) const noexcept override {
    const auto *o = dynamic_cast<const lfarena::memory_resource *>(&other);
    return o != nullptr && o->arena_.base() == arena_.base();
  }

  // The tag's high word: "LFO" and log2 of the alignment, so a free with another alignment than
  // the allocation's is caught instead of freeing a different extent.
  static std::uint32_t over_aligned_tag(std::uint32_t align) {
    std::uint32_t log2 = 0;
    while ((1u << log2) < align)
      ++log2;
    return 0x4C464F00u | log2;
  }
  Arena arena_;
};

} // namespace lfarena
