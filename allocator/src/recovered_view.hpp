// recovered_view.hpp (private) -- a read-only opener's view of a crashed file as the next
// read-write open will leave it, for Arena::check() (docs/DESIGN.md §5.9).
//
// A read-only opener never recovers the file (it may not write it), so a file that a read-write
// opener left without closing (it died: open_count != 0, no opener lock held) still holds what
// that opener had in flight: blocks taken but not yet marked live, frees half done, marked
// nodes, the dead threads' chunk tails and caches. Checked as it is, such a file looked damaged
// (helper-25: accounting_mismatch, or a free segment "overlapping" a live block). The view maps a
// private copy-on-write copy of the file and runs the crash recovery pass on it (recovery.hpp):
// the same code, on the same bytes, that the next read-write open runs, so check() reports
// exactly what that open will find, and what its recovery will do. The file is never written
// (MAP_PRIVATE: the pages recovery writes are copied).
//
// While the view exists it holds the join lock shared: no read-write opener can join (and
// recover the file) meanwhile, so the file's bytes are one quiescent snapshot. A read-write
// opener that wants to join waits until the view is gone.
//
// Thread-safety: one view per call; the copy is private to it.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "liveness_lock.hpp"

#include "lfarena/detail/backing.hpp"
#include "lfarena/detail/header.hpp"
#include "lfarena/error.hpp"
#include "lfarena/stats.hpp"

namespace lfarena::detail {

class RecoveredView {
public:
  RecoveredView() = default;
  ~RecoveredView();
  RecoveredView(const RecoveredView &) = delete;
  RecoveredView &operator=(const RecoveredView &) = delete;

  // Takes the join lock of `f` (a read-only opener's file of geometry `g`) and, if the file is
  // crashed, maps the copy and recovers it: then active(). Not crashed: nothing mapped, the
  // lock kept all the same. Fails with the recovery's own error (the one the next read-write
  // open fails with), or io_error / map_failed.
  Status open(const FileBacking &f, const Geometry &g, const std::string &path);

  bool active() const { return base_ != nullptr; }
  std::byte *base() const { return base_; }
  // The file's geometry with the node key its header holds.
  const Geometry &geometry() const { return geometry_; }
  const RecoveryReport &recovery() const { return recovery_; }

private:
  std::optional<JoinLock> join_;
  std::byte *base_ = nullptr;
  std::size_t length_ = 0;
  Geometry geometry_;
  RecoveryReport recovery_;
};

} // namespace lfarena::detail
