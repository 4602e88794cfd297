// vec256.hpp — Vec256, the vector traits of the avx2 backend (AVX2 + FMA + F16C): the
// vocabulary the ISA-generic kernels in kernels/cpu/x86/ are written in, spelled with
// 8-lane ymm intrinsics, and the steps where AVX2 differs from AVX-512 in more than the
// width: no mask registers (tails are maskload/maskstore masks, 16-bit tails go through a
// small copy), 2^n written into the exponent field (no scalef, so arguments are clamped
// to the normal range), log's split by bit masks (no getmant/getexp), gathers in and
// scalar stores out (no scatter), vpsignb for the int8 dot, 8 x 8 transposes.
//
// Internal linkage only (anonymous namespace, see x86/common.hpp): this header is
// compiled with AVX2 flags and must not lend an inline function to baseline code.
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/cpu/x86/common.hpp"

namespace kaa::kernels::avx2 {
namespace {

// Lane numbers (a function, not a namespace-scope constant, whose initializer would run
// AVX2 code at program start on every CPU).
inline __m256i lane_idx() { return _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7); }

struct Vec256 {
    using F = __m256;    // 8 f32 lanes
    using I = __m256i;   // 8 int32 lanes (or 32 int8)
    using Cmp = __m256;  // lane-wise comparison result
    // Lanes [0, n) of a vector: the mask for maskload/maskstore, and n itself for the
    // loads AVX2 has no masked form of (16-bit elements, per-lane stores). n may exceed 8
    // (all lanes).
    struct Tail {
        __m256i m;
        int64_t n;
    };
    static constexpr int kW = 8;

    // ---- register blocking (16 ymm registers) ----------------------------------------------
    static constexpr int kGemmR = 3, kGemmT = 4;  // float GEMM: 12 accumulators + 3 weights
    static constexpr int64_t kGemmNB = 96;        // float GEMM panel rows
    static constexpr int kVnniT = 3;              // VNNI GEMM: 2 x 8 rows x 3 tokens (12 + 2)
    static constexpr int kGemvRB = 8;             // VNNI GEMV: 8 x 8 rows (four streams)
    static constexpr int kBatchT = 8;             // VNNI, Q8_0x16 in place: 2 x 8 rows x 8 tokens
    static constexpr int kBatchMaxM = 8;          // (spilled, still faster), for up to 8 tokens
    // The scan's 16 states and 16 A vectors stay in L1 scratch: they alone would take
    // every ymm register.
    static constexpr bool kScanInRegisters = false;
    static constexpr bool kScanStatesInLanes = true;   // (x86/ssm.inl, scan_states)
    static constexpr bool kSmallColumns = false;       // conv columns by gathers (x86/ssm.inl)

