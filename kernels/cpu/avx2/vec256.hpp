// vec256.hpp — AVX2 + FMA + F16C building blocks shared by the avx2 kernel files.
//
// Internal linkage only (anonymous namespace): these files are compiled with AVX2 flags
// and must not lend an inline function to baseline code through the linker.
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace kaa::kernels::avx2 {
namespace {

inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }

// All-ones in lanes [0, n), n in [0, 8]; for maskload/maskstore.
inline __m256i lanes8(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(int(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// Sum of the 8 lanes by halving: lane i + lane i+4, then +2, +1. Every kernel that
// promises bitwise agreement between its paths reduces with this one function.
inline float hsum(__m256 v) {
    const __m128 b = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    const __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
    const __m128 d = _mm_add_ss(c, _mm_movehdup_ps(c));
    return _mm_cvtss_f32(d);
}

inline __m256 load_f16(const uint16_t* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
inline __m256 load_bf16(const uint16_t* p) {
    const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}
// n < 8 halves/bfloats, zero-padded through a small copy (AVX2 has no 16-bit masked load).
inline __m128i load_u16_tail(const uint16_t* p, int64_t n) {
    alignas(16) uint16_t buf[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    std::memcpy(buf, p, size_t(n) * 2);
    return _mm_load_si128(reinterpret_cast<const __m128i*>(buf));
}
inline __m256 load_f16(const uint16_t* p, int64_t n) { return _mm256_cvtph_ps(load_u16_tail(p, n)); }
inline __m256 load_bf16(const uint16_t* p, int64_t n) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(load_u16_tail(p, n)), 16));
}

// ---- elementary functions (as in avx512/vec512.hpp, without scalef/getexp) ---------------
// e^x for x clamped to [-87.3, 88]: 2^n is built in the exponent field, so results stop
// at ~1.2e-38 below and ~1.7e38 above instead of flushing to 0 / overflowing to inf.
inline __m256 exp8(__m256 x) {
    x = _mm256_max_ps(x, _mm256_set1_ps(-87.3f));
    x = _mm256_min_ps(x, _mm256_set1_ps(88.0f));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    const __m256 r2 = _mm256_mul_ps(r, r);
    p = _mm256_fmadd_ps(p, r2, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

// 2^y for y clamped to [-126, 127.99] (Cephes exp2f polynomial, rel. error ~2e-7); the
// scan calls it with A pre-multiplied by log2(e).
inline __m256 exp2_8(__m256 y) {
    y = _mm256_max_ps(y, _mm256_set1_ps(-126.0f));
    y = _mm256_min_ps(y, _mm256_set1_ps(127.0f));
    const __m256 n = _mm256_round_ps(y, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m256 f = _mm256_sub_ps(y, n);
    __m256 p = _mm256_set1_ps(1.535336188319500e-4f);
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.339887440266574e-3f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(9.618437357674640e-3f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(5.550332471162809e-2f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(2.402264791363012e-1f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(6.931472028550421e-1f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.0f));
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

// 1 / d: rcp (12 bits) plus one Newton step (~23 bits).
inline __m256 recip8(__m256 d) {
    const __m256 r = _mm256_rcp_ps(d);
    return _mm256_fmadd_ps(r, _mm256_fnmadd_ps(d, r, _mm256_set1_ps(1.0f)), r);
}

// ln(x) for normal x > 0 (Cephes logf polynomial, m in [sqrt(1/2), sqrt(2))).
inline __m256 log8(__m256 x) {
    const __m256i bits = _mm256_castps_si256(x);
    __m256 e = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32(bits, 23), _mm256_set1_epi32(127)));
    __m256 m = _mm256_castsi256_ps(
        _mm256_or_si256(_mm256_and_si256(bits, _mm256_set1_epi32(0x007fffff)), _mm256_set1_epi32(0x3f800000)));
    const __m256 big = _mm256_cmp_ps(m, _mm256_set1_ps(1.41421356237f), _CMP_GT_OQ);
    m = _mm256_blendv_ps(m, _mm256_mul_ps(m, _mm256_set1_ps(0.5f)), big);
    e = _mm256_add_ps(e, _mm256_and_ps(big, _mm256_set1_ps(1.0f)));
    const __m256 f = _mm256_sub_ps(m, _mm256_set1_ps(1.0f));
    __m256 p = _mm256_set1_ps(7.0376836292e-2f);
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(-1.1514610310e-1f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.1676998740e-1f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(-1.2420140846e-1f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.4249322787e-1f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(-1.6668057665e-1f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(2.0000714765e-1f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(-2.4999993993e-1f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(3.3333331174e-1f));
    const __m256 f2 = _mm256_mul_ps(f, f);
    p = _mm256_mul_ps(_mm256_mul_ps(p, f), f2);
    p = _mm256_fmadd_ps(e, _mm256_set1_ps(-2.12194440e-4f), p);
    p = _mm256_fnmadd_ps(f2, _mm256_set1_ps(0.5f), p);
    const __m256 r = _mm256_add_ps(f, p);
    return _mm256_fmadd_ps(e, _mm256_set1_ps(0.693359375f), r);
}

// softplus(v) = v for v > 20, else log1p(e^v) = ln(u) - ((u - 1) - a) / u with u = 1 + a.
inline __m256 softplus8(__m256 v) {
    const __m256 a = exp8(_mm256_min_ps(v, _mm256_set1_ps(20.0f)));
    const __m256 u = _mm256_add_ps(a, _mm256_set1_ps(1.0f));
    const __m256 err = _mm256_sub_ps(_mm256_sub_ps(u, _mm256_set1_ps(1.0f)), a);
    // the correction is tiny next to ln(u): rcp's 2^-12 relative error is plenty
    const __m256 l = _mm256_sub_ps(log8(u), _mm256_mul_ps(err, _mm256_rcp_ps(u)));
    return _mm256_blendv_ps(l, v, _mm256_cmp_ps(v, _mm256_set1_ps(20.0f), _CMP_GT_OQ));
}

inline __m256 silu8(__m256 v) {
    const __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), v));
    return _mm256_mul_ps(v, recip8(_mm256_add_ps(_mm256_set1_ps(1.0f), e)));
}

}  // namespace
}  // namespace kaa::kernels::avx2
