// arena.cpp -- assembling an arena: backings + header + core (heap and anonymous here; files in
// file_open.cpp), and the non-hot Arena members.
//
// Thread-safety: factories are independent; members follow arena.hpp's contract.
#include "lfarena/arena.hpp"

#include <algorithm>
#include <atomic>

#include "arena_factory.hpp"
#include "format.hpp"
#include "lfarena/detail/chunk.hpp"
#include "lfarena/detail/free_cache.hpp"
#include "process.hpp"

namespace lfarena {

namespace detail {

namespace {
std::atomic<std::uint64_t> g_next_arena_id{1};

// The largest size the thread caches hold; 0: none. Cached sizes must also take the chunk fast
// path (size <= thread_chunk / 4) and fit the arena's class budget twice (cache_size_limit());
// no cache when no class can hold a block (min_segment above them all).
std::uint32_t cache_max_for(const Geometry &g, const Options &o, bool ro) {
  if (ro || !g.thread_cache || o.thread_chunk == 0)
    return 0;
  const std::uint32_t top =
      std::min({cache_max_size(g), cache_size_limit(g), o.thread_chunk / 4 / kGranule * kGranule});
  return g.min_segment > top ? 0 : top;
}
// Whether Arena's inline cache and chunk paths serve this arena (ArenaState::fast_id): not in
// a checked arena (the bitmap), nor where the free caches use the chain layout.
bool inline_paths(const Core<RegionWords> &core, std::uint32_t cache_max) {
  return !core.checked() && (cache_max == 0 || core.geometry().cache_array);
}
} // namespace

ArenaState::ArenaState(AnyBacking b, std::byte *base_, bool ro, const Geometry &g, Options o,
                       std::string n)
    : ChunkHost(base_, g_next_arena_id.fetch_add(1, std::memory_order_relaxed), o.thread_chunk,
                cache_max_for(g, o, ro)),
      backing(std::move(b)), read_only(ro), core(RegionWords{base_}, g, o.exact_sizes), options(o),
      name(std::move(n)), fast_size_limit(ro ? 0 : g.capacity & ~(kGranule - 1)),
      fast_align_limit(ro ? 0 : g.max_alignment), chunk_limit(ro ? 0 : o.thread_chunk / 4),
      fast_id(inline_paths(core, cache_max) ? id : ~std::uint64_t{0}),
      // A size rounds up to min_segment or more from min_segment - 7 on (min_segment >= 16,
      // a multiple of kGranule; cache_max is 0 or at least min_segment).
      cache_free_from(g.min_segment - (kGranule - 1)),
      cache_free_span(
          cache_max == 0 || !inline_paths(core, cache_max) ? 0 : cache_max - cache_free_from + 1) {
  register_arena(this);
  // ASan builds: the bytes above the bump offset were never handed out (memory.hpp).
  const std::uint64_t top = core.top();
  poison_bytes(RegionWords{base}, static_cast<std::uint32_t>(top),
               static_cast<std::uint32_t>(g.capacity - top));
}

ArenaState::~ArenaState() {
  unregister_arena(this);
  struct Unpoison { // the memory goes back to the heap or the kernel unpoisoned
    std::byte *base;
    std::uint32_t capacity;
    ~Unpoison() { unpoison_bytes(RegionWords{base}, 0, capacity); }
  } unpoison{base, core.geometry().capacity};
  if (read_only)
    return;
  // Our threads' chunk tails go back (threads that still cache this arena can no longer reach
  // it: their weak references are expired and arena ids are never reused).
  release_opener_chunks(*this);
  // A clean close of a read-write file: uncount ourselves (acq_rel: all our writes to the
  // mapping come before the count drops), then the backing syncs, unmaps and closes the fd,
  // which drops our liveness lock (file_open.cpp).
  if (std::holds_alternative<FileBacking>(backing))
    fetch_add_acq_rel(RegionWords{base}.word(hdr::open_count), ~std::uint64_t{0});
}

Status core_failure(const ArenaState &s, errc code, const char *op, std::uint64_t a,
                    std::uint64_t b, std::uint32_t damaged) {
  return core_error(s, code, op, a, b, damaged);
}

Error core_error(const ArenaState &s, errc code, const char *op, std::uint64_t a, std::uint64_t b,
                 std::uint32_t damaged) {
  const std::string A = std::to_string(a), B = std::to_string(b);
  const Geometry &g = s.core.geometry();
  std::string what;
  switch (code) {
  case errc::zero_size:
    what = "size is 0";
    break;
  case errc::size_overflow:
    what = "size " + A + " with alignment " + B + " exceeds the capacity " +
           std::to_string(g.capacity);
    break;
  case errc::bad_alignment:
    what = "alignment " + B + " is not a power of two <= max_alignment " +
           std::to_string(g.max_alignment);
    break;
  case errc::out_of_memory:
    what = "no room for " + A + " bytes at alignment " + B + " (bump offset " +
           std::to_string(s.core.top()) + " of capacity " + std::to_string(g.capacity) + ")";
    break;
  case errc::null_offset:
    what = "offset 0 is the null handle";
    break;
  case errc::offset_out_of_range:
    what = "block [" + A + ", " + A + "+" + B + ") is outside the allocated range [" +
           std::to_string(g.data_offset) + ", " + std::to_string(s.core.top()) + ")";
    break;
  case errc::not_block_start:
    what = "offset " + A + " is not the start of a live block";
    break;
  case errc::double_free:
    what = "block at offset " + A + " was already freed";
    break;
  case errc::wrong_size:
    what = "size " + B + " is not the size of the block at offset " + A;
    break;
  case errc::corrupt_freelist:
    what = std::string(op == std::string("allocate") ? "(size " + A + ", alignment " + B + ")"
                                                     : "(offset " + A + ", size " + B + ")") +
           ": the free node at offset " + std::to_string(damaged) +
           " is damaged (a write into a freed block, or a damaged file); check() or "
           "lfarena-check tells more";
    break;
  default:
    what = "failed (" + A + ", " + B + ")";
    break;
  }
  return Error(code, s.name + ": " + op + ": " + what);
}

} // namespace detail

namespace {

template <class B>
Result<Arena> fresh(Result<B> backing, const detail::Layout &l, const Options &o,
                    const char *name) {
  if (!backing)
    return backing.error();
  std::byte *base = backing->base();
  detail::write_header(base, l, o);
  return ArenaFactory::make(std::move(*backing), base, false, l, o, name);
}

} // namespace

Result<Arena> Arena::heap(const Options &o) {
  Result<detail::Layout> l = detail::plan_layout(o);
  if (!l)
    return l.error();
  if (Status s = detail::check_huge_pages(o, "heap"); !s)
    return s.error();
  return fresh(detail::HeapBacking::create(o.capacity, detail::map_hints(o)), *l, o, "heap");
}

Result<Arena> Arena::anonymous(const Options &o) {
  Result<detail::Layout> l = detail::plan_layout(o);
  if (!l)
    return l.error();
  return fresh(detail::AnonymousBacking::create(o.capacity, detail::map_hints(o)), *l, o,
               "anonymous");
}

Result<Block> Arena::allocate_slow(std::uint32_t size, std::uint32_t align, bool exact) const {
  if (state_ == nullptr)
    return empty_handle_error("allocate");
  detail::ArenaState &s = *state_;
  if (s.read_only)
    return read_only_error("allocate");
  detail::answer_cache_pressure(s);
  if (s.chunk_size != 0 && size - 1 < s.chunk_limit && align != 0 && (align & (align - 1)) == 0 &&
      align <= s.core.geometry().max_alignment) {
    const std::uint32_t a = align < detail::kGranule ? detail::kGranule : align;
    const auto need = static_cast<std::uint32_t>(detail::align_up(size, detail::kGranule));
    std::uint32_t damaged = 0;
    if (const std::uint32_t offset = detail::chunk_refill_allocate(s, need, a, damaged);
        offset != 0)
      return Block{offset, need};
    if (damaged != 0)
      return detail::core_error(s, errc::corrupt_freelist, "allocate", size, align, damaged);
  }
  detail::RawBlock b;
  errc e = s.core.allocate(size, align, b, exact);
  // (Freelist `none`: a tail given back below the bump top would be discarded, not reused.)
  if (e == errc::out_of_memory && s.chunk_size != 0 && s.core.has_freelist()) {
    // Before failing: this thread's chunk tail and the blocks its free cache holds go back (the
    // tail to the freelist, the blocks to the shared stacks, where other sizes than theirs may
    // serve this request, split), and the request is tried once more. Other threads' tails and
    // caches are theirs (detail/chunk.hpp, detail/free_cache.hpp): if it still fails, they are
    // asked to give them back at their next free or slow-path allocation, so the next
    // allocation finds them (DESIGN 5.11 "Pressure").
    if (detail::give_back_own_reserve(s))
      e = s.core.allocate(size, align, b, exact);
    // Only for a request their tails (below chunk_size) or cached blocks (an exact cached size
    // at the granule's alignment: the stacks never merge blocks) could serve: a request larger
    // than a chunk would otherwise make every other thread give its share back at every
    // failure, for nothing.
    const std::uint64_t need = detail::align_up(size, detail::kGranule);
    if (e == errc::out_of_memory &&
        (need + align < s.chunk_size || (need <= s.cache_max && align <= detail::kGranule)))
      detail::raise_cache_pressure(s);
  }
  if (e != errc::ok)
    return detail::core_error(s, e, "allocate", size, align, b.offset);
  return Block{b.offset, b.size};
}

namespace {
// The thread-chunk slot whose free cache block starts at `offset`, or -1. A cache block is the
// arena's own bookkeeping, allocated like a block (so checked mode's bitmap marks it): without
// this look-up a checked-mode free of it with its size would succeed and hand its bytes out
// again while the slot still caches nodes in them (DESIGN 5.11). Only files with thread caches
// (elsewhere word 3 is unused and nothing validates it). Relaxed loads: word 3 changes from 0 to
// a block (provisioning) and back to 0 (reset, salvage). Known gap (DESIGN 5.11): a free racing
// the provisioning of the block it names (the bitmap marked, word 3 not yet set) still succeeds.
int cache_block_slot(const detail::ArenaState &s, std::uint32_t offset) {
  const detail::RegionWords mem{s.base};
  for (std::uint32_t n = 0; n < detail::kChunkSlots; ++n) {
    const std::uint64_t w =
        detail::load_relaxed(mem.word(detail::slot_owner_at(n) + detail::kSlotCache));
    if (w != 0 && detail::cache_word_block(w) == offset)
      return static_cast<int>(n);
  }
  return -1;
}

Error cache_block_error(const detail::ArenaState &s, std::uint32_t offset, int slot) {
  return Error(errc::not_block_start,
               s.name + ": deallocate: offset " + std::to_string(offset) +
                   " is the free cache block of thread-chunk slot " + std::to_string(slot) +
                   " (the arena's own bookkeeping), not a block of the caller's");
}
} // namespace

Status Arena::deallocate_slow(std::uint32_t offset, std::uint32_t size) const {
  if (state_ == nullptr)
    return empty_handle_error("deallocate");
  const detail::ArenaState &s = *state_;
  if (s.read_only)
    return read_only_error("deallocate");
  std::uint32_t damaged = 0, cache = 0;
  // A free that answers pressure gives its block to the shared lists too, not to the cache it
  // has just drained.
  const bool answered = detail::answer_cache_pressure(s);
  if (size - 1 < s.cache_max && !answered) {
    // This thread's free cache (detail/free_cache.hpp); found or set up here once. First, so a
    // block provisioned by this very call is known to the look-ups below.
    const detail::ChunkCache &c = detail::tl_chunk;
    cache = c.arena_id == s.id ? c.chunk.cache_at : detail::thread_cache_block(s);
  }
  const detail::Geometry &g = s.core.geometry();
  const bool lookup = s.core.checked() && g.thread_cache;
  // A free that the bitmap would accept for a cache block has exactly its shape: 64-aligned,
  // cache_block_bytes() plus less than min_segment. Only those pay the 64-word look-up up front;
  // any other size of a cache block fails in the bitmap, and the error path names it.
  const std::uint64_t rounded = detail::align_up(size, detail::kGranule);
  if (lookup && offset != 0 && offset % detail::kCacheBlockAlign == 0 &&
      rounded >= detail::cache_block_bytes(g) &&
      rounded < std::uint64_t{detail::cache_block_bytes(g)} + g.min_segment)
    if (const int slot = cache_block_slot(s, offset); slot >= 0)
      return cache_block_error(s, offset, slot);
  if (errc e = s.core.deallocate(offset, size, &damaged, cache); e != errc::ok) {
    if (lookup && offset != 0 &&
        (e == errc::wrong_size || e == errc::not_block_start || e == errc::offset_out_of_range))
      if (const int slot = cache_block_slot(s, offset); slot >= 0)
        return cache_block_error(s, offset, slot);
    return detail::core_error(s, e, "deallocate", offset, size, damaged);
  }
  return {};
}

Error Arena::read_only_error(const char *op) const {
  return Error(errc::read_only, state_->name + ": " + op + ": the arena is open read-only");
}

Error Arena::empty_handle_error(const char *op) {
  return Error(errc::empty_handle,
               std::string(op) + ": empty Arena handle (default-constructed or moved-from)");
}

namespace {
const std::string kEmptyName = "(empty handle)";
const Options kNoOptions{};
const RecoveryReport kNoRecovery{};
} // namespace

const RecoveryReport &Arena::recovery() const {
  return state_ != nullptr ? state_->recovery : kNoRecovery;
}
const Options &Arena::options() const { return state_ != nullptr ? state_->options : kNoOptions; }
const std::string &Arena::name() const { return state_ != nullptr ? state_->name : kEmptyName; }

Result<std::span<std::byte>> Arena::bytes(std::uint32_t offset, std::uint32_t length) const {
  if (state_ == nullptr)
    return empty_handle_error("bytes");
  const auto &g = state_->core.geometry();
  if (offset < g.data_offset || std::uint64_t{offset} + length > g.capacity)
    return Error(errc::offset_out_of_range,
                 state_->name + ": bytes [" + std::to_string(offset) + ", +" +
                     std::to_string(length) + ") are outside the data area [" +
                     std::to_string(g.data_offset) + ", " + std::to_string(g.capacity) + ")");
  return std::span<std::byte>(state_->base + offset, length);
}

Result<std::uint32_t> Arena::offset_of(const void *p) const {
  if (state_ == nullptr)
    return empty_handle_error("offset_of");
  const auto &g = state_->core.geometry();
  const auto addr = reinterpret_cast<std::uintptr_t>(p);
  const auto base = reinterpret_cast<std::uintptr_t>(state_->base);
  if (addr < base + g.data_offset || addr >= base + g.capacity)
    return Error(errc::offset_out_of_range,
                 state_->name + ": pointer is not inside the data area of this arena");
  return static_cast<std::uint32_t>(addr - base);
}

std::span<std::byte> Arena::user_area() const {
  if (state_ == nullptr)
    return {};
  const auto *h = reinterpret_cast<const unsigned char *>(state_->base);
  return {state_->base + detail::get_le32(h + detail::hdr::user_reserved_offset),
          detail::get_le32(h + detail::hdr::user_reserved_size)};
}

Stats Arena::stats() const {
  if (state_ == nullptr)
    return {};
  const auto &g = state_->core.geometry();
  const std::uint64_t top = state_->core.top();
  Stats s;
  s.capacity = g.capacity;
  s.data_offset = g.data_offset;
  s.allocated = top - g.data_offset;
  s.remaining = g.capacity - top;
  s.discarded = state_->core.discarded();
  s.handle_count = static_cast<std::uint64_t>(state_.use_count());
  s.leaked = detail::load_relaxed(detail::RegionWords{state_->base}.word(detail::hdr::leaked));
  return s;
}

Status Arena::flush() const {
  if (state_ == nullptr)
    return empty_handle_error("flush");
  return flush_range(0, state_->core.geometry().capacity);
}

Status Arena::flush_range(std::uint32_t offset, std::uint32_t length) const {
  if (state_ == nullptr)
    return empty_handle_error("flush_range");
  return std::visit([&](auto &b) { return b.flush(offset, length, false); }, state_->backing);
}

Status Arena::flush_async() const {
  if (state_ == nullptr)
    return empty_handle_error("flush_async");
  return std::visit([&](auto &b) { return b.flush(0, state_->core.geometry().capacity, true); },
                    state_->backing);
}

} // namespace lfarena
