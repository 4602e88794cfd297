// vec512.hpp — AVX-512 building blocks shared by the avx512 kernel files.
//
// Everything here has internal linkage (anonymous namespace): these files are compiled
// with AVX-512 flags, and an inline function with external linkage could be merged by
// the linker with a baseline copy of the same name and then run on a CPU without AVX-512.
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

namespace kaa::kernels::avx512 {
namespace {

inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }

// Lanes [0, n) set, n in [0, 16].
inline __mmask16 lanes16(int64_t n) { return __mmask16(n >= 16 ? 0xffffu : (1u << n) - 1u); }

// Sum of the 16 lanes by halving: lane i + lane i+8, then +4, +2, +1. Every kernel that
// promises bitwise agreement between its paths reduces with this one function.
inline float hsum(__m512 v) {
    const __m256 a = _mm256_add_ps(_mm512_castps512_ps256(v),
                                   _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
    const __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    const __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
    const __m128 d = _mm_add_ss(c, _mm_movehdup_ps(c));
    return _mm_cvtss_f32(d);
}

// ---- weight loads: 16 consecutive elements of a row as f32 (exact conversions) ----------
inline __m512 load_f16(const uint16_t* p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}
inline __m512 load_f16(const uint16_t* p, __mmask16 m) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
}
// bf16 is the top half of an f32: widen to 32 bits and shift into place.
inline __m512 load_bf16(const uint16_t* p) {
    const __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
}
inline __m512 load_bf16(const uint16_t* p, __mmask16 m) {
    const __m512i w = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
}

// ---- elementary functions ----------------------------------------------------------------
// e^x: x = n ln2 + r, |r| <= ln2/2 (ln2 split in two for an exact n*ln2_hi), e^r by the
// Cephes expf polynomial (~1 ulp), then scalef multiplies by 2^n with correct overflow to
// inf and gradual underflow to 0.
inline __m512 exp16(__m512 x) {
    x = _mm512_max_ps(x, _mm512_set1_ps(-104.0f));  // e^-104 is below the smallest subnormal
    x = _mm512_min_ps(x, _mm512_set1_ps(89.0f));    // e^89 overflows: inf either way
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    const __m512 r2 = _mm512_mul_ps(r, r);
    p = _mm512_fmadd_ps(p, r2, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(p, n);
}

// 2^y: y = n + f, |f| <= 1/2, 2^f by the Cephes exp2f polynomial (rel. error ~2e-7),
// scalef for 2^n. The scan uses it with A pre-multiplied by log2(e), which saves the
// Cody-Waite reduction of exp16 on its hottest line.
inline __m512 exp2_16(__m512 y) {
    y = _mm512_max_ps(y, _mm512_set1_ps(-151.0f));  // 2^-151 rounds to 0; also keeps -inf finite
    const __m512 n = _mm512_roundscale_ps(y, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m512 f = _mm512_sub_ps(y, n);
    __m512 p = _mm512_set1_ps(1.535336188319500e-4f);
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.339887440266574e-3f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.618437357674640e-3f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.550332471162809e-2f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.402264791363012e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.931472028550421e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

// 1 / d to ~1 ulp: rcp14 plus one Newton step (a division costs ~10x more on zmm).
inline __m512 recip16(__m512 d) {
    const __m512 r = _mm512_rcp14_ps(d);
    return _mm512_fmadd_ps(r, _mm512_fnmadd_ps(d, r, _mm512_set1_ps(1.0f)), r);
}

// ln(x) for finite x > 0: x = m 2^e with m in [sqrt(1/2), sqrt(2)), ln(m) by the Cephes
// logf polynomial in (m - 1).
inline __m512 log16(__m512 x) {
    __m512 m = _mm512_getmant_ps(x, _MM_MANT_NORM_1_2, _MM_MANT_SIGN_zero);  // [1, 2)
    __m512 e = _mm512_getexp_ps(x);
    const __mmask16 big = _mm512_cmp_ps_mask(m, _mm512_set1_ps(1.41421356237f), _CMP_GT_OQ);
    m = _mm512_mask_mul_ps(m, big, m, _mm512_set1_ps(0.5f));
    e = _mm512_mask_add_ps(e, big, e, _mm512_set1_ps(1.0f));
    const __m512 f = _mm512_sub_ps(m, _mm512_set1_ps(1.0f));
    __m512 p = _mm512_set1_ps(7.0376836292e-2f);
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(-1.1514610310e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.1676998740e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(-1.2420140846e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.4249322787e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(-1.6668057665e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.0000714765e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(-2.4999993993e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(3.3333331174e-1f));
    const __m512 f2 = _mm512_mul_ps(f, f);
    p = _mm512_mul_ps(_mm512_mul_ps(p, f), f2);              // f^3 P(f)
    p = _mm512_fmadd_ps(e, _mm512_set1_ps(-2.12194440e-4f), p);  // low part of e ln2
    p = _mm512_fnmadd_ps(f2, _mm512_set1_ps(0.5f), p);       // - f^2/2
    const __m512 r = _mm512_add_ps(f, p);
    return _mm512_fmadd_ps(e, _mm512_set1_ps(0.693359375f), r);  // high part, exact
}

// softplus(v) = v for v > 20 (as the reference), else log1p(e^v). log1p(a) is computed
// as ln(1 + a) corrected by the rounding of 1 + a: ln(u) - ((u - 1) - a) / u.
inline __m512 softplus16(__m512 v) {
    const __m512 a = exp16(_mm512_min_ps(v, _mm512_set1_ps(20.0f)));
    const __m512 u = _mm512_add_ps(a, _mm512_set1_ps(1.0f));
    const __m512 err = _mm512_sub_ps(_mm512_sub_ps(u, _mm512_set1_ps(1.0f)), a);
    // the correction is tiny next to ln(u): rcp14's 2^-14 relative error is plenty
    const __m512 l = _mm512_sub_ps(log16(u), _mm512_mul_ps(err, _mm512_rcp14_ps(u)));
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, _mm512_set1_ps(20.0f), _CMP_GT_OQ), l, v);
}

// silu(v) = v / (1 + e^-v)
inline __m512 silu16(__m512 v) {
    const __m512 e = exp16(_mm512_sub_ps(_mm512_setzero_ps(), v));
    return _mm512_mul_ps(v, recip16(_mm512_add_ps(_mm512_set1_ps(1.0f), e)));
}

}  // namespace
}  // namespace kaa::kernels::avx512
