// verify/relacy/checked_check.cpp -- model check of checked mode's double-free guard
// (detail/checked.hpp through detail/core.hpp).
//
//   7 double_free  two threads free the same block: exactly one gets ok, the other double_free,
//                  and the freelist holds the block once (quiescent invariant of model.hpp);
//                  a third thread frees a neighbour whose bits share the same bitmap words.
// Mutant built from this file (must be caught): DOUBLE_FREE_LOAD_STORE (the 01 -> 10 transition
// done with a load and a store instead of one CAS).
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

template <unsigned Threads>
struct double_free : ModelTest<double_free<Threads>, Threads, 8, Kind::pessimistic> {
  static constexpr bool kChecked = true;
  static constexpr const char *kName = Threads == 2 ? "double_free.two" : "double_free.three";
  Held a, n;
  errc result[2] = {errc::ok, errc::ok};
  void setup() {
    a = this->alloc(16, 9);
    n = this->alloc(24, 2);
    this->kept[0] = this->alloc(16, 9); // keeps a and n from rolling back into the bump region
    if (Threads == 2)
      this->kept[1] = n;  // nobody frees n
    this->h.disown(a, 9); // both racing "users" think they own it: the bug we test
  }
  void run(unsigned t) {
    if (t < 2)
      result[t] = this->core.deallocate(a.offset, a.size);
    else
      this->release(n, 2);
  }
  void after() {
    this->ModelTest<double_free<Threads>, Threads, 8, Kind::pessimistic>::after();
    const bool one_ok = (result[0] == errc::ok) != (result[1] == errc::ok);
    RL_ASSERT(one_ok); // exactly one free succeeds
    RL_ASSERT(result[0] == errc::double_free || result[1] == errc::double_free);
  }
};

} // namespace

int main() { return lfarena::relacy_check::run<double_free<2>, double_free<3>>("checked"); }
