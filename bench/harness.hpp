// bench/harness.hpp -- what every benchmark binary shares: the run scale, seeded size tables, a
// small RNG, and the allocator "subjects" the workloads (workloads.hpp) are templated on.
//
// A subject is a class with
//   Handle alloc(unsigned tid, uint32_t size, uint32_t align);  // h.p == nullptr: failed/full
//   void free(unsigned tid, Handle h, uint32_t size, uint32_t align);
// (both [[gnu::always_inline]]: every subject is called alike, inlined into the loops)
//   std::byte *ptr(uint64_t h) const;                           // handle -> address
//   static constexpr bool kOwnsMemory;  // true: destroying the subject releases every block
//                                       // (arenas); false: blocks must be freed one by one
// constructed from a Setup {capacity, threads}. Arena-like subjects (lfarena, raw bump pointers,
// the pmr monotonic buffer) pre-fault their whole region in the constructor, so no page is first
// touched inside a timed loop (TOOLCHAIN.md: a first touch costs more than 1000 allocations).
// General-purpose allocators (glibc, jemalloc, mimalloc, tcmalloc, the pmr pool) are warmed by
// one allocate/free round of the same shape before timing; after that their own policies apply.
//
// Naming: every benchmark is `<suite>/<subject>/<param>:<value>/...`, Google Benchmark appends
// `/real_time` and `/threads:<n>`; bench/report/generate.py parses exactly that.
//
// Thread-safety: subjects are shared by the benchmark threads; `tid` indexes per-thread state.
#pragma once

#include <lfarena/arena.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <memory_resource>
#include <mutex>
#include <new>
#include <pthread.h>
#include <sched.h>
#include <string>
#include <sys/mman.h>
#include <unistd.h>
#include <vector>

