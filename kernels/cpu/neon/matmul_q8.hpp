// matmul_q8.hpp — NEON Q8_0 matmul with int8 activations (Precision::fast), included by
// matmul_q8.cpp (ARMv8.0: smull + sadalp) and matmul_q8_dot.cpp (ARMv8.2 SDOT), each
// compiled with its own flags. A `Dot` type provides
//   static int32x4_t dot32(w_lo, w_hi, q_lo, q_hi)   4 partial sums of one 32-block
// which must add up to the exact int32 sum of the 32 products.
//
// Numeric recipe of one output (the same as the avx2 / avx512 backends, so all of them
// give the same bits for the same inputs):
//   x row quantized per 32-block b:  d_x = max|x| / 127,  q = round_even(x * (1 / d_x))
//   I_b = sum_{i<32} w_q[i] * q[i]                    exact int32, any order
//   acc = fma(float(I_b), d_w[b] * d_x[b], acc)        for b = 0, 1, ... ; y = acc
// Rows in lanes: one f32 lane per output row, 4 rows per vector. Per (block, 4 rows,
// token) the four rows' partial sums are reduced by two pairwise adds (exact) into one
// vector [I_r0, I_r1, I_r2, I_r3], then one convert, one multiply and one fma. Each lane
// does exactly the recipe above, whatever the number of rows or tokens in the register
// block, so GEMM rows equal GEMV results and any [n_begin, n_end) split gives the same bits.
#pragma once

#include <cstring>
#include <utility>

#include "kernels/cpu/neon/vec128.hpp"
#include "kernels/cpu/scratch.hpp"
#include "kernels/kernels.hpp"

