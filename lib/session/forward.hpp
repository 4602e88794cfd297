// forward.hpp — the Mamba-1 forward pass over a chunk of tokens.
#pragma once

#include <vector>

#include "kaa/types.hpp"
#include "model/model_impl.hpp"
#include "runtime/thread_pool.hpp"

namespace kaa::detail {

// Activation buffers for up to `capacity` tokens, allocated once per Session.
struct Scratch {
    int64_t capacity = 0;
    std::vector<float> h;     // (T x d_model) residual stream
    std::vector<float> xn;    // (T x d_model) normed input of a layer / of the LM head
    std::vector<float> xz;    // (T x 2*d_inner) in_proj output: x half, then z half
    std::vector<float> xc;    // (T x d_inner) conv1d + SiLU output
    std::vector<float> xdbl;  // (T x dt_rank+2*d_state) x_proj output: dt, B, C
    std::vector<float> dt;    // (T x d_inner) dt_proj output (bias and softplus in the scan)
    std::vector<float> y;     // (T x d_inner) gated scan output
    std::vector<float> out;   // (T x d_model) out_proj output

    void allocate(const HParams& hp, int64_t capacity);
};

// Runs T tokens (T <= scratch.capacity) through the model, updating `state`
// (StateDims layout). Writes logits (n_vocab floats per row) for the last row only, or
// for all T rows when all_rows, to `logits`.
void forward(const ModelImpl& m, runtime::ThreadPool& pool, Scratch& s, float* state,
             const Token* tokens, int64_t T, float* logits, bool all_rows);

}  // namespace kaa::detail
