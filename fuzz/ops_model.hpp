// fuzz/ops_model.hpp -- the shadow model of fuzz/ops_fuzz.cpp: the sequential spec of one arena
// (docs/DESIGN.md §1 and the banners of detail/core.hpp, detail/sorted_list.hpp,
// detail/checked.hpp).
//
// Exact mode (Options::thread_chunk == 0) predicts every allocation, free, stat and check()
// report:
//  - bump region first: start = align_up(bump, align); the padding goes to the freelist when the
//    policy keeps segments and it is >= min_segment, else it is discarded;
//  - then the freelist, a list of (offset, size) in the policy's order: optimistic takes the head
//    if it fits, pessimistic the first that fits; the block is cut from the front of the segment,
//    front padding >= min_segment is reinserted else discarded, a tail >= min_segment is
//    reinserted else handed out with the block (Block.size grows); segregated: one LIFO stack per
//    size class, the choice of detail/segregated_policy.hpp (Model::take_segregated);
//  - deallocate: argument errors in the order null_offset, zero_size, offset_out_of_range,
//    not_block_start; in checked mode the bitmap states (live / freed / nothing, plus end marks)
//    decide not_block_start / double_free / wrong_size; then a rollback if the block ends at the
//    bump offset, else the freelist (policy != none and size >= min_segment) or discarded.
//
// Chunk mode (thread_chunk != 0; exact == false): placement inside thread-local chunks is not
// predicted. The model then only keeps what the arena actually returned: the live blocks and, in
// checked mode, the block map built from them (record(), apply_free()); `bump` is synchronised
// from the arena's stats by the harness. arguments() and classify_free() stay exact.
//
// Header-only, included by ops_fuzz.cpp alone (fuzz/CMakeLists.txt builds only *_fuzz.cpp).
#pragma once

#include <lfarena/arena.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <vector>

namespace ops_model {

using lfarena::Block;
using lfarena::errc;
using lfarena::FreelistKind;

inline constexpr std::uint32_t kGranule = 8;

inline std::uint64_t align_up(std::uint64_t x, std::uint64_t a) { return (x + a - 1) / a * a; }
inline bool pow2(std::uint64_t a) { return a != 0 && (a & (a - 1)) == 0; }

struct Seg {
  std::uint32_t offset;
  std::uint32_t size;
};

struct Model {
  std::uint32_t capacity = 0, data_offset = 0, min_segment = 0, max_alignment = 0;
  FreelistKind kind = FreelistKind::none;
  bool checked = false;
  bool exact = true; // false: thread chunks, only live blocks and the block map are modelled
  std::uint64_t bump = 0, discarded = 0;
  std::vector<Seg> freelist; // in the policy's order (sorted policies)
  // segregated (detail/segregated_policy.hpp): one LIFO stack per size class, top at the back.
  std::vector<std::vector<Seg>> classes =
      std::vector<std::vector<Seg>>(lfarena::detail::kClassCount);
  std::map<std::uint32_t, std::uint32_t> live; // offset -> size
  // Checked mode: the block map, per granule: state 0 nothing, 1 live start, 2 freed start;
  // end mark on the last granule of a live block.
  std::vector<std::uint8_t> state;
  std::vector<std::uint8_t> end;

  // Does size a come before size b in the sorted policy's order?
  bool size_before(std::uint32_t a, std::uint32_t b) const {
    return kind == FreelistKind::optimistic ? a > b : a < b;
  }
  // Sorted policies: in front of the first segment whose size does not come before this one's
  // (equal sizes newest first: detail/sorted_list.hpp; the arenas here are new, format v4).
  void insert(std::uint32_t off, std::uint32_t size) {
    const Seg s{off, size};
    if (kind == FreelistKind::segregated) {
      classes[lfarena::detail::floor_class(size)].push_back(s);
      return;
    }
    auto it = std::find_if(freelist.begin(), freelist.end(),
                           [&](const Seg &x) { return !size_before(x.size, s.size); });
    freelist.insert(it, s);
  }
  void give_back(std::uint32_t off, std::uint32_t size) {
    if (kind != FreelistKind::none && size >= min_segment)
      insert(off, size);
    else
      discarded += size;
  }
  static bool fits(const Seg &s, std::uint32_t size, std::uint32_t align) {
    return align_up(s.offset, align) - s.offset + size <= s.size;
  }

  // The segregated policy's choice: the top of the class below the first sure fit if it fits,
  // else the top of the first non-empty class from the first sure fit up, else a fitting one
  // among the 8 topmost of the class below (order of the others kept). Removes it.
  bool take_segregated(std::uint32_t size, std::uint32_t align, Seg &out) {
    namespace d = lfarena::detail;
    const std::uint64_t need = std::uint64_t{size} + (align > kGranule ? align - kGranule : 0);
    if (need > capacity)
      return false;
    // Above the top class's lower bound only the top class (first - 1) can hold it.
    const std::uint32_t first = std::min(d::ceil_class(need), d::kClassCount);
    auto take = [&](std::vector<Seg> &st, std::size_t i) {
      out = st[i];
      st.erase(st.begin() + static_cast<std::ptrdiff_t>(i));
      return true;
    };
    if (first > 0 && !classes[first - 1].empty() && classes[first - 1].back().size >= need)
      return take(classes[first - 1], classes[first - 1].size() - 1);
    for (std::uint32_t c = first; c < d::kClassCount; ++c)
      if (!classes[c].empty())
        return take(classes[c], classes[c].size() - 1);
    if (first > 0) {
      std::vector<Seg> &st = classes[first - 1];
      for (std::size_t k = 0; k < 8 && k < st.size(); ++k)
        if (st[st.size() - 1 - k].size >= need)
          return take(st, st.size() - 1 - k);
    }
    return false;
  }

