// verify/relacy/freelist_check.cpp -- model checks of the real sorted freelist (detail/core.hpp,
// detail/sorted_list.hpp) under both ordered policies. Every test ends with the quiescent invariant
// of model.hpp (sorted, acyclic, in range, disjoint, live + free + discarded == bumped), and the
// model users' per-granule ownership vars turn a double hand-out or a missing happens-before
// edge into a Relacy failure.
//
// Scenarios: freelist_scenarios.hpp.
// Mutants built from this file (each must be caught): TAG_NOT_INCREMENTED, RELAXED_PUBLISH,
// NO_HELPING, DROP_REMAINDER, DAMAGE_EAGER (concurrency reported as corrupt_freelist).
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
      free_free<Kind::optimistic>, free_free<Kind::pessimistic>, take_free<Kind::optimistic>,
      take_free<Kind::pessimistic>, take_take<Kind::optimistic>, take_take<Kind::pessimistic>,
      aba<Kind::optimistic>, aba<Kind::pessimistic>, helping<Kind::optimistic>,
      helping<Kind::pessimistic>, padding<Kind::optimistic>, padding<Kind::pessimistic>>(
      "freelist");
}
