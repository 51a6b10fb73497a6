// A fixed pool of worker threads for the host backend. Threads are created once; parallel_for
// hands each worker one contiguous range, and the calling thread works too, so a step of the
// model creates no thread and allocates nothing.
#pragma once
#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace gptoss::host_detail {

class ThreadPool {
 public:
  // threads == 0: one per hardware thread.
  explicit ThreadPool(int threads = 0) {
    int n = threads > 0 ? threads : std::max(1u, std::thread::hardware_concurrency());
    for (int i = 1; i < n; ++i) workers_.emplace_back([this, i] { work(i); });
  }
  ~ThreadPool() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
  }
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return int(workers_.size()) + 1; }

  // Calls fn(begin, end, worker) on disjoint ranges covering [0, n); worker is in [0, size()).
  // Ranges are split on multiples of `grain` so that kernels can work on whole tiles.
  template <class Fn>
  void parallel_for(std::int64_t n, Fn&& fn, std::int64_t grain = 1) {
    if (n <= 0) return;
    std::int64_t tiles = (n + grain - 1) / grain;
    int parts = int(std::min<std::int64_t>(size(), tiles));
    auto range = [&](int part, std::int64_t& b, std::int64_t& e) {
      b = std::min(n, tiles * part / parts * grain);
      e = std::min(n, tiles * (part + 1) / parts * grain);
    };
    if (parts == 1) {
      fn(std::int64_t(0), n, 0);
      return;
    }
    std::function<void(int)> task = [&](int part) {
      std::int64_t b, e;
      range(part, b, e);
      if (b < e) fn(b, e, part);
    };
    run(task, parts);
  }

 private:
  void run(std::function<void(int)>& task, int parts) {
    {
      std::lock_guard lock(mutex_);
      task_ = &task;
      parts_ = parts;
      pending_ = parts - 1;
      error_ = nullptr;
      ++generation_;
    }
    wake_.notify_all();
    try {
      task(0);
    } catch (...) {
      std::lock_guard lock(mutex_);
      if (!error_) error_ = std::current_exception();
    }
    std::unique_lock lock(mutex_);
    done_.wait(lock, [&] { return pending_ == 0; });
    task_ = nullptr;
    if (error_) std::rethrow_exception(error_);
  }

  void work(int index) {
    std::uint64_t seen = 0;
    for (;;) {
      std::function<void(int)>* task;
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
        if (index >= parts_) continue;
        task = task_;
      }
      try {
        (*task)(index);
      } catch (...) {
        std::lock_guard lock(mutex_);
        if (!error_) error_ = std::current_exception();
      }
      {
        std::lock_guard lock(mutex_);
        if (--pending_ == 0) done_.notify_one();
      }
    }
  }

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  std::function<void(int)>* task_ = nullptr;
  int parts_ = 0, pending_ = 0;
  std::uint64_t generation_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;
};

}  // namespace gptoss::host_detail
