// gemv.cuh — matmul for few activation rows (decode: M <= kGemvMaxM): memory-bound, so
// every weight byte is read once, with 16-byte loads, and dequantized in registers; the
// activations stay f32 (the exact-precision result at the same speed).
//
// A block is 8 warps. Warps form groups of `ksplit` that share R weight rows and split K
// between them (small N, large K: ssm_x has 288 rows of 8192); the groups of a block take
// consecutive rows. Lane l of a warp takes the l-th of each 32 consecutive chunks of E
// elements (E = 16 for Q8_0: one chunk is 16 quants, half a block).
//
// What keeps it near the memory's speed (56% of an H200's peak, measured): the next
// chunk's R loads are in flight while the current one is multiplied (register double
// buffering); R rows per warp share each x load; few registers (M = 1 has its own
// instantiation) leave many warps in flight; Q8_0 is converted to f32 by a byte permute
// and a subtraction (integer-to-float conversion runs at a quarter of the FMA rate on
// sm_80/90). Weights are converted once per x row (once at M = 1).
// Partial sums are reduced across the warp by shuffles, then across the ksplit warps in
// shared memory, always in the same order. x arrives normed (launch.cuh norms it first).
#pragma once

#include "kernels/cuda/compat.cuh"

namespace kaa::kernels::cuda {

constexpr int kGemvThreads = 256;
constexpr int kGemvWarps = kGemvThreads / 32;
// R when MatmulArgs::gemv_rows is 0 (2 or 4 may be asked for). Measured on an H200
// (docs/PERFORMANCE.md), M = 1, in_proj 16384 x 4096 Q8_0: R = 1 43.5 us, R = 2 27.0 us,
// R = 4 33.1 us, R = 8 57.4 us.
constexpr int kGemvDefaultRows = 2;

// Elements per lane chunk: 16 bytes of weights.
KAA_HD constexpr int gemv_chunk(WeightType t) {
    return t == WeightType::q8_0 ? 16 : t == WeightType::f32 ? 4 : 8;
}

inline int gemv_rows(const MatmulArgs& a) {
    return a.gemv_rows == 2 || a.gemv_rows == 4 ? a.gemv_rows : kGemvDefaultRows;
}

struct GemvPlan {
    int rows;            // R: weight rows per warp group
    int ksplit;          // warps per weight-row group
    int rows_per_block;  // R * (kGemvWarps / ksplit)
    int64_t blocks;
};

// Split K only as far as needed to give the GPU about 4 blocks per multiprocessor, and
// never so far that a warp would get no chunk.
inline GemvPlan gemv_plan(const DevMatrix& w, int sm_count, int rows) {
    const int64_t chunks = w.ld / gemv_chunk(w.type);
    GemvPlan p{rows, 1, 0, 0};
    auto blocks = [&](int ks) {
        const int64_t r = int64_t(rows) * (kGemvWarps / ks);
        return (w.rows + r - 1) / r;
    };
    while (p.ksplit < kGemvWarps && blocks(p.ksplit) < 4 * int64_t(sm_count) && chunks >= 32 * 2 * p.ksplit)
        p.ksplit *= 2;
    p.rows_per_block = rows * (kGemvWarps / p.ksplit);
    p.blocks = blocks(p.ksplit);
    return p;
}

// Four signed bytes of a word as floats, exactly. On the GPU: each byte, made unsigned by
// flipping its top bit, is placed in the low mantissa byte of 2^23 (a byte permute), and
// 2^23 + 128 subtracted.
KAA_DEV void sbytes_to_floats(uint32_t word, float* out) {
#if defined(__CUDA_ARCH__)
    const uint32_t u = word ^ 0x80808080u;
    out[0] = __uint_as_float(__byte_perm(u, 0x4B000000u, 0x7650)) - 8388736.0f;
    out[1] = __uint_as_float(__byte_perm(u, 0x4B000000u, 0x7651)) - 8388736.0f;
    out[2] = __uint_as_float(__byte_perm(u, 0x4B000000u, 0x7652)) - 8388736.0f;
    out[3] = __uint_as_float(__byte_perm(u, 0x4B000000u, 0x7653)) - 8388736.0f;
#else
    for (int j = 0; j < 4; ++j) out[j] = float(sbyte(word, j));
#endif
}

template <WeightType WT>
struct GemvChunk {
    static constexpr int E = gemv_chunk(WT);
    uint4 raw;      // the chunk's 16 bytes
    float scale;    // Q8_0 block scale (1 otherwise)

