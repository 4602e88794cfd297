// gemm_tc.cuh — matmul on the tensor cores for many activation rows (prefill, batches)
// under Precision::fast, for Q8_0 and F16 weights.
//
// Numerics: each activation row is (RMS-normed if asked, then) multiplied by an exact
// power of two 2^-e that puts its largest magnitude in [2^14, 2^15), and rounded to f16
// (relative error <= 2^-11; no overflow, whatever the row's range); the weights are
// dequantized to f16 in shared memory (Q8_0 q * d rounded once; F16 exact); products
// accumulate in f32 (WMMA m16n16k16), and the output row is multiplied back by 2^e.
//
// Tiles: BM activation rows x 128 weight rows per block of 8 warps, K in steps of 32.
// The next K step's global loads are issued before the current step's MMAs and stored
// to shared memory after them (register double buffering). Blocks of consecutive
// blockIdx.x share one weight tile (x tiles stay in L2), so weights come from HBM once.
// Split K (blockIdx.z) when the tiles alone would leave most of the GPU idle (batched
// decode: 64 rows, x_proj's 288 weight rows are 3 tiles): each split writes its partial
// sums to `part`, and a second kernel adds the splits in order (deterministic).
#pragma once

#include "kernels/cuda/compat.cuh"
#include "kernels/cuda/norm.cuh"

namespace kaa::kernels::cuda {

constexpr int kTcBN = 128;
constexpr int kTcBK = 32;
constexpr int kTcPad = 8;  // halfs of padding per shared row (keeps 16-byte alignment)
constexpr int kTcThreads = 256;

// ---- activations: f32 rows -> scaled f16 rows of ld elements (zero padded) -------------------
// Helpers for one row per block (kRowThreads threads; red: kRowThreads / 32 floats), shared
// with blas.cu. The row's RMS-norm scale (1 without the norm):
KAA_DEV float tc_norm_scale(const MatmulArgs& a, const float* x, float* red) {
    if (!a.norm) return 1.0f;
    float ss = 0.0f;
    for (int64_t k = threadIdx.x; k < a.w.cols; k += kRowThreads) ss += x[k] * x[k];
    return inv_rms(block_sum(ss, red), a.w.cols, a.eps);
}
// Element k of the (normed) row.
KAA_DEV float tc_value(const MatmulArgs& a, const float* x, float scale, int64_t k) {
    return a.norm ? x[k] * scale * (a.norm_w ? a.norm_w[k] : 1.0f) : x[k];
}
// The row's largest magnitude, in every thread.
KAA_DEV float tc_row_max(const MatmulArgs& a, const float* x, float scale, float* red) {
    float mx = 0.0f;
    for (int64_t k = threadIdx.x; k < a.w.cols; k += kRowThreads) mx = fmaxf(mx, fabsf(tc_value(a, x, scale, k)));
    mx = warp_max(mx);
    __syncthreads();  // red may still be read by block_sum's threads
    if (threadIdx.x % 32 == 0) red[threadIdx.x / 32] = mx;
    __syncthreads();
    mx = 0.0f;
    for (int w = 0; w < kRowThreads / 32; ++w) mx = fmaxf(mx, red[w]);
    return mx;
}
// e with mx * 2^-e in [2^14, 2^15); zeros (or non-finite values) keep e = 0.
KAA_DEV int tc_exponent(float mx) {
    if (!(mx > 0.0f && mx <= 3.0e38f)) return 0;
    const int e = int((__float_as_uint(mx) >> 23) & 0xff) - 127 - 14;  // floor(log2 mx) - 14 for normals
    return e < -100 ? -100 : (e > 100 ? 100 : e);
}

// Row m of xh (ld halfs, zero past K): the (normed) row times 2^-e, rounded to f16.
KAA_DEV void tc_store_half_row(const MatmulArgs& a, int64_t m, const float* x, float scale, int e) {
    half* xh = static_cast<half*>(a.xh) + m * a.w.ld;
    const float inv = pow2(-e);
    for (int64_t k = threadIdx.x; k < a.w.ld; k += kRowThreads)
        xh[k] = __float2half_rn(k < a.w.cols ? tc_value(a, x, scale, k) * inv : 0.0f);
}

// One block per row. xh: M x ld halfs; xscale[m] = 2^e.
template <int = 0>  // a template: defined in every .cu that launches it, once in the program
__global__ void __launch_bounds__(kRowThreads) tc_prep_kernel(MatmulArgs a) {
    __shared__ float red[kRowThreads / 32];
    const int64_t m = blockIdx.x;
    const float* x = a.x + m * a.ldx;
    const float scale = tc_norm_scale(a, x, red);
    const int e = tc_exponent(tc_row_max(a, x, scale, red));
    tc_store_half_row(a, m, x, scale, e);
    if (threadIdx.x == 0) a.xscale[m] = pow2(e);
}

// ---- the GEMM ------------------------------------------------------------------------------------
template <int BM>
struct TcShape {
    static constexpr int kWarpsM = BM / 32;             // warp rows of 32 activation rows
    static constexpr int kWarpsN = 8 / kWarpsM;
    static constexpr int kWN = kTcBN / kWarpsN;          // weight rows per warp
    static constexpr int kFM = 2, kFN = kWN / 16;        // 16x16 fragments per warp
    static constexpr int kAChunks = BM * kTcBK / 8 / kTcThreads;  // 16-byte chunks per thread
    static_assert(BM == 64 || BM == 128, "BM");
};

template <int BM>
inline dim3 tc_grid(int64_t M, int64_t N) {
    return dim3(unsigned((M + BM - 1) / BM), unsigned((N + kTcBN - 1) / kTcBN));
}

template <WeightType WT, int BM>
struct TcTileLoader {
    static_assert(WT == WeightType::q8_0 || WT == WeightType::f16, "tensor-core weights");
    using S = TcShape<BM>;
    uint4 a[S::kAChunks];
    uint4 b[2];       // f16: 16 weights; q8_0: b[0] = 16 quants
    uint16_t bscale;  // q8_0

