// process.cpp -- owner tokens and the fork handlers (see process.hpp).
#include "process.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "format.hpp"
#include "lfarena/arena.hpp"
#include "liveness_lock.hpp"

namespace lfarena::detail {

namespace {

std::uint64_t mix(std::uint64_t x) { // splitmix64's finaliser: a bijection
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

std::uint64_t fresh_nonce() noexcept { return random_u64() | 1; } // never 0: "not chosen"

} // namespace

std::uint64_t random_u64() noexcept {
  std::uint64_t n = 0;
  if (::getrandom(&n, sizeof n, GRND_NONBLOCK) != static_cast<ssize_t>(sizeof n)) {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    n = mix(static_cast<std::uint64_t>(ts.tv_nsec) ^ static_cast<std::uint64_t>(ts.tv_sec) << 32 ^
            static_cast<std::uint64_t>(::getpid()) << 16 ^ reinterpret_cast<std::uintptr_t>(&n));
  }
  return n;
}

namespace {

// 0: not chosen yet. Relaxed: any thread may choose it; all that matters is that every thread
// ends up with the one value that won the CAS.
std::atomic<std::uint64_t> g_nonce{0};

std::uint64_t process_nonce() {
  std::uint64_t n = g_nonce.load(std::memory_order_relaxed);
  if (n == 0) {
    std::uint64_t mine = fresh_nonce();
    n = g_nonce.compare_exchange_strong(n, mine, std::memory_order_relaxed) ? mine : n;
  }
  return n;
}

// Forks waiting for the registry mutex (before_fork()). Relaxed: a hint for without_fork(),
// which the mutex itself keeps correct.
std::atomic<int> g_forks_waiting{0};

// The open arenas of the process (for the fork handlers). Never destroyed: an Arena with static
// storage duration (a namespace-scope handle in the user's program) can be destroyed at exit
// after this file's statics, and its unregister_arena() must still find a live list (a plain
// global vector was freed by then: a heap use after free that ASan reported, found by an
// outside review).
struct ArenaList {
  std::mutex mutex;
  std::vector<ArenaState *> arenas;
  std::vector<int> loose_fds; // arena file descriptors no registered arena owns (process.hpp)
  // Mappings of arena files no registered arena owns (process.hpp): address and length.
  std::vector<std::pair<std::byte *, std::size_t>> loose_maps;
};
ArenaList &arena_list() {
  static ArenaList *const list = new ArenaList; // reachable for ever: no leak report
  return *list;
}

// Before the fork, in the parent: each read-write file arena is about to share its open file
// description (and so its locks) with the child, so it is marked, and the child's open is
// counted in open_count now, not by the child's handler: a reset the parent called as soon as
// fork() returned saw the count before the child had run and succeeded under it (helper-26:
// the child's live block was handed out again, and its frees under the old node key left a
// file that failed to reopen). A failed fork leaves the count one too high (glibc runs the
// parent handler either way and it cannot tell): resets of the arena are refused until it
// closes, and its next sole opener runs crash recovery, which is harmless.
void before_fork() {
  // Announced first: without_fork() lets a waiting fork in before it takes the lock again (a
  // thread looping resets held fork() up to 620 ms on glibc's unfair mutex, helper-32).
  g_forks_waiting.fetch_add(1, std::memory_order_relaxed);
  arena_list().mutex.lock();
  g_forks_waiting.fetch_sub(1, std::memory_order_relaxed);
  for (ArenaState *s : arena_list().arenas)
    if (!s->read_only && std::holds_alternative<FileBacking>(s->backing)) {
      s->fork_shared.store(true, std::memory_order_relaxed);
      fetch_add_acq_rel(RegionWords{s->base}.word(hdr::open_count), 1);
    }
}
void after_fork_in_parent() { arena_list().mutex.unlock(); }
// In the child: an open file description and a mapping of its own for an inherited read-write
// file arena, with its own opener lock. Sharing the parent's description shared the parent's
// locks too: a parent killed while it held the join lock (in a reset()) left every later opener
// waiting until the child exited (helper-31: 6.2 s behind a child that slept 6 s). The new
// descriptor takes the old one's number and the new mapping replaces the old one in place
// (MAP_FIXED: same address, same file pages), so the arena's state is unchanged; then nothing in
// the child refers to the parent's description. The lock is only tried, never waited for: no
// fork sees our opener lock exclusive (run_as_sole_opener() holds it so only under the
// handlers' lock), and a child that waited for a lock its own copy of our description held
// waited for ever once we died (helper-32). If a step fails (no /proc, no descriptor left, the
// number above RLIMIT_NOFILE) the child keeps sharing the parent's description, as before: its
// count (before_fork) still makes reset() refuse. (The mmap can fail only after the dup3, when
// memory runs out: then the child's descriptor is its own and its mapping the parent's.)
void own_description(const ArenaState &s, const FileBacking &f) {
  char self[40];
  std::snprintf(self, sizeof self, "/proc/self/fd/%d", f.fd());
  const int fresh = ::open(self, O_RDWR | O_CLOEXEC | O_NONBLOCK);
  if (fresh < 0)
    return;
  if (!ofd_lock(fresh, kOpenerByte, F_RDLCK, false) || ::dup3(fresh, f.fd(), O_CLOEXEC) < 0) {
    ::close(fresh); // (its lock goes with it)
    return;
  }
  ::close(fresh);
  if (::mmap(f.base(), f.size(), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, f.fd(), 0) !=
          MAP_FAILED &&
      map_hints(s.options).transparent_huge)
    (void)::madvise(f.base(), f.size(), MADV_HUGEPAGE); // the hint the old mapping had
}

// ASan builds: [at, at + length) reads as unpoisoned afterwards (a no-op in other builds). The
// shadow's whole pages are dropped, not written: private anonymous memory reads as zero after
// MADV_DONTNEED, and zero is "addressable". Writing them, as __asan_unpoison_memory_region does,
// cost a child forked during an open or check of a 4 GiB arena 512 MiB of memory and up to a
// second (helper-54: 23 of 30 children behind a looping read-only check()). The shadow is
// found through ASan's public __asan_get_shadow_mapping(); the partial pages at its ends are
// unpoisoned through the API.
void clear_shadow([[maybe_unused]] std::byte *at, [[maybe_unused]] std::size_t length) {
#if defined(LFARENA_ASAN) && !defined(LFARENA_RELACY)
  std::size_t scale = 0, offset = 0;
  __asan_get_shadow_mapping(&scale, &offset);
  const std::uintptr_t begin = reinterpret_cast<std::uintptr_t>(at), end = begin + length;
  const std::uintptr_t granule = std::uintptr_t{1} << scale, page = kPageSize;
  const std::uintptr_t shadow_begin = (begin >> scale) + offset;
  const std::uintptr_t shadow_end = ((end + granule - 1) >> scale) + offset;
  const std::uintptr_t first = (shadow_begin + page - 1) & ~(page - 1);
  const std::uintptr_t last = shadow_end & ~(page - 1);
  if (first >= last ||
      ::madvise(reinterpret_cast<void *>(first), last - first, MADV_DONTNEED) != 0) {
    __asan_unpoison_memory_region(at, length);
    return;
  }
  const std::uintptr_t middle_begin = (first - offset) << scale, middle_end = (last - offset)
                                                                              << scale;
  __asan_unpoison_memory_region(at, middle_begin - begin);
  if (end > middle_end)
    __asan_unpoison_memory_region(reinterpret_cast<void *>(middle_end), end - middle_end);
#endif
}

// Runs in the child, in the forking thread, the only thread there (its arenas were marked and
// counted before the fork).
void after_fork_in_child() {
  g_nonce.store(fresh_nonce(), std::memory_order_relaxed);
  forget_inherited_chunks();
  for (ArenaState *s : arena_list().arenas)
    if (const auto *f = std::get_if<FileBacking>(&s->backing); f != nullptr && !s->read_only)
      own_description(*s, *f);
  // The opens, closes and checks that hold them run in the parent's other threads, which the
  // child does not have (their mappings were not inherited: MADV_DONTFORK).
  for (const int fd : arena_list().loose_fds)
    ::close(fd);
  arena_list().loose_fds.clear();
  // ASan builds: the child has ASan's shadow of the parent's whole address space, but not these
  // mappings, and the parent's thread may have poisoned their free bytes (an open validates the
  // free lists before it registers the arena; a close gives chunk tails back after it
  // unregistered it). A mapping the child makes later at that address read as poisoned
  // (helper-53: the grow check's view, 8 of 139 children).
  for (const auto &[at, length] : arena_list().loose_maps)
    clear_shadow(at, length);
  arena_list().loose_maps.clear();
  arena_list().mutex.unlock();
}

} // namespace

std::uint64_t owner_token(std::uint64_t arena_id) {
  // The multiplication by an odd constant is a bijection on 64-bit ids, and so is the xor with
  // the nonce: distinct ids of one process give distinct tokens.
  const std::uint64_t t = process_nonce() ^ (arena_id * 0x9e3779b97f4a7c15ull);
  return t != 0 ? t : 0x9e3779b97f4a7c15ull; // 0 means "free slot"
}

namespace {
void install_fork_handlers() {
  static const int installed =
      ::pthread_atfork(before_fork, after_fork_in_parent, after_fork_in_child);
  (void)installed;
}
} // namespace

namespace {
// Under the list's mutex.
void forget_loose_map(ArenaList &l, const void *at) {
  const auto it = std::find_if(l.loose_maps.begin(), l.loose_maps.end(),
                               [at](const auto &m) { return m.first == at; });
  if (it != l.loose_maps.end()) {
    *it = l.loose_maps.back();
    l.loose_maps.pop_back();
  }
}
void forget_loose(ArenaList &l, int fd) {
  const auto it = std::find(l.loose_fds.begin(), l.loose_fds.end(), fd);
  if (it != l.loose_fds.end()) {
    *it = l.loose_fds.back();
    l.loose_fds.pop_back();
  }
}
// Records `fd` as loose (under the list's mutex); on failure (no memory) closes it: -1, ENOMEM.
int keep_loose(ArenaList &l, int fd) {
  try {
    l.loose_fds.push_back(fd);
    return fd;
  } catch (...) {
    ::close(fd);
    errno = ENOMEM;
    return -1;
  }
}
} // namespace

// Registration adopts a file arena's descriptor and mapping: from now on a fork child inherits
// both and is counted as their opener (before_fork). Unregistration makes them loose again,
// under the same lock: no fork sees the arena unregistered with its descriptor or mapping
// still inheritable (~ArenaState unregisters first, then uncounts itself and closes).
void register_arena(ArenaState *s) {
  install_fork_handlers();
  ArenaList &l = arena_list();
  const std::lock_guard<std::mutex> lock(l.mutex);
  l.arenas.push_back(s);
  if (const auto *f = std::get_if<FileBacking>(&s->backing)) {
    forget_loose(l, f->fd());
    forget_loose_map(l, f->base());
    (void)::madvise(f->base(), f->size(), MADV_DOFORK);
  }
}

void unregister_arena(ArenaState *s) {
  ArenaList &l = arena_list();
  const std::lock_guard<std::mutex> lock(l.mutex);
  const auto it = std::find(l.arenas.begin(), l.arenas.end(), s);
  if (it == l.arenas.end())
    return;
  *it = l.arenas.back();
  l.arenas.pop_back();
  if (const auto *f = std::get_if<FileBacking>(&s->backing)) {
    (void)::madvise(f->base(), f->size(), MADV_DONTFORK);
    // No memory to record them: the descriptor stays inheritable until its close (the gap this
    // closes, and only then), and a child forked before the unmap may find the mapping's free
    // bytes poisoned (ASan builds).
    try {
      l.loose_fds.push_back(f->fd());
      l.loose_maps.emplace_back(f->base(), f->size());
    } catch (...) {
    }
  }
}

int open_file_descriptor(const char *path, int flags, unsigned mode) {
  install_fork_handlers();
  ArenaList &l = arena_list();
  for (int attempt = 0;; ++attempt) {
    {
      const std::lock_guard<std::mutex> lock(l.mutex);
      const int fd = ::open(path, flags | O_CLOEXEC | O_NONBLOCK, static_cast<mode_t>(mode));
      if (fd >= 0)
        return keep_loose(l, fd);
      if (errno != EWOULDBLOCK || attempt == 8)
        return -1;
    }
    // EWOULDBLOCK: another process holds a lease on the file (a file server does), which a
    // blocking open waits to see broken (helper-31: O_NONBLOCK made such opens fail at once).
    // Wait with a blocking open outside the lock, so forks and other opens go on meanwhile; its
    // descriptor takes no lock, so a fork child that gets a copy of it holds nothing that
    // matters. Then open again as above (the holder may have taken a new lease meanwhile).
    const int waited = ::open(path, flags | O_CLOEXEC, static_cast<mode_t>(mode));
    if (waited < 0)
      return -1;
    ::close(waited);
  }
}

void close_file_descriptor(int fd) {
  ArenaList &l = arena_list();
  const std::lock_guard<std::mutex> lock(l.mutex); // no fork between the two: no copy left
  forget_loose(l, fd);
  ::close(fd);
}

void *map_file(int fd, std::size_t length, int prot, int flags) {
  install_fork_handlers();
  ArenaList &l = arena_list();
  const std::lock_guard<std::mutex> lock(l.mutex); // no fork between the two: no copy made
  void *p = ::mmap(nullptr, length, prot, flags, fd, 0);
  if (p == MAP_FAILED)
    return p;
  int e = 0;
  if (::madvise(p, length, MADV_DONTFORK) != 0) {
    e = errno;
  } else {
    try {
      l.loose_maps.emplace_back(static_cast<std::byte *>(p), length);
      return p;
    } catch (...) {
      e = ENOMEM;
    }
  }
  ::munmap(p, length);
  errno = e;
  return MAP_FAILED;
}

void unmap_file(void *at, std::size_t length) {
  ArenaList &l = arena_list();
  const std::lock_guard<std::mutex> lock(l.mutex); // no fork between the two: no stale record
  forget_loose_map(l, at);
  // ASan builds: whatever an opener poisoned in it goes with it, or a later mapping at this
  // address would read as poisoned (the grow check's view, a join that failed after its
  // validation poisoned the free bytes).
  clear_shadow(static_cast<std::byte *>(at), length);
  ::munmap(at, length);
}

int open_check_descriptor(int fd, const char *path) {
  install_fork_handlers();
  ArenaList &l = arena_list();
  const std::lock_guard<std::mutex> lock(l.mutex);
  const std::string self = "/proc/self/fd/" + std::to_string(fd);
  int own = ::open(self.c_str(), O_RDONLY | O_CLOEXEC);
  if (own < 0 && errno != EMFILE && errno != ENFILE) {
    // No /proc: the path, if it still names the same file.
    own = ::open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); // a FIFO there must not block us
    struct stat a {
    }, b{};
    if (own >= 0 && (::fstat(own, &a) != 0 || ::fstat(fd, &b) != 0 || a.st_dev != b.st_dev ||
                     a.st_ino != b.st_ino)) {
      ::close(own);
      own = -1;
      errno = ENOENT;
    }
  }
  return own < 0 ? own : keep_loose(l, own);
}

void without_fork(const std::function<void()> &body) {
  install_fork_handlers();
  while (g_forks_waiting.load(std::memory_order_relaxed) != 0) // a fork first (see before_fork)
    std::this_thread::yield();
  const std::lock_guard<std::mutex> lock(arena_list().mutex);
  body();
}

std::size_t loose_mappings() {
  ArenaList &l = arena_list();
  const std::lock_guard<std::mutex> lock(l.mutex);
  return l.loose_maps.size();
}

std::size_t loose_descriptors() {
  ArenaList &l = arena_list();
  const std::lock_guard<std::mutex> lock(l.mutex);
  return l.loose_fds.size();
}

} // namespace lfarena::detail
