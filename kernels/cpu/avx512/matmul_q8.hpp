// matmul_q8.hpp — AVX-512 Q8_0 matmul with int8 activations, included by matmul_q8.cpp
// (AVX-512BW vpmaddubsw) and matmul_q8_vnni.cpp (AVX-512 VNNI vpdpbusd), each compiled
// with its own flags.
//
// Numeric recipe of one output (shared by every path here, by both variants and by the
// avx2 backend, so they all give the same bits):
//   x row quantized per 32-block b:  d_x = max|x| / 127,  q = round_even(x * (1 / d_x))
//   I_b  = sum_{i<32} w_q[i] * q[i]                      exact int32, any order
//   acc  = fma(float(I_b), d_w[b] * d_x[b], acc)          for b = 0, 1, ... in order
//   y    = acc                                            (acc starts at 0)
// One f32 lane per output row; only the per-block int32 sums are computed differently:
//  - GEMV (M = 1): 16 weight rows side by side as stored (mmap), one 64-byte vector per
//    row and block pair; the 8 partial sums of each (row, block) are added up by an
//    integer transpose-reduce that leaves rows in lanes.
//  - GEMM (VNNI): a block of rows and K is first repacked (per thread, in scratch) so one
//    vector holds the same 4 weight bytes of 16 rows; vpdpbusd against a broadcast of 4
//    activation bytes then accumulates 16 rows at once, 8 times per block, and the f32
//    work (cvt, scale, fma) is paid once per block instead of once per vector.
// vpdpbusd takes unsigned x signed bytes: the weights go in as w xor 0x80 (= w + 128) and
// the accumulator starts at nc = -128 * sum(q) of the block, which removes the excess
// exactly. Without VNNI, |w| * (q with w's sign) goes through vpmaddubsw (|q| <= 127, so
// no saturation) and vpmaddwd.
#pragma once

#include <cstring>

#include "kernels/cpu/avx512/vec512.hpp"
#include "kernels/cpu/scratch.hpp"
#include "kernels/kernels.hpp"

namespace kaa::kernels::avx512 {
namespace {

constexpr int64_t kQ8BlockBytes = 34;

// ---- quantized activations ------------------------------------------------------------------
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

void quantize_rows(const float* x, int64_t x_stride, int64_t M, const XLayout& L, uint8_t* out) {
    const __m512 abs_mask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
    for (int64_t m = 0; m < M; ++m) {
        const float* xr = x + m * x_stride;
        uint8_t* row = out + m * L.stride;
        auto* q = reinterpret_cast<int8_t*>(row);
        auto* d = reinterpret_cast<float*>(row + L.d_off);
        auto* nc = reinterpret_cast<int32_t*>(row + L.nc_off);
        for (int64_t b = 0; b < L.nb; ++b) {
            const __m512 v0 = _mm512_loadu_ps(xr + b * 32), v1 = _mm512_loadu_ps(xr + b * 32 + 16);
            const float amax =
                _mm512_reduce_max_ps(_mm512_max_ps(_mm512_and_ps(v0, abs_mask), _mm512_and_ps(v1, abs_mask)));
            const float db = amax / 127.0f;
            const __m512 id = _mm512_set1_ps(db > 0.0f ? 1.0f / db : 0.0f);
            // round to nearest even (MXCSR default); |x * id| <= 127 so int8 saturation is moot
            const __m128i q0 = _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(v0, id)));
            const __m128i q1 = _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(v1, id)));
            _mm_storeu_si128(reinterpret_cast<__m128i*>(q + b * 32), q0);
            _mm_storeu_si128(reinterpret_cast<__m128i*>(q + b * 32 + 16), q1);
            const __m512i s = _mm512_add_epi32(_mm512_cvtepi8_epi32(q0), _mm512_cvtepi8_epi32(q1));
            d[b] = db;
            nc[b] = -128 * _mm512_reduce_add_epi32(s);
        }
        std::memset(q + L.nb * 32, 0, size_t(L.q_bytes - L.nb * 32));
    }
}

