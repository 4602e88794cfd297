// AVX2 matmul for F32 / F16 / BF16 weights (activations stay f32; also Q8_0 when
// MatmulParams::q8_f32_activations asks for it), row dequantization, and the matmul
// entry points that route Q8_0 to matmul_q8.hpp.
//
// Same scheme as avx512/matmul.cpp with 8 lanes: one 8-lane accumulator per output,
// acc += W[n, k..k+7] * x[m, k..k+7], a K tail of fewer than 8 zero-padded, chunks of
// KC reduced by hsum() (gemm_driver.hpp), so GEMM rows equal GEMV results bit for bit.
#include <cstring>

#include "kernels/cpu/avx2/vec256.hpp"
#include "kernels/cpu/gemm_driver.hpp"
#include "kernels/cpu/scratch.hpp"
#include "kernels/kernels.hpp"

namespace kaa::kernels::avx2 {

void matmul_q8_plain(const MatmulParams& p);  // matmul_q8.cpp
void matmul_q8_vnni(const MatmulParams& p);   // matmul_q8_vnni.cpp

namespace {

struct FloatCtx {
    const uint8_t* w;  // (N x row_bytes)
    size_t row_bytes;
    const float* x;    // (M x x_stride)
    int64_t x_stride;
    float* y;          // (M x y_stride)
    int64_t y_stride;
};

struct LoadF32 {
    static constexpr int kBytes = 4;
    static __m256 load(const uint8_t* row, int64_t k) { return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + k); }
    static __m256 load(const uint8_t* row, int64_t k, int64_t n) {
        return _mm256_maskload_ps(reinterpret_cast<const float*>(row) + k, lanes8(n));
    }
};
struct LoadF16 {
    static constexpr int kBytes = 2;
    static __m256 load(const uint8_t* row, int64_t k) { return load_f16(reinterpret_cast<const uint16_t*>(row) + k); }
    static __m256 load(const uint8_t* row, int64_t k, int64_t n) {
        return load_f16(reinterpret_cast<const uint16_t*>(row) + k, n);
    }
};
struct LoadBF16 {
    static constexpr int kBytes = 2;
    static __m256 load(const uint8_t* row, int64_t k) { return load_bf16(reinterpret_cast<const uint16_t*>(row) + k); }
    static __m256 load(const uint8_t* row, int64_t k, int64_t n) {
        return load_bf16(reinterpret_cast<const uint16_t*>(row) + k, n);
    }
};

// Q8_0 widened to f32 (q * d is exact): 8 elements never straddle a 32-block.
struct LoadQ8 {
    static constexpr int kBytes = 1;  // only used for the GEMV prefetch distance
    static __m256 load(const uint8_t* row, int64_t k) {
        const uint8_t* blk = row + (k / 32) * 34;
        uint16_t h;
        std::memcpy(&h, blk, 2);
        const __m128i q = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(blk + 2 + (k & 31)));
        return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)), _mm256_set1_ps(_cvtsh_ss(h)));
    }
    static __m256 load(const uint8_t* row, int64_t k, int64_t n) {  // K % 32 == 0: no tail in practice
        return _mm256_and_ps(load(row, k), _mm256_castsi256_ps(lanes8(n)));
    }
};

template <class L>
struct FloatKern {
    using Ctx = FloatCtx;
    static constexpr int R = 3, T = 4;  // 12 accumulators + 3 weight vectors of 16 ymm
    static constexpr int R1 = 4;
    static constexpr int64_t KC = 1024;
    static constexpr int64_t NB = 96;
    static constexpr int64_t kPrefetch = 1024;

    template <int RR, int TT>
    static void micro(const Ctx& c, int64_t n, int64_t m0, int64_t k0, int64_t k1, bool first) {
        const uint8_t* wr[RR];
        for (int r = 0; r < RR; ++r) wr[r] = c.w + size_t(n + r) * c.row_bytes;
        const float* xr[TT];
        for (int t = 0; t < TT; ++t) xr[t] = c.x + (m0 + t) * c.x_stride;
        __m256 acc[RR][TT];
        for (int r = 0; r < RR; ++r)
            for (int t = 0; t < TT; ++t) acc[r][t] = _mm256_setzero_ps();
        int64_t k = k0;
        for (; k + 8 <= k1; k += 8) {
            __m256 w[RR];
            for (int r = 0; r < RR; ++r) {
                w[r] = L::load(wr[r], k);
                if constexpr (TT == 1)
                    _mm_prefetch(reinterpret_cast<const char*>(wr[r] + k * L::kBytes + kPrefetch), _MM_HINT_T0);
            }
            for (int t = 0; t < TT; ++t) {
                const __m256 xv = _mm256_loadu_ps(xr[t] + k);
                for (int r = 0; r < RR; ++r) acc[r][t] = _mm256_fmadd_ps(w[r], xv, acc[r][t]);
            }
        }
        if (k < k1) {  // K tail, zero-padded on both sides
            const int64_t nt = k1 - k;
            __m256 w[RR];
            for (int r = 0; r < RR; ++r) w[r] = L::load(wr[r], k, nt);
            for (int t = 0; t < TT; ++t) {
                const __m256 xv = _mm256_maskload_ps(xr[t] + k, lanes8(nt));
                for (int r = 0; r < RR; ++r) acc[r][t] = _mm256_fmadd_ps(w[r], xv, acc[r][t]);
            }
        }
        for (int t = 0; t < TT; ++t) {
            float* yr = c.y + (m0 + t) * c.y_stride + n;
            for (int r = 0; r < RR; ++r) {
                const float s = hsum(acc[r][t]);
                yr[r] = first ? s : yr[r] + s;
            }
        }
    }
};