    KAA_DEV void clear() {  // a row past the matrix: zeros, never written out
        raw.x = raw.y = raw.z = raw.w = 0;
        scale = 0.0f;
    }
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
    // The chunk's E weights as f32 (the block scale not applied).
    KAA_DEV void to_floats(float* w) const {
        const uint32_t words[4] = {raw.x, raw.y, raw.z, raw.w};
        KAA_UNROLL
        for (int q = 0; q < 4; ++q) {
            if (WT == WeightType::q8_0) {
                sbytes_to_floats(words[q], w + 4 * q);
            } else if (WT == WeightType::f32) {
                w[q] = __uint_as_float(words[q]);
            } else {
                KAA_UNROLL
                for (int h = 0; h < 2; ++h) {
                    const uint16_t b = uint16_t(words[q] >> (16 * h));
                    w[2 * q + h] = WT == WeightType::f16 ? f16_bits_to_float(b) : bf16_bits_to_float(b);
                }
            }
        }
    }
};

// E activations of row m starting at element k, zero past K.
template <int E>
KAA_DEV void gemv_load_x(const MatmulArgs& a, int64_t K, bool vec, int64_t m, int64_t k, float* out) {
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
}

// R weight rows per warp group; MM: the most activation rows (1 for single-sequence
// decode: fewer registers, more blocks in flight; kGemvMaxM otherwise).
template <WeightType WT, int R, int MM>
__global__ void __launch_bounds__(kGemvThreads) gemv_kernel(MatmulArgs a, int ksplit) {
    constexpr int E = gemv_chunk(WT);
    __shared__ float red[kGemvWarps][R][kGemvMaxM];

    const int64_t K = a.w.cols, N = a.w.rows, M = a.M;
    const unsigned tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
    // 16-byte loads of x when every row start is 16-byte aligned.
    const bool vec = (reinterpret_cast<uintptr_t>(a.x) % 16 == 0) && (a.ldx % 4 == 0);

    const int groups = kGemvWarps / ksplit;
    const int group = int(warp) / ksplit, slice = int(warp) % ksplit;
    const int64_t rows_per_block = int64_t(R) * groups;
    const int64_t n0 = int64_t(blockIdx.x) * rows_per_block + int64_t(group) * R;
    const int64_t chunks = a.w.ld / E, step = int64_t(ksplit) * 32;

    float acc[R][MM];
    KAA_UNROLL
    for (int r = 0; r < R; ++r)
        KAA_UNROLL
        for (int m = 0; m < MM; ++m) acc[r][m] = 0.0f;

    GemvChunk<WT> cur[R], next[R];
    KAA_UNROLL
    for (int r = 0; r < R; ++r) {
        cur[r].clear();
        next[r].clear();
    }
    auto load = [&](GemvChunk<WT>* wc, int64_t c) {
        KAA_UNROLL
        for (int r = 0; r < R; ++r) {
            if (n0 + r < N) wc[r].load(a.w, n0 + r, c);
            else wc[r].clear();
        }
    };
    int64_t c = int64_t(slice) * 32 + lane;
    if (c < chunks) load(cur, c);

    for (; c < chunks; c += step) {
        if (c + step < chunks) load(next, c + step);  // in flight while this chunk is multiplied
        KAA_UNROLL
        for (int m = 0; m < MM; ++m) {
            if (m >= M) break;
            float x[E];
            gemv_load_x<E>(a, K, vec, m, c * E, x);
            KAA_UNROLL
            for (int r = 0; r < R; ++r) {
                float w[E];  // converted per row of x: few registers (MM = 1 converts once)
                cur[r].to_floats(w);
                float s = 0.0f;
                KAA_UNROLL
                for (int j = 0; j < E; ++j) s += w[j] * x[j];
                acc[r][m] += s * cur[r].scale;
            }
        }
        KAA_UNROLL
        for (int r = 0; r < R; ++r) cur[r] = next[r];
    }

    KAA_UNROLL
    for (int r = 0; r < R; ++r)
        KAA_UNROLL
        for (int m = 0; m < MM; ++m) {
            if (m >= M) break;
            const float s = warp_sum(acc[r][m]);
            if (lane == 0) red[warp][r][m] = s;
        }
    __syncthreads();
    // Thread (group, r, m) adds the ksplit slices in order and writes one output.
    for (int i = int(tid); i < groups * R * kGemvMaxM; i += kGemvThreads) {
        const int g = i / (R * kGemvMaxM), r = (i / kGemvMaxM) % R, m = i % kGemvMaxM;
        const int64_t n = int64_t(blockIdx.x) * rows_per_block + int64_t(g) * R + r;
        if (m < M && n < N) {
            float s = 0.0f;
            for (int q = 0; q < ksplit; ++q) s += red[g * ksplit + q][r][m];
            float* y = a.y + m * a.ldy + n;
            *y = a.accumulate ? *y + s : s;
        }
    }
}

}  // namespace kaa::kernels::cuda
