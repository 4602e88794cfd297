// requantize.hpp — rewriting a Mamba GGUF file with its weight matrices in another type
// (the library half of the kaa-quantize tool; tests call it directly).
//
// Which tensors change: the same rule the llama.cpp converter and kaa's synthetic models
// follow (gguf::tensor_type_for): token_embd, output and the ssm_in / ssm_x / ssm_dt /
// ssm_out matrices take the target type, except that under Q8_0 a matrix whose rows are
// not a multiple of 32 (ssm_dt.weight: dt_rank elements per row) falls back to F16; every
// other tensor (norms, biases, ssm_a, ssm_d, ssm_conv1d.weight) is F32. A tensor already
// of the type it should have is copied byte for byte, so Q8_0 -> Q8_0 is lossless and
// Q8_0 -> F32 -> Q8_0 gives back the same bytes.
//
// Supported conversions (source tensor type -> type the rule asks for):
//   F32, F16, BF16 -> F32, F16, BF16, Q8_0
//   Q8_0           -> F32, F16, Q8_0 (copied)
// Q8_0 -> BF16 is refused: BF16's 8-bit mantissa would round the int8 x f16 products a
// second time for no gain in size or speed; convert from the original weights instead.
//
// Memory: the input is memory-mapped and each tensor is converted in chunks of a few MiB
// that are written out at once (gguf::StreamWriter), so a 7B model needs a few MiB of
// heap whatever its size. The output appears atomically (temporary file + rename).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "gguf/gguf.hpp"

namespace kaa::gguf {

// "f32", "f16", "bf16", "q8_0" (any case; "Q8_0", "q80" not accepted). nullopt otherwise.
std::optional<TensorType> parse_tensor_type(std::string_view name);

// The type tensor `name` (rows of `ne0` elements) gets when the file's matrices are
// converted to `target` (see the rule above).
TensorType requantized_type(const std::string& name, uint64_t ne0, TensorType target);

// Whether a tensor stored as `from` may be converted to `to` (see the list above).
bool conversion_supported(TensorType from, TensorType to) noexcept;

struct RequantizeProgress {
    size_t tensor = 0;          // index of the tensor being written
    size_t n_tensors = 0;
    const TensorInfo* info = nullptr;  // the input tensor
    TensorType out_type = TensorType::f32;
    uint64_t bytes_done = 0;    // input bytes processed so far, whole file
    uint64_t bytes_total = 0;   // input tensor bytes, whole file
};

struct RequantizeOptions {
    TensorType type = TensorType::q8_0;  // target type of the matrices
    int n_threads = 0;                   // 0 = all hardware threads
    // Called after every chunk (a few MiB) and once per tensor; may be empty.
    std::function<void(const RequantizeProgress&)> progress;
};

struct RequantizeStats {
    size_t n_tensors = 0;
    size_t n_converted = 0;   // tensors whose type changed
    size_t n_copied = 0;      // tensors copied byte for byte
    uint64_t bytes_in = 0;    // file sizes
    uint64_t bytes_out = 0;
};

// Reads the GGUF at `in` (general.architecture must be "mamba") and writes `out` with
// every metadata entry carried over in order (general.file_type set for `opts.type`) and
// every tensor in the same order, converted as above. Throws kaa::Error: the reader's
// errors for a bad input, unsupported for another architecture or a refused conversion
// (checked for every tensor before anything is written), invalid_argument when `out`
// names the input file, io when writing fails (no partial output is left behind).
RequantizeStats requantize_file(const std::string& in, const std::string& out,
                                const RequantizeOptions& opts = {});

}  // namespace kaa::gguf
