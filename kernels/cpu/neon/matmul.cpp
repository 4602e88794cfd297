// NEON matmul for F32 / F16 / BF16 weights (activations stay f32; also Q8_0 when
// MatmulParams::q8_f32_activations asks for it), row dequantization, and the matmul
// entry points that route Q8_0 with int8 activations to matmul_q8.hpp.
//
// Numeric recipe of one output y[m, n] (so GEMM rows equal GEMV results bit for bit and
// any row split or thread count gives the same bits):
//   K is cut into chunks of KC = 1024 (gemm_driver.hpp); within a chunk one 4-lane f32
//   accumulator takes acc = fma(W[n, k..k+3], x[m, k..k+3], acc) for k = k0, k0+4, ...
//   in order (a tail of fewer than 4 zero-padded on both sides), reduced by hsum();
//   y = hsum (first chunk), then y = y + hsum for each later chunk.
// The loops step by 8 (two fmas into the same accumulator, low half first), which is the
// same sequence as stepping by 4. Weights are widened exactly (f16, bf16 and q * d are
// all representable in f32), so every weight type is "the F32 path on dequantized
// weights", and GEMM's f32 panels hold exactly what GEMV loads.
#include <cstring>

#include "kernels/cpu/gemm_driver.hpp"
#include "kernels/cpu/neon/vec128.hpp"
#include "kernels/cpu/scratch.hpp"
#include "kernels/kernels.hpp"

namespace kaa::kernels::neon {

void matmul_q8_plain(const MatmulParams& p);  // matmul_q8.cpp
void matmul_q8_dot(const MatmulParams& p);    // matmul_q8_dot.cpp (armv8.2-a+dotprod)

namespace {

struct FloatCtx {
    const uint8_t* w;  // (N x row_bytes)
    size_t row_bytes;
    const float* x;    // (M x x_stride)
    int64_t x_stride;
    float* y;          // (M x y_stride)
    int64_t y_stride;
};

// Loaders: elements [k, k+8) / [k, k+4) / [k, k+n) (n < 4, zero-padded) of one weight
// row, widened to f32. kBytes sets the GEMV prefetch distance.
struct LoadF32 {
    static constexpr int kBytes = 4;
    static const float* f(const uint8_t* row) { return reinterpret_cast<const float*>(row); }
    static float32x4x2_t load8(const uint8_t* row, int64_t k) { return {{vld1q_f32(f(row) + k), vld1q_f32(f(row) + k + 4)}}; }
    static float32x4_t load4(const uint8_t* row, int64_t k) { return vld1q_f32(f(row) + k); }
    static float32x4_t load_n(const uint8_t* row, int64_t k, int64_t n) { return load_f32_n(f(row) + k, n); }
};
struct LoadF16 {
    static constexpr int kBytes = 2;
    static const uint16_t* h(const uint8_t* row) { return reinterpret_cast<const uint16_t*>(row); }
    static float32x4x2_t load8(const uint8_t* row, int64_t k) { return load_f16x8(h(row) + k); }
    static float32x4_t load4(const uint8_t* row, int64_t k) { return f16x4_to_f32(vld1_u16(h(row) + k)); }
    static float32x4_t load_n(const uint8_t* row, int64_t k, int64_t n) { return f16x4_to_f32(load_u16_n(h(row) + k, n)); }
};
struct LoadBF16 {
    static constexpr int kBytes = 2;
    static const uint16_t* h(const uint8_t* row) { return reinterpret_cast<const uint16_t*>(row); }
    static float32x4x2_t load8(const uint8_t* row, int64_t k) { return load_bf16x8(h(row) + k); }
    static float32x4_t load4(const uint8_t* row, int64_t k) { return bf16x4_to_f32(vld1_u16(h(row) + k)); }
    static float32x4_t load_n(const uint8_t* row, int64_t k, int64_t n) { return bf16x4_to_f32(load_u16_n(h(row) + k, n)); }
};
// Q8_0 (34-byte blocks: f16 scale, 32 int8) widened as q * d, exact in f32. Groups of 8 or
// 4 starting at a multiple of their size never straddle a block; K % 32 == 0, so load_n
// only exists for the template.
struct LoadQ8 {
    static constexpr int kBytes = 1;
    static const uint8_t* block(const uint8_t* row, int64_t k) { return row + (k / 32) * 34; }
    static float scale(const uint8_t* blk) {
        uint16_t d;
        std::memcpy(&d, blk, 2);
        return half_to_float(d);
    }
    static float32x4x2_t load8(const uint8_t* row, int64_t k) {
        const uint8_t* blk = block(row, k);
        const int16x8_t q = vmovl_s8(vld1_s8(reinterpret_cast<const int8_t*>(blk + 2 + (k & 31))));
        const float d = scale(blk);
        return {{vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(q))), d),
                 vmulq_n_f32(vcvtq_f32_s32(vmovl_high_s16(q)), d)}};
    }
    static float32x4_t load_n(const uint8_t* row, int64_t k, int64_t n) {
        const uint8_t* blk = block(row, k);
        int8_t b[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        std::memcpy(b, blk + 2 + (k & 31), size_t(n < 4 ? n : 4));
        return vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(vmovl_s8(vld1_s8(b))))), scale(blk));
    }
    static float32x4_t load4(const uint8_t* row, int64_t k) { return load_n(row, k, 4); }
};

