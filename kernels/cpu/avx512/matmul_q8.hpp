// matmul_q8.hpp — AVX-512 Q8_0 matmul with int8 dot products, included by matmul_q8.cpp
// (AVX-512BW vpmaddubsw) and matmul_q8_vnni.cpp (AVX-512 VNNI vpdpbusd), each compiled
// with its own flags. Both compute the same int32 lanes, so their outputs are identical.
//
// Q8_0 weight row: K/32 blocks of {f16 d; int8 q[32]} (34 bytes), read where mmap put it.
// Activations: each row of x is quantized per 32-block (d = max|x|/127, q = round(x/d))
// into XPair records (two blocks = one 64-byte vector). For a pair of blocks,
//   int32 lane j (16 lanes) = sum_{i<4} w[4j+i] * q[4j+i]      (exact)
//   acc += float(lane) * (d_w * d_x)                           (f32, per lane)
// where lanes 0-7 belong to the first block and 8-15 to the second. The f32 part is the
// same for both dot variants, and gemm_driver.hpp fixes the order over K.
//
// vpdpbusd multiplies unsigned by signed bytes: the VNNI variant feeds w + 128 (w xor
// 0x80) as the unsigned side and removes 128 * sum(q) per lane through the accumulator's
// start value `nc` (= -128 * lane sum of q, stored with the activations). The plain
// variant moves w's sign onto q (|w| * +-q through vpmaddubsw, which cannot saturate
// because |q| <= 127) and sums pairs with vpmaddwd.
#pragma once

#include <cstring>

#include "kernels/cpu/avx512/vec512.hpp"
#include "kernels/cpu/gemm_driver.hpp"
#include "kernels/cpu/scratch.hpp"
#include "kernels/kernels.hpp"

namespace kaa::kernels::avx512 {
namespace {

constexpr size_t kQ8BlockBytes = 34;

// Two quantized 32-blocks of one activation row.
struct alignas(64) XPair {
    int8_t q[64];
    int32_t nc[16];  // -128 * (q[4j] + q[4j+1] + q[4j+2] + q[4j+3])
    float d[16];     // d of the first block in lanes 0-7, of the second in 8-15
};
static_assert(sizeof(XPair) == 192, "XPair layout");

// Quantizes rows [0, M) of x (K a multiple of 32) into `out` (M x npairs).
void quantize_rows(const float* x, int64_t x_stride, int64_t M, int64_t K, XPair* out) {
    const int64_t nblocks = K / 32, npairs = (nblocks + 1) / 2;
    const __m512 abs_mask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
    for (int64_t m = 0; m < M; ++m) {
        const float* xr = x + m * x_stride;
        XPair* row = out + m * npairs;
        for (int64_t p = 0; p < npairs; ++p) {
            alignas(64) int8_t q[64];
            float d[2] = {0.0f, 0.0f};
            for (int h = 0; h < 2; ++h) {
                const int64_t b = 2 * p + h;
                if (b >= nblocks) {
                    std::memset(q + 32 * h, 0, 32);
                    continue;
                }
                const __m512 v0 = _mm512_loadu_ps(xr + b * 32), v1 = _mm512_loadu_ps(xr + b * 32 + 16);
                const float amax = _mm512_reduce_max_ps(
                    _mm512_max_ps(_mm512_and_ps(v0, abs_mask), _mm512_and_ps(v1, abs_mask)));
                d[h] = amax / 127.0f;
                const __m512 id = _mm512_set1_ps(d[h] > 0.0f ? 1.0f / d[h] : 0.0f);
                // round to nearest even (MXCSR default), then saturate to int8 (|q| <= 127)
                const __m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, id));
                const __m512i q1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, id));
                _mm_store_si128(reinterpret_cast<__m128i*>(q + 32 * h), _mm512_cvtsepi32_epi8(q0));
                _mm_store_si128(reinterpret_cast<__m128i*>(q + 32 * h + 16), _mm512_cvtsepi32_epi8(q1));
            }
            const __m512i qv = _mm512_load_si512(q);
            // lane sums of 4 bytes: 1 * q pairs (vpmaddubsw), then pairs of pairs
            const __m512i s16 = _mm512_maddubs_epi16(_mm512_set1_epi8(1), qv);
            const __m512i s32 = _mm512_madd_epi16(s16, _mm512_set1_epi16(1));
            _mm512_store_si512(row[p].q, qv);
            _mm512_store_si512(row[p].nc, _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(s32, 7)));
            _mm512_store_ps(row[p].d, _mm512_insertf32x8(_mm512_set1_ps(d[0]), _mm256_set1_ps(d[1]), 1));
        }
    }
}

struct Q8Ctx {
    const uint8_t* w;  // (N x row_bytes) Q8_0 blocks
    size_t row_bytes;
    const XPair* xq;   // (M x npairs)
    int64_t npairs;
    int64_t nblocks;   // K / 32
    float* y;          // (M x y_stride)
    int64_t y_stride;
};

