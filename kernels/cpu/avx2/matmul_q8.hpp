// matmul_q8.hpp — AVX2 Q8_0 matmul with int8 activations, included by matmul_q8.cpp
// (vpsignb + vpmaddubsw + vpmaddwd) and matmul_q8_vnni.cpp (AVX-VNNI vpdpbusd), each
// compiled with its own flags.
//
// Same numeric recipe as avx512/matmul_q8.hpp (so avx2 and avx512 give the same bits):
//   x row quantized per 32-block b:  d_x = max|x| / 127,  q = round_even(x * (1 / d_x))
//   I_b = sum_{i<32} w_q[i] * q[i]                    exact int32, any order
//   acc = fma(float(I_b), d_w[b] * d_x[b], acc)        for b = 0, 1, ... ; y = acc
// with one f32 lane per output row, 8 rows per vector here:
//  - GEMV: 8 rows as stored; one 32-byte vector per (row, block) gives 8 partial sums,
//    an integer transpose-reduce leaves the 8 rows' block sums in lanes;
//  - GEMM (AVX-VNNI): rows x K repacked so one vector holds the same 4 weight bytes of 8
//    rows; vpdpbusd against a broadcast of 4 activation bytes, 8 per block, then one
//    cvt + mul + fma per block.
// VNNI feeds w xor 0x80 (= w + 128) as the unsigned side and starts the sum at
// nc = -128 * sum(q); the plain path computes |w| * (q with w's sign) by vpmaddubsw
// (|q| <= 127: no saturation) and vpmaddwd.
#pragma once

#include <cstring>

#include "kernels/cpu/avx2/vec256.hpp"
#include "kernels/cpu/scratch.hpp"
#include "kernels/kernels.hpp"

namespace kaa::kernels::avx2 {
namespace {

constexpr int64_t kQ8BlockBytes = 34;

// One row of x: q (K bytes, zero-padded to a multiple of 64), d (nb floats), nc (nb int32
// = -128 * sum of the block's q), each part 64-byte aligned (as in avx512).
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

void quantize_rows(const float* x, int64_t x_stride, int64_t M, const XLayout& L, uint8_t* out) {
    const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (int64_t m = 0; m < M; ++m) {
        const float* xr = x + m * x_stride;
        uint8_t* row = out + m * L.stride;
        auto* q = reinterpret_cast<int8_t*>(row);
        auto* d = reinterpret_cast<float*>(row + L.d_off);
        auto* nc = reinterpret_cast<int32_t*>(row + L.nc_off);
        for (int64_t b = 0; b < L.nb; ++b) {
            __m256 v[4];
            for (int j = 0; j < 4; ++j) v[j] = _mm256_loadu_ps(xr + b * 32 + 8 * j);
            const __m256 mx = _mm256_max_ps(_mm256_max_ps(_mm256_and_ps(v[0], abs_mask), _mm256_and_ps(v[1], abs_mask)),
                                            _mm256_max_ps(_mm256_and_ps(v[2], abs_mask), _mm256_and_ps(v[3], abs_mask)));
            __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
            m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
            m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
            const float db = _mm_cvtss_f32(m4) / 127.0f;
            const __m256 id = _mm256_set1_ps(db > 0.0f ? 1.0f / db : 0.0f);
            __m256i qi[4];  // round to nearest even (MXCSR default)
            for (int j = 0; j < 4; ++j) qi[j] = _mm256_cvtps_epi32(_mm256_mul_ps(v[j], id));
            const __m256i sum = _mm256_add_epi32(_mm256_add_epi32(qi[0], qi[1]), _mm256_add_epi32(qi[2], qi[3]));
            // saturating packs interleave 128-bit lanes; the permute restores element order
            const __m256i q8 = _mm256_permutevar8x32_epi32(
                _mm256_packs_epi16(_mm256_packs_epi32(qi[0], qi[1]), _mm256_packs_epi32(qi[2], qi[3])), order);
            _mm256_store_si256(reinterpret_cast<__m256i*>(q + b * 32), q8);
            __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(sum), _mm256_extracti128_si256(sum, 1));
            s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4e));
            s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xb1));
            d[b] = db;
            nc[b] = -128 * _mm_cvtsi128_si32(s4);
        }
        std::memset(q + L.nb * 32, 0, size_t(L.q_bytes - L.nb * 32));
    }
}

