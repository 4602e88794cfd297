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

// ---- GEMM without VNNI (AVX2): weights widened to int16, vpmaddwd -------------------------
// The GEMV's vpmaddubsw needs |w| and q with w's sign: in a GEMM, a vpsignb for every
// (weight vector, token). Widened to int16 once per pack instead, one vpmaddwd adds 2
// products to each of 8 rows' int32 lanes (|w q| <= 128 * 127: exact), so a block's int32
// sums, and with them the recipe's bits, are those of every other path.
struct alignas(32) PackedBlockI16 {
    int16_t wq[16][16];  // vector j: lane r holds quants 2j and 2j + 1 of row r
    float ws[8];         // row scales
};
constexpr int64_t kI16NB = 64, kI16KCB = 64;  // a pack: 8 groups x 64 blocks x 544 B = 272 KiB (L2)
constexpr int kI16RB = 2, kI16T = 3;          // 2 x 8 rows x 3 tokens: 6 int32 + 6 f32 accumulators

// Rows [n0, n0 + R) x blocks [b0, b1) -> out[group][block - b0]. Rows past R are zero.
inline void pack_i16(const uint8_t* w, size_t row_bytes, int64_t n0, int64_t R, int64_t b0, int64_t b1,
                     PackedBlockI16* out) {
    const int64_t nbc = b1 - b0, groups = (R + 7) / 8;
    for (int64_t g = 0; g < groups; ++g) {
        const int64_t rows = imin(8, R - g * 8);
        const uint8_t* base = w + size_t(n0 + g * 8) * row_bytes;
        for (int64_t b = b0; b < b1; ++b) {
            PackedBlockI16& pb = out[g * nbc + (b - b0)];
            __m256i lo[8], hi[8];  // row r's quants 0-15 / 16-31 as int16: pairs j in dword j
            alignas(16) uint16_t h[8] = {};
            for (int r = 0; r < 8; ++r) {
                lo[r] = hi[r] = _mm256_setzero_si256();
                if (r >= rows) continue;
                const uint8_t* blk = base + size_t(r) * row_bytes + b * kQ8BlockBytes;
                lo[r] = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 2)));
                hi[r] = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 18)));
                std::memcpy(&h[r], blk, 2);
            }
            transpose8x8(lo);  // now lo[j] lane r = pair j of row r
            transpose8x8(hi);
            for (int j = 0; j < 8; ++j) {
                _mm256_store_si256(reinterpret_cast<__m256i*>(pb.wq[j]), lo[j]);
                _mm256_store_si256(reinterpret_cast<__m256i*>(pb.wq[8 + j]), hi[j]);
            }
            _mm256_store_ps(pb.ws, _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(h))));
        }
    }
}

// RB groups of 8 rows x T tokens over blocks [b0, b1) of a pack (pk: group 0's block b0,
// nbc blocks a group). xs[t]: token t's quants of blocks [b0, b1) as int16.
template <int RB, int T>
void micro_i16(const PackedBlockI16* pk, int64_t nbc, const int16_t* const* xs, const XRow* xr, int64_t b0,
               int64_t b1, float* y, int64_t ys, const __m256i* rows, bool first) {
    __m256 facc[RB][T];
    for (int g = 0; g < RB; ++g)
        for (int t = 0; t < T; ++t)
            facc[g][t] = first ? _mm256_setzero_ps() : _mm256_maskload_ps(y + t * ys + 8 * g, rows[g]);
    for (int64_t b = b0; b < b1; ++b) {
        __m256i iacc[RB][T];
        for (int g = 0; g < RB; ++g)
            for (int t = 0; t < T; ++t) iacc[g][t] = _mm256_setzero_si256();
        for (int j = 0; j < 16; ++j) {
            __m256i wv[RB];
            for (int g = 0; g < RB; ++g)
                wv[g] = _mm256_load_si256(reinterpret_cast<const __m256i*>(pk[g * nbc + (b - b0)].wq[j]));
            for (int t = 0; t < T; ++t) {
                int32_t pair;
                std::memcpy(&pair, xs[t] + (b - b0) * 32 + 2 * j, 4);
                const __m256i xv = _mm256_set1_epi32(pair);
                for (int g = 0; g < RB; ++g) iacc[g][t] = _mm256_add_epi32(iacc[g][t], _mm256_madd_epi16(wv[g], xv));
            }
        }
        for (int g = 0; g < RB; ++g) {
            const __m256 ws = _mm256_load_ps(pk[g * nbc + (b - b0)].ws);
            for (int t = 0; t < T; ++t) {
                const __m256 scale = _mm256_mul_ps(ws, _mm256_set1_ps(xr[t].d[b]));
                facc[g][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(iacc[g][t]), scale, facc[g][t]);
            }
        }
    }
    for (int g = 0; g < RB; ++g)
        for (int t = 0; t < T; ++t) _mm256_maskstore_ps(y + t * ys + 8 * g, rows[g], facc[g][t]);
}

