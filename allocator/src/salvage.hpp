// salvage.hpp (private) -- rebuilding damaged free lists (lfarena-check --repair,
// Arena::salvage_file).
//
// A file whose lists are damaged (a stray write into a freed block, a torn page) is refused by
// open with errc::corrupt_freelist. Salvage keeps every free node that can still be trusted and
// rebuilds the lists from them:
//  - each list is followed from its head while its nodes validate (node.hpp: range, size-word
//    check, below the bump offset, the right size class, the list's order, never seen before,
//    and in checked mode not the start of a live block); the first node that fails cuts the
//    list there: it and everything behind it are dropped;
//  - before that, in checked mode, marks at or above the bump offset: lone ones (one flipped
//    bit) are cleared, and complete live blocks or well-formed free segments there (a lowered
//    bump word) raise the bump offset over them; never lowered (docs/DESIGN.md §5.7). Unchecked
//    mode cannot tell live bytes above a lowered bump word from free ones: refused;
//  - kept segments that overlap an earlier kept one are dropped too;
//  - the lists are written anew from the kept segments (fresh node words, the policy's order),
//    then crash recovery runs (dead owners' chunks, the class bitmap, checked-mode bitmaps and
//    accounting). In checked mode the dropped bytes are counted exactly (as discarded, and as
//    leaked); unchecked mode cannot tell them from live bytes, and says so.
//
// Thread-safety: the caller must hold the file alone (both liveness locks exclusive).
#pragma once

#include <cstddef>
#include <string>

#include "lfarena/detail/header.hpp"
#include "lfarena/error.hpp"
#include "lfarena/stats.hpp"

namespace lfarena::detail {

Result<SalvageReport> salvage_lists(std::byte *base, const Geometry &g, const std::string &path);

} // namespace lfarena::detail
