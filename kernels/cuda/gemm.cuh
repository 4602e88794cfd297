// gemm.cuh — matmul for many activation rows with f32 activations (Precision::exact, and
// BF16/F32 weights): 64 x 64 output tiles, 16-wide K steps through shared memory, each
// thread a 4 x 4 block of outputs, f32 FMA. Weights are dequantized exactly into the
// shared tile, so the result is the f32 reference's up to summation order.
#pragma once

#include "kernels/cuda/compat.cuh"

namespace kaa::kernels::cuda {

constexpr int kGemmBM = 64;  // activation rows per block
constexpr int kGemmBN = 64;  // weight rows per block
constexpr int kGemmBK = 16;
constexpr int kGemmThreads = 256;

inline dim3 gemm_f32_grid(int64_t M, int64_t N) {
    return dim3(unsigned((M + kGemmBM - 1) / kGemmBM), unsigned((N + kGemmBN - 1) / kGemmBN));
}

template <WeightType WT>
__global__ void __launch_bounds__(kGemmThreads) gemm_f32_kernel(MatmulArgs a) {
    // k-major tiles; rows padded by 4 floats against bank conflicts on the transposed stores
    __shared__ float xs[kGemmBK][kGemmBM + 4];
    __shared__ float ws[kGemmBK][kGemmBN + 4];

    const int64_t K = a.w.cols, N = a.w.rows, M = a.M;
    const int tid = int(threadIdx.x), tx = tid % 16, ty = tid / 16;
    const int64_t m0 = int64_t(blockIdx.x) * kGemmBM, n0 = int64_t(blockIdx.y) * kGemmBN;
    DevMatrix w = a.w;
    w.type = WT;  // the switch in weight_at folds away

    float acc[4][4] = {};
    for (int64_t k0 = 0; k0 < K; k0 += kGemmBK) {
        // 64 x 16 of each operand: 4 elements per thread, 16 consecutive k per row.
        KAA_UNROLL
        for (int i = 0; i < 4; ++i) {
            const int idx = tid + i * kGemmThreads, r = idx / kGemmBK, kk = idx % kGemmBK;
            const int64_t m = m0 + r, n = n0 + r, k = k0 + kk;
            xs[kk][r] = (m < M && k < K) ? a.x[m * a.ldx + k] : 0.0f;
            // k < K <= ld: padding columns hold zeros, but rows past N do not exist.
            ws[kk][r] = (n < N && k < K) ? weight_at(w, n, k) : 0.0f;
        }
        __syncthreads();
        KAA_UNROLL
        for (int kk = 0; kk < kGemmBK; ++kk) {
            float xv[4], wv[4];
            KAA_UNROLL
            for (int i = 0; i < 4; ++i) {
                xv[i] = xs[kk][ty * 4 + i];
                wv[i] = ws[kk][tx * 4 + i];
            }
            KAA_UNROLL
            for (int i = 0; i < 4; ++i)
                KAA_UNROLL
                for (int j = 0; j < 4; ++j) acc[i][j] += xv[i] * wv[j];
        }
        __syncthreads();
    }
    KAA_UNROLL
    for (int i = 0; i < 4; ++i) {
        const int64_t m = m0 + ty * 4 + i;
        if (m >= M) continue;
        KAA_UNROLL
        for (int j = 0; j < 4; ++j) {
            const int64_t n = n0 + tx * 4 + j;
            if (n >= N) continue;
            float* y = a.y + m * a.ldy + n;
            *y = a.accumulate ? *y + acc[i][j] : acc[i][j];
        }
    }
}

}  // namespace kaa::kernels::cuda
