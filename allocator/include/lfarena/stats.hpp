// lfarena/stats.hpp -- a snapshot of an arena's counters.
//
// Taken with relaxed/acquire loads while other threads may be allocating: each field is exact
// at some instant, the set is consistent only at quiescence. Thread-safety: value type.
#pragma once

#include <cstdint>

namespace lfarena {

struct Stats {
  std::uint32_t capacity = 0;      // region bytes, header included
  std::uint32_t data_offset = 0;   // first offset the bump allocator hands out
  std::uint64_t allocated = 0;     // bytes between data_offset and the bump word
  std::uint64_t remaining = 0;     // bytes above the bump word
  std::uint64_t discarded = 0;     // bytes neither live nor free (padding, small pieces)
  std::uint64_t handle_count = 0;  // Arena handles sharing this mapping in this process
};

// What check() found, at quiescence.
struct CheckReport {
  std::uint64_t free_segments = 0;
  std::uint64_t free_bytes = 0;
  std::uint64_t largest_free = 0;
  std::uint64_t live_blocks = 0; // checked mode only (else 0)
  std::uint64_t live_bytes = 0;  // checked mode: counted; otherwise allocated - free - discarded
};

} // namespace lfarena
