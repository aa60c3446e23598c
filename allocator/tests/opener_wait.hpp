// allocator/tests/opener_wait.hpp -- waits out a dead opener's locks (the unit and crash tests).
//
// A killed (or exited) opener's OFD locks belong to its open file description, which its mapping
// references too, and the kernel drops them when the last reference goes. For a dead process
// that is normally before waitpid() returns, but a task that holds the dead process's memory at
// that moment (another process reading its /proc files, a kernel thread such as khugepaged)
// releases the mapping later, from its own context. Until then a reopen is not alone and runs no
// recovery, a read-only check() foresees none, reset() and salvage_file() find the file in use,
// and a probe finds the dead process's join lock (the crash test failed that way once in a
// loaded CI run; a standalone program saw the lock still held after waitpid() in 1 to 83 of
// 20000 kills while a thread read the child's /proc/<pid>/cmdline, 0 of 20000 without one). So a
// test that needs the dead opener gone waits for it, with these.
//
// They poll (yielding) rather than block: OFD locks have no deadlock detection, and a blocking
// wait on a lock that a live process of the test holds (the test itself, a fork child) would
// hang the run. A wait that outlives kLingerLimit fails, and the test reports what it waited for.
// The limit bounds a failure, it synchronises nothing: nothing is asserted about the time taken.
//
// Thread-safety: plain system calls on a descriptor of its own.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <string>
#include <thread>

namespace lfarena_test {

inline constexpr std::chrono::seconds kLingerLimit{60};

// Calls attempt() until it returns true (then true) or kLingerLimit has passed (then false),
// yielding between attempts. For a test that holds the file open itself (so no lock probe can
// tell its own lock from the dead opener's): retry the operation the dead opener still blocks.
template <class Attempt> bool retry_until_dead_opener_gone(Attempt &&attempt) {
  const auto deadline = std::chrono::steady_clock::now() + kLingerLimit;
  while (!attempt()) {
    if (std::chrono::steady_clock::now() > deadline)
      return false;
    std::this_thread::yield();
  }
  return true;
}

// Waits until no process holds the opener lock of the arena file at `path` (byte 0, held shared
// by every read-write opener while it has the file open: docs/DESIGN.md §5.9): takes it
// exclusive on a description of its own and drops it. Only for a caller that has not the file
// open itself. `on_wait` runs once, before waiting, if the lock was held at the first try (a
// test that keeps a holder alive on purpose releases it there). False if the file cannot be
// opened or locked (errno says why), or the lock is still held after kLingerLimit.
template <class OnWait> bool wait_until_no_opener(const std::string &path, OnWait &&on_wait) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0)
    return false;
  struct flock fl {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = 0; // the opener byte
  fl.l_len = 1;
  bool first = true, failed = false;
  const bool got = retry_until_dead_opener_gone([&] {
    if (::fcntl(fd, F_OFD_SETLK, &fl) == 0)
      return true;
    if (errno != EAGAIN && errno != EACCES) // not a held lock: no point in waiting
      return failed = true;
    if (first)
      on_wait();
    first = false;
    return false;
  });
  const int err = errno;
  ::close(fd); // drops our lock with the description
  errno = err;
  return got && !failed;
}
inline bool wait_until_no_opener(const std::string &path) {
  return wait_until_no_opener(path, [] {});
}

} // namespace lfarena_test
