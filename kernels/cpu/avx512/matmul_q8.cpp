// AVX-512 Q8_0 matmul with int8 activations, without VNNI (Skylake-X class): vpmaddubsw +
// vpmaddwd per pair of blocks (Vec512::dot_maddubs), the same per-block int32 sums, hence
// the same bits, as the VNNI variant. Compiled with AVX-512 F/BW/VL/DQ. The algorithm:
// x86/matmul_q8.inl.
#include "kernels/cpu/avx512/vec512.hpp"
#include "kernels/cpu/x86/matmul_q8.inl"

namespace kaa::kernels::avx512 {

void matmul_q8_plain(const MatmulParams& p) { x86::matmul_q8<Vec512, x86::DotMaddubs<Vec512>>(p); }

// The shared int8 activations of every avx512 variant (plain, VNNI, AMX).
size_t quant_x_bytes(int64_t M, int64_t K) { return x86::quant_x_bytes(M, K); }
void quantize_x(const float* x, int64_t x_stride, int64_t M, int64_t K, int64_t m_begin, int64_t m_end, void* out) {
    x86::quantize_x<Vec512>(x, x_stride, M, K, m_begin, m_end, out);
}

}  // namespace kaa::kernels::avx512
