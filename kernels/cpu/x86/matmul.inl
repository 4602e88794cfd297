// matmul.inl — x86 matmul for F32 / F16 / BF16 weights with f32 activations (also Q8_0
// when MatmulParams::q8_f32_activations asks for it), row dequantization, and the matmul
// entry that routes Q8_0 with int8 activations to matmul_q8.inl. Generic over the vector
// traits V (W = V::kW lanes); included by avx2/matmul.cpp and avx512/matmul.cpp.
//
// Dot-product form: weights W (N x K) and activations x (M x K) are both contiguous in K,
// so each output keeps one W-lane accumulator: acc += W[n, k..k+W-1] * x[m, k..k+W-1],
// a K tail of fewer than W zero-padded on both sides. GEMV widens F16/BF16/Q8_0 to f32 on
// the fly (exact), and so do small batches (M <= kInPlaceMaxM); a larger GEMM widens a
// block once into a panel. See gemm_driver.hpp for why
// every output is computed the same way whatever M, the row range and the path.
#pragma once

#include <cstring>
#include <utility>

#include "kernels/cpu/gemm_driver.hpp"
#include "kernels/cpu/scratch.hpp"
#include "kernels/cpu/x86/common.hpp"
#include "kernels/kernels.hpp"

namespace kaa::kernels::x86 {
namespace {

struct FloatCtx {
    const uint8_t* w;  // (N x row_bytes)
    size_t row_bytes;
    const float* x;    // (M x x_stride)
    int64_t x_stride;
    float* y;          // (M x y_stride)
    int64_t y_stride;
};

// Weight loaders: W consecutive elements of a row from element k, as f32; the tail form
// gives zeros outside the tail's lanes. kBytes sets the GEMV prefetch distance. load_n<S>
// loads S x W elements (S = 1, or for Q8_0 a whole block; see FloatKern::micro).
template <class V, class L, int S>
void load_each(const uint8_t* row, int64_t k, typename V::F* out) {
    static_assert(S == 1, "only Q8_0 loads whole blocks");
    out[0] = L::load(row, k);
}
template <class V>
struct LoadF32 {
    static constexpr int kBytes = 4, kStep = V::kW;
    static typename V::F load(const uint8_t* row, int64_t k) {
        return V::load(reinterpret_cast<const float*>(row) + k);
    }
    template <int S>
    static void load_n(const uint8_t* row, int64_t k, typename V::F* out) { load_each<V, LoadF32, S>(row, k, out); }
    static typename V::F load(const uint8_t* row, int64_t k, typename V::Tail t) {
        return V::load(reinterpret_cast<const float*>(row) + k, t);
    }
};
template <class V>
struct LoadF16 {
    static constexpr int kBytes = 2, kStep = V::kW;
    static typename V::F load(const uint8_t* row, int64_t k) {
        return V::load_f16(reinterpret_cast<const uint16_t*>(row) + k);
    }
    template <int S>
    static void load_n(const uint8_t* row, int64_t k, typename V::F* out) { load_each<V, LoadF16, S>(row, k, out); }
    static typename V::F load(const uint8_t* row, int64_t k, typename V::Tail t) {
        return V::load_f16(reinterpret_cast<const uint16_t*>(row) + k, t);
    }
};
template <class V>
struct LoadBF16 {
    static constexpr int kBytes = 2, kStep = V::kW;
    static typename V::F load(const uint8_t* row, int64_t k) {
        return V::load_bf16(reinterpret_cast<const uint16_t*>(row) + k);
    }
    template <int S>
    static void load_n(const uint8_t* row, int64_t k, typename V::F* out) { load_each<V, LoadBF16, S>(row, k, out); }
    static typename V::F load(const uint8_t* row, int64_t k, typename V::Tail t) {
        return V::load_bf16(reinterpret_cast<const uint16_t*>(row) + k, t);
    }
};
// Q8_0 widened to f32 (q * d is exact); W elements (8 or 16) never straddle a 32-block.
// load_n<32 / W> widens a whole block (k a multiple of 32) with one scale conversion.
template <class V>
struct LoadQ8 {
    static constexpr int kBytes = 1, kStep = 32;
    // The block's f16 scale in every lane. F16C (in both ISAs' flags) converts the
    // block's first 8 bytes, the scale in lane 0; a scalar conversion and broadcast took
    // one more instruction on the port that widens the quants.
    static typename V::F scale(const uint8_t* blk) {
        const __m128 d = _mm_cvtph_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(blk)));
        if constexpr (V::kW == 16)
            return _mm512_broadcastss_ps(d);
        else
            return _mm256_broadcastss_ps(d);
    }
    static typename V::F load(const uint8_t* row, int64_t k) {
        const uint8_t* blk = row + (k / 32) * kQ8BlockBytes;
        return V::mul(V::load_i8(blk + 2 + (k & 31)), scale(blk));
    }
    template <int S>
    static void load_n(const uint8_t* row, int64_t k, typename V::F* out) {
        if constexpr (S == 1) {
            out[0] = load(row, k);
        } else {
            static_assert(S * V::kW == 32, "a whole block");
            const uint8_t* blk = row + (k / 32) * kQ8BlockBytes;
            const typename V::F d = scale(blk);
            for (int s = 0; s < S; ++s) out[s] = V::mul(V::load_i8(blk + 2 + s * V::kW), d);
        }
    }
    static typename V::F load(const uint8_t* row, int64_t k, typename V::Tail t) {  // K % 32 == 0: no tail in practice
        return V::zero_outside(load(row, k), t);
    }
};

