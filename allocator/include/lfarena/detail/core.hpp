// lfarena/detail/core.hpp -- allocate/deallocate: argument checks, bump first, then freelist.
//
// This is the whole concurrent allocation path, templated on the memory view so the Relacy
// model checks compile exactly this code (verify/relacy/). It knows nothing of backings, files
// or messages: it returns an errc and the arena (src/arena.cpp) words the message.
//
// Accounting (docs/DESIGN.md §1.6): every byte below the bump word and above data_offset is exactly
// one of live (handed out, not freed), free (on the freelist) or discarded (counted in
// hdr::discarded: alignment padding and freed pieces the freelist does not keep). The split in
// split_segment() (segment.hpp) and the cases below are the only places that move bytes between
// them.
//
// Thread-safety: allocate/deallocate are lock-free and may run concurrently from any thread or
// process mapping the region.
#pragma once

#include <cstdint>

#include "lfarena/detail/atomic.hpp"
#include "lfarena/detail/bump.hpp"
#include "lfarena/detail/checked.hpp"
#include "lfarena/detail/free_cache.hpp"
#include "lfarena/detail/header.hpp"
#include "lfarena/detail/segregated_policy.hpp"
#include "lfarena/detail/sorted_policy.hpp"
#include "lfarena/errc.hpp"