    // ---- lanes --------------------------------------------------------------------------------
    // zero, set1, load, store, add, sub, mul, min, max, fmadd, fnmadd, cvt_i32, zero_i,
    // set1_i32, add_i32, flip_sign_bits: the same intrinsics in both ISAs (x86/common.hpp).
    KAA_X86_PREFIX_OPS(_mm256, si256)
    // The rest differ in more than the prefix.
    static Tail tail(int64_t n) {
        return {_mm256_cmpgt_epi32(_mm256_set1_epi32(int(n)), lane_idx()), n};
    }
    static F bcast(const float* p) { return _mm256_broadcast_ss(p); }
    static F load(const float* p, Tail t) { return _mm256_maskload_ps(p, t.m); }
    static void store(float* p, Tail t, F v) { _mm256_maskstore_ps(p, t.m, v); }
    static F rcp(F d) { return _mm256_rcp_ps(d); }  // 12 bits
    static F round(F x) { return _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
    static Cmp gt(F a, F b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
    static F blend(F a, F b, Cmp c) { return _mm256_blendv_ps(a, b, c); }  // c ? b : a
    static F zero_outside(F v, Tail t) { return _mm256_and_ps(v, _mm256_castsi256_ps(t.m)); }

    // Sum of the 8 lanes by halving (x86::hsum8).
    static float hsum(F v) { return x86::hsum8(v); }
    // hsum of 8 vectors at once: lane i of the result is hsum(v[i]), by the same additions
    // lane for lane (so the same bits) in 21 shuffles and adds where 8 hsums take ~48.
    // The steps (+4: 128-bit halves, +2, +1 within lanes) leave w[2e + L]'s sum in lane
    // 4L + e, so v is read transposed (w[2e + L] = v[4L + e]) to come out in order.
    static F hsum_w(const F* v) {
        auto w = [&](int j) { return v[4 * (j % 2) + j / 2]; };
        F s1[4], s2[2];
        for (int i = 0; i < 4; ++i) {
            const F a = w(2 * i), b = w(2 * i + 1);
            s1[i] = _mm256_add_ps(_mm256_permute2f128_ps(a, b, 0x20), _mm256_permute2f128_ps(a, b, 0x31));
        }
        for (int j = 0; j < 2; ++j)
            s2[j] = _mm256_add_ps(_mm256_shuffle_ps(s1[2 * j], s1[2 * j + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                                  _mm256_shuffle_ps(s1[2 * j], s1[2 * j + 1], _MM_SHUFFLE(3, 2, 3, 2)));
        return _mm256_add_ps(_mm256_shuffle_ps(s2[0], s2[1], _MM_SHUFFLE(2, 0, 2, 0)),
                             _mm256_shuffle_ps(s2[0], s2[1], _MM_SHUFFLE(3, 1, 3, 1)));
    }

    // ---- weight loads: 8 elements as f32 (exact conversions) -------------------------------
    static F load_f16(const uint16_t* p) {
        return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    }
    static F load_f16(const uint16_t* p, Tail t) { return _mm256_cvtph_ps(load_u16_tail(p, t.n)); }
    // The f16 at base + r * stride for each lane r (one gather; 4 bytes are read at each).
    static F gather_f16(const uint8_t* base, int32_t stride) {
        const __m256i idx = _mm256_mullo_epi32(lane_idx(), _mm256_set1_epi32(stride));
        const __m256i v = _mm256_and_si256(_mm256_i32gather_epi32(reinterpret_cast<const int*>(base), idx, 1),
                                           _mm256_set1_epi32(0xffff));
        return _mm256_cvtph_ps(_mm_packus_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1)));
    }
    static F load_bf16(const uint16_t* p) {
        return bf16_bits(_mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
    }
    static F load_bf16(const uint16_t* p, Tail t) { return bf16_bits(_mm256_cvtepu16_epi32(load_u16_tail(p, t.n))); }
    // 8 int8 as f32.
    static F load_i8(const uint8_t* p) {
        return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
    }

    // ---- pieces of the elementary functions (x86/vmath.inl) ---------------------------------
    // exp's argument range: 2^n is written into the exponent field, so n must stay normal.
    // Results stop at ~1.2e-38 below and ~1.7e38 above instead of flushing / overflowing.
    static constexpr float kExpLo = -87.3f, kExpHi = 88.0f;
    static F exp2_clamp(F y) {
        return _mm256_min_ps(_mm256_max_ps(y, _mm256_set1_ps(-126.0f)), _mm256_set1_ps(127.0f));
    }
    // p * 2^n for integral n in [-126, 127].
    static F scale_pow2(F p, F n) {
        const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
        return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
    }
    // x = m 2^e, m in [sqrt(1/2), sqrt(2)), for normal x > 0.
    static void log_reduce(F x, F& m, F& e) {
        const __m256i bits = _mm256_castps_si256(x);
        e = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32(bits, 23), _mm256_set1_epi32(127)));
        m = _mm256_castsi256_ps(
            _mm256_or_si256(_mm256_and_si256(bits, _mm256_set1_epi32(0x007fffff)), _mm256_set1_epi32(0x3f800000)));
        const __m256 big = _mm256_cmp_ps(m, _mm256_set1_ps(1.41421356237f), _CMP_GT_OQ);
        m = _mm256_blendv_ps(m, _mm256_mul_ps(m, _mm256_set1_ps(0.5f)), big);
        e = _mm256_add_ps(e, _mm256_and_ps(big, _mm256_set1_ps(1.0f)));
    }

    // ---- per-channel kernels (x86/ssm.inl) --------------------------------------------------
    static void transpose(F (&r)[8]) { x86::transpose8x8(r); }
    // The decode scan's C.h sums with the states in lanes (x86/ssm.inl, scan_states): 8
    // channels ("roles" 0..7) each give q, lane s = S[s] C[s] + S[s+8] C[s+8] (the first
    // step of scan_group's tree, one FMA). Their sums over s leave in one vector, role r
    // in lane 4 (r % 2) + r / 2, added as the rest of that tree: r[s] = q[s] + q[s+4],
    // u[s] = r[s] + r[s+2], u[0] + u[1]. 14 shuffles + 7 adds for 8 channels.
    static constexpr int64_t role_channel(int r) { return 4 * (r % 2) + r / 2; }
    static F tree_finish(const F (&q)[8]) {
        __m256d r[4];
        for (int i = 0; i < 4; ++i)  // 128-bit half k of r[i]: r[0..3] of role 2i + k
            r[i] = _mm256_castps_pd(_mm256_add_ps(_mm256_permute2f128_ps(q[2 * i], q[2 * i + 1], 0x20),
                                                  _mm256_permute2f128_ps(q[2 * i], q[2 * i + 1], 0x31)));
        __m256 u[2];
        for (int m = 0; m < 2; ++m)  // half k of u[m]: u[0..1] of roles 4m + k, 4m + 2 + k
            u[m] = _mm256_add_ps(_mm256_castpd_ps(_mm256_unpacklo_pd(r[2 * m], r[2 * m + 1])),
                                 _mm256_castpd_ps(_mm256_unpackhi_pd(r[2 * m], r[2 * m + 1])));
        // half k: the sums of roles k, 2 + k, 4 + k, 6 + k
        return _mm256_add_ps(_mm256_shuffle_ps(u[0], u[1], _MM_SHUFFLE(2, 0, 2, 0)),
                             _mm256_shuffle_ps(u[0], u[1], _MM_SHUFFLE(3, 1, 3, 1)));
    }

    // Lane l = p[l * stride] for lanes in t (others 0): a masked gather.
    static F gather_column(const float* p, int64_t stride, Tail t) {
        const __m256i idx = _mm256_mullo_epi32(lane_idx(), _mm256_set1_epi32(int(stride)));
        return _mm256_mask_i32gather_ps(_mm256_setzero_ps(), p, idx, _mm256_castsi256_ps(t.m), 4);
    }
    // p[l * stride] = lane l for lanes in t (t.n <= 8): AVX2 has no scatter.
    static void store_column(float* p, int64_t stride, Tail t, F v) {
        alignas(32) float lane[8];
        _mm256_store_ps(lane, v);
        for (int64_t l = 0; l < t.n; ++l) p[l * stride] = lane[l];
    }

    // ---- int8 / int32 lanes: Q8_0 with int8 activations (x86/matmul_q8*.inl) ---------------
    static I load_i(const void* p) { return _mm256_load_si256(static_cast<const __m256i*>(p)); }  // aligned
    static void store_i(void* p, I v) { _mm256_store_si256(static_cast<__m256i*>(p), v); }        // aligned
    // The int16 GEMM's pack (x86/matmul_q8.inl): a block's 32 quants sign-extended to
    // int16, pairs (2j, 2j+1) in dword j: 2 vectors (pairs 0-7, 8-15).
    static constexpr int kPairVecs = 2;
    static void widen_q8_pairs(const uint8_t* q, I* out) {
        out[0] = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q)));
        out[1] = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q + 16)));
    }
    // 8 x 8 transpose of 32-bit lanes.
    static void transpose_i(I (&r)[8]) { x86::transpose8x8(r); }

    // One 32-element block of x -> q (32 int8, 32-byte aligned), d = max|x| / 127 and
    // nc = -128 * sum(q). Round to nearest even (MXCSR default); |x / d| <= 127.
    static void quantize_block(const float* x, int8_t* q, float& d, int32_t& nc) {
        const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
        __m256 v[4];
        for (int j = 0; j < 4; ++j) v[j] = _mm256_loadu_ps(x + 8 * j);
        const __m256 mx = _mm256_max_ps(_mm256_max_ps(_mm256_and_ps(v[0], abs_mask), _mm256_and_ps(v[1], abs_mask)),
                                        _mm256_max_ps(_mm256_and_ps(v[2], abs_mask), _mm256_and_ps(v[3], abs_mask)));
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        const float db = _mm_cvtss_f32(m4) / 127.0f;
        const __m256 id = _mm256_set1_ps(db > 0.0f ? 1.0f / db : 0.0f);
        __m256i qi[4];
        for (int j = 0; j < 4; ++j) qi[j] = _mm256_cvtps_epi32(_mm256_mul_ps(v[j], id));
        const __m256i sum = _mm256_add_epi32(_mm256_add_epi32(qi[0], qi[1]), _mm256_add_epi32(qi[2], qi[3]));
        // saturating packs interleave 128-bit lanes; the permute restores element order
        const __m256i q8 = _mm256_permutevar8x32_epi32(
            _mm256_packs_epi16(_mm256_packs_epi32(qi[0], qi[1]), _mm256_packs_epi32(qi[2], qi[3])),
            _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_store_si256(reinterpret_cast<__m256i*>(q), q8);
        __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(sum), _mm256_extracti128_si256(sum, 1));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4e));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xb1));
        d = db;
        nc = -128 * _mm_cvtsi128_si32(s4);
    }
    // GEMV: one 32-byte vector holds one block's quants of one row.
    static I load_q8_quants(const uint8_t* blk, int64_t /*blocks_left*/) {
        return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 2));
    }
    // D[r] holds 8 partial sums of row r's block; out[0] lane r = their sum. Exact.
    static void reduce_rows(const I (&D)[8], I (&out)[1]) {
        __m256i s[4], v[2];
        for (int i = 0; i < 4; ++i)  // per 128-bit lane: [a0+a2, b0+b2, a1+a3, b1+b3]
            s[i] = _mm256_add_epi32(_mm256_unpacklo_epi32(D[2 * i], D[2 * i + 1]),
                                    _mm256_unpackhi_epi32(D[2 * i], D[2 * i + 1]));
        for (int i = 0; i < 2; ++i)  // per 128-bit lane: rows 4i..4i+3, half the partials each
            v[i] = _mm256_add_epi32(_mm256_unpacklo_epi64(s[2 * i], s[2 * i + 1]),
                                    _mm256_unpackhi_epi64(s[2 * i], s[2 * i + 1]));
        out[0] = _mm256_add_epi32(_mm256_permute2x128_si256(v[0], v[1], 0x20),
                                  _mm256_permute2x128_si256(v[0], v[1], 0x31));
    }
    // f16 scales of Q8_0 block b of 8 rows (rows outside t give 0), as f32 lanes.
    static F q8_row_scales(const uint8_t* w, size_t row_bytes, int64_t b, Tail t) {
        const __m256i off = _mm256_mullo_epi32(lane_idx(), _mm256_set1_epi32(int(row_bytes)));
        const int* blk = reinterpret_cast<const int*>(w + b * x86::kQ8BlockBytes);
        __m256i h = _mm256_mask_i32gather_epi32(_mm256_setzero_si256(), blk, off, t.m, 1);
        h = _mm256_and_si256(h, _mm256_set1_epi32(0xffff));
        const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(h, _mm256_setzero_si256()), 0x08);
        return _mm256_cvtph_ps(_mm256_castsi256_si128(packed));
    }
    // 8 int32 sums of 4 products w * q: |w| * (q with w's sign) by vpsignb (0 where w is
    // 0) and vpmaddubsw (|q| <= 127: no saturation), pairs of pairs by vpmaddwd.
    static I dot_maddubs(I w, I q) {
        const __m256i qs = _mm256_sign_epi8(q, w);
        return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(w), qs), _mm256_set1_epi16(1));
    }
    // VNNI pack: v[r] = row r's 32 quants, already transposed per 8 rows; the vector of
    // the same 4 bytes (index j) of all 8 rows.
    static I join_quads(const __m256i* v, int j) { return v[j]; }

  private:
    // n < 8 halves/bfloats, zero-padded through a small copy (no 16-bit masked load).
    static __m128i load_u16_tail(const uint16_t* p, int64_t n) {
        alignas(16) uint16_t buf[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        std::memcpy(buf, p, size_t(n) * 2);
        return _mm_load_si128(reinterpret_cast<const __m128i*>(buf));
    }
    // bf16 is the top half of an f32: shift the widened bits into place.
    static F bf16_bits(__m256i w) { return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16)); }
};

}  // namespace
}  // namespace kaa::kernels::avx2
