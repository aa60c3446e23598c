// recovery.hpp (private) -- crash detection and the recovery pass of file arenas.
//
// Liveness: every read-write opener holds a shared OFD lock on byte 0 of the file for as long
// as it has the file open (the kernel drops it when the process dies, even by SIGKILL), and
// counts itself in hdr::open_count. An opener that can upgrade to the exclusive lock is alone;
// if it then finds open_count != 0, an earlier opener died without closing: it runs recover()
// before anything else touches the arena, then downgrades to shared (atomically: OFD locks
// convert in place). Read-only openers take no lock and never recover.
//
// What a crash can leave, given that every step of allocate/free is one atomic operation on
// the shared mapping (the page cache survives a process kill):
//  - a node marked but still linked: its remover died before unlinking, so it never handed
//    the segment out (take() hands out only unlinked segments): recovery unmarks it;
//  - bytes in flight (bumped or unlinked but not yet handed out; freed but not yet inserted or
//    counted; a node written but not yet published): neither live, free nor discarded.
//    Checked mode counts them exactly (live blocks come from the bitmaps) and recovery adds
//    them to discarded and to hdr::leaked; unchecked mode cannot tell them from live bytes;
//  - checked mode: a live start whose end bit was never set (allocation in flight): dropped and
//    leaked; an end bit with no live block (free in flight): cleared.
// Thread-safety: recover() runs with the exclusive lock held, before the arena is shared.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "lfarena/detail/header.hpp"
#include "lfarena/error.hpp"
#include "lfarena/stats.hpp"

namespace lfarena::detail {

Result<RecoveryReport> recover(std::byte *base, const Geometry &g, const std::string &path);

// The liveness lock on an open file descriptor (OFD locks; see banner).
bool lock_shared(int fd); // blocking
bool try_lock_exclusive(int fd);
bool downgrade_to_shared(int fd);

} // namespace lfarena::detail
