// verify/relacy/segregated_check.cpp -- model checks of the real size-class freelist
// (detail/core.hpp, detail/segregated_policy.hpp), policy segregated. Every test ends with the
// quiescent invariant of model.hpp (sorted, acyclic, in range, disjoint, live + free + discarded ==
// bumped), and the model users' per-granule ownership vars turn a double hand-out or a missing
// happens-before edge into a Relacy failure.
//
// Scenarios: freelist_scenarios.hpp.
// Mutants built from this file (each must be caught): TAG_NOT_INCREMENTED, RELAXED_PUBLISH,
// DROP_REMAINDER, BITMAP_ACQ_REL, DAMAGE_EAGER (NO_HELPING does not apply: stacks have no
// logical deletion).
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
  return lfarena::relacy_check::run<bitmap<Kind::segregated>, free_free<Kind::segregated>,
                                    take_free<Kind::segregated>, take_take<Kind::segregated>,
                                    aba<Kind::segregated>, helping<Kind::segregated>,
                                    padding<Kind::segregated>>("segregated");
}
