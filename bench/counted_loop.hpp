// bench/counted_loop.hpp -- instruction counts of a timed loop (bench/report/instructions.py).
//
// Times on this VM follow its state (docs/DESIGN.md §6.8: one vCPU's memory latency went from
// 31 to 142 ns within one report's run), instruction counts do not. instructions.py runs a
// 1-thread benchmark under `valgrind --tool=callgrind --collect-atstart=no`; the workload
// opens a CountedLoop just before its timed loop and closes it just after, which toggles
// callgrind's collection on and off, so the count is exactly the loop's: the subject's calls
// plus the workload's own instructions per operation (the same for every subject). Outside
// valgrind a toggle is a few no-op instructions, twice per run (never per operation).
//
// Only 1-thread runs toggle: callgrind runs threads one at a time, so a count of two threads
// says nothing of either (and two threads' toggles would cancel out).
//
// run_main() records in the run's context whether this build has the toggles
// (`callgrind_toggles`: "yes"; built without valgrind's header: "no", and instructions.py then
// refuses to count, as the whole program's instructions would be taken for the loop's).
#pragma once

#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define LFB_CALLGRIND_TOGGLES 1
#else
#define LFB_CALLGRIND_TOGGLES 0
#endif

namespace lfb {

inline constexpr const char *kCallgrindToggles = LFB_CALLGRIND_TOGGLES ? "yes" : "no";

class CountedLoop {
public:
  explicit CountedLoop(int threads) : on_(threads == 1) { toggle(); }
  ~CountedLoop() { stop(); }
  CountedLoop(const CountedLoop &) = delete;
  CountedLoop &operator=(const CountedLoop &) = delete;
  // Ends the counted window (the loop is over); the destructor then does nothing.
  void stop() {
    toggle();
    on_ = false;
  }

private:
  void toggle() const {
#if LFB_CALLGRIND_TOGGLES
    if (on_)
      CALLGRIND_TOGGLE_COLLECT;
#endif
  }
  bool on_;
};

} // namespace lfb
