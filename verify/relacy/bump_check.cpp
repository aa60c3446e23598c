// verify/relacy/bump_check.cpp -- model checks of the real bump path (detail/bump.hpp through
// detail/core.hpp), ending in the quiescent invariant of model.hpp.
//
//   1 exhaustion  three threads allocate 16 bytes until out_of_memory: every block unique and
//                 disjoint, exactly capacity/16 handed out in total, the bump word at capacity
//   8 rollback    freeing the most recent block rolls the bump word back while another thread
//                 bump-allocates twice: never the same bytes twice, never a block above the word
// And both again through the guessed bump of Arena::allocate's fast path (bump.hpp: the CAS's
// first expected value is the thread's guess of the word, not a load):
//   exhaustion_guessed  one guess above the capacity (a reset's leftover), one far behind (the
//                       word moved on), none: still exactly three blocks, the word at capacity
//   rollback_guessed    the allocating thread guesses the word as it was before the rollback
// Mutants built from this file (must be caught): ROLLBACK_STORE (rollback as check-then-store),
// GUESS_TRUSTED (a guessed word stored without the CAS confirming it).
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <relacy/relacy.hpp>

#include <lfarena/detail/core.hpp>

#include "model.hpp"
#include "relacy_main.hpp"

namespace {

using namespace lfarena::relacy_model;
using lfarena::errc;
using Kind = lfarena::FreelistKind;

// One 16-byte bump for thread `who`: the plain path (Core::allocate), or with `Guessed` the
// guessed bump of Arena::allocate's fast path (Core::bump_fast) starting from `guess`, which it
// updates as the arena does. {0,0} when full.
template <bool Guessed, class T> Held bump16(T &test, std::uint64_t &guess, int who) {
  if constexpr (!Guessed) {
    return test.alloc(16, who);
  } else {
    lfarena::detail::RawBlock b;
    if (!test.core.bump_fast(16, 8, b, guess))
      return {};
    const Held x{b.offset, b.size};
    test.h.own(x, who);
    return x;
  }
}

// 1. 48 data bytes: three 16-byte blocks in all, whatever the interleaving. Guessed: thread 0
// guesses a word above the capacity (a reset's leftover), thread 1 the start of the data
// (behind the word as soon as anyone allocated), thread 2 has none; exhaustion is still
// decided on the word, never on a guess.
template <bool Guessed> struct exhaustion_t : ModelTest<exhaustion_t<Guessed>, 3, 6, Kind::none> {
  using Base = ModelTest<exhaustion_t<Guessed>, 3, 6, Kind::none>;
  static constexpr std::uint64_t kCapacity = decltype(Base::h)::R::kCapacity;
  static constexpr bool kChecked = false;
  static constexpr const char *kName = Guessed ? "exhaustion_guessed" : "exhaustion";
  void setup() {}
  void run(unsigned t) {
    std::uint64_t guess = t == 0 ? kCapacity + 16 : t == 1 ? Base::kDataOffset : 0;
    for (auto &slot : this->held[t]) {
      slot = bump16<Guessed>(*this, guess, static_cast<int>(t));
      if (slot.offset == 0)
        break;
    }
  }
  void after() {
    Base::after();
    unsigned blocks = 0;
    for (auto &row : this->held)
      for (auto &b : row)
        blocks += b.offset != 0;
    RL_ASSERT(blocks == 3);
    RL_ASSERT(this->core.top() == kCapacity);
  }
};

// 8. Setup: a=16 b=16 (32 of 64 data bytes used). Thread 0 frees b, the most recent block, which
// rolls the bump word back; thread 1 allocates 16 twice meanwhile (guessed: starting from the
// word as it was before the rollback, b's end).
template <bool Guessed> struct rollback_t : ModelTest<rollback_t<Guessed>, 2, 8, Kind::none> {
  using Base = ModelTest<rollback_t<Guessed>, 2, 8, Kind::none>;
  static constexpr bool kChecked = false;
  static constexpr const char *kName = Guessed ? "rollback_guessed" : "rollback";
  Held b;
  void setup() {
    this->kept[0] = this->alloc(16, 9);
    b = this->alloc(16, 0);
  }
  void run(unsigned t) {
    if (t == 0) {
      this->release(b, 0);
    } else {
      std::uint64_t guess = Base::kDataOffset + 32; // b's end: stale once the rollback ran
      this->held[1][0] = bump16<Guessed>(*this, guess, 1);
      this->held[1][1] = bump16<Guessed>(*this, guess, 1);
      RL_ASSERT(this->held[1][0].offset != 0 && this->held[1][1].offset != 0); // 32 bytes free
    }
  }
  void after() {
    Base::after();
    for (auto &x : this->held[1])
      RL_ASSERT(x.offset + x.size <= this->core.top()); // nothing above the word
  }
};

} // namespace

int main() {
  return lfarena::relacy_check::run<exhaustion_t<false>, rollback_t<false>, exhaustion_t<true>,
                                    rollback_t<true>>("bump");
}
