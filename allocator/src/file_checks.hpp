// file_checks.hpp (private) -- what an opener checks of an arena file's mapping before it
// trusts it (file_open.cpp: joining, read-only opens; file_grow.cpp: the check before a grow;
// docs/DESIGN.md §1.2, §5.9): the free lists and the chunk slot table, the node key under the
// join lock, and a sole reader's checks of the mutable words.
// Thread-safety: each call reads (and, for ASan builds, poisons) the mapping it is given; the
// caller holds the liveness locks that keep writers out or makes only the checks that hold at
// every instant.
#pragma once

#include <cstddef>
#include <string>

#include "format.hpp"

#include "lfarena/error.hpp"

namespace lfarena::detail {

// `path: what: strerror(errno)` with `code`; errno as the failed call left it.
Error sys_error(errc code, const std::string &path, const char *what);

// A sole opener walks every free list and the chunk slot table before it returns, so damage is
// refused when the file is opened (errc::corrupt_freelist or accounting_mismatch, nothing
// written) instead of being met by a later allocation or close. `allow_marked`: a crashed file
// seen read-only (recovery would unmark those nodes). ASan builds mark the free bytes poisoned
// (unmap_file() and a fork child's handler clear that again: process.hpp).
Status validate_free_space(std::byte *base, const Geometry &g, const std::string &path,
                           bool allow_marked);

// Sets g.node_key to the key the mapped header holds now; checked against the header checksum.
Status refresh_node_key(const std::byte *base, Geometry &g, const std::string &path);

// What a reader with no read-write opener beside it checks (read-only opens, the grow check):
// the mutable words against each other, then the free lists and the slot table, a crashed
// file's nodes in flight allowed.
Status check_alone(std::byte *base, const Geometry &g, const std::string &path);

} // namespace lfarena::detail
