// lfarena/arena.hpp -- the one header users include.
//
// An Arena is a cheap, copyable, reference-counted handle to one region ("main memory") of up to
// 4 GiB - 1 bytes, addressed by uint32_t offsets (0 is null and never handed out). The region is
// released (unmapped; a file arena is synced first) when the last handle goes.
//
//   auto arena = lfarena::Arena::open_file("/data/memtable.arena",
//                                          {.capacity = 64 << 20,
//                                           .freelist = lfarena::FreelistKind::pessimistic});
//   if (!arena) { std::cerr << arena.message() << "\n"; return 1; }
//   auto node = arena->allocate(48, 8);            // Result<Block>: {offset, size}
//   std::memcpy(arena->pointer<char>(node->offset), "key", 3);
//   (void)arena->deallocate(node->offset, node->size);
//
// An empty handle (default-constructed or moved-from) is safe to use: every member that returns
// a Result returns errc::empty_handle, the others return empty values (nullptr, zeroed stats).
//
// Thread-safety: every member may be called concurrently on the same or on copied handles,
// except that a handle object itself must not be assigned while another thread uses it.
// allocate/deallocate are lock-free (docs/DESIGN.md §4). check() is meant for quiescent use:
// run concurrently it may report transient inconsistencies.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <span>
#include <string>
#include <utility>
#include <variant>

#include "lfarena/detail/backing.hpp"
#include "lfarena/detail/core.hpp"
#include "lfarena/detail/memory.hpp"
#include "lfarena/detail/thread_chunk.hpp"
#include "lfarena/error.hpp"
#include "lfarena/options.hpp"
#include "lfarena/ref.hpp"
#include "lfarena/stats.hpp"

// The allocation fast path is small; make sure it is inlined into the caller's loop.
#if defined(__GNUC__)
#define LFARENA_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define LFARENA_ALWAYS_INLINE inline
#endif

namespace lfarena {

// A block handed out by allocate(): free it with deallocate(offset, size) using this size. It
// is the requested size rounded up to 8, or more when a freelist segment's remainder was too
// small to keep and came with the block.
struct Block {
  std::uint32_t offset = 0;
  std::uint32_t size = 0;
};

namespace detail {
using AnyBacking = std::variant<HeapBacking, AnonymousBacking, FileBacking>;
struct ArenaState final : ChunkHost, std::enable_shared_from_this<ArenaState> {
  ArenaState(AnyBacking b, std::byte *base_, bool ro, const Geometry &g, Options o, std::string n);
  ArenaState(const ArenaState &) = delete;
  ArenaState &operator=(const ArenaState &) = delete;
  ~ArenaState();

  const Core<RegionWords> &chunk_space() const override { return core; }
  std::weak_ptr<const ChunkHost> weak_host() const override { return weak_from_this(); }

  AnyBacking backing; // (base, id and chunk_size: ChunkHost)
  bool read_only;
  Core<RegionWords> core;
  Options options;  // as stored in the header (for reopened files) or as given
  std::string name; // file path, or "heap"/"anonymous" for messages
  RecoveryReport recovery;
  // Precomputed bounds of Arena::allocate's inline fast path (size - 1 and align - 1 must be
  // below them): 0 for a read-only arena, so every call takes the slow path and its error.
  std::uint32_t fast_size_limit;  // capacity
  std::uint32_t fast_align_limit; // max_alignment
  std::uint32_t chunk_limit;      // thread_chunk / 4: larger blocks skip the chunks
  // The id the inline cache and chunk paths compare this thread's arena id with: `id`, or ~0
  // (which no thread has) in a checked arena and in one whose free caches use the chain layout
  // (files without kFeatureCacheArray). Those arenas' chunk and cache allocations go through
  // allocate_slow(), which marks the bitmap and handles either layout, so the inline chunk path
  // tests neither and the cache path not the layout (callgrind: 3 and 2 instructions).
  std::uint64_t fast_id;
  // Arena::deallocate's inline cache free takes sizes in [cache_free_from, cache_free_from +
  // cache_free_span): those cache_max takes whose rounded size is at least min_segment, in an
  // arena that fast_id admits (span 0 otherwise: checked frees go through the slow path's
  // bitmap, chain-layout ones through its layout test). One compare instead of three tests in
  // Core::cache_free (callgrind: 7 instructions per free).
  std::uint32_t cache_free_from;
  std::uint32_t cache_free_span;
  // A file arena whose open file description a fork shared with another process (set by the
  // fork handlers, src/process.cpp; the child takes a description of its own when its handler
  // runs, if /proc lets it): the liveness lock cannot tell that relative from us meanwhile, so
  // reset() also needs the open count to say we are alone.
  std::atomic<bool> fork_shared{false};
};
// Builds the error for a failed core operation (out of line: never on the fast path).
// `damaged`: for errc::corrupt_freelist, the offset of the damaged free node.
Error core_error(const ArenaState &s, errc code, const char *op, std::uint64_t a, std::uint64_t b,
                 std::uint32_t damaged = 0);
// The same as a failed Status, built out of line too: an inline Status from core_error() put
// the Error's allocation and destruction into every caller of deallocate(), and their
// register saves and stack frame onto its fast path (callgrind: 8 instructions per free).
[[gnu::noinline, gnu::cold]] Status core_failure(const ArenaState &s, errc code, const char *op,
                                                 std::uint64_t a, std::uint64_t b,
                                                 std::uint32_t damaged);
} // namespace detail

class Arena {
public:
  Arena() = default; // an empty handle: valid() is false

