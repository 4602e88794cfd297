// AVX2 matmul for F32 / F16 / BF16 weights (activations stay f32), row dequantization,
// and the matmul entry points that route Q8_0 to matmul_q8.hpp.
//
// Same scheme as avx512/matmul.cpp with 8 lanes: one 8-lane accumulator per output,
// acc += W[n, k..k+7] * x[m, k..k+7], a K tail of fewer than 8 zero-padded, chunks of
// KC reduced by hsum() (gemm_driver.hpp), so GEMM rows equal GEMV results bit for bit.
#include <cstring>

#include "kernels/cpu/avx2/vec256.hpp"
#include "kernels/cpu/gemm_driver.hpp"
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

void matmul_float(const MatmulParams& p) {
    const FloatCtx c{static_cast<const uint8_t*>(p.w), p.w_row_bytes, p.x, p.x_stride, p.y, p.y_stride};
    switch (p.wtype) {
        case WeightType::f32: run_gemm<FloatKern<LoadF32>>(c, p.M, p.K, p.n_begin, p.n_end); break;
        case WeightType::f16: run_gemm<FloatKern<LoadF16>>(c, p.M, p.K, p.n_begin, p.n_end); break;
        case WeightType::bf16: run_gemm<FloatKern<LoadBF16>>(c, p.M, p.K, p.n_begin, p.n_end); break;
        case WeightType::q8_0: break;  // routed elsewhere
    }
}

}  // namespace

void matmul_plain(const MatmulParams& p) {
    if (p.n_begin >= p.n_end || p.M <= 0) return;
    if (p.wtype == WeightType::q8_0)
        matmul_q8_plain(p);
    else
        matmul_float(p);
}

void matmul_vnni(const MatmulParams& p) {
    if (p.n_begin >= p.n_end || p.M <= 0) return;
    if (p.wtype == WeightType::q8_0)
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
