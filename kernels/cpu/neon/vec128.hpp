// vec128.hpp — AArch64 Advanced SIMD (NEON) building blocks shared by the neon kernel files.
//
// Internal linkage only (anonymous namespace): matmul_q8_dot.cpp includes this header
// under -march=armv8.2-a+dotprod, and an inline function with external linkage compiled
// there could be picked by the linker for baseline (armv8.0) callers.
//
// Everything here is plain ARMv8.0-A NEON, mandatory on every AArch64 CPU: f32 FMA
// (vfmaq_f32), f16 <-> f32 widening (vcvt_f32_f16, exact, subnormals included as long as
// FPCR.FZ16/FZ are off, the Linux default), round-to-nearest-even (vrndnq / vcvtnq).
#pragma once

#include <arm_neon.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace kaa::kernels::neon {
namespace {

inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }

// Read hint for the weight streams of GEMV (decode reads each weight once).
inline void prefetch(const void* p) {
#if defined(__GNUC__) || defined(__clang__)
    __builtin_prefetch(p);
#else
    (void)p;
#endif
}

// Sum of the 4 lanes as (v0 + v2) + (v1 + v3). Every kernel that promises bitwise
// agreement between its paths reduces with this one function.
inline float hsum(float32x4_t v) {
    const float32x2_t s = vadd_f32(vget_low_f32(v), vget_high_f32(v));
    return vget_lane_f32(vpadd_f32(s, s), 0);
}

// ---- partial vectors (tails of rows, channel groups of fewer than 4) -----------------------
// n in [0, 4] floats from p, zero-padded; never reads past p + n.
inline float32x4_t load_f32_n(const float* p, int64_t n) {
    if (n >= 4) return vld1q_f32(p);
    float buf[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    std::memcpy(buf, p, size_t(n) * sizeof(float));
    return vld1q_f32(buf);
}
// The first n lanes of v to p; never writes past p + n.
inline void store_f32_n(float* p, int64_t n, float32x4_t v) {
    if (n >= 4) {
        vst1q_f32(p, v);
        return;
    }
    float buf[4];
    vst1q_f32(buf, v);
    std::memcpy(p, buf, size_t(n) * sizeof(float));
}

// ---- 16-bit floats -------------------------------------------------------------------------
inline float32x4_t f16x4_to_f32(uint16x4_t h) { return vcvt_f32_f16(vreinterpret_f16_u16(h)); }
inline float32x4_t bf16x4_to_f32(uint16x4_t h) { return vreinterpretq_f32_u32(vshll_n_u16(h, 16)); }
inline float half_to_float(uint16_t h) { return vgetq_lane_f32(f16x4_to_f32(vdup_n_u16(h)), 0); }

// 8 halves / bfloats -> two f32 vectors (elements 0..3, 4..7).
inline float32x4x2_t load_f16x8(const uint16_t* p) {
    const uint16x8_t u = vld1q_u16(p);
    return {{f16x4_to_f32(vget_low_u16(u)), vcvt_high_f32_f16(vreinterpretq_f16_u16(u))}};
}
inline float32x4x2_t load_bf16x8(const uint16_t* p) {
    const uint16x8_t u = vld1q_u16(p);
    return {{bf16x4_to_f32(vget_low_u16(u)), vreinterpretq_f32_u32(vshll_high_n_u16(u, 16))}};
}
// n in [0, 4] 16-bit values, zero-padded (0 is +0.0 in both formats).
inline uint16x4_t load_u16_n(const uint16_t* p, int64_t n) {
    if (n >= 4) return vld1_u16(p);
    uint16_t buf[4] = {0, 0, 0, 0};
    std::memcpy(buf, p, size_t(n) * 2);
    return vld1_u16(buf);
}

// ---- elementary functions, 4 lanes ---------------------------------------------------------
// e^x for x clamped to [-87.3, 88]: x = n ln2 + r with |r| <= ln2 / 2 (ln2 split in two
// so n ln2 is exact enough), e^r by a degree-7 minimax polynomial (Cephes expf), 2^n put
// in the exponent field. Results stop at ~1.2e-38 below and ~1.7e38 above instead of
// flushing to 0 / overflowing to inf, which the scan and SiLU tolerate (they only ever
// multiply or divide by it). Relative error ~2 ulp.
inline float32x4_t exp4(float32x4_t x) {
    x = vmaxq_f32(vminq_f32(x, vdupq_n_f32(88.0f)), vdupq_n_f32(-87.3f));
    const float32x4_t n = vrndnq_f32(vmulq_n_f32(x, 1.44269504088896341f));
    float32x4_t r = vfmsq_f32(x, n, vdupq_n_f32(0.693359375f));
    r = vfmsq_f32(r, n, vdupq_n_f32(-2.12194440e-4f));
    float32x4_t p = vdupq_n_f32(1.9875691500e-4f);
    p = vfmaq_f32(vdupq_n_f32(1.3981999507e-3f), p, r);
    p = vfmaq_f32(vdupq_n_f32(8.3334519073e-3f), p, r);
    p = vfmaq_f32(vdupq_n_f32(4.1665795894e-2f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.6666665459e-1f), p, r);
    p = vfmaq_f32(vdupq_n_f32(5.0000001201e-1f), p, r);
    p = vfmaq_f32(vaddq_f32(r, vdupq_n_f32(1.0f)), p, vmulq_f32(r, r));  // 1 + r + r^2 p(r)
    const int32x4_t e = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23);
    return vmulq_f32(p, vreinterpretq_f32_s32(e));
}

