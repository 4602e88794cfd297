// AVX-512 per-channel kernels: causal conv1d + SiLU, the selective scan with its gate, and
// RMS norm, 16 lanes per channel group. The algorithms: x86/ssm.inl.
#include "kernels/cpu/avx512/vec512.hpp"
#include "kernels/cpu/x86/ssm.inl"

namespace kaa::kernels::avx512 {

void conv1d_silu_kernel(const ConvParams& p) { x86::conv1d_silu<Vec512>(p); }
void scan_kernel(const ScanParams& p) { x86::scan<Vec512>(p); }
void rms_norm_kernel(const float* x, const float* w, float* y, int64_t n, float eps) {
    x86::rms_norm<Vec512>(x, w, y, n, eps);
}

}  // namespace kaa::kernels::avx512
