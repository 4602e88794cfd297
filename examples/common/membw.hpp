// membw.hpp — measures the machine's memory read bandwidth, the bound on decode speed
// (every weight is read once per generated token).
//
// The probe must read at least as fast as the decode kernels do, or "fraction of the
// roofline" comes out above 100%. A plain scalar loop (the baseline x86-64 ISA these
// tools are compiled for) issues too few bytes per load to saturate the memory system,
// so on x86 the reading loop uses the widest vectors the CPU has (selected at run time,
// like the library's kernels), with several independent accumulators.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <thread>
#include <vector>

#ifdef _WIN32
#include <malloc.h>
#elif defined(__linux__)
#include <sys/mman.h>
#endif

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define KAA_MEMBW_X86 1
#endif

namespace kaa::cli {
namespace membw_detail {

// Each reader returns a value derived from every loaded word so the loads stay alive.
inline uint64_t read_scalar(const uint64_t* p, size_t n) {
    uint64_t acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; ++j) acc[j] += p[i + size_t(j)];
    for (; i < n; ++i) acc[0] += p[i];
    uint64_t s = 0;
    for (uint64_t a : acc) s += a;
    return s;
}

#ifdef KAA_MEMBW_X86
// The x86 readers walk the slice as two streams (its halves) and prefetch each 2 KiB
// ahead. On the 2-core reference VM that reads 6-9 % more than one plain stream
// (medians and maxima of 9 alternated runs: 31.9 / 32.5 against 29.3 / 30.6 GB/s), and
// more streams read no faster (medians of 9: 4 streams 30.8, 8 streams 31.2 GB/s), so
// it is the best read found, though kaa's Q8_0 GEMV now reads four streams (16-row
// groups), where it is itself fastest.
constexpr size_t kAhead = 256;  // uint64 words: 2 KiB

__attribute__((target("avx2"))) inline uint64_t read_avx2(const uint64_t* p, size_t n) {
    const size_t half = (n / 2) & ~size_t(15);
    const uint64_t* q = p + half;
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i < half; i += 16) {  // 128 bytes (two cache lines) of each stream
        const size_t f = i + kAhead < half ? i + kAhead : i;  // stays inside the slice
        _mm_prefetch(reinterpret_cast<const char*>(p + f), _MM_HINT_T0);
        _mm_prefetch(reinterpret_cast<const char*>(p + f + 8), _MM_HINT_T0);
        _mm_prefetch(reinterpret_cast<const char*>(q + f), _MM_HINT_T0);
        _mm_prefetch(reinterpret_cast<const char*>(q + f + 8), _MM_HINT_T0);
        a0 = _mm256_add_epi64(a0, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i)));
        a1 = _mm256_add_epi64(a1, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 4)));
        a2 = _mm256_add_epi64(a2, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 8)));
        a3 = _mm256_add_epi64(a3, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 12)));
        a0 = _mm256_add_epi64(a0, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + i)));
        a1 = _mm256_add_epi64(a1, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + i + 4)));
        a2 = _mm256_add_epi64(a2, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + i + 8)));
        a3 = _mm256_add_epi64(a3, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + i + 12)));
    }
    alignas(32) uint64_t lanes[4];
    _mm256_store_si256(reinterpret_cast<__m256i*>(lanes),
                       _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3)));
    return lanes[0] + lanes[1] + lanes[2] + lanes[3] + read_scalar(p + 2 * half, n - 2 * half);
}

