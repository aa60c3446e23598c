// fuzz/ops_fuzz.cpp -- fuzz target `ops`: single-threaded operation sequences against one arena,
// checked against a shadow model (fuzz/ops_model.hpp): exactly without thread-local chunks, by
// invariants with them.
//
// Input (FuzzedDataProvider): first the arena shape -- backing (heap, anonymous, or a file under a
// unique temporary path that is removed at the end), freelist policy (none, optimistic,
// pessimistic, segregated), capacity 4..256 KiB (any value, not only multiples of 8), min_segment
// 16..128 (multiple of 8), max_alignment 8..4096, user_reserved 0..1 KiB, user_version (its low
// bit: size_index off), then one shape byte:
//   bit 0      checked mode;
//   bit 2      thread-local chunks (Options::thread_chunk) on; then
//   bit 1      large chunks (bit 3: 16 KiB, else 4 KiB; at most capacity/4 rounded down to a
//              multiple of 8), else small ones (256 bytes, the minimum), and
//   bit 4      max_alignment 4096 instead of the value decoded above.
// (The shape byte was the checked flag's byte: older inputs decode as before apart from the chunk
// bits.) Then at most kMaxOps operations:
// allocate(size, align), allocate_zeroed, create<T>, free of the i-th live block, bad frees,
// flush/flush_range/flush_async, reopen (file backing: drop the handle, reopen read-only or
// read-write, with the same thread_chunk; non-file backings just verify), check(), and
// bytes()/pointer() bounds. With chunks on, half of the plain alignments are large: any power of
// two up to max_alignment, or max_alignment itself.
//
// Without chunks every returned offset and size, every error code, the stats and the check()
// report are compared with the model. With chunks (placement inside a chunk is not predicted):
//  - argument errors (zero_size, bad_alignment, size_overflow) are exactly the model's; any other
//    failure must be out_of_memory (allowed whenever the arguments are valid);
//  - every block lies in [data_offset, bump offset after the call) (so inside the data area),
//    its absolute address base()+offset is aligned to the requested alignment (at least 8), its
//    size is in [align_up(request, 8), align_up(request, 8) + min_segment), and it overlaps no
//    live block;
//  - frees of live blocks succeed; bad frees (argument errors; in checked mode also
//    not_block_start / double_free / wrong_size) are classified exactly, from a block map built
//    from the blocks the arena returned, with the model's bump offset synchronised from
//    stats().allocated first (chunks reserve bump space in advance);
//  - at every check(): the report passes, live_bytes is the sum of the live blocks' sizes
//    (checked: live_blocks is their count), chunk_reserved is at most one chunk (one thread),
//    and allocated + remaining spans the data area.
// In both modes every live block carries a canary derived from its offset, verified on free, on
// check and after reopen. Any mismatch prints what differed and aborts.
//
// No state is kept between inputs (one model and one arena per call; the file is removed).
// Unchecked mode never issues a free whose result would be undefined behaviour.
#include <lfarena/arena.hpp>

#include <FuzzedDataProvider.h> // -isystem .../clang/<v>/include/fuzzer (fuzz/CMakeLists.txt)

#include "fuzz_temp.hpp"
#include "ops_model.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

