// AVX2 Q8_0 matmul with int8 activations, without VNNI (Haswell .. Zen 3): vpsignb +
// vpmaddubsw + vpmaddwd per block (Vec256::dot_maddubs), the same per-block int32 sums,
// hence the same bits, as the AVX-VNNI variant. Compiled with AVX2 + FMA + F16C. The
// algorithm: x86/matmul_q8.inl.
#include "kernels/cpu/avx2/vec256.hpp"
#include "kernels/cpu/x86/matmul_q8.inl"

namespace kaa::kernels::avx2 {

void matmul_q8_plain(const MatmulParams& p) { x86::matmul_q8<Vec256, x86::DotMaddubs<Vec256>>(p); }

// The shared int8 activations of every avx2 variant (plain, VNNI).
size_t quant_x_bytes(int64_t M, int64_t K) { return x86::quant_x_bytes(M, K); }
void quantize_x(const float* x, int64_t x_stride, int64_t M, int64_t K, int64_t m_begin, int64_t m_end, void* out) {
    x86::quantize_x<Vec256>(x, x_stride, M, K, m_begin, m_end, out);
}

}  // namespace kaa::kernels::avx2
