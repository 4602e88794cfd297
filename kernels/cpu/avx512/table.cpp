// The avx512 kernel table (AVX-512 F/BW/VL/DQ), with or without VNNI for Q8_0.
#include "kernels/kernels.hpp"

namespace kaa::kernels {
namespace avx512 {
void matmul_plain(const MatmulParams& p);
void matmul_vnni(const MatmulParams& p);
void dequantize_row(WeightType t, const void* row, float* out, int64_t K);
void conv1d_silu_kernel(const ConvParams& p);
void scan_kernel(const ScanParams& p);
void rms_norm_kernel(const float* x, const float* w, float* y, int64_t n, float eps);
}  // namespace avx512

const CpuKernels& avx512_kernels(bool vnni) {
    // Only Q8_0 quantizes activations (int8 per 32-block); F16/BF16 weights are widened
    // to f32 exactly and multiplied by f32 activations.
    constexpr uint32_t kQuant = 1u << unsigned(WeightType::q8_0);
    static const CpuKernels plain = {
        "avx512", avx512::matmul_plain, avx512::conv1d_silu_kernel, avx512::scan_kernel,
        avx512::rms_norm_kernel, avx512::dequantize_row, kQuant, "avx512 (f/bw/vl/dq)",
    };
    static const CpuKernels with_vnni = {
        "avx512", avx512::matmul_vnni, avx512::conv1d_silu_kernel, avx512::scan_kernel,
        avx512::rms_norm_kernel, avx512::dequantize_row, kQuant, "avx512 (f/bw/vl/dq) + vnni",
    };
    return vnni ? with_vnni : plain;
}

}  // namespace kaa::kernels
