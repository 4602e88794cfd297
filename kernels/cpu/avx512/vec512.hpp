// vec512.hpp — Vec512, the vector traits of the avx512 backend (AVX-512 F/BW/VL/DQ): the
// vocabulary the ISA-generic kernels in kernels/cpu/x86/ are written in, spelled with
// 16-lane zmm intrinsics, and the steps where AVX-512 differs from AVX2 in more than the
// width: mask registers for every tail, scalef for 2^n (gradual underflow, overflow to
// inf), getmant/getexp for log, masked gathers and scatters, the 16 x 16 transpose, and
// int8 GEMV over pairs of Q8_0 blocks per 64-byte vector.
//
// Internal linkage only (anonymous namespace, see x86/common.hpp): this header is
// compiled with AVX-512 flags, and an inline function with external linkage could be
// merged by the linker with a baseline copy and then run on a CPU without AVX-512.
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "kernels/cpu/x86/common.hpp"

namespace kaa::kernels::avx512 {
namespace {

// (Not a namespace-scope constant: its initializer would run AVX-512 code at program
// start, on every CPU.)
inline __m512i lane_idx() { return _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15); }

struct Vec512 {
    using F = __m512;        // 16 f32 lanes
    using I = __m512i;       // 16 int32 lanes (or 64 int8)
    using Cmp = __mmask16;   // lane-wise comparison result
    using Tail = __mmask16;  // lanes [0, n) of a vector
    static constexpr int kW = 16;

    // ---- register blocking (32 zmm registers) ----------------------------------------------
    static constexpr int kGemmR = 4, kGemmT = 6;  // float GEMM: 24 accumulators + 4 weights
    static constexpr int64_t kGemmNB = 128;       // 128 rows x 1024 x 4 B = 512 KiB of L2 at most
    static constexpr int kVnniT = 6;              // VNNI GEMM: 2 x 16 rows x 6 tokens
    static constexpr int kGemvRB = 4;             // VNNI GEMV: 4 x 16 rows (four streams)
    static constexpr int kBatchT = 8;             // VNNI, Q8_0x16 in place: 2 x 16 rows x 8 tokens,
    static constexpr int kBatchMaxM = 16;         // for up to 16 tokens (then packs)
    // d_state = 16 (every Mamba-1 model): a full group's 16 x 16 state block is transposed
    // in registers and stays there for all T steps; decode steps keep the states in lanes.
    static constexpr bool kScanInRegisters = true;
    static constexpr bool kScanStatesInLanes = true;

