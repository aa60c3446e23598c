// fuzz/ops_fuzz.cpp -- fuzz target `ops`: single-threaded operation sequences against one arena,
// every result predicted exactly by a shadow model.
//
// Input (FuzzedDataProvider): first the arena configuration -- backing (heap, anonymous, or a file
// under a unique temporary path that is removed at the end), freelist policy (none, optimistic,
// pessimistic, segregated), capacity 4..256 KiB
// (any value, not only multiples of 8), min_segment 16..128 (multiple of 8), max_alignment
// 8..4096, user_reserved 0..1 KiB, user_version (its low bit: size_index off), checked on/off --
// then at most kMaxOps operations:
// allocate(size, align), allocate_zeroed, create<T>, free of the i-th live block, bad frees,
// flush/flush_range/flush_async, reopen (file backing: drop the handle, reopen read-only or
// read-write; non-file backings just verify), check(), and bytes()/pointer() bounds.
//
// The shadow model is the sequential spec (DESIGN.md 1 and the banners of detail/core.hpp,
// detail/freelist.hpp, detail/checked.hpp):
//  - bump region first: start = align_up(bump, align); the padding goes to the freelist when the
//    policy keeps segments and it is >= min_segment, else it is discarded;
//  - then the freelist, a list of (offset, size) in the policy's order: optimistic takes the head
//    if it fits, pessimistic the first that fits; the block is cut from the front of the segment,
//    front padding >= min_segment is reinserted else discarded, a tail >= min_segment is
//    reinserted else handed out with the block (Block.size grows); segregated: one LIFO stack per
//    size class, the choice of detail/segregated.hpp (Model::take_segregated);
//  - deallocate: argument errors in the order null_offset, zero_size, offset_out_of_range,
//    not_block_start; in checked mode the bitmap states (live / freed / nothing, plus end marks)
//    decide not_block_start / double_free / wrong_size; then a rollback if the block ends at the
//    bump offset, else the freelist (policy != none and size >= min_segment) or discarded.
// Every returned offset and size, every error code, the stats and the check() report are compared
// with the model; every live block carries a canary derived from its offset, verified on free,
// on check and after reopen. Any mismatch prints what differed and aborts.
//
// No state is kept between inputs (one model and one arena per call; the file is removed).
// Unchecked mode never issues a free whose result would be undefined behaviour.
#include <lfarena/arena.hpp>

