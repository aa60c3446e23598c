// verify/crash/crash_support.hpp -- shared pieces of the crash and multi-process tests: the
// acknowledgement messages children send over a pipe, block canaries, the scale, a temp path.
//
// A child acknowledges an allocation only after it wrote the block's canary, and announces a
// free before it calls deallocate (and acknowledges it after), so the parent knows exactly which
// blocks must be intact after a SIGKILL and which are in doubt.
//
// Thread-safety: each process uses these from one thread.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include <lfarena/arena.hpp>

#include "../../allocator/tests/opener_wait.hpp"

namespace lfarena_crash {

using lfarena_test::wait_until_no_opener;

enum class Kind : std::uint32_t { allocated = 1, freeing = 2, freed = 3, done = 4 };

struct Msg {
  Kind kind;
  std::uint32_t offset;
  std::uint32_t size;
  std::uint32_t seq; // the allocation's sequence number (its canary tag); 0 if unused
};

// ci (default) or nightly multiplier for cycle counts.
inline unsigned scale(unsigned ci, unsigned nightly) {
  const char *s = std::getenv("LFARENA_SCALE");
  return s != nullptr && std::string(s) == "nightly" ? nightly : ci;
}

// The canary of a block: every 8-byte word holds offset ^ tag ^ word index.
inline std::uint64_t canary_word(std::uint32_t offset, std::uint64_t tag, std::uint32_t i) {
  return (std::uint64_t{offset} << 32 | i) ^ tag;
}
inline void fill_canary(const lfarena::Arena &a, lfarena::Block b, std::uint64_t tag) {
  auto *w = a.pointer<std::uint64_t>(b.offset);
  for (std::uint32_t i = 0; i < b.size / 8; ++i)
    w[i] = canary_word(b.offset, tag, i);
}
inline bool canary_ok(const lfarena::Arena &a, lfarena::Block b, std::uint64_t tag) {
  const auto *w = a.pointer<std::uint64_t>(b.offset);
  for (std::uint32_t i = 0; i < b.size / 8; ++i)
    if (w[i] != canary_word(b.offset, tag, i))
      return false;
  return true;
}

// Writes a whole message; a pipe write of <= PIPE_BUF bytes is atomic.
inline void send(int fd, Kind k, std::uint32_t offset, std::uint32_t size, std::uint32_t seq = 0) {
  const Msg m{k, offset, size, seq};
  if (::write(fd, &m, sizeof m) != static_cast<ssize_t>(sizeof m))
    ::_exit(3);
}
// Reads one message; false at end of file.
inline bool receive(int fd, Msg &m) {
  std::size_t got = 0;
  auto *p = reinterpret_cast<char *>(&m);
  while (got < sizeof m) {
    const ssize_t n = ::read(fd, p + got, sizeof m - got);
    if (n <= 0)
      return false;
    got += static_cast<std::size_t>(n);
  }
  return true;
}

// Forks a child that runs child(write_fd) and must not return (it _exits); the parent gets
// the read end of the pipe between them (-1 if pipe() failed) and the child's pid.
template <class Child> int fork_with_pipe(pid_t &pid, Child &&child) {
  int fds[2];
  if (::pipe(fds) != 0)
    return -1;
  pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    child(fds[1]);
    ::_exit(5); // not reached: the child exits by itself
  }
  ::close(fds[1]);
  return fds[0];
}

inline std::string temp_path(const char *stem) {
  const char *dir = std::getenv("TMPDIR");
  return std::string(dir != nullptr && *dir != '\0' ? dir : "/tmp") + "/lfarena_" + stem + "_" +
         std::to_string(::getpid()) + ".arena";
}

} // namespace lfarena_crash