namespace {

using lfarena::Arena;
using lfarena::Block;
using lfarena::errc;
using lfarena::FreelistKind;
using lfarena::Options;
using ops_model::align_up;
using ops_model::kGranule;
using ops_model::Model;

constexpr int kMaxOps = 2000;

[[noreturn]] void fail(const char *what, unsigned long long a = 0, unsigned long long b = 0,
                       unsigned long long c = 0) {
  std::fprintf(stderr, "ops_fuzz: MISMATCH: %s (%llu, %llu, %llu)\n", what, a, b, c);
  std::fflush(stderr);
  std::abort();
}
void expect(bool ok, const char *what, unsigned long long a = 0, unsigned long long b = 0,
            unsigned long long c = 0) {
  if (!ok)
    fail(what, a, b, c);
}
template <class R> void expect_code(const R &r, errc want, const char *what) {
  if (r.code() != want) {
    std::fprintf(stderr, "ops_fuzz: %s: got %s (%s), expected %s\n", what,
                 lfarena::to_string(r.code()), r.message().c_str(), lfarena::to_string(want));
    fail(what, static_cast<unsigned>(r.code()), static_cast<unsigned>(want));
  }
}

// Canaries are written sparsely (both ends and every 61st byte) so that large blocks stay cheap.
template <class F> void for_canary(std::uint32_t size, F &&f) {
  std::uint32_t i = 0;
  for (; i < size && i < 64; ++i)
    f(i);
  const std::uint32_t tail = size > 64 ? size - 64 : 0;
  for (i = (i + 60) / 61 * 61; i < tail; i += 61)
    f(i);
  for (i = std::max<std::uint32_t>(tail, 64); i < size; ++i)
    f(i);
}
std::byte canary(std::uint32_t block, std::uint32_t i) {
  const std::uint32_t x = block * 2654435761u + i * 40503u;
  return static_cast<std::byte>((x >> 13) ^ (x >> 24) ^ i);
}

struct Harness {
  Model m;
  Options opts;
  int backing = 0; // 0 heap, 1 anonymous, 2 file
  std::string path;
  Arena arena;

  void fill(std::uint32_t off, std::uint32_t size) {
    std::byte *p = arena.base() + off;
    for_canary(size, [&](std::uint32_t i) { p[i] = canary(off, i); });
  }
  void verify(std::uint32_t off, std::uint32_t size) const {
    const std::byte *p = arena.base() + off;
    for_canary(size, [&](std::uint32_t i) {
      if (p[i] != canary(off, i))
        fail("canary mismatch in block (offset, size, byte)", off, size, i);
    });
  }
  void verify_all() const {
    for (const auto &[o, s] : m.live)
      verify(o, s);
  }

  // Chunk mode: the model's bump offset is the arena's (chunks reserve bump space in advance).
  void sync() {
    if (!m.exact)
      m.bump = std::uint64_t{m.data_offset} + arena.stats().allocated;
  }

  // b overlaps no live block other than itself (`recorded`: the model already holds it).
  void expect_no_overlap(const Block &b, bool recorded) const {
    auto next = m.live.lower_bound(b.offset);
    auto prev = next;
    if (recorded && next != m.live.end() && next->first == b.offset)
      ++next;
    if (next != m.live.end())
      expect(b.offset + std::uint64_t{b.size} <= next->first, "overlap with next block", b.offset,
             b.size, next->first);
    if (prev != m.live.begin()) {
      --prev;
      expect(prev->first + std::uint64_t{prev->second} <= b.offset, "overlap with previous block",
             prev->first, prev->second, b.offset);
    }
  }

  // Checks the result of allocate(size, align) (or allocate_zeroed, create) and records its
  // block in the model; false if it failed, as it had to. Exact mode: the model's prediction.
  // Chunk mode: the argument errors exactly, otherwise out_of_memory or a plausible block.
  bool accept(const lfarena::Result<Block> &r, std::uint32_t size, std::uint32_t align,
              const char *op) {
    Block want{};
    errc e = errc::ok;
    if (m.exact) {
      e = m.allocate(size, align, want);
    } else {
      e = m.arguments(size, align);
      if (e == errc::ok && !r)
        e = errc::out_of_memory; // chunk tails and fragmentation are not modelled: allowed
    }
    expect_code(r, e, op);
    if (!r)
      return false;
    const Block got = *r;
    if (m.exact && (got.offset != want.offset || got.size != want.size)) {
      std::fprintf(stderr, "ops_fuzz: %s returned {%u, %u}, model predicts {%u, %u}\n", op,
                   got.offset, got.size, want.offset, want.size);
      fail("wrong block", got.offset, got.size);
    }
    sync();
    auto expect_block = [&](bool ok, const char *what, unsigned long long x) {
      if (ok)
        return;
      std::fprintf(stderr,
                   "ops_fuzz: %s(%u, %u) returned {%u, %u}; data area [%u, %u), bump offset "
                   "%llu, thread_chunk %u, max_alignment %u\n",
                   op, size, align, got.offset, got.size, m.data_offset, m.capacity,
                   static_cast<unsigned long long>(m.bump), opts.thread_chunk, m.max_alignment);
      fail(what, got.offset, got.size, x);
    };
    expect_block(got.offset >= m.data_offset && got.offset + std::uint64_t{got.size} <= m.bump,
                 "block outside the allocated data area (offset, size, bump offset)", m.bump);
    const auto addr = reinterpret_cast<std::uintptr_t>(arena.base()) + got.offset;
    expect_block(addr % std::max(align, kGranule) == 0, "misaligned block (offset, size, align)",
                 align);
    const std::uint64_t rounded = align_up(size, kGranule);
    expect_block(got.size >= rounded && got.size < rounded + m.min_segment,
                 "bad block size (offset, size, request)", size);
    expect_no_overlap(got, m.exact);
    if (!m.exact)
      m.record(got);
    return true;
  }

