// The neon kernel table (AArch64 Advanced SIMD), with or without the ARMv8.2 dot product
// extension (SDOT) for Q8_0 with int8 activations. Both variants give identical bits.
#include "kernels/kernels.hpp"

namespace kaa::kernels {
namespace neon {
void matmul_plain(const MatmulParams& p);
void matmul_dot(const MatmulParams& p);
void dequantize_row(WeightType t, const void* row, float* out, int64_t K);
void conv1d_silu_kernel(const ConvParams& p);
void scan_kernel(const ScanParams& p);
void rms_norm_kernel(const float* x, const float* w, float* y, int64_t n, float eps);
size_t quant_x_bytes(int64_t M, int64_t K);  // matmul_q8.cpp
void quantize_x(const float* x, int64_t x_stride, int64_t M, int64_t K, int64_t m_begin, int64_t m_end, void* out);
}  // namespace neon

const CpuKernels& neon_kernels(bool dotprod) {
    // Only Q8_0 quantizes activations (int8 per 32-block, Precision::fast); F16/BF16 are
    // widened to f32 exactly and multiplied by f32 activations.
    constexpr uint32_t kQuant = 1u << unsigned(WeightType::q8_0);
    static const CpuKernels plain = {
        "neon", neon::matmul_plain, neon::conv1d_silu_kernel, neon::scan_kernel,
        neon::rms_norm_kernel, neon::dequantize_row, kQuant, "neon", /*q8_0_x16=*/false,
        neon::quant_x_bytes, neon::quantize_x,
    };
    static const CpuKernels with_dot = {
        "neon", neon::matmul_dot, neon::conv1d_silu_kernel, neon::scan_kernel,
        neon::rms_norm_kernel, neon::dequantize_row, kQuant, "neon + dotprod", /*q8_0_x16=*/false,
        neon::quant_x_bytes, neon::quantize_x,
    };
    return dotprod ? with_dot : plain;
}

}  // namespace kaa::kernels