// ---- GEMV: 16 rows as stored, rows end up in lanes ------------------------------------------
// Integer transpose-reduce: D[r] holds 16 partial sums of row r (lanes 0-7: block A, 8-15:
// block B). Returns lo[r] = sum of D[r] lanes 0-7, hi[r] = lanes 8-15. Exact.
inline void reduce_rows(__m512i (&D)[16], __m512i& lo, __m512i& hi) {
    __m512i s[8], v[4];
    for (int i = 0; i < 8; ++i)  // per 128-bit lane: [a0+a2, b0+b2, a1+a3, b1+b3]
        s[i] = _mm512_add_epi32(_mm512_unpacklo_epi32(D[2 * i], D[2 * i + 1]),
                                _mm512_unpackhi_epi32(D[2 * i], D[2 * i + 1]));
    for (int i = 0; i < 4; ++i)  // per 128-bit lane: one sum of 4 partials for each of 4 rows
        v[i] = _mm512_add_epi32(_mm512_unpacklo_epi64(s[2 * i], s[2 * i + 1]),
                                _mm512_unpackhi_epi64(s[2 * i], s[2 * i + 1]));
    // v[i] lanes: [A 0-3 | A 4-7 | B 0-3 | B 4-7] partial groups of rows 4i..4i+3
    const __m512i z01 = _mm512_add_epi32(_mm512_shuffle_i32x4(v[0], v[1], 0x88), _mm512_shuffle_i32x4(v[0], v[1], 0xdd));
    const __m512i z23 = _mm512_add_epi32(_mm512_shuffle_i32x4(v[2], v[3], 0x88), _mm512_shuffle_i32x4(v[2], v[3], 0xdd));
    lo = _mm512_shuffle_i32x4(z01, z23, 0x88);  // [A rows 0-3, 4-7, 8-11, 12-15]
    hi = _mm512_shuffle_i32x4(z01, z23, 0xdd);
}

// f16 scales of block b of 16 rows (rows >= R give 0), as f32 lanes.
inline __m512 row_scales(const uint8_t* w, size_t row_bytes, int64_t b, __mmask16 rows) {
    const __m512i off = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                           _mm512_set1_epi32(int(row_bytes)));
    const __m512i h = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), rows, off, w + b * kQ8BlockBytes, 1);
    return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(h));  // low 16 bits of each dword
}

template <class Dot>
void gemv_rows(const uint8_t* w, size_t row_bytes, int64_t R, const XRow& x, int64_t nb, float* y) {
    const __mmask16 rows = lanes16(R);
    __m512 acc = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b += 2) {
        const bool pair = b + 1 < nb;
        const __m512i xq = _mm512_load_si512(x.q + b * 32);  // zero-padded past the last block
        __m512i D[16];
        for (int r = 0; r < 16; ++r) {
            if (r >= R) {
                D[r] = _mm512_setzero_si512();
                continue;
            }
            const uint8_t* blk = w + size_t(r) * row_bytes + b * kQ8BlockBytes;
            _mm_prefetch(reinterpret_cast<const char*>(blk + 640), _MM_HINT_T0);
            const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 2));
            const __m512i wq = pair ? _mm512_inserti64x4(_mm512_castsi256_si512(lo),
                                                         _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 36)), 1)
                                    : _mm512_zextsi256_si512(lo);
            D[r] = Dot::dot_h(wq, xq);
        }
        __m512i I0, I1;
        reduce_rows(D, I0, I1);
        I0 = Dot::correct(I0, x.nc[b]);
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(I0),
                              _mm512_mul_ps(row_scales(w, row_bytes, b, rows), _mm512_set1_ps(x.d[b])), acc);
        if (pair) {
            I1 = Dot::correct(I1, x.nc[b + 1]);
            acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(I1),
                                  _mm512_mul_ps(row_scales(w, row_bytes, b + 1, rows), _mm512_set1_ps(x.d[b + 1])), acc);
        }
    }
    _mm512_mask_storeu_ps(y, rows, acc);
}

// Rows [nb, ne) for token rows [0, M), 16 rows per step, one token at a time.
template <class Dot>
void gemm_by_rows(const MatmulParams& p, const uint8_t* xq, const XLayout& L) {
    const auto* w = static_cast<const uint8_t*>(p.w);
    constexpr int64_t kRowBlock = 64;  // 64 rows of weights stay in L2 while the tokens pass
    for (int64_t n0 = p.n_begin; n0 < p.n_end; n0 += kRowBlock) {
        const int64_t n1 = imin(p.n_end, n0 + kRowBlock);
        for (int64_t m = 0; m < p.M; ++m)
            for (int64_t n = n0; n < n1; n += 16)
                gemv_rows<Dot>(w + size_t(n) * p.w_row_bytes, p.w_row_bytes, imin(16, n1 - n), x_row(xq, L, m), L.nb,
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
}  // namespace kaa::kernels::avx512