// D[r] holds 8 partial sums of row r's block; returns [sum of D[r]] for r = 0..7. Exact.
inline __m256i reduce_rows(const __m256i (&D)[8]) {
    __m256i s[4], v[2];
    for (int i = 0; i < 4; ++i)  // per 128-bit lane: [a0+a2, b0+b2, a1+a3, b1+b3]
        s[i] = _mm256_add_epi32(_mm256_unpacklo_epi32(D[2 * i], D[2 * i + 1]),
                                _mm256_unpackhi_epi32(D[2 * i], D[2 * i + 1]));
    for (int i = 0; i < 2; ++i)  // per 128-bit lane: rows 4i..4i+3, half the partials each
        v[i] = _mm256_add_epi32(_mm256_unpacklo_epi64(s[2 * i], s[2 * i + 1]),
                                _mm256_unpackhi_epi64(s[2 * i], s[2 * i + 1]));
    return _mm256_add_epi32(_mm256_permute2x128_si256(v[0], v[1], 0x20), _mm256_permute2x128_si256(v[0], v[1], 0x31));
}

// f16 scales of block b of 8 rows (rows >= R give 0), as f32 lanes.
inline __m256 row_scales(const uint8_t* w, size_t row_bytes, int64_t b, __m256i rows) {
    const __m256i off = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(int(row_bytes)));
    __m256i h = _mm256_mask_i32gather_epi32(_mm256_setzero_si256(), reinterpret_cast<const int*>(w + b * kQ8BlockBytes),
                                            off, rows, 1);
    h = _mm256_and_si256(h, _mm256_set1_epi32(0xffff));
    const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(h, _mm256_setzero_si256()), 0x08);
    return _mm256_cvtph_ps(_mm256_castsi256_si128(packed));
}

template <class Dot>
void gemv_rows(const uint8_t* w, size_t row_bytes, int64_t R, const XRow& x, int64_t nb, float* y) {
    const __m256i rows = lanes8(R);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
        const __m256i xq = _mm256_load_si256(reinterpret_cast<const __m256i*>(x.q + b * 32));
        __m256i D[8];
        for (int r = 0; r < 8; ++r) {
            if (r >= R) {
                D[r] = _mm256_setzero_si256();
                continue;
            }
            const uint8_t* blk = w + size_t(r) * row_bytes + b * kQ8BlockBytes;
            _mm_prefetch(reinterpret_cast<const char*>(blk + 640), _MM_HINT_T0);
            D[r] = Dot::dot_h(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 2)), xq);
        }
        const __m256i I = Dot::correct(reduce_rows(D), x.nc[b]);
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(I), _mm256_mul_ps(row_scales(w, row_bytes, b, rows), _mm256_set1_ps(x.d[b])),
                              acc);
    }
    _mm256_maskstore_ps(y, rows, acc);
}

// Rows [n_begin, n_end) for token rows [0, M), 8 rows per step, one token at a time.
template <class Dot>
void gemm_by_rows(const MatmulParams& p, const uint8_t* xq, const XLayout& L) {
    const auto* w = static_cast<const uint8_t*>(p.w);
    constexpr int64_t kRowBlock = 64;  // 64 rows of weights stay in L2 while the tokens pass
    for (int64_t n0 = p.n_begin; n0 < p.n_end; n0 += kRowBlock) {
        const int64_t n1 = imin(p.n_end, n0 + kRowBlock);
        for (int64_t m = 0; m < p.M; ++m)
            for (int64_t n = n0; n < n1; n += 8)
                gemv_rows<Dot>(w + size_t(n) * p.w_row_bytes, p.w_row_bytes, imin(8, n1 - n), x_row(xq, L, m), L.nb,
                               p.y + m * p.y_stride + n);
    }
}

template <class Dot>
void matmul_q8(const MatmulParams& p) {
    const XLayout L(p.K);
    // Each call quantizes all M rows itself: cheap next to its M x K x rows products,
    // and a row's quantization depends on nothing but the row.
    auto* xq = static_cast<uint8_t*>(thread_scratch(0, size_t(p.M * L.stride)));
    quantize_rows(p.x, p.x_stride, p.M, L, xq);
    if (p.M == 1 || !Dot::kPacked)
        gemm_by_rows<Dot>(p, xq, L);
    else
        Dot::gemm_packed(p, xq, L);
}

}  // namespace
}  // namespace kaa::kernels::avx2
