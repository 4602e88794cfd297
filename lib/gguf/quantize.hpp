// quantize.hpp — encoding f32 rows as the tensor types kaa stores (F16, BF16, Q8_0) and
// decoding them back. Bit-exact with the reference ggml formats, so files written with
// these helpers load in other GGUF readers and vice versa.
#pragma once

#include <cstdint>

#include "gguf/gguf.hpp"

namespace kaa::gguf {

// Q8_0, k a multiple of 32 (else kaa::Error(invalid_argument)). Per block of 32:
// d = max|x| / 127 (in f32), q = round-half-away-from-zero(x * (1/d)), then d is stored as
// f16. A block of zeros gets d = 0 and q = 0. NaN inputs quantize to 0.
void quantize_row_q8_0(const float* x, BlockQ8_0* out, int64_t k);
// out[i] = f16(d) * q[i], exact in f32.
void dequantize_row_q8_0(const BlockQ8_0* x, float* out, int64_t k);

// Round to nearest even; NaN stays NaN.
void convert_row_f32_to_f16(const float* x, uint16_t* out, int64_t n);
void convert_row_f32_to_bf16(const float* x, uint16_t* out, int64_t n);
void convert_row_f16_to_f32(const uint16_t* x, float* out, int64_t n);
void convert_row_bf16_to_f32(const uint16_t* x, float* out, int64_t n);

// Encodes n values as `type` into row_bytes(type, n) bytes at out, and back.
// n must be a multiple of block_elements(type) (else kaa::Error(invalid_argument)).
void encode_row(TensorType type, const float* x, void* out, int64_t n);
void decode_row(TensorType type, const void* x, float* out, int64_t n);

}  // namespace kaa::gguf
