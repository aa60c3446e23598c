// fuzz/damage_fuzz.cpp -- fuzz target `damage`: a user's writes into freed blocks (docs: "damaged
// memory is an error, never a hang or a crash").
//
// One small arena per input; allocations and frees decoded from the input, and between them
// writes into blocks the harness has freed (the free nodes of the lists live there: node.hpp, a
// link word at offset 0 and a checked size word at offset 8 of a free segment). In ASan builds
// free arena memory is poisoned, so the harness unpoisons exactly the bytes it writes or reads
// and poisons them again afterwards (as allocator/tests/damage_test.cpp's scribble() does).
//
// Input (fuzz_bytes::Reader, front to back; 0 past the end):
//   byte 0   bit 0: file backing (unique temporary path, removed at the end), else heap;
//            bits 1-2: policy 0 none, 1 optimistic, 2 pessimistic, 3 segregated;
//            bit 3: checked mode; bit 4: thread-local chunks on; bit 5: size_index off;
//            bits 6-7: min_segment 16, 24, 32, 48
//   byte 1   capacity = 8192 + 224 * byte (8 KiB .. 63.8 KiB)
//   byte 2   bits 0-1: max_alignment 8 << v (8..64), bit 6: max_alignment 256 instead;
//            bits 2-3: thread_chunk 256 << v (256..2048; used with byte 0 bit 4)
//   then operations until the input ends (at most kMaxOps), each an opcode byte (low nibble:
//   kind, high nibble: its parameter) and its operands:
//     0-4   allocate: size byte s (s < 224: 1 + s, else (s - 223) * 256 + next byte; reduced to
//           at most capacity/2), alignment byte a (1 << (a % (log2(max_alignment) + 1))).
//           Parameter bit 0: leave the block unwritten (no canary: the library's stale node
//           words stay in it), else fill it with a canary derived from its offset; bit 1:
//           allocate_zeroed; bit 2: the size byte is a freed-block index instead, followed by a
//           byte d: size = that block's size + 8 * (int8)d (requests that fit what a damaged
//           node claims).
//     5-7   free the i-th live block (index byte), after verifying its canary.
//     8-11  write into a freed block: pattern = parameter, then a freed-block index byte, a
//           position byte p (p % 4: 0 the link word at +0, 1 the size word at +8, 2 some word
//           8 * (p / 4 mod size/8), 3 some byte p / 4 mod size), then the pattern's operands:
//             0 zeros             1 ones (0xff)
//             2 an 8-byte value from the input (u64)
//             3 a copy of the word at +0 of another freed block (index byte)
//             4 a copy of the word at +8 of another freed block (index byte)
//             5 a plausible offset: another freed block's offset (index byte), as a raw u64
//             6 the raw offset of a live block (index byte)
//             7 16 zero bytes (both node words at once)
//             8 a word snapshotted earlier (register byte % 4; see 13), i.e. a stale node word
//             9 one byte xor-ed with a non-zero input byte
//            10 the other node word of the same block (+0 <-> +8)
//            11 forged: a correctly keyed link word (node.hpp) to another freed block (index
//               byte, tag u16, mark bit from the tag's top bit)
//            12 forged: a keyed link word to the block itself
//            13 forged: a keyed size word whose check passes, with size 8 * (u16)
//            14 forged: a keyed link word to a live block (index byte)
//            15 data_offset + 8 * (u16) as a raw u64
//           Writes are 8 bytes (16 for pattern 7, 1 for 9), cut at the block's end; a write
//           that would touch a live block (the freed block was handed out again) is skipped.
//           "Forged" words need the node key from the header, which no stray write knows, and
//           replayed node words (3, 4, 8, 10) need a read of freed memory first (an ASan report
//           of its own): both are stronger than a user's accident, so after one the "overlaps
//           no live block" assertion is lifted (the README states this residual undefined
//           behaviour); a finding that needs them says so.
//     12    check()
//     13    snapshot: the word at +0 (parameter bit 0 clear) or +8 of a freed block (index
//           byte) into register (parameter >> 1) % 4
//     14    file backing: close and reopen read-write (same thread_chunk); otherwise check()
//     15    free the most recently allocated live block
//
// Asserted (any failure prints the last operations and aborts):
//  - no crash, no hang (the fuzz job's -timeout), no sanitizer report;
//  - allocate returns a block inside the data area [data_offset, capacity), aligned (absolute
//    address) to the request, at least the request rounded up to 8, overlapping no live block
//    the harness holds; or fails with out_of_memory or corrupt_freelist (the latter only after
//    a write into a freed block, and with a message naming a non-zero damaged offset);
//  - a free of a live block returns ok or corrupt_freelist (likewise);
//  - the canaries of the filled live blocks are intact when checked (on free, at check(), after
//    a reopen): the library never writes into a live block, damage or not;
//  - check() returns ok, corrupt_freelist or accounting_mismatch; if ok, in checked mode
//    live_bytes and live_blocks equal the live blocks' total and count. Before any write into a
//    freed block: check() passes and its live_bytes is exact in both modes (no false alarm);
//  - a reopen of an undamaged file succeeds; a refused reopen leaves the file byte-for-byte
//    unchanged (and ends the input), an accepted one keeps every live block intact.
// No state is kept between inputs. DAMAGE_FUZZ_TRACE=1 prints every operation as it runs (a
// failure prints the last kTrace operations anyway).
#include <lfarena/arena.hpp>
#include <lfarena/detail/header.hpp>
#include <lfarena/detail/node.hpp>
#include <lfarena/detail/tagged.hpp>

