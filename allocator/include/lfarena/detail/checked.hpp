// lfarena/detail/checked.hpp -- checked mode: O(1), lock-free detection of bad frees.
//
// Two side bitmaps inside the region (at hdr::bitmap_offset), indexed by granule (offset / 8):
//  - the state map, 2 bits per granule: 00 nothing starts here, 01 a live block starts here,
//    10 a block that started here was freed (and nothing was allocated over it since);
//  - the end map, 1 bit per granule: the last granule of a live block.
// A free first classifies the start (00 -> not_block_start, 10 -> double_free), then checks the
// size against the end map and the state map (wrong_size: no end mark at its last granule, or an
// end mark or a block start inside it), then moves the state 01 -> 10 with one CAS, so of two
// threads freeing the same block exactly one wins and the other gets double_free.
// Checking the size scans both maps over the block (size / 512 and size / 256 words: O(1) for
// small blocks).
//
// Thread-safety: on_allocate/on_free may run concurrently for different blocks and for the same
// block (the double-free race). for_each_live() is for quiescent checks only.
#pragma once

#include <bit>
#include <cstdint>

#include "lfarena/detail/atomic.hpp"
#include "lfarena/detail/crash_point.hpp"
#include "lfarena/detail/header.hpp"
#include "lfarena/detail/mutant.hpp"
#include "lfarena/errc.hpp"

