// lfarena/errc.hpp -- the error codes of lfarena (values only; messages live in error.hpp).
//
// Kept free of standard headers beyond <cstdint> so the model-checked layer (detail/) can return
// them under Relacy. Every failure the arena can report has its own code; none is reused.
#pragma once

#include <cstdint>

namespace lfarena {

enum class errc : std::uint8_t {
  ok = 0,
  // options
  invalid_capacity = 1,
  invalid_alignment_option,
  invalid_min_segment,
  invalid_reserved,
  invalid_freelist_kind,
  invalid_thread_chunk,
  invalid_open_mode,
  invalid_huge_pages, // not a HugePages value, or hugetlb for a heap or file arena
  // allocation
  zero_size = 10,
  size_overflow,
  bad_alignment,
  out_of_memory,
  // deallocation and addressing
  null_offset = 20,
  offset_out_of_range,
  not_block_start,
  double_free,
  wrong_size,
  read_only,
  empty_handle, // a default-constructed or moved-from Arena
  in_use,       // reset(): other openers or threads still hold parts of the region
  // files and reopen validation (in validation order)
  io_error = 40,
  file_exists,
  file_not_found,
  file_truncated,
  bad_magic,
  unsupported_version,
  unknown_features,
  checksum_mismatch,
  freelist_kind_mismatch,
  user_version_mismatch,
  bad_geometry,
  bump_out_of_range,
  freelist_head_out_of_range,
  map_failed,
  checked_mismatch, // the options ask for checked mode, the file was created unchecked
  // consistency checks
  corrupt_freelist = 60,
  accounting_mismatch,
};

// Whether Arena::salvage_file() answers a failed open (or check()) with this code: damaged
// free lists, thread-chunk slots, accounting or list heads (lfarena-check --repair and the
// reopen fuzzer both ask this).
constexpr bool salvage_answers(errc e) {
  return e == errc::corrupt_freelist || e == errc::accounting_mismatch ||
         e == errc::freelist_head_out_of_range;
}

} // namespace lfarena
