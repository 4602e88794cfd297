// synth.hpp — deterministic synthetic Mamba-1 models in GGUF form.
//
// The files have exactly the layout the llama.cpp converter gives real Falcon-Mamba /
// Mamba models (the shared tiny-*.gguf test models): the same tensor names, order, dims
// and per-tensor types, the same metadata keys. The weights are pseudo-random from
// `seed`, scaled so activations stay in a sane range, and do not depend on the thread
// count. They let tests and benchmarks run any shape, up to the real 7B layer shape,
// without downloading a model.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gguf/gguf.hpp"
#include "gguf/writer.hpp"

namespace kaa::gguf {

struct SynthSpec {
    int64_t d_model = 64, n_layer = 2, d_inner = 128, d_state = 16, d_conv = 4, dt_rank = 4,
            n_vocab = 256;
    bool tied = true;         // no output.weight: the head reuses token_embd
    bool dt_b_c_rms = true;   // Falcon-Mamba's extra RMS norms on dt, B, C
    TensorType type = TensorType::f32;  // of the matrices; see tensor_type_for()
    uint64_t seed = 1;
    // Optional GGUF whose tokenizer.* metadata is copied; n_vocab then comes from its
    // tokenizer.ggml.tokens. Without it the file holds n_vocab placeholder tokens "<i>".
    std::string vocab_from;
    // Without vocab_from: write a small working byte-level BPE tokenizer (256 byte
    // tokens, a few merges, "<|endoftext|>" as eos, ChatML template) so the model can
    // generate text; n_vocab is then set by it. Otherwise placeholder tokens "<i>".
    bool byte_vocab = false;
    std::string name;         // general.name; "synthetic-mamba" when empty
    int n_threads = 0;        // for generating weights; 0 = all hardware threads
};

// The spec with the 7B layer shape (d_model 4096, d_inner 8192, d_state 16, d_conv 4,
// dt_rank 256, vocab 65024, untied); n_layer, type and seed are kept.
SynthSpec falcon_mamba_7b_shape(SynthSpec base = {});

// The type a tensor gets under `spec`: F32 for 1-D tensors, ssm_a, ssm_d, biases and
// ssm_conv1d.weight; spec.type for the matrices, except F16 under Q8_0 when ne[0] is not
// a multiple of 32 (as the reference converter does).
TensorType tensor_type_for(const SynthSpec& spec, const std::string& name, uint64_t ne0);

// GGUF general.file_type for a matrix type (0, 1, 7 for Q8_0, 32 for BF16).
uint32_t file_type_for(TensorType type);

// Metadata and tensor declarations (no data). Throws kaa::Error(invalid_argument) for a
// bad spec, or the reader's errors for a bad vocab_from file.
Writer synth_layout(const SynthSpec& spec);

// The whole file in memory (small models; tests).
std::vector<uint8_t> synth_model_bytes(const SynthSpec& spec);

// Writes the file tensor by tensor, atomically, holding only a few MiB at a time.
void write_synth_model(const SynthSpec& spec, const std::string& path);

}  // namespace kaa::gguf