    // Global -> registers for the K step at k0.
    KAA_DEV void load(const MatmulArgs& a_, int64_t m0, int64_t n0, int64_t k0) {
        const int tid = int(threadIdx.x);
        const half* xh = static_cast<const half*>(a_.xh);
        KAA_UNROLL
        for (int i = 0; i < S::kAChunks; ++i) {
            const int c = tid + i * kTcThreads, r = c / 4, part = c % 4;
            const int64_t m = m0 + r;
            a[i] = m < a_.M ? load16(xh + m * a_.w.ld + k0 + part * 8) : uint4{0, 0, 0, 0};
        }
        // B: thread -> weight row tid / 2, 16 consecutive k at (tid % 2) * 16.
        const int64_t n = n0 + tid / 2;
        const int64_t k = k0 + (tid % 2) * 16;
        if (n < a_.w.rows) {
            if (WT == WeightType::q8_0) {
                b[0] = load16(static_cast<const int8_t*>(a_.w.data) + n * a_.w.ld + k);
                bscale = a_.w.scales[n * (a_.w.ld / 32) + k / 32];
            } else {
                const uint16_t* p = static_cast<const uint16_t*>(a_.w.data) + n * a_.w.ld + k;
                b[0] = load16(p);
                b[1] = load16(p + 8);
            }
        } else {
            b[0] = b[1] = uint4{0, 0, 0, 0};
            bscale = 0;
        }
    }

