// scan.cuh — the selective scan with softplus(dt + bias), the D skip and the SiLU(z) gate
// fused, for every segment of a batch, starting from each segment's state (not only zero)
// and writing the final state back. Prefill and decode (T = 1) are the same kernel.
//
// A channel's d_state states are spread over G lanes of a warp, kScanNS per lane, in
// registers for the whole sequence; y = sum_s S[s] * C[s] is reduced across the G lanes
// with shuffles. G = 4 for d_state 16, so one sequence of 8192 channels is 1024 warps:
// enough to keep a GPU's exp units busy (the kernel's bound with the loads).
//
// Time is walked in chunks of kScanChunk steps. A chunk's inputs (u, softplus(dt + bias),
// silu(z) per channel, and the B and C rows, RMS-normed if asked) are staged in shared
// memory, computed once per element; the next chunk's global loads are issued before the
// current chunk is scanned (register double buffering).
//
// Per step the math is the scalar reference's (kernels/cpu/scalar/ssm.cpp):
//   S[s] = S[s] * exp(dt * A[s]) + (dt * u) * B[s];   y = (sum_s S[s] * C[s] + D * u) * silu(z)
#pragma once

#include "kernels/cuda/compat.cuh"

namespace kaa::kernels::cuda {

constexpr int kScanThreads = 128;
constexpr int kScanChunk = 16;
constexpr int kScanNS = 4;  // states per lane

// Lanes per channel for a d_state: the power of two >= d_state / kScanNS (1 .. 16).
inline int scan_lanes(int64_t d_state) {
    int g = 1;
    while (g * kScanNS < d_state) g *= 2;
    return g;
}

// Blocks: (segment, channel block) flattened into x.
template <int G>
KAA_HD int64_t scan_channel_blocks(const ScanArgs& a) {
    return (a.p.d_inner + kScanThreads / G - 1) / (kScanThreads / G);
}
template <int G>
inline dim3 scan_grid(const ScanArgs& a) {
    return dim3(unsigned(scan_channel_blocks<G>(a) * a.n_segs));
}

template <int G>
__global__ void __launch_bounds__(kScanThreads) scan_kernel(ScanArgs a) {
    constexpr int kCh = kScanThreads / G;          // channels per block
    constexpr int kDs = G * kScanNS;               // d_state capacity
    constexpr int kPerCh = kScanChunk * kCh / kScanThreads;  // staged (t, channel) values per thread
    constexpr int kBC = kScanChunk * kDs;          // staged B (and C) values per chunk
    constexpr int kPerBC = (kBC + kScanThreads - 1) / kScanThreads;
    static_assert(kPerCh >= 1 && kScanChunk * kCh % kScanThreads == 0, "staging shape");
    __shared__ float s_u[kScanChunk][kCh];
    __shared__ float s_dt[kScanChunk][kCh];
    __shared__ float s_gate[kScanChunk][kCh];
    __shared__ float s_b[kScanChunk][kDs];
    __shared__ float s_c[kScanChunk][kDs];

    const ScanParams& p = a.p;
    const int64_t cblocks = scan_channel_blocks<G>(a);
    const SegmentDesc seg = a.segs[blockIdx.x / cblocks];
    const int64_t ds = p.d_state, di = p.d_inner;
    const int tid = int(threadIdx.x);
    const int64_t c0 = int64_t(blockIdx.x % cblocks) * kCh;
    const int ch = tid / G, sub = tid % G;  // this lane: channel c0 + ch, states sub*NS ..
    const int64_t c = c0 + ch;
    const bool live = c < di;               // dead lanes still take part in the shuffles

    float* S_mem = seg.state + a.state_offset + c * ds;
    float S[kScanNS], A[kScanNS];
    KAA_UNROLL
    for (int i = 0; i < kScanNS; ++i) {
        const int64_t s = int64_t(sub) * kScanNS + i;
        const bool on = live && s < ds;
        S[i] = on ? S_mem[s] : 0.0f;
        A[i] = on ? p.A[c * ds + s] : 0.0f;
    }
    const float Dc = live ? p.D[c] : 0.0f;

    // Staging registers for one chunk: element q of this thread is (t, ch) = idx / kCh,
    // idx % kCh with idx = tid + q * kScanThreads (and likewise for B, C over kDs).
    float r_u[kPerCh], r_dt[kPerCh], r_gate[kPerCh], r_b[kPerBC], r_c[kPerBC];
    auto load_chunk = [&](int64_t t0) {
        KAA_UNROLL
        for (int q = 0; q < kPerCh; ++q) {
            const int idx = tid + q * kScanThreads, t = idx / kCh, cc = idx % kCh;
            const int64_t row = seg.row0 + t0 + t, cg = c0 + cc;
            const bool on = t0 + t < seg.T && cg < di;
            r_u[q] = on ? p.u[row * p.u_stride + cg] : 0.0f;
            r_dt[q] = on ? softplus(p.dt_raw[row * p.dt_stride + cg] + p.dt_bias[cg]) : 0.0f;
            r_gate[q] = on ? silu(p.z[row * p.z_stride + cg]) : 0.0f;
        }
        KAA_UNROLL
        for (int q = 0; q < kPerBC; ++q) {
            const int idx = tid + q * kScanThreads, t = idx / kDs, s = idx % kDs;
            const int64_t row = seg.row0 + t0 + t;
            const bool on = idx < kBC && t0 + t < seg.T && s < ds;
            r_b[q] = on ? p.B[row * p.B_stride + s] : 0.0f;
            r_c[q] = on ? p.C[row * p.C_stride + s] : 0.0f;
        }
    };
    auto store_chunk = [&] {
        KAA_UNROLL
        for (int q = 0; q < kPerCh; ++q) {
            const int idx = tid + q * kScanThreads, t = idx / kCh, cc = idx % kCh;
            s_u[t][cc] = r_u[q];
            s_dt[t][cc] = r_dt[q];
            s_gate[t][cc] = r_gate[q];
        }
        KAA_UNROLL
        for (int q = 0; q < kPerBC; ++q) {
            const int idx = tid + q * kScanThreads, t = idx / kDs, s = idx % kDs;
            if (idx < kBC) {
                s_b[t][s] = r_b[q];
                s_c[t][s] = r_c[q];
            }
        }
    };

    if (seg.T > 0) load_chunk(0);
    for (int64_t t0 = 0; t0 < seg.T; t0 += kScanChunk) {
        store_chunk();
        __syncthreads();
        const int steps = int(seg.T - t0 < kScanChunk ? seg.T - t0 : kScanChunk);
        if (a.bc_norm && tid < 2 * kScanChunk) {  // thread (t, B or C) norms one row
            const int t = tid % kScanChunk;
            float* row = tid < kScanChunk ? s_b[t] : s_c[t];
            if (t < steps) {
                float ss = 0.0f;
                for (int64_t s = 0; s < ds; ++s) ss += row[s] * row[s];
                const float scale = inv_rms(ss, ds, a.eps);
                for (int64_t s = 0; s < ds; ++s) row[s] = row[s] * scale;
            }
        }
        if (a.bc_norm) __syncthreads();
        if (t0 + kScanChunk < seg.T) load_chunk(t0 + kScanChunk);  // in flight during the scan

        for (int t = 0; t < steps; ++t) {
            const float dt = s_dt[t][ch], u = s_u[t][ch];
            const float du = dt * u;
            float part = 0.0f;
            KAA_UNROLL
            for (int i = 0; i < kScanNS; ++i) {
                const int s = sub * kScanNS + i;
                S[i] = S[i] * decay_exp(dt * A[i]) + du * s_b[t][s];
                part += S[i] * s_c[t][s];
            }
            const float y = group_sum<G>(part);
            if (live && sub == 0) p.y[(seg.row0 + t0 + t) * p.y_stride + c] = (y + Dc * u) * s_gate[t][ch];
        }
        __syncthreads();
    }
    KAA_UNROLL
    for (int i = 0; i < kScanNS; ++i) {
        const int64_t s = int64_t(sub) * kScanNS + i;
        if (live && s < ds) S_mem[s] = S[i];
    }
}

}  // namespace kaa::kernels::cuda
