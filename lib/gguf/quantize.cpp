#include "gguf/quantize.hpp"

#include <cmath>
#include <cstring>
#include <string>

#include "kaa/error.hpp"
#include "kernels/cpu/numeric.hpp"

namespace kaa::gguf {

namespace {

void check_q8_0_length(int64_t k, const char* fn) {
    if (k < 0 || k % kQ8_0BlockSize != 0)
        throw Error(ErrorCode::invalid_argument,
                    std::string(fn) + ": length " + std::to_string(k) +
                        " is not a non-negative multiple of 32");
}

}  // namespace

void quantize_row_q8_0(const float* x, BlockQ8_0* out, int64_t k) {
    check_q8_0_length(k, "quantize_row_q8_0");
    const int64_t nb = k / kQ8_0BlockSize;
    for (int64_t b = 0; b < nb; ++b) {
        const float* xb = x + b * kQ8_0BlockSize;
        float amax = 0.0f;
        for (int i = 0; i < kQ8_0BlockSize; ++i) {
            const float a = std::fabs(xb[i]);
            amax = a > amax ? a : amax;  // NaN never wins the comparison
        }
        // The scale is computed and applied in f32, then stored rounded to f16; this is
        // what the reference quantizer does, so both produce identical blocks.
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        out[b].d = kernels::f32_to_f16(d);
        for (int i = 0; i < kQ8_0BlockSize; ++i) {
            float v = std::round(xb[i] * id);
            if (!(v == v)) v = 0.0f;  // NaN input (or inf * 0): no valid integer
            v = v > 127.0f ? 127.0f : (v < -127.0f ? -127.0f : v);
            out[b].qs[i] = int8_t(v);
        }
    }
}

void dequantize_row_q8_0(const BlockQ8_0* x, float* out, int64_t k) {
    check_q8_0_length(k, "dequantize_row_q8_0");
    const int64_t nb = k / kQ8_0BlockSize;
    for (int64_t b = 0; b < nb; ++b) {
        const float d = kernels::f16_to_f32(x[b].d);
        for (int i = 0; i < kQ8_0BlockSize; ++i)
            out[b * kQ8_0BlockSize + i] = d * float(x[b].qs[i]);
    }
}

void convert_row_f32_to_f16(const float* x, uint16_t* out, int64_t n) {
    for (int64_t i = 0; i < n; ++i) out[i] = kernels::f32_to_f16(x[i]);
}

void convert_row_f32_to_bf16(const float* x, uint16_t* out, int64_t n) {
    for (int64_t i = 0; i < n; ++i) out[i] = kernels::f32_to_bf16(x[i]);
}

void convert_row_f16_to_f32(const uint16_t* x, float* out, int64_t n) {
    for (int64_t i = 0; i < n; ++i) out[i] = kernels::f16_to_f32(x[i]);
}

void convert_row_bf16_to_f32(const uint16_t* x, float* out, int64_t n) {
    for (int64_t i = 0; i < n; ++i) out[i] = kernels::bf16_to_f32(x[i]);
}

void encode_row(TensorType type, const float* x, void* out, int64_t n) {
    switch (type) {
        case TensorType::f32:
            if (n > 0) std::memcpy(out, x, size_t(n) * sizeof(float));
            return;
        case TensorType::f16: convert_row_f32_to_f16(x, static_cast<uint16_t*>(out), n); return;
        case TensorType::bf16: convert_row_f32_to_bf16(x, static_cast<uint16_t*>(out), n); return;
        case TensorType::q8_0: quantize_row_q8_0(x, static_cast<BlockQ8_0*>(out), n); return;
    }
    throw Error(ErrorCode::invalid_argument, "encode_row: unknown tensor type");
}

void decode_row(TensorType type, const void* x, float* out, int64_t n) {
    switch (type) {
        case TensorType::f32:
            if (n > 0) std::memcpy(out, x, size_t(n) * sizeof(float));
            return;
        case TensorType::f16: convert_row_f16_to_f32(static_cast<const uint16_t*>(x), out, n); return;
        case TensorType::bf16: convert_row_bf16_to_f32(static_cast<const uint16_t*>(x), out, n); return;
        case TensorType::q8_0: dequantize_row_q8_0(static_cast<const BlockQ8_0*>(x), out, n); return;
    }
    throw Error(ErrorCode::invalid_argument, "decode_row: unknown tensor type");
}

}  // namespace kaa::gguf
