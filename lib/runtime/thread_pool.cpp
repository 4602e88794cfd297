#include "runtime/thread_pool.hpp"

#include <algorithm>
#include <chrono>

namespace kaa::runtime {
namespace {

// job_ layout: | generation (32) | number of parts (16) | next unclaimed part (16) |
constexpr int kGenShift = 32;
constexpr int kPartsShift = 16;
constexpr uint64_t kField = 0xffff;
constexpr int kMaxThreads = int(kField);

// How long an idle worker spins before it sleeps. Long enough to bridge the gaps between
// the kernels of one decode step (microseconds), short enough not to burn a core that
// another busy thread could use.
constexpr auto kSpinBudget = std::chrono::microseconds(200);

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
}

inline uint64_t generation_of(uint64_t job) { return job >> kGenShift; }

}  // namespace

int hardware_threads() {
    const unsigned n = std::thread::hardware_concurrency();
    return n == 0 ? 1 : int(n);
}

ThreadPool::ThreadPool(int n_threads) : n_threads_(std::clamp(n_threads, 1, kMaxThreads)) {
    threads_.reserve(size_t(n_threads_ - 1));
    for (int i = 1; i < n_threads_; ++i) threads_.emplace_back([this] { worker(); });
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        stop_.store(true);
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
}

void ThreadPool::run_part(int part) {
    // Whole grains, split as evenly as possible.
    const int64_t grains = (n_ + grain_ - 1) / grain_;
    const int64_t g0 = grains * part / n_parts_, g1 = grains * (part + 1) / n_parts_;
    const int64_t b = std::min(n_, g0 * grain_), e = std::min(n_, g1 * grain_);
    if (b >= e) return;
    try {
        (*fn_)(b, e);
    } catch (...) {
        std::lock_guard<std::mutex> lock(error_mu_);
        if (!error_) error_ = std::current_exception();
    }
}

void ThreadPool::run_parts(uint64_t gen) {
    uint64_t cur = job_.load(std::memory_order_acquire);
    for (;;) {
        if (generation_of(cur) != gen) return;  // a newer job: its caller handles it
        const uint64_t part = cur & kField, parts = (cur >> kPartsShift) & kField;
        if (part >= parts) return;
        // The claim succeeds only if the word is unchanged, i.e. still job `gen` with
        // this part unclaimed; the job's parameters are read after it.
        if (!job_.compare_exchange_weak(cur, cur + 1, std::memory_order_acq_rel,
                                        std::memory_order_acquire))
            continue;
        run_part(int(part));
        done_.fetch_add(1, std::memory_order_acq_rel);
        cur = job_.load(std::memory_order_acquire);
    }
}

void ThreadPool::worker() {
    uint64_t seen = 0;  // the last generation this worker looked at
    for (;;) {
        const auto t0 = std::chrono::steady_clock::now();
        uint64_t gen = generation_of(job_.load(std::memory_order_acquire));
        for (int spin = 1; gen == seen && !stop_.load(std::memory_order_relaxed); ++spin) {
            cpu_relax();
            if (spin % 256 == 0 && std::chrono::steady_clock::now() - t0 > kSpinBudget) break;
            gen = generation_of(job_.load(std::memory_order_acquire));
        }
        if (gen == seen && !stop_.load()) {
            // Sleep. sleepers_ and job_ use sequentially consistent operations on both
            // sides: either the caller sees this increment and notifies under the mutex,
            // or this predicate sees the caller's new generation.
            std::unique_lock<std::mutex> lock(mu_);
            sleepers_.fetch_add(1);
            cv_.wait(lock, [&] { return stop_.load() || generation_of(job_.load()) != seen; });
            sleepers_.fetch_sub(1);
            gen = generation_of(job_.load(std::memory_order_acquire));
        }
        if (stop_.load()) return;
        seen = gen;
        run_parts(gen);
    }
}

void ThreadPool::parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn,
                              int parts_per_thread) {
    if (n <= 0) return;
    grain = std::max<int64_t>(1, grain);
    const int64_t grains = (n + grain - 1) / grain;
    const int64_t want = n_threads_ > 1 ? int64_t(n_threads_) * std::clamp(parts_per_thread, 1, 64) : 1;
    const int parts = int(std::min({want, grains, int64_t(kField)}));  // the count must fit its field
    if (parts <= 1) {
        fn(0, n);
        return;
    }
    fn_ = &fn;
    n_ = n;
    grain_ = grain;
    n_parts_ = parts;
    error_ = nullptr;
    done_.store(0, std::memory_order_relaxed);
    const uint64_t gen = (generation_of(job_.load(std::memory_order_relaxed)) + 1) & 0xffffffffu;
    job_.store((gen << kGenShift) | (uint64_t(parts) << kPartsShift));  // publishes the job
    if (sleepers_.load() > 0) {
        std::lock_guard<std::mutex> lock(mu_);
        cv_.notify_all();
    }
    run_parts(gen);
    // Parts claimed by workers may still be running.
    for (int spin = 0; done_.load(std::memory_order_acquire) != parts; ++spin) {
        if (spin < 4096)
            cpu_relax();
        else
            std::this_thread::yield();  // oversubscribed: let the worker holding a part run
    }
    fn_ = nullptr;
    if (error_) std::rethrow_exception(error_);
}

}  // namespace kaa::runtime