  static Result<Arena> heap(const Options &options);
  static Result<Arena> anonymous(const Options &options);
  // Creates or reopens a file arena according to options.open_mode / options.read_only.
  // Opening read-write after a crash runs the recovery pass (see recovery()).
  static Result<Arena> open_file(const std::string &path, const Options &options);
  // The options an existing arena file was created with (its header validated, geometry
  // included; the freelist kind and user version are taken from the file, not checked). For
  // tools.
  static Result<Options> file_options(const std::string &path);
  // Rebuilds the damaged free lists of an arena file nobody has open (lfarena-check --repair):
  // keeps every free segment whose node still validates, drops the rest (checked mode counts
  // their bytes as discarded), then runs crash recovery. errc::io_error if the file is in use;
  // header damage is reported, not repaired.
  static Result<SalvageReport> salvage_file(const std::string &path);

  bool valid() const { return state_ != nullptr; }
  bool read_only() const { return state_ != nullptr && state_->read_only; }

  // Allocates `size` bytes aligned to `align` (a power of two <= Options::max_alignment).
  // The block's size is `size` rounded up to 8, or more if a freelist segment's remainder was
  // too small to keep (free what you were given), unless Options::exact_sizes.
  LFARENA_ALWAYS_INLINE Result<Block> allocate(std::uint32_t size, std::uint32_t align = 8) const {
    if (Block b = try_allocate_fast(size, align); b.offset != 0)
      return b;
    return allocate_slow(size, align);
  }

  // Like allocate(), but reports failure only as {0, 0} (offset 0 is null), without building
  // an error: the leanest call for hot paths that handle exhaustion themselves.
  LFARENA_ALWAYS_INLINE Block try_allocate(std::uint32_t size, std::uint32_t align = 8) const {
    if (Block b = try_allocate_fast(size, align); b.offset != 0)
      return b;
    Result<Block> r = allocate_slow(size, align);
    return r ? *r : Block{};
  }

  // Like allocate(), but the block is exactly `size` rounded up to 8 bytes whatever
  // Options::exact_sizes says (a freelist remainder too small to keep is counted as discarded):
  // for callers that free with the size they asked for (the adapters, make_owned).
  Result<Block> allocate_exact(std::uint32_t size, std::uint32_t align = 8) const {
    if (Block b = try_allocate_fast(size, align); b.offset != 0) // chunks, caches, bump: exact
      return b;
    return allocate_slow(size, align, true);
  }

  Result<Block> allocate_zeroed(std::uint32_t size, std::uint32_t align = 8) const {
    Result<Block> r = allocate(size, align);
    if (r)
      std::memset(state_->base + r->offset, 0, r->size);
    return r;
  }

  // Constructs a T in zeroed arena memory and returns its block. Destroy it yourself
  // (pointer<T>(b.offset)->~T()) before deallocate(b.offset, b.size).
  template <class T, class... Args> Result<Block> create(Args &&...args) const {
    static_assert(alignof(T) <= 4096, "over-aligned type");
    Result<Block> r = allocate_zeroed(sizeof(T), alignof(T) < 8 ? 8 : alignof(T));
    if (!r)
      return r;
    try {
      ::new (static_cast<void *>(state_->base + r->offset)) T(std::forward<Args>(args)...);
    } catch (...) { // the constructor threw: the block goes back, the exception on
      (void)deallocate(r->offset, r->size);
      throw;
    }
    return r;
  }

