// membw.hpp — measures the machine's memory read bandwidth, the bound on decode speed
// (every weight is read once per generated token).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

namespace kaa::cli {

// Bytes per second read by `threads` threads summing disjoint slices of a buffer of
// `bytes` (far larger than the caches). Best of `reps` runs.
inline double measure_read_bandwidth(int threads, size_t bytes = size_t(1) << 30, int reps = 3) {
    const size_t n = bytes / sizeof(uint64_t);
    std::vector<uint64_t> buf(n);
    for (size_t i = 0; i < n; i += 512) buf[i] = i;  // fault every page in
    std::vector<uint64_t> sink(size_t(threads) * 8, 0);
    double best = 0;
    for (int r = 0; r < reps; ++r) {
        const auto t0 = std::chrono::steady_clock::now();
        std::vector<std::thread> pool;
        for (int t = 0; t < threads; ++t) {
            pool.emplace_back([&, t] {
                const size_t b = n * size_t(t) / size_t(threads), e = n * size_t(t + 1) / size_t(threads);
                uint64_t acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
                size_t i = b;
                for (; i + 8 <= e; i += 8)
                    for (int j = 0; j < 8; ++j) acc[j] += buf[i + size_t(j)];
                for (; i < e; ++i) acc[0] += buf[i];
                std::memcpy(&sink[size_t(t) * 8], acc, sizeof acc);  // keep the loads alive
            });
        }
        for (auto& th : pool) th.join();
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        best = std::max(best, double(n * sizeof(uint64_t)) / s);
    }
    return best;
}

}  // namespace kaa::cli
