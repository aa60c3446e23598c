// lfarena/options.hpp -- how an arena is shaped and opened.
//
// Options are validated by every factory (Arena::heap/anonymous/open_file); an invalid value is
// an error naming the value, never an assert. Thread-safety: plain value type.
#pragma once

#include <cstdint>

#include "lfarena/freelist_kind.hpp"

namespace lfarena {

enum class OpenMode : std::uint8_t { create_new, open_existing, open_or_create };

// Huge pages for the region (fewer TLB misses when a large arena is used at random):
//   off          normal pages;
//   transparent  madvise(MADV_HUGEPAGE), a hint: the kernel backs the region with transparent
//                huge pages where it can (THP "always" or "madvise" mode; file arenas only on
//                tmpfs with huge pages enabled); where it cannot, the arena simply has normal
//                pages (the call never fails because of it). Heap arenas are then 2 MiB aligned.
//   hugetlb      MAP_HUGETLB: reserved huge pages (/proc/sys/vm/nr_hugepages), anonymous arenas
//                only. Without enough reserved pages the factory fails with errc::map_failed
//                and a message saying so; no silent fallback. (A file arena on a hugetlbfs
//                mount gets huge pages from the mount itself.)
enum class HugePages : std::uint8_t { off, transparent, hugetlb };

struct Options {
  // Region size in bytes, header included; offsets are uint32_t, so at most 4 GiB - 1.
  std::uint32_t capacity = 1u << 20;
  // Largest alignment an allocation may request: a power of two from 8 to 4096 (the region
  // base is page aligned, so alignment holds for absolute addresses).
  std::uint32_t max_alignment = 64;
  // Smallest free segment the freelist keeps (multiple of 8, at least 16); smaller pieces are
  // discarded, and a split remainder smaller than this goes with the block.
  std::uint32_t min_segment = 32;
  FreelistKind freelist = FreelistKind::none;
  // The user's own format version, checked on reopen.
  std::uint16_t user_version = 0;
  // Bytes reserved for the user right after the header (Arena::user_area()).
  std::uint32_t user_reserved = 0;
  // Checked mode: detect double free, free of a non-block offset and free with the wrong size
  // (side bitmaps of capacity/21 bytes). Unchecked, those are undefined behaviour.
  bool checked = false;
  // Optimistic and pessimistic only: keep one sorted list per size class with a bitmap of the
  // non-empty ones (detail/sorted_policy.hpp), so best fit and ordered insert walk only the
  // segments of one size class instead of all of them. Same allocation results either way.
  // false: one list (linear; the format v1 layout). A file keeps the layout it was created
  // with: on reopen this option is taken from the file.
  bool size_index = true;
  // Thread-local bump chunks: each thread reserves this many bytes of the bump region with one
  // atomic operation and then allocates blocks up to thread_chunk/4 bytes inside them without
  // atomics (0: off, the default, which keeps exact exhaustion and rollback semantics; 64 KiB
  // is a good value for allocation-heavy threads). A multiple of 8 in [256, capacity/4]. Not
  // stored in files: each opener chooses. Unused chunk tails are returned when the thread exits
  // or the arena closes, and counted as leaked after a crash.
  std::uint32_t thread_chunk = 0;
  // Every block is exactly the requested size rounded up to 8: a freelist segment's remainder
  // too small to keep (below min_segment) is counted as discarded instead of coming with the
  // block. What the standard adapters need (allocator.hpp, memory_resource.hpp: they free with
  // the size the container asked for). Costs those remainders' bytes until a reset. Not stored
  // in files: each opener chooses.
  bool exact_sizes = false;
  // Fault every page of the region in when it is created or opened (MAP_POPULATE, plus
  // MADV_WILLNEED for files), so first touches do not fault later. Heap arenas are always
  // populated (their buffer is zeroed).
  bool populate = false;
  HugePages huge_pages = HugePages::off;
  // File arenas, read-write: when `capacity` is above an existing file's capacity, grow the
  // file to `capacity` on open (the header is updated; older builds read the grown file). Only
  // the sole opener may (errc::in_use otherwise), and only unchecked files (errc::invalid_capacity:
  // a checked file's bitmaps are sized when it is created). Off by default: the default
  // capacity would otherwise grow every smaller file it opens. Never shrinks a file.
  bool grow = false;
  // File arenas only.
  OpenMode open_mode = OpenMode::open_or_create;
  bool read_only = false;
};

} // namespace lfarena
