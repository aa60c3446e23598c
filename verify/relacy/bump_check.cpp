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

// 1. 48 data bytes: three 16-byte blocks in all, whatever the interleaving.
struct exhaustion : ModelTest<exhaustion, 3, 6, Kind::none> {
  static constexpr bool kChecked = false;
  static constexpr const char *kName = "exhaustion";
  void setup() {}
  void run(unsigned t) {
    for (auto &slot : held[t]) {
      slot = alloc(16, static_cast<int>(t));
      if (slot.offset == 0)
        break;
    }
  }
  void after() {
    ModelTest::after();
    unsigned blocks = 0;
    for (auto &row : held)
      for (auto &b : row)
        blocks += b.offset != 0;
    RL_ASSERT(blocks == 3);
    RL_ASSERT(core.top() == decltype(h)::R::kCapacity);
  }
};

// 8. Setup: a=16 b=16 (32 of 64 data bytes used). Thread 0 frees b, the most recent block, which
// rolls the bump word back; thread 1 allocates 16 twice meanwhile.
struct rollback : ModelTest<rollback, 2, 8, Kind::none> {
  static constexpr bool kChecked = false;
  static constexpr const char *kName = "rollback";
  Held b;
  void setup() {
    kept[0] = alloc(16, 9);
    b = alloc(16, 0);
  }
  void run(unsigned t) {
    if (t == 0) {
      release(b, 0);
    } else {
      held[1][0] = alloc(16, 1);
      held[1][1] = alloc(16, 1);
      RL_ASSERT(held[1][0].offset != 0 && held[1][1].offset != 0); // 32 bytes were always free
    }
  }
  void after() {
    ModelTest::after();
    for (auto &x : held[1])
      RL_ASSERT(x.offset + x.size <= core.top()); // nothing above the word
  }
};

// The guessed bump (Core::bump_fast, as Arena::allocate's fast path calls it) for thread `who`,
// whose guess of the bump word is `guess` (updated as the arena does); {0,0} when full.
template <class T> Held bump_guessed(T &test, std::uint64_t &guess, int who) {
  lfarena::detail::RawBlock b;
  if (!test.core.bump_fast(16, 8, b, guess))
    return {};
  const Held x{b.offset, b.size};
  test.h.own(x, who);
  return x;
}

// 1 with guesses: thread 0 guesses a word above the capacity, thread 1 the start of the data
// (behind the word as soon as anyone allocated), thread 2 has none.
struct exhaustion_guessed : ModelTest<exhaustion_guessed, 3, 6, Kind::none> {
  static constexpr bool kChecked = false;
  static constexpr const char *kName = "exhaustion_guessed";
  void setup() {}
  void run(unsigned t) {
    std::uint64_t guess = t == 0 ? decltype(h)::R::kCapacity + 16 : t == 1 ? kDataOffset : 0;
    for (auto &slot : held[t]) {
      slot = bump_guessed(*this, guess, static_cast<int>(t));
      if (slot.offset == 0)
        break;
    }
  }
  void after() {
    ModelTest::after();
    unsigned blocks = 0;
    for (auto &row : held)
      for (auto &b : row)
        blocks += b.offset != 0;
    RL_ASSERT(blocks == 3); // exhaustion decided on the word, never on a guess
    RL_ASSERT(core.top() == decltype(h)::R::kCapacity);
  }
};

// 8 with a guess: thread 1 guesses the word as it was before thread 0's rollback.
struct rollback_guessed : ModelTest<rollback_guessed, 2, 8, Kind::none> {
  static constexpr bool kChecked = false;
  static constexpr const char *kName = "rollback_guessed";
  Held b;
  void setup() {
    kept[0] = alloc(16, 9);
    b = alloc(16, 0);
  }
  void run(unsigned t) {
    if (t == 0) {
      release(b, 0);
    } else {
      std::uint64_t guess = kDataOffset + 32; // b's end: stale once the rollback ran
      held[1][0] = bump_guessed(*this, guess, 1);
      held[1][1] = bump_guessed(*this, guess, 1);
      RL_ASSERT(held[1][0].offset != 0 && held[1][1].offset != 0); // 32 bytes were always free
    }
  }
  void after() {
    ModelTest::after();
    for (auto &x : held[1])
      RL_ASSERT(x.offset + x.size <= core.top()); // nothing above the word
  }
};

} // namespace

int main() {
  return lfarena::relacy_check::run<exhaustion, rollback, exhaustion_guessed, rollback_guessed>(
      "bump");
}