  void do_allocate(std::uint32_t size, std::uint32_t align, int flavour) {
    lfarena::Result<Block> r =
        flavour == 1 ? arena.allocate_zeroed(size, align) : arena.allocate(size, align);
    if (!accept(r, size, align, "allocate"))
      return;
    if (flavour == 1) {
      const std::byte *p = arena.base() + r->offset;
      for (std::uint32_t i = 0; i < r->size; ++i)
        expect(p[i] == std::byte{0}, "allocate_zeroed left a non-zero byte", r->offset, i);
    }
    fill(r->offset, r->size);
  }

  template <class T> void do_create(std::uint64_t value) {
    const std::uint32_t align = alignof(T) < 8 ? 8 : alignof(T);
    lfarena::Result<Block> r = arena.create<T>(value);
    if (!accept(r, sizeof(T), align, "create"))
      return;
    T *t = arena.pointer<T>(r->offset);
    expect(t != nullptr, "pointer<T> of a created object is null", r->offset);
    expect(t->ok(value), "created object has the wrong value", r->offset);
    // The bytes past sizeof(T) (a kept tail) were zeroed as well.
    const std::byte *p = arena.base() + r->offset;
    for (std::uint32_t i = sizeof(T); i < r->size; ++i)
      expect(p[i] == std::byte{0}, "create left a non-zero byte after the object", r->offset, i);
    t->~T();
    fill(r->offset, r->size);
  }

  void do_free(std::uint32_t off, std::uint32_t size, const char *what) {
    sync();
    const errc e = m.classify_free(off, size);
    if (e == errc::ok)
      verify(off, m.live.at(off));
    lfarena::Status s = arena.deallocate(off, size);
    expect_code(s, e, what);
    if (e == errc::ok)
      m.apply_free(off, size);
  }

  void do_check() {
    verify_all();
    lfarena::Result<lfarena::CheckReport> r = arena.check();
    if (!r) {
      std::fprintf(stderr, "ops_fuzz: check() failed: %s\n", r.message().c_str());
      fail("check failed");
    }
    if (m.exact) {
      expect(r->free_segments == m.free_segments(), "check: free_segments", r->free_segments,
             m.free_segments());
      expect(r->free_bytes == m.free_bytes(), "check: free_bytes", r->free_bytes, m.free_bytes());
      expect(r->largest_free == m.largest_free(), "check: largest_free", r->largest_free,
             m.largest_free());
    }
    expect(r->live_bytes == m.live_bytes(), "check: live_bytes", r->live_bytes, m.live_bytes());
    expect(r->live_blocks == (m.checked ? m.live.size() : 0), "check: live_blocks", r->live_blocks,
           m.live.size());
    // One thread holds at most one chunk: its tail plus its alignment waste fit in it.
    expect(r->chunk_reserved <= opts.thread_chunk, "check: chunk_reserved above one chunk",
           r->chunk_reserved, opts.thread_chunk);
    check_stats();
  }