    // ---- lanes --------------------------------------------------------------------------------
    // zero, set1, load, store, add, sub, mul, min, max, fmadd, fnmadd, cvt_i32, zero_i,
    // set1_i32, add_i32, flip_sign_bits: the same intrinsics in both ISAs (x86/common.hpp).
    KAA_X86_PREFIX_OPS(_mm512, si512)
    // The rest differ in more than the prefix.
    static Tail tail(int64_t n) { return __mmask16(n >= 16 ? 0xffffu : (1u << n) - 1u); }
    static F bcast(const float* p) { return _mm512_set1_ps(*p); }
    static F load(const float* p, Tail m) { return _mm512_maskz_loadu_ps(m, p); }  // 0 outside m
    static void store(float* p, Tail m, F v) { _mm512_mask_storeu_ps(p, m, v); }
    static F rcp(F d) { return _mm512_rcp14_ps(d); }  // 14 bits
    static F round(F x) { return _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
    static Cmp gt(F a, F b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
    static F blend(F a, F b, Cmp c) { return _mm512_mask_blend_ps(c, a, b); }  // c ? b : a
    static F zero_outside(F v, Tail m) { return _mm512_maskz_mov_ps(m, v); }

    // Sum of the 16 lanes by halving: lane i + lane i+8, then +4, +2, +1 (x86::hsum8).
    static float hsum(F v) {
        return x86::hsum8(_mm256_add_ps(_mm512_castps512_ps256(v),
                                        _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))));
    }
    // hsum of 16 vectors at once: lane i of the result is hsum(v[i]), by the same
    // additions lane for lane (so the same bits) in 45 shuffles and adds where 16 hsums
    // take 128, half of them on the one shuffle port. Each step halves two vectors' partial
    // sums into one: +8 (256-bit halves), +4 (128-bit lanes), +2, +1 (within lanes). The
    // steps leave w[4e + L]'s sum in lane 4L + e, so v is read transposed (w[4e + L] =
    // v[4L + e]) to come out in order.
    static F hsum_w(const F* v) {
        auto w = [&](int j) { return v[4 * (j % 4) + j / 4]; };
        F s1[8], s2[4], s3[2];
        for (int i = 0; i < 8; ++i) {
            const F a = w(2 * i), b = w(2 * i + 1);
            s1[i] = _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x44), _mm512_shuffle_f32x4(a, b, 0xEE));
        }
        for (int j = 0; j < 4; ++j)
            s2[j] = _mm512_add_ps(_mm512_shuffle_f32x4(s1[2 * j], s1[2 * j + 1], 0x88),
                                  _mm512_shuffle_f32x4(s1[2 * j], s1[2 * j + 1], 0xDD));
        for (int k = 0; k < 2; ++k)
            s3[k] = _mm512_add_ps(_mm512_shuffle_ps(s2[2 * k], s2[2 * k + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                                  _mm512_shuffle_ps(s2[2 * k], s2[2 * k + 1], _MM_SHUFFLE(3, 2, 3, 2)));
        return _mm512_add_ps(_mm512_shuffle_ps(s3[0], s3[1], _MM_SHUFFLE(2, 0, 2, 0)),
                             _mm512_shuffle_ps(s3[0], s3[1], _MM_SHUFFLE(3, 1, 3, 1)));
    }

    // ---- weight loads: 16 elements as f32 (exact conversions) ------------------------------
    static F load_f16(const uint16_t* p) {
        return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    }
    static F load_f16(const uint16_t* p, Tail m) { return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p)); }
    // The f16 at base + r * stride for each lane r (one gather; 4 bytes are read at each).
    static F gather_f16(const uint8_t* base, int32_t stride) {
        const __m512i v = _mm512_i32gather_epi32(_mm512_mullo_epi32(lane_idx(), _mm512_set1_epi32(stride)), base, 1);
        return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(v));
    }
    // bf16 is the top half of an f32: widen to 32 bits and shift into place.
    static F load_bf16(const uint16_t* p) {
        const __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
        return _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
    }
    static F load_bf16(const uint16_t* p, Tail m) {
        const __m512i w = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p));
        return _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
    }
    // 16 int8 as f32.
    static F load_i8(const uint8_t* p) {
        return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
    }

    // ---- pieces of the elementary functions (x86/vmath.inl) ---------------------------------
    // exp's argument range: e^-104 is below the smallest subnormal, e^89 overflows; scalef
    // takes care of everything in between.
    static constexpr float kExpLo = -104.0f, kExpHi = 89.0f;
    // 2^-151 rounds to 0; the clamp also keeps -inf finite. No upper clamp: scalef overflows
    // to inf by itself.
    static F exp2_clamp(F y) { return _mm512_max_ps(y, _mm512_set1_ps(-151.0f)); }
    static F scale_pow2(F p, F n) { return _mm512_scalef_ps(p, n); }  // p * 2^n
    // x = m 2^e, m in [sqrt(1/2), sqrt(2)), for finite x > 0.
    static void log_reduce(F x, F& m, F& e) {
        m = _mm512_getmant_ps(x, _MM_MANT_NORM_1_2, _MM_MANT_SIGN_zero);  // [1, 2)
        e = _mm512_getexp_ps(x);
        const __mmask16 big = _mm512_cmp_ps_mask(m, _mm512_set1_ps(1.41421356237f), _CMP_GT_OQ);
        m = _mm512_mask_mul_ps(m, big, m, _mm512_set1_ps(0.5f));
        e = _mm512_mask_add_ps(e, big, e, _mm512_set1_ps(1.0f));
    }

    // ---- per-channel kernels (x86/ssm.inl) --------------------------------------------------
    // In-register transpose of a 16 x 16 block: r[i] lane j <-> r[j] lane i.
    static void transpose(F (&r)[16]) {
        __m512 t[16], u[16];
        for (int i = 0; i < 8; ++i) {  // interleave row pairs within 128-bit lanes
            t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
            t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
        }
        for (int i = 0; i < 4; ++i) {  // 4 rows x 1 column per 128-bit lane
            const __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 1]);
            const __m512d c = _mm512_castps_pd(t[4 * i + 2]), d = _mm512_castps_pd(t[4 * i + 3]);
            u[4 * i + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));  // columns 0, 4, 8, 12
            u[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));  // 1, 5, 9, 13
            u[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));  // 2, 6, 10, 14
            u[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));  // 3, 7, 11, 15
        }
        for (int j = 0; j < 4; ++j) {  // gather the 128-bit lanes of the four row quads
            const __m512 v0 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0x88);
            const __m512 v1 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0xdd);
            const __m512 v2 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0x88);
            const __m512 v3 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0xdd);
            r[j] = _mm512_shuffle_f32x4(v0, v2, 0x88);
            r[j + 8] = _mm512_shuffle_f32x4(v0, v2, 0xdd);
            r[j + 4] = _mm512_shuffle_f32x4(v1, v3, 0x88);
            r[j + 12] = _mm512_shuffle_f32x4(v1, v3, 0xdd);
        }
    }
    // The decode scan's C.h sums with the states in lanes (x86/ssm.inl, scan_states):
    // 16 channels ("roles" 0..15) each give a vector h of their 16 new states (lane s).
    // Their sums over s of h[s] C[s] leave in one vector, role r in lane 4 (r % 4) + r / 4,
    // added as the tree of scan_group: q[s] = h[s] C[s] + h[s+8] C[s+8] (one FMA), then
    // r[s] = q[s] + q[s+4], u[s] = r[s] + r[s+2], u[0] + u[1]. 30 shuffles, 8 FMAs, 8
    // products and 7 adds for 16 channels, where transposing the state block in and
    // out and A in took 192 shuffles.
    static constexpr int64_t role_channel(int r) { return 4 * (r % 4) + r / 4; }
    static F dup_low_half(F v) { return _mm512_shuffle_f32x4(v, v, _MM_SHUFFLE(1, 0, 1, 0)); }
    static F dup_high_half(F v) { return _mm512_shuffle_f32x4(v, v, _MM_SHUFFLE(3, 2, 3, 2)); }
    // Step 1, roles 2i and 2i+1 (clo, chi: C's low and high halves, each twice): lanes
    // 0-7 hold q of role 2i, lanes 8-15 q of role 2i+1.
    static F tree_halves(F h0, F h1, F clo, F chi) {
        const F lo = _mm512_shuffle_f32x4(h0, h1, _MM_SHUFFLE(1, 0, 1, 0));  // h[0..7] of both
        const F hi = _mm512_shuffle_f32x4(h0, h1, _MM_SHUFFLE(3, 2, 3, 2));  // h[8..15]
        return _mm512_fmadd_ps(lo, clo, _mm512_mul_ps(hi, chi));
    }
    // Steps 2-4 over the 8 vectors of step 1 (q[i] from roles 2i, 2i+1).
    static F tree_finish(const F (&q)[8]) {
        __m512d r[4];
        for (int j = 0; j < 4; ++j) {  // 128-bit quarter k of r[j]: r[0..3] of role 4j + k
            const F a = _mm512_shuffle_f32x4(q[2 * j], q[2 * j + 1], _MM_SHUFFLE(2, 0, 2, 0));
            const F b = _mm512_shuffle_f32x4(q[2 * j], q[2 * j + 1], _MM_SHUFFLE(3, 1, 3, 1));
            r[j] = _mm512_castps_pd(_mm512_add_ps(a, b));
        }
        __m512 u[2];
        for (int m = 0; m < 2; ++m)  // quarter k of u[m]: u[0..1] of roles 8m + k, 8m + 4 + k
            u[m] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(r[2 * m], r[2 * m + 1])),
                                 _mm512_castpd_ps(_mm512_unpackhi_pd(r[2 * m], r[2 * m + 1])));
        // quarter k: the sums of roles k, 4 + k, 8 + k, 12 + k
        return _mm512_add_ps(_mm512_shuffle_ps(u[0], u[1], _MM_SHUFFLE(2, 0, 2, 0)),
                             _mm512_shuffle_ps(u[0], u[1], _MM_SHUFFLE(3, 1, 3, 1)));
    }
    // A full group's rows of n <= 4 floats (conv taps and history, x86/ssm.inl): lane l
    // of v[j] = p[l * n + j], and back. The 16 n floats sit in n vectors; each column
    // takes two two-source permutes and a blend, where a gather or scatter costs ~16 loads
    // or stores (conv at T = 1, d_inner 8192: 7 gathers and 3 scatters a group).
    static constexpr bool kSmallColumns = true;
    static __m512i small_col_index(int n, int j) {  // lane l: l * n + j
        return _mm512_add_epi32(_mm512_mullo_epi32(lane_idx(), _mm512_set1_epi32(n)), _mm512_set1_epi32(j));
    }
    static F permute64(const F (&r)[4], __m512i idx) {  // lane l = (r[0] .. r[3])[idx[l]], idx < 64
        const F lo = _mm512_permutex2var_ps(r[0], idx, r[1]), hi = _mm512_permutex2var_ps(r[2], idx, r[3]);
        return _mm512_mask_blend_ps(_mm512_cmpge_epu32_mask(idx, _mm512_set1_epi32(32)), lo, hi);
    }
    static void load_small_columns(const float* p, int n, F* v) {
        F r[4];
        for (int i = 0; i < 4; ++i) r[i] = i < n ? _mm512_loadu_ps(p + 16 * i) : _mm512_setzero_ps();
        for (int j = 0; j < n; ++j) v[j] = permute64(r, small_col_index(n, j));
    }
    static void store_small_columns(float* p, int n, const F* v) {
        F c[4];
        for (int j = 0; j < 4; ++j) c[j] = j < n ? v[j] : _mm512_setzero_ps();
        for (int i = 0; i < n; ++i) {
            // float f = 16 i + l of the rows is column f % n, lane f / n: index 16 (f % n) + f / n
            alignas(64) int32_t ix[16];
            for (int l = 0; l < 16; ++l) ix[l] = 16 * ((16 * i + l) % n) + (16 * i + l) / n;
            _mm512_storeu_ps(p + 16 * i, permute64(c, _mm512_load_si512(ix)));
        }
    }
    // Lane l = p[l * stride] for lanes in m (others 0), and back: masked gather / scatter.
    static F gather_column(const float* p, int64_t stride, Tail m) {
        const __m512i idx = _mm512_mullo_epi32(lane_idx(), _mm512_set1_epi32(int(stride)));
        return _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, idx, p, 4);
    }
    static void store_column(float* p, int64_t stride, Tail m, F v) {
        _mm512_mask_i32scatter_ps(p, m, _mm512_mullo_epi32(lane_idx(), _mm512_set1_epi32(int(stride))), v, 4);
    }

    // ---- int8 / int32 lanes: Q8_0 with int8 activations (x86/matmul_q8*.inl) ---------------
    static I load_i(const void* p) { return _mm512_load_si512(p); }  // aligned
    static void store_i(void* p, I v) { _mm512_store_si512(p, v); }  // aligned
    // The int16 GEMM's pack (x86/matmul_q8.inl): a block's 32 quants sign-extended to
    // int16, pairs (2j, 2j+1) in dword j: one vector.
    static constexpr int kPairVecs = 1;
    static void widen_q8_pairs(const uint8_t* q, I* out) {
        out[0] = _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(q)));
    }
    // 16 x 16 transpose of 32-bit lanes (float shuffles move bits only).
    static void transpose_i(I (&r)[16]) {
        F f[16];
        for (int i = 0; i < 16; ++i) f[i] = _mm512_castsi512_ps(r[i]);
        transpose(f);
        for (int i = 0; i < 16; ++i) r[i] = _mm512_castps_si512(f[i]);
    }

    // One 32-element block of x -> q (32 int8), d = max|x| / 127 and nc = -128 * sum(q).
    // Round to nearest even (MXCSR default); |x / d| <= 127 so int8 saturation is moot.
    static void quantize_block(const float* x, int8_t* q, float& d, int32_t& nc) {
        const __m512 abs_mask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
        const __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
        const float amax =
            _mm512_reduce_max_ps(_mm512_max_ps(_mm512_and_ps(v0, abs_mask), _mm512_and_ps(v1, abs_mask)));
        const float db = amax / 127.0f;
        const __m512 id = _mm512_set1_ps(db > 0.0f ? 1.0f / db : 0.0f);
        const __m128i q0 = _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(v0, id)));
        const __m128i q1 = _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(v1, id)));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(q), q0);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(q + 16), q1);
        d = db;
        nc = -128 * _mm512_reduce_add_epi32(_mm512_add_epi32(_mm512_cvtepi8_epi32(q0), _mm512_cvtepi8_epi32(q1)));
    }
    // GEMV: one 64-byte vector holds two consecutive blocks' quants of one row (lanes
    // 0-7: block b, 8-15: block b + 1, zero when b is the last block).
    static I load_q8_quants(const uint8_t* blk, int64_t blocks_left) {
        const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 2));
        if (blocks_left < 2) return _mm512_zextsi256_si512(lo);
        const __m256i hi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 2 + x86::kQ8BlockBytes));
        return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
    }
    // Integer transpose-reduce: D[r] holds 16 partial sums of row r (lanes 0-7: block A,
    // 8-15: block B). out[0] lane r = sum of D[r] lanes 0-7, out[1] lane r = lanes 8-15.
    static void reduce_rows(const I (&D)[16], I (&out)[2]) {
        __m512i s[8], v[4];
        for (int i = 0; i < 8; ++i)  // per 128-bit lane: [a0+a2, b0+b2, a1+a3, b1+b3]
            s[i] = _mm512_add_epi32(_mm512_unpacklo_epi32(D[2 * i], D[2 * i + 1]),
                                    _mm512_unpackhi_epi32(D[2 * i], D[2 * i + 1]));
        for (int i = 0; i < 4; ++i)  // per 128-bit lane: one sum of 4 partials for each of 4 rows
            v[i] = _mm512_add_epi32(_mm512_unpacklo_epi64(s[2 * i], s[2 * i + 1]),
                                    _mm512_unpackhi_epi64(s[2 * i], s[2 * i + 1]));
        // v[i] lanes: [A 0-3 | A 4-7 | B 0-3 | B 4-7] partial groups of rows 4i..4i+3
        const __m512i z01 =
            _mm512_add_epi32(_mm512_shuffle_i32x4(v[0], v[1], 0x88), _mm512_shuffle_i32x4(v[0], v[1], 0xdd));
        const __m512i z23 =
            _mm512_add_epi32(_mm512_shuffle_i32x4(v[2], v[3], 0x88), _mm512_shuffle_i32x4(v[2], v[3], 0xdd));
        out[0] = _mm512_shuffle_i32x4(z01, z23, 0x88);  // [A rows 0-3, 4-7, 8-11, 12-15]
        out[1] = _mm512_shuffle_i32x4(z01, z23, 0xdd);
    }
    // f16 scales of Q8_0 block b of 16 rows (rows outside m give 0), as f32 lanes.
    static F q8_row_scales(const uint8_t* w, size_t row_bytes, int64_t b, Tail m) {
        const __m512i off = _mm512_mullo_epi32(lane_idx(), _mm512_set1_epi32(int(row_bytes)));
        const __m512i h = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m, off, w + b * x86::kQ8BlockBytes, 1);
        return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(h));  // low 16 bits of each dword
    }
    // 16 int32 sums of 4 products w * q: |w| * (q with w's sign) by a masked negate (no
    // vpsignb in AVX-512) and vpmaddubsw (|q| <= 127: no saturation), then vpmaddwd.
    static I dot_maddubs(I w, I q) {
        const __m512i qs = _mm512_mask_sub_epi8(q, _mm512_movepi8_mask(w), _mm512_setzero_si512(), q);
        return _mm512_madd_epi16(_mm512_maddubs_epi16(_mm512_abs_epi8(w), qs), _mm512_set1_epi16(1));
    }
    // VNNI pack: v[r] = row r's 32 quants, already transposed per 8 rows; the vector of
    // the same 4 bytes (index j) of all 16 rows: rows 0-7 low, 8-15 high.
    static I join_quads(const __m256i* v, int j) {
        return _mm512_inserti64x4(_mm512_castsi256_si512(v[j]), v[8 + j], 1);
    }
};

}  // namespace
}  // namespace kaa::kernels::avx512
