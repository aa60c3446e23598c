// liveness_lock.hpp (private) -- the two byte locks of a file arena (docs/DESIGN.md §5.9).
//
// OFD locks belong to the open file description; the kernel drops them when its last descriptor
// closes, even when the process is killed, so a lock held means a live opener:
//  - byte 0, the opener lock: every read-write opener holds it shared while it has the file
//    open (and counts itself in hdr::open_count);
//  - byte 1, the join lock: a read-write opener holds it exclusive while it joins (validates,
//    maybe recovers, counts itself); a read-only opener holds it shared while it validates, and
//    while its check() looks at a crashed file (recovered_view.hpp).
// Thread-safety: plain system calls on a descriptor the caller keeps open.
#pragma once

#include <fcntl.h>

namespace lfarena::detail {

inline constexpr off_t kOpenerByte = 0;
inline constexpr off_t kJoinByte = 1;

// Takes (F_RDLCK, F_WRLCK) or drops (F_UNLCK) the lock on `byte`; `wait`: block until it is
// granted. False if it was not granted (or the call failed).
bool ofd_lock(int fd, off_t byte, short type, bool wait);

// Whether any read-write opener (another open file description) holds the opener lock.
bool opener_lock_held(int fd);

// Holds the join lock for one scope.
class JoinLock {
public:
  JoinLock(int fd, bool exclusive);
  ~JoinLock();
  JoinLock(const JoinLock &) = delete;
  JoinLock &operator=(const JoinLock &) = delete;
  bool held() const { return held_; }

private:
  int fd_;
  bool held_;
};

} // namespace lfarena::detail