    // Registers -> shared tiles (row stride kTcBK + kTcPad halfs).
    KAA_DEV void store(half* as, half* bs) const {
        const int tid = int(threadIdx.x);
        KAA_UNROLL
        for (int i = 0; i < S::kAChunks; ++i) {
            const int c = tid + i * kTcThreads, r = c / 4, part = c % 4;
            store16(as + r * (kTcBK + kTcPad) + part * 8, a[i]);
        }
        half* dst = bs + (tid / 2) * (kTcBK + kTcPad) + (tid % 2) * 16;
        if (WT == WeightType::q8_0) {
            const float d = f16_bits_to_float(bscale);
            const uint32_t words[4] = {b[0].x, b[0].y, b[0].z, b[0].w};
            KAA_UNROLL
            for (int j = 0; j < 16; ++j) dst[j] = __float2half_rn(float(sbyte(words[j / 4], j % 4)) * d);
        } else {
            store16(dst, b[0]);
            store16(dst + 8, b[1]);
        }
    }
};

// Splits of K for a grid of `tiles` blocks: enough to give every multiprocessor about four
// blocks, at most 64, at least 4 K steps each, and the partial sums must fit in a.part.
// (x_proj at 64 rows is 3 tiles of K = 8192: 8 splits left it at 63 us on an H200.)
inline int tc_ksplit(const MatmulArgs& a, int64_t tiles) {
    int ks = 1;
    const int64_t steps = a.w.ld / kTcBK;
    while (ks < 64 && tiles * ks < 4 * int64_t(a.sm_count) && steps >= 8 * ks &&
           int64_t(2 * ks) * a.M * a.w.rows <= a.part_floats)
        ks *= 2;
    return ks;
}

template <WeightType WT, int BM>
__global__ void __launch_bounds__(kTcThreads) gemm_tc_kernel(MatmulArgs a) {
    using namespace nvcuda;
    using S = TcShape<BM>;
    constexpr int kLd = kTcBK + kTcPad;
    struct alignas(32) Tiles {  // WMMA pointers must be 32-byte aligned
        half a[BM * kLd];
        half b[kTcBN * kLd];
        float c[8][16 * 16];  // per-warp staging of one accumulator tile
    };
    __shared__ Tiles sm;

    const int warp = int(threadIdx.x) / 32, lane = int(threadIdx.x) % 32;
    const int wm = warp % S::kWarpsM, wn = warp / S::kWarpsM;
    const int64_t m0 = int64_t(blockIdx.x) * BM, n0 = int64_t(blockIdx.y) * kTcBN;
    // This block's K steps [s0, s1): split blockIdx.z of gridDim.z.
    const int64_t all_steps = a.w.ld / kTcBK, per = (all_steps + gridDim.z - 1) / gridDim.z;
    const int64_t s0 = int64_t(blockIdx.z) * per, s1 = s0 + per < all_steps ? s0 + per : all_steps;
    const bool split = gridDim.z > 1;

    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[S::kFM][S::kFN];
    KAA_UNROLL
    for (int i = 0; i < S::kFM; ++i)
        KAA_UNROLL
        for (int j = 0; j < S::kFN; ++j) wmma::fill_fragment(acc[i][j], 0.0f);

    TcTileLoader<WT, BM> ld;
    if (s0 < s1) {
        ld.load(a, m0, n0, s0 * kTcBK);
        ld.store(sm.a, sm.b);
    }
    __syncthreads();
    for (int64_t s = s0; s < s1; ++s) {
        if (s + 1 < s1) ld.load(a, m0, n0, (s + 1) * kTcBK);
        KAA_UNROLL
        for (int kk = 0; kk < kTcBK; kk += 16) {
            wmma::fragment<wmma::matrix_a, 16, 16, 16, half, wmma::row_major> fa[S::kFM];
            wmma::fragment<wmma::matrix_b, 16, 16, 16, half, wmma::col_major> fb[S::kFN];
            KAA_UNROLL
            for (int i = 0; i < S::kFM; ++i) wmma::load_matrix_sync(fa[i], sm.a + (wm * 32 + i * 16) * kLd + kk, kLd);
            KAA_UNROLL
            for (int j = 0; j < S::kFN; ++j)
                wmma::load_matrix_sync(fb[j], sm.b + (wn * S::kWN + j * 16) * kLd + kk, kLd);
            KAA_UNROLL
            for (int i = 0; i < S::kFM; ++i)
                KAA_UNROLL
                for (int j = 0; j < S::kFN; ++j) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
        }
        __syncthreads();
        if (s + 1 < s1) {
            ld.store(sm.a, sm.b);
            __syncthreads();
        }
    }

    // Epilogue: each accumulator tile through this warp's staging area; lane l writes 8
    // consecutive outputs of row l / 2, scaled back by the row's 2^e (or, split, the raw
    // partial sums to part[z][m][n]).
    float* cs = sm.c[warp];
    KAA_UNROLL
    for (int i = 0; i < S::kFM; ++i)
        KAA_UNROLL
        for (int j = 0; j < S::kFN; ++j) {
            wmma::store_matrix_sync(cs, acc[i][j], 16, wmma::mem_row_major);
            __syncwarp();
            const int r = lane / 2, c0 = (lane % 2) * 8;
            const int64_t m = m0 + wm * 32 + i * 16 + r;
            if (m < a.M) {
                const float scale = a.xscale[m];
                KAA_UNROLL
                for (int q = 0; q < 8; ++q) {
                    const int64_t n = n0 + wn * S::kWN + j * 16 + c0 + q;
                    if (n >= a.w.rows) continue;
                    if (split) {
                        a.part[(int64_t(blockIdx.z) * a.M + m) * a.w.rows + n] = cs[r * 16 + c0 + q];
                    } else {
                        const float v = cs[r * 16 + c0 + q] * scale;
                        float* y = a.y + m * a.ldy + n;
                        *y = a.accumulate ? *y + v : v;
                    }
                }
            }
            __syncwarp();
        }
}

// The splits' partial sums added in order, then the tensor-core epilogue. One thread per
// output.
template <int = 0>
__global__ void __launch_bounds__(kRowThreads) tc_splitk_reduce_kernel(MatmulArgs a, int ksplit) {
    const int64_t i = int64_t(blockIdx.x) * kRowThreads + threadIdx.x, N = a.w.rows;
    if (i >= a.M * N) return;
    const int64_t m = i / N, n = i % N;
    float sum = 0.0f;
    for (int z = 0; z < ksplit; ++z) sum += a.part[(int64_t(z) * a.M + m) * N + n];
    const float v = sum * a.xscale[m];
    float* y = a.y + m * a.ldy + n;
    *y = a.accumulate ? *y + v : v;
}

}  // namespace kaa::kernels::cuda
