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
#include <utility>

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
// weight and activation bytes), correct(I, nc) (the VNNI excess removed, or nothing),
// kPacked / gemm_packed (a GEMM of its own from kPackedMinM tokens, or the GEMV rows per
// token) and
// kX16 / gemm_x16 (kernels for the Q8_0x16 layout).
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
    if constexpr (Dot::kX16) {
        if (p.w_layout == WeightLayout::q8_0_x16) return Dot::gemm_x16(p, xq, L);
    }
    if (p.M < Dot::kPackedMinM || !Dot::kPacked)
        gemm_by_rows<V, Dot>(p, xq, L);
    else
        Dot::gemm_packed(p, xq, L);
}

// ---- GEMM without VNNI: weights widened to int16, vpmaddwd -----------------------------------
// The GEMV's vpmaddubsw needs |w| and q with w's sign: in a GEMM, a vpsignb for every
// (weight vector, token). Widened to int16 once per pack instead, one vpmaddwd adds 2
// products to each of W rows' int32 lanes (|w q| <= 128 * 127: exact), so a block's
// int32 sums, and with them the recipe's bits, are those of every other path. The micro
// kernel has the VNNI one's shape (2 x W rows x V::kVnniT tokens), with 16 madd + add
// steps a block where VNNI takes 8 vpdpbusd.
template <class V>
struct alignas(4 * V::kW) PackedBlockI16 {
    int16_t wq[16][2 * V::kW];  // vector j: lane r holds quants 2j and 2j + 1 of row r
    float ws[V::kW];            // row scales
};
constexpr int64_t kI16NB = 64, kI16KCB = 64;  // a pack: 64 rows x 64 blocks x 34 x 2 B = 272 KiB (L2)
constexpr int kI16RB = 2;                     // W-row groups per micro kernel

// Rows [n0, n0 + R) x blocks [b0, b1) -> out[group][block - b0]. Rows past R are zero.
template <class V>
void pack_i16(const uint8_t* w, size_t row_bytes, int64_t n0, int64_t R, int64_t b0, int64_t b1,
              PackedBlockI16<V>* out) {
    using I = typename V::I;
    constexpr int W = V::kW, P = V::kPairVecs;
    const int64_t nbc = b1 - b0, groups = (R + W - 1) / W;
    for (int64_t g = 0; g < groups; ++g) {
        const int64_t rows = imin(W, R - g * W);
        const uint8_t* base = w + size_t(n0 + g * W) * row_bytes;
        for (int64_t b = b0; b < b1; ++b) {
            PackedBlockI16<V>& pb = out[g * nbc + (b - b0)];
            I v[P][W];  // v[p][r]: row r's pairs p W .. p W + W - 1
            alignas(64) uint16_t h[W] = {};
            for (int r = 0; r < W; ++r) {
                I pr[P];
                for (int p = 0; p < P; ++p) pr[p] = V::zero_i();
                if (r < rows) {
                    const uint8_t* blk = base + size_t(r) * row_bytes + b * kQ8BlockBytes;
                    V::widen_q8_pairs(blk + 2, pr);
                    std::memcpy(&h[r], blk, 2);
                }
                for (int p = 0; p < P; ++p) v[p][r] = pr[p];
            }
            for (int p = 0; p < P; ++p) {
                V::transpose_i(v[p]);  // now v[p][j] lane r = pair p W + j of row r
                for (int j = 0; j < W; ++j) V::store_i(pb.wq[p * W + j], v[p][j]);
            }
            V::store(pb.ws, V::load_f16(h));
        }
    }
}

// RB groups of W rows x T tokens over blocks [b0, b1) of a pack (pk: group 0's block b0,
// nbc blocks a group). xs[t]: token t's quants of blocks [b0, b1) as int16.
template <class V, int RB, int T>
void micro_i16(const PackedBlockI16<V>* pk, int64_t nbc, const int16_t* const* xs, const XRow* xr, int64_t b0,
               int64_t b1, float* y, int64_t ys, const typename V::Tail* rows, bool first) {
    using F = typename V::F;
    using I = typename V::I;
    constexpr int W = V::kW;
    F facc[RB][T];
    for (int g = 0; g < RB; ++g)
        for (int t = 0; t < T; ++t) facc[g][t] = first ? V::zero() : V::load(y + t * ys + W * g, rows[g]);
    for (int64_t b = b0; b < b1; ++b) {
        I iacc[RB][T];
        for (int g = 0; g < RB; ++g)
            for (int t = 0; t < T; ++t) iacc[g][t] = V::zero_i();
        for (int j = 0; j < 16; ++j) {
            I wv[RB];
            for (int g = 0; g < RB; ++g) wv[g] = V::load_i(pk[g * nbc + (b - b0)].wq[j]);
            for (int t = 0; t < T; ++t) {
                int32_t pair;
                std::memcpy(&pair, xs[t] + (b - b0) * 32 + 2 * j, 4);
                const I xv = V::set1_i32(pair);
                for (int g = 0; g < RB; ++g) iacc[g][t] = V::add_i32(iacc[g][t], V::madd_i16(wv[g], xv));
            }
        }
        for (int g = 0; g < RB; ++g) {
            const F ws = V::load(pk[g * nbc + (b - b0)].ws);
            for (int t = 0; t < T; ++t)
                facc[g][t] = V::fmadd(V::cvt_i32(iacc[g][t]), V::mul(ws, V::set1(xr[t].d[b])), facc[g][t]);
        }
    }
    for (int g = 0; g < RB; ++g)
        for (int t = 0; t < T; ++t) V::store(y + t * ys + W * g, rows[g], facc[g][t]);
}

