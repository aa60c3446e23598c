// format.hpp (private) -- region layout from options, header writing, reopen validation.
// Thread-safety: pure functions over caller-owned buffers.
#pragma once

#include <cstdint>
#include <string>

#include "lfarena/detail/header.hpp"
#include "lfarena/error.hpp"
#include "lfarena/options.hpp"

namespace lfarena::detail {

struct Layout {
  Geometry geometry;
  std::uint32_t user_offset = 0;
  std::uint32_t user_size = 0;
};

// Validates the options and places header, bitmaps, user area and data.
Result<Layout> plan_layout(const Options &options);

// Writes a fresh header for `layout` into the first kHeaderSize bytes of `region` (which must
// be zeroed), including the initial atomics (bump = data_offset, empty freelist).
void write_header(std::byte *region, const Layout &layout, const Options &options);

// Validates a header read from a file of `file_size` bytes, in the fixed order: file size,
// magic, format version, feature flags, checksum, freelist kind against `options`, user
// version, geometry (sizes, data offset, bump offset, freelist head). Reads only `header`.
// On success returns the layout and fills `stored` with the options the file was created with.
Result<Layout> validate_header(const unsigned char *header, std::uint64_t file_size,
                               const Options &options, const std::string &path, Options &stored);

// After validate_header, on the mapped region of a file nobody else has open (the exclusive
// liveness lock): every size-class head (if the layout has a class table) is 0 or an unmarked
// offset inside [data_offset, bump). Reads only.
Status validate_class_heads(const std::byte *region, const Geometry &geometry,
                            const std::string &path);

} // namespace lfarena::detail
