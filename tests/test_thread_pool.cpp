// The library's fork-join pool: every element covered exactly once, ranges whole grains,
// exceptions propagated, and progress (not only correctness) when many pools share few
// cores — parts are claimed by whichever thread is running, so a descheduled or sleeping
// worker never holds a job up.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

#include "runtime/thread_pool.hpp"

using kaa::runtime::ThreadPool;

TEST_CASE("thread pool: covers 0..n once, in whole grains, for any size and thread count",
          "[runtime][concurrency]") {
    for (int threads : {1, 2, 3, 5, 8}) {
        ThreadPool pool(threads);
        REQUIRE(pool.size() == threads);
        for (int64_t n : {1, 2, 15, 16, 17, 100, 1000, 4099}) {
            for (int64_t grain : {1, 4, 16}) {
                for (int per_thread : {1, 4}) {
                    std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
                    std::atomic<int> calls{0}, bad_start{0};
                    pool.parallel_for(
                        n, grain,
                        [&](int64_t b, int64_t e) {
                            ++calls;
                            if (b % grain != 0) ++bad_start;
                            for (int64_t i = b; i < e; ++i) ++hits[size_t(i)];
                        },
                        per_thread);
                    CAPTURE(threads, n, grain, per_thread);
                    for (auto& h : hits) REQUIRE(h.load() == 1);
                    REQUIRE(bad_start.load() == 0);
                    const int64_t grains = (n + grain - 1) / grain;
                    const int64_t parts = threads == 1 ? 1 : std::min<int64_t>(grains, int64_t(threads) * per_thread);
                    REQUIRE(calls.load() == parts);
                }
            }
        }
    }
}

TEST_CASE("thread pool: an exception in any part reaches the caller, and the pool stays usable",
          "[runtime][concurrency]") {
    ThreadPool pool(4);
    for (int round = 0; round < 50; ++round) {
        const int64_t failing = round % 4;  // part index whose range throws
        REQUIRE_THROWS_AS(pool.parallel_for(400, 1,
                                            [&](int64_t b, int64_t) {
                                                if (b / 100 == failing) throw std::runtime_error("boom");
                                            }),
                          std::runtime_error);
        std::atomic<int64_t> sum{0};
        pool.parallel_for(400, 1, [&](int64_t b, int64_t e) {
            for (int64_t i = b; i < e; ++i) sum += i;
        });
        REQUIRE(sum.load() == 399 * 400 / 2);
    }
}

TEST_CASE("thread pool: many pools oversubscribing the cores all make progress",
          "[runtime][concurrency]") {
    // 6 application threads, each with its own 3-thread pool: 18 threads on a machine
    // that may have 2 cores. Each runs thousands of tiny jobs, as decode does.
    constexpr int kApps = 6, kJobs = 3000;
    std::vector<std::thread> apps;
    std::atomic<int64_t> total{0};
    for (int a = 0; a < kApps; ++a) {
        apps.emplace_back([&] {
            ThreadPool pool(3);
            int64_t mine = 0;
            for (int j = 0; j < kJobs; ++j) {
                std::atomic<int64_t> s{0};
                pool.parallel_for(48, 16, [&](int64_t b, int64_t e) { s += e - b; });
                mine += s.load();
            }
            total += mine;
        });
    }
    for (auto& t : apps) t.join();
    REQUIRE(total.load() == int64_t(kApps) * kJobs * 48);
}

TEST_CASE("thread pool: pools are created and destroyed while idle or just after work",
          "[runtime][concurrency]") {
    for (int i = 0; i < 200; ++i) {
        auto pool = std::make_unique<ThreadPool>(1 + i % 4);
        if (i % 2) {
            std::atomic<int> c{0};
            pool->parallel_for(64, 1, [&](int64_t b, int64_t e) { c += int(e - b); });
            REQUIRE(c.load() == 64);
        }
        if (i % 3 == 0) std::this_thread::sleep_for(std::chrono::microseconds(300));  // workers asleep
    }
}

TEST_CASE("thread pool: more parts than the job word can count are capped, not wrapped", "[runtime]") {
    // 1025 threads x 64 parts each = 65600 parts, past the 16-bit part count of the job
    // word: the pool must cap the count (it once overflowed into the generation).
    ThreadPool pool(1025);
    std::atomic<int64_t> covered{0};
    std::atomic<int> calls{0};
    pool.parallel_for(
        70000, 1,
        [&](int64_t b, int64_t e) {
            ++calls;
            covered += e - b;
        },
        64);
    REQUIRE(covered.load() == 70000);
    REQUIRE(calls.load() == 0xffff);
}
