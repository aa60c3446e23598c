// verify/relacy/bump_check.cpp -- model checks of the real bump path (detail/bump.hpp through
// detail/core.hpp), ending in the quiescent invariant of model.hpp.
//
//   1 exhaustion  three threads allocate 16 bytes until out_of_memory: every block unique and
//                 disjoint, exactly capacity/16 handed out in total, the bump word at capacity
//   8 rollback    freeing the most recent block rolls the bump word back while another thread
//                 bump-allocates twice: never the same bytes twice, never a block above the word
// Mutant built from this file (must be caught): ROLLBACK_STORE (rollback as check-then-store).
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

} // namespace

int main() { return lfarena::relacy_check::run<exhaustion, rollback>("bump"); }