// ln(x) for normal x > 0: x = 2^e m with m in [sqrt(1/2), sqrt(2)), ln(m) = f - f^2/2 +
// f^3 P(f) with f = m - 1 (Cephes logf), e ln2 added in two parts.
inline float32x4_t log4(float32x4_t x) {
    const int32x4_t bits = vreinterpretq_s32_f32(x);
    float32x4_t e = vcvtq_f32_s32(vsubq_s32(vshrq_n_s32(bits, 23), vdupq_n_s32(127)));
    float32x4_t m = vreinterpretq_f32_s32(vorrq_s32(vandq_s32(bits, vdupq_n_s32(0x007fffff)), vdupq_n_s32(0x3f800000)));
    const uint32x4_t big = vcgtq_f32(m, vdupq_n_f32(1.41421356237f));  // m in [1, 2): halve the top
    m = vbslq_f32(big, vmulq_n_f32(m, 0.5f), m);
    e = vaddq_f32(e, vreinterpretq_f32_u32(vandq_u32(big, vreinterpretq_u32_f32(vdupq_n_f32(1.0f)))));
    const float32x4_t f = vsubq_f32(m, vdupq_n_f32(1.0f));
    float32x4_t p = vdupq_n_f32(7.0376836292e-2f);
    p = vfmaq_f32(vdupq_n_f32(-1.1514610310e-1f), p, f);
    p = vfmaq_f32(vdupq_n_f32(1.1676998740e-1f), p, f);
    p = vfmaq_f32(vdupq_n_f32(-1.2420140846e-1f), p, f);
    p = vfmaq_f32(vdupq_n_f32(1.4249322787e-1f), p, f);
    p = vfmaq_f32(vdupq_n_f32(-1.6668057665e-1f), p, f);
    p = vfmaq_f32(vdupq_n_f32(2.0000714765e-1f), p, f);
    p = vfmaq_f32(vdupq_n_f32(-2.4999993993e-1f), p, f);
    p = vfmaq_f32(vdupq_n_f32(3.3333331174e-1f), p, f);
    const float32x4_t f2 = vmulq_f32(f, f);
    p = vmulq_f32(vmulq_f32(p, f), f2);
    p = vfmaq_f32(p, e, vdupq_n_f32(-2.12194440e-4f));
    p = vfmsq_f32(p, f2, vdupq_n_f32(0.5f));
    return vfmaq_f32(vaddq_f32(f, p), e, vdupq_n_f32(0.693359375f));
}

// softplus(v) = v for v > 20 (as the reference), else log1p(e^v) computed as
// ln(u) - ((u - 1) - a) / u with a = e^v, u = 1 + a: the correction term restores what
// rounding 1 + a lost, so tiny a (very negative v) still gives ~a rather than 0.
inline float32x4_t softplus4(float32x4_t v) {
    const float32x4_t a = exp4(vminq_f32(v, vdupq_n_f32(20.0f)));
    const float32x4_t u = vaddq_f32(a, vdupq_n_f32(1.0f));
    const float32x4_t err = vsubq_f32(vsubq_f32(u, vdupq_n_f32(1.0f)), a);
    const float32x4_t l = vsubq_f32(log4(u), vdivq_f32(err, u));
    return vbslq_f32(vcgtq_f32(v, vdupq_n_f32(20.0f)), v, l);
}

inline float32x4_t silu4(float32x4_t v) { return vdivq_f32(v, vaddq_f32(vdupq_n_f32(1.0f), exp4(vnegq_f32(v)))); }

}  // namespace
}  // namespace kaa::kernels::neon
