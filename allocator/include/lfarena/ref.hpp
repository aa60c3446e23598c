// lfarena/ref.hpp -- lfarena::Ref<T>: a typed offset into an arena, 4 bytes.
//
// What a data structure stores instead of a pointer: it stays valid across processes and across
// a close and reopen of a file arena (a pointer would not: the mapping moves). Trivially
// copyable and lock-free inside std::atomic (std::atomic<Ref<Node>> for a skiplist's next
// links). Resolve it with Arena::get(ref) (nullptr for the null Ref, or one that is out of range
// or misaligned for T). A Ref does not own anything: lfarena::Owned<T> (owned.hpp) does.
//
//   lfarena::Ref<Node> head = ...;                 // e.g. from Owned<Node>::detach()
//   Node *n = arena.get(head);
//
// Thread-safety: a plain value.
#pragma once

#include <cstdint>
#include <type_traits>

namespace lfarena {

template <class T> struct Ref {
  std::uint32_t offset = 0; // 0: null (offset 0 is never handed out)

  constexpr Ref() = default;
  constexpr explicit Ref(std::uint32_t o) : offset(o) {}
  constexpr explicit operator bool() const { return offset != 0; }
  friend constexpr bool operator==(Ref a, Ref b) { return a.offset == b.offset; }
};

static_assert(sizeof(Ref<int>) == 4 && std::is_trivially_copyable_v<Ref<int>>);

} // namespace lfarena
