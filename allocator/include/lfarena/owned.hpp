// lfarena/owned.hpp -- lfarena::Owned<T>: the RAII owner of one T in an arena.
//
// make_owned<T>(arena, args...) allocates a block for a T (zeroed, aligned for T), constructs it
// and returns the owner; the destructor destroys the T and frees the block. detach() gives up
// ownership and returns the Ref<T> (ref.hpp) for a data structure to keep; the T then lives
// until someone frees it (Arena::deallocate(ref.offset, Owned<T>::block_size())).
//
//   auto node = lfarena::make_owned<Node>(arena, key, value);
//   if (!node) return node.error();
//   table.publish(node->detach());
//
// An Owned holds an Arena handle, so the arena outlives it. Move-only. Freeing in the destructor
// cannot report an error: a failure (the block was freed meanwhile, damage) prints the arena's
// message and aborts (allocator.hpp says why). Thread-safety: an Owned is used by one thread at a
// time; the arena calls are thread-safe.
#pragma once

#include <cstdint>
#include <cstring>
#include <new>
#include <type_traits>
#include <utility>

#include "lfarena/arena.hpp"
#include "lfarena/ref.hpp"

namespace lfarena {

namespace detail {
// Prints "<who>: <error message>" to stderr and aborts (src/adapters.cpp).
[[noreturn]] void adapter_failure(const char *who, const Error &e) noexcept;
} // namespace detail

template <class T> class Owned {
public:
  // The size of the block that holds a T (what to free a detached Ref with).
  static constexpr std::uint32_t block_size() {
    return static_cast<std::uint32_t>((sizeof(T) + 7) / 8 * 8);
  }

  Owned() = default;
  Owned(Arena arena, Ref<T> ref) : arena_(std::move(arena)), ref_(ref) {}
  Owned(Owned &&o) noexcept : arena_(std::move(o.arena_)), ref_(std::exchange(o.ref_, {})) {}
  Owned &operator=(Owned &&o) noexcept {
    if (this != &o) {
      reset();
      arena_ = std::move(o.arena_);
      ref_ = std::exchange(o.ref_, {});
    }
    return *this;
  }
  Owned(const Owned &) = delete;
  Owned &operator=(const Owned &) = delete;
  ~Owned() { reset(); }

  T *get() const { return ref_ ? arena_.get(ref_) : nullptr; }
  T &operator*() const { return *get(); }
  T *operator->() const { return get(); }
  explicit operator bool() const { return static_cast<bool>(ref_); }
  Ref<T> ref() const { return ref_; }
  const Arena &arena() const { return arena_; }

  // Gives up ownership: the T stays, nothing is freed.
  Ref<T> detach() { return std::exchange(ref_, {}); }

  // Destroys the T and frees its block (nothing if empty).
  void reset() {
    if (!ref_)
      return;
    const Ref<T> r = std::exchange(ref_, {});
    if constexpr (!std::is_trivially_destructible_v<T>)
      arena_.get(r)->~T();
    if (Status s = arena_.deallocate(r.offset, block_size()); !s)
      detail::adapter_failure("lfarena::Owned", s.error());
  }

private:
  Arena arena_;
  Ref<T> ref_;
};

// Allocates and constructs a T in `arena` (zeroed memory first, alignment alignof(T), at least
// 8). Errors: the allocation's (out_of_memory, bad_alignment above max_alignment, ...). The
// block is exactly block_size() bytes whatever Options::exact_sizes says (allocate_exact).
template <class T, class... Args> Result<Owned<T>> make_owned(const Arena &arena, Args &&...args) {
  static_assert(sizeof(T) <= 0xFFFFFFF8u, "too large for an arena");
  Result<Block> b = arena.allocate_exact(
      Owned<T>::block_size(), alignof(T) < 8 ? 8 : static_cast<std::uint32_t>(alignof(T)));
  if (!b)
    return b.error();
  std::memset(arena.base() + b->offset, 0, b->size);
  try {
    ::new (static_cast<void *>(arena.base() + b->offset)) T(std::forward<Args>(args)...);
  } catch (...) { // the constructor threw: the block goes back, the exception on
    (void)arena.deallocate(b->offset, b->size);
    throw;
  }
  return Owned<T>(arena, Ref<T>(b->offset));
}

} // namespace lfarena