  // The argument errors of allocate(size, align), in the arena's order (both modes).
  errc arguments(std::uint32_t size, std::uint32_t align) const {
    if (size == 0)
      return errc::zero_size;
    if (!pow2(align) || align > max_alignment)
      return errc::bad_alignment;
    if (align < kGranule)
      align = kGranule;
    if (align_up(size, kGranule) + align > capacity)
      return errc::size_overflow;
    return errc::ok;
  }

  // Records a block the arena handed out: live, and in checked mode the block map (as
  // BlockMap::on_allocate: live start, no state and no end mark inside, end mark on the last).
  void record(const Block &b) {
    if (checked) {
      const std::uint32_t g = b.offset / kGranule, last = g + b.size / kGranule - 1;
      state[g] = 1;
      for (std::uint32_t x = g + 1; x <= last; ++x)
        state[x] = 0;
      for (std::uint32_t x = g; x < last; ++x)
        end[x] = 0;
      end[last] = 1;
    }
    live[b.offset] = b.size;
  }

  // Exact mode: predicts allocate(size, align): the error, or the block (recorded as live).
  errc allocate(std::uint32_t size, std::uint32_t align, Block &out) {
    if (errc e = arguments(size, align); e != errc::ok)
      return e;
    if (align < kGranule)
      align = kGranule;
    const auto sz = static_cast<std::uint32_t>(align_up(size, kGranule));
    const std::uint64_t start = align_up(bump, align);
    if (start + sz <= capacity) {
      const auto pad = static_cast<std::uint32_t>(start - bump);
      const auto pad_at = static_cast<std::uint32_t>(bump);
      bump = start + sz;
      if (pad != 0)
        give_back(pad_at, pad);
      out = {static_cast<std::uint32_t>(start), sz};
    } else {
      if (kind == FreelistKind::none)
        return errc::out_of_memory;
      Seg s{};
      if (kind == FreelistKind::segregated) {
        if (!take_segregated(sz, align, s))
          return errc::out_of_memory;
      } else {
        std::size_t i = 0;
        if (kind == FreelistKind::optimistic) {
          if (freelist.empty() || !fits(freelist[0], sz, align))
            return errc::out_of_memory;
        } else {
          while (i < freelist.size() && !fits(freelist[i], sz, align))
            ++i;
          if (i == freelist.size())
            return errc::out_of_memory;
        }
        s = freelist[i];
        freelist.erase(freelist.begin() + static_cast<std::ptrdiff_t>(i));
      }
      const auto at = static_cast<std::uint32_t>(align_up(s.offset, align));
      const std::uint32_t pad = at - s.offset;
      std::uint32_t got = s.size - pad;
      if (pad >= min_segment)
        insert(s.offset, pad);
      else
        discarded += pad;
      const std::uint32_t rest = got - sz;
      if (rest >= min_segment) {
        got = sz;
        insert(at + sz, rest);
      }
      out = {at, got};
    }
    record(out);
    return errc::ok;
  }

  // Predicts deallocate(offset, size) without changing anything (see apply_free). Chunk mode:
  // exact as well, once `bump` was synchronised with the arena.
  errc classify_free(std::uint32_t off, std::uint32_t size) const {
    if (off == 0)
      return errc::null_offset;
    if (size == 0)
      return errc::zero_size;
    const std::uint64_t rounded = align_up(size, kGranule);
    if (off < data_offset || off + rounded > bump)
      return errc::offset_out_of_range;
    if (off % kGranule != 0)
      return errc::not_block_start;
    if (checked) {
      const std::uint32_t g = off / kGranule;
      const auto last = static_cast<std::uint32_t>(g + rounded / kGranule - 1);
      auto cls = [&] {
        return state[g] == 1 ? errc::ok : state[g] == 2 ? errc::double_free : errc::not_block_start;
      };
      if (errc e = cls(); e != errc::ok)
        return e;
      bool stray = false;
      for (std::uint32_t x = g; x < last; ++x)
        stray = stray || end[x];
      if (!end[last] || stray)
        return errc::wrong_size;
    }
    return errc::ok;
  }
  // Applies a free that classify_free() accepted. Chunk mode: the block map and the live set
  // only (where the bytes go is the arena's business; `bump` is re-read from its stats).
  void apply_free(std::uint32_t off, std::uint32_t size) {
    const auto sz = static_cast<std::uint32_t>(align_up(size, kGranule));
    if (checked) {
      state[off / kGranule] = 2;
      end[off / kGranule + sz / kGranule - 1] = 0;
    }
    live.erase(off);
    if (!exact)
      return;
    if (off + std::uint64_t{sz} == bump)
      bump = off;
    else
      give_back(off, sz);
  }

  template <class F> void for_each_free(F &&f) const {
    for (const Seg &s : freelist)
      f(s);
    for (const auto &st : classes)
      for (const Seg &s : st)
        f(s);
  }
  std::uint64_t free_bytes() const {
    std::uint64_t n = 0;
    for_each_free([&](const Seg &s) { n += s.size; });
    return n;
  }
  std::uint64_t largest_free() const {
    std::uint64_t n = 0;
    for_each_free([&](const Seg &s) { n = std::max<std::uint64_t>(n, s.size); });
    return n;
  }
  std::uint64_t free_segments() const {
    std::uint64_t n = 0;
    for_each_free([&](const Seg &) { ++n; });
    return n;
  }
  std::uint64_t live_bytes() const {
    std::uint64_t n = 0;
    for (const auto &[o, s] : live)
      n += s;
    return n;
  }
};

} // namespace ops_model
