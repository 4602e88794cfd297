// matmul_q8.hpp — AVX2 Q8_0 matmul with int8 dot products, included by matmul_q8.cpp
// (vpsignb + vpmaddubsw + vpmaddwd) and matmul_q8_vnni.cpp (AVX-VNNI vpdpbusd), each
// compiled with its own flags. Both compute the same int32 lanes, so identical outputs.
//
// One 32-block is one 256-bit vector. For weight block w and activation block q
// (d = max|x|/127, q = round(x/d), quantized once per row):
//   int32 lane j (8 lanes) = sum_{i<4} w[4j+i] * q[4j+i]        (exact)
//   acc += float(lane) * (d_w * d_x)                            (f32, per lane)
// The VNNI variant feeds w xor 0x80 (= w + 128) as vpdpbusd's unsigned side and starts
// the accumulator at nc = -128 * (lane sum of q); the plain one computes |w| * (q with
// w's sign) with vpmaddubsw (no saturation: |q| <= 127) and sums pairs with vpmaddwd.
#pragma once

#include <cstring>

#include "kernels/cpu/avx2/vec256.hpp"
#include "kernels/cpu/gemm_driver.hpp"
#include "kernels/cpu/scratch.hpp"
#include "kernels/kernels.hpp"

namespace kaa::kernels::avx2 {
namespace {

constexpr size_t kQ8BlockBytes = 34;

// One quantized 32-block of an activation row.
struct alignas(32) XBlock {
    int8_t q[32];
    int32_t nc[8];  // -128 * (q[4j] + ... + q[4j+3])
    float d;
    float pad[7];
};
static_assert(sizeof(XBlock) == 96, "XBlock layout");

// Quantizes rows [0, M) of x (K a multiple of 32) into `out` (M x K/32 blocks).
void quantize_rows(const float* x, int64_t x_stride, int64_t M, int64_t K, XBlock* out) {
    const int64_t nblocks = K / 32;
    const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (int64_t m = 0; m < M; ++m) {
        const float* xr = x + m * x_stride;
        XBlock* row = out + m * nblocks;
        for (int64_t b = 0; b < nblocks; ++b) {
            __m256 v[4];
            for (int j = 0; j < 4; ++j) v[j] = _mm256_loadu_ps(xr + b * 32 + 8 * j);
            __m256 mx = _mm256_max_ps(_mm256_max_ps(_mm256_and_ps(v[0], abs_mask), _mm256_and_ps(v[1], abs_mask)),
                                      _mm256_max_ps(_mm256_and_ps(v[2], abs_mask), _mm256_and_ps(v[3], abs_mask)));
            __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
            m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
            m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
            const float d = _mm_cvtss_f32(m4) / 127.0f;
            const __m256 id = _mm256_set1_ps(d > 0.0f ? 1.0f / d : 0.0f);
            __m256i q[4];  // round to nearest even (MXCSR default)
            for (int j = 0; j < 4; ++j) q[j] = _mm256_cvtps_epi32(_mm256_mul_ps(v[j], id));
            // saturating packs interleave 128-bit lanes; the permute restores element order
            const __m256i q16a = _mm256_packs_epi32(q[0], q[1]), q16b = _mm256_packs_epi32(q[2], q[3]);
            const __m256i q8 = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(q16a, q16b), order);
            const __m256i s32 = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), q8), _mm256_set1_epi16(1));
            XBlock& o = row[b];
            _mm256_store_si256(reinterpret_cast<__m256i*>(o.q), q8);
            _mm256_store_si256(reinterpret_cast<__m256i*>(o.nc),
                               _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(s32, 7)));
            o.d = d;
            std::memset(o.pad, 0, sizeof(o.pad));
        }
    }
}

struct Q8Ctx {
    const uint8_t* w;  // (N x row_bytes) Q8_0 blocks
    size_t row_bytes;
    const XBlock* xq;  // (M x nblocks)
    int64_t nblocks;   // K / 32
    float* y;          // (M x y_stride)
    int64_t y_stride;
};

template <class Dot>
struct Q8Kern {
    using Ctx = Q8Ctx;
    static constexpr int R = Dot::kR, T = Dot::kT;  // register block, sized per dot variant
    static constexpr int R1 = 4;
    static constexpr int64_t KC = 1024;  // 32 blocks: 4 tokens x 3 KiB of XBlock in L1
    static constexpr int64_t NB = 128;
    static constexpr int64_t kPrefetch = 1024;

    template <int RR, int TT>
    static void micro(const Ctx& c, int64_t n, int64_t m0, int64_t k0, int64_t k1, bool first) {
        const uint8_t* wr[RR];
        for (int r = 0; r < RR; ++r) wr[r] = c.w + size_t(n + r) * c.row_bytes;
        const XBlock* xr[TT];
        for (int t = 0; t < TT; ++t) xr[t] = c.xq + (m0 + t) * c.nblocks;
        __m256 acc[RR][TT];
        for (int r = 0; r < RR; ++r)
            for (int t = 0; t < TT; ++t) acc[r][t] = _mm256_setzero_ps();
        for (int64_t b = k0 / 32; b < k1 / 32; ++b) {
            typename Dot::W wp[RR];
            __m256 wd[RR];
            for (int r = 0; r < RR; ++r) {
                const uint8_t* blk = wr[r] + size_t(b) * kQ8BlockBytes;
                if constexpr (TT == 1)
                    _mm_prefetch(reinterpret_cast<const char*>(blk + kPrefetch), _MM_HINT_T0);
                uint16_t h;
                std::memcpy(&h, blk, 2);
                wd[r] = _mm256_set1_ps(_cvtsh_ss(h));
                wp[r] = Dot::prep(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 2)));
            }
            for (int t = 0; t < TT; ++t) {
                const XBlock& xb = xr[t][b];
                const __m256i xq = _mm256_load_si256(reinterpret_cast<const __m256i*>(xb.q));
                const __m256 xd = _mm256_broadcast_ss(&xb.d);
                for (int r = 0; r < RR; ++r) {
                    const __m256 f = _mm256_cvtepi32_ps(Dot::dot(wp[r], xq, xb.nc));
                    acc[r][t] = _mm256_fmadd_ps(f, _mm256_mul_ps(wd[r], xd), acc[r][t]);
                }
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

template <class Dot>
void matmul_q8(const MatmulParams& p) {
    const int64_t nblocks = p.K / 32;
    // Each call quantizes all M rows itself: cheap next to its M x K x rows products,
    // and a row's quantization never depends on M or on other rows.
    auto* xq = static_cast<XBlock*>(thread_scratch(0, size_t(p.M * nblocks) * sizeof(XBlock)));
    quantize_rows(p.x, p.x_stride, p.M, p.K, xq);
    const Q8Ctx c{static_cast<const uint8_t*>(p.w), p.w_row_bytes, xq, nblocks, p.y, p.y_stride};
    run_gemm<Q8Kern<Dot>>(c, p.M, p.K, p.n_begin, p.n_end);
}

}  // namespace
}  // namespace kaa::kernels::avx2