#include <FuzzedDataProvider.h> // -isystem .../clang/<v>/include/fuzzer (fuzz/CMakeLists.txt)

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace {

using lfarena::Arena;
using lfarena::Block;
using lfarena::errc;
using lfarena::FreelistKind;
using lfarena::Options;

constexpr int kMaxOps = 2000;
constexpr std::uint32_t kGranule = 8;

[[noreturn]] void fail(const char *what, unsigned long long a = 0, unsigned long long b = 0,
                       unsigned long long c = 0) {
  std::fprintf(stderr, "ops_fuzz: MISMATCH: %s (%llu, %llu, %llu)\n", what, a, b, c);
  std::fflush(stderr);
  std::abort();
}
void expect(bool ok, const char *what, unsigned long long a = 0, unsigned long long b = 0,
            unsigned long long c = 0) {
  if (!ok) fail(what, a, b, c);
}
template <class R> void expect_code(const R &r, errc want, const char *what) {
  if (r.code() != want) {
    std::fprintf(stderr, "ops_fuzz: %s: got %s (%s), expected %s\n", what,
                 lfarena::to_string(r.code()), r.message().c_str(), lfarena::to_string(want));
    fail(what, static_cast<unsigned>(r.code()), static_cast<unsigned>(want));
  }
}

std::uint64_t align_up(std::uint64_t x, std::uint64_t a) { return (x + a - 1) / a * a; }
bool pow2(std::uint64_t a) { return a != 0 && (a & (a - 1)) == 0; }

// Canaries are written sparsely (both ends and every 61st byte) so that large blocks stay cheap.
template <class F> void for_canary(std::uint32_t size, F &&f) {
  std::uint32_t i = 0;
  for (; i < size && i < 64; ++i) f(i);
  const std::uint32_t tail = size > 64 ? size - 64 : 0;
  for (i = (i + 60) / 61 * 61; i < tail; i += 61) f(i);
  for (i = std::max<std::uint32_t>(tail, 64); i < size; ++i) f(i);
}
std::byte canary(std::uint32_t block, std::uint32_t i) {
  const std::uint32_t x = block * 2654435761u + i * 40503u;
  return static_cast<std::byte>((x >> 13) ^ (x >> 24) ^ i);
}

// A unique path for this process and call (several fuzzing jobs may share the directory).
std::string temp_path() {
  static std::atomic<unsigned> counter{0};
  std::error_code ec;
  std::filesystem::path dir = std::filesystem::is_directory("/dev/shm", ec)
                                  ? std::filesystem::path("/dev/shm")
                                  : std::filesystem::temp_directory_path(ec);
  return (dir / ("lfarena-ops-fuzz-" + std::to_string(::getpid()) + "-" +
                 std::to_string(counter++) + ".arena"))
      .string();
}

struct Seg {
  std::uint32_t offset;
  std::uint32_t size;
};

// The sequential spec of the arena.
struct Model {
  std::uint32_t capacity = 0, data_offset = 0, min_segment = 0, max_alignment = 0;
  FreelistKind kind = FreelistKind::none;
  bool checked = false;
  std::uint64_t bump = 0, discarded = 0;
  std::vector<Seg> freelist;                   // in the policy's order (sorted policies)
  // segregated (detail/segregated.hpp): one LIFO stack per size class, top at the back.
  std::vector<std::vector<Seg>> classes = std::vector<std::vector<Seg>>(lfarena::detail::kClassCount);
  std::map<std::uint32_t, std::uint32_t> live; // offset -> size
  // Checked mode: the block map, per granule: state 0 nothing, 1 live start, 2 freed start;
  // end mark on the last granule of a live block.
  std::vector<std::uint8_t> state;
  std::vector<std::uint8_t> end;

  bool before(const Seg &a, const Seg &b) const {
    if (a.size != b.size) return kind == FreelistKind::optimistic ? a.size > b.size : a.size < b.size;
    return a.offset < b.offset;
  }
  void insert(std::uint32_t off, std::uint32_t size) {
    const Seg s{off, size};
    if (kind == FreelistKind::segregated) {
      classes[lfarena::detail::floor_class(size)].push_back(s);
      return;
    }
    auto it = std::find_if(freelist.begin(), freelist.end(),
                           [&](const Seg &x) { return !before(x, s); });
    freelist.insert(it, s);
  }
  void give_back(std::uint32_t off, std::uint32_t size) {
    if (kind != FreelistKind::none && size >= min_segment) insert(off, size);
    else discarded += size;
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
    if (need > capacity) return false;
    const std::uint32_t first = d::ceil_class(need);
    if (first >= d::kClassCount) return false;
    auto take = [&](std::vector<Seg> &st, std::size_t i) {
      out = st[i];
      st.erase(st.begin() + static_cast<std::ptrdiff_t>(i));
      return true;
    };
    if (first > 0 && !classes[first - 1].empty() && classes[first - 1].back().size >= need)
      return take(classes[first - 1], classes[first - 1].size() - 1);
    for (std::uint32_t c = first; c < d::kClassCount; ++c)
      if (!classes[c].empty()) return take(classes[c], classes[c].size() - 1);
    if (first > 0) {
      std::vector<Seg> &st = classes[first - 1];
      for (std::size_t k = 0; k < 8 && k < st.size(); ++k)
        if (st[st.size() - 1 - k].size >= need) return take(st, st.size() - 1 - k);
    }
    return false;
  }

  // Predicts allocate(size, align): the error, or the block.
  errc allocate(std::uint32_t size, std::uint32_t align, Block &out) {
    if (size == 0) return errc::zero_size;
    if (!pow2(align) || align > max_alignment) return errc::bad_alignment;
    if (align < kGranule) align = kGranule;
    const std::uint64_t rounded = align_up(size, kGranule);
    if (rounded + align > capacity) return errc::size_overflow;
    const auto sz = static_cast<std::uint32_t>(rounded);
    const std::uint64_t start = align_up(bump, align);
    if (start + sz <= capacity) {
      const auto pad = static_cast<std::uint32_t>(start - bump);
      const auto pad_at = static_cast<std::uint32_t>(bump);
      bump = start + sz;
      if (pad != 0) give_back(pad_at, pad);
      out = {static_cast<std::uint32_t>(start), sz};
    } else {
      if (kind == FreelistKind::none) return errc::out_of_memory;
      Seg s{};
      if (kind == FreelistKind::segregated) {
        if (!take_segregated(sz, align, s)) return errc::out_of_memory;
      } else {
        std::size_t i = 0;
        if (kind == FreelistKind::optimistic) {
          if (freelist.empty() || !fits(freelist[0], sz, align)) return errc::out_of_memory;
        } else {
          while (i < freelist.size() && !fits(freelist[i], sz, align)) ++i;
          if (i == freelist.size()) return errc::out_of_memory;
        }
        s = freelist[i];
        freelist.erase(freelist.begin() + static_cast<std::ptrdiff_t>(i));
      }
      const auto at = static_cast<std::uint32_t>(align_up(s.offset, align));
      const std::uint32_t pad = at - s.offset;
      std::uint32_t got = s.size - pad;
      if (pad >= min_segment) insert(s.offset, pad);
      else discarded += pad;
      const std::uint32_t rest = got - sz;
      if (rest >= min_segment) {
        got = sz;
        insert(at + sz, rest);
      }
      out = {at, got};
    }
    if (checked) {
      const std::uint32_t g = out.offset / kGranule, last = g + out.size / kGranule - 1;
      state[g] = 1;
      for (std::uint32_t x = g + 1; x <= last; ++x) state[x] = 0;
      end[last] = 1;
    }
    live[out.offset] = out.size;
    return errc::ok;
  }

  // Predicts deallocate(offset, size) without changing anything (see apply_free).
  errc classify_free(std::uint32_t off, std::uint32_t size) const {
    if (off == 0) return errc::null_offset;
    if (size == 0) return errc::zero_size;
    const std::uint64_t rounded = align_up(size, kGranule);
    if (off < data_offset || off + rounded > bump) return errc::offset_out_of_range;
    if (off % kGranule != 0) return errc::not_block_start;
    if (checked) {
      const std::uint32_t g = off / kGranule;
      const auto last = static_cast<std::uint32_t>(g + rounded / kGranule - 1);
      auto cls = [&] {
        return state[g] == 1 ? errc::ok : state[g] == 2 ? errc::double_free : errc::not_block_start;
      };
      if (errc e = cls(); e != errc::ok) return e;
      bool stray = false;
      for (std::uint32_t x = g; x < last; ++x) stray = stray || end[x];
      if (!end[last] || stray) return errc::wrong_size;
    }
    return errc::ok;
  }
  // Applies a free that classify_free() accepted.
  void apply_free(std::uint32_t off, std::uint32_t size) {
    const auto sz = static_cast<std::uint32_t>(align_up(size, kGranule));
    if (checked) {
      state[off / kGranule] = 2;
      end[off / kGranule + sz / kGranule - 1] = 0;
    }
    live.erase(off);
    if (off + std::uint64_t{sz} == bump) bump = off;
    else give_back(off, sz);
  }

  template <class F> void for_each_free(F &&f) const {
    for (const Seg &s : freelist) f(s);
    for (const auto &st : classes)
      for (const Seg &s : st) f(s);
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
    for (const auto &[o, s] : live) n += s;
    return n;
  }
};

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
      if (p[i] != canary(off, i)) fail("canary mismatch in block (offset, size, byte)", off, size, i);
    });
  }
  void verify_all() const {
    for (const auto &[o, s] : m.live) verify(o, s);
  }

  // A block returned by the arena must be exactly the predicted one and overlap nothing live.
  void accept(const Block &got, const Block &want, const char *op) {
    if (got.offset != want.offset || got.size != want.size) {
      std::fprintf(stderr, "ops_fuzz: %s returned {%u, %u}, model predicts {%u, %u}\n", op,
                   got.offset, got.size, want.offset, want.size);
      fail("wrong block", got.offset, got.size);
    }
    expect(got.offset >= m.data_offset && std::uint64_t{got.offset} + got.size <= m.capacity,
           "block outside the data area", got.offset, got.size);
    auto it = m.live.find(got.offset);
    if (it != m.live.end()) {
      // m.live already holds the block (inserted by the model); check its neighbours only.
      auto next = std::next(it);
      if (next != m.live.end())
        expect(got.offset + std::uint64_t{got.size} <= next->first, "overlap with next block",
               got.offset, next->first);
      if (it != m.live.begin()) {
        auto prev = std::prev(it);
        expect(prev->first + std::uint64_t{prev->second} <= got.offset,
               "overlap with previous block", prev->first, got.offset);
      }
    }
  }

  void do_allocate(std::uint32_t size, std::uint32_t align, int flavour) {
    Block want{};
    const errc e = m.allocate(size, align, want);
    lfarena::Result<Block> r = flavour == 1 ? arena.allocate_zeroed(size, align)
                                            : arena.allocate(size, align);
    expect_code(r, e, "allocate");
    if (!r) return;
    accept(*r, want, "allocate");
    if (flavour == 1) {
      const std::byte *p = arena.base() + r->offset;
      for (std::uint32_t i = 0; i < r->size; ++i)
        expect(p[i] == std::byte{0}, "allocate_zeroed left a non-zero byte", r->offset, i);
    }
    fill(r->offset, r->size);
  }

  template <class T> void do_create(std::uint64_t value) {
    Block want{};
    const std::uint32_t align = alignof(T) < 8 ? 8 : alignof(T);
    const errc e = m.allocate(sizeof(T), align, want);
    lfarena::Result<Block> r = arena.create<T>(value);
    expect_code(r, e, "create");
    if (!r) return;
    expect(r->offset == want.offset && r->size == want.size, "create gave the wrong block", r->offset,
           want.offset);
    T *t = arena.pointer<T>(r->offset);
    expect(t != nullptr, "pointer<T> of a created object is null", r->offset);
    expect(t->ok(value), "created object has the wrong value", r->offset);
    // The bytes past sizeof(T) (a kept tail) were zeroed as well.
    const std::byte *p = arena.base() + want.offset;
    for (std::uint32_t i = sizeof(T); i < want.size; ++i)
      expect(p[i] == std::byte{0}, "create left a non-zero byte after the object", r->offset, i);
    t->~T();
    fill(want.offset, want.size);
  }

  void do_free(std::uint32_t off, std::uint32_t size, const char *what) {
    const errc e = m.classify_free(off, size);
    if (e == errc::ok) verify(off, m.live.at(off));
    lfarena::Status s = arena.deallocate(off, size);
    expect_code(s, e, what);
    if (e == errc::ok) m.apply_free(off, size);
  }

  void do_check() {
    verify_all();
    lfarena::Result<lfarena::CheckReport> r = arena.check();
    if (!r) {
      std::fprintf(stderr, "ops_fuzz: check() failed: %s\n", r.message().c_str());
      fail("check failed");
    }
    expect(r->free_segments == m.free_segments(), "check: free_segments", r->free_segments,
           m.free_segments());
    expect(r->free_bytes == m.free_bytes(), "check: free_bytes", r->free_bytes, m.free_bytes());
    expect(r->largest_free == m.largest_free(), "check: largest_free", r->largest_free,
           m.largest_free());
    expect(r->live_bytes == m.live_bytes(), "check: live_bytes", r->live_bytes, m.live_bytes());
    expect(r->live_blocks == (m.checked ? m.live.size() : 0), "check: live_blocks",
           r->live_blocks, m.live.size());
    check_stats();
  }

  void check_stats() const {
    const lfarena::Stats st = arena.stats();
    expect(st.capacity == m.capacity, "stats: capacity", st.capacity, m.capacity);
    expect(st.data_offset == m.data_offset, "stats: data_offset", st.data_offset, m.data_offset);
    expect(st.allocated == m.bump - m.data_offset, "stats: allocated", st.allocated, m.bump);
    expect(st.remaining == m.capacity - m.bump, "stats: remaining", st.remaining, m.bump);
    expect(st.discarded == m.discarded, "stats: discarded", st.discarded, m.discarded);
  }

  lfarena::Result<Arena> open(bool read_only) {
    Options o = opts;
    o.open_mode = lfarena::OpenMode::open_existing;
    o.read_only = read_only;
    return Arena::open_file(path, o);
  }

  void do_reopen(bool read_only_pass) {
    if (backing != 2) {
      verify_all();
      return;
    }
    arena = Arena();
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
    verify_all();
    check_stats();
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
      if (c != 0) return false;
    return n == static_cast<std::uint32_t>(x);
  }
};
struct alignas(256) Big {
  std::uint64_t words[40];
  explicit Big(std::uint64_t x) : words{} { words[39] = x; }
  bool ok(std::uint64_t x) const { return words[0] == 0 && words[39] == x; }
};