namespace lfb {

// ---- scale: LFARENA_BENCH_SCALE = smoke | quick (default) | full ------------------------------
enum class Scale { smoke, quick, full };
inline Scale scale() {
  const char *s = std::getenv("LFARENA_BENCH_SCALE");
  if (s && std::strcmp(s, "smoke") == 0)
    return Scale::smoke;
  if (s && std::strcmp(s, "full") == 0)
    return Scale::full;
  return Scale::quick;
}
// Bytes one bump benchmark allocates in total (all threads): its region is sized and pre-faulted
// for exactly this, so iteration counts are fixed (size-dependent) instead of time-driven.
inline std::size_t bump_bytes() {
  switch (scale()) {
  case Scale::smoke:
    return std::size_t{4} << 20;
  case Scale::quick:
    return std::size_t{64} << 20;
  case Scale::full:
    return std::size_t{512} << 20;
  }
  return 0;
}

// ---- CPU pinning ----------------------------------------------------------------------------
// Every benchmark thread runs pinned: thread t of a run on CPU cpus[t % n]. cpus is
// LFARENA_BENCH_CPUS, a list in the taskset syntax ("0,1", "1,0", "0-1"; order matters: the
// first CPU runs every 1-thread row), or else the CPUs the process may use, in ascending order;
// LFARENA_BENCH_CPUS=none turns pinning off. A value that is not such a list, names a CPU the
// process may not use or names one twice is refused whole: a warning on stderr, and the
// default list. Why pin: on this project's 2-core VM one vCPU ran the same churn loop slower
// than the other for minutes at a time (2026-12-05, taskset, alternating runs: lfarena 8.4 vs
// 12.2 ns per pair, mimalloc 4.7 vs 7.9), and unpinned, a 1-thread row of one subject could
// run on either while its peer's (another executable) ran on the other. Pinned, every 1-thread
// row of every subject and peer runs on the same CPU, and the threads of a 2-thread run on
// different CPUs. That changes what the cross-thread suite measures (xthread.hpp): unpinned,
// the scheduler often put producer and consumer on one CPU (34 of 186 samples), which made
// their hand-offs cache-local and every rate 3-10x higher. Pinning fixes where a row runs, not
// how fast that CPU is at the time. run_main() records the list in the run's context
// (`bench_cpus`), which the report prints. A failed pthread_setaffinity_np is reported once
// on stderr; the thread then keeps the mask it had (the first CPU's, for a worker thread
// started by a pinned main thread).
struct BenchCpus {
  std::vector<int> cpus; // empty: pinning off
  std::string text;      // "0,1" or "none", for the run's context
};

// The CPU list of `value` (taskset syntax) within `allowed`; false if it is not one.
inline bool parse_cpu_list(const char *value, const cpu_set_t &allowed, std::vector<int> &out) {
  out.clear();
  const char *p = value;
  auto number = [&p](long &n) {
    if (*p < '0' || *p > '9')
      return false;
    char *end = nullptr;
    n = std::strtol(p, &end, 10);
    p = end;
    return n < CPU_SETSIZE;
  };
  for (;;) {
    long lo = 0, hi = 0;
    if (!number(lo))
      return false;
    hi = lo;
    if (*p == '-' && (++p, !number(hi) || hi < lo))
      return false;
    for (long c = lo; c <= hi; ++c) {
      const int cpu = static_cast<int>(c);
      if (!CPU_ISSET(cpu, &allowed) || std::find(out.begin(), out.end(), cpu) != out.end())
        return false;
      out.push_back(cpu);
    }
    if (*p == '\0')
      return true;
    if (*p++ != ',')
      return false;
  }
}

inline const BenchCpus &bench_cpus() {
  static const BenchCpus cpus = [] {
    BenchCpus b;
    const char *env = std::getenv("LFARENA_BENCH_CPUS");
    if (env != nullptr && std::strcmp(env, "none") == 0) {
      b.text = "none";
      return b;
    }
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) {
      std::fprintf(stderr, "lfarena bench: sched_getaffinity failed: threads are not pinned\n");
      b.text = "none";
      return b;
    }
    if (env != nullptr && *env != '\0' && !parse_cpu_list(env, allowed, b.cpus)) {
      b.cpus.clear(); // refused whole: none of a bad list is used
      std::fprintf(stderr,
                   "lfarena bench: LFARENA_BENCH_CPUS='%s' is not a list of distinct CPUs this "
                   "process may use (e.g. 0,1 or 0-1, or none): using every allowed CPU\n",
                   env);
    }
    if (b.cpus.empty())
      for (int c = 0; c < CPU_SETSIZE; ++c)
        if (CPU_ISSET(c, &allowed))
          b.cpus.push_back(c);
    for (int c : b.cpus)
      b.text += (b.text.empty() ? "" : ",") + std::to_string(c);
    return b;
  }();
  return cpus;
}
// Pins the calling benchmark thread (Google Benchmark's thread index `tid`); called first thing
// in every workload's run function, by every thread of the run.
inline void pin_bench_thread(int tid) {
  const std::vector<int> &cpus = bench_cpus().cpus;
  if (cpus.empty())
    return;
  cpu_set_t one;
  CPU_ZERO(&one);
  const int cpu = cpus[static_cast<std::size_t>(tid) % cpus.size()];
  CPU_SET(cpu, &one);
  if (const int e = pthread_setaffinity_np(pthread_self(), sizeof one, &one); e != 0) {
    static std::atomic<bool> warned{false};
    if (!warned.exchange(true))
      std::fprintf(stderr, "lfarena bench: pinning thread %d to CPU %d failed (%s)\n", tid, cpu,
                   std::strerror(e));
  }
}

// ---- RNG and size tables ------------------------------------------------------------------
struct Rng { // xorshift64*: fast, seeded, good enough for workload shapes
  std::uint64_t s;
  explicit Rng(std::uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 1) {}
  std::uint64_t next() {
    s ^= s >> 12, s ^= s << 25, s ^= s >> 27;
    return s * 0x2545F4914F6CDD1Dull;
  }
  std::uint32_t below(std::uint32_t n) { // Lemire's multiply-shift range reduction
    return static_cast<std::uint32_t>(((next() >> 32) * std::uint64_t{n}) >> 32);
  }
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
};

inline constexpr std::uint32_t kTable = 4096; // power of two: index with & (kTable - 1)
using SizeTable = std::array<std::uint32_t, kTable>;