template <class L>
struct FloatKern {
    using Ctx = FloatCtx;
    // GEMM: 4 rows x 4 tokens = 16 accumulators + 8 weight + 2 x vectors of the 32 registers.
    static constexpr int R = 4, T = 4;
    // GEMV: 8 rows side by side, 8 independent fma chains (covers a 4-cycle fma latency on
    // two pipes) and 8 weight streams in flight.
    static constexpr int R1 = 8;
    static constexpr int64_t KC = 1024;
    static constexpr int64_t NB = 64;  // GEMM panel: 64 rows x 1028 floats = 257 KiB (L2)
    static constexpr int64_t kPrefetch = 1024;

    // The prefetch in a row at element k: kPrefetch bytes ahead, or, in the row's last
    // kPrefetch bytes, as far into the row RR further on, so that the next group of RR rows
    // starts warm (rows are c.row_bytes apart: running past a row's end lands in the next
    // row, which is this group's, so skip RR - 1 rows more). PRFM never faults, so a
    // prefetch past the matrix's end is harmless. The x86 backends measured +5-8 % GB/s
    // for this (matmul.inl); not timed on Arm hardware.
    template <int RR>
    static const uint8_t* gemv_prefetch(const Ctx& c, const uint8_t* row, int64_t k) {
        const int64_t at = k * L::kBytes + kPrefetch;
        return row + at + (at >= int64_t(c.row_bytes) ? (RR - 1) * c.row_bytes : 0);
    }

