#include "gguf/quantize.hpp"

#include <cmath>
#include <cstring>
#include <limits>
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

// Rounds v (|v| < 2^22) to the nearest integer, ties away from zero, exactly as
// std::round does but without the libm call that dominated quantization time, and with
// no branches so the loop vectorizes: adding and subtracting 1.5 * 2^23 rounds with ties
// to even; a tie that went toward zero (r = v - t is +-0.5 with the sign of v) is then
// moved one step away. Relies on strict IEEE arithmetic (kaa never uses -ffast-math).
inline float round_half_away(float v) {
    const float magic = 12582912.0f;
    const float t = (v + magic) - magic;
    const float r = v - t;  // exact, in [-0.5, 0.5]
    const float toward_zero = ((std::fabs(r) == 0.5f) & (r * v > 0.0f)) ? 1.0f : 0.0f;
    return t + (r + r) * toward_zero;
}

// One block the slow, careful way: NaN/inf inputs, or a subnormal scale (imprecise, its
// inverse may overflow). Saturates to +-127, NaN -> 0 (casting NaN or inf to an integer
// would be undefined behaviour).
void quantize_block_q8_0_careful(const float* xb, BlockQ8_0& out) {
    float amax = 0.0f;
    for (int i = 0; i < kQ8_0BlockSize; ++i) {
        const float a = std::fabs(xb[i]);
        amax = a > amax ? a : amax;  // NaN never wins the comparison
    }
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    out.d = kernels::f32_to_f16(d);
    for (int i = 0; i < kQ8_0BlockSize; ++i) {
        const float v = xb[i] * id;
        float q = 0.0f;
        if (std::fabs(v) <= 127.0f) q = round_half_away(v);
        else if (v > 0.0f) q = 127.0f;
        else if (v < 0.0f) q = -127.0f;
        out.qs[i] = int8_t(int(q));
    }
}

}  // namespace

void quantize_row_q8_0(const float* x, BlockQ8_0* out, int64_t k) {
    check_q8_0_length(k, "quantize_row_q8_0");
    const int64_t nb = k / kQ8_0BlockSize;
    for (int64_t b = 0; b < nb; ++b) {
        const float* xb = x + b * kQ8_0BlockSize;
        // max |x| on the bit patterns: for finite floats the order of |x| and of its bits
        // agree, and integer max vectorizes where a float max (NaN rules) does not.
        uint32_t amax_bits = 0;
        for (int i = 0; i < kQ8_0BlockSize; ++i) {
            uint32_t bits;
            std::memcpy(&bits, xb + i, 4);
            bits &= 0x7fffffffu;
            amax_bits = bits > amax_bits ? bits : amax_bits;
        }
        float amax;
        std::memcpy(&amax, &amax_bits, 4);
        // The scale is computed and applied in f32, then stored rounded to f16; this is
        // what the reference quantizer does, so both produce identical blocks.
        const float d = amax / 127.0f;
        // A normal scale (or 0) and finite inputs: |x * id| <= 127 * (1 + 3 ulp) < 127.5,
        // so no clamping is needed.
        if (!(amax_bits < 0x7f800000u && (d == 0.0f || d >= std::numeric_limits<float>::min()))) {
            quantize_block_q8_0_careful(xb, out[b]);
            continue;
        }
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        out[b].d = kernels::f32_to_f16(d);
        // Two passes (round in f32, then narrow) so each one vectorizes.
        float q[kQ8_0BlockSize];
        for (int i = 0; i < kQ8_0BlockSize; ++i) q[i] = round_half_away(xb[i] * id);
        int8_t* qs = out[b].qs;
        for (int i = 0; i < kQ8_0BlockSize; ++i) qs[i] = int8_t(int(q[i]));
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
