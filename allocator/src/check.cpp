// check.cpp -- Arena::check(): the quiescent consistency check (docs/DESIGN.md §4 promise 2, §1.6).
//
// Steps, one function each, in this order (the first failure is reported):
//  1. walk the free lists (free_scan.hpp: range, node checks, order, size classes, acyclicity,
//     no overlap) and total them;
//  2. the bitmap promise (size_class.hpp): every non-empty size class has its bit set;
//  3. thread-chunk tails (free_scan.hpp): in the allocated area, apart from each other and from
//     free segments, and within the allocated bytes with free and discarded;
//  4. checked mode: no bitmap mark at or above the bump offset, every live block has its end
//     mark, and no live block overlaps a free segment;
//     (the slots' free cache blocks are live blocks of their own, counted with the tails);
//  5. accounting: live + free + discarded + chunk tails + cache blocks == allocated (checked mode,
//  live counted
//     from the bitmaps), or free + discarded + chunk tails <= allocated (unchecked: live is what
//     is left).
//
// A read-only file opener runs the steps on a view of the file as it is now, recovered first if
// a writer left it without closing (recovered_view.hpp).
//
// Thread-safety: read-only, but only meaningful at quiescence (no concurrent allocate/free).
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "free_scan.hpp"
#include "lfarena/arena.hpp"
#include "recovered_view.hpp"

namespace lfarena {

namespace {

std::string range(const detail::FreeRange &r) {
  return "[" + std::to_string(r.offset) + ", " + std::to_string(std::uint64_t{r.offset} + r.size) +
         ")";
}

class Checker {
public:
  Checker(const std::string &name, std::byte *base, const detail::Core<detail::RegionWords> &core)
      : name_(name), base_(base), core_(core), g_(core_.geometry()), top_(core_.top()),
        allocated_(top_ - g_.data_offset), discarded_(core_.discarded()) {
    rep_.allocated = allocated_;
    rep_.discarded = discarded_;
  }

  Status free_lists() { // step 1
    Result<detail::FreeScan> scan = detail::scan_free_lists(core_, top_, false, name_ + ": check");
    if (!scan)
      return scan.error();
    scan_ = std::move(*scan);
    rep_.free_segments = scan_.segments.size();
    rep_.free_bytes = scan_.bytes;
    rep_.largest_free = scan_.largest;
    return {};
  }

  Status class_bits() const { // step 2
    if (g_.class_table_offset == 0)
      return {};
    const detail::ClassTable<detail::RegionWords> table({base_}, g_.class_table_offset);
    if (const std::uint32_t c = table.first_unmarked_nonempty(); c != detail::kClassCount)
      return corrupt("size class " + std::to_string(c) +
                     " has free segments but its bit in the non-empty bitmap is clear");
    return {};
  }

  Status chunk_tails() { // step 3
    Result<detail::SlotScan> slots =
        detail::scan_chunk_slots(core_, scan_, top_, name_ + ": check");
    if (!slots)
      return slots.error();
    // The slots' free cache blocks are neither live nor free: the slots hold them.
    rep_.chunk_reserved = slots->held;
    rep_.cache_reserved = slots->cache_bytes();
    caches_ = std::move(slots->caches);
    return {};
  }

  Status live_blocks() { // step 4 (checked mode)
    const std::uint32_t stray = core_.block_map().first_stray(
        static_cast<std::uint32_t>(top_ / detail::kGranule), g_.capacity / detail::kGranule);
    if (stray != ~std::uint32_t{0})
      return mismatch("the checked-mode bitmaps mark granule at offset " +
                      std::to_string(std::uint64_t{stray} * detail::kGranule) +
                      (stray * std::uint64_t{detail::kGranule} >= top_
                           ? " at or above the bump offset " + std::to_string(top_)
                           : " with an impossible state"));
    std::vector<detail::FreeRange> live;
    detail::BlockMap<detail::RegionWords>::LiveFault fault;
    const bool ends = core_.block_map().for_each_live(
        g_.data_offset, static_cast<std::uint32_t>(top_),
        [&](std::uint32_t off, std::uint32_t size) {
          live.push_back({off, size});
        },
        &fault);
    if (!ends && fault.inside != 0)
      return mismatch("the checked-mode bitmaps mark a block start at offset " +
                      std::to_string(fault.inside) + " inside the live block that starts at " +
                      std::to_string(fault.start) +
                      " (granules inside a live block have no state: damage, e.g. an end "
                      "mark lost, so that two blocks read as one)");
    if (!ends)
      return mismatch("the live block at offset " + std::to_string(fault.start) +
                      " has no end mark");
    std::size_t f = 0; // both sorted by offset: one merge pass
    const std::vector<detail::FreeRange> &free = scan_.segments; // sorted by offset
    std::size_t k = 0; // cache blocks, sorted: each must be a live block of its own
    for (const detail::FreeRange &b : live) {
      if (k < caches_.size() && caches_[k].offset == b.offset) {
        if (b.size != caches_[k].size)
          return mismatch("the free cache block at offset " + std::to_string(b.offset) +
                          " is a live block of " + std::to_string(b.size) + " bytes, not " +
                          std::to_string(caches_[k].size));
        ++k;
        continue;
      }
      if (k < caches_.size() && caches_[k].offset < b.offset)
        return mismatch("the free cache block at offset " + std::to_string(caches_[k].offset) +
                        " is not a live block");
      rep_.live_bytes += b.size;
      while (f < free.size() && free[f].offset + free[f].size <= b.offset)
        ++f;
      if (f < free.size() && free[f].offset < b.offset + b.size)
        return corrupt("free segment " + range(free[f]) + " overlaps live block " + range(b));
    }
    if (k < caches_.size())
      return mismatch("the free cache block at offset " + std::to_string(caches_[k].offset) +
                      " is not a live block");
    rep_.live_blocks = live.size() - caches_.size();
    return {};
  }

