// verify/relacy/sorted_index_check.cpp -- model checks of the size-indexed sorted policies
// (detail/core.hpp, detail/sorted_policy.hpp over detail/sorted_list.hpp and the class bitmap of
// detail/size_class.hpp): the freelist scenarios on one list per size class, and the bitmap
// scenario. Every test ends with the quiescent invariant of model.hpp (the spec's order across
// classes, acyclic, in range, disjoint, accounting, and every non-empty class has its bit set).
//
// Scenarios: freelist_scenarios.hpp (I = true).
// Mutants built from this file (each must be caught): BITMAP_ACQ_REL, NO_HELPING (the other
// list mutants are the same code as freelist_check.cpp's).
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <relacy/relacy.hpp>

#include <lfarena/detail/core.hpp>

#include "freelist_scenarios.hpp"
#include "model.hpp"
#include "relacy_main.hpp"

int main() {
  using namespace lfarena::relacy_model;
  return lfarena::relacy_check::run<
      bitmap<Kind::optimistic, true>, bitmap<Kind::pessimistic, true>,
      free_free<Kind::optimistic, true>, free_free<Kind::pessimistic, true>,
      take_free<Kind::optimistic, true>, take_free<Kind::pessimistic, true>,
      take_take<Kind::optimistic, true>, take_take<Kind::pessimistic, true>,
      aba<Kind::optimistic, true>, aba<Kind::pessimistic, true>, helping<Kind::optimistic, true>,
      helping<Kind::pessimistic, true>, padding<Kind::optimistic, true>,
      padding<Kind::pessimistic, true>>("sorted_index");
}
