// bench/cpu_probe.cpp -- are the machine's CPUs alike, and how far apart are they? Two probes:
// - a dependent-load chase (a random cycle of 64-byte nodes) over a 256 KiB and a 16 MiB
//   working set, run pinned to each CPU in turn (ns per load, the median of 5 rounds);
// - a cache-line ping-pong between two threads pinned to each pair of CPUs: each waits for the
//   other's store to one shared line and answers with its own, so every hand-off moves the line
//   from one CPU's cache to the other's (ns per hand-off, the median of 5 rounds).
// Prints JSON {"cpus": [{"cpu": i, "l2_ns": ..., "mem_ns": ...}, ...],
//              "pairs": [{"a": i, "b": j, "transfer_ns": ...}, ...]}.
// ci/bench.sh runs it at the start and at the end of a run and records both in machine.json; the
// report shows them. Why: on this project's VM one vCPU ran memory-bound loops about 1.6x slower
// than the other while a pure ALU loop ran equally fast on both, and between two runs the memory
// latency went from 35 to 144 ns and contended 2-thread rows from 45 to 130 ns with the same
// binaries: every 2-thread vs 1-thread ratio and every cross-thread rate is bounded by where the
// host put the two vCPUs, which only a probe of the line transfer shows. Benchmark threads run
// pinned (harness.hpp pin_bench_thread: every 1-thread row on the same CPU), so the probe tells
// which CPU that was and how it compared.
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <numeric>
#include <random>
#include <thread>
#include <vector>

namespace {

struct alignas(64) Node {
  std::uint32_t next;
};

double chase_ns(std::size_t bytes) {
  const std::size_t n = bytes / sizeof(Node);
  std::vector<std::uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0u);
  std::shuffle(order.begin() + 1, order.end(), std::mt19937(42));
  std::vector<Node> nodes(n);
  for (std::size_t i = 0; i < n; ++i)
    nodes[order[i]].next = order[(i + 1) % n];
  const std::size_t loads = 1'000'000;
  std::vector<double> rounds;
  std::uint32_t at = 0;
  for (int r = 0; r < 5; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < loads; ++i)
      at = nodes[at].next;
    const auto t1 = std::chrono::steady_clock::now();
    rounds.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count() / loads);
  }
  if (at == 0xFFFFFFFFu) // keeps the chase alive
    std::puts("");
  std::sort(rounds.begin(), rounds.end());
  return rounds[rounds.size() / 2];
}

bool pin_to(int cpu) {
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  return sched_setaffinity(0, sizeof one, &one) == 0;
}

// ns per hand-off of one cache line between CPUs a and b (the median of 5 rounds), or a negative
// value if a thread could not be pinned. Each round stops after about 1 s whatever it completed:
// two threads left on one CPU (a failed pin) hand off once per scheduler tick, not per transfer.
// `allowed`: the process's CPUs. The calling thread takes them back before each round, so the
// other thread is not born on CPU a (where it would first have to preempt us to pin itself:
// milliseconds per round, and never under SCHED_FIFO; helper-37).
double transfer_ns(int a, int b, const cpu_set_t &allowed) {
  struct alignas(64) Line {
    std::atomic<std::uint32_t> turn{0}; // even: a's turn to store, odd: b's
  };
  struct alignas(64) Flags {
    std::atomic<bool> stop{false};
    std::atomic<int> pinned{0}; // b: 1 pinned, -1 failed
  };
  std::vector<double> rounds;
  for (int r = 0; r < 5; ++r) {
    Line line;
    Flags flags;
    if (sched_setaffinity(0, sizeof allowed, &allowed) != 0)
      return -1;
    std::thread other([&] {
      flags.pinned.store(pin_to(b) ? 1 : -1, std::memory_order_release);
      std::uint32_t seen = 1;
      for (;;) {
        // Acquire/release: a plain hand-off protocol; relaxed would do on x86, the point is
        // the line's round trip, not the fence.
        std::uint32_t t = line.turn.load(std::memory_order_acquire);
        if (t == seen) {
          line.turn.store(t + 1, std::memory_order_release);
          seen += 2;
        } else if (flags.stop.load(std::memory_order_relaxed)) {
          return;
        }
      }
    });
    bool pinned = pin_to(a);
    if (pinned) {
      while (flags.pinned.load(std::memory_order_acquire) == 0)
        sched_yield(); // it may still share our CPU until it has pinned itself
      pinned = flags.pinned.load(std::memory_order_acquire) > 0;
    }
    if (!pinned) {
      flags.stop.store(true);
      other.join();
      return -1;
    }
    const auto t0 = std::chrono::steady_clock::now();
    auto t1 = t0;
    std::uint32_t handoffs = 0;
    for (std::uint32_t expect = 0;; expect += 2) {
      while (line.turn.load(std::memory_order_acquire) != expect) {
      }
      line.turn.store(expect + 1, std::memory_order_release);
      handoffs += 2;
      if (handoffs % 256 == 0) {
        t1 = std::chrono::steady_clock::now();
        if (handoffs >= 400'000 || t1 - t0 > std::chrono::seconds(1))
          break;
      }
    }
    // Wait for the last answer, so no store of b's is in flight when the line is destroyed.
    while (line.turn.load(std::memory_order_acquire) != handoffs) {
    }
    flags.stop.store(true, std::memory_order_relaxed);
    other.join();
    rounds.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count() / handoffs);
  }
  std::sort(rounds.begin(), rounds.end());
  return rounds[rounds.size() / 2];
}

} // namespace

int main() {
  cpu_set_t allowed;
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0)
    return 1;
  std::vector<int> cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
    if (CPU_ISSET(cpu, &allowed))
      cpus.push_back(cpu);
  std::printf("{\"cpus\": [");
  bool first = true;
  for (const int cpu : cpus) {
    if (!pin_to(cpu))
      continue;
    const double l2 = chase_ns(256u << 10), mem = chase_ns(16u << 20);
    std::printf("%s{\"cpu\": %d, \"l2_ns\": %.2f, \"mem_ns\": %.2f}", first ? "" : ", ", cpu, l2,
                mem);
    first = false;
  }
  std::printf("], \"pairs\": [");
  // Every pair among the first 4 allowed CPUs (a big machine would take minutes for all pairs;
  // the benchmarks use the first ones, harness.hpp).
  first = true;
  const std::size_t probed = std::min<std::size_t>(cpus.size(), 4);
  for (std::size_t i = 0; i < probed; ++i)
    for (std::size_t j = i + 1; j < probed; ++j) {
      const double ns = transfer_ns(cpus[i], cpus[j], allowed);
      if (ns < 0)
        continue;
      std::printf("%s{\"a\": %d, \"b\": %d, \"transfer_ns\": %.2f}", first ? "" : ", ", cpus[i],
                  cpus[j], ns);
      first = false;
    }
  std::printf("]}\n");
  return 0;
}
