// fuzz/threads_fuzz.cpp -- fuzz target `threads`: two threads run short operation sequences
// decoded from the input against one shared arena, then the final invariant is checked.
//
// The input chooses the arena (backing heap/anonymous/file in a unique temporary path, policy
// none/optimistic/pessimistic/segregated, capacity 4..64 KiB, min_segment, then one shape byte:
//   bit 0      checked mode;
//   bit 2      thread-local chunks (Options::thread_chunk) on, each thread filling its own; then
//   bit 1      large chunks (bit 3: 16 KiB, else 4 KiB; at most capacity/4 rounded down to a
//              multiple of 8), else small ones (256 bytes, the minimum);
//   bits 4-5   max_alignment: 0: 64, 1: 4096, 2: 256, 3: 8 << (3 * bits 6-7) (8, 64, 512, 4096)
// -- the shape byte was the checked flag's byte, so older inputs keep their operations) and, for
// each thread, up to kMaxOpsPerThread operations: allocate(size, align), allocate_zeroed, free
// of its own i-th block. Alignments: 8..64 when max_alignment is 64 (as before); otherwise any
// power of two up to max_alignment, max_alignment itself a quarter of the time. Before the
// threads start a few shared blocks are allocated; after both finished phase 1 (a barrier), both
// threads race to free the same shared blocks: in checked mode exactly one free per block
// succeeds and the other gets errc::double_free (or offset_out_of_range when the winner's free
// rolled the bump offset back below the block); unchecked, only one thread frees each.
// Nothing is allocated in phase 2, so a shared offset cannot be reused under the racers.
// Interleavings are not deterministic, so no exact model here (ops_fuzz has one); what must hold:
//  - every block lies in the data area below the bump offset (read after the allocation), is
//    aligned (absolute address base()+offset) to the requested alignment (at least 8), holds at
//    least the request rounded up to 8, overlaps no block held by either thread, and keeps its
//    canary (derived from its offset) until its owner frees it;
//  - no error other than out_of_memory (size_overflow exactly when size+align > capacity, and
//    double_free / offset_out_of_range for the losing racer);
//  - at quiescence check() passes, live_bytes equals the bytes the threads still hold (checked:
//    live_blocks equals their count), live + free + discarded + chunk tails == allocated, the
//    chunk tails are at most one chunk (the worker's went back when it exited), and after
//    freeing everything live_bytes is 0.
// Useful under TSan (the tsan preset replays the corpus) as well as ASan/UBSan.
#include <lfarena/arena.hpp>

#include <FuzzedDataProvider.h> // -isystem .../clang/<v>/include/fuzzer (fuzz/CMakeLists.txt)

#include "fuzz_temp.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

