// AVX-512 per-channel kernels: causal conv1d + SiLU, the selective scan with its gate,
// and RMS norm. Channels map to the 16 lanes of a vector (channel groups [c0, c0+16),
// the last one masked), time is walked sequentially, and every lane does exactly the
// same operations, so a channel's result does not depend on the [c_begin, c_end) split.
#include "kernels/cpu/avx512/vec512.hpp"
#include "kernels/cpu/scratch.hpp"
#include "kernels/kernels.hpp"

namespace kaa::kernels::avx512 {
namespace {

// (Not a namespace-scope constant: its initializer would run AVX-512 code at program
// start, on every CPU.)
inline __m512i lane_idx() { return _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15); }

// In-register transpose of a 16 x 16 block: r[i] lane j <-> r[j] lane i.
inline void transpose16(__m512 (&r)[16]) {
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

// Column j (j < n) of the (lanes x n) row-major block at p: v[j] lane l = p[l * n + j].
inline void load_columns(const float* p, int64_t n, __mmask16 m, __m512* v) {
    const __m512i base = _mm512_mullo_epi32(lane_idx(), _mm512_set1_epi32(int(n)));
    for (int64_t j = 0; j < n; ++j)
        v[j] = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, _mm512_add_epi32(base, _mm512_set1_epi32(int(j))),
                                        p, 4);
}
inline void store_columns(float* p, int64_t n, __mmask16 m, const __m512* v) {
    const __m512i base = _mm512_mullo_epi32(lane_idx(), _mm512_set1_epi32(int(n)));
    for (int64_t j = 0; j < n; ++j)
        _mm512_mask_i32scatter_ps(p, m, _mm512_add_epi32(base, _mm512_set1_epi32(int(j))), v[j], 4);
}

// ---- conv1d + SiLU -------------------------------------------------------------------------
// kDC > 0: taps known at compile time (window kept in registers); 0: any d_conv.
template <int kDC>
void conv_group(const ConvParams& p, int64_t c0, __mmask16 m, __m512* scratch) {
    const int64_t DC = kDC > 0 ? kDC : p.d_conv, H = DC - 1;
    __m512 wloc[kDC > 0 ? kDC : 1], hloc[kDC > 1 ? kDC - 1 : 1];
    __m512* w = kDC > 0 ? wloc : scratch;        // (d_conv) taps, lanes = channels
    __m512* hist = kDC > 0 ? hloc : scratch + DC;  // (d_conv-1) past inputs, oldest first
    load_columns(p.weight + c0 * DC, DC, m, w);
    if (H > 0) load_columns(p.state + c0 * H, H, m, hist);
    const __m512 bias = _mm512_maskz_loadu_ps(m, p.bias + c0);
    for (int64_t t = 0; t < p.T; ++t) {
        const __m512 xt = _mm512_maskz_loadu_ps(m, p.x + t * p.x_stride + c0);
        __m512 acc = _mm512_setzero_ps();
        for (int64_t k = 0; k < H; ++k) acc = _mm512_fmadd_ps(hist[k], w[k], acc);
        acc = _mm512_fmadd_ps(xt, w[H], acc);
        _mm512_mask_storeu_ps(p.out + t * p.out_stride + c0, m, silu16(_mm512_add_ps(acc, bias)));
        for (int64_t k = 0; k + 1 < H; ++k) hist[k] = hist[k + 1];
        if (H > 0) hist[H - 1] = xt;
    }
    if (H > 0) store_columns(p.state + c0 * H, H, m, hist);
}

void conv1d_silu(const ConvParams& p) {
    __m512* scratch = nullptr;
    if (p.d_conv != 4) scratch = static_cast<__m512*>(thread_scratch(1, size_t(2 * p.d_conv) * sizeof(__m512)));
    for (int64_t c0 = p.c_begin; c0 < p.c_end; c0 += 16) {
        const __mmask16 m = lanes16(p.c_end - c0);
        if (p.d_conv == 4)
            conv_group<4>(p, c0, m, scratch);
        else
            conv_group<0>(p, c0, m, scratch);
    }
}

// ---- selective scan ------------------------------------------------------------------------
// exp(dt * A) is computed as 2^(dt * (A log2 e)), A scaled once per group.
constexpr float kLog2e = 1.44269504088896341f;

// One time step for a group: dt, du and the gate are per lane; S[s], A[s] per state.
template <int kNS>
inline void scan_steps(const ScanParams& p, int64_t c0, __mmask16 m, __m512* S, const __m512* A) {
    const int64_t N = kNS > 0 ? kNS : p.d_state;
    const __m512 bias = _mm512_maskz_loadu_ps(m, p.dt_bias + c0);
    const __m512 D = _mm512_maskz_loadu_ps(m, p.D + c0);
    for (int64_t t = 0; t < p.T; ++t) {
        const __m512 dt = softplus16(_mm512_add_ps(_mm512_maskz_loadu_ps(m, p.dt_raw + t * p.dt_stride + c0), bias));
        const __m512 u = _mm512_maskz_loadu_ps(m, p.u + t * p.u_stride + c0);
        const __m512 z = _mm512_maskz_loadu_ps(m, p.z + t * p.z_stride + c0);
        const float* B = p.B + t * p.B_stride;
        const float* C = p.C + t * p.C_stride;
        const __m512 du = _mm512_mul_ps(dt, u);
        __m512 acc = _mm512_setzero_ps();
        // Unrolled for a compile-time d_state, so S[] lives in registers across all T.
#if defined(__GNUC__)
#pragma GCC unroll 16
#endif
        for (int64_t s = 0; s < N; ++s) {
            const __m512 dA = exp2_16(_mm512_mul_ps(dt, A[s]));  // A[s] holds A * log2(e)
            S[s] = _mm512_fmadd_ps(S[s], dA, _mm512_mul_ps(du, _mm512_set1_ps(B[s])));
            acc = _mm512_fmadd_ps(S[s], _mm512_set1_ps(C[s]), acc);
        }
        const __m512 yv = _mm512_fmadd_ps(D, u, acc);
        _mm512_mask_storeu_ps(p.y + t * p.y_stride + c0, m, _mm512_mul_ps(yv, silu16(z)));
    }
}

void scan(const ScanParams& p) {
    const int64_t N = p.d_state;
    // General d_state: state and A of a group live in scratch (L1) as N vectors each.
    __m512* buf = nullptr;
    if (N != 16) buf = static_cast<__m512*>(thread_scratch(1, size_t(2 * N) * sizeof(__m512)));
    for (int64_t c0 = p.c_begin; c0 < p.c_end; c0 += 16) {
        const int64_t nl = imin(16, p.c_end - c0);
        const __mmask16 m = lanes16(nl);
        if (N == 16) {
            // d_state = 16 (every Mamba-1 model): the 16 x 16 state block of a full group
            // is transposed in registers and stays there for all T steps.
            __m512 S[16], A[16];
            if (nl == 16) {
                for (int s = 0; s < 16; ++s) S[s] = _mm512_loadu_ps(p.state + (c0 + s) * 16);
                for (int s = 0; s < 16; ++s) A[s] = _mm512_loadu_ps(p.A + (c0 + s) * 16);
                transpose16(S);
                transpose16(A);
            } else {
                load_columns(p.state + c0 * 16, 16, m, S);
                load_columns(p.A + c0 * 16, 16, m, A);
            }
            for (int s = 0; s < 16; ++s) A[s] = _mm512_mul_ps(A[s], _mm512_set1_ps(kLog2e));
            scan_steps<16>(p, c0, m, S, A);
            if (nl == 16) {
                transpose16(S);
                for (int s = 0; s < 16; ++s) _mm512_storeu_ps(p.state + (c0 + s) * 16, S[s]);
            } else {
                store_columns(p.state + c0 * 16, 16, m, S);
            }
        } else {
            __m512* S = buf;
            __m512* A = buf + N;
            load_columns(p.state + c0 * N, N, m, S);
            load_columns(p.A + c0 * N, N, m, A);
            for (int64_t s = 0; s < N; ++s) A[s] = _mm512_mul_ps(A[s], _mm512_set1_ps(kLog2e));
            scan_steps<0>(p, c0, m, S, A);
            store_columns(p.state + c0 * N, N, m, S);
        }
    }
}

// ---- RMS norm ------------------------------------------------------------------------------
void rms_norm(const float* x, const float* w, float* y, int64_t n, float eps) {
    __m512 acc = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 v = _mm512_loadu_ps(x + i);
        acc = _mm512_fmadd_ps(v, v, acc);
    }
    if (i < n) {
        const __m512 v = _mm512_maskz_loadu_ps(lanes16(n - i), x + i);
        acc = _mm512_fmadd_ps(v, v, acc);
    }
    const float scale = 1.0f / _mm_cvtss_f32(_mm_sqrt_ss(_mm_set_ss(hsum(acc) / float(n) + eps)));
    const __m512 sv = _mm512_set1_ps(scale);
    for (i = 0; i < n; i += 16) {
        const __mmask16 m = lanes16(n - i);
        __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), sv);
        if (w) v = _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, w + i));
        _mm512_mask_storeu_ps(y + i, m, v);
    }
}

}  // namespace

void conv1d_silu_kernel(const ConvParams& p) { conv1d_silu(p); }
void scan_kernel(const ScanParams& p) { scan(p); }
void rms_norm_kernel(const float* x, const float* w, float* y, int64_t n, float eps) { rms_norm(x, w, y, n, eps); }

}  // namespace kaa::kernels::avx512
