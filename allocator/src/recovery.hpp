// recovery.hpp (private) -- the recovery pass of file arenas after a crash.
//
// Crash detection (src/file_open.cpp, the liveness locks): an opener that finds itself alone
// and hdr::open_count != 0 knows an earlier opener died without closing; it runs recover()
// before anything else touches the arena.
//
// What a crash can leave, given that every step of allocate/free is one atomic operation on
// the shared mapping (the page cache survives a process kill):
//  - a node marked but still linked: its remover died before unlinking, so it never handed
//    the segment out (take() hands out only unlinked segments): recovery unmarks it;
//  - bytes in flight (bumped or unlinked but not yet handed out; freed but not yet inserted or
//    counted; a node written but not yet published): neither live, free nor discarded.
//    Checked mode counts them exactly (live blocks come from the bitmaps) and recovery adds
//    them to discarded and to hdr::leaked; unchecked mode cannot tell them from live bytes;
//  - checked mode: an end bit with no live start (an allocation or a free in flight: the
//    allocation sets the end bit before the start goes live): cleared; a live start whose end
//    bit was never set (only files written by older builds, which set the start first): dropped
//    and leaked.
// Thread-safety: recover() runs with the exclusive liveness lock held, before the arena is
// shared.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "lfarena/detail/header.hpp"
#include "lfarena/error.hpp"
#include "lfarena/stats.hpp"

namespace lfarena::detail {

Result<RecoveryReport> recover(std::byte *base, const Geometry &g, const std::string &path);

} // namespace lfarena::detail
