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
    std::vector<float> logits;// (rows x n_vocab) LM head output when several segments share it

    void allocate(const HParams& hp, int64_t capacity);
};

// A run of tokens of one sequence. Several segments (of different Sessions) go through
// the model together: their rows are stacked so each weight is read once for all of
// them, while conv and scan run per segment on its own state.
struct Segment {
    float* state;          // StateDims layout, updated in place
    const Token* tokens;   // T ids, already validated
    int64_t T;
    float* logits;         // n_vocab floats per row: the last row, or all T rows with
                           // all_rows; null for none
    bool all_rows;
};

// Runs the segments (total tokens <= scratch.capacity) through the model.
void forward(const ModelImpl& m, runtime::ThreadPool& pool, Scratch& s, const Segment* segs,
             size_t n_segs);

}  // namespace kaa::detail