__attribute__((target("avx512f"))) inline uint64_t read_avx512(const uint64_t* p, size_t n) {
    const size_t half = (n / 2) & ~size_t(15);
    const uint64_t* q = p + half;
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i < half; i += 16) {  // 128 bytes (two cache lines) of each stream
        const size_t f = i + kAhead < half ? i + kAhead : i;  // stays inside the slice
        _mm_prefetch(reinterpret_cast<const char*>(p + f), _MM_HINT_T0);
        _mm_prefetch(reinterpret_cast<const char*>(p + f + 8), _MM_HINT_T0);
        _mm_prefetch(reinterpret_cast<const char*>(q + f), _MM_HINT_T0);
        _mm_prefetch(reinterpret_cast<const char*>(q + f + 8), _MM_HINT_T0);
        a0 = _mm512_add_epi64(a0, _mm512_loadu_si512(p + i));
        a1 = _mm512_add_epi64(a1, _mm512_loadu_si512(p + i + 8));
        a2 = _mm512_add_epi64(a2, _mm512_loadu_si512(q + i));
        a3 = _mm512_add_epi64(a3, _mm512_loadu_si512(q + i + 8));
    }
    alignas(64) uint64_t lanes[8];
    _mm512_store_si512(lanes, _mm512_add_epi64(_mm512_add_epi64(a0, a1), _mm512_add_epi64(a2, a3)));
    return read_scalar(lanes, 8) + read_scalar(p + 2 * half, n - 2 * half);
}
#endif

using Reader = uint64_t (*)(const uint64_t*, size_t);

inline void* aligned(size_t align, size_t n) {
#ifdef _WIN32
    return _aligned_malloc(n, align);
#else
    return std::aligned_alloc(align, n);
#endif
}
inline void aligned_free(void* p) {
#ifdef _WIN32
    _aligned_free(p);
#else
    std::free(p);
#endif
}

inline Reader widest_reader(const char** name) {
#ifdef KAA_MEMBW_X86
    if (__builtin_cpu_supports("avx512f")) {
        *name = "avx512";
        return read_avx512;
    }
    if (__builtin_cpu_supports("avx2")) {
        *name = "avx2";
        return read_avx2;
    }
#endif
    *name = "scalar";  // NEON: the compiler vectorizes the scalar loop at -O2/-O3
    return read_scalar;
}

}  // namespace membw_detail

// Bytes per second read by `threads` threads summing disjoint slices of a buffer of
// `bytes` (far larger than the caches), with the widest vector loads available. Best of
// `reps` runs. `isa`, when given, receives the name of the loop used.
//
// huge_pages: the buffer in transparent huge pages where the OS has them (Linux), like
// the weights kaa copies at load (lib/model/relayout.cpp); with 4 KiB pages the probe
// pays TLB misses that decode from such weights does not, and reads ~15% slower here.
inline double measure_read_bandwidth(int threads, size_t bytes = size_t(1) << 30, int reps = 5,
                                     const char** isa = nullptr, bool huge_pages = true) {
    const char* name = nullptr;
    const membw_detail::Reader read = membw_detail::widest_reader(&name);
    if (isa) *isa = name;
    threads = std::max(1, threads);
    const size_t n = bytes / sizeof(uint64_t);
    constexpr size_t kHuge = size_t(2) << 20;
    const size_t alloc = (n * sizeof(uint64_t) + kHuge - 1) / kHuge * kHuge;
    std::unique_ptr<uint64_t, void (*)(void*)> mem(static_cast<uint64_t*>(membw_detail::aligned(kHuge, alloc)),
                                                   membw_detail::aligned_free);
    if (!mem) return 0;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    madvise(mem.get(), alloc, huge_pages ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
#else
    (void)huge_pages;
#endif
    uint64_t* buf = mem.get();
    for (size_t i = 0; i < n; i += 512) buf[i] = i;  // every page written: faulted in
    std::vector<uint64_t> sink(size_t(threads), 0);
    double best = 0;
    for (int r = 0; r < reps; ++r) {
        const auto t0 = std::chrono::steady_clock::now();
        std::vector<std::thread> pool;
        for (int t = 0; t < threads; ++t) {
            pool.emplace_back([&, t] {
                // Slices start on 4 KiB boundaries so no two threads share a page.
                const size_t per = (n / size_t(threads)) & ~size_t(511);
                const size_t b = per * size_t(t), e = t + 1 == threads ? n : b + per;
                sink[size_t(t)] = read(buf + b, e - b);
            });
        }
        for (auto& th : pool) th.join();
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        best = std::max(best, double(n * sizeof(uint64_t)) / s);
    }
    uint64_t keep = 0;
    for (uint64_t v : sink) keep ^= v;
    volatile uint64_t observed = keep;  // the sums are used: the loads cannot be dropped
    (void)observed;
    return best;
}

}  // namespace kaa::cli
