// AVX-VNNI Q8_0 matmul (Alder Lake, Sapphire Rapids, Zen 5): the GEMV kernel with
// vpdpbusd, and the packed GEMM (2 groups of 8 rows x 3 tokens per micro kernel).
// Compiled with AVX2 + AVX-VNNI, the only avx2 file that may use it. The algorithm:
// x86/matmul_q8_vnni.inl.
#include "kernels/cpu/avx2/vec256.hpp"
#include "kernels/cpu/x86/matmul_q8_vnni.inl"

namespace kaa::kernels::avx2 {
namespace {

struct Dpbusd {  // VEX-encoded vpdpbusd (AVX-VNNI)
    static __m256i dpbusd(__m256i acc, __m256i w, __m256i x) { return _mm256_dpbusd_avx_epi32(acc, w, x); }
};

}  // namespace

void matmul_q8_vnni(const MatmulParams& p) { x86::matmul_q8<Vec256, x86::DotVnni<Vec256, Dpbusd>>(p); }

}  // namespace kaa::kernels::avx2
