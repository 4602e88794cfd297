// ssm.inl — x86 per-channel kernels: causal conv1d + SiLU, the selective scan with its
// gate, and RMS norm, generic over the vector traits V; included by <isa>/ssm.cpp.
//
// Channels map to the W = V::kW lanes of a vector (channel groups [c0, c0+W), the last
// one masked), time is walked sequentially, and every lane does exactly the same
// operations, so a channel's result does not depend on the [c_begin, c_end) split.
//
// Per-channel rows (state, A, conv weights: channel-major) are turned into per-lane
// vectors ("columns") when a group starts and back when it ends: W x W in-register
// transposes for whole blocks of a full group, permutes for a full group's rows of at
// most 4 (conv taps and history, where the ISA has them: V::kSmallColumns), gathers in
// and V::store_column out for the rest (partial groups, d_state not a multiple of W).
#pragma once

#include "kernels/cpu/scratch.hpp"
#include "kernels/cpu/x86/common.hpp"
#include "kernels/cpu/x86/vmath.inl"
#include "kernels/kernels.hpp"

namespace kaa::kernels::x86 {
namespace {

// v[j] lane l = p[l * n + j] for lanes l < nl (other lanes 0), j < n. The two branches
// keep every index a compile-time constant when n is one (so a caller's local v[] can
// live in registers), and n < W (conv taps) compiles to the gathers alone.
template <class V>
inline void load_columns(const float* p, int64_t n, int64_t nl, typename V::F* v) {
    constexpr int W = V::kW;
    if (nl == W && n >= W) {
        int64_t j0 = 0;
        for (; j0 + W <= n; j0 += W) {
            typename V::F r[W];
            for (int l = 0; l < W; ++l) r[l] = V::load(p + l * n + j0);
            V::transpose(r);
            for (int j = 0; j < W; ++j) v[j0 + j] = r[j];
        }
        for (int64_t j = j0; j < n; ++j) v[j] = V::gather_column(p + j, n, V::tail(W));
    } else {
        if constexpr (V::kSmallColumns) {
            if (nl == W && n <= 4) return V::load_small_columns(p, int(n), v);
        }
        const typename V::Tail t = V::tail(nl);
        for (int64_t j = 0; j < n; ++j) v[j] = V::gather_column(p + j, n, t);
    }
}
// The inverse: p[l * n + j] = v[j] lane l for lanes l < nl.
template <class V>
inline void store_columns(float* p, int64_t n, int64_t nl, const typename V::F* v) {
    constexpr int W = V::kW;
    if (nl == W && n >= W) {
        int64_t j0 = 0;
        for (; j0 + W <= n; j0 += W) {
            typename V::F r[W];
            for (int j = 0; j < W; ++j) r[j] = v[j0 + j];
            V::transpose(r);
            for (int l = 0; l < W; ++l) V::store(p + l * n + j0, r[l]);
        }
        for (int64_t j = j0; j < n; ++j) V::store_column(p + j, n, V::tail(W), v[j]);
    } else {
        if constexpr (V::kSmallColumns) {
            if (nl == W && n <= 4) return V::store_small_columns(p, int(n), v);
        }
        const typename V::Tail t = V::tail(nl);
        for (int64_t j = 0; j < n; ++j) V::store_column(p + j, n, t, v[j]);
    }
}

// ---- conv1d + SiLU -------------------------------------------------------------------------
// kDC > 0: taps known at compile time (window kept in registers); 0: any d_conv, window
// in `scratch` (2 * d_conv vectors).
template <class V, int kDC>
void conv_group(const ConvParams& p, int64_t c0, int64_t nl, typename V::F* scratch) {
    using F = typename V::F;
    const int64_t DC = kDC > 0 ? kDC : p.d_conv, H = DC - 1;
    F wloc[kDC > 0 ? kDC : 1], hloc[kDC > 1 ? kDC - 1 : 1];
    F* w = kDC > 0 ? wloc : scratch;          // (d_conv) taps, lanes = channels
    F* hist = kDC > 0 ? hloc : scratch + DC;  // (d_conv-1) past inputs, oldest first
    const typename V::Tail m = V::tail(nl);
    load_columns<V>(p.weight + c0 * DC, DC, nl, w);
    if (H > 0) load_columns<V>(p.state + c0 * H, H, nl, hist);
    const F bias = V::load(p.bias + c0, m);
    for (int64_t t = 0; t < p.T; ++t) {
        const F xt = V::load(p.x + t * p.x_stride + c0, m);
        F acc = V::zero();
        for (int64_t k = 0; k < H; ++k) acc = V::fmadd(hist[k], w[k], acc);
        acc = V::fmadd(xt, w[H], acc);
        V::store(p.out + t * p.out_stride + c0, m, vsilu<V>(V::add(acc, bias)));
        for (int64_t k = 0; k + 1 < H; ++k) hist[k] = hist[k + 1];
        if (H > 0) hist[H - 1] = xt;
    }
    if (H > 0) store_columns<V>(p.state + c0 * H, H, nl, hist);
}

template <class V>
void conv1d_silu(const ConvParams& p) {
    using F = typename V::F;
    F* scratch = nullptr;
    if (p.d_conv != 4) scratch = static_cast<F*>(thread_scratch(1, size_t(2 * p.d_conv) * sizeof(F)));
    for (int64_t c0 = p.c_begin; c0 < p.c_end; c0 += V::kW) {
        const int64_t nl = imin(V::kW, p.c_end - c0);
        if (p.d_conv == 4)
            conv_group<V, 4>(p, c0, nl, scratch);
        else
            conv_group<V, 0>(p, c0, nl, scratch);
    }
}

// ---- selective scan ------------------------------------------------------------------------
// One channel group over all T steps: dt, du and the gate are per lane; S[s], A[s] per
// state. kNS > 0: d_state known at compile time (the state loop unrolled).
template <class V, int kNS>
inline void scan_group(const ScanParams& p, int64_t c0, int64_t nl, typename V::F* S, typename V::F* A) {
    using F = typename V::F;
    const int64_t N = kNS > 0 ? kNS : p.d_state;
    const typename V::Tail m = V::tail(nl);
    load_columns<V>(p.state + c0 * N, N, nl, S);
    load_columns<V>(p.A + c0 * N, N, nl, A);
    // exp(dt * A) is computed as 2^(dt * (A log2 e)), A scaled once per group.
    for (int64_t s = 0; s < N; ++s) A[s] = V::mul(A[s], V::set1(kLog2e));
    const F bias = V::load(p.dt_bias + c0, m);
    const F D = V::load(p.D + c0, m);
    // Per-step inputs softplus(dt), dt u and SiLU(z), kSteps steps ahead: their ~80-cycle
    // chain no longer starts each step, so the reorder buffer (~1.5 steps of µops)
    // overlaps consecutive steps. d_inner 8192, T 256, one thread: AVX-512 18.5-19.4 ms
    // against 22.4-22.8 in line, AVX2 33.4-33.7 against 39.7-40.4 (4 and 16 steps ahead:
    // no better).
    constexpr int64_t kSteps = 8;
    F pdt[kSteps], pdu[kSteps], pgate[kSteps];
    for (int64_t t = 0; t < p.T; ++t) {
        const int64_t i = t % kSteps;
        if (i == 0) {
            // The rows of the next kSteps steps (32 KiB apart: too far for the hardware
            // prefetchers, so each was a demand miss) are fetched while these run:
            // AVX-512 T 256 14.7-14.9 ms against 19.4 (one thread; y rows too: worse).
            for (int64_t k = t + kSteps; k < t + 2 * kSteps && k < p.T; ++k) {
                _mm_prefetch(reinterpret_cast<const char*>(p.dt_raw + k * p.dt_stride + c0), _MM_HINT_T0);
                _mm_prefetch(reinterpret_cast<const char*>(p.u + k * p.u_stride + c0), _MM_HINT_T0);
                _mm_prefetch(reinterpret_cast<const char*>(p.z + k * p.z_stride + c0), _MM_HINT_T0);
            }
            for (int64_t k = 0; k < kSteps && t + k < p.T; ++k) {
                pdt[k] = vsoftplus<V>(V::add(V::load(p.dt_raw + (t + k) * p.dt_stride + c0, m), bias));
                pdu[k] = V::mul(pdt[k], V::load(p.u + (t + k) * p.u_stride + c0, m));
                pgate[k] = vsilu<V>(V::load(p.z + (t + k) * p.z_stride + c0, m));
            }
        }
        const F dt = pdt[i], du = pdu[i];
        const F u = V::load(p.u + t * p.u_stride + c0, m);
        const float* B = p.B + t * p.B_stride;
        const float* C = p.C + t * p.C_stride;
        // S[s] <- S[s] exp(dt A[s]) + du B[s]; A[s] holds A * log2(e).
        auto update = [&](int64_t s) {
            S[s] = V::fmadd(S[s], vexp2<V>(V::mul(dt, A[s])), V::mul(du, V::bcast(B + s)));
        };
        F acc = V::zero();
        if constexpr (kNS == 16) {
            // The sum over s of S[s] C[s] as the halving tree of scan_states (which must
            // give the same bits): q[s] = S[s] C[s] + S[s+8] C[s+8] (one FMA), then pairs
            // (s, s+4), (s, s+2), (s, s+1). 23 operations where a chain of FMAs took 16,
            // for a decode without transposes; q first, so that 8 sums are live, not 16.
            F q[8];
            for (int64_t s = 0; s < 8; ++s) {
                update(s + 8);
                q[s] = V::mul(S[s + 8], V::bcast(C + s + 8));
            }
            for (int64_t s = 0; s < 8; ++s) {
                update(s);
                q[s] = V::fmadd(S[s], V::bcast(C + s), q[s]);
            }
            F r[4];
            for (int64_t s = 0; s < 4; ++s) r[s] = V::add(q[s], q[s + 4]);
            acc = V::add(V::add(r[0], r[2]), V::add(r[1], r[3]));
        } else {
            // Unrolled for a compile-time d_state, so S[] can live in registers across all T.
#if defined(__GNUC__)
#pragma GCC unroll 16
#endif
            for (int64_t s = 0; s < N; ++s) {
                update(s);
                acc = V::fmadd(S[s], V::bcast(C + s), acc);
            }
        }
        const F yv = V::fmadd(D, u, acc);
        V::store(p.y + t * p.y_stride + c0, m, V::mul(yv, pgate[i]));
    }
    store_columns<V>(p.state + c0 * N, N, nl, S);
}

// Decode (T = 1), d_state 16, full groups of W channels: lanes = states, one channel's
// 16 states in 16 / W vectors, so its state and A rows are read and written in place
// instead of transposed, and the W channels' C.h sums leave through one reduction tree
// (V::role_channel, V::tree_*: AVX-512 30 shuffles for 16 channels and AVX2 14 for 8,
// where the transposes of the state block in and out and of A took 192 and 144). Lane
// for lane the same operations as scan_group<V, 16>, so the same bits: decode equals
// any chunking of a prefill.
// The per-channel inputs (softplus(dt), dt u, SiLU(z)) are computed a chunk of groups
// ahead: in line, their ~80-cycle chain started every group, and with ~600 µops a
// group the reorder buffer could not overlap one group's chain with the next group
// (AVX-512: ~365 cycles a group, llvm-mca and measured, against ~180 of port throughput).
constexpr int64_t kStatesChunk = 8;  // groups per pass of per-channel inputs

template <class V>
void scan_states(const ScanParams& p, int64_t c0, int64_t groups) {
    using F = typename V::F;
    constexpr int W = V::kW, NV = 16 / W;  // vectors per channel
    static_assert(W == 16 || W == 8, "a channel's 16 states fill one or two vectors");
    // State and A rows are prefetched two groups ahead: d_inner 8192, AVX-512, one
    // thread, 115-128 ns a group against 145-190 without and 130-165 one or four ahead.
    constexpr int64_t kPfFloats = 2 * W * 16;
    const F log2e = V::set1(kLog2e);
    F B[NV], C[NV];
    for (int v = 0; v < NV; ++v) B[v] = V::load(p.B + v * W), C[v] = V::load(p.C + v * W);
    alignas(64) float dts[W * kStatesChunk], dus[W * kStatesChunk], gate[W * kStatesChunk];
    for (int64_t g0 = 0; g0 < groups; g0 += kStatesChunk) {
        const int64_t ng = imin(kStatesChunk, groups - g0), cc = c0 + W * g0;
        for (int64_t g = 0; g < ng; ++g) {
            const int64_t c = cc + W * g;
            const F dt = vsoftplus<V>(V::add(V::load(p.dt_raw + c), V::load(p.dt_bias + c)));
            V::store(dts + W * g, dt);
            V::store(dus + W * g, V::mul(dt, V::load(p.u + c)));
            V::store(gate + W * g, vsilu<V>(V::load(p.z + c)));
        }
        for (int64_t g = 0; g < ng; ++g) {
            const int64_t cg = cc + W * g;
            float* const state = p.state + cg * 16;
            const float* const A = p.A + cg * 16;
            // Role r updates channel V::role_channel(r), so the tree returns lane c = channel c.
            // It returns its new states (W = 16; V::tree_halves takes the first step) or,
            // for W = 8, the first step itself: S[s] C[s] + S[s+8] C[s+8], s < 8.
            auto role = [&](int r) {
                const int64_t c = V::role_channel(r);
                const F dtc = V::bcast(dts + W * g + c), duc = V::bcast(dus + W * g + c);
                // (A channel's 16 states or A values are one 64-byte line. The prefetches
                // reach past the last groups' rows; prefetches do not fault.)
                _mm_prefetch(reinterpret_cast<const char*>(state + c * 16 + kPfFloats), _MM_HINT_T0);
                _mm_prefetch(reinterpret_cast<const char*>(A + c * 16 + kPfFloats), _MM_HINT_T0);
                F hv[NV];
                for (int v = 0; v < NV; ++v) {
                    float* S = state + c * 16 + v * W;
                    const F dA = vexp2<V>(V::mul(dtc, V::mul(V::load(A + c * 16 + v * W), log2e)));
                    const F h = V::fmadd(V::load(S), dA, V::mul(duc, B[v]));
                    V::store(S, h);
                    hv[v] = h;
                }
                if constexpr (NV == 2) return V::fmadd(hv[0], C[0], V::mul(hv[1], C[1]));
                else return hv[0];
            };
            F acc;
            if constexpr (W == 16) {
                const F Clo = V::dup_low_half(C[0]), Chi = V::dup_high_half(C[0]);
                F q[8];
                for (int i = 0; i < 8; ++i) q[i] = V::tree_halves(role(2 * i), role(2 * i + 1), Clo, Chi);
                acc = V::tree_finish(q);
            } else {
                F q[8];
                for (int r = 0; r < 8; ++r) q[r] = role(r);
                acc = V::tree_finish(q);
            }
            const F yv = V::fmadd(V::load(p.D + cg), V::load(p.u + cg), acc);
            V::store(p.y + cg, V::mul(yv, V::load(gate + W * g)));
        }
    }
}

template <class V>
void scan(const ScanParams& p) {
    using F = typename V::F;
    const int64_t N = p.d_state;
    // d_state = 16 (every Mamba-1 model): a group's S and A in registers where the ISA has
    // enough of them (V::kScanInRegisters), else, like any other d_state, in L1 scratch.
    F* buf = nullptr;
    if (N != 16 || !V::kScanInRegisters) buf = static_cast<F*>(thread_scratch(1, size_t(2 * N) * sizeof(F)));
    int64_t c0 = p.c_begin;
    if constexpr (V::kScanStatesInLanes) {
        if (N == 16 && p.T == 1) {  // decode: full groups with the states in lanes
            const int64_t groups = (p.c_end - p.c_begin) / V::kW;
            scan_states<V>(p, c0, groups);
            c0 += groups * V::kW;
        }
    }
    for (; c0 < p.c_end; c0 += V::kW) {
        const int64_t nl = imin(V::kW, p.c_end - c0);
        if (N == 16) {
            if constexpr (V::kScanInRegisters) {
                F S[16], A[16];
                scan_group<V, 16>(p, c0, nl, S, A);
            } else {
                scan_group<V, 16>(p, c0, nl, buf, buf + 16);
            }
        } else {
            scan_group<V, 0>(p, c0, nl, buf, buf + N);
        }
    }
}

// ---- RMS norm ------------------------------------------------------------------------------
template <class V>
void rms_norm(const float* x, const float* w, float* y, int64_t n, float eps) {
    using F = typename V::F;
    constexpr int W = V::kW;
    F acc = V::zero();
    int64_t i = 0;
    for (; i + W <= n; i += W) {
        const F v = V::load(x + i);
        acc = V::fmadd(v, v, acc);
    }
    if (i < n) {
        const F v = V::load(x + i, V::tail(n - i));
        acc = V::fmadd(v, v, acc);
    }
    const float scale = 1.0f / _mm_cvtss_f32(_mm_sqrt_ss(_mm_set_ss(V::hsum(acc) / float(n) + eps)));
    const F sv = V::set1(scale);
    for (i = 0; i < n; i += W) {
        const typename V::Tail m = V::tail(n - i);
        F v = V::mul(V::load(x + i, m), sv);
        if (w) v = V::mul(v, V::load(w + i, m));
        V::store(y + i, m, v);
    }
}

}  // namespace
}  // namespace kaa::kernels::x86
