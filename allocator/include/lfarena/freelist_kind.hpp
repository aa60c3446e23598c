// lfarena/freelist_kind.hpp -- the freelist policies: what happens to freed bytes. Stored in a
// file's header (hdr::freelist_kind) and chosen by Options::freelist; its own header so that the
// options and the region geometry share it without pulling in the allocator's internals.
#pragma once

#include <cstdint>

namespace lfarena {

// Glossary (the names rarena users know, and what they mean):
//   none        -- freed bytes are only counted as discarded (or rolled back into the bump
//                  region when they end at the bump offset);
//   optimistic  -- "largest first": free segments sorted by size descending, an allocation
//                  takes the largest if it fits (detail/sorted_policy.hpp);
//   pessimistic -- "best fit": sorted by size ascending, an allocation takes the smallest that
//                  fits (detail/sorted_policy.hpp);
//   segregated  -- O(1) size classes (TLSF-style), a good fit within one class
//                  (detail/segregated_policy.hpp).
// The values are the on-disk encoding: never renumber.
enum class FreelistKind : std::uint32_t {
  none = 0,
  optimistic = 1,
  pessimistic = 2,
  segregated = 3
};

// The policy's name as above ("unknown" for a value outside the enum, e.g. a damaged header).
constexpr const char *to_string(FreelistKind k) noexcept {
  switch (k) {
  case FreelistKind::none:
    return "none";
  case FreelistKind::optimistic:
    return "optimistic";
  case FreelistKind::pessimistic:
    return "pessimistic";
  case FreelistKind::segregated:
    return "segregated";
  }
  return "unknown";
}

} // namespace lfarena