template <class V, class L>
struct FloatKern {
    using Ctx = FloatCtx;
    using F = typename V::F;
    static constexpr int R = V::kGemmR, T = V::kGemmT;  // register block (GEMM)
    static constexpr int R1 = 4;                        // rows side by side (GEMV)
    static constexpr int64_t KC = 1024;                 // T tokens x 4 KiB of x stay in L1
    static constexpr int64_t NB = V::kGemmNB;
    // GEMV software prefetch distance, in bytes of each weight row.
    static constexpr int64_t kPrefetch = 1024;

    // The GEMV's prefetch in a row at element k: kPrefetch bytes ahead in the row, or in
    // the row's last kPrefetch bytes, as far into the row RR further on: the next group
    // of RR rows then starts warm. (The GEMV's rows are contiguous, c.row_bytes apart, so
    // running past a row's end lands in the next row, which is this group's: skip RR - 1
    // rows more.) F16, 2 threads, 4 parts each, in one process, medians of 11-15, GB/s:
    // ssm_in 26.0 -> 27.4 and 24.5 -> 26.0, ssm_out 24.1 -> 26.0 (session 8).
    template <int RR>
    static const char* gemv_prefetch(const Ctx& c, const uint8_t* row, int64_t k) {
        const int64_t at = k * L::kBytes + kPrefetch;
        return reinterpret_cast<const char*>(row + at + (at >= int64_t(c.row_bytes) ? (RR - 1) * c.row_bytes : 0));
    }

