// gemv.cuh — matmul for few activation rows (decode: M <= kGemvMaxM): memory-bound, so
// every weight byte is read once, with 16-byte loads, and dequantized in registers; the
// activations stay f32 (the exact-precision result at the same speed).
//
// A block is 8 warps. Warps form groups of `ksplit` that share kGemvRows weight rows and
// split K between them (small N, large K: ssm_x has 288 rows of 8192); the groups of a
// block take consecutive rows. Lane l of a warp takes the l-th of each 32 consecutive
// chunks of E elements (E = 16 for Q8_0: one chunk is 16 quants, half a block).
// Partial sums are reduced across the warp by shuffles, then across the ksplit warps in
// shared memory, always in the same order.
#pragma once

#include "kernels/cuda/compat.cuh"

namespace kaa::kernels::cuda {

constexpr int kGemvRows = 2;      // weight rows per warp group (share each x load)
constexpr int kGemvThreads = 256;
constexpr int kGemvWarps = kGemvThreads / 32;

// Elements per lane chunk: 16 bytes of weights.
KAA_HD constexpr int gemv_chunk(WeightType t) {
    return t == WeightType::q8_0 ? 16 : t == WeightType::f32 ? 4 : 8;
}

struct GemvPlan {
    int ksplit;          // warps per weight-row group
    int rows_per_block;  // kGemvRows * (kGemvWarps / ksplit)
    int64_t blocks;
};

// Split K only as far as needed to give the GPU about 4 blocks per multiprocessor, and
// never so far that a warp would get no chunk.
inline GemvPlan gemv_plan(const DevMatrix& w, int sm_count) {
    const int64_t chunks = w.ld / gemv_chunk(w.type);
    GemvPlan p{1, 0, 0};
    auto blocks = [&](int ks) {
        const int64_t rows = kGemvRows * (kGemvWarps / ks);
        return (w.rows + rows - 1) / rows;
    };
    while (p.ksplit < kGemvWarps && blocks(p.ksplit) < 4 * int64_t(sm_count) && chunks >= 32 * 2 * p.ksplit)
        p.ksplit *= 2;
    p.rows_per_block = kGemvRows * (kGemvWarps / p.ksplit);
    p.blocks = blocks(p.ksplit);
    return p;
}

// Dot products of one chunk: E weights of a row with E activations; Q8_0 sums q * x and
// applies the block scale once (q * d is exact in f32 either way).
template <WeightType WT>
struct GemvChunk {
    static constexpr int E = gemv_chunk(WT);
    uint4 raw;      // the chunk's 16 bytes
    float scale;    // Q8_0 block scale (1 otherwise)

