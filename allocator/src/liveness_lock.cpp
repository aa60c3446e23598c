// liveness_lock.cpp -- the byte locks of file arenas (see liveness_lock.hpp).
#include "liveness_lock.hpp"

#include <cerrno>

namespace lfarena::detail {

bool ofd_lock(int fd, off_t byte, short type, bool wait) {
  struct flock fl {};
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  fl.l_start = byte;
  fl.l_len = 1;
  int rc;
  do {
    rc = ::fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl);
  } while (rc != 0 && errno == EINTR);
  return rc == 0;
}

bool opener_lock_held(int fd) {
  struct flock fl {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = kOpenerByte;
  fl.l_len = 1;
  return ::fcntl(fd, F_OFD_GETLK, &fl) != 0 || fl.l_type != F_UNLCK;
}

JoinLock::JoinLock(int fd, bool exclusive) : fd_(fd) {
  const short type = exclusive ? F_WRLCK : F_RDLCK;
  // A turnstile that cannot be taken (a lock error) is passed by: only fairness depends on it.
  const bool turn = ofd_lock(fd, kTurnstileByte, type, true);
  held_ = ofd_lock(fd, kJoinByte, type, true);
  if (turn)
    ofd_lock(fd, kTurnstileByte, F_UNLCK, false);
}

JoinLock::~JoinLock() {
  if (held_)
    ofd_lock(fd_, kJoinByte, F_UNLCK, false);
}

} // namespace lfarena::detail
