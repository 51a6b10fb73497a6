// The thread pool covers every index exactly once, on tile boundaries, in chunks that a worker
// runs one after another; it wakes its workers whether they spin or sleep, and passes errors on.
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

#include "gptoss/host/thread_pool.hpp"

using gptoss::host::ThreadPool;

BOOST_AUTO_TEST_CASE(covers_every_index_once) {
  for (int threads : {1, 2, 5}) {
    ThreadPool pool(threads);
    BOOST_TEST(pool.size() == threads);
    for (std::int64_t n : {0, 1, 7, 64, 1001}) {
      for (std::int64_t grain : {1, 8}) {
        std::vector<std::atomic<int>> hits(static_cast<std::size_t>(n));
        pool.parallel_for(n, [&](std::int64_t b, std::int64_t e, int worker) {
          BOOST_REQUIRE(worker >= 0 && worker < threads);
          BOOST_REQUIRE(b % grain == 0);
          for (std::int64_t i = b; i < e; ++i) ++hits[std::size_t(i)];
        }, grain);
        for (auto& h : hits) BOOST_REQUIRE(h == 1);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(rethrows_worker_errors) {
  ThreadPool pool(3);
  BOOST_CHECK_THROW(pool.parallel_for(30, [](std::int64_t b, std::int64_t, int) {
    if (b > 0) throw std::runtime_error("boom");
  }), std::runtime_error);
  // Still usable afterwards.
  std::atomic<int> sum = 0;
  pool.parallel_for(10, [&](std::int64_t b, std::int64_t e, int) { sum += int(e - b); });
  BOOST_TEST(sum == 10);
}

BOOST_AUTO_TEST_CASE(hands_out_chunks_one_at_a_time_per_worker) {
  ThreadPool pool(2);
  std::atomic<int> calls = 0, overlaps = 0;
  std::atomic<bool> busy[2] = {false, false};
  std::atomic<std::int64_t> covered = 0;
  pool.parallel_for(1000, [&](std::int64_t b, std::int64_t e, int worker) {
    if (busy[worker].exchange(true)) ++overlaps;
    ++calls;
    covered += e - b;
    busy[worker] = false;
  });
  BOOST_TEST(covered == 1000);
  BOOST_TEST(overlaps == 0);
  BOOST_TEST(calls > pool.size());  // several chunks per worker, so a slowed worker does not hold up the rest
}

BOOST_AUTO_TEST_CASE(wakes_spinning_and_sleeping_workers) {
  ThreadPool pool(3);
  for (int i = 0; i < 2000; ++i) {
    // Now and then the workers go to sleep between calls (they spin for ~50 us first).
    if (i % 250 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    std::atomic<std::int64_t> sum = 0;
    pool.parallel_for(30, [&](std::int64_t b, std::int64_t e, int) {
      for (std::int64_t k = b; k < e; ++k) sum += k;
    });
    BOOST_REQUIRE(sum == 30 * 29 / 2);
  }
}