inline std::uint32_t round8(double v) { return (static_cast<std::uint32_t>(v) + 7u) & ~7u; }
// size > 0: that size everywhere. size == 0 ("mixed"): log-uniform 16..4096, multiples of 8.
inline SizeTable bump_sizes(std::uint32_t size) {
  SizeTable t{};
  Rng r(0xB0B);
  for (auto &s : t)
    s = size ? size : round8(16.0 * std::pow(256.0, r.unit()));
  return t;
}
// Churn: 64 B, or "mixed" uniform 24..256, multiples of 8.
inline SizeTable churn_sizes(std::uint32_t size) {
  SizeTable t{};
  Rng r(0xC0C);
  for (auto &s : t)
    s = size ? size : 24 + 8 * r.below(30);
  return t;
}
inline std::uint64_t align_up(std::uint64_t v, std::uint64_t a) { return (v + a - 1) & ~(a - 1); }

// Faults every page of [p, p+n) in writable, so the timed loop never first-touches one: one
// MADV_POPULATE_WRITE (Linux 5.14+; 0.8 s for a 512 MiB tmpfs file on the 2026-12-04 VM, where
// a write to each 4 KiB page took 6.2 s), else a write per page. The contents do not change,
// nor do the pages (4 KiB either way, as the peers in their own executables get them:
// transparent huge pages were tried for the bump regions on 2026-12-04 and dropped; the
// lfarena-heap-tlc difference then blamed on them, 5.2 vs 3.1 ns, shows with 4 KiB pages too,
// from one process to the next, on the 2026-12-05 VM). The bump suite faults a region once per
// benchmark, not once per repetition (workloads.hpp, `rewind`).
inline void prefault(std::byte *p, std::size_t n) {
  const std::size_t page = 4096;
  auto *const start = reinterpret_cast<std::byte *>(reinterpret_cast<std::uintptr_t>(p) &
                                                    ~std::uintptr_t{page - 1});
#ifdef MADV_POPULATE_WRITE
  if (madvise(start, static_cast<std::size_t>(p + n - start), MADV_POPULATE_WRITE) == 0)
    return;
#endif
  for (std::size_t i = 0; i < n; i += page)
    static_cast<volatile std::byte *>(p)[i] = std::byte{0};
}

struct Setup {
  std::size_t capacity; // bytes the workload needs at most (all threads)
  int threads;
};
struct Handle {
  std::uint64_t h = 0;    // offset (arenas) or address (general allocators)
  std::byte *p = nullptr; // nullptr: the allocation failed (region full)
  std::uint32_t n = 0;    // bytes to free: the block size the allocator reported
};
template <class T> struct alignas(64) Padded { T v{}; }; // one cache line per thread

// ---- lfarena ------------------------------------------------------------------------------
enum class Backing { heap, anonymous, file };
inline const char *to_string(Backing b) {
  return b == Backing::heap ? "heap" : b == Backing::anonymous ? "anonymous" : "file";
}
using lfarena::to_string; // the policy names (lfarena/freelist_kind.hpp)

