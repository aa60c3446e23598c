// format.hpp (private) -- region layout from options, header writing, reopen validation.
// Thread-safety: pure functions over caller-owned buffers.
#pragma once

#include <cstdint>
#include <string>

#include "lfarena/detail/backing.hpp"
#include "lfarena/detail/header.hpp"
#include "lfarena/error.hpp"
#include "lfarena/options.hpp"

namespace lfarena::detail {

struct Layout {
  Geometry geometry;
  std::uint32_t user_offset = 0;
  std::uint32_t user_size = 0;
};

// The checks of option values that do not depend on the capacity (every factory, and every
// opener of an existing file, in this order): freelist kind, max_alignment, the form of
// thread_chunk (0 or a multiple of 8 >= 256), min_segment.
Status check_option_values(const Options &options);
// thread_chunk <= capacity / 4 (the capacity of a new region, or the file's on reopen).
Status check_thread_chunk(const Options &options, std::uint32_t capacity);
// huge_pages hugetlb is for anonymous arenas only: errc::invalid_huge_pages naming `backing`
// ("heap" or "file") otherwise.
Status check_huge_pages(const Options &options, const char *backing);
// What Options::populate and Options::huge_pages ask of a backing.
MapHints map_hints(const Options &options);

// Validates the options and places header, bitmaps, user area and data.
Result<Layout> plan_layout(const Options &options);

// Writes a fresh header for `layout` into the first kHeaderSize bytes of `region` (which must
// be zeroed), including the initial atomics (bump = data_offset, empty freelist).
void write_header(std::byte *region, const Layout &layout, const Options &options);

// Validates the immutable part of a header read from a file of `file_size` bytes, in the fixed
// order: file size, magic, format version, feature flags, checksum, freelist kind against
// `options`, user version, geometry. Reads only `header`. On success returns the layout and
// fills `stored` with the options the file was created with.
Result<Layout> validate_header(const unsigned char *header, std::uint64_t file_size,
                               const Options &options, const std::string &path, Options &stored);

// The bump word of a mapped file, read with an atomic load: inside [data_offset, capacity].
// All that salvage needs of the mutable words: it checks each list head as a node and
// rewrites the heads (a flipped bit in one was refused with freelist_head_out_of_range by
// open and by salvage alike, and the file stayed unopenable). Reads only.
Status validate_bump_word(const std::byte *region, const Geometry &geometry,
                          const std::string &path);

// The mutable header words (bump offset, list heads, discarded bytes) of a mapped file, read
// with atomic loads. `alone`: no read-write opener can be running (the caller holds the
// liveness locks that exclude them), so the words are one consistent snapshot and are checked
// against each other (heads and discarded bytes against the bump offset). Otherwise each word
// is checked only against what holds at every instant of a healthy file in use (a live file
// is never reported corrupt). Reads only.
Status validate_mutable_fields(const std::byte *region, const Geometry &geometry,
                               const std::string &path, bool alone);

// The node key a mapped header holds now (a reset() draws a new one: reset.cpp), with the header
// checksum as stored and as computed from the header's bytes: valid() unless the header is
// damaged or being rewritten, or has no key (key 0: format v1/v2). Reads only.
struct HeaderKey {
  std::uint64_t key = 0;
  std::uint64_t stored = 0;
  std::uint64_t computed = 0;
  bool valid() const { return key != 0 && stored == computed; }
};
HeaderKey read_node_key(const std::byte *region);

} // namespace lfarena::detail