#include "fuzz_bytes.hpp"
#include "fuzz_temp.hpp"

#include <fcntl.h>
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
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

namespace {

using lfarena::Arena;
using lfarena::Block;
using lfarena::errc;
using lfarena::FreelistKind;
using lfarena::Options;
namespace d = lfarena::detail;

constexpr int kMaxOps = 1500;
constexpr std::size_t kMaxFreed = 64;

// ---- a trace of the last operations, printed with any failure --------------------------------
constexpr int kTrace = 24;
char g_trace[kTrace][192];
int g_trace_n = 0;
bool g_verbose = false; // DAMAGE_FUZZ_TRACE=1: print every operation as it runs

template <class... A> void trace(const char *fmt, A... a) {
  char *line = g_trace[g_trace_n++ % kTrace];
  std::snprintf(line, sizeof g_trace[0], fmt, a...);
  if (g_verbose)
    std::fprintf(stderr, "  op: %s\n", line);
}

[[noreturn]] void fail(const char *what, const std::string &detail = {}) {
  std::fprintf(stderr, "damage_fuzz: FAILURE: %s %s\n", what, detail.c_str());
  std::fprintf(stderr, "damage_fuzz: last operations (oldest first):\n");
  for (int i = std::max(0, g_trace_n - kTrace); i < g_trace_n; ++i)
    std::fprintf(stderr, "  %s\n", g_trace[i % kTrace]);
  std::fflush(stderr);
  std::abort();
}
std::string num(unsigned long long v) { return std::to_string(v); }

// ---- ASan: touching free (poisoned) arena bytes on purpose ------------------------------------
// Unpoisons the 8-byte granules covering [p, p+n), runs f, and poisons again those that were
// poisoned (the region base is page aligned and blocks are multiples of 8, so every granule is
// either fully poisoned or not).
template <class F>
void touch([[maybe_unused]] std::byte *p, [[maybe_unused]] std::size_t n, F &&f) {
#if defined(LFARENA_ASAN)
  auto *lo =
      reinterpret_cast<std::byte *>(reinterpret_cast<std::uintptr_t>(p) & ~std::uintptr_t{7});
  auto *hi = reinterpret_cast<std::byte *>((reinterpret_cast<std::uintptr_t>(p + n) + 7) &
                                           ~std::uintptr_t{7});
  bool was[8] = {};
  const std::size_t granules = static_cast<std::size_t>(hi - lo) / 8;
  for (std::size_t g = 0; g < granules && g < 8; ++g)
    was[g] = __asan_address_is_poisoned(lo + 8 * g) != 0;
  ASAN_UNPOISON_MEMORY_REGION(lo, static_cast<std::size_t>(hi - lo));
  f();
  for (std::size_t g = 0; g < granules && g < 8; ++g)
    if (was[g])
      ASAN_POISON_MEMORY_REGION(lo + 8 * g, 8);
#else
  f();
#endif
}

std::byte canary(std::uint32_t block, std::uint32_t i) {
  const std::uint32_t x = block * 2654435761u + i * 2246822519u;
  return static_cast<std::byte>((x >> 11) ^ (x >> 23) ^ i);
}
// Both ends and a sparse middle: cheap for large blocks.
template <class F> void for_canary(std::uint32_t size, F &&f) {
  for (std::uint32_t i = 0; i < size; i += (i < 32 || i + 32 >= size) ? 1 : 37)
    f(i);
}

std::vector<char> read_all(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The damaged offset a corrupt_freelist message names ("... the free node at offset N is
// damaged ..."), 0 if it names none.
unsigned long long named_offset(const std::string &msg) {
  static const std::string key = "free node at offset ";
  const std::size_t at = msg.find(key);
  if (at == std::string::npos)
    return 0;
  return std::strtoull(msg.c_str() + at + key.size(), nullptr, 10);
}

struct Held {
  std::uint32_t offset = 0, size = 0;
  bool filled = false;
};

struct Run {
  Options opts;
  bool file = false;
  std::string path;
  Arena arena;
  std::uint32_t data_offset = 0, capacity = 0;
  std::map<std::uint32_t, Held> live;
  std::uint32_t last_allocated = 0;
  std::vector<Block> freed; // blocks the harness freed (a ring of kMaxFreed)
  std::size_t freed_next = 0;
  std::uint64_t regs[4] = {};
  bool damaged = false; // a write into a freed block happened
  bool forged = false;  // ... with a keyed (forged) word
  int writes = 0;

  std::string state() const {
    return std::string(" [policy ") + num(static_cast<unsigned>(opts.freelist)) + ", checked " +
           num(opts.checked) + ", size_index " + num(opts.size_index) + ", thread_chunk " +
           num(opts.thread_chunk) + ", min_segment " + num(opts.min_segment) + ", capacity " +
           num(capacity) + ", data_offset " + num(data_offset) + ", " + (file ? "file" : "heap") +
           ", writes into freed blocks " + num(writes) +
           (forged ? " incl. forged keyed words" : "") + "]";
  }

  void fill(const Held &h) {
    std::byte *p = arena.base() + h.offset;
    for_canary(h.size, [&](std::uint32_t i) { p[i] = canary(h.offset, i); });
  }
  void verify(const Held &h, const char *when) const {
    // After a forged or replayed node word two live blocks may overlap (see allocate), and the
    // harness's own canary writes then clobber each other: nothing to blame the library for.
    if (!h.filled || forged)
      return;
    const std::byte *p = arena.base() + h.offset;
    for_canary(h.size, [&](std::uint32_t i) {
      if (p[i] != canary(h.offset, i))
        fail("the library wrote into a live block", std::string(when) + ": block {" +
                                                        num(h.offset) + ", " + num(h.size) +
                                                        "} byte " + num(i) + state());
    });
  }
  void verify_all(const char *when) const {
    for (const auto &[o, h] : live)
      verify(h, when);
  }
  // Does [off, off+n) overlap a live block?
  const Held *overlap(std::uint64_t off, std::uint64_t n) const {
    auto next = live.lower_bound(static_cast<std::uint32_t>(off));
    if (next != live.end() && next->first < off + n)
      return &next->second;
    if (next != live.begin()) {
      --next;
      if (std::uint64_t{next->first} + next->second.size > off)
        return &next->second;
    }
    return nullptr;
  }
  const Held *live_at(std::uint8_t i) const {
    if (live.empty())
      return nullptr;
    auto it = live.begin();
    std::advance(it, i % live.size());
    return &it->second;
  }
  const Block *freed_at(std::uint8_t i) const {
    return freed.empty() ? nullptr : &freed[i % freed.size()];
  }
  void note_freed(const Held &h) {
    const Block b{h.offset, h.size};
    if (freed.size() < kMaxFreed)
      freed.push_back(b);
    else
      freed[freed_next++ % kMaxFreed] = b;
  }

  d::NodeLayout layout() const {
    d::Geometry g;
    g.capacity = capacity;
    g.data_offset = data_offset;
    g.min_segment = arena.options().min_segment;
    g.node_key =
        d::get_le64(reinterpret_cast<const unsigned char *>(arena.base()) + d::hdr::node_key);
    return d::NodeLayout(g);
  }
  std::uint64_t read_word(std::uint32_t off) const {
    std::uint64_t w = 0;
    if (std::uint64_t{off} + 8 > capacity)
      return 0;
    touch(arena.base() + off, 8, [&] { std::memcpy(&w, arena.base() + off, 8); });
    return w;
  }

  // A corrupt_freelist error: only after damage, and naming a non-zero offset.
  void expect_damage_error(const lfarena::Error &e, const char *op) const {
    if (!damaged)
      fail("corrupt_freelist although nothing was written into a freed block",
           std::string(op) + ": " + e.message() + state());
    if (named_offset(e.message()) == 0)
      fail("corrupt_freelist message names no damaged offset",
           std::string(op) + ": " + e.message() + state());
  }

  void do_allocate(std::uint32_t size, std::uint32_t align, bool filled, bool zeroed) {
    lfarena::Result<Block> r =
        zeroed ? arena.allocate_zeroed(size, align) : arena.allocate(size, align);
    trace("allocate%s(%u, %u) -> %s {%u, %u}", zeroed ? "_zeroed" : "", size, align,
          r ? "ok" : lfarena::to_string(r.code()), r ? r->offset : 0u, r ? r->size : 0u);
    if (!r) {
      if (r.code() == errc::corrupt_freelist)
        expect_damage_error(r.error(), "allocate");
      else if (r.code() != errc::out_of_memory)
        fail("allocate failed with an undocumented code", r.message() + state());
      return;
    }
    const Block b = *r;
    const std::uint64_t rounded = (std::uint64_t{size} + 7) & ~std::uint64_t{7};
    const std::string what = "allocate(" + num(size) + ", " + num(align) + ") returned {" +
                             num(b.offset) + ", " + num(b.size) + "}";
    if (b.offset < data_offset || std::uint64_t{b.offset} + b.size > capacity)
      fail("block outside the data area", what + state());
    if ((reinterpret_cast<std::uintptr_t>(arena.base()) + b.offset) % std::max(align, 8u) != 0)
      fail("misaligned block", what + state());
    if (b.size < rounded)
      fail("block smaller than the request", what + state());
    // Forged keyed words (patterns 11-14) and node words read from freed memory and written
    // back (3, 4, 8, 10: a read after free first) are beyond the promise: they can make a
    // segment look bigger or lead a list to a live block (README: residual undefined
    // behaviour). Everything else is still asserted for them: no crash, no hang, in range.
    if (const Held *h = overlap(b.offset, b.size); h != nullptr && !forged)
      fail("block overlaps a live block",
           what + " overlaps live {" + num(h->offset) + ", " + num(h->size) + "}" + state());
    if (zeroed) {
      for (std::uint32_t i = 0; i < b.size; ++i)
        if (arena.base()[b.offset + i] != std::byte{0})
          fail("allocate_zeroed left a non-zero byte", what + state());
    }
    Held h{b.offset, b.size, filled};
    if (filled)
      fill(h);
    live[b.offset] = h;
    last_allocated = b.offset;
  }

  void do_free(const Held h) {
    verify(h, "before its free");
    lfarena::Status s = arena.deallocate(h.offset, h.size);
    trace("deallocate(%u, %u) -> %s", h.offset, h.size, s ? "ok" : lfarena::to_string(s.code()));
    if (!s && !forged) { // after a forged/replayed word blocks may overlap: any code
      if (s.code() != errc::corrupt_freelist)
        fail("free of a live block failed with a code other than corrupt_freelist",
             s.message() + state());
      expect_damage_error(s.error(), "deallocate");
    }
    // Freed either way: on corrupt_freelist the bytes are counted as discarded.
    live.erase(h.offset);
    note_freed(h);
  }

  void do_check(const char *when) {
    verify_all("at check()");
    lfarena::Result<lfarena::CheckReport> c = arena.check();
    trace("check() %s -> %s%s%s", when, c ? "ok" : lfarena::to_string(c.code()), c ? "" : ": ",
          c ? "" : c.message().substr(0, 120).c_str());
    std::uint64_t bytes = 0;
    for (const auto &[o, h] : live)
      bytes += h.size;
    if (!c) {
      if (c.code() != errc::corrupt_freelist && c.code() != errc::accounting_mismatch)
        fail("check() failed with an undocumented code", c.message() + state());
      if (!damaged)
        fail("check() failed although nothing was written into a freed block",
             c.message() + state());
      return;
    }
    if ((opts.checked || !damaged) && !forged) {
      if (c->live_bytes != bytes)
        fail("check() passed with live_bytes != the live blocks' total",
             num(c->live_bytes) + " != " + num(bytes) + state());
      if (opts.checked && c->live_blocks != live.size())
        fail("check() passed with live_blocks != the live blocks' count",
             num(c->live_blocks) + " != " + num(live.size()) + state());
    }
  }

  // Writes n bytes of `value` (little-endian; n <= 16, the upper 8 bytes zero) at `off`.
  void write(std::uint32_t off, std::uint32_t n, std::uint64_t value) {
    unsigned char bytes[16] = {};
    std::memcpy(bytes, &value, 8);
    touch(arena.base() + off, n, [&] { std::memcpy(arena.base() + off, bytes, n); });
  }

  void do_damage(unsigned pattern, fuzz_bytes::Reader &in) {
    const Block *fb = freed_at(in.u8());
    const std::uint8_t p = in.u8();
    std::uint32_t pos = 0;
    switch (p % 4) {
    case 0:
      pos = d::kNodeLinkWord;
      break;
    case 1:
      pos = d::kNodeSizeWord;
      break;
    case 2:
      pos = fb ? 8 * ((p / 4u) % std::max(1u, fb->size / 8)) : 0;
      break;
    default:
      pos = fb ? (p / 4u) % fb->size : 0;
      break;
    }
    std::uint32_t width = pattern == 7 ? 16 : pattern == 9 ? 1 : 8;
    std::uint64_t value = 0;
    bool forged_word = false;
    // Operands are read whether or not the write happens, so the decoding does not shift.
    switch (pattern) {
    case 0:
      break;
    case 1:
      value = ~std::uint64_t{0};
      break;
    case 2:
      value = in.u64();
      break;
    case 3:
    case 4: {
      const Block *other = freed_at(in.u8());
      value = other ? read_word(other->offset + (pattern == 3 ? 0 : 8)) : 0;
      forged_word = true; // a node word read from freed memory, replayed
      break;
    }
    case 5: {
      const Block *other = freed_at(in.u8());
      value = other ? other->offset : data_offset;
      break;
    }
    case 6: {
      const Held *h = live_at(in.u8());
      value = h ? h->offset : data_offset;
      break;
    }
    case 7:
      break;
    case 8:
      value = regs[in.u8() % 4];
      forged_word = true; // a node word read from freed memory earlier, replayed
      break;
    case 9: {
      const std::uint8_t x = static_cast<std::uint8_t>(in.u8() | 1);
      value =
          fb ? (static_cast<std::uint8_t>(read_word(fb->offset + (pos & ~7u)) >> (8 * (pos % 8))) ^
                x)
             : x;
      break;
    }
    case 10:
      value = fb ? read_word(fb->offset + ((pos & ~7u) ^ 8u)) : 0;
      forged_word = true; // a node word read from freed memory, replayed
      break;
    case 11: {
      const Block *other = freed_at(in.u8());
      const std::uint16_t tag = in.u16();
      if (fb)
        value = layout().encode_link(
            d::Link::make(other ? other->offset : 0, tag & 0x7fff, (tag & 0x8000) != 0));
      forged_word = true;
      break;
    }
    case 12:
      if (fb)
        value = layout().encode_link(d::Link::make(fb->offset, 4242));
      forged_word = true;
      break;
    case 13: {
      const std::uint32_t size = 8u * in.u16();
      if (fb)
        value = layout().encode_size(fb->offset, size);
      forged_word = true;
      break;
    }
    case 14: {
      const Held *h = live_at(in.u8());
      const std::uint16_t tag = in.u16();
      if (fb)
        value = layout().encode_link(d::Link::make(h ? h->offset : 0, tag & 0x7fff));
      forged_word = true;
      break;
    }
    default:
      value = data_offset + 8u * in.u16();
      break;
    }
    if (fb == nullptr)
      return;
    if (pos >= fb->size)
      pos = 0;
    width = std::min(width, fb->size - pos);
    const std::uint32_t at = fb->offset + pos;
    if (const Held *h = overlap(at, width)) {
      (void)h; // the freed block (or this part of it) was handed out again: not free memory
      trace("write pattern %u into freed {%u, %u} at +%u: skipped (live again)", pattern,
            fb->offset, fb->size, pos);
      return;
    }
    write(at, width, value);
    damaged = true;
    forged = forged || forged_word;
    ++writes;
    trace("write pattern %u into freed {%u, %u} at +%u (%u bytes): 0x%016llx", pattern, fb->offset,
          fb->size, pos, width, static_cast<unsigned long long>(value));
  }

  void do_snapshot(unsigned param, fuzz_bytes::Reader &in) {
    const Block *fb = freed_at(in.u8());
    if (fb == nullptr)
      return;
    const std::uint32_t at = fb->offset + ((param & 1) != 0 && fb->size >= 16 ? 8 : 0);
    regs[(param >> 1) % 4] = read_word(at);
    trace("snapshot word at %u -> r%u = 0x%016llx", at, (param >> 1) % 4,
          static_cast<unsigned long long>(regs[(param >> 1) % 4]));
  }

  // False: the reopen was refused (cleanly), the input ends.
  bool do_reopen() {
    verify_all("before a reopen");
    arena = Arena(); // closes (chunk tails go back, the file is synced)
    const std::vector<char> before = read_all(path);
    Options o = opts;
    o.open_mode = lfarena::OpenMode::open_existing;
    lfarena::Result<Arena> r = Arena::open_file(path, o);
    trace("reopen -> %s%s%s", r ? "ok" : lfarena::to_string(r.code()), r ? "" : ": ",
          r ? "" : r.message().substr(0, 120).c_str());
    if (!r) {
      if (r.code() == errc::ok)
        fail("failed reopen without an error code");
      if (!damaged)
        fail("reopen of an undamaged file failed", r.message() + state());
      if (read_all(path) != before)
        fail("a refused reopen changed the file", r.message() + state());
      return false;
    }
    arena = *r;
    if (arena.stats().data_offset != data_offset || arena.stats().capacity != capacity)
      fail("reopen changed the geometry", state());
    verify_all("after a reopen");
    return true;
  }
};

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  const char *v = std::getenv("DAMAGE_FUZZ_TRACE");
  g_verbose = v != nullptr && *v == '1';
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
  g_trace_n = 0;
  fuzz_bytes::Reader in(data, size);
  Run run;
  const std::uint8_t shape = in.u8();
  const std::uint8_t cap = in.u8();
  const std::uint8_t more = in.u8();
  Options &o = run.opts;
  run.file = (shape & 1) != 0;
  o.freelist = static_cast<FreelistKind>((shape >> 1) & 3);
  o.checked = (shape & 8) != 0;
  o.size_index = (shape & 32) == 0;
  static constexpr std::uint32_t kMinSegment[] = {16, 24, 32, 48};
  o.min_segment = kMinSegment[shape >> 6];
  o.capacity = 8192 + 224u * cap;
  o.max_alignment = (more & 64) != 0 ? 256 : 8u << (more & 3);
  if ((shape & 16) != 0)
    o.thread_chunk = 256u << ((more >> 2) & 3);
  const int max_log = std::countr_zero(o.max_alignment);

  lfarena::Result<Arena> made = Arena();
  if (run.file) {
    run.path = fuzz_files::temp_path("damage");
    Options c = o;
    c.open_mode = lfarena::OpenMode::create_new;
    made = Arena::open_file(run.path, c);
  } else {
    made = Arena::heap(o);
  }
  if (!made) {
    // A small capacity may not hold the fixed area, class table and bitmaps: a clean refusal.
    if (made.code() == errc::invalid_capacity)
      return 0;
    fail("creating the arena failed", made.message());
  }
  run.arena = *made;
  run.data_offset = run.arena.stats().data_offset;
  run.capacity = run.arena.stats().capacity;
  trace("arena: %s", run.state().c_str());

  bool open = true;
  for (int n = 0; n < kMaxOps && !in.done() && open; ++n) {
    const std::uint8_t op = in.u8();
    const unsigned kind = op & 15, param = op >> 4;
    switch (kind) {
    case 0:
    case 1:
    case 2:
    case 3:
    case 4: {
      const std::uint8_t s = in.u8();
      std::uint32_t sz;
      if ((param & 4) != 0) { // sized after a freed block: its size + 8 * (int8)
        const Block *fb = run.freed_at(s);
        const auto delta = static_cast<std::int8_t>(in.u8());
        const std::int64_t want = (fb ? std::int64_t{fb->size} : 64) + 8 * std::int64_t{delta};
        sz = static_cast<std::uint32_t>(std::max<std::int64_t>(1, want));
      } else {
        sz = s < 224 ? 1u + s : (s - 223u) * 256u + in.u8();
      }
      sz = 1 + (sz - 1) % (run.capacity / 2);
      const std::uint32_t align = 1u << (in.u8() % (max_log + 1));
      run.do_allocate(sz, align, (param & 1) == 0, (param & 2) != 0);
      break;
    }
    case 5:
    case 6:
    case 7: {
      const Held *h = run.live_at(in.u8());
      if (h != nullptr)
        run.do_free(*h);
      break;
    }
    case 8:
    case 9:
    case 10:
    case 11:
      run.do_damage(param, in);
      break;
    case 12:
      run.do_check("");
      break;
    case 13:
      run.do_snapshot(param, in);
      break;
    case 14:
      if (run.file)
        open = run.do_reopen();
      else
        run.do_check("");
      break;
    default:
      if (auto it = run.live.find(run.last_allocated); it != run.live.end())
        run.do_free(it->second);
      break;
    }
  }
  if (open) {
    run.do_check("at the end");
    while (!run.live.empty())
      run.do_free(run.live.begin()->second);
    run.do_check("after freeing everything");
    run.arena = Arena();
  }
  if (run.file) {
    std::error_code ec;
    std::filesystem::remove(run.path, ec);
  }
  return 0;
}
