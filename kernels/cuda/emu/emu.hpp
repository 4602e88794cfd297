// emu.hpp — just enough of CUDA, in plain C++, to run kaa's kernel sources on the CPU.
//
// Tests compile kernels/cuda/*.cuh with a host compiler against this header (compat.cuh
// includes it when __CUDACC__ is not defined) and run every CUDA thread of a block as a
// std::thread, so the code that runs on the GPU — index arithmetic, shared memory
// staging, __syncthreads, warp shuffles, WMMA tiles — is checked without a GPU:
//   - blocks run one after another; the threads of a block run concurrently and meet at
//     __syncthreads / __syncwarp / shuffles (real barriers, with a deadlock timeout);
//   - __shared__ variables become function-local statics: one copy, used by the one
//     block that runs at a time;
//   - a WMMA fragment holds its whole 16x16 tile in every thread (the real distribution
//     over lanes is unspecified anyway); stores are made by lane 0 of the warp, so a read
//     of the stored tile by another lane needs the __syncwarp real CUDA needs too.
// Emulation is slow (a context switch per thread per barrier): tests keep shapes small.
// Nothing here is part of the library; it is included only by the tests.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "kernels/cpu/numeric.hpp"

// ---- built-in variables and qualifiers ---------------------------------------------------------
struct dim3 {
    unsigned x, y, z;
    constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
inline thread_local dim3 threadIdx;
inline thread_local dim3 blockIdx;
inline dim3 blockDim;
inline dim3 gridDim;
constexpr int warpSize = 32;

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static
#define __launch_bounds__(...)

struct alignas(16) uint4 {
    uint32_t x, y, z, w;
};
struct alignas(16) float4 {
    float x, y, z, w;
};
struct alignas(8) uint2 {
    uint32_t x, y;
};

// ---- half precision ----------------------------------------------------------------------------
struct __half {
    uint16_t bits;
};
using half = __half;
inline __half __float2half_rn(float f) { return __half{kaa::kernels::f32_to_f16(f)}; }
inline float __half2float(__half h) { return kaa::kernels::f16_to_f32(h.bits); }
inline __half __ushort_as_half(unsigned short b) { return __half{b}; }
inline float __uint_as_float(uint32_t u) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}
inline uint32_t __float_as_uint(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
}
inline float __expf(float x) { return std::exp(x); }

namespace kaa::cuda_emu {

// ---- the running launch ------------------------------------------------------------------------
// Threads that arrive early yield the CPU until the last one arrives (far cheaper than
// sleeping on a condition variable when a few cores run hundreds of emulated threads),
// and sleep only if that takes long.
class Barrier {
public:
    explicit Barrier(unsigned n) : n_(n) {}
    void wait() {
        const uint64_t gen = gen_.load(std::memory_order_acquire);
        if (count_.fetch_add(1, std::memory_order_acq_rel) + 1 == n_) {
            count_.store(0, std::memory_order_relaxed);
            {
                std::lock_guard<std::mutex> lk(mu_);
                gen_.store(gen + 1, std::memory_order_release);
            }
            cv_.notify_all();
            return;
        }
        for (int spin = 0; spin < 20000; ++spin) {
            if (gen_.load(std::memory_order_acquire) != gen) return;
            std::this_thread::yield();
        }
        std::unique_lock<std::mutex> lk(mu_);
        // A kernel whose threads do not all reach the barrier hangs on a GPU; here it fails.
        if (!cv_.wait_for(lk, std::chrono::seconds(120), [&] { return gen_.load(std::memory_order_acquire) != gen; })) {
            std::fprintf(stderr, "cuda_emu: barrier timeout (a thread skipped __syncthreads / a shuffle?)\n");
            std::abort();
        }
    }

private:
    std::mutex mu_;
    std::condition_variable cv_;
    const unsigned n_;
    std::atomic<unsigned> count_{0};
    std::atomic<uint64_t> gen_{0};
};

struct Launch {
    unsigned n_threads;
    Barrier block;
    std::vector<std::unique_ptr<Barrier>> warps;
    std::vector<uint64_t> slots;  // one shuffle slot per thread
    explicit Launch(unsigned n) : n_threads(n), block(n), slots(n) {
        for (unsigned w = 0; w < n / 32; ++w) warps.push_back(std::make_unique<Barrier>(32));
    }
};

inline Launch*& current() {
    static Launch* l = nullptr;
    return l;
}
inline std::mutex& launch_mutex() {
    static std::mutex m;
    return m;
}

inline unsigned linear_tid() { return threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z); }
inline unsigned lane_id() { return linear_tid() % 32; }

