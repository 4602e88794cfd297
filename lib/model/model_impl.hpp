// model_impl.hpp — what a loaded model holds: the mapped file, hyperparameters and a
// view of every weight, ready for the forward pass.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gguf/gguf.hpp"
#include "kaa/model.hpp"
#include "kaa/state.hpp"
#include "kaa/tokenizer.hpp"
#include "kernels/kernels.hpp"

namespace kaa::detail {

namespace gpu { struct DeviceModel; }  // lib/cuda/device.hpp

// A weight matrix W (rows x cols), rows contiguous, in its file type; y = W @ x.
struct WeightMatrix {
    kernels::WeightType type = kernels::WeightType::f32;
    const uint8_t* data = nullptr;
    int64_t rows = 0, cols = 0;
    size_t row_bytes = 0;
    // data: the file's bytes, or (relayout.cpp) the model's copy of them in huge pages,
    // as they are (layout rows) or re-laid (q8_0_x16). With a copy, `stored` still points
    // at the file's bytes (their pages were handed back to the OS and are re-read from
    // the file if touched).
    kernels::WeightLayout layout = kernels::WeightLayout::rows;
    const uint8_t* stored = nullptr;
    const uint8_t* rows_data() const { return layout == kernels::WeightLayout::rows ? data : stored; }
};

struct LayerWeights {
    const float* attn_norm = nullptr;  // (d_model)
    WeightMatrix ssm_in;               // (2*d_inner x d_model): x half, then z half
    const float* conv_w = nullptr;     // (d_inner x d_conv)
    const float* conv_b = nullptr;     // (d_inner)
    WeightMatrix ssm_x;                // (dt_rank + 2*d_state x d_inner): dt, B, C
    WeightMatrix ssm_dt;               // (d_inner x dt_rank)
    const float* dt_bias = nullptr;    // (d_inner)
    const float* A = nullptr;          // (d_inner x d_state), = -exp(A_log)
    const float* D = nullptr;          // (d_inner)
    WeightMatrix ssm_out;              // (d_model x d_inner)
};

struct ModelImpl {
    gguf::File file;
    std::string path;
    std::string arch;
    std::string name;
    ModelParams params;
    HParams hp;

    WeightMatrix tok_embd;             // (n_vocab x d_model)
    const float* output_norm = nullptr;// (d_model)
    WeightMatrix output;               // (n_vocab x d_model); = tok_embd when tied
    std::vector<LayerWeights> layers;

    std::unique_ptr<Tokenizer> tokenizer;  // null when the file has no tokenizer
    const kernels::CpuKernels* kernels = nullptr;
    uint64_t fingerprint = 0;
    uint64_t weight_bytes = 0;

    // f32 copies of small vectors stored in another type (norms, biases, A, D may be
    // F16/BF16 in hand-made files); the views above point into these.
    std::deque<std::vector<float>> owned;
    // The weight matrices copied or re-laid at load (relayout.cpp): aligned malloc'd buffers.
    struct FreeDeleter {
        void operator()(void* p) const noexcept;
    };
    std::deque<std::unique_ptr<uint8_t, FreeDeleter>> relaid;

    // Device::cuda: the weights on the GPU (lib/cuda); Sessions then run there.
    std::shared_ptr<gpu::DeviceModel> gpu;

    StateDims state_dims() const { return {hp.n_layer, hp.d_inner, hp.d_conv, hp.d_state}; }

    explicit ModelImpl(gguf::File f) : file(std::move(f)) {}
};

// Builds a ModelImpl from a parsed file (all validation of shapes and types).
std::shared_ptr<ModelImpl> build_model(gguf::File file, const std::string& path,
                                       const ModelParams& params);

// CPU models loaded from a mapped file: copies every matrix the matmuls read (not the
// embedding, which is read by row) into the model's own memory in huge pages, re-laying
// Q8_0 into Q8_0x16 where the kernels take it (fast precision, int8 dot products), and
// hands the file pages it came from back to the OS. Without huge pages
// (huge_pages_available) only the re-laid matrices are copied. Does nothing for a GPU model, a file
// read into memory (the copy would double the resident size), or KAA_RELAYOUT=0; skips
// the output matrix of tied embeddings. Reports progress from `from` to `to` as it goes;
// an exception from `progress` (a cancelled load) leaves the model's views on the file
// and propagates.
void relayout_weights(ModelImpl& m, const std::function<void(float)>& progress, float from, float to);

// Whether the copies relayout_weights makes can get huge pages: Linux, with transparent
// huge pages not switched off. Elsewhere it copies only what it re-lays: a copy as it
// is would cost load time and gain nothing.
bool huge_pages_available();

}  // namespace kaa::detail
