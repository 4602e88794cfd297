// forward.hpp — the Mamba-1 forward pass over a chunk of tokens.
#pragma once

#include <cstdint>
#include <vector>

#include "kaa/types.hpp"
#include "model/model_impl.hpp"
#include "runtime/thread_pool.hpp"

namespace kaa::detail {

// Activation buffers of a Session, for up to `capacity` (n_batch) tokens a chunk. They
// grow to the largest chunk the Session has run (reserve), so a Session that only
// decodes holds one token's worth (~220 KB at the 7B shape) rather than n_batch's.
//
// Rows of d_inner-wide buffers are ld_di floats apart, of xz ld_xz: d_inner + kRowPad and
// 2 d_inner + kRowPad. conv1d and the scan walk each channel group down the rows, and
// with a power-of-two row length (d_inner 8192: 32 KiB) every row of a group falls into
// the same few cache sets, which evict each other; the pad spreads them. Scan alone,
// d_inner 8192, 256 tokens, 1 thread: 272-283 ns per 16 channels x step unpadded,
// 147-174 ns with 64 floats (16 and 32: 233-246 and 199-214; 48-256: 187-212).
struct Scratch {
    static constexpr int64_t kRowPad = 64;
    int64_t capacity = 0;  // tokens per chunk (SessionParams::n_batch)
    int64_t rows = 0;      // tokens the buffers below hold
    int64_t ld_di = 0, ld_xz = 0;
    std::vector<float> h;     // (T x d_model) residual stream
    std::vector<float> xn;    // (T x d_model) normed input of a layer / of the LM head
    std::vector<float> xz;    // (T x 2*d_inner, rows ld_xz apart) in_proj output: x half, then z half
    std::vector<float> xc;    // (T x d_inner, rows ld_di apart) conv1d + SiLU output
    std::vector<float> xdbl;  // (T x dt_rank+2*d_state) x_proj output: dt, B, C
    std::vector<float> dt;    // (T x d_inner, ld_di) dt_proj output (bias and softplus in the scan)
    std::vector<float> y;     // (T x d_inner, ld_di) gated scan output
    std::vector<float> out;   // (T x d_model) out_proj output
    std::vector<float> logits;// (rows x n_vocab) LM head output when several segments share it
    std::vector<uint8_t> xq;  // int8 activations shared by a matmul's threads (forward.cpp shared_x)

    // Grows the buffers to hold T tokens (T <= capacity); never shrinks them.
    void reserve(const HParams& hp, int64_t T);
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