  void check_stats() {
    const lfarena::Stats st = arena.stats();
    expect(st.capacity == m.capacity, "stats: capacity", st.capacity, m.capacity);
    expect(st.data_offset == m.data_offset, "stats: data_offset", st.data_offset, m.data_offset);
    expect(st.allocated + st.remaining == m.capacity - m.data_offset,
           "stats: allocated + remaining", st.allocated, st.remaining);
    if (!m.exact) {
      sync();
      expect(st.allocated >= m.live_bytes(), "stats: allocated below the live bytes", st.allocated,
             m.live_bytes());
      return;
    }
    expect(st.allocated == m.bump - m.data_offset, "stats: allocated", st.allocated, m.bump);
    expect(st.remaining == m.capacity - m.bump, "stats: remaining", st.remaining, m.bump);
    expect(st.discarded == m.discarded, "stats: discarded", st.discarded, m.discarded);
  }

  lfarena::Result<Arena> open(bool read_only) {
    Options o = opts; // thread_chunk is an opener option: passed again
    o.open_mode = lfarena::OpenMode::open_existing;
    o.read_only = read_only;
    return Arena::open_file(path, o);
  }

  // Chunk mode: the thread's first allocate or free in an arena claims a slot and provisions
  // free-cache blocks from the bump offset (DESIGN 5.11). Doing that here, outside the ops,
  // keeps the bump offset from moving inside a bad free, whose expected result sync() computed
  // from it before the call (ops_fuzz found the mismatch).
  void prime() {
    if (m.exact || arena.read_only())
      return;
    // Through the model (allocate, then free the new block): checked mode's bitmap remembers
    // the freed block, and the model must too, or a later free there is misclassified.
    const auto before = m.live;
    do_allocate(8, 8, 0);
    for (const auto &[off, sz] : m.live)
      if (!before.contains(off)) {
        do_free(off, sz, "priming free");
        break;
      }
  }

