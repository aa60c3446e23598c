// bench/cpu_probe.cpp -- are the machine's CPUs alike? A dependent-load chase (a random cycle of
// 64-byte nodes) over a 256 KiB and a 16 MiB working set, run pinned to each CPU in turn; prints
// JSON {"cpus": [{"cpu": i, "l2_ns": ..., "mem_ns": ...}, ...]} (ns per load, the median of 5
// rounds). ci/bench.sh records it in machine.json and the report shows it: on this project's VM
// one vCPU ran memory-bound loops about 1.6x slower than the other while a pure ALU loop ran
// equally fast on both, which bounds every 2-thread vs 1-thread ratio (the slower thread sets
// the wall time). Benchmark threads run pinned (harness.hpp pin_bench_thread: every 1-thread
// row on the same CPU), so the probe tells which CPU that was and how it compared at the start.
#include <sched.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <numeric>
#include <random>
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

} // namespace

int main() {
  cpu_set_t allowed;
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0)
    return 1;
  std::printf("{\"cpus\": [");
  bool first = true;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (!CPU_ISSET(cpu, &allowed))
      continue;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    if (sched_setaffinity(0, sizeof one, &one) != 0)
      continue;
    const double l2 = chase_ns(256u << 10), mem = chase_ns(16u << 20);
    std::printf("%s{\"cpu\": %d, \"l2_ns\": %.2f, \"mem_ns\": %.2f}", first ? "" : ", ", cpu, l2,
                mem);
    first = false;
  }
  std::printf("]}\n");
  return 0;
}