    KAA_DEV void load(const DevMatrix& w, int64_t n, int64_t c) {
        const int64_t k = c * E;
        if (WT == WeightType::q8_0) {
            raw = load16(static_cast<const int8_t*>(w.data) + n * w.ld + k);
            scale = f16_bits_to_float(w.scales[n * (w.ld / 32) + k / 32]);
        } else {
            const size_t bytes = WT == WeightType::f32 ? 4 : 2;
            raw = load16(static_cast<const uint8_t*>(w.data) + (size_t(n * w.ld) + size_t(k)) * bytes);
            scale = 1.0f;
        }
    }
    KAA_DEV float value(int j) const {
        const uint32_t word = j < E / 2 ? (j < E / 4 ? raw.x : raw.y) : (j < 3 * E / 4 ? raw.z : raw.w);
        const int in_word = j % (E / 4);
        if (WT == WeightType::q8_0) return float(sbyte(word, in_word));
        if (WT == WeightType::f32) return __uint_as_float(word);
        const uint16_t h = uint16_t(word >> (16 * in_word));
        return WT == WeightType::f16 ? f16_bits_to_float(h) : bf16_bits_to_float(h);
    }
    KAA_DEV float dot(const float* x) const {
        float s = 0.0f;
        KAA_UNROLL
        for (int j = 0; j < E; ++j) s += value(j) * x[j];
        return s * scale;
    }
};

// E activations of row m starting at element k, zero past K; normed if the plan says so.
template <int E>
KAA_DEV void gemv_load_x(const MatmulArgs& a, int64_t K, bool vec, int64_t m, int64_t k, const float* row_scale,
                         float* out) {
    const float* x = a.x + m * a.ldx + k;
    if (vec && k + E <= K) {
        KAA_UNROLL
        for (int j = 0; j < E; j += 4) {
            const uint4 v = load16(x + j);
            out[j] = __uint_as_float(v.x);
            out[j + 1] = __uint_as_float(v.y);
            out[j + 2] = __uint_as_float(v.z);
            out[j + 3] = __uint_as_float(v.w);
        }
    } else {
        KAA_UNROLL
        for (int j = 0; j < E; ++j) out[j] = k + j < K ? x[j] : 0.0f;
    }
    if (a.norm) {
        KAA_UNROLL
        for (int j = 0; j < E; ++j) out[j] = out[j] * row_scale[m] * (a.norm_w && k + j < K ? a.norm_w[k + j] : 1.0f);
    }
}

template <WeightType WT>
__global__ void __launch_bounds__(kGemvThreads) gemv_kernel(MatmulArgs a, int ksplit) {
    constexpr int E = gemv_chunk(WT);
    __shared__ float row_scale[kGemvMaxM];
    __shared__ float red[kGemvWarps][kGemvRows][kGemvMaxM];
    __shared__ float ss_part[kGemvWarps][kGemvMaxM];

    const int64_t K = a.w.cols, N = a.w.rows, M = a.M;
    const unsigned tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
    // 16-byte loads of x when every row start is 16-byte aligned.
    const bool vec = (reinterpret_cast<uintptr_t>(a.x) % 16 == 0) && (a.ldx % 4 == 0);

    if (a.norm) {  // per-row 1/rms over the whole row, by the whole block
        float ss[kGemvMaxM];
        KAA_UNROLL
        for (int m = 0; m < kGemvMaxM; ++m) {
            ss[m] = 0.0f;
            if (m < M) {  // uniform: whole warps skip the shuffles
                for (int64_t k = tid; k < K; k += kGemvThreads) ss[m] += a.x[m * a.ldx + k] * a.x[m * a.ldx + k];
                ss[m] = warp_sum(ss[m]);
            }
        }
        if (lane == 0) {
            KAA_UNROLL
            for (int m = 0; m < kGemvMaxM; ++m) ss_part[warp][m] = ss[m];
        }
        __syncthreads();
        if (tid < kGemvMaxM) {
            float s = 0.0f;
            for (int w = 0; w < kGemvWarps; ++w) s += ss_part[w][tid];
            row_scale[tid] = inv_rms(s, K, a.eps);
        }
        __syncthreads();
    }

    const int group = int(warp) / ksplit, slice = int(warp) % ksplit;
    const int64_t rows_per_block = int64_t(kGemvRows) * (kGemvWarps / ksplit);
    const int64_t n0 = int64_t(blockIdx.x) * rows_per_block + int64_t(group) * kGemvRows;
    const int64_t chunks = a.w.ld / E;

    float acc[kGemvRows][kGemvMaxM];
    KAA_UNROLL
    for (int r = 0; r < kGemvRows; ++r)
        KAA_UNROLL
        for (int m = 0; m < kGemvMaxM; ++m) acc[r][m] = 0.0f;

    for (int64_t c = int64_t(slice) * 32 + lane; c < chunks; c += int64_t(ksplit) * 32) {
        GemvChunk<WT> wc[kGemvRows];
        KAA_UNROLL
        for (int r = 0; r < kGemvRows; ++r)
            if (n0 + r < N) wc[r].load(a.w, n0 + r, c);
        KAA_UNROLL
        for (int m = 0; m < kGemvMaxM; ++m) {
            if (m >= M) break;
            float x[E];
            gemv_load_x<E>(a, K, vec, m, c * E, row_scale, x);
            KAA_UNROLL
            for (int r = 0; r < kGemvRows; ++r)
                if (n0 + r < N) acc[r][m] += wc[r].dot(x);
        }
    }

    KAA_UNROLL
    for (int r = 0; r < kGemvRows; ++r)
        KAA_UNROLL
        for (int m = 0; m < kGemvMaxM; ++m) {
            if (m >= M) break;
            const float s = warp_sum(acc[r][m]);
            if (lane == 0) red[warp][r][m] = s;
        }
    __syncthreads();
    // Thread (group, r, m) adds the ksplit slices in order and writes one output.
    const int g = int(tid) / (kGemvRows * kGemvMaxM), r = (int(tid) / kGemvMaxM) % kGemvRows, m = int(tid) % kGemvMaxM;
    const int64_t n = int64_t(blockIdx.x) * rows_per_block + int64_t(g) * kGemvRows + r;
    if (g < kGemvWarps / ksplit && m < M && n < N) {
        float s = 0.0f;
        for (int q = 0; q < ksplit; ++q) s += red[g * ksplit + q][r][m];
        float* y = a.y + m * a.ldy + n;
        *y = a.accumulate ? *y + s : s;
    }
}

}  // namespace kaa::kernels::cuda