namespace {

using lfarena::Arena;
using lfarena::errc;
using lfarena::FreelistKind;
using lfarena::Options;

constexpr int kMaxOpsPerThread = 200;
constexpr int kShared = 6;

[[noreturn]] void fail(const char *what, unsigned long long a = 0, unsigned long long b = 0) {
  std::fprintf(stderr, "threads_fuzz: FAILURE: %s (%llu, %llu)\n", what, a, b);
  std::fflush(stderr);
  std::abort();
}

std::byte canary(std::uint32_t block, std::uint32_t i) {
  const std::uint32_t x = block * 2246822519u + i * 3266489917u;
  return static_cast<std::byte>((x >> 16) ^ i);
}
// Ends of the block plus a sparse middle: overlaps show up without O(size) work per op.
template <class F> void for_canary(std::uint32_t size, F &&f) {
  for (std::uint32_t i = 0; i < size; i += (i < 32 || i + 32 >= size) ? 1 : 29)
    f(i);
}

struct Op {
  std::uint8_t kind; // 0 allocate, 1 allocate_zeroed, 2 free
  std::uint32_t size;
  std::uint32_t align;
};

struct Held {
  std::uint32_t offset, size;
};

struct Worker {
  std::vector<Op> ops;
  std::vector<Held> held;
  std::vector<int> shared_order; // phase 2: order in which this thread frees the shared blocks
  int shared_won = 0;
  int shared_lost = 0;
};

class Barrier { // std::barrier is C++20 but missing from some libc++ builds; two threads only
public:
  void arrive_and_wait() {
    const int gen = gen_.load(std::memory_order_acquire);
    if (count_.fetch_add(1, std::memory_order_acq_rel) == 1) {
      count_.store(0, std::memory_order_relaxed);
      gen_.fetch_add(1, std::memory_order_acq_rel);
    } else {
      while (gen_.load(std::memory_order_acquire) == gen)
        std::this_thread::yield();
    }
  }

private:
  std::atomic<int> count_{0};
  std::atomic<int> gen_{0};
};

void run(const Arena &a, Worker &w, const std::vector<Held> &shared, bool checked,
         Barrier &barrier) {
  const std::uint32_t data_offset = a.stats().data_offset, capacity = a.stats().capacity;
  // With chunks, a thread's first allocate or free claims a slot and provisions free-cache
  // blocks, which may reuse a freed shared block (DESIGN 5.11). Done here, before the ops, so
  // phase 2 really allocates nothing: a second free of a shared block then meets the first
  // free's result, never an arena block that reused its bytes (threads_fuzz found that race).
  if (a.options().thread_chunk != 0)
    if (lfarena::Result<lfarena::Block> b = a.allocate(8))
      if (!a.deallocate(b->offset, b->size))
        fail("priming free failed", b->offset, b->size);
  for (const Op &op : w.ops) {
    if (op.kind == 2) {
      if (w.held.empty())
        continue;
      const std::size_t i = op.size % w.held.size();
      const Held h = w.held[i];
      for_canary(h.size, [&](std::uint32_t k) {
        if (a.base()[h.offset + k] != canary(h.offset, k))
          fail("canary mismatch", h.offset, k);
      });
      if (lfarena::Status s = a.deallocate(h.offset, h.size); !s) {
        std::fprintf(stderr, "threads_fuzz: %s\n", s.message().c_str());
        fail("free of a held block failed", h.offset, h.size);
      }
      w.held[i] = w.held.back();
      w.held.pop_back();
      continue;
    }
    lfarena::Result<lfarena::Block> r =
        op.kind == 1 ? a.allocate_zeroed(op.size, op.align) : a.allocate(op.size, op.align);
    const std::uint32_t align = std::max<std::uint32_t>(op.align, 8);
    const std::uint64_t rounded = (std::uint64_t{op.size} + 7u) & ~std::uint64_t{7};
    if (!r) {
      const bool too_big = rounded + align > capacity;
      if (r.code() != (too_big ? errc::size_overflow : errc::out_of_memory)) {
        std::fprintf(stderr, "threads_fuzz: %s\n", r.message().c_str());
        fail("allocate failed with an unexpected error", op.size, op.align);
      }
      continue;
    }
    const lfarena::Block b = *r;
    // Below the bump offset even while the other thread allocates and frees: the offset only
    // rolls back over blocks (or chunk tails) that end at it, and none of those overlap ours.
    const std::uint64_t top = std::uint64_t{data_offset} + a.stats().allocated;
    if ((reinterpret_cast<std::uintptr_t>(a.base()) + b.offset) % align != 0 || b.size < rounded ||
        b.offset < data_offset || std::uint64_t{b.offset} + b.size > top) {
      std::fprintf(stderr,
                   "threads_fuzz: allocate(%u, %u) returned {%u, %u}; data area [%u, %u), bump "
                   "offset %llu, thread_chunk %u\n",
                   op.size, op.align, b.offset, b.size, data_offset, capacity,
                   static_cast<unsigned long long>(top), a.options().thread_chunk);
      fail("bad block", b.offset, b.size);
    }
    if (op.kind == 1) {
      for (std::uint32_t k = 0; k < b.size; ++k)
        if (a.base()[b.offset + k] != std::byte{0})
          fail("allocate_zeroed: non-zero", b.offset, k);
    }
    for_canary(b.size, [&](std::uint32_t k) { a.base()[b.offset + k] = canary(b.offset, k); });
    w.held.push_back({b.offset, b.size});
  }
  barrier.arrive_and_wait();
  // Phase 2: race on the shared blocks (checked mode), no allocation.
  for (int i : w.shared_order) {
    const Held h = shared[static_cast<std::size_t>(i)];
    lfarena::Status s = a.deallocate(h.offset, h.size);
    if (s)
      ++w.shared_won;
    // The loser sees double_free, or offset_out_of_range if the winner's free rolled the bump
    // offset back below the block (the range check comes first).
    else if (checked && (s.code() == errc::double_free || s.code() == errc::offset_out_of_range))
      ++w.shared_lost;
    else {
      std::fprintf(stderr, "threads_fuzz: %s\n", s.message().c_str());
      fail("shared free: unexpected result", h.offset, static_cast<unsigned>(s.code()));
    }
  }
}

void check_quiescent(const Arena &a, const std::vector<Held> &held, bool checked,
                     std::uint32_t thread_chunk) {
  lfarena::Result<lfarena::CheckReport> c = a.check();
  if (!c) {
    std::fprintf(stderr, "threads_fuzz: check: %s\n", c.message().c_str());
    fail("check() failed at quiescence");
  }
  std::uint64_t bytes = 0;
  for (const Held &h : held)
    bytes += h.size;
  if (c->live_bytes != bytes)
    fail("live_bytes differs from the bytes held", c->live_bytes, bytes);
  if (checked && c->live_blocks != held.size())
    fail("live_blocks differs from the blocks held", c->live_blocks, held.size());
  const lfarena::Stats st = a.stats();
  if (c->live_bytes + c->free_bytes + st.discarded + c->chunk_reserved + c->cache_reserved !=
      st.allocated)
    fail("live + free + discarded + chunk tails != allocated",
         c->live_bytes + c->free_bytes + st.discarded + c->chunk_reserved + c->cache_reserved,
         st.allocated);
  if (c->chunk_reserved > thread_chunk)
    fail("chunk tails above one chunk after the worker exited", c->chunk_reserved, thread_chunk);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
  FuzzedDataProvider fdp(data, size);
  const int backing = fdp.ConsumeIntegralInRange<int>(0, 2);
  Options o;
  o.freelist = static_cast<FreelistKind>(fdp.ConsumeIntegralInRange<std::uint32_t>(0, 3));
  o.capacity = fdp.ConsumeIntegralInRange<std::uint32_t>(4096, 64 * 1024) & ~7u;
  o.min_segment = 16 + 8 * fdp.ConsumeIntegralInRange<std::uint32_t>(0, 6);
  // The shape byte (the checked flag's byte, so the committed corpus keeps its operations).
  const auto shape = fdp.ConsumeIntegral<std::uint8_t>();
  o.checked = (shape & 1) != 0;
  if ((shape & 4) != 0) {
    const std::uint32_t large = (shape & 8) != 0 ? 16384 : 4096;
    o.thread_chunk = (shape & 2) == 0 ? 256 : std::min(large, (o.capacity / 4) & ~7u);
  }
  constexpr std::uint32_t kMaxAlign[] = {64, 4096, 256};
  const unsigned align_code = (shape >> 4) & 3;
  o.max_alignment = align_code < 3 ? kMaxAlign[align_code] : 8u << (3 * (shape >> 6));
  const int max_log = std::countr_zero(o.max_alignment);

  Worker w[2];
  std::vector<Held> shared;
  const int nwanted = fdp.ConsumeIntegralInRange<int>(0, kShared);
  std::vector<std::uint32_t> shared_sizes;
  for (int i = 0; i < nwanted; ++i)
    shared_sizes.push_back(fdp.ConsumeIntegralInRange<std::uint32_t>(1, 512));
  for (Worker &wk : w) {
    const int n = fdp.ConsumeIntegralInRange<int>(0, kMaxOpsPerThread);
    for (int i = 0; i < n && fdp.remaining_bytes() > 0; ++i) {
      Op op{};
      op.kind = fdp.ConsumeIntegralInRange<std::uint8_t>(0, 4);
      if (op.kind >= 3)
        op.kind = 2; // frees as often as allocations
      op.size = op.kind == 2        ? fdp.ConsumeIntegral<std::uint32_t>()
                : fdp.ConsumeBool() ? fdp.ConsumeIntegralInRange<std::uint32_t>(1, 4096)
                                    : fdp.ConsumeIntegralInRange<std::uint32_t>(1, 128);
      const auto k = fdp.ConsumeIntegral<std::uint8_t>(); // (was ConsumeIntegralInRange(0, 3))
      op.align = o.max_alignment == 64 ? 8u << (k % 4)
                 : (k >> 6) == 3       ? o.max_alignment
                                       : 1u << ((k & 63) % (max_log + 1));
      wk.ops.push_back(op);
    }
  }

  std::string path;
  lfarena::Result<Arena> r = Arena();
  if (backing == 0)
    r = Arena::heap(o);
  else if (backing == 1)
    r = Arena::anonymous(o);
  else {
    path = fuzz_files::temp_path("threads");
    Options c = o;
    c.open_mode = lfarena::OpenMode::create_new;
    r = Arena::open_file(path, c);
  }
  // A small capacity may not hold the fixed area, class table and bitmaps: a clean refusal.
  if (!r && r.code() == errc::invalid_capacity && o.capacity < 16384)
    return 0;
  if (!r)
    fail("creating the arena failed", o.capacity, static_cast<unsigned>(r.code()));
  const Arena arena = *r;

  for (std::uint32_t s : shared_sizes) {
    lfarena::Result<lfarena::Block> b = arena.allocate(s, 8);
    if (!b && b.code() == errc::out_of_memory)
      continue; // a small arena: fewer shared blocks
    if (!b)
      fail("allocating a shared block failed", s, static_cast<unsigned>(b.code()));
    shared.push_back({b->offset, b->size});
  }
  const int nshared = static_cast<int>(shared.size());
  // Phase 2 order: checked mode, both threads free every shared block (opposite orders);
  // unchecked, each shared block is freed by one thread only (a second free would be UB).
  for (int i = 0; i < nshared; ++i) {
    const bool second = fdp.ConsumeBool();
    if (o.checked) {
      w[0].shared_order.push_back(i);
      w[1].shared_order.insert(w[1].shared_order.begin(), i);
    } else {
      w[second ? 1 : 0].shared_order.push_back(i);
    }
  }

  Barrier barrier;
  std::thread t([&] { run(arena, w[1], shared, o.checked, barrier); });
  run(arena, w[0], shared, o.checked, barrier);
  t.join();

  const int won = w[0].shared_won + w[1].shared_won;
  const int lost = w[0].shared_lost + w[1].shared_lost;
  if (won != nshared || lost != (o.checked ? nshared : 0))
    fail("shared frees: wrong number of winners/losers", static_cast<unsigned>(won),
         static_cast<unsigned>(lost));

  std::vector<Held> all = w[0].held;
  all.insert(all.end(), w[1].held.begin(), w[1].held.end());
  std::sort(all.begin(), all.end(),
            [](const Held &x, const Held &y) { return x.offset < y.offset; });
  for (std::size_t i = 1; i < all.size(); ++i)
    if (all[i - 1].offset + std::uint64_t{all[i - 1].size} > all[i].offset)
      fail("blocks of the two threads overlap", all[i - 1].offset, all[i].offset);
  for (const Held &h : all)
    for_canary(h.size, [&](std::uint32_t k) {
      if (arena.base()[h.offset + k] != canary(h.offset, k))
        fail("canary mismatch at the end", h.offset, k);
    });
  check_quiescent(arena, all, o.checked, o.thread_chunk);
  for (const Held &h : all)
    if (!arena.deallocate(h.offset, h.size))
      fail("final free failed", h.offset, h.size);
  check_quiescent(arena, {}, o.checked, o.thread_chunk);
  if (!path.empty()) {
    std::error_code ec;
    std::filesystem::remove(path, ec);
  }
  return 0;
}