    // kStream: the weights come from memory (the GEMV, small batches read in place), so
    // prefetch them; the GEMM's panels are in L2 already.
    template <int RR, int TT, bool kStream = TT == 1>
    static void micro(const Ctx& c, int64_t n, int64_t m0, int64_t k0, int64_t k1, bool first) {
        constexpr int W = V::kW;
        const uint8_t* wr[RR];
        for (int r = 0; r < RR; ++r) wr[r] = c.w + size_t(n + r) * c.row_bytes;
        const float* xr[TT];
        for (int t = 0; t < TT; ++t) xr[t] = c.x + (m0 + t) * c.x_stride;
        F acc[RR][TT];
        for (int r = 0; r < RR; ++r)
            for (int t = 0; t < TT; ++t) acc[r][t] = V::zero();
        // S vectors of each row per step: the GEMV takes a whole Q8_0 block at a time,
        // converting its scale once instead of once a vector (the same products in the
        // same order). With more tokens the registers go to the accumulators. Q8_0 with f32
        // activations, ssm_in, kaa_bench_kernels, GB/s (session 10): AVX-512 1 thread
        // 10.0 -> 11.6 (12.4 with LoadQ8::scale's conversion), 2 threads 19.7 -> 21.1
        // (23.5); AVX2 (S = 4) against S = 1, alternated three times: 1 thread 7.4-7.7 ->
        // 11.9-12.2, 2 threads 13.7-15.2 -> 20.2-23.2.
        constexpr int S = TT == 1 ? L::kStep / W : 1;
        static_assert(KC % (S * W) == 0, "K-chunks of whole steps (K itself is: Q8_0 rows are whole blocks)");
        int64_t k = k0;
        for (; k + S * W <= k1; k += S * W) {
            F w[RR][S];
            for (int r = 0; r < RR; ++r) {
                L::template load_n<S>(wr[r], k, w[r]);
                if constexpr (kStream) _mm_prefetch(gemv_prefetch<RR>(c, wr[r], k), _MM_HINT_T0);
            }
            for (int s = 0; s < S; ++s)
                for (int t = 0; t < TT; ++t) {
                    const F xv = V::load(xr[t] + k + s * W);
                    for (int r = 0; r < RR; ++r) acc[r][t] = V::fmadd(w[r][s], xv, acc[r][t]);
                }
        }
        if (k < k1) {  // K tail: zeros on both sides leave the lanes' sums unchanged
            const typename V::Tail tail = V::tail(k1 - k);
            F w[RR];
            for (int r = 0; r < RR; ++r) w[r] = L::load(wr[r], k, tail);
            for (int t = 0; t < TT; ++t) {
                const F xv = V::load(xr[t] + k, tail);
                for (int r = 0; r < RR; ++r) acc[r][t] = V::fmadd(w[r], xv, acc[r][t]);
            }
        }
        // The horizontal sums. With many accumulators (the GEMM's blocks) W at a time
        // (V::hsum_w: the same bits as V::hsum, in fewer shuffles). F16 / BF16 ssm_in and
        // ssm_out, AVX-512 GEMM, 1 thread, two builds alternated three times, GFLOP/s
        // (session 10): 103.6-120.1 -> 117.9-127.2 (+5-7 % in each pair); pp256 on an
        // 8-layer F16 model 122.2 / 130.0 / 122.4 -> 137.1 / 127.8 / 138.7 tok/s.
        constexpr int N = RR * TT;
        float sums[N];
        if constexpr (N >= W / 2) {
            alignas(64) float all[(N + W - 1) / W * W];
            for (int g = 0; g < N; g += W) {
                F v[W];
                for (int i = 0; i < W; ++i) v[i] = g + i < N ? acc[(g + i) % RR][(g + i) / RR] : V::zero();
                V::store(all + g, V::hsum_w(v));
            }
            for (int i = 0; i < N; ++i) sums[i] = all[i];
        } else {
            for (int i = 0; i < N; ++i) sums[i] = V::hsum(acc[i % RR][i / RR]);
        }
        for (int t = 0; t < TT; ++t) {
            float* yr = c.y + (m0 + t) * c.y_stride + n;
            for (int r = 0; r < RR; ++r) yr[r] = first ? sums[t * RR + r] : yr[r] + sums[t * RR + r];
        }
    }
};

