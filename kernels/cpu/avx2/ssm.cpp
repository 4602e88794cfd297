// AVX2 per-channel kernels: causal conv1d + SiLU, the selective scan with its gate, and
// RMS norm, 8 lanes per channel group. The algorithms: x86/ssm.inl.
#include "kernels/cpu/avx2/vec256.hpp"
#include "kernels/cpu/x86/ssm.inl"

namespace kaa::kernels::avx2 {

void conv1d_silu_kernel(const ConvParams& p) { x86::conv1d_silu<Vec256>(p); }
void scan_kernel(const ScanParams& p) { x86::scan<Vec256>(p); }
void rms_norm_kernel(const float* x, const float* w, float* y, int64_t n, float eps) {
    x86::rms_norm<Vec256>(x, w, y, n, eps);
}

}  // namespace kaa::kernels::avx2
