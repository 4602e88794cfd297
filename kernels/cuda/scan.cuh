// scan.cuh — the selective scan with softplus(dt + bias), the D skip and the SiLU(z) gate
// fused, for every segment of a batch, starting from each segment's state (not only zero)
// and writing the final state back: scan_kernel for sequences (prefill, mixed batches),
// scan_step_kernel when every segment has one token (a decode step).
//
// A channel's d_state states are spread over G lanes of a warp, NS per lane, in registers;
// y = sum_s S[s] * C[s] is reduced across the G lanes with shuffles.
//
// Measured on an H200 at the 7B shape (T = 2048, d_inner 8192, d_state 16; see
// docs/PERFORMANCE.md): this kernel is bound by its instruction issue (Nsight Compute:
// SM throughput 65%, DRAM 7%). Cutting a sequence into pieces scanned in parallel (a
// local pass, a combine of the end states, a second pass) gave more warps but did not
// make it faster (651 against 686 us), so it is not done.
//
// Time is walked in chunks of kScanChunk steps. A chunk's inputs (u, softplus(dt + bias),
// silu(z) per channel, and the B and C rows, RMS-normed if asked) are staged in shared
// memory, computed once per element; the next chunk's global loads are issued before the
// current chunk is scanned (register double buffering), and used only after it.
//
// A decode step skips the staging (scan_step_kernel): at 64 sessions it took 117 us staged
// and 48 us without.
//
// Per step the math is the scalar reference's (kernels/cpu/scalar/ssm.cpp):
//   S[s] = S[s] * exp(dt * A[s]) + (dt * u) * B[s];   y = (sum_s S[s] * C[s] + D * u) * silu(z)
#pragma once

#include "kernels/cuda/compat.cuh"