template <int RB, int... TT>
auto pick_i16_t(int t, std::integer_sequence<int, TT...>) {
    decltype(&micro_i16<RB, 1>) fn = nullptr;
    ((t == TT + 1 ? (fn = &micro_i16<RB, TT + 1>, 0) : 0), ...);
    return fn;
}

// Rows [n_begin, n_end) x all M tokens: packs of kI16NB rows x kI16KCB blocks, every
// token block passing over each.
inline void gemm_i16(const MatmulParams& p, const uint8_t* xq, const XLayout& L) {
    static_assert(sizeof(PackedBlockI16) == 544, "PackedBlockI16 layout");
    const auto* w = static_cast<const uint8_t*>(p.w);
    auto* packed =
        static_cast<PackedBlockI16*>(thread_scratch(2, size_t(kI16NB / 8 * kI16KCB) * sizeof(PackedBlockI16)));
    auto* xbuf = static_cast<int16_t*>(thread_scratch(3, size_t(kI16T * kI16KCB * 32) * sizeof(int16_t)));
    for (int64_t n0 = p.n_begin; n0 < p.n_end; n0 += kI16NB) {
        const int64_t R = imin(kI16NB, p.n_end - n0), groups = (R + 7) / 8;
        for (int64_t kb0 = 0; kb0 < L.nb; kb0 += kI16KCB) {
            const int64_t kb1 = imin(L.nb, kb0 + kI16KCB), nbc = kb1 - kb0;
            pack_i16(w, p.w_row_bytes, n0, R, kb0, kb1, packed);
            for (int64_t m0 = 0; m0 < p.M; m0 += kI16T) {
                const int tt = int(imin(kI16T, p.M - m0));
                XRow xr[kI16T];
                const int16_t* xs[kI16T];
                for (int t = 0; t < tt; ++t) {
                    xr[t] = x_row(xq, L, m0 + t);
                    int16_t* dst = xbuf + t * kI16KCB * 32;
                    for (int64_t i = 0; i < nbc * 32; i += 16)
                        _mm256_store_si256(reinterpret_cast<__m256i*>(dst + i),
                                           _mm256_cvtepi8_epi16(_mm_loadu_si128(
                                               reinterpret_cast<const __m128i*>(xr[t].q + kb0 * 32 + i))));
                    xs[t] = dst;
                }
                for (int64_t g = 0; g < groups; g += kI16RB) {
                    const int rb = int(imin(kI16RB, groups - g));
                    __m256i rows[kI16RB];
                    for (int i = 0; i < rb; ++i) {
                        const int64_t n = R - (g + i) * 8;
                        rows[i] = _mm256_cmpgt_epi32(_mm256_set1_epi32(int(n >= 8 ? 8 : n)),
                                                     _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
                    }
                    float* yb = p.y + m0 * p.y_stride + n0 + g * 8;
                    const auto ts = std::make_integer_sequence<int, kI16T>{};
                    const auto micro = rb == 2 ? pick_i16_t<2>(tt, ts) : pick_i16_t<1>(tt, ts);
                    micro(packed + g * nbc, nbc, xs, xr, kb0, kb1, yb, p.y_stride, rows, kb0 == 0);
                }
            }
        }
    }
}

// Without VNNI: the GEMV's vpmaddubsw; from 4 tokens on AVX2 the int16 GEMM above, else
// the GEMV kernel once per token over L2-resident blocks of rows. AVX2 without VNNI
// (kaa_bench_kernels .../avx2-novnni), 2 threads, GB/s of weights (M <= 8) or GOP/s,
// rows per token -> int16 GEMM (session 10): M = 2 15.4-18.6 -> 10.9-12.1, M = 4
// 8.6-10.9 -> 9.7-10.7, M = 8 5.6-6.1 -> 6.7-7.5, M = 256 78 -> 192-201 GOP/s (1 thread:
// 52 -> 103-106).
template <class V>
struct DotMaddubs {
    using I = typename V::I;
    static constexpr bool kPacked = V::kW == 8;
    static constexpr int64_t kPackedMinM = 4;
    static constexpr bool kX16 = false;  // the backend's q8_0_x16 is off: weights stay as stored
    static I dot_h(I w, I q) { return V::dot_maddubs(w, q); }
    static I correct(I s, int32_t /*nc*/) { return s; }
    static void gemm_packed(const MatmulParams& p, const uint8_t* xq, const XLayout& L) {
        if constexpr (V::kW == 8) gemm_i16(p, xq, L);
    }
};

}  // namespace
}  // namespace kaa::kernels::x86
