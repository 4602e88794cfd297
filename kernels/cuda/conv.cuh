// conv.cuh — causal depthwise conv1d + SiLU with its state, for every segment of a batch.
//
// One thread per (segment, channel, chunk of kConvChunk time steps): the window of the
// last d_conv inputs lives in registers. The math per output is the scalar reference's
// (kernels/cpu/scalar/ssm.cpp): acc = sum_k win[k] * w[k] in k order, out = silu(acc + b).
//
// State: only the thread of chunk 0 reads the old conv state (a chunk starting at t0 >=
// kConvChunk >= d_conv - 1 needs inputs of this call only), and that same thread writes
// the new state after it has read the old one, so no other thread can see it half done.
#pragma once

#include "kernels/cuda/compat.cuh"

namespace kaa::kernels::cuda {

constexpr int kConvThreads = 128;
constexpr int kConvChunk = 16;
static_assert(kConvChunk >= kMaxConvKernel - 1, "a chunk must cover the history");

// x: (segment, channel block) flattened (segments may exceed gridDim.y's limit); y: chunk.
KAA_HD int64_t conv_channel_blocks(const ConvArgs& a) { return (a.p.d_inner + kConvThreads - 1) / kConvThreads; }
inline dim3 conv_grid(const ConvArgs& a) {
    return dim3(unsigned(conv_channel_blocks(a) * a.n_segs), unsigned((a.max_T + kConvChunk - 1) / kConvChunk));
}

// KC: d_conv at compile time (4 in every released Mamba), or 0 for any d_conv <= kMaxConvKernel.
template <int KC>
__global__ void __launch_bounds__(kConvThreads) conv_kernel(ConvArgs a) {
    constexpr int kMax = KC > 0 ? KC : int(kMaxConvKernel);
    const int64_t cblocks = conv_channel_blocks(a);
    const SegmentDesc seg = a.segs[blockIdx.x / cblocks];
    const int64_t c = int64_t(blockIdx.x % cblocks) * kConvThreads + threadIdx.x;
    const int64_t t0 = int64_t(blockIdx.y) * kConvChunk;
    if (c >= a.p.d_inner || t0 >= seg.T) return;
    const int K = KC > 0 ? KC : int(a.p.d_conv), H = K - 1;

    const float* x = a.p.x + seg.row0 * a.p.x_stride + c;
    float* out = a.p.out + seg.row0 * a.p.out_stride + c;
    float* st = seg.state + a.state_offset + c * H;
    float w[kMax], win[kMax];
    KAA_UNROLL
    for (int k = 0; k < kMax; ++k) {
        w[k] = k < K ? a.p.weight[c * K + k] : 0.0f;
        win[k] = 0.0f;
    }
    const float bias = a.p.bias[c];
    // win[0 .. H-1]: inputs at t0 - H .. t0 - 1 (negative times from the old state)
    KAA_UNROLL
    for (int k = 0; k < kMax - 1; ++k) {
        if (k >= H) break;
        const int64_t src = t0 - H + k;
        win[k] = src < 0 ? st[H + src] : x[src * a.p.x_stride];
    }
    const int64_t t_end = t0 + kConvChunk < seg.T ? t0 + kConvChunk : seg.T;
    for (int64_t t = t0; t < t_end; ++t) {
        const float xv = x[t * a.p.x_stride];
        win[H] = xv;
        float acc = 0.0f;
        KAA_UNROLL
        for (int k = 0; k < kMax; ++k)
            if (k < K) acc += win[k] * w[k];
        out[t * a.p.out_stride] = silu(acc + bias);
        KAA_UNROLL
        for (int k = 0; k < kMax - 1; ++k)
            if (k < H) win[k] = win[k + 1];
    }
    if (blockIdx.y == 0) {
        // Slot j gets the input at time j + T - H: old slot j + T (not yet overwritten,
        // as j + T > j) or an input of this call.
        for (int j = 0; j < H; ++j) {
            const int64_t src = j + seg.T - H;
            st[j] = src < 0 ? st[j + seg.T] : x[src * a.p.x_stride];
        }
    }
}

}  // namespace kaa::kernels::cuda
