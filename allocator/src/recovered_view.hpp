// recovered_view.hpp (private) -- a read-only opener's view of a crashed file as the next
// read-write open will leave it, for Arena::check() (docs/DESIGN.md §5.9).
//
// A read-only opener never recovers the file (it may not write it), so a file that a read-write
// opener left without closing (it died: open_count != 0, no opener lock held) still holds what
// that opener had in flight: blocks taken but not yet marked live, frees half done, marked
// nodes, the dead threads' chunk tails and caches. Checked as it is, such a file looked damaged
// (helper-25: accounting_mismatch, or a free segment "overlapping" a live block). The view does
// what the next read-write open does, in its order, on a private copy-on-write mapping of the
// file (MAP_PRIVATE: the pages recovery writes are copied; the file is never written): the
// header as the file holds it now (validate_header(): another opener may have grown the file,
// or its header may be damaged since this opener validated it), the mutable words
// (validate_mutable_fields(), as a sole opener), then the recovery pass (recovery.hpp). So
// check() reports what that open will find and what its recovery will do, and fails with the
// error that open fails with.
//
// The view holds the join lock shared on an open file description of its own (a reopen of
// /proc/self/fd/N): OFD locks belong to the description, so an unlock by another view of the
// same arena (another thread, or a fork child sharing the descriptor) would otherwise drop this
// view's lock too (helper-27). While it is held no read-write opener can join (and recover the
// file), so the file's bytes are one quiescent snapshot; a read-write opener that wants to join
// waits until the view is gone. Without /proc the views of this process take turns on the
// arena's own descriptor (a fork child's check can then still drop its parent's lock).
//
// Thread-safety: one view per call; the copy and the descriptor are private to it.
#pragma once

#include <cstddef>
#include <mutex>
#include <optional>
#include <string>

#include "liveness_lock.hpp"

#include "lfarena/detail/backing.hpp"
#include "lfarena/detail/header.hpp"
#include "lfarena/error.hpp"
#include "lfarena/options.hpp"
#include "lfarena/stats.hpp"

namespace lfarena::detail {

class RecoveredView {
public:
  RecoveredView() = default;
  ~RecoveredView();
  RecoveredView(const RecoveredView &) = delete;
  RecoveredView &operator=(const RecoveredView &) = delete;

  // Takes the join lock for the file of `f` (a read-only opener's, opened with `options`) and,
  // if the file is crashed, maps the copy and recovers it: then active(). Not crashed: nothing
  // mapped (the lock is kept all the same). Fails with the error the next read-write open
  // fails with (header, mutable words, recovery), or io_error / map_failed.
  Status open(const FileBacking &f, const Options &options, const std::string &path);

  bool active() const { return base_ != nullptr; }
  std::byte *base() const { return base_; }
  // The file's geometry as its header holds it now.
  const Geometry &geometry() const { return geometry_; }
  const RecoveryReport &recovery() const { return recovery_; }

private:
  struct Descriptor { // the view's own open file description, closed last
    int fd = -1;
    ~Descriptor();
  } own_;
  std::optional<std::unique_lock<std::mutex>> turn_; // without /proc: the process's views in turn
  std::optional<JoinLock> join_;                     // released first
  std::byte *base_ = nullptr;
  std::size_t length_ = 0;
  Geometry geometry_;
  RecoveryReport recovery_;
};

} // namespace lfarena::detail