// Weight pair p of a row: quants of blocks 2p, 2p+1 (upper half zero when `full` is
// false, i.e. the row's last block is alone) and [d0 x 8, d1 x 8] as f32.
template <bool kFull>
inline void load_wpair(const uint8_t* blk, __m512i& q, __m512& d) {
    uint16_t h0, h1 = 0;
    std::memcpy(&h0, blk, 2);
    const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 2));
    if constexpr (kFull) {
        std::memcpy(&h1, blk + kQ8BlockBytes, 2);
        q = _mm512_inserti64x4(_mm512_castsi256_si512(lo),
                               _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + kQ8BlockBytes + 2)), 1);
    } else {
        q = _mm512_zextsi256_si512(lo);
    }
    const __m256i hh = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi16(short(h0))),
                                               _mm_set1_epi16(short(h1)), 1);
    d = _mm512_cvtph_ps(hh);
}

template <class Dot>
struct Q8Kern {
    using Ctx = Q8Ctx;
    static constexpr int R = 4, T = 4;   // 16 accumulators + 4 weight vectors + 4 scales
    static constexpr int R1 = 4;
    static constexpr int64_t KC = 2048;  // 32 pairs: 4 tokens x 6 KiB of XPair in L1
    static constexpr int64_t NB = 128;   // 128 rows x 2176 B = 272 KiB of L2
    static constexpr int64_t kPrefetch = 1024;  // GEMV prefetch distance in bytes

    template <bool kFull, int RR, int TT>
    static inline void step(const uint8_t* const* wr, const XPair* const* xr, int64_t p, __m512 (&acc)[RR][TT]) {
        typename Dot::W wp[RR];
        __m512 wd[RR];
        for (int r = 0; r < RR; ++r) {
            const uint8_t* blk = wr[r] + size_t(2 * p) * kQ8BlockBytes;
            if constexpr (TT == 1)
                _mm_prefetch(reinterpret_cast<const char*>(blk + kPrefetch), _MM_HINT_T0);
            __m512i q;
            load_wpair<kFull>(blk, q, wd[r]);
            wp[r] = Dot::prep(q);
        }
        for (int t = 0; t < TT; ++t) {
            const XPair& xp = xr[t][p];
            const __m512i xq = _mm512_load_si512(xp.q);
            const __m512i nc = _mm512_load_si512(xp.nc);
            const __m512 xd = _mm512_load_ps(xp.d);
            for (int r = 0; r < RR; ++r) {
                const __m512 f = _mm512_cvtepi32_ps(Dot::dot(wp[r], xq, nc));
                acc[r][t] = _mm512_fmadd_ps(f, _mm512_mul_ps(wd[r], xd), acc[r][t]);
            }
        }
    }

    template <int RR, int TT>
    static void micro(const Ctx& c, int64_t n, int64_t m0, int64_t k0, int64_t k1, bool first) {
        const uint8_t* wr[RR];
        for (int r = 0; r < RR; ++r) wr[r] = c.w + size_t(n + r) * c.row_bytes;
        const XPair* xr[TT];
        for (int t = 0; t < TT; ++t) xr[t] = c.xq + (m0 + t) * c.npairs;
        __m512 acc[RR][TT];
        for (int r = 0; r < RR; ++r)
            for (int t = 0; t < TT; ++t) acc[r][t] = _mm512_setzero_ps();
        const int64_t p0 = k0 / 64, p1 = (k1 + 63) / 64;
        const int64_t pfull = gd_min(p1, c.nblocks / 2);  // pairs with both blocks present
        int64_t p = p0;
        for (; p < pfull; ++p) step<true>(wr, xr, p, acc);
        if (p < p1) step<false>(wr, xr, p, acc);
        for (int t = 0; t < TT; ++t) {
            float* yr = c.y + (m0 + t) * c.y_stride + n;
            for (int r = 0; r < RR; ++r) {
                const float s = hsum(acc[r][t]);
                yr[r] = first ? s : yr[r] + s;
            }
        }
    }
};

template <class Dot>
void matmul_q8(const MatmulParams& p) {
    const int64_t nblocks = p.K / 32, npairs = (nblocks + 1) / 2;
    // Every call quantizes all M rows itself: the result depends only on the row, and
    // the cost (M x K) is small next to the (M x K x rows) products of one thread.
    auto* xq = static_cast<XPair*>(thread_scratch(0, size_t(p.M * npairs) * sizeof(XPair)));
    quantize_rows(p.x, p.x_stride, p.M, p.K, xq);
    const Q8Ctx c{static_cast<const uint8_t*>(p.w), p.w_row_bytes, xq, npairs, nblocks, p.y, p.y_stride};
    run_gemm<Q8Kern<Dot>>(c, p.M, p.K, p.n_begin, p.n_end);
}

}  // namespace
}  // namespace kaa::kernels::avx512
