// AVX-512 matmul for F32 / F16 / BF16 weights (activations stay f32; also Q8_0 when
// MatmulParams::q8_f32_activations asks for it), row dequantization, and the matmul
// entry points that route Q8_0 to matmul_q8.hpp.
//
// Dot-product form: weights W (N x K) and activations x (M x K) are both contiguous in K,
// so each output keeps one 16-lane accumulator: acc += W[n, k..k+15] * x[m, k..k+15].
// GEMV widens F16/BF16/Q8_0 to f32 on the fly (exact); GEMM widens a block once into a
// panel. See gemm_driver.hpp for why every output is computed the same way whatever M,
// the row range and the path.
#include <cstring>

#include "kernels/cpu/avx512/vec512.hpp"
#include "kernels/cpu/gemm_driver.hpp"
#include "kernels/cpu/scratch.hpp"
#include "kernels/kernels.hpp"

namespace kaa::kernels::avx512 {

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
    static __m512 load(const uint8_t* row, int64_t k) {
        return _mm512_loadu_ps(reinterpret_cast<const float*>(row) + k);
    }
    static __m512 load(const uint8_t* row, int64_t k, __mmask16 m) {
        return _mm512_maskz_loadu_ps(m, reinterpret_cast<const float*>(row) + k);
    }
};
struct LoadF16 {
    static constexpr int kBytes = 2;
    static __m512 load(const uint8_t* row, int64_t k) {
        return load_f16(reinterpret_cast<const uint16_t*>(row) + k);
    }
    static __m512 load(const uint8_t* row, int64_t k, __mmask16 m) {
        return load_f16(reinterpret_cast<const uint16_t*>(row) + k, m);
    }
};
struct LoadBF16 {
    static constexpr int kBytes = 2;
    static __m512 load(const uint8_t* row, int64_t k) {
        return load_bf16(reinterpret_cast<const uint16_t*>(row) + k);
    }
    static __m512 load(const uint8_t* row, int64_t k, __mmask16 m) {
        return load_bf16(reinterpret_cast<const uint16_t*>(row) + k, m);
    }
};

// Q8_0 widened to f32 (q * d is exact): 16 elements never straddle a 32-block.
struct LoadQ8 {
    static constexpr int kBytes = 1;  // only used for the GEMV prefetch distance
    static __m512 load(const uint8_t* row, int64_t k) {
        const uint8_t* blk = row + (k / 32) * 34;
        uint16_t h;
        std::memcpy(&h, blk, 2);
        const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 2 + (k & 31)));
        return _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q)), _mm512_set1_ps(_cvtsh_ss(h)));
    }
    static __m512 load(const uint8_t* row, int64_t k, __mmask16 m) {  // K % 32 == 0: no tail in practice
        return _mm512_maskz_mov_ps(m, load(row, k));
    }
};

template <class L>
struct FloatKern {
    using Ctx = FloatCtx;
    static constexpr int R = 4, T = 6;  // 24 accumulators + 4 weight vectors of 32 zmm
    static constexpr int R1 = 4;
    static constexpr int64_t KC = 1024;  // 6 tokens x 4 KiB of x stay in L1
    static constexpr int64_t NB = 128;   // 128 rows x 1024 x 4 B = 512 KiB of L2 at most
    // GEMV software prefetch distance, in bytes of each weight row.
    static constexpr int64_t kPrefetch = 1024;

    template <int RR, int TT>
    static void micro(const Ctx& c, int64_t n, int64_t m0, int64_t k0, int64_t k1, bool first) {
        const uint8_t* wr[RR];
        for (int r = 0; r < RR; ++r) wr[r] = c.w + size_t(n + r) * c.row_bytes;
        const float* xr[TT];
        for (int t = 0; t < TT; ++t) xr[t] = c.x + (m0 + t) * c.x_stride;
        __m512 acc[RR][TT];
        for (int r = 0; r < RR; ++r)
            for (int t = 0; t < TT; ++t) acc[r][t] = _mm512_setzero_ps();
        int64_t k = k0;
        for (; k + 16 <= k1; k += 16) {
            __m512 w[RR];
            for (int r = 0; r < RR; ++r) {
                w[r] = L::load(wr[r], k);
                if constexpr (TT == 1)
                    _mm_prefetch(reinterpret_cast<const char*>(wr[r] + k * L::kBytes + kPrefetch),
                                 _MM_HINT_T0);
            }
            for (int t = 0; t < TT; ++t) {
                const __m512 xv = _mm512_loadu_ps(xr[t] + k);
                for (int r = 0; r < RR; ++r) acc[r][t] = _mm512_fmadd_ps(w[r], xv, acc[r][t]);
            }
        }
        if (k < k1) {  // K tail: masked loads give zeros, so the lanes' sums are unchanged
            const __mmask16 m = lanes16(k1 - k);
            __m512 w[RR];
            for (int r = 0; r < RR; ++r) w[r] = L::load(wr[r], k, m);
            for (int t = 0; t < TT; ++t) {
                const __m512 xv = _mm512_maskz_loadu_ps(m, xr[t] + k);
                for (int r = 0; r < RR; ++r) acc[r][t] = _mm512_fmadd_ps(w[r], xv, acc[r][t]);
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
// block), with row strides of KC + 16 floats: rows of the model's matrices are often
// 2^k bytes apart, which maps the R + TT streams of the micro kernel onto the same L1
// sets. Conversion and copies are exact, so the panels give the same bits as GEMV.
template <class L>
void gemm_float_packed(const MatmulParams& p) {
    using K32 = FloatKern<LoadF32>;
    constexpr int64_t KC = K32::KC, NB = K32::NB, T = K32::T, stride = KC + 16;
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
                for (; k + 16 <= len; k += 16) _mm512_storeu_ps(dst + k, L::load(src, k0 + k));
                if (k < len) _mm512_mask_storeu_ps(dst + k, lanes16(len - k), L::load(src, k0 + k, lanes16(len - k)));
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
            for (; k + 16 <= K; k += 16) _mm512_storeu_ps(out + k, f16 ? load_f16(h + k) : load_bf16(h + k));
            if (k < K) {
                const __mmask16 m = lanes16(K - k);
                _mm512_mask_storeu_ps(out + k, m, f16 ? load_f16(h + k, m) : load_bf16(h + k, m));
            }
            return;
        }
        case WeightType::q8_0: {
            // Block: f16 scale, 32 int8. q * d is exact in f32, as in the scalar reference.
            const auto* b = static_cast<const uint8_t*>(row);
            for (int64_t i = 0; i < K / 32; ++i, b += 34) {
                uint16_t dh;
                std::memcpy(&dh, b, 2);
                const __m512 d = _mm512_set1_ps(_cvtsh_ss(dh));
                const __m128i q0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 2));
                const __m128i q1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 18));
                _mm512_storeu_ps(out + i * 32, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q0)), d));
                _mm512_storeu_ps(out + i * 32 + 16,
                                 _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q1)), d));
            }
            return;
        }
    }
}

}  // namespace kaa::kernels::avx512
