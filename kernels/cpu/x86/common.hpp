// common.hpp — helpers for the ISA-generic x86 kernels (kernels/cpu/x86/*.inl) and the
// vector traits they are instantiated with (avx2/vec256.hpp, avx512/vec512.hpp).
//
// How the x86 backends are built (CTranslate2 style): every algorithm is written once, in
// x86/*.inl, as templates over a vector traits type V (Vec256 or Vec512) that spells the
// lane-wise vocabulary (F, I, Tail, load, fmadd, hsum, ...) in that ISA's intrinsics and
// supplies the few steps that differ in more than the width (masked tails, scalef, the
// transposes, the int8 transpose-reduce). Each backend's thin .cpp files include their
// traits header and the .inl files and define the backend's entry points in its own
// namespace (kaa::kernels::avx2 / ::avx512); kernels/CMakeLists.txt compiles each of them
// with that ISA's flags.
//
// Linkage discipline (see also scratch.hpp): everything in these headers, templates
// included, sits in an anonymous namespace. Every instantiation is then private to the
// translation unit that made it, compiled with that unit's flags, so the linker can never
// merge an AVX-512 (or AVX-VNNI) copy of a function with a copy that baseline or AVX2 code
// calls. The only external symbols are the per-ISA entry points, whose names differ.
// Needs AVX (these files are only ever compiled with at least AVX2 + FMA + F16C).
#pragma once

#include <immintrin.h>

#include <cstdint>

// The lane-wise operations that both ISAs spell with the same intrinsic, differing only
// in the prefix (_mm256 / _mm512) and the integer-vector suffix (si256 / si512). Expanded
// inside each traits struct, after its F and I: KAA_X86_PREFIX_OPS(_mm256, si256).
#define KAA_X86_PREFIX_OPS(P, SI)                                                   \
    static F zero() { return P##_setzero_ps(); }                                    \
    static F set1(float v) { return P##_set1_ps(v); }                               \
    static F load(const float* p) { return P##_loadu_ps(p); }                       \
    static void store(float* p, F v) { P##_storeu_ps(p, v); }                       \
    static F add(F a, F b) { return P##_add_ps(a, b); }                             \
    static F sub(F a, F b) { return P##_sub_ps(a, b); }                             \
    static F mul(F a, F b) { return P##_mul_ps(a, b); }                             \
    static F min(F a, F b) { return P##_min_ps(a, b); }                             \
    static F max(F a, F b) { return P##_max_ps(a, b); }                             \
    static F fmadd(F a, F b, F c) { return P##_fmadd_ps(a, b, c); }   /* a*b + c */ \
    static F fnmadd(F a, F b, F c) { return P##_fnmadd_ps(a, b, c); } /* c - a*b */ \
    static F cvt_i32(I v) { return P##_cvtepi32_ps(v); }                            \
    static I zero_i() { return P##_setzero_##SI(); }                                \
    static I set1_i32(int32_t v) { return P##_set1_epi32(v); }                      \
    static I add_i32(I a, I b) { return P##_add_epi32(a, b); }                      \
    /* int16 pairs: a0 b0 + a1 b1 per int32 lane */                                 \
    static I madd_i16(I a, I b) { return P##_madd_epi16(a, b); }                    \
    /* int8 w -> w + 128 (w xor 0x80): vpdpbusd's unsigned operand */               \
    static I flip_sign_bits(I w) { return P##_xor_##SI(w, P##_set1_epi8(char(0x80))); }

namespace kaa::kernels::x86 {
namespace {

inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }

// exp(x) = 2^(x log2 e): the scan folds log2(e) into A once per channel group.
constexpr float kLog2e = 1.44269504088896341f;

// A Q8_0 block: f16 scale d, then 32 int8 quants q; the value is q * d.
constexpr int64_t kQ8BlockBytes = 34;

// Sum of 8 lanes by halving: lane i + lane i+4, then +2, +1. Both traits' hsum end with
// it (AVX-512 first adds its two 256-bit halves), and every kernel that promises bitwise
// agreement between its paths reduces with V::hsum.
inline float hsum8(__m256 v) {
    const __m128 b = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    const __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
    const __m128 d = _mm_add_ss(c, _mm_movehdup_ps(c));
    return _mm_cvtss_f32(d);
}

// 8 x 8 transpose of 32-bit lanes: r[i] lane j <-> r[j] lane i. Float shuffles only
// move bits, so the int form (the VNNI weight pack) goes through the same code.
inline void transpose8x8(__m256* r) {
    __m256 t[8], u[8];
    for (int i = 0; i < 4; ++i) {
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 2; ++i) {
        u[4 * i + 0] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        u[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0xee);
        u[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        u[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xee);
    }
    for (int j = 0; j < 4; ++j) {
        r[j] = _mm256_permute2f128_ps(u[j], u[4 + j], 0x20);
        r[j + 4] = _mm256_permute2f128_ps(u[j], u[4 + j], 0x31);
    }
}
inline void transpose8x8(__m256i* r) {
    __m256 f[8];
    for (int i = 0; i < 8; ++i) f[i] = _mm256_castsi256_ps(r[i]);
    transpose8x8(f);
    for (int i = 0; i < 8; ++i) r[i] = _mm256_castps_si256(f[i]);
}

}  // namespace
}  // namespace kaa::kernels::x86
