// vmath.inl — vectorized exp, 2^x, 1/x, ln, softplus and SiLU for the x86 kernels, over
// the vector traits V (avx2/vec256.hpp, avx512/vec512.hpp).
//
// The polynomials (Cephes expf, exp2f, logf) are shared; each ISA supplies the range
// handling it does best (V::kExpLo/kExpHi, V::exp2_clamp, V::scale_pow2, V::log_reduce,
// V::rcp): AVX-512 multiplies by 2^n with scalef and splits x with getmant/getexp, AVX2
// writes 2^n into the exponent field and splits x by bit masks. A backend's results thus
// depend only on its own traits (avx2 and avx512 agree to rounding, not to the bit).
#pragma once

#include "kernels/cpu/x86/common.hpp"

namespace kaa::kernels::x86 {
namespace {

// e^x: x = n ln2 + r, |r| <= ln2/2 (ln2 split in two for an exact n * ln2_hi), e^r by the
// Cephes expf polynomial (~1 ulp), times 2^n.
template <class V>
inline typename V::F vexp(typename V::F x) {
    using F = typename V::F;
    x = V::max(x, V::set1(V::kExpLo));
    x = V::min(x, V::set1(V::kExpHi));
    const F n = V::round(V::mul(x, V::set1(kLog2e)));
    F r = V::fnmadd(n, V::set1(0.693359375f), x);
    r = V::fnmadd(n, V::set1(-2.12194440e-4f), r);
    F p = V::set1(1.9875691500e-4f);
    p = V::fmadd(p, r, V::set1(1.3981999507e-3f));
    p = V::fmadd(p, r, V::set1(8.3334519073e-3f));
    p = V::fmadd(p, r, V::set1(4.1665795894e-2f));
    p = V::fmadd(p, r, V::set1(1.6666665459e-1f));
    p = V::fmadd(p, r, V::set1(5.0000001201e-1f));
    const F r2 = V::mul(r, r);
    p = V::fmadd(p, r2, V::add(r, V::set1(1.0f)));
    return V::scale_pow2(p, n);
}

// 2^y: y = n + f, |f| <= 1/2, 2^f by the Cephes exp2f polynomial (rel. error ~2e-7). The
// scan uses it with A pre-multiplied by log2(e), which saves vexp's Cody-Waite reduction
// on its hottest line.
template <class V>
inline typename V::F vexp2(typename V::F y) {
    using F = typename V::F;
    y = V::exp2_clamp(y);
    const F n = V::round(y);
    const F f = V::sub(y, n);
    F p = V::set1(1.535336188319500e-4f);
    p = V::fmadd(p, f, V::set1(1.339887440266574e-3f));
    p = V::fmadd(p, f, V::set1(9.618437357674640e-3f));
    p = V::fmadd(p, f, V::set1(5.550332471162809e-2f));
    p = V::fmadd(p, f, V::set1(2.402264791363012e-1f));
    p = V::fmadd(p, f, V::set1(6.931472028550421e-1f));
    p = V::fmadd(p, f, V::set1(1.0f));
    return V::scale_pow2(p, n);
}

// 1 / d: the hardware estimate plus one Newton step (a division costs ~10x more).
template <class V>
inline typename V::F vrecip(typename V::F d) {
    const typename V::F r = V::rcp(d);
    return V::fmadd(r, V::fnmadd(d, r, V::set1(1.0f)), r);
}

// ln(x) for normal x > 0: x = m 2^e with m in [sqrt(1/2), sqrt(2)), ln(m) by the Cephes
// logf polynomial in f = m - 1, e ln2 added in two parts (the high part exactly).
template <class V>
inline typename V::F vlog(typename V::F x) {
    using F = typename V::F;
    F m, e;
    V::log_reduce(x, m, e);
    const F f = V::sub(m, V::set1(1.0f));
    F p = V::set1(7.0376836292e-2f);
    p = V::fmadd(p, f, V::set1(-1.1514610310e-1f));
    p = V::fmadd(p, f, V::set1(1.1676998740e-1f));
    p = V::fmadd(p, f, V::set1(-1.2420140846e-1f));
    p = V::fmadd(p, f, V::set1(1.4249322787e-1f));
    p = V::fmadd(p, f, V::set1(-1.6668057665e-1f));
    p = V::fmadd(p, f, V::set1(2.0000714765e-1f));
    p = V::fmadd(p, f, V::set1(-2.4999993993e-1f));
    p = V::fmadd(p, f, V::set1(3.3333331174e-1f));
    const F f2 = V::mul(f, f);
    p = V::mul(V::mul(p, f), f2);                       // f^3 P(f)
    p = V::fmadd(e, V::set1(-2.12194440e-4f), p);      // low part of e ln2
    p = V::fnmadd(f2, V::set1(0.5f), p);               // - f^2/2
    const F r = V::add(f, p);
    return V::fmadd(e, V::set1(0.693359375f), r);      // high part, exact
}

// softplus(v) = v for v > 20 (as the reference), else log1p(e^v), computed as ln(1 + a)
// corrected by the rounding of u = 1 + a: ln(u) - ((u - 1) - a) / u. The correction is
// tiny next to ln(u): the bare reciprocal estimate is plenty.
template <class V>
inline typename V::F vsoftplus(typename V::F v) {
    using F = typename V::F;
    const F a = vexp<V>(V::min(v, V::set1(20.0f)));
    const F u = V::add(a, V::set1(1.0f));
    const F err = V::sub(V::sub(u, V::set1(1.0f)), a);
    const F l = V::sub(vlog<V>(u), V::mul(err, V::rcp(u)));
    return V::blend(l, v, V::gt(v, V::set1(20.0f)));
}

// silu(v) = v / (1 + e^-v)
template <class V>
inline typename V::F vsilu(typename V::F v) {
    const typename V::F e = vexp<V>(V::sub(V::zero(), v));
    return V::mul(v, vrecip<V>(V::add(V::set1(1.0f), e)));
}

}  // namespace
}  // namespace kaa::kernels::x86
