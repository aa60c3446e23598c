// allocator/tests/opener_wait.hpp -- waits out a dead opener's lock (the unit and crash tests).
//
// Thread-safety: plain system calls on a descriptor of its own.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <string>

namespace lfarena_test {

// Waits until no process holds the opener lock of the arena file at `path` (byte 0, held shared
// by every read-write opener while it has the file open: docs/DESIGN.md §5.9). Call it after
// waitpid() of a killed opener, before anything that must see the file as its sole opener.
// Why: the lock belongs to the opener's open file description, which its mapping references
// too, and the kernel drops it when the last reference goes. For a killed process that is
// normally before waitpid() returns, but a task that holds the dead process's memory at that
// moment (another process reading its /proc files, a kernel thread such as khugepaged) releases
// the mapping later, from its own context. Until then a reopen is not alone and runs no recovery,
// and a read-only check() foresees none (the crash test failed that way once in a loaded CI run;
// a standalone program saw the lock still held after waitpid() in 1 of 20000 kills while a
// thread read the child's /proc/<pid>/cmdline, 0 of 20000 without it). So: take the lock
// exclusive, blocking (F_OFD_SETLKW returns once every other holder is gone), and drop it.
// `on_wait` runs once, before blocking, if the lock was held when first tried (a test that keeps
// a holder alive on purpose releases it there). False if the file cannot be opened or locked.
template <class OnWait> bool wait_until_no_opener(const std::string &path, OnWait &&on_wait) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0)
    return false;
  struct flock fl {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = 0; // the opener byte
  fl.l_len = 1;
  int r = ::fcntl(fd, F_OFD_SETLK, &fl);
  if (r != 0 && (errno == EAGAIN || errno == EACCES)) {
    on_wait();
    do
      r = ::fcntl(fd, F_OFD_SETLKW, &fl);
    while (r != 0 && errno == EINTR);
  }
  ::close(fd); // drops our lock with the description
  return r == 0;
}
inline bool wait_until_no_opener(const std::string &path) {
  return wait_until_no_opener(path, [] {});
}

} // namespace lfarena_test