  Status accounting() { // step 5
    const std::uint64_t elsewhere = discarded_ + rep_.chunk_reserved + rep_.cache_reserved;
    const std::string parts =
        "free " + std::to_string(rep_.free_bytes) + " + discarded " + std::to_string(discarded_) +
        " + chunk tails " + std::to_string(rep_.chunk_reserved) +
        (rep_.cache_reserved != 0 ? " + cache blocks " + std::to_string(rep_.cache_reserved) : "");
    if (core_.checked()) {
      if (rep_.live_bytes + rep_.free_bytes + elsewhere != allocated_)
        return mismatch("live " + std::to_string(rep_.live_bytes) + " + " + parts +
                        " != allocated " + std::to_string(allocated_));
      return {};
    }
    if (rep_.free_bytes + elsewhere > allocated_)
      return mismatch(parts + " > allocated " + std::to_string(allocated_));
    rep_.live_bytes = allocated_ - rep_.free_bytes - elsewhere;
    return {};
  }

  const CheckReport &report() const { return rep_; }

private:
  Error corrupt(const std::string &what) const {
    return Error(errc::corrupt_freelist, name_ + ": check: " + what);
  }
  Error mismatch(const std::string &what) const {
    return Error(errc::accounting_mismatch, name_ + ": check: " + what);
  }

  const std::string &name_;
  std::byte *base_;
  const detail::Core<detail::RegionWords> &core_;
  const detail::Geometry &g_;
  const std::uint64_t top_;
  const std::uint64_t allocated_;
  const std::uint64_t discarded_;
  detail::FreeScan scan_;                 // step 1's result
  std::vector<detail::FreeRange> caches_; // step 3's: the slots' cache blocks, sorted
  CheckReport rep_;
};

// The steps, in order, on one core (the arena's, or one over a recovered copy).
Result<CheckReport> check_core(const std::string &name, std::byte *base,
                               const detail::Core<detail::RegionWords> &core) {
  Checker c(name, base, core);
  if (Status s = c.free_lists(); !s)
    return s.error();
  if (Status s = c.class_bits(); !s)
    return s.error();
  if (Status s = c.chunk_tails(); !s)
    return s.error();
  if (core.checked())
    if (Status s = c.live_blocks(); !s)
      return s.error();
  if (Status s = c.accounting(); !s)
    return s.error();
  return c.report();
}

} // namespace

Result<CheckReport> Arena::check() const {
  if (state_ == nullptr)
    return empty_handle_error("check");
  // A read-only opener checks the file as it is now, and a file that a writer left without
  // closing as the next read-write open's recovery will leave it (recovered_view.hpp): its own
  // mapping may be stale (a writer's grow, reset or damage since the open).
  if (const auto *f = std::get_if<detail::FileBacking>(&state_->backing);
      f != nullptr && state_->read_only) {
    detail::RecoveredView view;
    if (Status s = view.open(*f, state_->options, state_->name); !s)
      return s.error();
    const detail::Core<detail::RegionWords> core(detail::RegionWords{view.base()}, view.geometry());
    Result<CheckReport> r = check_core(state_->name, view.base(), core);
    if (r)
      r->pending_recovery = view.recovery();
    return r;
  }
  return check_core(state_->name, state_->base, state_->core);
}

} // namespace lfarena
