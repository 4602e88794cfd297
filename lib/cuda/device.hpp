// device.hpp — the device model (weights in device memory, device layout of
// kernels/cuda/params.hpp) and a Session's device buffers. Internal to lib/cuda.
#pragma once

#include <map>
#include <utility>
#include <vector>

#include "cuda/gpu.hpp"

namespace kaa::detail::gpu {

struct DeviceLayer {
    const float* attn_norm = nullptr;  // (d_model)
    kc::DevMatrix in, x, dt, out;      // ssm_in, ssm_x, ssm_dt, ssm_out
    const float* conv_w = nullptr;     // (d_inner x d_conv)
    const float* conv_b = nullptr;     // (d_inner)
    const float* dt_bias = nullptr;    // (d_inner)
    const float* A = nullptr;          // (d_inner x d_state), = -exp(A_log)
    const float* D = nullptr;          // (d_inner)
};

struct DeviceModel {
    std::shared_ptr<Runtime> rt;
    void* arena = nullptr;  // every weight, one allocation
    size_t arena_bytes = 0;
    kc::DevMatrix tok_embd, output;  // output aliases tok_embd when tied
    const float* output_norm = nullptr;
    std::vector<DeviceLayer> layers;
    int64_t max_ld = 0;     // widest padded row of any matrix (sizes staging buffers)

    DeviceModel() = default;
    DeviceModel(const DeviceModel&) = delete;
    DeviceModel& operator=(const DeviceModel&) = delete;
    ~DeviceModel() {
        if (rt) rt->release(arena);
    }
};

// Device memory that frees itself (device or page-locked host).
class Buffer {
public:
    Buffer() = default;
    Buffer(Runtime& rt, size_t bytes, const char* what, bool host = false)
        : rt_(&rt), host_(host), bytes_(bytes),
          p_(bytes == 0 ? nullptr : host ? rt.alloc_host(bytes, what) : rt.alloc(bytes, what)) {}
    Buffer(Buffer&& o) noexcept { *this = std::move(o); }
    Buffer& operator=(Buffer&& o) noexcept {
        std::swap(rt_, o.rt_);
        std::swap(host_, o.host_);
        std::swap(bytes_, o.bytes_);
        std::swap(p_, o.p_);
        return *this;
    }
    ~Buffer() {
        if (p_) host_ ? rt_->release_host(p_) : rt_->release(p_);
    }
    template <class T = void>
    T* get() const { return static_cast<T*>(p_); }
    size_t bytes() const { return bytes_; }

private:
    Runtime* rt_ = nullptr;
    bool host_ = false;
    size_t bytes_ = 0;
    void* p_ = nullptr;
};

class SessionDevice {
public:
    SessionDevice(const ModelImpl& m, int64_t capacity);
    ~SessionDevice();
    SessionDevice(const SessionDevice&) = delete;
    SessionDevice& operator=(const SessionDevice&) = delete;

    const ModelImpl& m;
    const DeviceModel& dm;
    Runtime& rt;
    int64_t capacity;
    void* stream = nullptr;
    Buffer state;  // StateDims layout

    // Activations, row strides as in lib/session/forward.cpp (T = capacity rows):
    Buffer h, xn, xz, xc, xdbl, dt, y;
    // Matmul staging (kernels/cuda/params.hpp MatmulArgs): capacity x max_ld each, and
    // the split-K partial sums of tensor-core GEMMs of up to kSplitRows rows.
    Buffer tmp, xh, xscale, part;
    int64_t part_floats = 0;
    // cuBLAS for prefill (kernels/cuda/blas.cu), set up by the first call of at least
    // kBlasMinM tokens under Precision::fast: its handle, Q8_0 weights dequantized to f16
    // (the largest layer matrix) and the GEMM's scale factors. Stays off
    // without cuBLAS or memory for the scratch: the tensor-core kernels do the work then.
    void* blas = nullptr;
    bool blas_tried = false;
    Buffer wh, blas_scalars;
    void setup_blas();
    // Per-call inputs: token ids, segment table, rows of h that get logits; packed the
    // same way on the host (page-locked) and the device, one copy per call.
    Buffer params_host, params_dev;
    // Logits of the rows that want them (grown on demand).
    Buffer logits_dev, logits_host;
    int64_t logit_rows_cap = 0;

    // Decode steps (every segment one token) replay a captured graph per shape.
    std::map<std::pair<int64_t, int64_t>, void*> graphs;  // (segments, logit rows) -> graph
    void drop_graphs() noexcept;
};

}  // namespace kaa::detail::gpu
