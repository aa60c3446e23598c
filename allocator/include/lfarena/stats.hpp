// lfarena/stats.hpp -- a snapshot of an arena's counters.
//
// Taken with relaxed/acquire loads while other threads may be allocating: each field is exact
// at some instant, the set is consistent only at quiescence. Thread-safety: value type.
#pragma once

#include <cstdint>

namespace lfarena {

struct Stats {
  std::uint32_t capacity = 0;     // region bytes, header included
  std::uint32_t data_offset = 0;  // first offset the bump allocator hands out
  std::uint64_t allocated = 0;    // bytes between data_offset and the bump word
  std::uint64_t remaining = 0;    // bytes above the bump word
  std::uint64_t discarded = 0;    // bytes neither live nor free (padding, small pieces)
  std::uint64_t handle_count = 0; // Arena handles sharing this mapping in this process
  std::uint64_t leaked = 0;       // bytes crash recovery found in flight (file arenas; also
                                  // included in discarded)
};

// What the crash recovery pass did when this handle's file was opened (file arenas only).
struct RecoveryReport {
  bool ran = false;                  // an earlier opener had died without closing
  std::uint64_t nodes_unmarked = 0;  // freelist nodes whose remover died before unlinking
  std::uint64_t blocks_dropped = 0;  // checked mode: allocations in flight (no end mark)
  std::uint64_t stray_ends = 0;      // checked mode: end marks of frees in flight
  std::uint64_t leaked_bytes = 0;    // bytes neither live, free nor discarded (checked mode:
                                     // all of them; unchecked: thread-chunk tails only)
  std::uint64_t chunks_released = 0; // thread-chunk slots of dead owners
};

// What Arena::salvage_file() (lfarena-check --repair) did to a file with damaged free lists.
struct SalvageReport {
  std::uint64_t segments_kept = 0; // free segments that validated and were relisted
  std::uint64_t bytes_kept = 0;
  std::uint64_t lists_cut = 0;     // lists that ended at a damaged node
  std::uint64_t nodes_dropped = 0; // damaged or overlapping nodes met (what lay behind a cut
                                   // was not reachable and is not counted here)
  std::uint32_t first_damage = 0;  // offset of the first damaged node met (0: none)
  std::uint64_t slots_cleared = 0; // damaged thread-chunk slots forgotten
  bool bytes_counted = false;      // checked mode: the dropped bytes are counted as discarded
  // Checked mode: the bump offset was raised over complete live blocks (or well-formed free
  // segments) the bitmaps mark above it, from bump_raised_from to bump_raised_to: the bump word
  // had been lowered, and is never lowered by salvage (0, 0: not raised).
  std::uint64_t bump_raised_from = 0;
  std::uint64_t bump_raised_to = 0;
  // The discarded counter claimed more bytes than the live blocks (checked mode) and the free
  // segments leave (damaged): checked mode set it to exactly the bytes neither live nor free,
  // unchecked mode to 0 (those bytes then count as live) (0, 0: not recounted).
  std::uint64_t discarded_recounted_from = 0;
  std::uint64_t discarded_recounted_to = 0;
  RecoveryReport recovery; // the crash recovery pass that followed
};

// What check() found, at quiescence.
struct CheckReport {
  std::uint64_t allocated = 0; // bytes between the data offset and the bump word
  std::uint64_t discarded = 0; // bytes neither live nor free (padding, small pieces, leaks)
  std::uint64_t free_segments = 0;
  std::uint64_t free_bytes = 0;
  std::uint64_t largest_free = 0;
  std::uint64_t live_blocks = 0;    // checked mode only (else 0)
  std::uint64_t live_bytes = 0;     // checked mode: counted; otherwise allocated - free - discarded
                                    // - chunk_reserved - cache_reserved
  std::uint64_t chunk_reserved = 0; // unused bytes of thread-local chunks (and their padding)
  std::uint64_t cache_reserved = 0; // segregated files: the thread-chunk slots' free cache blocks
                                    // (256 bytes per slot a thread ever used; kept for reuse)
  // check() of a read-only opener of a file that a read-write opener left without closing (it
  // died, and no read-write opener has the file open): what the crash recovery of the next
  // read-write open will do (ran == true), and every field above describes the file as that
  // recovery will leave it (checked on a private copy: the file is not written). Otherwise
  // ran == false (nothing pending, or a read-write opener, whose open recovered).
  RecoveryReport pending_recovery;
};

} // namespace lfarena
