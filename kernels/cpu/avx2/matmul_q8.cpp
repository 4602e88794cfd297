// AVX2 Q8_0 matmul with int8 activations, without VNNI (Haswell .. Zen 3): vpsignb +
// vpmaddubsw + vpmaddwd per block (Vec256::dot_maddubs), the same per-block int32 sums,
// hence the same bits, as the AVX-VNNI variant. Compiled with AVX2 + FMA + F16C. The
// algorithm: x86/matmul_q8.inl.
#include "kernels/cpu/avx2/vec256.hpp"
#include "kernels/cpu/x86/matmul_q8.inl"

namespace kaa::kernels::avx2 {

void matmul_q8_plain(const MatmulParams& p) { x86::matmul_q8<Vec256, x86::DotMaddubs<Vec256>>(p); }

}  // namespace kaa::kernels::avx2