// GEMM (M > 1): the block of NB rows x KC and the T tokens' x chunk are first copied into
// scratch panels as f32 (F16/BF16/Q8_0 widened once per block instead of once per token
// block), with row strides of KC + W floats: rows of the model's matrices are often 2^k
// bytes apart, which maps the R + T streams of the micro kernel onto the same L1 sets.
// Conversion and copies are exact, so the panels give the same bits as GEMV.
template <class V, class L>
void gemm_float_packed(const MatmulParams& p) {
    using K32 = FloatKern<V, LoadF32<V>>;
    constexpr int64_t KC = K32::KC, NB = K32::NB, T = K32::T, W = V::kW, stride = KC + W;
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
                for (; k + W <= len; k += W) V::store(dst + k, L::load(src, k0 + k));
                if (k < len) {
                    const typename V::Tail tail = V::tail(len - k);
                    V::store(dst + k, tail, L::load(src, k0 + k, tail));
                }
            }
            for (int64_t m0 = 0; m0 < p.M; m0 += T) {
                const int tt = int(imin(T, p.M - m0));
                for (int t = 0; t < tt; ++t)
                    std::memcpy(xp + t * stride, p.x + (m0 + t) * p.x_stride + k0, size_t(len) * 4);
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

// Small batches read the weights in place (gemm_driver.hpp, run_gemm_in_place): the
// same arithmetic (widening is exact), without widening every block into a panel for a
// few tokens. F16 ssm_in, 2 threads, in one
// process, medians of 5-7, GB/s of weights, panels -> in place (session 8): M = 2 11.6 ->
// 23.6, M = 4 11.0 -> 23.2, M = 6 11.1 -> 22.1, M = 8 8.0 -> 13.6, M = 12 8.1 -> 10.9,
// M = 16 8.6 -> 9.7, M = 24 6.0 -> 5.9, M = 32 5.1 -> 4.8; AVX2 M = 4 / 8 / 16: 8.8 / 5.3
// / 4.8 -> 21.3 / 8.0 / 5.9. Token blocks split evenly (M = 8 as 4 + 4) instead of the
// first full: the same or worse.
template <class V, class L>
void gemm_float_in_place(const MatmulParams& p) {
    const FloatCtx c{static_cast<const uint8_t*>(p.w), p.w_row_bytes, p.x, p.x_stride, p.y, p.y_stride};
    run_gemm_in_place<FloatKern<V, L>>(c, p.M, p.K, p.n_begin, p.n_end);
}

template <class V>
void matmul_float(const MatmulParams& p) {
    const FloatCtx c{static_cast<const uint8_t*>(p.w), p.w_row_bytes, p.x, p.x_stride, p.y, p.y_stride};
    if (p.M > 1 && p.M <= kInPlaceMaxM) {
        switch (p.wtype) {
            case WeightType::f32: gemm_float_in_place<V, LoadF32<V>>(p); return;
            case WeightType::f16: gemm_float_in_place<V, LoadF16<V>>(p); return;
            case WeightType::bf16: gemm_float_in_place<V, LoadBF16<V>>(p); return;
            case WeightType::q8_0: gemm_float_in_place<V, LoadQ8<V>>(p); return;
        }
    }
    if (p.M > 1) {
        switch (p.wtype) {
            case WeightType::f32: gemm_float_packed<V, LoadF32<V>>(p); return;
            case WeightType::f16: gemm_float_packed<V, LoadF16<V>>(p); return;
            case WeightType::bf16: gemm_float_packed<V, LoadBF16<V>>(p); return;
            case WeightType::q8_0: gemm_float_packed<V, LoadQ8<V>>(p); return;  // f32-activation mode
        }
    }
    switch (p.wtype) {
        case WeightType::f32: run_gemv<FloatKern<V, LoadF32<V>>>(c, p.K, p.n_begin, p.n_end); break;
        case WeightType::f16: run_gemv<FloatKern<V, LoadF16<V>>>(c, p.K, p.n_begin, p.n_end); break;
        case WeightType::bf16: run_gemv<FloatKern<V, LoadBF16<V>>>(c, p.K, p.n_begin, p.n_end); break;
        case WeightType::q8_0: run_gemv<FloatKern<V, LoadQ8<V>>>(c, p.K, p.n_begin, p.n_end); break;
    }
}

// The backend's matmul: Q8_0 with int8 activations goes to `q8` (the plain or the VNNI
// variant, each in its own translation unit), everything else to matmul_float.
template <class V>
void matmul(const MatmulParams& p, void (*q8)(const MatmulParams&)) {
    if (p.n_begin >= p.n_end || p.M <= 0) return;
    if (p.wtype == WeightType::q8_0 && !p.q8_f32_activations)
        q8(p);
    else
        matmul_float<V>(p);
}

template <class V>
void dequantize_row(WeightType t, const void* row, float* out, int64_t K) {
    constexpr int W = V::kW;
    const auto* h = static_cast<const uint16_t*>(row);
    switch (t) {
        case WeightType::f32:
            std::memcpy(out, row, size_t(K) * sizeof(float));
            return;
        case WeightType::f16:
        case WeightType::bf16: {
            const bool f16 = t == WeightType::f16;
            int64_t k = 0;
            for (; k + W <= K; k += W) V::store(out + k, f16 ? V::load_f16(h + k) : V::load_bf16(h + k));
            if (k < K) {
                const typename V::Tail tail = V::tail(K - k);
                V::store(out + k, tail, f16 ? V::load_f16(h + k, tail) : V::load_bf16(h + k, tail));
            }
            return;
        }
        case WeightType::q8_0: {
            // Block: f16 scale, 32 int8. q * d is exact in f32, as in the scalar reference.
            const auto* b = static_cast<const uint8_t*>(row);
            for (int64_t i = 0; i < K / 32; ++i, b += kQ8BlockBytes) {
                uint16_t dh;
                std::memcpy(&dh, b, 2);
                const typename V::F d = V::set1(_cvtsh_ss(dh));
                for (int j = 0; j < 32 / W; ++j) V::store(out + i * 32 + W * j, V::mul(V::load_i8(b + 2 + W * j), d));
            }
            return;
        }
    }
}

}  // namespace
}  // namespace kaa::kernels::x86
