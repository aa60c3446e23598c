// lfarena/allocator.hpp -- lfarena::allocator<T>: a standard Allocator over an Arena, so that
// std::vector, std::map, std::unordered_map, std::basic_string... keep their memory in an arena.
//
//   auto arena = lfarena::Arena::heap({.capacity = 64 << 20,
//                                      .freelist = lfarena::FreelistKind::segregated});
//   std::vector<int, lfarena::allocator<int>> v{lfarena::allocator<int>(*arena)};
//   v.push_back(42);
//
// What it hands out are pointers into the arena's mapping: for a heap or anonymous arena, or a
// file arena used by one process while it is open. A container's own pointers are not offsets,
// so a container does not survive a reopen of a file arena: store Ref<T> (ref.hpp) in structures
// that must.
//
// Behaviour:
// - allocate(n) takes exactly n * sizeof(T) bytes rounded up to 8 (Arena::allocate_exact, so
//   deallocate(p, n) frees exactly what was taken, whatever Options::exact_sizes says),
//   aligned to alignof(T) (at least 8). n == 0 takes 8 bytes. Throws std::bad_array_new_length
//   when n * sizeof(T) does not fit 32 bits, std::bad_alloc when the arena cannot serve it (full,
//   alignof(T) above Options::max_alignment, a read-only arena, damage).
// - deallocate(p, n) cannot report an error (it is noexcept, and containers call it from
//   destructors): a pointer from another arena or outside the allocated range, a damaged
//   freelist, and in checked mode a double free, a wrong n or an interior pointer, print the
//   arena's message to stderr and abort, as glibc's free() does on a detected double free.
//   Silently continuing could hand the bytes out twice. (Unchecked, a wrong n or an interior
//   pointer is undefined behaviour, as for Arena::deallocate.)
// - Two allocators are equal when they use the same mapping (the same arena, or copies of its
//   handle): memory from one may be freed through the other. Different arenas are not equal.
// - propagate_on_container_copy_assignment / move_assignment / swap are true: the memory moves
//   with the allocator (a container assigned from another uses the other's arena), so move
//   assignment and swap never copy elements between arenas.
// - Each allocator holds an Arena handle: the arena stays open while a container uses it.
//
// Thread-safety: as the Arena: concurrent allocate/deallocate from many threads through one
// allocator (or copies) are safe; a container itself is not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <new>
#include <type_traits>

#include "lfarena/arena.hpp"
#include "lfarena/owned.hpp" // detail::adapter_failure

namespace lfarena {

namespace detail {
// Bytes and alignment an adapter asks the arena for: at least 8 bytes (a zero-byte request gets
// a distinct block), alignment at least 8. 0 bytes: the request does not fit 32 bits.
inline std::uint32_t adapter_bytes(std::size_t bytes) {
  if (bytes > 0xFFFFFFF8u)
    return 0;
  return bytes == 0 ? 8u : static_cast<std::uint32_t>(bytes);
}
inline std::uint32_t adapter_align(std::size_t align) {
  return align < 8 ? 8u : align > 0x80000000u ? 0x80000000u : static_cast<std::uint32_t>(align);
}
} // namespace detail

template <class T> class allocator {
public:
  using value_type = T;
  using size_type = std::size_t;
  using difference_type = std::ptrdiff_t;
  using propagate_on_container_copy_assignment = std::true_type;
  using propagate_on_container_move_assignment = std::true_type;
  using propagate_on_container_swap = std::true_type;
  using is_always_equal = std::false_type;

  // An allocator over `arena` (a handle to it is kept). An empty handle is allowed: every
  // allocate() then throws std::bad_alloc.
  explicit allocator(Arena arena) noexcept : arena_(std::move(arena)) {}
  template <class U> allocator(const allocator<U> &other) noexcept : arena_(other.arena()) {}

  [[nodiscard]] T *allocate(std::size_t n) {
    if (n > std::numeric_limits<std::size_t>::max() / sizeof(T))
      throw std::bad_array_new_length();
    const std::uint32_t bytes = detail::adapter_bytes(n * sizeof(T));
    if (bytes == 0)
      throw std::bad_array_new_length();
    Result<Block> b = arena_.allocate_exact(bytes, detail::adapter_align(alignof(T)));
    if (!b)
      throw std::bad_alloc();
    return reinterpret_cast<T *>(arena_.base() + b->offset);
  }

  void deallocate(T *p, std::size_t n) noexcept {
    Result<std::uint32_t> at = arena_.offset_of(p);
    if (!at)
      detail::adapter_failure("lfarena::allocator::deallocate", at.error());
    if (Status s = arena_.deallocate(*at, detail::adapter_bytes(n * sizeof(T))); !s)
      detail::adapter_failure("lfarena::allocator::deallocate", s.error());
  }

  std::size_t max_size() const noexcept { return 0xFFFFFFF8u / sizeof(T); }
  const Arena &arena() const noexcept { return arena_; }

  template <class U> friend bool operator==(const allocator &a, const allocator<U> &b) noexcept {
    return a.arena().base() == b.arena().base();
  }

private:
  Arena arena_;
};

} // namespace lfarena
