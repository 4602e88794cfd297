// AVX-512 Q8_0 matmul with int8 activations, without VNNI (Skylake-X class): vpmaddubsw +
// vpmaddwd per pair of blocks (Vec512::dot_maddubs), the same per-block int32 sums, hence
// the same bits, as the VNNI variant. Compiled with AVX-512 F/BW/VL/DQ. The algorithm:
// x86/matmul_q8.inl.
#include "kernels/cpu/avx512/vec512.hpp"
#include "kernels/cpu/x86/matmul_q8.inl"

namespace kaa::kernels::avx512 {

void matmul_q8_plain(const MatmulParams& p) { x86::matmul_q8<Vec512, x86::DotMaddubs<Vec512>>(p); }

}  // namespace kaa::kernels::avx512
