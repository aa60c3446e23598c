// worker_thread.hpp -- test support: a thread that runs one task at a time, each to completion
// before run() returns. Its thread-local state (free cache, chunk) lives as long as the worker,
// and the test decides the order of every step: no sleeps, no races between steps.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace lfarena_test {

class Worker {
public:
  Worker() : t_([this] { loop(); }) {}
  ~Worker() {
    run({});
    t_.join();
  }
  void run(std::function<void()> task) {
    std::unique_lock<std::mutex> lock(m_);
    task_ = std::move(task);
    stop_ = !task_;
    pending_ = true;
    cv_.notify_all();
    cv_.wait(lock, [&] { return !pending_; });
  }

private:
  void loop() {
    for (;;) {
      std::unique_lock<std::mutex> lock(m_);
      cv_.wait(lock, [&] { return pending_; });
      if (stop_) {
        pending_ = false;
        cv_.notify_all();
        return;
      }
      task_();
      pending_ = false;
      cv_.notify_all();
    }
  }
  std::mutex m_;
  std::condition_variable cv_;
  std::function<void()> task_;
  bool pending_ = false, stop_ = false;
  std::thread t_;
};

} // namespace lfarena_test
