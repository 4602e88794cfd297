// matmul_q8.inl — x86 Q8_0 matmul with int8 activations, generic over the vector traits V
// (W = V::kW rows per vector) and the int8 dot product Dot: included by <isa>/matmul_q8.cpp
// (DotMaddubs: vpmaddubsw + vpmaddwd) and, through matmul_q8_vnni.inl, by
// <isa>/matmul_q8_vnni.cpp (vpdpbusd), each compiled with its own flags.
//
// Numeric recipe of one output (shared by every path here, by both variants and by both
// ISAs, so they all give the same bits):
//   x row quantized per 32-block b:  d_x = max|x| / 127,  q = round_even(x * (1 / d_x))
//   I_b  = sum_{i<32} w_q[i] * q[i]                      exact int32, any order
//   acc  = fma(float(I_b), d_w[b] * d_x[b], acc)          for b = 0, 1, ... in order
//   y    = acc                                            (acc starts at 0)
// One f32 lane per output row; only the per-block int32 sums are computed differently:
//  - GEMV (M = 1, and GEMM without VNNI): W weight rows side by side as stored (mmap), one
//    vector per row holding W / 8 blocks' quants (V::load_q8_quants); the 8 partial sums
//    of each (row, block) are added up by an integer transpose-reduce that leaves rows in
//    lanes (V::reduce_rows).
//  - GEMM with VNNI, and every M on weights re-laid at load (WeightLayout::q8_0_x16,
//    rows already in lanes): see matmul_q8_vnni.inl.
// vpdpbusd takes unsigned x signed bytes: the weights go in as w xor 0x80 (= w + 128) and
// the accumulator starts at nc = -128 * sum(q) of the block, which removes the excess
// exactly. Without VNNI, |w| * (q with w's sign) goes through vpmaddubsw (|q| <= 127, so
// no saturation) and vpmaddwd (V::dot_maddubs).
#pragma once

#include <cstring>

#include "kernels/cpu/scratch.hpp"
#include "kernels/cpu/x86/common.hpp"
#include "kernels/kernels.hpp"