class LfArena {
public:
  static constexpr bool kOwnsMemory = true;
  // File arenas live on /dev/shm (tmpfs) when it exists: we measure the allocator, not the disk.
  // thread_chunk != 0: thread-local bump chunks of that size (subject `lfarena-heap-tlc`).
  // size_index false: the sorted policies keep one list (subjects `lfarena-*-linear`).
  LfArena(Setup s, Backing b, lfarena::FreelistKind kind, std::uint32_t min_segment = 32,
          std::uint32_t thread_chunk = 0, bool size_index = true) {
    // Chunks waste at most a block's size at each chunk's end (the tail is discarded when it is
    // not at the bump top): 1/8 extra covers 4 KiB blocks in 64 KiB chunks.
    const std::uint64_t slack =
        (64u << 10) + (thread_chunk == 0
                           ? 0
                           : s.capacity / 8 + std::uint64_t{thread_chunk} * 2 * (s.threads + 1));
    const std::uint64_t cap = std::min<std::uint64_t>(s.capacity + slack, 0xFFFFF000u);
    lfarena::Options o;
    o.capacity = static_cast<std::uint32_t>(cap);
    o.freelist = kind;
    o.min_segment = min_segment;
    o.max_alignment = 64;
    o.thread_chunk = thread_chunk;
    o.size_index = size_index;
    lfarena::Result<lfarena::Arena> r = lfarena::Arena::heap(o);
    if (b == Backing::anonymous)
      r = lfarena::Arena::anonymous(o);
    if (b == Backing::file) {
      const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
      path_ = std::string(dir) + "/lfarena-bench-" + std::to_string(getpid()) + ".arena";
      std::remove(path_.c_str());
      o.open_mode = lfarena::OpenMode::create_new;
      r = lfarena::Arena::open_file(path_, o);
    }
    if (!r) {
      std::fprintf(stderr, "lfarena bench: cannot create arena: %s\n", r.message().c_str());
      std::abort();
    }
    arena_ = std::move(r.value());
    base_ = arena_.base();
    const auto st = arena_.stats();
    if (b != Backing::heap) // the heap backing zero-fills (touches) its buffer itself
      prefault(base_ + st.data_offset, st.capacity - st.data_offset);
  }
  ~LfArena() {
    arena_ = lfarena::Arena{};
    if (!path_.empty())
      std::remove(path_.c_str());
  }
  // Every subject's alloc/free are forced inline into the workload loops, so no subject pays a
  // call the others do not. Before 2026-12-05 only the peers' were (by GCC's choice): this one
  // stayed an out-of-line call whose 24-byte Handle came back through the stack, and copying it
  // into the churn set stalled on store forwarding (perf annotate: half the samples of the churn
  // loop on that copy; segregated-tlc churn at 1k segments 15-17 ns per pair, 11.4-12.3
  // inlined, pinned; the same pair in a standalone program 8.4). allocate() or try_allocate()
  // inside makes no difference once inlined (11.5-11.8 ns both).
  [[gnu::always_inline]] Handle alloc(unsigned, std::uint32_t size, std::uint32_t align) const {
    const auto r = arena_.allocate(size, align);
    if (!r)
      return {};
    return {r->offset, base_ + r->offset, r->size};
  }
  [[gnu::always_inline]] void free(unsigned, Handle h, std::uint32_t, std::uint32_t) const {
    (void)arena_.deallocate(static_cast<std::uint32_t>(h.h), h.n);
  }
  std::byte *ptr(std::uint64_t h) const { return base_ + h; }
  const lfarena::Arena &arena() const { return arena_; }
  // Every byte free again (Arena::reset(): the bump word back at the start, empty lists and
  // slots), so the next repetition of the same bump benchmark runs on the same, already faulted
  // region; false if the arena refuses (a thread of the last run still holds a chunk): rebuild.
  bool rewind() { return static_cast<bool>(arena_.reset()); }

private:
  lfarena::Arena arena_;
  std::byte *base_ = nullptr;
  std::string path_;
};

// ---- raw bump pointers: the practical (shared atomic) and absolute (per-thread) limits ---------
struct Buffer { // page-aligned, pre-faulted
  explicit Buffer(std::size_t n) : size(align_up(n, 4096)) {
    p = static_cast<std::byte *>(std::aligned_alloc(4096, size));
    if (!p)
      std::abort();
    std::memset(p, 0, size);
  }
  ~Buffer() { std::free(p); }
  Buffer(const Buffer &) = delete;
  Buffer &operator=(const Buffer &) = delete;
  std::byte *p;
  std::size_t size;
};

class RawAtomic { // one shared std::atomic fetch_add; sizes rounded to the alignment
public:
  static constexpr bool kOwnsMemory = true;
  explicit RawAtomic(Setup s) : buf_(s.capacity + 4096) { top_.store(64); }
  [[gnu::always_inline]] Handle alloc(unsigned, std::uint32_t size, std::uint32_t align) {
    const std::uint64_t n = align_up(size, align);
    const std::uint64_t off = top_.fetch_add(n, std::memory_order_relaxed);
    if (off + n > buf_.size)
      return {};
    return {off, buf_.p + off, size};
  }
  [[gnu::always_inline]] void free(unsigned, Handle, std::uint32_t, std::uint32_t) {}
  std::byte *ptr(std::uint64_t h) const { return buf_.p + h; }
  bool rewind() {
    top_.store(64);
    return true;
  }

private:
  Buffer buf_;
  alignas(64) std::atomic<std::uint64_t> top_{0};
};

