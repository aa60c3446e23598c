// allocator/src/crash_point.cpp -- the crash-point runtime (detail/crash_point.hpp): hit counters
// and the armed point. Compiled into every library variant, but empty unless
// LFARENA_CRASH_POINTS is set (the test-only `lfarena_crash_points` variant).
#include "lfarena/detail/crash_point.hpp"

#if defined(LFARENA_CRASH_POINTS) && LFARENA_CRASH_POINTS
#include <signal.h>
#include <unistd.h>

#include <atomic>

namespace lfarena::detail {
namespace {
std::atomic<std::uint64_t> g_hits[kCrashPointCount];
// Relaxed everywhere: the armed point is set before the workload's threads start, and the
// counters only need RMW atomicity (each hit has one number).
std::atomic<unsigned> g_armed{kCrashPointCount}; // kCrashPointCount: none
std::atomic<std::uint64_t> g_nth{0};
} // namespace

void crash_point_reached(CrashPoint p) {
  const auto i = static_cast<unsigned>(p);
  const std::uint64_t hit = g_hits[i].fetch_add(1, std::memory_order_relaxed) + 1;
  if (g_armed.load(std::memory_order_relaxed) == i && hit == g_nth.load(std::memory_order_relaxed))
    ::kill(::getpid(), SIGKILL); // like a power cut for this process: no handler, no flush
}

void arm_crash_point(CrashPoint p, std::uint64_t nth) {
  for (auto &h : g_hits) // a fork child inherits its parent's counts: start from zero
    h.store(0, std::memory_order_relaxed);
  g_nth.store(nth, std::memory_order_relaxed);
  g_armed.store(static_cast<unsigned>(p), std::memory_order_relaxed);
}

std::uint64_t crash_point_hits(CrashPoint p) {
  return g_hits[static_cast<unsigned>(p)].load(std::memory_order_relaxed);
}

} // namespace lfarena::detail
#endif
