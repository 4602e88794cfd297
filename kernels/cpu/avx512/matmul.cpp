// AVX-512 matmul for F32 / F16 / BF16 weights (and Q8_0 with f32 activations), row
// dequantization, and the matmul entry points that route Q8_0 with int8 activations to
// matmul_q8.cpp, matmul_q8_vnni.cpp or matmul_q8_amx.cpp. The algorithms: x86/matmul.inl.
#include "kernels/cpu/avx512/vec512.hpp"
#include "kernels/cpu/x86/matmul.inl"

namespace kaa::kernels::avx512 {

void matmul_q8_plain(const MatmulParams& p);  // matmul_q8.cpp
void matmul_q8_vnni(const MatmulParams& p);   // matmul_q8_vnni.cpp
void matmul_q8_amx(const MatmulParams& p);    // matmul_q8_amx.cpp
void matmul_q8_amx_emulated(const MatmulParams& p);

void matmul_plain(const MatmulParams& p) { x86::matmul<Vec512>(p, matmul_q8_plain); }
void matmul_vnni(const MatmulParams& p) { x86::matmul<Vec512>(p, matmul_q8_vnni); }
void matmul_amx(const MatmulParams& p) { x86::matmul<Vec512>(p, matmul_q8_amx); }
void matmul_amx_emulated(const MatmulParams& p) { x86::matmul<Vec512>(p, matmul_q8_amx_emulated); }
void dequantize_row(WeightType t, const void* row, float* out, int64_t K) {
    x86::dequantize_row<Vec512>(t, row, out, K);
}

}  // namespace kaa::kernels::avx512