namespace kaa::kernels::x86 {
namespace {

// ---- quantized activations --------------------------------------------------------------------
// One row of x: q (K bytes, zero-padded to a multiple of 64), then d (nb floats), then
// nc (nb int32 = -128 * sum of the block's q), each part 64-byte aligned.
struct XLayout {
    int64_t nb, q_bytes, d_off, nc_off, stride;
    explicit XLayout(int64_t K)
        : nb(K / 32),
          q_bytes((K + 63) / 64 * 64),
          d_off(q_bytes),
          nc_off(q_bytes + (nb * 4 + 63) / 64 * 64),
          stride(nc_off + (nb * 4 + 63) / 64 * 64) {}
};

struct XRow {
    const int8_t* q;
    const float* d;
    const int32_t* nc;
};

inline XRow x_row(const uint8_t* base, const XLayout& L, int64_t m) {
    const uint8_t* r = base + m * L.stride;
    return XRow{reinterpret_cast<const int8_t*>(r), reinterpret_cast<const float*>(r + L.d_off),
                reinterpret_cast<const int32_t*>(r + L.nc_off)};
}

template <class V>
void quantize_rows(const float* x, int64_t x_stride, int64_t M, const XLayout& L, uint8_t* out) {
    for (int64_t m = 0; m < M; ++m) {
        const float* xr = x + m * x_stride;
        uint8_t* row = out + m * L.stride;
        auto* q = reinterpret_cast<int8_t*>(row);
        auto* d = reinterpret_cast<float*>(row + L.d_off);
        auto* nc = reinterpret_cast<int32_t*>(row + L.nc_off);
        for (int64_t b = 0; b < L.nb; ++b) V::quantize_block(xr + b * 32, q + b * 32, d[b], nc[b]);
        std::memset(q + L.nb * 32, 0, size_t(L.q_bytes - L.nb * 32));
    }
}

// The buffer of MatmulParams::xq: M rows of XLayout, then zero rows up to a multiple of
// kXRowPad (AMX tiles read 16 token rows at a time; matmul_q8_amx.cpp).
constexpr int64_t kXRowPad = 16;
inline size_t quant_x_bytes(int64_t M, int64_t K) {
    return size_t((M + kXRowPad - 1) / kXRowPad * kXRowPad * XLayout(K).stride);
}
// Rows [m_begin, m_end) of x into that buffer; the range that ends at M zeroes the pad.
template <class V>
void quantize_x(const float* x, int64_t x_stride, int64_t M, int64_t K, int64_t m_begin, int64_t m_end, void* out) {
    const XLayout L(K);
    auto* o = static_cast<uint8_t*>(out);
    quantize_rows<V>(x + m_begin * x_stride, x_stride, m_end - m_begin, L, o + m_begin * L.stride);
    if (m_end == M) std::memset(o + M * L.stride, 0, quant_x_bytes(M, K) - size_t(M * L.stride));
}

// ---- GEMV: W rows as stored, rows end up in lanes ---------------------------------------------
// Rows [0, R) (R <= W) of w against one x row; y[r] = the row's dot product.
template <class V, class Dot>
void gemv_rows(const uint8_t* w, size_t row_bytes, int64_t R, const XRow& x, int64_t nb, float* y) {
    using I = typename V::I;
    constexpr int W = V::kW, kBlocks = W / 8;  // Q8_0 blocks per vector of one row
    const typename V::Tail rows = V::tail(R);
    typename V::F acc = V::zero();
    constexpr int64_t kAhead = 640;  // prefetch distance, bytes of each row
    const size_t skip = size_t(W - 1) * row_bytes;
    for (int64_t b = 0; b < nb; b += kBlocks) {
        // kAhead bytes ahead in each row, or near its end as far into the row W further
        // on, the next call's (see FloatKern::gemv_prefetch). ssm_in, 2 threads, in one
        // process, medians of 7-11, GB/s: 22.9 -> 24.5 (4 KiB pages), 24.1 -> 25.9 (huge
        // pages), AVX2 25.0 -> 26.1 (session 8).
        const int64_t at = b * kQ8BlockBytes + kAhead;
        const size_t pf = size_t(at) + (at >= int64_t(row_bytes) ? skip : 0);
        const I xq = V::load_i(x.q + b * 32);  // zero-padded past the last block
        I D[W];
        for (int r = 0; r < W; ++r) {
            if (r >= R) {
                D[r] = V::zero_i();
                continue;
            }
            const uint8_t* row = w + size_t(r) * row_bytes;
            _mm_prefetch(reinterpret_cast<const char*>(row + pf), _MM_HINT_T0);
            const uint8_t* blk = row + b * kQ8BlockBytes;
            D[r] = Dot::dot_h(V::load_q8_quants(blk, nb - b), xq);
        }
        I sums[kBlocks];
        V::reduce_rows(D, sums);
        for (int i = 0; i < kBlocks && i < nb - b; ++i) {
            const I Ib = Dot::correct(sums[i], x.nc[b + i]);
            acc = V::fmadd(V::cvt_i32(Ib), V::mul(V::q8_row_scales(w, row_bytes, b + i, rows), V::set1(x.d[b + i])),
                           acc);
        }
    }
    V::store(y, rows, acc);
}

// Rows [n_begin, n_end) for token rows [0, M), W rows per step, one token at a time.
template <class V, class Dot>
void gemm_by_rows(const MatmulParams& p, const uint8_t* xq, const XLayout& L) {
    constexpr int W = V::kW;
    const auto* w = static_cast<const uint8_t*>(p.w);
    constexpr int64_t kRowBlock = 64;  // 64 rows of weights stay in L2 while the tokens pass
    for (int64_t n0 = p.n_begin; n0 < p.n_end; n0 += kRowBlock) {
        const int64_t n1 = imin(p.n_end, n0 + kRowBlock);
        for (int64_t m = 0; m < p.M; ++m)
            for (int64_t n = n0; n < n1; n += W)
                gemv_rows<V, Dot>(w + size_t(n) * p.w_row_bytes, p.w_row_bytes, imin(W, n1 - n), x_row(xq, L, m), L.nb,
                                  p.y + m * p.y_stride + n);
    }
}

// Dot provides: dot_h(w, q) (per-lane int32 partial sums of the products of one vector of
// weight and activation bytes), correct(I, nc) (the VNNI excess removed, or nothing), and
// kPacked / gemm_packed (a GEMM of its own for M > 1, or the GEMV rows per token).
template <class V, class Dot>
void matmul_q8(const MatmulParams& p) {
    const XLayout L(p.K);
    // The engine's shared quantization, or each call's own of all M rows (a row's
    // quantization depends on nothing but the row: the same bits either way).
    const auto* xq = static_cast<const uint8_t*>(p.xq);
    if (!xq) {
        auto* own = static_cast<uint8_t*>(thread_scratch(0, size_t(p.M * L.stride)));
        quantize_rows<V>(p.x, p.x_stride, p.M, L, own);
        xq = own;
    }
    if constexpr (Dot::kPacked) {
        if (p.w_layout == WeightLayout::q8_0_x16) return Dot::gemm_x16(p, xq, L);
    }
    if (p.M == 1 || !Dot::kPacked)
        gemm_by_rows<V, Dot>(p, xq, L);
    else
        Dot::gemm_packed(p, xq, L);
}

// Without VNNI: GEMM runs the GEMV kernel once per token over L2-resident blocks of rows.
template <class V>
struct DotMaddubs {
    using I = typename V::I;
    static constexpr bool kPacked = false;
    static I dot_h(I w, I q) { return V::dot_maddubs(w, q); }
    static I correct(I s, int32_t /*nc*/) { return s; }
    static void gemm_packed(const MatmulParams&, const uint8_t*, const XLayout&) {}
};

}  // namespace
}  // namespace kaa::kernels::x86
