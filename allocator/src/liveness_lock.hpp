// liveness_lock.hpp (private) -- the two byte locks of a file arena (docs/DESIGN.md §5.9).
//
// OFD locks belong to the open file description; the kernel drops them when its last descriptor
// closes, even when the process is killed, so a lock held means a live opener:
//  - byte 0, the opener lock: every read-write opener holds it shared while it has the file
//    open (and counts itself in hdr::open_count);
//  - byte 1, the join lock: a read-write opener holds it exclusive while it joins (validates,
//    maybe recovers, counts itself; reset() and grow too); a read-only opener holds it shared
//    while it validates, and for its whole check() (recovered_view.hpp);
//  - byte 2, the turnstile: every JoinLock passes it on the way in (exclusive for an exclusive
//    join lock, shared for a shared one) and leaves it once it holds the join lock. Why: shared
//    holders that overlap (read-only checks looping in several threads) never leave the join
//    lock free, and a read-write opener waiting for it exclusive waited as long as they ran
//    (helper-28: more than 15 s with 8 threads). A writer that waits holds the turnstile, so new
//    shared holders queue behind it, and it gets the join lock once the current ones are done.
//    (Files opened by builds before the turnstile simply do not pass it.)
// Thread-safety: plain system calls on a descriptor the caller keeps open.
#pragma once

#include <fcntl.h>

namespace lfarena::detail {

inline constexpr off_t kOpenerByte = 0;
inline constexpr off_t kJoinByte = 1;
inline constexpr off_t kTurnstileByte = 2;

// Takes (F_RDLCK, F_WRLCK) or drops (F_UNLCK) the lock on `byte`; `wait`: block until it is
// granted. False if it was not granted (or the call failed).
bool ofd_lock(int fd, off_t byte, short type, bool wait);

// Whether any read-write opener (another open file description) holds the opener lock.
bool opener_lock_held(int fd);

// Holds the join lock for one scope (through the turnstile; exclusive needs a descriptor open
// for writing).
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
