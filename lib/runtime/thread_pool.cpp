#include "runtime/thread_pool.hpp"

#include <algorithm>

namespace kaa::runtime {

int hardware_threads() {
    const unsigned n = std::thread::hardware_concurrency();
    return n == 0 ? 1 : int(n);
}

ThreadPool::ThreadPool(int n_threads) : n_threads_(std::max(1, n_threads)) {
    threads_.reserve(size_t(n_threads_ - 1));
    for (int i = 1; i < n_threads_; ++i) threads_.emplace_back([this, i] { worker(i); });
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        stop_.store(true, std::memory_order_release);
        generation_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
}

void ThreadPool::run_range(int index) {
    if (index >= n_parts_) return;
    // Split into n_parts_ contiguous ranges of whole grains.
    const int64_t grains = (n_ + grain_ - 1) / grain_;
    const int64_t g0 = grains * index / n_parts_, g1 = grains * (index + 1) / n_parts_;
    const int64_t b = std::min(n_, g0 * grain_), e = std::min(n_, g1 * grain_);
    if (b >= e) return;
    try {
        (*fn_)(b, e);
    } catch (...) {
        std::lock_guard<std::mutex> lock(error_mu_);
        if (!error_) error_ = std::current_exception();
    }
}

void ThreadPool::worker(int index) {
    uint64_t seen = 0;
    for (;;) {
        // Spin a little: the next job usually follows within microseconds.
        uint64_t gen = generation_.load(std::memory_order_acquire);
        for (int spin = 0; gen == seen && spin < 20000; ++spin) {
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
            gen = generation_.load(std::memory_order_acquire);
        }
        if (gen == seen) {
            std::unique_lock<std::mutex> lock(mu_);
            cv_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
            gen = generation_.load(std::memory_order_acquire);
        }
        seen = gen;
        if (stop_.load(std::memory_order_acquire)) return;
        run_range(index);
        pending_.fetch_sub(1, std::memory_order_acq_rel);
    }
}

void ThreadPool::parallel_for(int64_t n, int64_t grain,
                              const std::function<void(int64_t, int64_t)>& fn) {
    if (n <= 0) return;
    grain = std::max<int64_t>(1, grain);
    const int64_t grains = (n + grain - 1) / grain;
    const int parts = int(std::min<int64_t>(n_threads_, grains));
    if (parts <= 1) {
        fn(0, n);
        return;
    }
    fn_ = &fn;
    n_ = n;
    grain_ = grain;
    n_parts_ = parts;
    error_ = nullptr;
    pending_.store(n_threads_ - 1, std::memory_order_release);
    {
        std::lock_guard<std::mutex> lock(mu_);
        generation_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    run_range(0);
    for (int spin = 0; pending_.load(std::memory_order_acquire) != 0; ++spin) {
#if defined(__x86_64__) || defined(__i386__)
        if (spin < 10000) {
            __builtin_ia32_pause();
            continue;
        }
#endif
        std::this_thread::yield();  // oversubscribed: let the workers run
    }
    fn_ = nullptr;
    if (error_) std::rethrow_exception(error_);
}

}  // namespace kaa::runtime