namespace kaa::kernels::neon {
namespace {

constexpr int64_t kQ8BlockBytes = 34;  // f16 scale + 32 int8

// One row of quantized x: q (K bytes), then d (K / 32 floats) at a 16-byte aligned offset.
struct XLayout {
    int64_t nb, d_off, stride;
    explicit XLayout(int64_t K) : nb(K / 32), d_off((K + 15) / 16 * 16), stride(d_off + (nb * 4 + 15) / 16 * 16) {}
};

struct XRow {
    const int8_t* q;  // (K)
    const float* d;   // (K / 32)
};

inline XRow x_row(const uint8_t* base, const XLayout& L, int64_t m) {
    const uint8_t* r = base + m * L.stride;
    return XRow{reinterpret_cast<const int8_t*>(r), reinterpret_cast<const float*>(r + L.d_off)};
}

// x (M x x_stride) -> M rows of XLayout at out.
void quantize_rows(const float* x, int64_t x_stride, int64_t M, const XLayout& L, uint8_t* out) {
    for (int64_t m = 0; m < M; ++m) {
        const float* xr = x + m * x_stride;
        uint8_t* row = out + m * L.stride;
        auto* q = reinterpret_cast<int8_t*>(row);
        auto* d = reinterpret_cast<float*>(row + L.d_off);
        for (int64_t b = 0; b < L.nb; ++b) {
            float32x4_t v[8];
            for (int j = 0; j < 8; ++j) v[j] = vld1q_f32(xr + b * 32 + 4 * j);
            float32x4_t mx = vabsq_f32(v[0]);
            for (int j = 1; j < 8; ++j) mx = vmaxq_f32(mx, vabsq_f32(v[j]));
            const float db = vmaxvq_f32(mx) / 127.0f;
            const float id = db > 0.0f ? 1.0f / db : 0.0f;
            int16x8_t h[4];  // |x * id| <= 127 (+ rounding): the saturating narrows never clip
            for (int j = 0; j < 4; ++j)
                h[j] = vcombine_s16(vqmovn_s32(vcvtnq_s32_f32(vmulq_n_f32(v[2 * j], id))),
                                    vqmovn_s32(vcvtnq_s32_f32(vmulq_n_f32(v[2 * j + 1], id))));
            vst1q_s8(q + b * 32, vcombine_s8(vqmovn_s16(h[0]), vqmovn_s16(h[1])));
            vst1q_s8(q + b * 32 + 16, vcombine_s8(vqmovn_s16(h[2]), vqmovn_s16(h[3])));
            d[b] = db;
        }
    }
}

// The buffer of MatmulParams::xq: M rows of XLayout (no padding here).
inline size_t x_buffer_bytes(int64_t M, int64_t K) { return size_t(M * XLayout(K).stride); }
inline void quantize_range(const float* x, int64_t x_stride, int64_t /*M*/, int64_t K, int64_t m_begin, int64_t m_end,
                           void* out) {
    const XLayout L(K);
    quantize_rows(x + m_begin * x_stride, x_stride, m_end - m_begin, L, static_cast<uint8_t*>(out) + m_begin * L.stride);
}

// RB groups of 4 weight rows x TT tokens, all blocks of K. `rows` (1 .. 4 RB) rows are
// real; lanes past them read the group's last real row again and are not stored.
// w: row n of the block at w + n * row_bytes; y: (TT x ys), column 0 = first row.
template <class Dot, int RB, int TT>
void q8_micro(const uint8_t* w, size_t row_bytes, int64_t rows, const XRow* xr, int64_t nb, float* y, int64_t ys) {
    const uint8_t* rp[RB][4];
    for (int g = 0; g < RB; ++g)
        for (int i = 0; i < 4; ++i) rp[g][i] = w + size_t(imin(g * 4 + i, rows - 1)) * row_bytes;
    float32x4_t acc[RB][TT];
    for (int g = 0; g < RB; ++g)
        for (int t = 0; t < TT; ++t) acc[g][t] = vdupq_n_f32(0.0f);
    // The GEMV's prefetch runs kAhead bytes ahead in each row; in a row's last kAhead
    // bytes it goes as far into the row 4 RB further on, the next call's, which then
    // starts warm (see FloatKern::gemv_prefetch in matmul.cpp; PRFM never faults).
    constexpr int64_t kAhead = 512;
    const size_t skip = size_t(4 * RB - 1) * row_bytes;
    for (int64_t b = 0; b < nb; ++b) {
        const int64_t off = b * kQ8BlockBytes;
        const int64_t at = off + kAhead;
        const size_t pf = size_t(at) + (at >= int64_t(row_bytes) ? skip : 0);
        int8x16_t q0[TT], q1[TT];
        for (int t = 0; t < TT; ++t) {
            q0[t] = vld1q_s8(xr[t].q + b * 32);
            q1[t] = vld1q_s8(xr[t].q + b * 32 + 16);
        }
        for (int g = 0; g < RB; ++g) {
            int8x16_t w0[4], w1[4];
            uint16_t h[4];
            for (int i = 0; i < 4; ++i) {
                const uint8_t* blk = rp[g][i] + off;
                if constexpr (TT == 1) prefetch(rp[g][i] + pf);
                std::memcpy(&h[i], blk, 2);
                w0[i] = vld1q_s8(reinterpret_cast<const int8_t*>(blk + 2));
                w1[i] = vld1q_s8(reinterpret_cast<const int8_t*>(blk + 18));
            }
            const float32x4_t ws = f16x4_to_f32(vld1_u16(h));  // d_w of the 4 rows
            for (int t = 0; t < TT; ++t) {
                int32x4_t s[4];
                for (int i = 0; i < 4; ++i) s[i] = Dot::dot32(w0[i], w1[i], q0[t], q1[t]);
                const int32x4_t I = vpaddq_s32(vpaddq_s32(s[0], s[1]), vpaddq_s32(s[2], s[3]));
                acc[g][t] = vfmaq_f32(acc[g][t], vcvtq_f32_s32(I), vmulq_n_f32(ws, xr[t].d[b]));
            }
        }
    }
    for (int g = 0; g < RB; ++g) {
        const int64_t n = imin(4, rows - g * 4);
        for (int t = 0; t < TT; ++t) store_f32_n(y + t * ys + g * 4, n, acc[g][t]);
    }
}

template <class Dot>
using Q8MicroFn = void (*)(const uint8_t*, size_t, int64_t, const XRow*, int64_t, float*, int64_t);

template <class Dot, int RB, int... TT>
Q8MicroFn<Dot> q8_pick_t(int t, std::integer_sequence<int, TT...>) {
    Q8MicroFn<Dot> fn = nullptr;
    ((t == TT + 1 ? (fn = &q8_micro<Dot, RB, TT + 1>, 0) : 0), ...);
    return fn;
}
template <class Dot, int kT, int... RB>
Q8MicroFn<Dot> q8_pick(int rb, int t, std::integer_sequence<int, RB...>) {
    Q8MicroFn<Dot> fn = nullptr;
    ((rb == RB + 1 ? (fn = q8_pick_t<Dot, RB + 1>(t, std::make_integer_sequence<int, kT>{}), 0) : 0), ...);
    return fn;
}

// GEMV (M = 1): 16 rows per step (4 groups), each row streamed once from the mmap.
// GEMM: blocks of 64 rows (64 x K bytes stay in L2 while the tokens pass), 8 rows x 4
// tokens per micro call (8 accumulators, 8 weight and 8 activation vectors).
template <class Dot>
void matmul_q8(const MatmulParams& p) {
    const XLayout L(p.K);
    // The engine's shared quantization, or each call's own of all M rows (a row's
    // quantization depends on nothing but the row: the same bits either way).
    const auto* xq = static_cast<const uint8_t*>(p.xq);
    if (!xq) {
        auto* own = static_cast<uint8_t*>(thread_scratch(0, size_t(p.M * L.stride)));
        quantize_rows(p.x, p.x_stride, p.M, L, own);
        xq = own;
    }
    const auto* w = static_cast<const uint8_t*>(p.w);
    if (p.M == 1) {
        constexpr int kRB = 4;
        const XRow xr = x_row(xq, L, 0);
        for (int64_t n = p.n_begin; n < p.n_end; n += 4 * kRB) {
            const int64_t rows = imin(4 * kRB, p.n_end - n);
            q8_pick<Dot, 1>(int((rows + 3) / 4), 1, std::make_integer_sequence<int, kRB>{})(
                w + size_t(n) * p.w_row_bytes, p.w_row_bytes, rows, &xr, L.nb, p.y + n, p.y_stride);
        }
        return;
    }
    constexpr int kRB = 2, kT = 4;
    constexpr int64_t kRowBlock = 64;
    for (int64_t n0 = p.n_begin; n0 < p.n_end; n0 += kRowBlock) {
        const int64_t n1 = imin(p.n_end, n0 + kRowBlock);
        for (int64_t m0 = 0; m0 < p.M; m0 += kT) {
            const int tt = int(imin(kT, p.M - m0));
            XRow xr[kT];
            for (int t = 0; t < tt; ++t) xr[t] = x_row(xq, L, m0 + t);
            for (int64_t n = n0; n < n1; n += 4 * kRB) {
                const int64_t rows = imin(4 * kRB, n1 - n);
                q8_pick<Dot, kT>(int((rows + 3) / 4), tt, std::make_integer_sequence<int, kRB>{})(
                    w + size_t(n) * p.w_row_bytes, p.w_row_bytes, rows, xr, L.nb, p.y + m0 * p.y_stride + n,
                    p.y_stride);
            }
        }
    }
}

}  // namespace
}  // namespace kaa::kernels::neon
