// Test support for the freelist tests: a quiescent walk of the sorted freelist as persisted in
// the region (detail/header.hpp: the head Link at hdr::freelist_head; detail/freelist.hpp: a
// node's link at its offset, its size 8 bytes after), for the optimistic and pessimistic kinds.
#pragma once

#include <lfarena/arena.hpp>

#include <cstdint>
#include <ostream>
#include <vector>

namespace lfarena_test {

struct Seg {
  std::uint32_t offset;
  std::uint64_t size;
  friend bool operator==(const Seg &, const Seg &) = default;
  friend std::ostream &operator<<(std::ostream &os, const Seg &s) {
    return os << "{" << s.offset << "," << s.size << "}";
  }
};

// The freelist in list order (no concurrent use). A link outside the region ends it with {0, 0}.
inline std::vector<Seg> walk(const lfarena::Arena &a) {
  namespace d = lfarena::detail;
  const d::RegionWords mem{a.base()};
  const std::uint32_t cap = a.stats().capacity;
  std::vector<Seg> out;
  d::Link cur{d::load_acquire(mem.word(d::hdr::freelist_head))};
  while (cur.offset() != 0 && out.size() < 100000) {
    if (cur.offset() % 8 != 0 || std::uint64_t{cur.offset()} + 16 > cap) {
      out.push_back({0, 0});
      break;
    }
    out.push_back({cur.offset(), d::load_acquire(mem.word(cur.offset() + 8))});
    cur = d::Link{d::load_acquire(mem.word(cur.offset()))};
  }
  return out;
}

} // namespace lfarena_test
