// free_scan.cpp -- the quiescent walk of every free list (see free_scan.hpp).
#include "free_scan.hpp"

#include <algorithm>

namespace lfarena::detail {

namespace {

std::string num(std::uint64_t v) { return std::to_string(v); }
std::string range(const FreeRange &r) {
  return "[" + num(r.offset) + ", " + num(std::uint64_t{r.offset} + r.size) + ")";
}

// Why the node (or link word) at `at` stopped a walk, for the message.
std::string diagnose(const Core<RegionWords> &core, std::uint32_t at) {
  const Geometry &g = core.geometry();
  const NodeLayout node(g);
  if (at < g.data_offset)
    return "a list head at offset " + num(at) + " links to a node outside the data area";
  if (!node.plausible_offset(at))
    return "the free node at offset " + num(at) + " is not inside the data area";
  const RegionWords &mem = core.memory();
  const std::uint64_t word = load_relaxed(mem.word(at + kNodeSizeWord));
  if (node.decode_size(at, word) == 0)
    return "the free node at offset " + num(at) + " has a damaged size word (" + num(word) +
           ": fails its check or is not a plausible size)";
  const Link next = node.decode_link(load_relaxed(mem.word(at + kNodeLinkWord)));
  if (next.offset() != 0 && !node.plausible_offset(next.offset()))
    return "the free node at offset " + num(at) + " links to offset " + num(next.offset()) +
           ", outside the data area";
  return "the free node at offset " + num(at) +
         " is out of order, in the wrong size class, marked, or part of a cycle";
}

} // namespace

Result<FreeScan> scan_free_lists(const Core<RegionWords> &core, std::uint64_t top,
                                 bool allow_marked, const std::string &who) {
  auto corrupt = [&](const std::string &what) {
    return Error(errc::corrupt_freelist, who + ": " + what);
  };
  FreeScan scan;
  const RegionWords &mem = core.memory();
  // Checked mode: nothing is allocated above the bump offset, so a mark there means the bump
  // word (or the bitmaps) are damaged; trusting it would hand those live blocks out again.
  if (core.checked()) {
    const Geometry &g = core.geometry();
    const auto from = static_cast<std::uint32_t>((top + kGranule - 1) / kGranule);
    if (const std::uint32_t at = core.block_map().first_mark_from(from, g.capacity / kGranule);
        at != ~std::uint32_t{0})
      return Error(errc::accounting_mismatch,
                   who + ": the checked-mode bitmaps mark a block at offset " +
                       num(std::uint64_t{at} * kGranule) + ", at or above the bump offset " +
                       num(top) + ": the bump word or the bitmaps are damaged");
  }
  const NodeLayout node(core.geometry());
  std::string problem;
  auto visit = [&](std::uint32_t off, std::uint64_t size) {
    const FreeRange r{off, static_cast<std::uint32_t>(size)};
    if (off + size > top) {
      problem = "free segment " + range(r) + " lies above the bump offset " + num(top);
      return false;
    }
    if (allow_marked && node.decode_link(load_relaxed(mem.word(off + kNodeLinkWord))).marked())
      scan.marked.push_back(off);
    scan.segments.push_back(r);
    return true;
  };
  const Fault fault = core.uses_segregated() ? core.segregated().walk(visit)
                                             : core.sorted().walk(visit, allow_marked);
  if (!problem.empty())
    return corrupt(problem);
  if (fault)
    return corrupt(diagnose(core, fault.at));
  if (!core.has_freelist() && !scan.segments.empty())
    return corrupt("freelist kind none but " + num(scan.segments.size()) + " segments listed");
  std::sort(scan.segments.begin(), scan.segments.end(),
            [](const FreeRange &a, const FreeRange &b) { return a.offset < b.offset; });
  for (std::size_t i = 0; i < scan.segments.size(); ++i) {
    const FreeRange &s = scan.segments[i];
    scan.bytes += s.size;
    scan.largest = std::max<std::uint64_t>(scan.largest, s.size);
    if (i > 0 && std::uint64_t{scan.segments[i - 1].offset} + scan.segments[i - 1].size > s.offset)
      return corrupt("free segments " + range(scan.segments[i - 1]) + " and " + range(s) +
                     " overlap");
  }
  return scan;
}

} // namespace lfarena::detail