std::uint32_t pick_align(FuzzedDataProvider &fdp) {
  switch (fdp.ConsumeIntegralInRange<int>(0, 7)) {
  case 0: return fdp.ConsumeIntegral<std::uint32_t>(); // anything, usually bad
  case 1: return 0;
  case 2: return 1u << fdp.ConsumeIntegralInRange<int>(0, 31);
  case 3: return 1u << fdp.ConsumeIntegralInRange<int>(0, 12);
  default: return 1u << fdp.ConsumeIntegralInRange<int>(0, 4);
  }
}

std::uint32_t pick_size(FuzzedDataProvider &fdp, std::uint32_t capacity) {
  switch (fdp.ConsumeIntegralInRange<int>(0, 9)) {
  case 0: return fdp.ConsumeIntegral<std::uint32_t>();
  case 1: return fdp.ConsumeIntegralInRange<std::uint32_t>(0, capacity + 64);
  case 2: return fdp.ConsumeIntegralInRange<std::uint32_t>(capacity - 512, capacity);
  case 3: return fdp.ConsumeIntegralInRange<std::uint32_t>(1, 4096);
  default: return fdp.ConsumeIntegralInRange<std::uint32_t>(1, 256);
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
  if (fdp.ConsumeBool()) o.capacity &= ~7u; // mostly granule multiples; odd sizes too
  o.min_segment = 16 + 8 * fdp.ConsumeIntegralInRange<std::uint32_t>(0, 14);
  o.max_alignment = 8u << fdp.ConsumeIntegralInRange<int>(0, 9);
  o.user_reserved = fdp.ConsumeBool() ? fdp.ConsumeIntegralInRange<std::uint32_t>(0, 1024) : 0;
  o.user_version = fdp.ConsumeIntegral<std::uint16_t>();
  o.checked = fdp.ConsumeBool();
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
  const std::uint64_t granules = (o.capacity + 7) / 8;
  if (m.checked) {
    m.state.assign(granules + 1, 0);
    m.end.assign(granules + 1, 0);
  }

  lfarena::Result<Arena> created = Arena();
  if (h.backing == 0) created = Arena::heap(o);
  else if (h.backing == 1) created = Arena::anonymous(o);
  else {
    h.path = temp_path();
    Options c = o;
    c.open_mode = lfarena::OpenMode::create_new;
    created = Arena::open_file(h.path, c);
  }
  // A small capacity may not hold the fixed area, bitmaps and user area: a clean refusal.
  if (!created && (created.code() == errc::invalid_capacity || created.code() == errc::invalid_reserved) &&
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
  // The layout (header, thread-chunk slots, bitmaps, user area) is the header unit tests'
  // business; here the data offset only has to be sane and past everything else.
  m.data_offset = h.arena.stats().data_offset;
  expect(m.data_offset % 64 == 0 && m.data_offset >= lfarena::detail::kFixedAreaEnd &&
             m.data_offset + 64u <= m.capacity,
         "implausible data offset", m.data_offset, m.capacity);
  m.bump = m.data_offset;
  h.check_stats();
  {
    const std::span<std::byte> ua = h.arena.user_area();
    expect(ua.size() == o.user_reserved, "user_area size", ua.size(), o.user_reserved);
    expect(ua.empty() || ua.data() + ua.size() <= h.arena.base() + m.data_offset,
           "user_area runs into the data area");
  }

  for (int n = 0; n < kMaxOps && fdp.remaining_bytes() > 0; ++n) {
    switch (fdp.ConsumeIntegralInRange<int>(0, 15)) {
    case 0: case 1: case 2: case 3: case 4: { // allocate
      const std::uint32_t sz = pick_size(fdp, m.capacity);
      const std::uint32_t al = pick_align(fdp);
      h.do_allocate(sz, al, 0);
      break;
    }
    case 5: { // allocate_zeroed
      const std::uint32_t sz = pick_size(fdp, m.capacity);
      const std::uint32_t al = pick_align(fdp);
      h.do_allocate(sz, al, 1);
      break;
    }
    case 6: { // create<T>
      const std::uint64_t v = fdp.ConsumeIntegral<std::uint64_t>();
      switch (fdp.ConsumeIntegralInRange<int>(0, 3)) {
      case 0: h.do_create<Small>(v); break;
      case 1: h.do_create<Pair>(v); break;
      case 2: h.do_create<Line>(v); break;
      default: h.do_create<Big>(v); break;
      }
      break;
    }
    case 7: case 8: case 9: { // free the i-th live block, with its size (or the rounded request)
      if (m.live.empty()) break;
      auto it = m.live.begin();
      std::advance(it, fdp.ConsumeIntegralInRange<std::size_t>(0, m.live.size() - 1));
      const auto [off, sz] = *it;
      std::uint32_t give = sz;
      if (fdp.ConsumeBool() && sz > 1) give = sz - fdp.ConsumeIntegralInRange<std::uint32_t>(0, 7); // same granules
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
        if (!out && !m.checked) break; // would be undefined behaviour unchecked
      } else if (kind == 2) { // below the data area
        off = fdp.ConsumeIntegralInRange<std::uint32_t>(1, m.data_offset - 1);
        sz = fdp.ConsumeIntegralInRange<std::uint32_t>(1, 64);
      } else if (kind == 3) { // straddling the bump offset
        off = static_cast<std::uint32_t>(m.bump) - fdp.ConsumeIntegralInRange<std::uint32_t>(0, 64);
        sz = fdp.ConsumeIntegralInRange<std::uint32_t>(65, 4096);
      } else { // inside the allocated range: misaligned anywhere; checked mode: any offset/size
        if (m.bump <= m.data_offset) break;
        off = fdp.ConsumeIntegralInRange<std::uint32_t>(m.data_offset,
                                                        static_cast<std::uint32_t>(m.bump) - 1);
        if (kind == 4) off |= 1u + fdp.ConsumeIntegralInRange<std::uint32_t>(0, 6) % 7;
        else if (!m.checked) break;
        if (kind == 6 && !m.live.empty()) { // a live block, wrong size / or a freed start
          auto it = m.live.lower_bound(off);
          if (it == m.live.end()) it = m.live.begin();
          off = it->first;
          sz = it->second + 8 * fdp.ConsumeIntegralInRange<std::uint32_t>(1, 8);
          if (fdp.ConsumeBool() && it->second > 8) sz = it->second - 8;
        } else {
          off = off & ~(kind == 4 ? 0u : 7u);
          sz = fdp.ConsumeIntegralInRange<std::uint32_t>(1, 512);
        }
        if (!m.checked && (off % 8 == 0)) break;
      }
      const errc e = m.classify_free(off, sz);
      if (!m.checked && e == errc::ok) break; // never reached, but never UB either
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
      const bool pinside = off >= m.data_offset && std::uint64_t{off} + 8 <= m.capacity && off % 8 == 0;
      expect((h.arena.pointer<std::uint64_t>(off) != nullptr) == pinside, "pointer<u64> bounds", off);
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
