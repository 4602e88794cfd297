// AVX2 per-channel kernels: causal conv1d + SiLU, the selective scan with its gate, and
// RMS norm. Channels map to the 8 lanes of a vector (groups [c0, c0+8), the last one
// masked), time is walked sequentially, and every lane does the same operations, so a
// channel's result does not depend on the [c_begin, c_end) split.
//
// Per-channel rows (state, A, conv weights: channel-major) are turned into per-lane
// vectors ("columns") when a group starts and back when it ends: an 8 x 8 in-register
// transpose for whole blocks, gathers (in) and scalar stores (out) for the rest.
#include "kernels/cpu/avx2/vec256.hpp"
#include "kernels/cpu/scratch.hpp"
#include "kernels/kernels.hpp"

namespace kaa::kernels::avx2 {
namespace {

// r[i] lane j <-> r[j] lane i.
inline void transpose8(__m256 (&r)[8]) {
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

// v[j] lane l = p[l * n + j] for lanes l < nl (other lanes 0), j < n: 8 x 8 transposes
// for whole blocks, masked gathers for the rest (conv taps, d_state < 8).
inline void load_columns(const float* p, int64_t n, int64_t nl, __m256* v) {
    int64_t j0 = 0;
    if (nl == 8) {
        for (; j0 + 8 <= n; j0 += 8) {
            __m256 r[8];
            for (int l = 0; l < 8; ++l) r[l] = _mm256_loadu_ps(p + l * n + j0);
            transpose8(r);
            for (int j = 0; j < 8; ++j) v[j0 + j] = r[j];
        }
    }
    if (j0 == n) return;
    // remaining columns: masked gathers (lanes >= nl read nothing and give 0)
    const __m256i m = lanes8(nl);
    const __m256i idx = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(int(n)));
    for (int64_t j = j0; j < n; ++j)
        v[j] = _mm256_mask_i32gather_ps(_mm256_setzero_ps(), p + j, idx, _mm256_castsi256_ps(m), 4);
}
inline void store_columns(float* p, int64_t n, int64_t nl, const __m256* v) {
    int64_t j0 = 0;
    if (nl == 8) {
        for (; j0 + 8 <= n; j0 += 8) {
            __m256 r[8];
            for (int j = 0; j < 8; ++j) r[j] = v[j0 + j];
            transpose8(r);
            for (int l = 0; l < 8; ++l) _mm256_storeu_ps(p + l * n + j0, r[l]);
        }
    }
    for (int64_t j = j0; j < n; ++j) {
        alignas(32) float lane[8];
        _mm256_store_ps(lane, v[j]);
        for (int64_t l = 0; l < nl; ++l) p[l * n + j] = lane[l];
    }
}

// ---- conv1d + SiLU -------------------------------------------------------------------------
template <int kDC>  // taps known at compile time (window in registers), or 0: any d_conv
void conv_group(const ConvParams& p, int64_t c0, int64_t nl, __m256* scratch) {
    const int64_t DC = kDC > 0 ? kDC : p.d_conv, H = DC - 1;
    __m256 wloc[kDC > 0 ? kDC : 1], hloc[kDC > 1 ? kDC - 1 : 1];
    __m256* w = kDC > 0 ? wloc : scratch;          // (d_conv) taps, lanes = channels
    __m256* hist = kDC > 0 ? hloc : scratch + DC;  // (d_conv-1) past inputs, oldest first
    const __m256i m = lanes8(nl);
    load_columns(p.weight + c0 * DC, DC, nl, w);
    if (H > 0) load_columns(p.state + c0 * H, H, nl, hist);
    const __m256 bias = _mm256_maskload_ps(p.bias + c0, m);
    for (int64_t t = 0; t < p.T; ++t) {
        const __m256 xt = _mm256_maskload_ps(p.x + t * p.x_stride + c0, m);
        __m256 acc = _mm256_setzero_ps();
        for (int64_t k = 0; k < H; ++k) acc = _mm256_fmadd_ps(hist[k], w[k], acc);
        acc = _mm256_fmadd_ps(xt, w[H], acc);
        _mm256_maskstore_ps(p.out + t * p.out_stride + c0, m, silu8(_mm256_add_ps(acc, bias)));
        for (int64_t k = 0; k + 1 < H; ++k) hist[k] = hist[k + 1];
        if (H > 0) hist[H - 1] = xt;
    }
    if (H > 0) store_columns(p.state + c0 * H, H, nl, hist);
}

void conv1d_silu(const ConvParams& p) {
    __m256* scratch = nullptr;
    if (p.d_conv != 4) scratch = static_cast<__m256*>(thread_scratch(1, size_t(2 * p.d_conv) * sizeof(__m256)));
    for (int64_t c0 = p.c_begin; c0 < p.c_end; c0 += 8) {
        const int64_t nl = imin(8, p.c_end - c0);
        if (p.d_conv == 4)
            conv_group<4>(p, c0, nl, scratch);
        else
            conv_group<0>(p, c0, nl, scratch);
    }
}

// ---- selective scan ------------------------------------------------------------------------
// S and A: (d_state) vectors in L1 scratch (16 states would take every ymm register).
template <int kNS>
void scan_group(const ScanParams& p, int64_t c0, int64_t nl, __m256* S, __m256* A) {
    const int64_t N = kNS > 0 ? kNS : p.d_state;
    const __m256i m = lanes8(nl);
    load_columns(p.state + c0 * N, N, nl, S);
    load_columns(p.A + c0 * N, N, nl, A);
    for (int64_t s = 0; s < N; ++s) A[s] = _mm256_mul_ps(A[s], _mm256_set1_ps(1.44269504088896341f));  // exp -> exp2
    const __m256 bias = _mm256_maskload_ps(p.dt_bias + c0, m);
    const __m256 D = _mm256_maskload_ps(p.D + c0, m);
    for (int64_t t = 0; t < p.T; ++t) {
        const __m256 dt = softplus8(_mm256_add_ps(_mm256_maskload_ps(p.dt_raw + t * p.dt_stride + c0, m), bias));
        const __m256 u = _mm256_maskload_ps(p.u + t * p.u_stride + c0, m);
        const __m256 z = _mm256_maskload_ps(p.z + t * p.z_stride + c0, m);
        const float* B = p.B + t * p.B_stride;
        const float* C = p.C + t * p.C_stride;
        const __m256 du = _mm256_mul_ps(dt, u);
        __m256 acc = _mm256_setzero_ps();
        // Unrolled for a compile-time d_state, so S[] lives in registers across all T.
#if defined(__GNUC__)
#pragma GCC unroll 16
#endif
        for (int64_t s = 0; s < N; ++s) {
            const __m256 dA = exp2_8(_mm256_mul_ps(dt, A[s]));  // A[s] holds A * log2(e)
            const __m256 st = _mm256_fmadd_ps(S[s], dA, _mm256_mul_ps(du, _mm256_broadcast_ss(B + s)));
            S[s] = st;
            acc = _mm256_fmadd_ps(st, _mm256_broadcast_ss(C + s), acc);
        }
        const __m256 yv = _mm256_fmadd_ps(D, u, acc);
        _mm256_maskstore_ps(p.y + t * p.y_stride + c0, m, _mm256_mul_ps(yv, silu8(z)));
    }
    store_columns(p.state + c0 * N, N, nl, S);
}

void scan(const ScanParams& p) {
    const int64_t N = p.d_state;
    auto* buf = static_cast<__m256*>(thread_scratch(1, size_t(2 * N) * sizeof(__m256)));
    for (int64_t c0 = p.c_begin; c0 < p.c_end; c0 += 8) {
        const int64_t nl = imin(8, p.c_end - c0);
        if (N == 16)
            scan_group<16>(p, c0, nl, buf, buf + N);
        else
            scan_group<0>(p, c0, nl, buf, buf + N);
    }
}

// ---- RMS norm ------------------------------------------------------------------------------
void rms_norm(const float* x, const float* w, float* y, int64_t n, float eps) {
    __m256 acc = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        acc = _mm256_fmadd_ps(v, v, acc);
    }
    if (i < n) {
        const __m256 v = _mm256_maskload_ps(x + i, lanes8(n - i));
        acc = _mm256_fmadd_ps(v, v, acc);
    }
    const float scale = 1.0f / _mm_cvtss_f32(_mm_sqrt_ss(_mm_set_ss(hsum(acc) / float(n) + eps)));
    const __m256 sv = _mm256_set1_ps(scale);
    for (i = 0; i < n; i += 8) {
        const __m256i m = lanes8(n - i);
        __m256 v = _mm256_mul_ps(_mm256_maskload_ps(x + i, m), sv);
        if (w) v = _mm256_mul_ps(v, _mm256_maskload_ps(w + i, m));
        _mm256_maskstore_ps(y + i, m, v);
    }
}

}  // namespace

void conv1d_silu_kernel(const ConvParams& p) { conv1d_silu(p); }
void scan_kernel(const ScanParams& p) { scan(p); }
void rms_norm_kernel(const float* x, const float* w, float* y, int64_t n, float eps) { rms_norm(x, w, y, n, eps); }

}  // namespace kaa::kernels::avx2
