// Test support for the freelist tests: a quiescent walk of the sorted freelist as persisted in
// the region, for the optimistic and pessimistic kinds, in the policy's order: the one list at
// hdr::freelist_head (size_index off) or the per-class lists concatenated in class order
// (detail/sorted_policy.hpp), decoded from the header alone.
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

// The geometry of an arena, decoded from its header (the library keeps its own copy private).
inline lfarena::detail::Geometry geometry(const lfarena::Arena &a) {
  namespace d = lfarena::detail;
  const auto *h = reinterpret_cast<const unsigned char *>(a.base());
  d::Geometry g;
  g.capacity = d::get_le32(h + d::hdr::capacity);
  g.data_offset = d::get_le32(h + d::hdr::data_offset);
  g.min_segment = d::get_le32(h + d::hdr::min_segment);
  g.max_alignment = d::get_le32(h + d::hdr::max_alignment);
  g.bitmap_offset = d::get_le32(h + d::hdr::bitmap_offset);
  g.class_table_offset = d::get_le32(h + d::hdr::class_table_offset);
  g.freelist_kind = static_cast<lfarena::FreelistKind>(d::get_le32(h + d::hdr::freelist_kind));
  g.node_key = d::get_le32(h + d::hdr::format_version) >= d::kFirstKeyedVersion
                   ? d::get_le64(h + d::hdr::node_key)
                   : 0;
  return g;
}

// The freelist in order (no concurrent use). A broken list (offset out of range, cycle, node
// in the wrong class, a damaged node) ends it with {0, 0}.
inline std::vector<Seg> walk(const lfarena::Arena &a) {
  namespace d = lfarena::detail;
  const d::SortedPolicy<d::RegionWords> lists(d::RegionWords{a.base()}, geometry(a));
  std::vector<Seg> out;
  if (lists.walk([&](std::uint32_t o, std::uint64_t s) {
        out.push_back({o, s});
        return true;
      }))
    out.push_back({0, 0});
  return out;
}

} // namespace lfarena_test