    // kStream: the weights come from memory (the GEMV, small batches read in place), so
    // prefetch them; the GEMM's panels are in L2 already.
    template <int RR, int TT, bool kStream = TT == 1>
    static void micro(const Ctx& c, int64_t n, int64_t m0, int64_t k0, int64_t k1, bool first) {
        const uint8_t* wr[RR];
        for (int r = 0; r < RR; ++r) wr[r] = c.w + size_t(n + r) * c.row_bytes;
        const float* xr[TT];
        for (int t = 0; t < TT; ++t) xr[t] = c.x + (m0 + t) * c.x_stride;
        float32x4_t acc[RR][TT];
        for (int r = 0; r < RR; ++r)
            for (int t = 0; t < TT; ++t) acc[r][t] = vdupq_n_f32(0.0f);
        int64_t k = k0;
        for (; k + 8 <= k1; k += 8) {
            float32x4x2_t w[RR];
            for (int r = 0; r < RR; ++r) {
                w[r] = L::load8(wr[r], k);
                if constexpr (kStream) prefetch(gemv_prefetch<RR>(c, wr[r], k));
            }
            for (int t = 0; t < TT; ++t) {
                const float32x4_t x0 = vld1q_f32(xr[t] + k), x1 = vld1q_f32(xr[t] + k + 4);
                for (int r = 0; r < RR; ++r) {
                    acc[r][t] = vfmaq_f32(acc[r][t], w[r].val[0], x0);
                    acc[r][t] = vfmaq_f32(acc[r][t], w[r].val[1], x1);
                }
            }
        }
        if (k + 4 <= k1) {
            float32x4_t w[RR];
            for (int r = 0; r < RR; ++r) w[r] = L::load4(wr[r], k);
            for (int t = 0; t < TT; ++t) {
                const float32x4_t xv = vld1q_f32(xr[t] + k);
                for (int r = 0; r < RR; ++r) acc[r][t] = vfmaq_f32(acc[r][t], w[r], xv);
            }
            k += 4;
        }
        if (k < k1) {  // K tail of 1..3, zero-padded on both sides
            const int64_t nt = k1 - k;
            float32x4_t w[RR];
            for (int r = 0; r < RR; ++r) w[r] = L::load_n(wr[r], k, nt);
            for (int t = 0; t < TT; ++t) {
                const float32x4_t xv = load_f32_n(xr[t] + k, nt);
                for (int r = 0; r < RR; ++r) acc[r][t] = vfmaq_f32(acc[r][t], w[r], xv);
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

// GEMM (M > 1): a block of NB rows x KC of W and the T tokens' x chunk are copied into
// scratch panels as f32 (F16/BF16/Q8_0 widened once per block, not once per token
// block), rows KC + 4 floats apart so the 8 streams of the micro kernel do not share L1
// sets the way 2^k-byte model rows would. Copies and widening are exact: same bits as
// GEMV. Panel tails are stored as whole zero-padded vectors (the stride leaves room).
template <class L>
void gemm_float_packed(const MatmulParams& p) {
    using K32 = FloatKern<LoadF32>;
    constexpr int64_t KC = K32::KC, NB = K32::NB, T = K32::T, stride = KC + 4;
    auto* wp = static_cast<float*>(thread_scratch(2, size_t(NB * stride) * sizeof(float)));  // (NB x stride)
    auto* xp = static_cast<float*>(thread_scratch(3, size_t(T * stride) * sizeof(float)));   // (T x stride)
    const auto* w = static_cast<const uint8_t*>(p.w);
    for (int64_t n0 = p.n_begin; n0 < p.n_end; n0 += NB) {
        const int64_t rows = imin(NB, p.n_end - n0);
        for (int64_t k0 = 0; k0 < p.K; k0 += KC) {
            const int64_t len = imin(KC, p.K - k0);
            for (int64_t r = 0; r < rows; ++r) {
                const uint8_t* src = w + size_t(n0 + r) * p.w_row_bytes;
                float* dst = wp + r * stride;
                int64_t k = 0;
                for (; k + 8 <= len; k += 8) {
                    const float32x4x2_t v = L::load8(src, k0 + k);
                    vst1q_f32(dst + k, v.val[0]);
                    vst1q_f32(dst + k + 4, v.val[1]);
                }
                for (; k < len; k += 4) vst1q_f32(dst + k, k + 4 <= len ? L::load4(src, k0 + k) : L::load_n(src, k0 + k, len - k));
            }
            for (int64_t m0 = 0; m0 < p.M; m0 += T) {
                const int tt = int(imin(T, p.M - m0));
                for (int t = 0; t < tt; ++t)
                    std::memcpy(xp + t * stride, p.x + (m0 + t) * p.x_stride + k0, size_t(len) * sizeof(float));
                const FloatCtx c{reinterpret_cast<const uint8_t*>(wp), size_t(stride) * sizeof(float), xp, stride,
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
// same arithmetic (widening is exact). The x86 backends measured F16 ssm_in M = 8 at
// 8.0 -> 13.6 GB/s and found the panels better from M = 24 (x86/matmul.inl); not timed
// on Arm hardware.
template <class L>
void gemm_float_in_place(const MatmulParams& p) {
    const FloatCtx c{static_cast<const uint8_t*>(p.w), p.w_row_bytes, p.x, p.x_stride, p.y, p.y_stride};
    run_gemm_in_place<FloatKern<L>>(c, p.M, p.K, p.n_begin, p.n_end);
}

void matmul_float(const MatmulParams& p) {
    if (p.M > 1 && p.M <= kInPlaceMaxM) {
        switch (p.wtype) {
            case WeightType::f32: gemm_float_in_place<LoadF32>(p); return;
            case WeightType::f16: gemm_float_in_place<LoadF16>(p); return;
            case WeightType::bf16: gemm_float_in_place<LoadBF16>(p); return;
            case WeightType::q8_0: gemm_float_in_place<LoadQ8>(p); return;  // f32-activation mode
        }
    }
    if (p.M > 1) {
        switch (p.wtype) {
            case WeightType::f32: gemm_float_packed<LoadF32>(p); return;
            case WeightType::f16: gemm_float_packed<LoadF16>(p); return;
            case WeightType::bf16: gemm_float_packed<LoadBF16>(p); return;
            case WeightType::q8_0: gemm_float_packed<LoadQ8>(p); return;  // f32-activation mode
        }
        return;
    }
    const FloatCtx c{static_cast<const uint8_t*>(p.w), p.w_row_bytes, p.x, p.x_stride, p.y, p.y_stride};
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

void matmul_dot(const MatmulParams& p) {
    if (p.n_begin >= p.n_end || p.M <= 0) return;
    if (p.wtype == WeightType::q8_0 && !p.q8_f32_activations)
        matmul_q8_dot(p);
    else
        matmul_float(p);
}

void dequantize_row(WeightType t, const void* row, float* out, int64_t K) {
    const auto* r = static_cast<const uint8_t*>(row);
    switch (t) {
        case WeightType::f32:
            std::memcpy(out, row, size_t(K) * sizeof(float));
            return;
        case WeightType::f16:
        case WeightType::bf16: {
            const bool f16 = t == WeightType::f16;
            int64_t k = 0;
            for (; k + 8 <= K; k += 8) {
                const float32x4x2_t v = f16 ? LoadF16::load8(r, k) : LoadBF16::load8(r, k);
                vst1q_f32(out + k, v.val[0]);
                vst1q_f32(out + k + 4, v.val[1]);
            }
            for (; k < K; k += 4) {
                const int64_t n = imin(4, K - k);
                store_f32_n(out + k, n, f16 ? LoadF16::load_n(r, k, n) : LoadBF16::load_n(r, k, n));
            }
            return;
        }
        case WeightType::q8_0:
            for (int64_t k = 0; k + 8 <= K; k += 8) {  // K % 32 == 0
                const float32x4x2_t v = LoadQ8::load8(r, k);
                vst1q_f32(out + k, v.val[0]);
                vst1q_f32(out + k + 4, v.val[1]);
            }
            return;
    }
}

}  // namespace kaa::kernels::neon
