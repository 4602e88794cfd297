// thread_pool.hpp — a small fork-join pool owned by a Session.
//
// parallel_for(n, fn) splits [0, n) into contiguous ranges ("parts"), one per thread or
// a few per thread when asked, and returns when all parts are done. The split depends
// only on n, the thread count and the parts asked for, and kernels compute every element
// the same way whatever range it falls in, so results never depend on the number of
// threads.
//
// Parts are claimed, not assigned: the caller and the workers take the next unclaimed
// part until none is left. On a quiet machine each thread ends up with one part, as with
// a static split. When there are more busy threads than cores (many Sessions, each with
// its own pool, in one process), a worker that is descheduled or asleep simply claims
// nothing and the threads that are running do its share, instead of everyone waiting
// for it.
//
// Decode calls parallel_for hundreds of times per token, so idle workers spin for a
// short, time-bounded while before sleeping on a condition variable; the caller only
// pays for a wake-up (a futex call) when some worker is actually asleep.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
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

    // fn(begin, end) over a partition of [0, n) into at most size() x parts_per_thread
    // ranges (1 thread: one range). Ranges are multiples of `grain` (except the last) so
    // SIMD kernels get aligned blocks. Which thread runs which range is not fixed: more
    // parts than threads let a thread that is running take over the share of one that
    // was descheduled (a shared machine), at the cost of more, shorter ranges.
    // Exceptions thrown by fn are rethrown here (the first one). Not reentrant: one
    // parallel_for at a time per pool.
    void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn,
                      int parts_per_thread = 1);

private:
    void worker();
    // Claims and runs parts of job `gen` until none is left.
    void run_parts(uint64_t gen);
    void run_part(int part);

    // job_ packs | generation (32) | number of parts (16) | next unclaimed part (16) |.
    // A claim is a CAS that also checks the generation, so a worker that wakes late can
    // never take a part of a newer job than the one whose parameters it has seen.

    int n_threads_;
    std::vector<std::thread> threads_;
    std::atomic<uint64_t> job_{0};
    std::atomic<int> done_{0};      // parts finished in the current job
    std::atomic<int> sleepers_{0};  // workers blocked (or about to block) on cv_
    std::atomic<bool> stop_{false};
    std::mutex mu_;
    std::condition_variable cv_;

    // The current job's parameters: written by the caller before it publishes the
    // generation, read only by threads that have claimed a part of that generation.
    const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
    int64_t n_ = 0, grain_ = 1;
    int n_parts_ = 1;
    std::exception_ptr error_;
    std::mutex error_mu_;
};

// Hardware threads available to this process (>= 1).
int hardware_threads();

}  // namespace kaa::runtime
