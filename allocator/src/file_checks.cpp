// file_checks.cpp -- what an opener checks of an arena file's mapping (file_checks.hpp).
#include "file_checks.hpp"

#include <cerrno>
#include <cstring>

#include "free_scan.hpp"

namespace lfarena::detail {

Error sys_error(errc code, const std::string &path, const char *what) {
  return Error(code, path + ": " + what + ": " + std::strerror(errno));
}

Status validate_free_space(std::byte *base, const Geometry &g, const std::string &path,
                           bool allow_marked) {
  const Core<RegionWords> core(RegionWords{base}, g);
  // A state no allocator writes: an open that accepted it left a file that failed its own
  // check() (helper-27). A crashed file's recovery clears it (BlockMap::repair), and so does
  // salvage (lfarena-check --repair).
  if (const std::uint32_t at = g.bitmap_offset != 0 && !allow_marked
                                   ? core.block_map().first_impossible(g.capacity / kGranule)
                                   : ~std::uint32_t{0};
      at != ~std::uint32_t{0})
    return Error(errc::accounting_mismatch,
                 path + ": the checked-mode bitmaps hold the impossible state 3 for granule " +
                     std::to_string(std::uint64_t{at} * kGranule) +
                     " (a damaged file); lfarena-check --repair (Arena::salvage_file) clears it");
  Result<FreeScan> scan = scan_free_lists(core, core.top(), allow_marked, path);
  if (!scan)
    return scan.error();
  if (Result<SlotScan> slots = scan_chunk_slots(core, *scan, core.top(), path); !slots)
    return slots.error();
  for (const FreeRange &r : scan->segments) // ASan builds: free bytes are poisoned
    poison_bytes(core.memory(), r.offset, r.size);
  return {};
}

// The node key as the mapped header holds it now, under the join lock: validate_header() read
// a copy before the lock, and a reset() by the sole opener (which holds the join lock) draws a
// new key meanwhile (helper-25's fix made keys change; an opener that kept the old one found
// every node its own process freed damaged). Checked against the header checksum again.
Status refresh_node_key(const std::byte *base, Geometry &g, const std::string &path) {
  if (g.node_key == 0) // format v1/v2: no key
    return {};
  const HeaderKey k = read_node_key(base);
  if (!k.valid())
    return Error(errc::checksum_mismatch, path + ": header checksum " + std::to_string(k.computed) +
                                              " does not match the stored " +
                                              std::to_string(k.stored) + " (node key " +
                                              std::to_string(k.key) + ") after joining");
  g.node_key = k.key;
  return {};
}

Status check_alone(std::byte *base, const Geometry &g, const std::string &path) {
  if (Status s = validate_mutable_fields(base, g, path, true); !s)
    return s;
  const bool crashed = load_acquire(RegionWords{base}.word(hdr::open_count)) != 0;
  return validate_free_space(base, g, path, crashed);
}

} // namespace lfarena::detail
