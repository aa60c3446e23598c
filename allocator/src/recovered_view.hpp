// recovered_view.hpp (private) -- what Arena::check() of a read-only opener looks at: the file as
// it is now, and a crashed file as the next read-write open will leave it (docs/DESIGN.md §5.9).
//
// A read-only opener never recovers the file (it may not write it), so a file that a read-write
// opener left without closing (it died: open_count != 0, no opener lock held) still holds what
// that opener had in flight: blocks taken but not yet marked live, frees half done, marked
// nodes, the dead threads' chunk tails and caches. Checked as it lay, such a file looked damaged
// (helper-25). And the opener's own mapping and geometry may be stale: another opener may have
// grown the file, damaged or truncated it (helper-27, helper-28: false damage, a damaged header
// passed, SIGBUS). So the view does what a read-write open does, in its order, on a private
// mapping of the file as it is now: the header (validate_header(): size, checksum, geometry),
// the mutable words (validate_mutable_fields()), and for a crashed file the recovery pass
// (recovery.hpp) on a copy-on-write mapping (MAP_PRIVATE: the pages recovery writes are copied;
// the file is never written). check() then checks the view: it fails with the error that open
// fails with, and passes when it passes.
//
// Locks: the view holds the join lock shared for the whole check, on an open file description
// of its own (process.hpp open_check_descriptor(): OFD locks belong to the description, so with
// the arena's own one thread's finished check dropped another's lock, helper-27). While it is
// held no read-write opener joins (and recovers the file), so the file's bytes are one
// quiescent snapshot; a writer waiting to join holds the turnstile (liveness_lock.hpp), so
// checks looping in many threads cannot keep it out (helper-28). The view's descriptor and
// mapping are loose (process.hpp): a fork child gets neither (a child must not keep the lock
// after its parent died).
//
// Thread-safety: one view per call; the mapping and the descriptor are private to it.
#pragma once

#include <cstddef>
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

  // The view of the file of `f` (a read-only opener's, opened with `options`). Fails with the
  // error the next read-write open fails with (header, mutable words, recovery), or io_error /
  // map_failed.
  Status open(const FileBacking &f, const Options &options, const std::string &path);

  std::byte *base() const { return base_; }
  // The file's geometry as its header holds it now.
  const Geometry &geometry() const { return geometry_; }
  // ran == false unless the file is crashed.
  const RecoveryReport &recovery() const { return recovery_; }
  // The view's own descriptor (-1 before open()), for tests.
  int descriptor() const { return own_.fd; }

private:
  struct Descriptor { // the view's own open file description, closed last
    int fd = -1;
    ~Descriptor();
  } own_;
  std::optional<JoinLock> join_; // released first
  std::byte *base_ = nullptr;
  std::size_t length_ = 0;
  Geometry geometry_;
  RecoveryReport recovery_;
};

} // namespace lfarena::detail
