// arena_factory.hpp (private) -- how the factories (arena.cpp, file_open.cpp) turn a mapped,
// validated region into an Arena handle. Thread-safety: called by the opening thread only.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "format.hpp"
#include "lfarena/arena.hpp"

namespace lfarena {

namespace detail {
// Runs `body` as the sole read-write opener of the file of `f` (file_open.cpp): holds the join
// lock exclusive for the whole call (nobody joins meanwhile) and our opener lock upgraded to
// exclusive (nobody else has the file open read-write; a dead opener holds no lock), then
// downgrades it again. errc::in_use, without running `body`, if another read-write opener is
// live. Read-only openers hold no opener lock and are not seen. The upgrade, `body` and the
// downgrade run with no fork in between (process.hpp without_fork()): `body` must not wait for
// a lock, nor open, map, close, register or unregister anything.
Status run_as_sole_opener(const FileBacking &f, const std::string &name,
                          const std::function<Status()> &body);
} // namespace detail

struct ArenaFactory {
  static Arena make(detail::AnyBacking backing, std::byte *base, bool read_only,
                    const detail::Layout &l, const Options &o, std::string name) {
    return Arena(std::make_shared<detail::ArenaState>(std::move(backing), base, read_only,
                                                      l.geometry, o, std::move(name)));
  }
  static void set_recovery(Arena &a, const RecoveryReport &r) { a.state_->recovery = r; }
  static detail::ArenaState *state(const Arena &a) { return a.state_.get(); } // (for tests)
};

} // namespace lfarena
