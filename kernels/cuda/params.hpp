// params.hpp — what the host passes to the CUDA kernels: POD structs of sizes, strides
// (in elements) and device pointers. Plain C++: lib/cuda builds them with a host compiler.
//
// Device layouts differ from the file's in one way: every weight row is padded with
// zeros to `ld` elements, a multiple of 32, and Q8_0 is split into a plane of int8
// quants and a plane of f16 scales (same bytes as the file, but 16-byte aligned rows, so
// a lane loads 16 quants with one instruction). Activations keep the CPU's layout.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/kernels.hpp"

namespace kaa::kernels::cuda {

constexpr int64_t kRowAlign = 32;  // elements; also the Q8_0 block size
inline int64_t padded_cols(int64_t cols) { return (cols + kRowAlign - 1) / kRowAlign * kRowAlign; }

// A weight matrix W (rows x cols) in device memory, y = W @ x.
struct DevMatrix {
    WeightType type = WeightType::f32;
    const void* data = nullptr;        // q8_0: rows x ld int8; f16/bf16: rows x ld uint16; f32: rows x ld
    const uint16_t* scales = nullptr;  // q8_0 only: rows x ld/32 f16 bits, block b of row n at n*(ld/32)+b
    int64_t rows = 0, cols = 0, ld = 0;
};

// Bytes of device memory a matrix takes in this layout.
inline size_t dev_matrix_bytes(WeightType t, int64_t rows, int64_t cols) {
    const size_t n = size_t(rows) * size_t(padded_cols(cols));
    switch (t) {
        case WeightType::q8_0: return n + n / 32 * 2;
        case WeightType::f16:
        case WeightType::bf16: return n * 2;
        case WeightType::f32: break;
    }
    return n * 4;
}

// One sequence's share of a batch (lib/session/forward.hpp's Segment, on the device):
// rows [row0, row0 + T) of every activation buffer, and its state.
struct SegmentDesc {
    int64_t row0;
    int64_t T;
    float* state;  // the Session's device state, StateDims layout (all layers)
};

// y (M x N) = W (N x K) @ x (M x K)^T, or y += with `accumulate`.
struct MatmulArgs {
    DevMatrix w;
    const float* x = nullptr;
    int64_t ldx = 0;
    float* y = nullptr;
    int64_t ldy = 0;
    int64_t M = 0;
    bool accumulate = false;
    // RMS norm of every x row first: x * (1 / sqrt(mean(x^2) + eps)) * (norm_w ? norm_w : 1).
    bool norm = false;
    const float* norm_w = nullptr;
    float eps = 0.0f;
    // Precision::fast: Q8_0 and F16 weights may use f16 tensor cores when M is large
    // (activations rounded to f16 after an exact power-of-two row scale).
    bool fast = false;
    // Device scratch for M x ld (ld = w.ld) staged activations: f32 (normed rows for the
    // GEMV and the f32 GEMM: required with `norm`), half (tensor cores), one scale per row.
    float* tmp = nullptr;
    void* xh = nullptr;
    float* xscale = nullptr;
    // Device scratch for the partial sums of a split-K tensor-core GEMM (none: no split).
    float* part = nullptr;
    int64_t part_floats = 0;
    int sm_count = 1;  // of the device, to size the GEMV's split of K
    int gemv_rows = 0;  // 2 or 4 weight rows per warp to force a GEMV variant (benchmarks); 0: chosen
    // cuBLAS (kernels/cuda/blas.cu) for M >= kBlasMinM under Precision::fast, when given a
    // handle (cublasHandle_t, on this stream) and scratch: Q8_0 weights dequantized to f16
    // (rows x ld halfs) and 4 device floats. The CPU emulation has none.
    void* blas = nullptr;
    void* wh = nullptr;
    int64_t wh_halfs = 0;
    float* blas_scalars = nullptr;
    int64_t blas_min_m = 0;  // benchmarks: cuBLAS from this M on; 0: kBlasMinM
};

constexpr int64_t kBlasMinM = 128;

// Which kernel a matmul gets: GEMV for decode-sized M (at most kGemvMaxM rows); tensor
// cores for Q8_0 / F16 under Precision::fast when the caller gave the staging buffers;
// f32 tiles otherwise.
constexpr int kGemvMaxM = 4;
enum class MatmulPath { gemv, tensor_core, f32_tiles };
inline MatmulPath matmul_path(const MatmulArgs& a) {
    if (a.M <= kGemvMaxM) return MatmulPath::gemv;
    if (a.fast && a.xh && a.xscale && (a.w.type == WeightType::q8_0 || a.w.type == WeightType::f16))
        return MatmulPath::tensor_core;
    return MatmulPath::f32_tiles;
}

// Causal conv1d + SiLU for every segment (one launch per layer).
struct ConvArgs {
    ConvParams p;   // x, out: row 0 of the batch; strides, weight, bias, d_inner, d_conv.
                    // p.T, p.state and the channel range are unused (per segment below).
    const SegmentDesc* segs = nullptr;  // device array
    int n_segs = 0;
    int64_t max_T = 0;          // longest segment (sizes the grid)
    int64_t state_offset = 0;   // floats from a state's start to this layer's conv state
};

// Selective scan with the gate fused, for every segment (one launch per layer).
struct ScanArgs {
    ScanParams p;   // u, dt_raw, B, C, z, y: row 0 of the batch; strides; dt_bias, A, D;
                    // d_inner, d_state. p.T, p.state and the channel range are unused.
    const SegmentDesc* segs = nullptr;
    int n_segs = 0;
    int64_t max_T = 0;
    int64_t state_offset = 0;   // floats from a state's start to this layer's SSM state
    bool bc_norm = false;       // weightless RMS norm of each B and C row first (Falcon-Mamba)
    float eps = 0.0f;
    int states_per_lane = 0;    // 2 or 4 to force a kernel variant (benchmarks); 0: chosen
};

// y[r] = rmsnorm(x[rows ? rows[r] : r]) * (w ? w : 1), for r < n_rows; y may alias x.
struct RmsArgs {
    const float* x = nullptr;
    int64_t ldx = 0;
    const int32_t* rows = nullptr;  // optional gather (device)
    const float* w = nullptr;
    float* y = nullptr;
    int64_t ldy = 0;
    int64_t n_rows = 0, n = 0;
    float eps = 0.0f;
};

// h[r] = table[tokens[r]] as f32, r < n.
struct EmbedArgs {
    DevMatrix table;
    const int32_t* tokens = nullptr;  // device, already validated
    float* h = nullptr;
    int64_t ldh = 0;
    int64_t n = 0;
};

// A weight matrix as stored in the file (copied to device memory as is) into the device
// layout: rows padded to dst.ld, Q8_0 split into quants and scales.
struct RepackArgs {
    const uint8_t* raw = nullptr;
    size_t row_bytes = 0;
    WeightType type = WeightType::f32;
    int64_t rows = 0, cols = 0, ld = 0;
    void* data = nullptr;
    uint16_t* scales = nullptr;
};

// Shape limits of the CUDA kernels (the loader accepts more; Model::load says so).
constexpr int64_t kMaxConvKernel = 16;  // d_conv
constexpr int64_t kMaxDState = 64;      // d_state

}  // namespace kaa::kernels::cuda
