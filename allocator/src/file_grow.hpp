// file_grow.hpp (private) -- Options::grow: a file arena's sole opener makes the file larger
// before it maps it (docs/DESIGN.md §1.2, §5.11).
// Thread-safety: takes the file's liveness locks itself (liveness_lock.hpp); any thread or
// process may call it for the same file at once, and at most one of them grows it.
#pragma once

#include <string>

#include "format.hpp"

#include "lfarena/error.hpp"
#include "lfarena/options.hpp"

namespace lfarena::detail {

// Grows the file of `fd` from `from` to o.capacity bytes (Options::grow), as its sole opener:
// records the target size in the header (hdr::growing_to), extends the file, rewrites the
// header's capacity and checksum in one write, clears the record. Each step is one write
// call, so a process killed between two of them leaves the old file, a file whose extra
// bytes the record explains (it opens with the old capacity; validate_header()), or the grown
// file. Before the first write it makes a sole opener's checks of the file as it is, through a
// read-only view it unmaps again, so a damaged file is refused unchanged; the arena itself is
// not mapped yet. A header that changed meanwhile (another grower) is left alone: the caller
// validates again.
Status grow_file(int fd, const std::string &path, const Geometry &g, const Options &o);

} // namespace lfarena::detail