namespace lfarena::detail {

// Bytes of the state map (2 bits per granule) of a region of `capacity` bytes.
inline constexpr std::uint32_t state_map_bytes(std::uint32_t capacity) {
  const std::uint64_t granules = (std::uint64_t{capacity} + kGranule - 1) / kGranule;
  return static_cast<std::uint32_t>((granules + 31) / 32 * 8);
}
// Bytes of both bitmaps (state map, then end map with 1 bit per granule).
inline constexpr std::uint32_t checked_map_bytes(std::uint32_t capacity) {
  const std::uint64_t granules = (std::uint64_t{capacity} + kGranule - 1) / kGranule;
  return state_map_bytes(capacity) + static_cast<std::uint32_t>((granules + 63) / 64 * 8);
}

template <class Mem> class BlockMap {
public:
  static constexpr std::uint64_t kLive = 1;
  static constexpr std::uint64_t kFreed = 2;
  static constexpr std::uint64_t kImpossible = 3; // never written: damage

  BlockMap(Mem mem, std::uint32_t bitmap_offset, std::uint32_t capacity)
      : mem_(mem), state_at_(bitmap_offset), end_at_(bitmap_offset + state_map_bytes(capacity)) {}

  // Records a block we now own. Clears stale "freed" marks and stray end marks inside it, sets
  // its end mark, and only then marks its start live: a live start always has its end mark, so
  // a crash at any point leaves either nothing, or an end mark with no live start, which
  // recovery clears (repair()). The other order let a crash leave a live start without an end,
  // which recovery could pair with a later block's stale end mark.
  void on_allocate(std::uint32_t offset, std::uint32_t size) const {
    const std::uint32_t g = offset / kGranule, last = g + size / kGranule - 1;
    clear_states(g + 1, last);
    // Stray end marks inside the block (a damaged file, or a crash between a free's two steps)
    // would make its correct size look wrong; the block owns these granules now.
    clear_ends(g, last);
    // acq_rel on every bitmap RMW: the bitmap words are shared by neighbouring blocks, and a
    // later free of this block (in another thread, after the user handed the offset over with
    // its own synchronisation) must see these bits.
    fetch_or_acq_rel(end_word(last), std::uint64_t{1} << (last % 64));
    LFARENA_CRASH_POINT(checked_end_marked);
    std::uint64_t word = load_relaxed(state_word(g));
    for (;;) {
      const std::uint64_t desired = (word & ~(std::uint64_t{3} << shift2(g))) | kLive << shift2(g);
      if (cas_acq_rel(state_word(g), word, desired))
        break;
    }
    LFARENA_CRASH_POINT(checked_allocated);
  }

  errc on_free(std::uint32_t offset, std::uint32_t size) const {
    const std::uint32_t g = offset / kGranule, last = g + size / kGranule - 1;
    atomic_u64 &sw = state_word(g);
    std::uint64_t word = load_acquire(sw);
    if (errc e = classify(word, g); e != errc::ok)
      return e;
    // A block start inside the block is damage or a wrong size: on_allocate cleared them all.
    // (Seen only when an end mark was lost too, else the end marks above say so already: a
    // free of a block whose end mark was lost, with its live neighbour's size added, freed the
    // neighbour under its owner.)
    if (!end_bit(last) || any_end_bit(g, last) || any_state(g + 1, last)) {
      // A concurrent winner clears the end bit after its state CAS; if we saw that, our acquire
      // synchronised with it and this re-read sees the state it left: report the double free.
      if (errc e = classify(load_acquire(sw), g); e != errc::ok)
        return e;
      return errc::wrong_size;
    }
    const std::uint64_t mask = std::uint64_t{3} << shift2(g);
    for (;;) {
      if (errc e = classify(word, g); e != errc::ok)
        return e; // lost the race
      const std::uint64_t desired = (word & ~mask) | kFreed << shift2(g);
      if constexpr (LFARENA_SEEDED_BUG(double_free_load_store)) {
        store_release(sw, desired); // seeded bug: two frees can both pass the check above
        break;
      }
      // acq_rel: the winner's transition is the single point that decides the race.
      if (cas_acq_rel(sw, word, desired))
        break;
    }
    LFARENA_CRASH_POINT(checked_start_freed);
    fetch_and_acq_rel(end_word(last), ~(std::uint64_t{1} << (last % 64)));
    LFARENA_CRASH_POINT(checked_freed);
    return errc::ok;
  }

  // Quiescent: is [offset, offset + size) exactly one live block (its start live, its end mark
  // on its last granule and on no granule before)?
  bool is_live_block(std::uint32_t offset, std::uint32_t size) const {
    const std::uint32_t g = offset / kGranule, last = (offset + size) / kGranule - 1;
    return size >= kGranule && state(g) == kLive && end_bit(last) && !any_end_bit(g, last);
  }

  // What for_each_live() found wrong: the live start at `start` has no end mark before the
  // limit (inside == 0), or the granule at `inside` inside its block has a state of its own (a
  // block start: on_allocate clears them all, so only damage puts one there, e.g. a lost end
  // mark that made two neighbours look like one block).
  struct LiveFault {
    std::uint32_t start = 0;
    std::uint32_t inside = 0;
  };
  // Quiescent: visit(offset, size) for each live block, in offset order, for granules
  // [first, limit). Returns false at the first LiveFault (stored in *fault if given).
  template <class Visit>
  bool for_each_live(std::uint32_t first, std::uint32_t limit, Visit &&visit,
                     LiveFault *fault = nullptr) const {
    const std::uint32_t end = limit / kGranule;
    for (std::uint32_t g = first / kGranule; g < end; ++g) {
      if (state(g) != kLive)
        continue;
      std::uint32_t e = g;
      while (e < end && !end_bit(e))
        if (++e < end && state(e) != 0) {
          if (fault != nullptr)
            *fault = {g * kGranule, e * kGranule};
          return false;
        }
      if (e >= end) {
        if (fault != nullptr)
          *fault = {g * kGranule, 0};
        return false;
      }
      visit(g * kGranule, (e - g + 1) * kGranule);
      g = e;
    }
    return true;
  }

  // Crash recovery and salvage, exclusive access only (src/recovery.hpp): within [first,
  // limit), a live start with no end mark before the next block start (live or freed) is an
  // allocation that never returned (dropped: state cleared); an end mark closing no live block
  // is a free or an allocation in flight (cleared); the state 3, which nothing writes, is
  // damage (cleared and counted dropped: check() refused it after an open had accepted it,
  // and no repair cleared it, helper-27). A freed start ends the search for an open block's end:
  // granules inside a live block have no state (on_allocate clears them before its start goes
  // live), so a freed start belongs to a later block whose stale end mark must not be taken.
  void repair(std::uint32_t first, std::uint32_t limit, std::uint64_t &dropped,
              std::uint64_t &stray) const {
    constexpr std::uint32_t kNone = ~std::uint32_t{0};
    std::uint32_t open = kNone;
    auto drop = [&](std::uint32_t g) {
      store_relaxed(state_word(g), load_relaxed(state_word(g)) & ~(std::uint64_t{3} << shift2(g)));
      ++dropped;
    };
    for (std::uint32_t g = first / kGranule; g < limit / kGranule; ++g) {
      const std::uint64_t st = state(g);
      if (st != 0) { // a block start of some kind: an open block before it has no end
        if (open != kNone)
          drop(open);
        open = st == kLive ? g : kNone;
        if (st == kImpossible) // damage: the block it may have started is dropped (its end
          drop(g);             // mark is then a stray, cleared below)
      }
      if (end_bit(g)) {
        if (open == kNone) {
          fetch_and_acq_rel(end_word(g), ~(std::uint64_t{1} << (g % 64)));
          ++stray;
        } else {
          open = kNone;
        }
      }
    }
    if (open != kNone)
      drop(open);
  }

  // Quiescent: the first granule at or above `from` (a granule index) with a live start or an
  // end mark, or any granule with the impossible state 3; ~0u if the maps are clean. Above the
  // bump offset nothing is allocated, so those marks are damage; a "freed" start may be there
  // legitimately (a rolled-back block leaves one) and is harmless.
  std::uint32_t first_stray(std::uint32_t from, std::uint32_t granules) const {
    for (std::uint32_t g = 0; g < granules; ++g) {
      const std::uint64_t st = state(g);
      if (st == kImpossible || (g >= from && (st == kLive || end_bit(g))))
        return g;
    }
    return ~std::uint32_t{0};
  }

  // Quiescent: the first granule below `granules` with the state 3, which nothing writes (a
  // damaged bitmap); ~0u if none. A word at a time: every sole open of a checked file that was
  // closed cleanly runs it over the whole map (file_open.cpp validate_free_space).
  std::uint32_t first_impossible(std::uint32_t granules) const {
    for (std::uint32_t g = 0; g < granules; g += 32) {
      const std::uint64_t both = impossible_bits(load_acquire(state_word(g)));
      if (both != 0) {
        const std::uint32_t at = g + static_cast<std::uint32_t>(std::countr_zero(both)) / 2;
        return at < granules ? at : ~std::uint32_t{0};
      }
    }
    return ~std::uint32_t{0};
  }

  // Exclusive access only (recovery and salvage, after repair(), which handles those in its
  // range): clears every state 3 among the first `granules`; returns how many it cleared.
  std::uint64_t clear_impossible(std::uint32_t granules) const {
    std::uint64_t cleared = 0;
    for (std::uint32_t g = 0; g < granules; g += 32) {
      const std::uint64_t w = load_relaxed(state_word(g));
      const std::uint64_t both = impossible_bits(w);
      if (both != 0) {
        store_relaxed(state_word(g), w & ~(both | both << 1));
        cleared += static_cast<std::uint64_t>(std::popcount(both));
      }
    }
    return cleared;
  }

  // Quiescent: the first granule at or above `from` with a live start or an end mark; ~0u if
  // none. Skips 64-granule stretches without either (freed starts do not stop it) a word at a
  // time: every sole open of a checked file runs it from the bump offset to the end of the
  // region (free_scan.cpp).
  std::uint32_t first_mark_from(std::uint32_t from, std::uint32_t granules) const {
    for (std::uint32_t g = from; g < granules;) {
      if (g % 64 == 0 && granules - g >= 64 && !any_live_or_end(g)) {
        g += 64;
        continue;
      }
      if (state(g) == kLive || end_bit(g))
        return g;
      ++g;
    }
    return ~std::uint32_t{0};
  }

  // Quiescent: the start granule of a live block in [first, before) with no end mark below
  // `before` (granule indexes: the data offset's and the bump offset's), or ~0u if every live
  // start there is closed. The last live start or end mark below the bump offset must be an end
  // mark: allocations set the end mark before the live start (on_allocate()), so no crash
  // leaves a live start open there. An open one is damage: the bump word was lowered into a
  // live block whose end mark is lost too (two faults, helper-33), and trusting it would hand
  // the block's upper part out again. Below `first` (the header) nothing is ever marked, and
  // repair() does not look there: a flipped bit there must not make a file unopenable for good
  // (helper-34).
  std::uint32_t unclosed_below(std::uint32_t first, std::uint32_t before) const {
    for (std::uint32_t g = before; g > first;) {
      if (g % 64 == 0 && g - 64 >= first && !any_live_or_end(g - 64)) {
        g -= 64;
        continue;
      }
      --g;
      if (end_bit(g))
        return ~std::uint32_t{0};
      if (state(g) == kLive)
        return g;
    }
    return ~std::uint32_t{0};
  }

  std::uint64_t state(std::uint32_t g) const {
    return (load_acquire(state_word(g)) >> shift2(g)) & 3;
  }

private:
  static unsigned shift2(std::uint32_t g) { return (g % 32) * 2; }
  // The low bit of every 2-bit state 3 in a state word.
  static std::uint64_t impossible_bits(std::uint64_t w) {
    return w & (w >> 1) & 0x5555555555555555ull;
  }
  // The low bit of every live state (1) in a state word.
  static std::uint64_t live_bits(std::uint64_t w) { return w & ~(w >> 1) & 0x5555555555555555ull; }
  // Whether any of the 64 granules from `g` (a multiple of 64) holds a live start or an end
  // mark: freed starts, which stay behind every free, do not count.
  bool any_live_or_end(std::uint32_t g) const {
    return load_acquire(end_word(g)) != 0 || live_bits(load_acquire(state_word(g))) != 0 ||
           live_bits(load_acquire(state_word(g + 32))) != 0;
  }
  atomic_u64 &state_word(std::uint32_t g) const { return mem_.word(state_at_ + (g / 32) * 8); }
  atomic_u64 &end_word(std::uint32_t g) const { return mem_.word(end_at_ + (g / 64) * 8); }
  bool end_bit(std::uint32_t g) const { return (load_acquire(end_word(g)) >> (g % 64)) & 1; }

  static errc classify(std::uint64_t word, std::uint32_t g) {
    const std::uint64_t s = (word >> shift2(g)) & 3;
    if (s == kLive)
      return errc::ok;
    return s == kFreed ? errc::double_free : errc::not_block_start;
  }

  // Any end bit in granules [from, to)?
  bool any_end_bit(std::uint32_t from, std::uint32_t to) const {
    for (std::uint32_t g = from; g < to;) {
      const std::uint32_t in_word = 64 - g % 64;
      const std::uint32_t n = to - g < in_word ? to - g : in_word;
      const std::uint64_t bits = n == 64 ? ~std::uint64_t{0} : ((std::uint64_t{1} << n) - 1);
      if ((load_acquire(end_word(g)) >> (g % 64)) & bits)
        return true;
      g += n;
    }
    return false;
  }

  // Clears the end marks of granules [from, to).
  void clear_ends(std::uint32_t from, std::uint32_t to) const {
    for (std::uint32_t g = from; g < to;) {
      const std::uint32_t in_word = 64 - g % 64;
      const std::uint32_t n = to - g < in_word ? to - g : in_word;
      const std::uint64_t bits = n == 64 ? ~std::uint64_t{0} : ((std::uint64_t{1} << n) - 1);
      const std::uint64_t mask = bits << (g % 64);
      if (load_relaxed(end_word(g)) & mask)
        fetch_and_acq_rel(end_word(g), ~mask);
      g += n;
    }
  }

  // Calls f(word, mask) for each state-map word holding granules [from, to] (none if from > to),
  // `mask` selecting their bits, until f returns true; returns whether it did.
  template <class F> bool each_state_mask(std::uint32_t from, std::uint32_t to, F &&f) const {
    for (std::uint32_t g = from; g <= to && from <= to;) {
      const std::uint32_t in_word = 32 - g % 32;
      const std::uint32_t n = to - g + 1 < in_word ? to - g + 1 : in_word;
      const std::uint64_t bits = n == 32 ? ~std::uint64_t{0} : ((std::uint64_t{1} << (2 * n)) - 1);
      if (f(state_word(g), bits << shift2(g)))
        return true;
      g += n;
    }
    return false;
  }

  // Any state (a live or freed block start) in granules [from, to]?
  bool any_state(std::uint32_t from, std::uint32_t to) const {
    return each_state_mask(
        from, to, [](atomic_u64 &w, std::uint64_t mask) { return load_acquire(w) & mask; });
  }

  void clear_states(std::uint32_t from, std::uint32_t to) const {
    each_state_mask(from, to, [](atomic_u64 &w, std::uint64_t mask) {
      if (load_relaxed(w) & mask)
        fetch_and_acq_rel(w, ~mask);
      return false;
    });
  }

  Mem mem_;
  std::uint32_t state_at_;
  std::uint32_t end_at_;
};

} // namespace lfarena::detail
