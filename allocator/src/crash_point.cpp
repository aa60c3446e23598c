// allocator/src/crash_point.cpp -- the crash-point runtime (detail/crash_point.hpp): hit counters
// and the armed point. Compiled into every library variant, but empty unless
// LFARENA_CRASH_POINTS is set (the test-only `lfarena_crash_points` variant).
#include "lfarena/detail/crash_point.hpp"

#if defined(LFARENA_CRASH_POINTS) && LFARENA_CRASH_POINTS
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace lfarena::detail {
namespace {
std::atomic<std::uint64_t> g_hits[kCrashPointCount];
// Relaxed everywhere: the armed point is set before the workload's threads start, and the
// counters only need RMW atomicity (each hit has one number).
std::atomic<unsigned> g_armed{kCrashPointCount}; // kCrashPointCount: none
std::atomic<std::uint64_t> g_nth{0};
// The armed pair (kCrashPointCount: none), whether a thread waits at its first point, and
// which thread that is.
std::atomic<unsigned> g_first{kCrashPointCount}, g_second{kCrashPointCount};
std::atomic<bool> g_waiting{false};
thread_local bool t_waiting = false;
void (*g_on_pair)() = nullptr;

[[noreturn]] void die() {
  ::kill(::getpid(), SIGKILL); // like a power cut for this process: no handler, no flush
  for (;;)
    std::this_thread::yield(); // SIGKILL is not delivered synchronously everywhere
}

void pair_reached(unsigned i) {
  // acquire/acq_rel: the waiter's state before its wait is what the partner's kill freezes.
  if (i == g_second.load(std::memory_order_relaxed) && !t_waiting &&
      g_waiting.load(std::memory_order_acquire)) {
    if (g_on_pair != nullptr)
      g_on_pair();
    die();
  }
  bool expected = false;
  if (i == g_first.load(std::memory_order_relaxed) &&
      g_waiting.compare_exchange_strong(expected, true, std::memory_order_acq_rel)) {
    t_waiting = true;
    // Not a synchronisation by time: the partner kills the process; the deadline only ends a
    // wait for a partner that will never come (its thread finished).
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    while (std::chrono::steady_clock::now() < deadline)
      std::this_thread::yield();
    die();
  }
}
} // namespace

void crash_point_reached(CrashPoint p) {
  const auto i = static_cast<unsigned>(p);
  const std::uint64_t hit = g_hits[i].fetch_add(1, std::memory_order_relaxed) + 1;
  if (g_armed.load(std::memory_order_relaxed) == i && hit == g_nth.load(std::memory_order_relaxed))
    die();
  if (g_first.load(std::memory_order_relaxed) != kCrashPointCount)
    pair_reached(i);
}

void arm_crash_pair(CrashPoint first, CrashPoint second, void (*on_pair)()) {
  for (auto &h : g_hits)
    h.store(0, std::memory_order_relaxed);
  g_on_pair = on_pair;
  g_second.store(static_cast<unsigned>(second), std::memory_order_relaxed);
  g_first.store(static_cast<unsigned>(first), std::memory_order_relaxed);
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