// GEMM (M > 1): the block of NB rows x KC and the TT tokens' x chunk are first copied
// into scratch panels as f32 (F16/BF16 widened once per block instead of once per token
// block), with row strides of KC + 8 floats: rows of the model's matrices are often
// 2^k bytes apart, which maps the R + TT streams of the micro kernel onto the same L1
// sets. Conversion and copies are exact, so the panels give the same bits as GEMV.
template <class L>
void gemm_float_packed(const MatmulParams& p) {
    using K32 = FloatKern<LoadF32>;
    constexpr int64_t KC = K32::KC, NB = K32::NB, T = K32::T, stride = KC + 8;
    auto* wp = static_cast<float*>(thread_scratch(2, size_t(NB * stride) * sizeof(float)));
    auto* xp = static_cast<float*>(thread_scratch(3, size_t(T * stride) * sizeof(float)));
    const auto* w = static_cast<const uint8_t*>(p.w);
    for (int64_t n0 = p.n_begin; n0 < p.n_end; n0 += NB) {
        const int64_t rows = imin(NB, p.n_end - n0);
        for (int64_t k0 = 0; k0 < p.K; k0 += KC) {
            const int64_t len = imin(KC, p.K - k0);
            for (int64_t r = 0; r < rows; ++r) {
                const uint8_t* src = w + size_t(n0 + r) * p.w_row_bytes;
                float* dst = wp + r * stride;
                int64_t k = 0;
                for (; k + 8 <= len; k += 8) _mm256_storeu_ps(dst + k, L::load(src, k0 + k));
                if (k < len) _mm256_maskstore_ps(dst + k, lanes8(len - k), L::load(src, k0 + k, len - k));
            }
            for (int64_t m0 = 0; m0 < p.M; m0 += T) {
                const int tt = int(imin(T, p.M - m0));
                for (int t = 0; t < tt; ++t) std::memcpy(xp + t * stride, p.x + (m0 + t) * p.x_stride + k0, size_t(len) * 4);
                const FloatCtx c{reinterpret_cast<const uint8_t*>(wp), size_t(stride) * 4, xp, stride,
                                 p.y + m0 * p.y_stride + n0, p.y_stride};
                for (int64_t n = 0; n < rows; n += K32::R) {
                    const int rr = int(imin(K32::R, rows - n));
                    pick_gemm<K32>(rr, tt, std::make_integer_sequence<int, K32::R>{})(c, n, 0, 0, len, k0 == 0);
                }
            }
        }
    }
}

void matmul_float(const MatmulParams& p) {
    const FloatCtx c{static_cast<const uint8_t*>(p.w), p.w_row_bytes, p.x, p.x_stride, p.y, p.y_stride};
    if (p.M > 1) {
        switch (p.wtype) {
            case WeightType::f32: gemm_float_packed<LoadF32>(p); return;
            case WeightType::f16: gemm_float_packed<LoadF16>(p); return;
            case WeightType::bf16: gemm_float_packed<LoadBF16>(p); return;
            case WeightType::q8_0: gemm_float_packed<LoadQ8>(p); return;  // f32-activation mode
        }
    }
    switch (p.wtype) {
        case WeightType::f32: run_gemv<FloatKern<LoadF32>>(c, p.K, p.n_begin, p.n_end); break;
        case WeightType::f16: run_gemv<FloatKern<LoadF16>>(c, p.K, p.n_begin, p.n_end); break;
        case WeightType::bf16: run_gemv<FloatKern<LoadBF16>>(c, p.K, p.n_begin, p.n_end); break;
        case WeightType::q8_0: run_gemv<FloatKern<LoadQ8>>(c, p.K, p.n_begin, p.n_end); break;
    }
}

}  // namespace

void matmul_plain(const MatmulParams& p) {
    if (p.n_begin >= p.n_end || p.M <= 0) return;
    if (p.wtype == WeightType::q8_0 && !p.q8_f32_activations)
        matmul_q8_plain(p);
    else
        matmul_float(p);
}

void matmul_vnni(const MatmulParams& p) {
    if (p.n_begin >= p.n_end || p.M <= 0) return;
    if (p.wtype == WeightType::q8_0 && !p.q8_f32_activations)
        matmul_q8_vnni(p);
    else
        matmul_float(p);
}

void dequantize_row(WeightType t, const void* row, float* out, int64_t K) {
    const auto* h = static_cast<const uint16_t*>(row);
    switch (t) {
        case WeightType::f32:
            std::memcpy(out, row, size_t(K) * sizeof(float));
            return;
        case WeightType::f16:
        case WeightType::bf16: {
            const bool f16 = t == WeightType::f16;
            int64_t k = 0;
            for (; k + 8 <= K; k += 8) _mm256_storeu_ps(out + k, f16 ? load_f16(h + k) : load_bf16(h + k));
            if (k < K) {
                const __m256 v = f16 ? load_f16(h + k, K - k) : load_bf16(h + k, K - k);
                _mm256_maskstore_ps(out + k, lanes8(K - k), v);
            }
            return;
        }
        case WeightType::q8_0: {
            // Block: f16 scale, 32 int8; q * d is exact in f32 as in the scalar reference.
            const auto* b = static_cast<const uint8_t*>(row);
            for (int64_t i = 0; i < K / 32; ++i, b += 34) {
                uint16_t dh;
                std::memcpy(&dh, b, 2);
                const __m256 d = _mm256_set1_ps(_cvtsh_ss(dh));
                for (int j = 0; j < 4; ++j) {
                    const __m128i q = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(b + 2 + 8 * j));
                    _mm256_storeu_ps(out + i * 32 + 8 * j, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)), d));
                }
            }
            return;
        }
    }
}

}  // namespace kaa::kernels::avx2
