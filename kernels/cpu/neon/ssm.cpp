// NEON per-channel kernels: causal conv1d + SiLU, the selective scan with its gate, and
// RMS norm. Channels map to the 4 lanes of a float32x4 (groups [c0, c0+4), the last one
// partial and zero-padded), time is walked sequentially, and every lane does the same
// operations, so a channel's result does not depend on the [c_begin, c_end) split, the
// thread count or how T is chunked (prefill == token-by-token decode, bit for bit).
//
// Per-channel rows (conv weights, conv state, SSM state, A: channel-major) become
// per-lane vectors ("columns") when a group starts and go back when it ends: vld2/3/4
// (de-interleaving loads) for rows of 2..4 floats, 4 x 4 transposes for multiples of 4,
// lane by lane otherwise.
#include <cmath>

#include "kernels/cpu/neon/vec128.hpp"
#include "kernels/cpu/scratch.hpp"
#include "kernels/kernels.hpp"

namespace kaa::kernels::neon {
namespace {

// r[i] lane j <-> r[j] lane i.
inline void transpose4(float32x4_t (&r)[4]) {
    const float32x4_t t0 = vtrn1q_f32(r[0], r[1]), t1 = vtrn2q_f32(r[0], r[1]);
    const float32x4_t t2 = vtrn1q_f32(r[2], r[3]), t3 = vtrn2q_f32(r[2], r[3]);
    const auto lo = [](float32x4_t a, float32x4_t b) {
        return vreinterpretq_f32_f64(vtrn1q_f64(vreinterpretq_f64_f32(a), vreinterpretq_f64_f32(b)));
    };
    const auto hi = [](float32x4_t a, float32x4_t b) {
        return vreinterpretq_f32_f64(vtrn2q_f64(vreinterpretq_f64_f32(a), vreinterpretq_f64_f32(b)));
    };
    r[0] = lo(t0, t2);
    r[1] = lo(t1, t3);
    r[2] = hi(t0, t2);
    r[3] = hi(t1, t3);
}

// v[j] lane l = p[l * n + j] for lanes l < nl (other lanes 0), j < n.
inline void load_columns(const float* p, int64_t n, int64_t nl, float32x4_t* v) {
    if (nl == 4) {
        switch (n) {
            case 1: v[0] = vld1q_f32(p); return;
            case 2: { const float32x4x2_t r = vld2q_f32(p); v[0] = r.val[0]; v[1] = r.val[1]; return; }
            case 3: { const float32x4x3_t r = vld3q_f32(p); for (int j = 0; j < 3; ++j) v[j] = r.val[j]; return; }
            case 4: { const float32x4x4_t r = vld4q_f32(p); for (int j = 0; j < 4; ++j) v[j] = r.val[j]; return; }
            default: break;
        }
        if (n % 4 == 0) {
            for (int64_t j0 = 0; j0 < n; j0 += 4) {
                float32x4_t r[4];
                for (int l = 0; l < 4; ++l) r[l] = vld1q_f32(p + l * n + j0);
                transpose4(r);
                for (int j = 0; j < 4; ++j) v[j0 + j] = r[j];
            }
            return;
        }
    }
    for (int64_t j = 0; j < n; ++j) {
        float lane[4] = {0.0f, 0.0f, 0.0f, 0.0f};
        for (int64_t l = 0; l < nl; ++l) lane[l] = p[l * n + j];
        v[j] = vld1q_f32(lane);
    }
}

// Inverse of load_columns: p[l * n + j] = v[j] lane l for l < nl.
inline void store_columns(float* p, int64_t n, int64_t nl, const float32x4_t* v) {
    if (nl == 4) {
        switch (n) {
            case 1: vst1q_f32(p, v[0]); return;
            case 2: vst2q_f32(p, (float32x4x2_t{{v[0], v[1]}})); return;
            case 3: vst3q_f32(p, (float32x4x3_t{{v[0], v[1], v[2]}})); return;
            case 4: vst4q_f32(p, (float32x4x4_t{{v[0], v[1], v[2], v[3]}})); return;
            default: break;
        }
        if (n % 4 == 0) {
            for (int64_t j0 = 0; j0 < n; j0 += 4) {
                float32x4_t r[4] = {v[j0], v[j0 + 1], v[j0 + 2], v[j0 + 3]};
                transpose4(r);
                for (int l = 0; l < 4; ++l) vst1q_f32(p + l * n + j0, r[l]);
            }
            return;
        }
    }
    for (int64_t j = 0; j < n; ++j) {
        float lane[4];
        vst1q_f32(lane, v[j]);
        for (int64_t l = 0; l < nl; ++l) p[l * n + j] = lane[l];
    }
}

// ---- conv1d + SiLU -------------------------------------------------------------------------
// out[t] = silu(bias + fma chain over the window, oldest tap first); the window slides
// through registers (hist = the d_conv-1 previous inputs, oldest first).
template <int kDC>  // taps known at compile time (window in registers), or 0: any d_conv
void conv_group(const ConvParams& p, int64_t c0, int64_t nl, float32x4_t* scratch) {
    const int64_t DC = kDC > 0 ? kDC : p.d_conv, H = DC - 1;
    float32x4_t wloc[kDC > 0 ? kDC : 1], hloc[kDC > 1 ? kDC - 1 : 1];
    float32x4_t* w = kDC > 0 ? wloc : scratch;          // (d_conv) taps, lanes = channels
    float32x4_t* hist = kDC > 0 ? hloc : scratch + DC;  // (d_conv-1) past inputs
    load_columns(p.weight + c0 * DC, DC, nl, w);
    if (H > 0) load_columns(p.state + c0 * H, H, nl, hist);
    const float32x4_t bias = load_f32_n(p.bias + c0, nl);
    for (int64_t t = 0; t < p.T; ++t) {
        const float32x4_t xt = load_f32_n(p.x + t * p.x_stride + c0, nl);
        float32x4_t acc = vdupq_n_f32(0.0f);
        for (int64_t k = 0; k < H; ++k) acc = vfmaq_f32(acc, hist[k], w[k]);
        acc = vfmaq_f32(acc, xt, w[H]);
        store_f32_n(p.out + t * p.out_stride + c0, nl, silu4(vaddq_f32(acc, bias)));
        for (int64_t k = 0; k + 1 < H; ++k) hist[k] = hist[k + 1];
        if (H > 0) hist[H - 1] = xt;
    }
    if (H > 0) store_columns(p.state + c0 * H, H, nl, hist);
}

void conv1d_silu(const ConvParams& p) {
    float32x4_t* scratch = nullptr;
    if (p.d_conv != 4)
        scratch = static_cast<float32x4_t*>(thread_scratch(1, size_t(2 * p.d_conv) * sizeof(float32x4_t)));
    for (int64_t c0 = p.c_begin; c0 < p.c_end; c0 += 4) {
        const int64_t nl = imin(4, p.c_end - c0);
        if (p.d_conv == 4)
            conv_group<4>(p, c0, nl, scratch);
        else
            conv_group<0>(p, c0, nl, scratch);
    }
}

// ---- selective scan ------------------------------------------------------------------------
// For 4 channels at once, per step t:
//   dt = softplus(dt_raw + dt_bias), du = dt * u
//   S[s] = fma(S[s], exp(dt * A[s]), du * B[s]),  acc = fma(S[s], C[s], acc)   s = 0 .. N-1
//   y = fma(D, u, acc) * silu(z)
// With N = 16 known at compile time the loop is unrolled and S stays in registers for all
// T steps (16 of the 32 vector registers); A is reloaded from L1.
template <int kNS>
void scan_group(const ScanParams& p, int64_t c0, int64_t nl, float32x4_t* Sbuf, float32x4_t* Abuf) {
    const int64_t N = kNS > 0 ? kNS : p.d_state;
    float32x4_t Sloc[kNS > 0 ? kNS : 1], Aloc[kNS > 0 ? kNS : 1];
    float32x4_t* S = kNS > 0 ? Sloc : Sbuf;  // (d_state) states, lanes = channels
    float32x4_t* A = kNS > 0 ? Aloc : Abuf;  // (d_state)
    load_columns(p.state + c0 * N, N, nl, S);
    load_columns(p.A + c0 * N, N, nl, A);
    const float32x4_t bias = load_f32_n(p.dt_bias + c0, nl);
    const float32x4_t D = load_f32_n(p.D + c0, nl);
    for (int64_t t = 0; t < p.T; ++t) {
        const float32x4_t dt = softplus4(vaddq_f32(load_f32_n(p.dt_raw + t * p.dt_stride + c0, nl), bias));
        const float32x4_t u = load_f32_n(p.u + t * p.u_stride + c0, nl);
        const float32x4_t z = load_f32_n(p.z + t * p.z_stride + c0, nl);
        const float* B = p.B + t * p.B_stride;  // (d_state), shared by all channels
        const float* C = p.C + t * p.C_stride;
        const float32x4_t du = vmulq_f32(dt, u);
        float32x4_t acc = vdupq_n_f32(0.0f);
#if defined(__GNUC__)
#pragma GCC unroll 16
#endif
        for (int64_t s = 0; s < N; ++s) {
            const float32x4_t dA = exp4(vmulq_f32(dt, A[s]));
            const float32x4_t st = vfmaq_f32(vmulq_n_f32(du, B[s]), S[s], dA);
            S[s] = st;
            acc = vfmaq_n_f32(acc, st, C[s]);
        }
        const float32x4_t yv = vfmaq_f32(acc, D, u);
        store_f32_n(p.y + t * p.y_stride + c0, nl, vmulq_f32(yv, silu4(z)));
    }
    store_columns(p.state + c0 * N, N, nl, S);
}

void scan(const ScanParams& p) {
    const int64_t N = p.d_state;
    float32x4_t* buf = nullptr;
    if (N != 16) buf = static_cast<float32x4_t*>(thread_scratch(1, size_t(2 * N) * sizeof(float32x4_t)));
    for (int64_t c0 = p.c_begin; c0 < p.c_end; c0 += 4) {
        const int64_t nl = imin(4, p.c_end - c0);
        if (N == 16)
            scan_group<16>(p, c0, nl, nullptr, nullptr);
        else
            scan_group<0>(p, c0, nl, buf, buf + N);
    }
}

// ---- RMS norm ------------------------------------------------------------------------------
// The scalar reference's order exactly: 8 lanes (two vectors, element i in lane i % 8),
// separate multiply and add, ((a0+a4) + (a2+a6)) + ((a1+a5) + (a3+a7)). With a compiler
// that does not contract the reference's a += x * x into an fma (GCC in ISO C++ mode)
// the result equals the scalar one bit for bit.
void rms_norm(const float* x, const float* w, float* y, int64_t n, float eps) {
    float32x4_t lo = vdupq_n_f32(0.0f), hi = vdupq_n_f32(0.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const float32x4_t a = vld1q_f32(x + i), b = vld1q_f32(x + i + 4);
        lo = vaddq_f32(lo, vmulq_f32(a, a));
        hi = vaddq_f32(hi, vmulq_f32(b, b));
    }
    if (i < n) {  // the reference adds a tail element to lane (i - tail start)
        const float32x4_t a = load_f32_n(x + i, n - i);
        const float32x4_t b = n - i > 4 ? load_f32_n(x + i + 4, n - i - 4) : vdupq_n_f32(0.0f);
        lo = vaddq_f32(lo, vmulq_f32(a, a));
        hi = vaddq_f32(hi, vmulq_f32(b, b));
    }
    const float32x4_t s = vaddq_f32(lo, hi);                                   // [a0+a4, a1+a5, a2+a6, a3+a7]
    const float32x2_t t = vadd_f32(vget_low_f32(s), vget_high_f32(s));          // [s0+s2, s1+s3]
    const float ss = vget_lane_f32(t, 0) + vget_lane_f32(t, 1);
    const float scale = 1.0f / std::sqrt(ss / float(n) + eps);
    i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t v = vmulq_n_f32(vld1q_f32(x + i), scale);
        if (w) v = vmulq_f32(v, vld1q_f32(w + i));
        vst1q_f32(y + i, v);
    }
    if (i < n) {
        float32x4_t v = vmulq_n_f32(load_f32_n(x + i, n - i), scale);
        if (w) v = vmulq_f32(v, load_f32_n(w + i, n - i));
        store_f32_n(y + i, n - i, v);
    }
}

}  // namespace

void conv1d_silu_kernel(const ConvParams& p) { conv1d_silu(p); }
void scan_kernel(const ScanParams& p) { scan(p); }
void rms_norm_kernel(const float* x, const float* w, float* y, int64_t n, float eps) { rms_norm(x, w, y, n, eps); }

}  // namespace kaa::kernels::neon