namespace lfarena::detail {

struct RawBlock {
  std::uint32_t offset = 0;
  std::uint32_t size = 0;
};

template <class Mem> class Core {
public:
  // `exact_sizes`: Options::exact_sizes (a split remainder below min_segment is discarded
  // instead of coming with the block).
  Core(Mem mem, const Geometry &g, bool exact_sizes = false)
      : mem_(mem), geo_(g), bump_(mem, g.capacity), sorted_(mem, g), segregated_(mem, g),
        cache_(mem, g, segregated_), map_(mem, g.bitmap_offset, g.capacity),
        uses_segregated_(g.freelist_kind == FreelistKind::segregated), exact_(exact_sizes) {}

  // A new node key (node.hpp), for Arena::reset() at quiescence: every node word written
  // under the old one, wherever it still lies in the data area, fails its checks from now on.
  // The header's key is the caller's to write.
  void rekey(std::uint64_t key) {
    Geometry g = geo_;
    g.node_key = key;
    *this = Core(mem_, g, exact_);
  }

  // On errc::corrupt_freelist, out.offset is the offset of the damaged free node.
  // `exact`: this call's block is exactly the rounded size even without exact_sizes.
  [[gnu::always_inline]] errc allocate(std::uint32_t size, std::uint32_t align, RawBlock &out,
                                       bool exact = false) const {
    if (size == 0)
      return errc::zero_size;
    if (align == 0 || (align & (align - 1)) != 0 || align > geo_.max_alignment)
      return errc::bad_alignment;
    if (align < kGranule)
      align = kGranule;
    const std::uint64_t rounded = align_up(size, kGranule);
    if (rounded + align > geo_.capacity)
      return errc::size_overflow;
    const auto sz = static_cast<std::uint32_t>(rounded);

    const BumpGrab grab = bump_.allocate(sz, align);
    if (grab.offset != 0) {
      if (grab.pad != 0)
        keep(grab.offset - grab.pad, grab.pad);
      out = {grab.offset, sz};
    } else {
      if (!has_freelist())
        return errc::out_of_memory;
      auto keep_piece = [this](std::uint32_t o, std::uint32_t s) { keep(o, s); };
      const Taken t = uses_segregated_ ? segregated_.take(sz, align, keep_piece)
                                       : sorted_.take(sz, align, keep_piece);
      if (t.damaged != 0) {
        out = {t.damaged, 0};
        return errc::corrupt_freelist;
      }
      if (t.offset == 0)
        return errc::out_of_memory;
      std::uint32_t discarded = t.discarded;
      out = {t.offset, t.size};
      if ((exact_ || exact) &&
          t.size > sz) { // the remainder below min_segment: discarded, not handed out
        discarded += t.size - sz;
        out.size = sz;
      }
      if (discarded != 0)
        discard(discarded);
    }
    if (checked())
      map_.on_allocate(out.offset, out.size);
    unpoison_bytes(mem_, out.offset, out.size);
    return errc::ok;
  }

  // On errc::corrupt_freelist, *damaged_at (if given) is the offset of the damaged free node;
  // the freed bytes are then counted as discarded.
  // `cache`: the calling thread's free cache block (free_cache.hpp; 0: none), which takes the
  // block if its size has a cache class.
  errc deallocate(std::uint32_t offset, std::uint32_t size, std::uint32_t *damaged_at = nullptr,
                  std::uint32_t cache = 0) const {
    if (offset == 0)
      return errc::null_offset;
    if (size == 0)
      return errc::zero_size;
    const std::uint64_t rounded = align_up(size, kGranule);
    if (offset < geo_.data_offset || offset + rounded > bump_.top())
      return errc::offset_out_of_range;
    if (offset % kGranule != 0)
      return errc::not_block_start;
    const auto sz = static_cast<std::uint32_t>(rounded);
    if (checked()) {
      if (errc e = map_.on_free(offset, sz); e != errc::ok)
        return e;
    }
    poison_bytes(mem_, offset, sz); // free again: the user's accesses are errors from now on
    if (bump_.try_rollback(offset, sz))
      return errc::ok;
    Fault fault;
    const bool cached = cache != 0 && cache_class_size(sz, geo_);
    const Inserted r = give_back(offset, sz, fault, cached ? cache : 0);
    std::uint32_t at = 0;
    const errc e = freed(r, fault, offset, sz, at);
    if (damaged_at != nullptr)
      *damaged_at = at;
    return e;
  }

  // The free fast path of Arena::deallocate for a thread with a free cache (free_cache.hpp):
  // a block strictly inside the allocated range goes to the thread's cache `cache`. The
  // caller has tested the rest (ArenaState::cache_free_from/span, arena.hpp): an unchecked
  // arena whose caches use the array layout (so the entry is pushed without testing the
  // layout), a size of a cache class whose rounded block is at least min_segment. false: the
  // block is not inside that range (nothing was done; deallocate() handles the call,
  // including a rollback of the block just below the bump offset). true: done, *e is the
  // result as deallocate() would return it (*damaged_at names a damaged node).
  [[gnu::always_inline]] bool cache_free(std::uint32_t cache, std::uint32_t offset,
                                         std::uint32_t size, errc &e,
                                         std::uint32_t &damaged_at) const {
    const std::uint32_t sz = granule_up(size); // size < cache_max: bounded
    if (offset < geo_.data_offset || offset % kGranule != 0 ||
        std::uint64_t{offset} + sz >= bump_.top())
      return false;
    poison_bytes(mem_, offset, sz); // free again: the user's accesses are errors from now on
    Fault fault;
    const Inserted r = settled(cache_.push_array(cache, offset, sz, fault), offset, sz, fault);
    e = freed(r, fault, offset, sz, damaged_at);
    return true;
  }

  // The bump-only fast path for validated arguments (size a non-zero multiple of kGranule,
  // align a power of two in [kGranule, max_alignment]); false: use allocate(). Inlined into
  // the caller's Arena::allocate: a call would cost more than the bump itself, and an exhausted
  // bump region (every allocation then served by the freelist) would pay it on every one.
  // `guess`: the caller's guess of the bump word (0: none), its new value on success (bump.hpp).
  [[gnu::always_inline]] bool bump_fast(std::uint32_t size, std::uint32_t align, RawBlock &out,
                                        std::uint64_t &guess) const {
    const BumpGrab grab = bump_.allocate(size, align, guess);
    if (grab.offset == 0)
      return false;
    if (grab.pad != 0)
      keep(grab.offset - grab.pad, grab.pad);
    if (checked())
      map_.on_allocate(grab.offset, size);
    unpoison_bytes(mem_, grab.offset, size);
    out = {grab.offset, size};
    return true;
  }

  // A block of exactly `size` bytes (a multiple of kGranule with a cache class) from the free
  // cache `cache` (free_cache.hpp) of the calling thread, recorded as allocated; 0 if the class
  // is empty or its first node is damaged (then *damaged names it).
  // kArrays: for Arena::allocate's inline path, which runs only where the caches use the array
  // layout (ArenaState::fast_id): the entry is popped without testing the layout.
  // note_allocated()'s test of checked() stays, although that path never sees a checked arena:
  // without it (and its out-of-line call) GCC kept the benchmark loop's shared-bump guess on
  // the stack, reloaded just before the bump CAS (callgrind: 79 instead of 72 instructions per
  // lfarena-heap bump, 6 fewer per churn pair).
  template <bool kArrays = false>
  [[gnu::always_inline]] std::uint32_t cache_take(std::uint32_t cache, std::uint32_t size,
                                                  std::uint32_t &damaged) const {
    const std::uint32_t o =
        kArrays ? cache_.pop_array(cache, size, damaged) : cache_.pop(cache, size, damaged);
    if (o != 0)
      note_allocated(o, size);
    return o;
  }
  // A block of exactly `size` bytes (a cached size) for a thread whose cache class and chunk
  // are empty: the top of the shared stack of that size, recorded as allocated, and up to
  // `batch` - 1 more (at most half the class's cache limit in all) moved into the thread's
  // cache `cache`, all popped with one CAS (SegregatedPolicy::pop_run), so its next
  // allocations of this size are cache pops instead of slow-path calls. (A producer whose
  // blocks another thread frees took every block through the slow path: about 480
  // instructions each; then a pop each.) 0 if the stack is empty or its top is damaged
  // (*damaged names it). A damaged node met after the first ends the run and is left on the
  // stack for the next pop to report. A crash between the CAS and the cache's store leaks the
  // run (in flight, as a search()'s held nodes). Moved nodes stay free (the accounting does
  // not change); other threads may
  // find the stack emptier meanwhile: the batch starts again from 1 whenever the thread
  // answers cache pressure (thread_chunk.hpp CachePolicy, docs/DESIGN.md §5.11).
  std::uint32_t cache_refill(std::uint32_t cache, std::uint32_t size, std::uint32_t batch,
                             std::uint32_t &damaged) const {
    // The class was empty (the caller's cache pop found nothing) and gets at most half its
    // limit: no spill. The handed-out block itself needs no room (a class without entries).
    const std::uint32_t half = cache_.limit(size) / 2, most = half != 0 ? half : 1;
    return cache_refill_run(cache, size, batch < most ? batch : most, damaged);
  }
  // The same for a batch the caller bounded (the model checks take runs longer than their
  // small region's cache limits allow).
  std::uint32_t cache_refill_run(std::uint32_t cache, std::uint32_t size, std::uint32_t batch,
                                 std::uint32_t &damaged) const {
    if (cache_.arrays()) { // the handed-out block takes no entry; the rest must fit
      const std::uint32_t room = cache_.room(cache, size) + 1;
      batch = batch < room ? batch : room;
    }
    const auto run = segregated_.pop_run(size, batch, damaged);
    if (run.count == 0)
      return 0;
    // The rest of the run is already a chain of free nodes of this size in the cache's format:
    // it becomes the class's content with two stores.
    if (run.count > 1)
      cache_.adopt(cache, run.second, run.last, run.count - 1, size);
    // Recorded last: a crash during the moves leaves the block in flight, not marked live.
    note_allocated(run.first, size);
    return run.first;
  }
  const FreeCache<Mem> &free_cache() const { return cache_; }

  // For thread-local chunks (thread_chunk.hpp): reserve a chunk from the bump region, record a
  // block handed out of a chunk, give unused bytes back.
  BumpGrab reserve(std::uint32_t size) const { return bump_.allocate(size, kGranule); }
  void note_allocated(std::uint32_t offset, std::uint32_t size) const {
    if (checked())
      map_.on_allocate(offset, size);
    unpoison_bytes(mem_, offset, size);
  }
  // The inline chunk path's space (Arena::allocate), which runs only in unchecked arenas
  // (ArenaState::fast_id): recording a block there is ASan's unpoisoning alone, without
  // note_allocated()'s test of checked() (callgrind: 3 instructions per chunk allocation).
  struct UncheckedChunkSpace {
    const Core &core;
    void note_allocated(std::uint32_t offset, std::uint32_t size) const {
      unpoison_bytes(core.mem_, offset, size);
    }
  };
  UncheckedChunkSpace unchecked_chunk_space() const { return {*this}; }
  void release(std::uint32_t offset, std::uint32_t size) const {
    if (size == 0 || bump_.try_rollback(offset, size))
      return;
    keep(offset, size);
  }
  // Relaxed: a statistic, read at quiescence (after joins) or as an approximate stat.
  void discard(std::uint32_t bytes) const { fetch_add_relaxed(mem_.word(hdr::discarded), bytes); }

  bool checked() const { return geo_.bitmap_offset != 0; }
  bool has_freelist() const { return geo_.freelist_kind != FreelistKind::none; }
  std::uint64_t discarded() const { return load_relaxed(mem_.word(hdr::discarded)); }
  std::uint64_t top() const { return bump_.top(); }
  bool uses_segregated() const { return uses_segregated_; }
  const SortedPolicy<Mem> &sorted() const { return sorted_; }
  const SegregatedPolicy<Mem> &segregated() const { return segregated_; }
  const BlockMap<Mem> &block_map() const { return map_; }
  const Geometry &geometry() const { return geo_; }
  const Mem &memory() const { return mem_; }

private:
  // Bytes we own and will not hand out: keep them on the freelist if it wants them, else count
  // them as discarded. A damaged list cannot take them: they are counted as discarded as well
  // (the accounting stays exact) and the damage is reported. `duplicate`: the freelist already
  // holds a segment at `offset` (an unchecked double free it caught); nothing changed.
  // `cache`: the calling thread's free cache block, which takes the segment instead of the
  // shared lists (0: none; free_cache.hpp).
  [[gnu::always_inline]] Inserted give_back(std::uint32_t offset, std::uint32_t size, Fault &fault,
                                            std::uint32_t cache = 0) const {
    if (!has_freelist() || size < geo_.min_segment) {
      discard(size);
      return Inserted::ok;
    }
    if (cache != 0)
      return cache_push(cache, offset, size, fault);
    return settled(uses_segregated_ ? segregated_.insert(offset, size)
                                    : sorted_.insert(offset, size, fault),
                   offset, size, fault);
  }
  // give_back() to the free cache `cache` of a segment its caller has already found cacheable
  // (cache_free(): a segregated arena, size >= min_segment), without testing that again.
  [[gnu::always_inline]] Inserted cache_push(std::uint32_t cache, std::uint32_t offset,
                                             std::uint32_t size, Fault &fault) const {
    return settled(cache_.push(cache, offset, size, fault), offset, size, fault);
  }
  // A damaged list could not take the segment: its bytes are counted as discarded.
  [[gnu::always_inline]] Inserted settled(Inserted r, std::uint32_t offset, std::uint32_t size,
                                          Fault &fault) const {
    if (r == Inserted::damaged) {
      discard(size);
      if (fault.at == 0) // the top (stack or cache) is the segment itself
        fault.at = offset;
    }
    return r;
  }
  // What a free returns after give_back() said `r` about the freed block [offset, offset+size):
  // deallocate()'s and cache_free()'s one rule. damaged_at: the damaged node, if any.
  [[gnu::always_inline]] errc freed(Inserted r, Fault fault, std::uint32_t offset,
                                    std::uint32_t size, std::uint32_t &damaged_at) const {
    switch (r) {
    case Inserted::ok:
      return errc::ok;
    case Inserted::duplicate:
      if (!checked())
        return errc::double_free; // unchecked: a real double free, caught by luck
      // Checked mode ruled a double free out before: a list that holds this live block (a
      // damaged link installed it) is damage. The bytes are ours: counted as discarded.
      discard(size);
      fault.at = offset;
      break;
    case Inserted::damaged:
      break;
    }
    damaged_at = fault.at;
    return errc::corrupt_freelist;
  }
  // give_back() for pieces that are ours for certain (padding, split remainders, chunk tails):
  // damage found meanwhile is left for the next operation that meets it to report.
  void keep(std::uint32_t offset, std::uint32_t size) const {
    Fault fault;
    (void)give_back(offset, size, fault);
  }
  Mem mem_;
  Geometry geo_;
  Bump<Mem> bump_;
  SortedPolicy<Mem> sorted_;         // optimistic, pessimistic
  SegregatedPolicy<Mem> segregated_; // segregated
  FreeCache<Mem> cache_;             // segregated with thread caches
  BlockMap<Mem> map_;
  bool uses_segregated_;
  bool exact_;
};

} // namespace lfarena::detail