namespace kaa::kernels::cuda {

constexpr int kScanThreads = 128;
constexpr int kScanChunk = 16;

// States per lane (NS): 2 or 4; a.states_per_lane when it is one of them, else 2 for a
// sequence (more warps) and 4 for a decode step (fewer lanes reading the same u, dt, z).
inline int scan_states_per_lane(const ScanArgs& a) {
    const int ns = a.states_per_lane;
    return ns == 2 || ns == 4 ? ns : a.max_T == 1 ? 4 : 2;
}
// Lanes per channel: the power of two >= d_state / NS (at most 32).
inline int scan_lanes(int64_t d_state, int ns) {
    int g = 1;
    while (g * ns < d_state) g *= 2;
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

// One step of every segment (max_T = 1, a decode step): each lane reads its channel's
// u, dt, z and its NS values of B and C straight from global memory; a B or C row's norm
// is a reduction over the channel's G lanes, which hold the whole row.
template <int G, int NS>
__global__ void __launch_bounds__(kScanThreads) scan_step_kernel(ScanArgs a) {
    const ScanParams& p = a.p;
    const int64_t cblocks = scan_channel_blocks<G>(a);
    const SegmentDesc seg = a.segs[blockIdx.x / cblocks];
    if (seg.T < 1) return;  // whole block
    const int64_t ds = p.d_state, di = p.d_inner, row = seg.row0;
    const int tid = int(threadIdx.x), sub = tid % G;
    const int64_t c = int64_t(blockIdx.x % cblocks) * (kScanThreads / G) + tid / G;
    const bool live = c < di;  // dead lanes still take part in the shuffles
    float b[NS], cv[NS], ssb = 0.0f, ssc = 0.0f;
    KAA_UNROLL
    for (int i = 0; i < NS; ++i) {
        const int64_t s = int64_t(sub) * NS + i;
        b[i] = s < ds ? p.B[row * p.B_stride + s] : 0.0f;
        cv[i] = s < ds ? p.C[row * p.C_stride + s] : 0.0f;
        ssb += b[i] * b[i];
        ssc += cv[i] * cv[i];
    }
    if (a.bc_norm) {
        const float sb = inv_rms(group_sum<G>(ssb), ds, a.eps), sc = inv_rms(group_sum<G>(ssc), ds, a.eps);
        KAA_UNROLL
        for (int i = 0; i < NS; ++i) {
            b[i] *= sb;
            cv[i] *= sc;
        }
    }
    const float u = live ? p.u[row * p.u_stride + c] : 0.0f;
    const float dt = live ? softplus(p.dt_raw[row * p.dt_stride + c] + p.dt_bias[c]) : 0.0f;
    const float du = dt * u;
    float* S_mem = seg.state + a.state_offset + c * ds;
    float part = 0.0f;
    KAA_UNROLL
    for (int i = 0; i < NS; ++i) {
        const int64_t s = int64_t(sub) * NS + i;
        const bool on = live && s < ds;
        const float S = on ? S_mem[s] * decay_exp(dt * p.A[c * ds + s]) + du * b[i] : 0.0f;
        if (on) S_mem[s] = S;
        part += S * cv[i];
    }
    const float y = group_sum<G>(part);
    if (live && sub == 0) p.y[row * p.y_stride + c] = (y + p.D[c] * u) * silu(p.z[row * p.z_stride + c]);
}

template <int G, int NS>
__global__ void __launch_bounds__(kScanThreads) scan_kernel(ScanArgs a) {
    constexpr int kCh = kScanThreads / G;          // channels per block
    constexpr int kDs = G * NS;                    // d_state capacity
    constexpr int kUC = kScanChunk * kCh;          // staged (t, channel) values per chunk
    constexpr int kPerCh = (kUC + kScanThreads - 1) / kScanThreads;  // ... per thread
    constexpr int kBC = kScanChunk * kDs;          // staged B (and C) values per chunk
    constexpr int kPerBC = (kBC + kScanThreads - 1) / kScanThreads;
    __shared__ float s_u[kScanChunk][kCh];
    __shared__ float s_dt[kScanChunk][kCh];
    __shared__ float s_gate[kScanChunk][kCh];
    __shared__ float s_b[kScanChunk][kDs];
    __shared__ float s_c[kScanChunk][kDs];

    const ScanParams& p = a.p;
    const int64_t cblocks = scan_channel_blocks<G>(a);
    const SegmentDesc seg = a.segs[blockIdx.x / cblocks];
    const int64_t ds = p.d_state, di = p.d_inner, t_end = seg.T;
    const int tid = int(threadIdx.x);
    const int64_t c0 = int64_t(blockIdx.x % cblocks) * kCh;
    const int ch = tid / G, sub = tid % G;  // this lane: channel c0 + ch, states sub*NS ..
    const int64_t c = c0 + ch;
    const bool live = c < di;               // dead lanes still take part in the shuffles

    float* S_mem = seg.state + a.state_offset + c * ds;
    float S[NS], A[NS];
    KAA_UNROLL
    for (int i = 0; i < NS; ++i) {
        const int64_t s = int64_t(sub) * NS + i;
        const bool on = live && s < ds;
        S[i] = on ? S_mem[s] : 0.0f;
        A[i] = on ? p.A[c * ds + s] : 0.0f;
    }
    const float Dc = live ? p.D[c] : 0.0f;

    // Staging registers for one chunk, raw as loaded (softplus, SiLU and the B/C norm are
    // applied when they go to shared memory, after the loads had a whole chunk's scan to
    // arrive): element q of this thread is (t, ch) = idx / kCh, idx % kCh with
    // idx = tid + q * kScanThreads (and likewise for B, C over kDs).
    float r_u[kPerCh], r_dt[kPerCh], r_z[kPerCh], r_b[kPerBC], r_c[kPerBC];
    auto load_chunk = [&](int64_t t0) {
        KAA_UNROLL
        for (int q = 0; q < kPerCh; ++q) {
            const int idx = tid + q * kScanThreads, t = idx / kCh, cc = idx % kCh;
            const int64_t row = seg.row0 + t0 + t, cg = c0 + cc;
            const bool on = idx < kUC && t0 + t < t_end && cg < di;
            r_u[q] = on ? p.u[row * p.u_stride + cg] : 0.0f;
            r_dt[q] = on ? p.dt_raw[row * p.dt_stride + cg] : 0.0f;
            r_z[q] = on ? p.z[row * p.z_stride + cg] : 0.0f;
        }
        KAA_UNROLL
        for (int q = 0; q < kPerBC; ++q) {
            const int idx = tid + q * kScanThreads, t = idx / kDs, s = idx % kDs;
            const int64_t row = seg.row0 + t0 + t;
            const bool on = idx < kBC && t0 + t < t_end && s < ds;
            r_b[q] = on ? p.B[row * p.B_stride + s] : 0.0f;
            r_c[q] = on ? p.C[row * p.C_stride + s] : 0.0f;
        }
    };
    auto store_chunk = [&](int64_t t0) {
        KAA_UNROLL
        for (int q = 0; q < kPerCh; ++q) {
            const int idx = tid + q * kScanThreads, t = idx / kCh, cc = idx % kCh;
            const bool on = idx < kUC && t0 + t < t_end && c0 + cc < di;
            if (idx < kUC) {
                s_u[t][cc] = r_u[q];
                s_dt[t][cc] = on ? softplus(r_dt[q] + p.dt_bias[c0 + cc]) : 0.0f;
                s_gate[t][cc] = on ? silu(r_z[q]) : 0.0f;
            }
        }
        // B and C rows: a row's kDs values sit in kDs consecutive lanes when kDs <= 32, so
        // its norm is a shuffle reduction; wider rows are normed from shared memory below.
        KAA_UNROLL
        for (int q = 0; q < kPerBC; ++q) {
            const int idx = tid + q * kScanThreads, t = idx / kDs, s = idx % kDs;
            float b = r_b[q], cv = r_c[q];
            if (kDs <= 32 && a.bc_norm) {
                b *= inv_rms(group_sum<(kDs <= 32 ? kDs : 32)>(b * b), ds, a.eps);
                cv *= inv_rms(group_sum<(kDs <= 32 ? kDs : 32)>(cv * cv), ds, a.eps);
            }
            if (idx < kBC) {
                s_b[t][s] = b;
                s_c[t][s] = cv;
            }
        }
    };

    if (t_end > 0) load_chunk(0);
    for (int64_t t0 = 0; t0 < t_end; t0 += kScanChunk) {
        store_chunk(t0);
        __syncthreads();
        const int steps = int(t_end - t0 < kScanChunk ? t_end - t0 : kScanChunk);
        if (kDs > 32 && a.bc_norm) {
            if (tid < 2 * kScanChunk) {  // thread (t, B or C) norms one row
                const int t = tid % kScanChunk;
                float* row = tid < kScanChunk ? s_b[t] : s_c[t];
                if (t < steps) {
                    float ss = 0.0f;
                    for (int64_t s = 0; s < ds; ++s) ss += row[s] * row[s];
                    const float scale = inv_rms(ss, ds, a.eps);
                    for (int64_t s = 0; s < ds; ++s) row[s] = row[s] * scale;
                }
            }
            __syncthreads();
        }
        if (t0 + kScanChunk < t_end) load_chunk(t0 + kScanChunk);  // in flight during the scan

        for (int t = 0; t < steps; ++t) {
            const float dt = s_dt[t][ch], u = s_u[t][ch];
            const float du = dt * u;
            float part = 0.0f;
            KAA_UNROLL
            for (int i = 0; i < NS; ++i) {
                const int s = sub * NS + i;
                S[i] = S[i] * decay_exp(dt * A[i]) + du * s_b[t][s];
                part += S[i] * s_c[t][s];
            }
            const float y = group_sum<G>(part);
            if (live && sub == 0) p.y[(seg.row0 + t0 + t) * p.y_stride + c] = (y + Dc * u) * s_gate[t][ch];
        }
        __syncthreads();
    }
    KAA_UNROLL
    for (int i = 0; i < NS; ++i) {
        const int64_t s = int64_t(sub) * NS + i;
        if (live && s < ds) S_mem[s] = S[i];
    }
}

}  // namespace kaa::kernels::cuda
