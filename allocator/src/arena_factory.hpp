// arena_factory.hpp (private) -- how the factories (arena.cpp, file_open.cpp) turn a mapped,
// validated region into an Arena handle. Thread-safety: called by the opening thread only.
#pragma once

#include <memory>
#include <string>
#include <utility>

#include "format.hpp"
#include "lfarena/arena.hpp"

namespace lfarena {

struct ArenaFactory {
  static Arena make(detail::AnyBacking backing, std::byte *base, bool read_only,
                    const detail::Layout &l, const Options &o, std::string name) {
    return Arena(std::make_shared<detail::ArenaState>(std::move(backing), base, read_only,
                                                      l.geometry, o, std::move(name)));
  }
  static void set_recovery(Arena &a, const RecoveryReport &r) { a.state_->recovery = r; }
};

} // namespace lfarena
