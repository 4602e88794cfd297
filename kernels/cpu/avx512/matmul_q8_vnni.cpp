// AVX-512 VNNI Q8_0 matmul: the GEMV kernel with vpdpbusd, and the packed GEMM (2 groups
// of 16 rows x 6 tokens per micro kernel). Compiled with AVX-512 F/BW/VL/DQ + VNNI, the
// only avx512 file that may use it. The algorithm: x86/matmul_q8_vnni.inl.
#include "kernels/cpu/avx512/vec512.hpp"
#include "kernels/cpu/x86/matmul_q8_vnni.inl"

namespace kaa::kernels::avx512 {
namespace {

struct Dpbusd {  // EVEX-encoded vpdpbusd (AVX-512 VNNI)
    static __m512i dpbusd(__m512i acc, __m512i w, __m512i x) { return _mm512_dpbusd_epi32(acc, w, x); }
};

}  // namespace

void matmul_q8_vnni(const MatmulParams& p) { x86::matmul_q8<Vec512, x86::DotVnni<Vec512, Dpbusd>>(p); }

}  // namespace kaa::kernels::avx512