  LFARENA_ALWAYS_INLINE Status deallocate(std::uint32_t offset, std::uint32_t size) const {
    // Inline: a block of a cached size goes to this thread's free cache (detail/free_cache.hpp).
    // Everything else (and every error) is deallocate_slow()'s. cache_max is 0 for a read-only
    // arena and size 0 wraps: both take the slow path and its error. So does a free that has
    // cache pressure to answer (the slow path drains this thread's cache first). Checked
    // arenas, chain-layout caches and sizes whose block would be below min_segment take the
    // slow path too (cache_free_span is 0 in the first two).
    if (const detail::ArenaState *sp = state_.get();
        sp != nullptr && size - sp->cache_free_from < sp->cache_free_span) {
      const detail::ChunkCache &c = detail::tl_chunk;
      errc e = errc::ok;
      std::uint32_t damaged = 0;
      if (c.arena_id == sp->id && c.chunk.cache_at != 0 &&
          c.policy.pressure_seen == sp->cache_pressure.load(std::memory_order_relaxed) &&
          sp->core.cache_free(c.chunk.cache_at, offset, size, e, damaged))
        return e == errc::ok ? Status{}
                             : detail::core_failure(*sp, e, "deallocate", offset, size, damaged);
    }
    return deallocate_slow(offset, size);
  }

  // The object at `offset`, or nullptr if [offset, offset+sizeof(T)) is not inside the data
  // area or offset is not aligned for T.
  template <class T> T *pointer(std::uint32_t offset) const {
    if (state_ == nullptr)
      return nullptr;
    const auto &g = state_->core.geometry();
    if (offset < g.data_offset || std::uint64_t{offset} + sizeof(T) > g.capacity ||
        offset % alignof(T) != 0)
      return nullptr;
    return std::launder(reinterpret_cast<T *>(state_->base + offset));
  }
  // The object a typed handle names (ref.hpp): pointer<T>(ref.offset).
  template <class T> T *get(Ref<T> ref) const { return pointer<T>(ref.offset); }
  // The bytes [offset, offset+length) of the data area, bounds-checked.
  Result<std::span<std::byte>> bytes(std::uint32_t offset, std::uint32_t length) const;
  // The offset of a pointer into the data area.
  Result<std::uint32_t> offset_of(const void *p) const;
  // The bytes reserved for the user (Options::user_reserved) after the header.
  std::span<std::byte> user_area() const;

  Stats stats() const;

  // Frees everything at once: the arena becomes what a new one of the same options is (every
  // byte of the data area free, bump offset at the start, statistics zero, free lists, caches
  // and checked-mode bitmaps empty); the user area is kept. Every block handed out before is
  // gone: no Ref or pointer into the data area may be used afterwards. Quiescent use only: the
  // caller guarantees no other thread of this process uses the arena meanwhile. errc::in_use
  // (nothing changed) if another read-write opener has the file open (in this or another
  // process; new openers wait until the reset is done), or another thread of this opener still
  // holds a thread chunk or free cache (threads give theirs back when they exit); the calling
  // thread's own chunk is given back first. Read-only openers are not detected: they see the
  // reset. errc::read_only for a read-only arena.
  Status reset() const;
  // Quiescent consistency check: walks the freelist (order, range, acyclicity, no overlap) and
  // verifies the accounting (live + free + discarded == allocated; in checked mode live blocks
  // are counted from the bitmaps and must not overlap free segments).
  Result<CheckReport> check() const;

  Status flush() const;
  Status flush_range(std::uint32_t offset, std::uint32_t length) const;
  Status flush_async() const;

  // What crash recovery did when this file was opened (ran == false: clean or not a file).
  const RecoveryReport &recovery() const;

