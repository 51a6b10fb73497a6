// A fixed pool of worker threads for the host backend. Threads are created once; parallel_for
// hands out chunks of a range to the workers, and the calling thread works too, so a step of the
// model creates no thread and allocates nothing.
#pragma once
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace gptoss::host {

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

  // Calls fn(begin, end, worker) on disjoint ranges covering [0, n), each split on multiples of
  // `grain` so that kernels can work on whole tiles; worker is in [0, size()), and a worker may
  // get several ranges. The ranges are chunks taken from a shared counter, several per worker, so
  // that a worker whose core is busy with another process does not hold up the others.
  template <class Fn>
  void parallel_for(std::int64_t n, Fn&& fn, std::int64_t grain = 1) {
    if (n <= 0) return;
    const std::int64_t tiles = (n + grain - 1) / grain;
    const int parts = int(std::min<std::int64_t>(size(), tiles));
    if (parts == 1) {
      fn(std::int64_t(0), n, 0);
      return;
    }
    const std::int64_t chunks = std::min<std::int64_t>(tiles, std::int64_t(parts) * chunks_per_worker);
    std::atomic<std::int64_t> next{0};
    const auto body = [&](int worker) {
      for (std::int64_t c; (c = next.fetch_add(1, std::memory_order_relaxed)) < chunks;) {
        const std::int64_t b = std::min(n, tiles * c / chunks * grain), e = std::min(n, tiles * (c + 1) / chunks * grain);
        if (b < e) fn(b, e, worker);
      }
    };
    run(Task{&body, [](const void* b, int worker) { (*static_cast<decltype(&body)>(b))(worker); }}, parts);
  }

 private:
  // The body of a parallel_for, called by reference: unlike std::function it never allocates.
  struct Task {
    const void* body;
    void (*call)(const void*, int);
    void operator()(int worker) const { call(body, worker); }
  };

  static constexpr int chunks_per_worker = 8;
  // Waiting threads spin this many pauses (~50 us on Zen 3) before they sleep: a sleeping thread
  // takes tens of microseconds to wake, and a decode step is hundreds of parallel sections.
  static constexpr int spin_pauses = 2000;

  static void pause() {
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
  }
  template <class Done>
  static bool spin_until(Done done) {
    for (int i = 0; i < spin_pauses; ++i) {
      if (done()) return true;
      pause();
    }
    return done();
  }

  void run(const Task& task, int parts) {
    {
      std::lock_guard lock(mutex_);
      task_ = &task;
      parts_ = parts;
      pending_.store(parts - 1, std::memory_order_relaxed);
      error_ = nullptr;
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    try {
      task(0);
    } catch (...) {
      std::lock_guard lock(mutex_);
      if (!error_) error_ = std::current_exception();
    }
    auto all_done = [&] { return pending_.load(std::memory_order_acquire) == 0; };
    if (!spin_until(all_done)) {
      std::unique_lock lock(mutex_);
      done_.wait(lock, all_done);
    }
    std::lock_guard lock(mutex_);
    task_ = nullptr;
    if (error_) std::rethrow_exception(error_);
  }

  void work(int index) {
    std::uint64_t seen = 0;
    for (;;) {
      spin_until([&] { return generation_.load(std::memory_order_acquire) != seen; });
      const Task* task;
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [&] { return stop_ || generation_.load(std::memory_order_relaxed) != seen; });
        if (stop_) return;
        seen = generation_.load(std::memory_order_relaxed);
        if (index >= parts_) continue;
        task = task_;
      }
      try {
        (*task)(index);
      } catch (...) {
        std::lock_guard lock(mutex_);
        if (!error_) error_ = std::current_exception();
      }
      if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard lock(mutex_);  // so that the caller cannot miss the notification
        done_.notify_one();
      }
    }
  }

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  const Task* task_ = nullptr;
  int parts_ = 0;
  std::atomic<int> pending_{0};
  std::atomic<std::uint64_t> generation_{0};
  bool stop_ = false;
  std::exception_ptr error_;
};

}  // namespace gptoss::host
