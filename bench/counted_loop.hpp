// bench/counted_loop.hpp -- instruction counts of a timed loop (bench/report/instructions.py).
//
// Times on this VM follow its state (docs/DESIGN.md §6.8: one vCPU's memory latency went from
// 31 to 142 ns within one report's run); instruction counts hardly do. instructions.py runs a
// 1-thread benchmark under `valgrind --tool=callgrind --collect-atstart=no` with
// LFARENA_BENCH_COUNT_LOOPS=1; the workload opens a CountedLoop just before its timed loop and
// closes it just after, which toggles callgrind's collection on and off, so the count is
// exactly the loop's: the subject's calls plus the workload's own instructions per operation.
// Outside valgrind a toggle is a few no-op instructions, twice per run (never per operation).
//
// Opt-in: a toggle flips callgrind's state, so under its default (--collect-atstart=yes) the
// toggles would switch collection *off* for exactly the loop, and a profile taken by hand
// would silently leave out what it was taken for (helper-41). Without the variable nothing
// toggles.
//
// Only 1-thread runs toggle: callgrind runs threads one at a time, so a count of two threads
// says nothing of either (and two threads' toggles would cancel out).
//
// run_main() records in the run's context whether this run toggles (`callgrind_toggles`:
// "yes"; "off": the variable is not set; "not built": valgrind's header was missing at build
// time); instructions.py refuses anything but "yes", as the whole program's instructions would
// be taken for the loop's.
#pragma once

#include <cstdlib>
#include <cstring>

#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define LFB_CALLGRIND_TOGGLES 1
#else
#define LFB_CALLGRIND_TOGGLES 0
#endif

namespace lfb {

// Whether this run toggles callgrind's collection around its timed loops (banner).
inline bool count_loops() {
  static const bool on = LFB_CALLGRIND_TOGGLES != 0 && std::getenv("LFARENA_BENCH_COUNT_LOOPS") &&
                         std::strcmp(std::getenv("LFARENA_BENCH_COUNT_LOOPS"), "1") == 0;
  return on;
}
inline const char *callgrind_toggles() {
  return !LFB_CALLGRIND_TOGGLES ? "not built" : count_loops() ? "yes" : "off";
}

class CountedLoop {
public:
  explicit CountedLoop(int threads) : on_(threads == 1 && count_loops()) { toggle(); }
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