  void do_reopen(bool read_only_pass) {
    if (backing != 2) {
      verify_all();
      return;
    }
    arena = Arena(); // chunk mode: the chunk's tail goes back here
    if (read_only_pass) {
      lfarena::Result<Arena> ro = open(true);
      if (!ro) {
        std::fprintf(stderr, "ops_fuzz: read-only reopen failed: %s\n", ro.message().c_str());
        fail("read-only reopen failed");
      }
      arena = *ro;
      expect(arena.read_only(), "read-only reopen is writable");
      do_check();
      expect_code(arena.allocate(8), errc::read_only, "allocate on a read-only arena");
      if (!m.live.empty()) {
        const auto &[o, s] = *m.live.begin();
        expect_code(arena.deallocate(o, s), errc::read_only, "deallocate on a read-only arena");
      }
      arena = Arena();
    }
    lfarena::Result<Arena> rw = open(false);
    if (!rw) {
      std::fprintf(stderr, "ops_fuzz: reopen failed: %s\n", rw.message().c_str());
      fail("reopen failed");
    }
    arena = *rw;
    expect(!arena.read_only(), "read-write reopen is read-only");
    expect(arena.options().checked == m.checked, "reopen: checked flag");
    expect(arena.options().min_segment == m.min_segment, "reopen: min_segment");
    expect(arena.options().thread_chunk == opts.thread_chunk, "reopen: thread_chunk",
           arena.options().thread_chunk, opts.thread_chunk);
    verify_all();
    check_stats();
    prime();
  }
};

struct Small {
  std::uint64_t v;
  explicit Small(std::uint64_t x) : v(x) {}
  bool ok(std::uint64_t x) const { return v == x; }
};
struct alignas(16) Pair {
  std::uint64_t a, b;
  explicit Pair(std::uint64_t x) : a(x), b(~x) {}
  bool ok(std::uint64_t x) const { return a == x && b == ~x; }
};
struct alignas(64) Line {
  std::uint32_t n;
  char pad[100];
  explicit Line(std::uint64_t x) : n(static_cast<std::uint32_t>(x)), pad{} {}
  bool ok(std::uint64_t x) const {
    for (char c : pad)
      if (c != 0)
        return false;
    return n == static_cast<std::uint32_t>(x);
  }
};
struct alignas(256) Big {
  std::uint64_t words[40];
  explicit Big(std::uint64_t x) : words{} { words[39] = x; }
  bool ok(std::uint64_t x) const { return words[0] == 0 && words[39] == x; }
};

std::uint32_t pick_align(FuzzedDataProvider &fdp, const Model &m) {
  const int pick = fdp.ConsumeIntegralInRange<int>(0, 7);
  if (!m.exact && pick >= 6) // chunk mode: large alignments as often as small ones
    return pick == 7 ? m.max_alignment
                     : 1u << fdp.ConsumeIntegralInRange<int>(0, std::countr_zero(m.max_alignment));
  switch (pick) {
  case 0:
    return fdp.ConsumeIntegral<std::uint32_t>(); // anything, usually bad
  case 1:
    return 0;
  case 2:
    return 1u << fdp.ConsumeIntegralInRange<int>(0, 31);
  case 3:
    return 1u << fdp.ConsumeIntegralInRange<int>(0, 12);
  default:
    return 1u << fdp.ConsumeIntegralInRange<int>(0, 4);
  }
}

std::uint32_t pick_size(FuzzedDataProvider &fdp, std::uint32_t capacity) {
  switch (fdp.ConsumeIntegralInRange<int>(0, 9)) {
  case 0:
    return fdp.ConsumeIntegral<std::uint32_t>();
  case 1:
    return fdp.ConsumeIntegralInRange<std::uint32_t>(0, capacity + 64);
  case 2:
    return fdp.ConsumeIntegralInRange<std::uint32_t>(capacity - 512, capacity);
  case 3:
    return fdp.ConsumeIntegralInRange<std::uint32_t>(1, 4096);
  default:
    return fdp.ConsumeIntegralInRange<std::uint32_t>(1, 256);
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
  FuzzedDataProvider fdp(data, size);
  Harness h;
  h.backing = fdp.ConsumeIntegralInRange<int>(0, 2);
  Options &o = h.opts;
  o.freelist = static_cast<FreelistKind>(fdp.ConsumeIntegralInRange<std::uint32_t>(0, 3));
  o.capacity = fdp.ConsumeIntegralInRange<std::uint32_t>(4096, 256 * 1024);
  if (fdp.ConsumeBool())
    o.capacity &= ~7u; // mostly granule multiples; odd sizes too
  o.min_segment = 16 + 8 * fdp.ConsumeIntegralInRange<std::uint32_t>(0, 14);
  o.max_alignment = 8u << fdp.ConsumeIntegralInRange<int>(0, 9);
  o.user_reserved = fdp.ConsumeBool() ? fdp.ConsumeIntegralInRange<std::uint32_t>(0, 1024) : 0;
  o.user_version = fdp.ConsumeIntegral<std::uint16_t>();
  // The shape byte (the checked flag's byte, so the committed corpus keeps its operations).
  const auto shape = fdp.ConsumeIntegral<std::uint8_t>();
  o.checked = (shape & 1) != 0;
  if ((shape & 4) != 0) { // thread-local chunks: small (the minimum) or large
    const std::uint32_t large = (shape & 8) != 0 ? 16384 : 4096;
    o.thread_chunk = (shape & 2) == 0 ? 256 : std::min(large, (o.capacity / 4) & ~7u);
    if ((shape & 16) != 0)
      o.max_alignment = 4096;
  }
  // The sorted policies' layout (one list or one per size class) must not change any result:
  // both run against the same model. Taken from a bit already consumed so the committed
  // corpus keeps decoding as it did.
  o.size_index = (o.user_version & 1) == 0;

  Model &m = h.m;
  m.capacity = o.capacity;
  m.min_segment = o.min_segment;
  m.max_alignment = o.max_alignment;
  m.kind = o.freelist;
  m.checked = o.checked;
  m.exact = o.thread_chunk == 0;
  const std::uint64_t granules = (o.capacity + 7) / 8;
  if (m.checked) {
    m.state.assign(granules + 1, 0);
    m.end.assign(granules + 1, 0);
  }

  lfarena::Result<Arena> created = Arena();
  if (h.backing == 0)
    created = Arena::heap(o);
  else if (h.backing == 1)
    created = Arena::anonymous(o);
  else {
    h.path = fuzz_files::temp_path("ops");
    Options c = o;
    c.open_mode = lfarena::OpenMode::create_new;
    created = Arena::open_file(h.path, c);
  }
  // A small capacity may not hold the fixed area, bitmaps and user area: a clean refusal.
  if (!created &&
      (created.code() == errc::invalid_capacity || created.code() == errc::invalid_reserved) &&
      o.capacity < 16384) {
    if (!h.path.empty()) {
      std::error_code ec;
      expect(!std::filesystem::exists(h.path, ec), "a refused create left a file behind");
    }
    return 0;
  }
  if (!created) {
    std::fprintf(stderr, "ops_fuzz: creating the arena failed: %s\n", created.message().c_str());
    fail("create failed", o.capacity, o.user_reserved);
  }
  h.arena = *created;
  created = Arena(); // h.arena is the only handle: a reopen really closes the file first
  // The layout (header, thread-chunk slots, bitmaps, user area) is the header unit tests'
  // business; here the data offset only has to be sane and past everything else.
  m.data_offset = h.arena.stats().data_offset;
  expect(m.data_offset % 64 == 0 && m.data_offset >= lfarena::detail::kFixedAreaEnd &&
             m.data_offset + 64u <= m.capacity,
         "implausible data offset", m.data_offset, m.capacity);
  m.bump = m.data_offset;
  h.check_stats();
  h.prime();
  {
    const std::span<std::byte> ua = h.arena.user_area();
    expect(ua.size() == o.user_reserved, "user_area size", ua.size(), o.user_reserved);
    expect(ua.empty() || ua.data() + ua.size() <= h.arena.base() + m.data_offset,
           "user_area runs into the data area");
  }

  for (int n = 0; n < kMaxOps && fdp.remaining_bytes() > 0; ++n) {
    h.sync(); // chunk mode: the bad frees below are chosen relative to the arena's bump offset
    switch (fdp.ConsumeIntegralInRange<int>(0, 15)) {
    case 0:
    case 1:
    case 2:
    case 3:
    case 4: { // allocate
      const std::uint32_t sz = pick_size(fdp, m.capacity);
      const std::uint32_t al = pick_align(fdp, m);
      h.do_allocate(sz, al, 0);
      break;
    }
    case 5: { // allocate_zeroed
      const std::uint32_t sz = pick_size(fdp, m.capacity);
      const std::uint32_t al = pick_align(fdp, m);
      h.do_allocate(sz, al, 1);
      break;
    }
    case 6: { // create<T>
      const std::uint64_t v = fdp.ConsumeIntegral<std::uint64_t>();
      switch (fdp.ConsumeIntegralInRange<int>(0, 3)) {
      case 0:
        h.do_create<Small>(v);
        break;
      case 1:
        h.do_create<Pair>(v);
        break;
      case 2:
        h.do_create<Line>(v);
        break;
      default:
        h.do_create<Big>(v);
        break;
      }
      break;
    }
    case 7:
    case 8:
    case 9: { // free the i-th live block, with its size (or the rounded request)
      if (m.live.empty())
        break;
      auto it = m.live.begin();
      std::advance(it, fdp.ConsumeIntegralInRange<std::size_t>(0, m.live.size() - 1));
      const auto [off, sz] = *it;
      std::uint32_t give = sz;
      if (fdp.ConsumeBool() && sz > 1)
        give = sz - fdp.ConsumeIntegralInRange<std::uint32_t>(0, 7); // same granules
      h.do_free(off, give, "free");
      break;
    }
    case 10: { // a bad free
      const int kind = fdp.ConsumeIntegralInRange<int>(0, 6);
      std::uint32_t off = 0, sz = 8;
      if (kind == 0) { // null
        sz = fdp.ConsumeIntegral<std::uint32_t>();
      } else if (kind == 1) { // anything out of range / zero size
        off = fdp.ConsumeIntegral<std::uint32_t>();
        sz = fdp.ConsumeIntegral<std::uint32_t>();
        const std::uint64_t r = align_up(sz, 8);
        const bool out = off == 0 || sz == 0 || off < m.data_offset || off + r > m.bump;
        if (!out && !m.checked)
          break;              // would be undefined behaviour unchecked
      } else if (kind == 2) { // below the data area
        off = fdp.ConsumeIntegralInRange<std::uint32_t>(1, m.data_offset - 1);
        sz = fdp.ConsumeIntegralInRange<std::uint32_t>(1, 64);
      } else if (kind == 3) { // straddling the bump offset
        off = static_cast<std::uint32_t>(m.bump) - fdp.ConsumeIntegralInRange<std::uint32_t>(0, 64);
        sz = fdp.ConsumeIntegralInRange<std::uint32_t>(65, 4096);
      } else { // inside the allocated range: misaligned anywhere; checked mode: any offset/size
        if (m.bump <= m.data_offset)
          break;
        off = fdp.ConsumeIntegralInRange<std::uint32_t>(m.data_offset,
                                                        static_cast<std::uint32_t>(m.bump) - 1);
        if (kind == 4)
          off |= 1u + fdp.ConsumeIntegralInRange<std::uint32_t>(0, 6) % 7;
        else if (!m.checked)
          break;
        if (kind == 6 && !m.live.empty()) { // a live block, wrong size / or a freed start
          auto it = m.live.lower_bound(off);
          if (it == m.live.end())
            it = m.live.begin();
          off = it->first;
          sz = it->second + 8 * fdp.ConsumeIntegralInRange<std::uint32_t>(1, 8);
          if (fdp.ConsumeBool() && it->second > 8)
            sz = it->second - 8;
        } else {
          off = off & ~(kind == 4 ? 0u : 7u);
          sz = fdp.ConsumeIntegralInRange<std::uint32_t>(1, 512);
        }
        if (!m.checked && (off % 8 == 0))
          break;
      }
      const errc e = m.classify_free(off, sz);
      if (!m.checked && e == errc::ok)
        break; // never reached, but never UB either
      h.do_free(off, sz, "bad free");
      break;
    }
    case 11: { // flush
      const int which = fdp.ConsumeIntegralInRange<int>(0, 2);
      lfarena::Status s = which == 0   ? h.arena.flush()
                          : which == 1 ? h.arena.flush_async()
                                       : h.arena.flush_range(fdp.ConsumeIntegral<std::uint32_t>(),
                                                             fdp.ConsumeIntegral<std::uint32_t>());
      expect_code(s, errc::ok, "flush");
      break;
    }
    case 12: // reopen
      h.do_reopen(fdp.ConsumeBool());
      break;
    case 13: // check
      h.do_check();
      break;
    case 14: { // bounds of bytes() / pointer()
      const std::uint32_t off = fdp.ConsumeIntegral<std::uint32_t>() % (m.capacity + 128);
      const std::uint32_t len = fdp.ConsumeIntegralInRange<std::uint32_t>(0, 512);
      const bool inside = off >= m.data_offset && std::uint64_t{off} + len <= m.capacity;
      expect_code(h.arena.bytes(off, len), inside ? errc::ok : errc::offset_out_of_range, "bytes");
      const bool pinside =
          off >= m.data_offset && std::uint64_t{off} + 8 <= m.capacity && off % 8 == 0;
      expect((h.arena.pointer<std::uint64_t>(off) != nullptr) == pinside, "pointer<u64> bounds",
             off);
      break;
    }
    default: { // a copied handle sees the same arena
      Arena copy = h.arena;
      expect(copy.base() == h.arena.base(), "copied handle has another base");
      expect(copy.stats().handle_count >= 2, "copied handle not counted");
      break;
    }
    }
  }
  h.do_check();
  // Free everything (in offset order, so most frees roll the bump back only at the end).
  while (!h.m.live.empty()) {
    const auto [off, sz] = *h.m.live.begin();
    h.do_free(off, sz, "final free");
  }
  h.do_check();
  h.arena = Arena();
  if (!h.path.empty()) {
    std::error_code ec;
    std::filesystem::remove(h.path, ec);
  }
  return 0;
}
