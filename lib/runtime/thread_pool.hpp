// thread_pool.hpp — a small fork-join pool owned by a Session.
//
// parallel_for(n, fn) splits [0, n) into one contiguous range per thread (the caller
// runs the first) and returns when all are done. The split depends only on n and the
// thread count, and kernels compute every element the same way whatever range it falls
// in, so results never depend on the number of threads.
//
// Decode calls parallel_for hundreds of times per token, so workers spin briefly on an
// atomic generation counter before sleeping on a condition variable.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace kaa::runtime {

class ThreadPool {
public:
    explicit ThreadPool(int n_threads);
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    int size() const noexcept { return n_threads_; }

    // fn(begin, end) over a partition of [0, n). Ranges are multiples of `grain`
    // (except the last) so SIMD kernels get aligned blocks. Exceptions thrown by fn are
    // rethrown here (the first one).
    void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

private:
    void worker(int index);
    void run_range(int index);

    int n_threads_;
    std::vector<std::thread> threads_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::atomic<uint64_t> generation_{0};
    std::atomic<int> pending_{0};
    std::atomic<bool> stop_{false};

    // the job of the current generation
    const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
    int64_t n_ = 0, grain_ = 1;
    int n_parts_ = 1;
    std::exception_ptr error_;
    std::mutex error_mu_;
};

// Hardware threads available to this process (>= 1).
int hardware_threads();

}  // namespace kaa::runtime
