// check.cpp -- Arena::check(): the quiescent consistency check (docs/DESIGN.md §4 promise 2, §1.6).
//
// Walks the free lists (free_scan.hpp: range, node checks, order, size classes, acyclicity, no
// overlap) and verifies the
// accounting: live + free + discarded == allocated. In checked mode the live blocks are counted
// from the bitmaps, so the equation is checked exactly and live blocks must not overlap free
// segments; unchecked, live is derived and only free + discarded <= allocated can be checked.
//
// Thread-safety: read-only, but only meaningful at quiescence (no concurrent allocate/free).
#include <algorithm>
#include <string>
#include <vector>

#include "free_scan.hpp"
#include "lfarena/arena.hpp"

namespace lfarena {

namespace {
std::string range(const detail::FreeRange &r) {
  return "[" + std::to_string(r.offset) + ", " + std::to_string(std::uint64_t{r.offset} + r.size) +
         ")";
}
} // namespace

Result<CheckReport> Arena::check() const {
  if (state_ == nullptr)
    return empty_handle_error("check");
  const auto &core = state_->core;
  const auto &g = core.geometry();
  const std::string &name = state_->name;
  const std::uint64_t top = core.top();
  const std::uint64_t allocated = top - g.data_offset;
  const std::uint64_t discarded = core.discarded();
  auto corrupt = [&](const std::string &what) {
    return Error(errc::corrupt_freelist, name + ": check: " + what);
  };

  CheckReport rep;
  Result<detail::FreeScan> scan = detail::scan_free_lists(core, top, false, name + ": check");
  if (!scan)
    return scan.error();
  const std::vector<detail::FreeRange> &free = scan->segments;
  rep.free_segments = free.size();
  rep.free_bytes = scan->bytes;
  rep.largest_free = scan->largest;
  // The bitmap promise (size_class.hpp): at quiescence every non-empty class has its bit set.
  if (g.class_table_offset != 0) {
    const detail::ClassTable<detail::RegionWords> table({state_->base}, g.class_table_offset);
    if (const std::uint32_t c = table.first_unmarked_nonempty(); c != detail::kClassCount)
      return corrupt("size class " + std::to_string(c) +
                     " has free segments but its bit in the non-empty bitmap is clear");
  }

  // Thread-local chunks: their unused tails and padding are reserved, not yet live.
  const detail::RegionWords mem{state_->base};
  for (std::uint32_t i = 0; i < detail::kChunkSlots; ++i)
    rep.chunk_reserved += detail::slot_reserved(mem, detail::slot_owner_at(i));
  const std::uint64_t accounted_elsewhere = discarded + rep.chunk_reserved;

  if (core.checked()) {
    const std::uint32_t stray = core.block_map().first_stray(
        static_cast<std::uint32_t>(top / detail::kGranule), g.capacity / detail::kGranule);
    if (stray != ~std::uint32_t{0})
      return Error(errc::accounting_mismatch,
                   name + ": check: the checked-mode bitmaps mark granule at offset " +
                       std::to_string(std::uint64_t{stray} * detail::kGranule) +
                       (stray * std::uint64_t{detail::kGranule} >= top
                            ? " at or above the bump offset " + std::to_string(top)
                            : " with an impossible state"));
    std::vector<detail::FreeRange> live;
    const bool ends = core.block_map().for_each_live(g.data_offset, static_cast<std::uint32_t>(top),
                                                     [&](std::uint32_t off, std::uint32_t size) {
                                                       live.push_back({off, size});
                                                     });
    if (!ends)
      return Error(errc::accounting_mismatch, name + ": check: a live block has no end mark");
    std::size_t f = 0;
    for (const detail::FreeRange &b : live) {
      rep.live_bytes += b.size;
      while (f < free.size() && free[f].offset + free[f].size <= b.offset)
        ++f;
      if (f < free.size() && free[f].offset < b.offset + b.size)
        return corrupt("free segment " + range(free[f]) + " overlaps live block " + range(b));
    }
    rep.live_blocks = live.size();
    if (rep.live_bytes + rep.free_bytes + accounted_elsewhere != allocated)
      return Error(errc::accounting_mismatch, name + ": check: live " +
                                                  std::to_string(rep.live_bytes) + " + free " +
                                                  std::to_string(rep.free_bytes) + " + discarded " +
                                                  std::to_string(discarded) + " + chunk tails " +
                                                  std::to_string(rep.chunk_reserved) +
                                                  " != allocated " + std::to_string(allocated));
  } else {
    if (rep.free_bytes + accounted_elsewhere > allocated)
      return Error(errc::accounting_mismatch, name + ": check: free " +
                                                  std::to_string(rep.free_bytes) + " + discarded " +
                                                  std::to_string(discarded) + " + chunk tails " +
                                                  std::to_string(rep.chunk_reserved) +
                                                  " > allocated " + std::to_string(allocated));
    rep.live_bytes = allocated - rep.free_bytes - accounted_elsewhere;
  }
  return rep;
}

} // namespace lfarena