  // The region's first byte (nullptr for an empty handle).
  std::byte *base() const { return state_ != nullptr ? state_->base : nullptr; }
  const Options &options() const;
  // The file path, "heap" or "anonymous" ("(empty handle)" for an empty one).
  const std::string &name() const;

private:
  // The inline fast path: a thread-local chunk hit, or one bump CAS. {0, 0} sends the caller
  // to allocate_slow(), which handles everything else (and every error) out of line.
  LFARENA_ALWAYS_INLINE Block try_allocate_fast(std::uint32_t size, std::uint32_t align) const {
    const detail::ArenaState *sp = state_.get();
    if (sp == nullptr) // an empty handle: allocate_slow() reports it
      return {};
    const detail::ArenaState &s = *sp;
    // A small size (below chunk_limit, 0 in a read-only arena and without chunks) is served by
    // this thread's free cache or its chunk: one size test routes both, since cache_max (a
    // multiple of kGranule, 0 without chunks) is at most chunk_limit, and chunk_limit below
    // the capacity (thread_chunk <= capacity / 4 is checked at creation). The alignment: 1, 2, 4
    // or 8 (bits of 0x116) is kGranule, which every max_alignment allows; a larger one must be
    // a power of two within max_alignment. callgrind, against testing cache_max first and the
    // chunk size after the general tests: 2 instructions fewer per chunk allocation, per bump
    // without chunks and per cache hit (docs/DESIGN.md §5.5, "Routing order").
    std::uint32_t a = detail::kGranule;
    if (size - 1 < s.chunk_limit) {
      // Both paths need this thread's entry to be this arena's (else allocate_slow() claims a
      // slot or switches arenas): tested once for both.
      detail::ChunkCache &c = detail::tl_chunk;
      if (align <= detail::kGranule) [[likely]] {
        if (((0x116u >> align) & 1) == 0 || c.arena_id != s.fast_id)
          return {};
        // This thread's free cache first (detail/free_cache.hpp): exact sizes, no atomics. A
        // damaged node sends the call to allocate_slow(), which reports it.
        if (size - 1 < s.cache_max && c.chunk.cache_at != 0) {
          const std::uint32_t need = detail::granule_up(size);
          std::uint32_t damaged = 0;
          const std::uint32_t o = s.core.cache_take<true>(c.chunk.cache_at, need, damaged);
          if (o != 0 || damaged != 0)
            return Block{o, need}; // {0, need}: allocate_slow() reports the damage
        }
        return chunk_fast(s, c, size, detail::kGranule);
      }
      if ((align & (align - 1)) != 0 || align - 1 >= s.fast_align_limit || c.arena_id != s.fast_id)
        return {};
      return chunk_fast(s, c, size, align);
    }
    // A larger size: one bump CAS. (A read-only arena's fast_size_limit is 0: every size fails.)
    if (size - 1 >= s.fast_size_limit)
      return {};
    if (align <= detail::kGranule) [[likely]] {
      if (((0x116u >> align) & 1) == 0)
        return {};
    } else if ((align & (align - 1)) != 0 || align - 1 >= s.fast_align_limit) {
      return {};
    } else {
      a = align;
    }
    const std::uint32_t need = detail::granule_up(size);
    detail::BumpGuess &g = detail::tl_bump;
    std::uint64_t guess = g.arena_id == s.id ? g.top : 0;
    detail::RawBlock b;
    if (!s.core.bump_fast(need, a, b, guess))
      return {};
    // Two 8-byte stores, the id only when it changes. Written as `g = {s.id, guess}`, GCC made
    // it one 16-byte vector store that the next call reads back as two 8-byte loads (store
    // forwarding from a vector store into the next bump's chain is the likely cost): in
    // bump_bench the 64 B bump measured 7.8 ns against the raw atomic's 5.8 (1.35x), and 7.3
    // (1.26x) with these stores, 3 interleaved runs of 5 repetitions (docs/DESIGN.md §5.1).
    g.top = guess;
    if (g.arena_id != s.id)
      g.arena_id = s.id;
    return Block{b.offset, b.size};
  }
  // Thread-local chunk: plain arithmetic on this thread's chunk (detail/chunk.hpp), for a size
  // below chunk_limit at a valid alignment `align` (kGranule: the caller's constant, so
  // chunk_bump()'s alignment test folds away), `c` being this arena's entry (fast_id tested by
  // the caller). {0, 0}: allocate_slow() refills the chunk.
  LFARENA_ALWAYS_INLINE static Block chunk_fast(const detail::ArenaState &s, detail::ChunkCache &c,
                                                std::uint32_t size, std::uint32_t align) {
    const std::uint32_t need = detail::granule_up(size);
    const std::uint32_t start = detail::chunk_bump(
        detail::RegionWords{s.base}, s.core.unchecked_chunk_space(), c.chunk, need, align);
    if (start == 0)
      return {};
    return Block{start, need};
  }
  // Everything else: validation and errors, chunk refills, the freelist.
  Result<Block> allocate_slow(std::uint32_t size, std::uint32_t align, bool exact = false) const;
  Status deallocate_slow(std::uint32_t offset, std::uint32_t size) const;

  explicit Arena(std::shared_ptr<detail::ArenaState> s) : state_(std::move(s)) {}
  Error read_only_error(const char *op) const;
  static Error empty_handle_error(const char *op);
  friend struct ArenaFactory;

  std::shared_ptr<detail::ArenaState> state_;
};

} // namespace lfarena
