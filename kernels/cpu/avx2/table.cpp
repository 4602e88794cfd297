// The avx2 kernel table (AVX2 + FMA + F16C), with or without AVX-VNNI for Q8_0.
#include "kernels/kernels.hpp"

namespace kaa::kernels {
namespace avx2 {
void matmul_plain(const MatmulParams& p);
void matmul_vnni(const MatmulParams& p);
void dequantize_row(WeightType t, const void* row, float* out, int64_t K);
void conv1d_silu_kernel(const ConvParams& p);
void scan_kernel(const ScanParams& p);
void rms_norm_kernel(const float* x, const float* w, float* y, int64_t n, float eps);
}  // namespace avx2

const CpuKernels& avx2_kernels(bool vnni) {
    // Only Q8_0 quantizes activations (int8 per 32-block); F16/BF16 weights are widened
    // to f32 exactly and multiplied by f32 activations.
    constexpr uint32_t kQuant = 1u << unsigned(WeightType::q8_0);
    static const CpuKernels plain = {
        "avx2", avx2::matmul_plain, avx2::conv1d_silu_kernel, avx2::scan_kernel,
        avx2::rms_norm_kernel, avx2::dequantize_row, kQuant, "avx2 + fma + f16c",
    };
    static const CpuKernels with_vnni = {
        "avx2", avx2::matmul_vnni, avx2::conv1d_silu_kernel, avx2::scan_kernel,
        avx2::rms_norm_kernel, avx2::dequantize_row, kQuant, "avx2 + fma + f16c + avx-vnni",
    };
    return vnni ? with_vnni : plain;
}

}  // namespace kaa::kernels
