// norm.cuh — the row-wise kernels: RMS norm (with gather), embedding lookup, and the
// repacking of uploaded weights into the device layout (params.hpp).
#pragma once

#include "kernels/cuda/compat.cuh"

namespace kaa::kernels::cuda {

constexpr int kRowThreads = 256;  // threads per row for the row-wise kernels

// Sum of v over the block (kRowThreads threads), returned to every thread. red: 8 floats
// of shared memory; the block must not use it again before a __syncthreads.
KAA_DEV float block_sum(float v, float* red) {
    v = warp_sum(v);
    const unsigned tid = threadIdx.x;
    if (tid % 32 == 0) red[tid / 32] = v;
    __syncthreads();
    float s = 0.0f;
    KAA_UNROLL
    for (int w = 0; w < kRowThreads / 32; ++w) s += red[w];  // same order in every thread
    __syncthreads();
    return s;
}

// One block per output row.
template <int = 0>  // a template: defined in every .cu that launches it, once in the program
__global__ void __launch_bounds__(kRowThreads) rms_rows_kernel(RmsArgs a) {
    __shared__ float red[kRowThreads / 32];
    const int64_t r = blockIdx.x;
    const int64_t src = a.rows ? a.rows[r] : r;
    const float* x = a.x + src * a.ldx;
    float* y = a.y + r * a.ldy;
    float ss = 0.0f;
    for (int64_t k = threadIdx.x; k < a.n; k += kRowThreads) ss += x[k] * x[k];
    const float scale = inv_rms(block_sum(ss, red), a.n, a.eps);
    // Each thread rewrites only the elements it read: y may alias x.
    for (int64_t k = threadIdx.x; k < a.n; k += kRowThreads) y[k] = x[k] * scale * (a.w ? a.w[k] : 1.0f);
}

// One block per token.
template <int = 0>  // a template: defined in every .cu that launches it, once in the program
__global__ void __launch_bounds__(kRowThreads) embed_kernel(EmbedArgs a) {
    const int64_t r = blockIdx.x;
    const int64_t tok = a.tokens[r];
    for (int64_t k = threadIdx.x; k < a.table.cols; k += kRowThreads) a.h[r * a.ldh + k] = weight_at(a.table, tok, k);
}

// One thread per 32-element block of a padded row.
template <int = 0>  // a template: defined in every .cu that launches it, once in the program
__global__ void __launch_bounds__(kRowThreads) repack_kernel(RepackArgs a) {
    const int64_t nb = a.ld / 32;
    const int64_t i = int64_t(blockIdx.x) * kRowThreads + threadIdx.x;
    if (i >= a.rows * nb) return;
    const int64_t r = i / nb, b = i % nb;
    const uint8_t* row = a.raw + size_t(r) * a.row_bytes;
    switch (a.type) {
        case WeightType::q8_0: {
            // File block b: f16 scale, then 32 int8 quants (34 bytes, 2-byte aligned).
            // cols is a multiple of 32 for Q8_0, so a block is wholly inside or padding.
            const bool in = b * 32 < a.cols;
            const uint8_t* blk = row + b * 34;
            int8_t* q = static_cast<int8_t*>(a.data) + r * a.ld + b * 32;
            for (int j = 0; j < 32; ++j) q[j] = in ? int8_t(blk[2 + j]) : int8_t(0);
            a.scales[r * nb + b] = in ? uint16_t(blk[0] | (blk[1] << 8)) : uint16_t(0);
            break;
        }
        case WeightType::f16:
        case WeightType::bf16: {
            uint16_t* d = static_cast<uint16_t*>(a.data) + r * a.ld + b * 32;
            for (int j = 0; j < 32; ++j) {
                const int64_t k = b * 32 + j;
                d[j] = k < a.cols ? uint16_t(row[2 * k] | (row[2 * k + 1] << 8)) : uint16_t(0);
            }
            break;
        }
        case WeightType::f32: {
            float* d = static_cast<float*>(a.data) + r * a.ld + b * 32;
            for (int j = 0; j < 32; ++j) {
                const int64_t k = b * 32 + j;
                uint32_t bits = 0;
                if (k < a.cols)
                    bits = uint32_t(row[4 * k]) | uint32_t(row[4 * k + 1]) << 8 | uint32_t(row[4 * k + 2]) << 16 |
                           uint32_t(row[4 * k + 3]) << 24;
                d[j] = __uint_as_float(bits);
            }
            break;
        }
    }
}

}  // namespace kaa::kernels::cuda
