// The thread pool covers every index exactly once, on tile boundaries, and passes errors on.
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <stdexcept>
#include <vector>

#include "gptoss/host/thread_pool.hpp"

using gptoss::host_detail::ThreadPool;

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