template <class V, int RB, int... TT>
auto pick_i16_t(int t, std::integer_sequence<int, TT...>) {
    decltype(&micro_i16<V, RB, 1>) fn = nullptr;
    ((t == TT + 1 ? (fn = &micro_i16<V, RB, TT + 1>, 0) : 0), ...);
    return fn;
}

// Rows [n_begin, n_end) x all M tokens: packs of kI16NB rows x kI16KCB blocks, every
// token block passing over each.
template <class V>
void gemm_i16(const MatmulParams& p, const uint8_t* xq, const XLayout& L) {
    constexpr int W = V::kW, kT = V::kVnniT;
    static_assert(sizeof(PackedBlockI16<V>) == 68 * W, "PackedBlockI16 layout");
    const auto* w = static_cast<const uint8_t*>(p.w);
    auto* packed = static_cast<PackedBlockI16<V>*>(
        thread_scratch(2, size_t(kI16NB / W * kI16KCB) * sizeof(PackedBlockI16<V>)));
    auto* xbuf = static_cast<int16_t*>(thread_scratch(3, size_t(kT * kI16KCB * 32) * sizeof(int16_t)));
    for (int64_t n0 = p.n_begin; n0 < p.n_end; n0 += kI16NB) {
        const int64_t R = imin(kI16NB, p.n_end - n0), groups = (R + W - 1) / W;
        for (int64_t kb0 = 0; kb0 < L.nb; kb0 += kI16KCB) {
            const int64_t kb1 = imin(L.nb, kb0 + kI16KCB), nbc = kb1 - kb0;
            pack_i16<V>(w, p.w_row_bytes, n0, R, kb0, kb1, packed);
            for (int64_t m0 = 0; m0 < p.M; m0 += kT) {
                const int tt = int(imin(kT, p.M - m0));
                XRow xr[kT];
                const int16_t* xs[kT];
                for (int t = 0; t < tt; ++t) {
                    xr[t] = x_row(xq, L, m0 + t);
                    int16_t* dst = xbuf + t * kI16KCB * 32;
                    for (int64_t i = 0; i < nbc * 32; ++i) dst[i] = xr[t].q[kb0 * 32 + i];
                    xs[t] = dst;
                }
                for (int64_t g = 0; g < groups; g += kI16RB) {
                    const int rb = int(imin(kI16RB, groups - g));
                    typename V::Tail rows[kI16RB];
                    for (int i = 0; i < rb; ++i) rows[i] = V::tail(R - (g + i) * W);
                    float* yb = p.y + m0 * p.y_stride + n0 + g * W;
                    const auto ts = std::make_integer_sequence<int, kT>{};
                    const auto micro = rb == 2 ? pick_i16_t<V, 2>(tt, ts) : pick_i16_t<V, 1>(tt, ts);
                    micro(packed + g * nbc, nbc, xs, xr, kb0, kb1, yb, p.y_stride, rows, kb0 == 0);
                }
            }
        }
    }
}

// Without VNNI: the GEMV's vpmaddubsw; from 4 tokens the int16 GEMM above, fewer: the
// GEMV kernel once per token over L2-resident blocks of rows. AVX2 without VNNI
// (kaa_bench_kernels .../avx2-novnni), 2 threads, GB/s of weights (M <= 8) or GOP/s,
// rows per token -> int16 GEMM (session 10): M = 2 15.4-18.6 -> 10.9-12.1, M = 4
// 8.6-10.9 -> 9.7-10.7, M = 8 5.6-6.1 -> 6.7-7.5, M = 256 78 -> 192-201 GOP/s (1 thread:
// 52 -> 103-106).
template <class V>
struct DotMaddubs {
    using I = typename V::I;
    static constexpr bool kPacked = true;
    static constexpr int64_t kPackedMinM = 4;
    static constexpr bool kX16 = false;  // the backend's q8_0_x16 is off: weights stay as stored
    static I dot_h(I w, I q) { return V::dot_maddubs(w, q); }
    static I correct(I s, int32_t /*nc*/) { return s; }
    static void gemm_packed(const MatmulParams& p, const uint8_t* xq, const XLayout& L) { gemm_i16<V>(p, xq, L); }
};

}  // namespace
}  // namespace kaa::kernels::x86