// Runs body() as every thread of every block of the grid. Blocks in x-fastest order.
inline void run(dim3 grid, dim3 block, const std::function<void()>& body) {
    std::lock_guard<std::mutex> guard(launch_mutex());  // one launch at a time (statics)
    const unsigned n = block.x * block.y * block.z;
    if (n == 0 || n % 32 != 0 || n > 1024) {
        std::fprintf(stderr, "cuda_emu: block of %u threads (need a multiple of 32, <= 1024)\n", n);
        std::abort();
    }
    Launch l(n);
    current() = &l;
    blockDim = block;
    gridDim = grid;
    std::exception_ptr error;
    std::mutex error_mu;
    std::vector<std::thread> threads;
    threads.reserve(n);
    for (unsigned t = 0; t < n; ++t) {
        threads.emplace_back([&, t] {
            threadIdx = dim3(t % block.x, (t / block.x) % block.y, t / (block.x * block.y));
            for (unsigned bz = 0; bz < grid.z; ++bz)
                for (unsigned by = 0; by < grid.y; ++by)
                    for (unsigned bx = 0; bx < grid.x; ++bx) {
                        blockIdx = dim3(bx, by, bz);
                        try {
                            body();
                        } catch (...) {
                            std::lock_guard<std::mutex> lk(error_mu);
                            if (!error) error = std::current_exception();
                        }
                        l.block.wait();  // the next block reuses the shared memory
                    }
        });
    }
    for (auto& th : threads) th.join();
    current() = nullptr;
    if (error) std::rethrow_exception(error);
}

template <class T>
T exchange(T v, unsigned src_lane) {
    static_assert(sizeof(T) <= 8, "shuffle of at most 8 bytes");
    Launch& l = *current();
    const unsigned tid = linear_tid(), warp = tid / 32;
    uint64_t bits = 0;
    std::memcpy(&bits, &v, sizeof(T));
    l.slots[tid] = bits;
    l.warps[warp]->wait();
    const uint64_t got = l.slots[warp * 32 + (src_lane % 32)];
    l.warps[warp]->wait();  // nobody overwrites a slot before every lane has read
    T out;
    std::memcpy(&out, &got, sizeof(T));
    return out;
}

}  // namespace kaa::cuda_emu

inline void __syncthreads() { kaa::cuda_emu::current()->block.wait(); }
inline void __syncwarp(unsigned = 0xffffffffu) {
    kaa::cuda_emu::current()->warps[kaa::cuda_emu::linear_tid() / 32]->wait();
}
// Every lane of the warp must call the shuffles (kaa's kernels always use the full mask).
template <class T>
T __shfl_xor_sync(unsigned, T v, int lane_mask, int = 32) {
    return kaa::cuda_emu::exchange(v, kaa::cuda_emu::lane_id() ^ unsigned(lane_mask));
}
template <class T>
T __shfl_sync(unsigned, T v, int src_lane, int = 32) {
    return kaa::cuda_emu::exchange(v, unsigned(src_lane));
}

// ---- WMMA (m16n16k16, half inputs, float accumulators) -----------------------------------------
namespace nvcuda::wmma {
struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };

template <class Use, int M, int N, int K, class T, class Layout = void>
struct fragment {
    static_assert(M == 16 && N == 16 && K == 16, "emulated WMMA: m16n16k16 only");
    float v[16][16];  // a: (m, k), b: (k, n), accumulator: (m, n)
};

template <class Use, class T, class L>
void fill_fragment(fragment<Use, 16, 16, 16, T, L>& f, float value) {
    for (auto& row : f.v)
        for (float& x : row) x = value;
}
inline void load_matrix_sync(fragment<matrix_a, 16, 16, 16, half, row_major>& f, const half* p, unsigned ldm) {
    for (int m = 0; m < 16; ++m)
        for (int k = 0; k < 16; ++k) f.v[m][k] = __half2float(p[m * ldm + k]);
}
inline void load_matrix_sync(fragment<matrix_b, 16, 16, 16, half, col_major>& f, const half* p, unsigned ldm) {
    for (int n = 0; n < 16; ++n)
        for (int k = 0; k < 16; ++k) f.v[k][n] = __half2float(p[n * ldm + k]);
}
inline void mma_sync(fragment<accumulator, 16, 16, 16, float>& d,
                     const fragment<matrix_a, 16, 16, 16, half, row_major>& a,
                     const fragment<matrix_b, 16, 16, 16, half, col_major>& b,
                     const fragment<accumulator, 16, 16, 16, float>& c) {
    float r[16][16];
    for (int m = 0; m < 16; ++m)
        for (int n = 0; n < 16; ++n) {
            float s = c.v[m][n];
            for (int k = 0; k < 16; ++k) s += a.v[m][k] * b.v[k][n];
            r[m][n] = s;
        }
    std::memcpy(d.v, r, sizeof r);
}
inline void store_matrix_sync(float* p, const fragment<accumulator, 16, 16, 16, float>& f, unsigned ldm,
                              layout_t layout) {
    if (kaa::cuda_emu::lane_id() != 0) return;
    for (int m = 0; m < 16; ++m)
        for (int n = 0; n < 16; ++n) {
            if (layout == mem_row_major) p[m * ldm + n] = f.v[m][n];
            else p[n * ldm + m] = f.v[m][n];
        }
}
}  // namespace nvcuda::wmma