class RawLocal { // a plain per-thread bump pointer over a per-thread chunk
public:
  static constexpr bool kOwnsMemory = true;
  explicit RawLocal(Setup s)
      : chunk_(align_up(s.capacity / s.threads + 8192, 4096)), buf_(chunk_ * s.threads),
        top_(s.threads) {
    rewind();
  }
  bool rewind() {
    for (std::size_t t = 0; t < top_.size(); ++t)
      top_[t].v = chunk_ * t + 64;
    return true;
  }
  [[gnu::always_inline]] Handle alloc(unsigned tid, std::uint32_t size, std::uint32_t align) {
    std::uint64_t &top = top_[tid].v;
    const std::uint64_t off = align_up(top, align);
    if (off + size > chunk_ * (tid + 1))
      return {};
    top = off + size;
    return {off, buf_.p + off, size};
  }
  [[gnu::always_inline]] void free(unsigned, Handle, std::uint32_t, std::uint32_t) {}
  std::byte *ptr(std::uint64_t h) const { return buf_.p + h; }

private:
  std::size_t chunk_;
  Buffer buf_;
  std::vector<Padded<std::uint64_t>> top_;
};

// ---- std::pmr peers -----------------------------------------------------------------------
class PmrMonotonicMutex { // monotonic_buffer_resource over a pre-faulted buffer, behind a mutex
public:
  static constexpr bool kOwnsMemory = true;
  explicit PmrMonotonicMutex(Setup s)
      : buf_(s.capacity + s.capacity / 8 + 65536),
        res_(buf_.p, buf_.size, std::pmr::null_memory_resource()) {}
  [[gnu::always_inline]] Handle alloc(unsigned, std::uint32_t size, std::uint32_t align) {
    std::lock_guard<std::mutex> g(mu_);
    void *p = nullptr;
    try {
      p = res_.allocate(size, align);
    } catch (const std::bad_alloc &) {
      return {};
    }
    return {reinterpret_cast<std::uintptr_t>(p), static_cast<std::byte *>(p), size};
  }
  [[gnu::always_inline]] void free(unsigned, Handle, std::uint32_t, std::uint32_t) {
  } // monotonic: a no-op
  std::byte *ptr(std::uint64_t h) const { return reinterpret_cast<std::byte *>(h); }
  // release() with an initial buffer starts again at its beginning (libstdc++ keeps it).
  bool rewind() {
    res_.release();
    return true;
  }

private:
  Buffer buf_;
  std::mutex mu_;
  std::pmr::monotonic_buffer_resource res_;
};

// Any allocator with alloc(size, align)/free(p, size, align) functions: the pmr pool and the
// malloc-replacing peers (glibc, jemalloc, mimalloc, tcmalloc; each in its own executable).
template <class Fns> class General {
public:
  static constexpr bool kOwnsMemory = false;
  explicit General(Setup) {}
  [[gnu::always_inline]] Handle alloc(unsigned, std::uint32_t size, std::uint32_t align) {
    void *p = fns_.alloc(size, align);
    return {reinterpret_cast<std::uintptr_t>(p), static_cast<std::byte *>(p), size};
  }
  [[gnu::always_inline]] void free(unsigned, Handle h, std::uint32_t size, std::uint32_t align) {
    fns_.free(h.p, size, align);
  }
  std::byte *ptr(std::uint64_t h) const { return reinterpret_cast<std::byte *>(h); }
  bool rewind() { return false; } // nothing to fault: rebuilt for every run

private:
  Fns fns_;
};

struct PmrPoolFns { // std::pmr::synchronized_pool_resource over new/delete
  std::pmr::synchronized_pool_resource res;
  void *alloc(std::size_t n, std::size_t a) {
    try {
      return res.allocate(n, a);
    } catch (const std::bad_alloc &) {
      return nullptr;
    }
  }
  [[gnu::always_inline]] void free(void *p, std::size_t n, std::size_t a) {
    res.deallocate(p, n, a);
  }
};
using PmrPool = General<PmrPoolFns>;

} // namespace lfb
