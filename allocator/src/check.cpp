// check.cpp -- Arena::check(): the quiescent consistency check (DESIGN.md promise 2).
//
// Walks the freelist (range, alignment, order, acyclicity, no overlap) and verifies the
// accounting: live + free + discarded == allocated. In checked mode the live blocks are counted
// from the bitmaps, so the equation is checked exactly and live blocks must not overlap free
// segments; unchecked, live is derived and only free + discarded <= allocated can be checked.
//
// Thread-safety: read-only, but only meaningful at quiescence (no concurrent allocate/free).
#include <algorithm>
#include <string>
#include <vector>

#include "lfarena/arena.hpp"

namespace lfarena {

namespace {
struct Range {
  std::uint32_t offset;
  std::uint64_t size;
};
std::string range(const Range &r) {
  return "[" + std::to_string(r.offset) + ", " + std::to_string(r.offset + r.size) + ")";
}
} // namespace

Result<CheckReport> Arena::check() const {
  if (state_ == nullptr)
    return empty_handle_error("check");
  const auto &core = state_->core;
  const auto &g = core.geometry();
  const auto &fl = core.freelist();
  const std::string &name = state_->name;
  const std::uint64_t top = core.top();
  const std::uint64_t allocated = top - g.data_offset;
  const std::uint64_t discarded = core.discarded();
  auto corrupt = [&](const std::string &what) {
    return Error(errc::corrupt_freelist, name + ": check: " + what);
  };

  CheckReport rep;
  std::vector<Range> free;
  std::string problem;
  bool have_prev = false;
  Range prev{};
  auto visit = [&](std::uint32_t off, std::uint64_t size) {
    const Range r{off, size};
    if (size < g.min_segment || size % detail::kGranule != 0 || off + size > top) {
      problem = "free segment " + range(r) + " has a bad size or lies above the bump offset " +
                std::to_string(top);
      return false;
    }
    if (!core.segregated() && have_prev && !fl.before(prev.size, prev.offset, size, off)) {
      problem = "free segment " + range(r) + " is out of order after " + range(prev);
      return false;
    }
    prev = r;
    have_prev = true;
    free.push_back(r);
    return true;
  };
  // The segregated walk also rejects a node filed under the wrong size class.
  const bool walked = core.segregated() ? core.classes().walk(visit) : fl.walk(visit);
  if (!problem.empty())
    return corrupt(problem);
  if (!walked)
    return corrupt("freelist walk stopped after " + std::to_string(free.size()) +
                   " segments: an offset out of range, a marked node, a node in the wrong size "
                   "class or a cycle");
  // The bitmap promise (size_class.hpp): at quiescence every non-empty class has its bit set.
  if (g.class_table_offset != 0) {
    const detail::ClassTable<detail::RegionWords> table({state_->base}, g.class_table_offset);
    if (const std::uint32_t c = table.first_unmarked_nonempty(); c != detail::kClassCount)
      return corrupt("size class " + std::to_string(c) +
                     " has free segments but its bit in the non-empty bitmap is clear");
  }
  if (!core.has_freelist() && !free.empty())
    return corrupt("freelist kind none but " + std::to_string(free.size()) + " segments listed");

  std::sort(free.begin(), free.end(),
            [](const Range &a, const Range &b) { return a.offset < b.offset; });
  for (std::size_t i = 0; i < free.size(); ++i) {
    rep.free_bytes += free[i].size;
    rep.largest_free = std::max(rep.largest_free, free[i].size);
    if (i > 0 && free[i - 1].offset + free[i - 1].size > free[i].offset)
      return corrupt("free segments " + range(free[i - 1]) + " and " + range(free[i]) + " overlap");
  }
  rep.free_segments = free.size();

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
    std::vector<Range> live;
    const bool ends = core.block_map().for_each_live(g.data_offset, static_cast<std::uint32_t>(top),
                                                     [&](std::uint32_t off, std::uint32_t size) {
                                                       live.push_back({off, size});
                                                     });
    if (!ends)
      return Error(errc::accounting_mismatch, name + ": check: a live block has no end mark");
    std::size_t f = 0;
    for (const Range &b : live) {
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
