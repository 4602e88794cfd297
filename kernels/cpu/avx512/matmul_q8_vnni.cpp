// AVX-512 Q8_0 matmul with VNNI: one vpdpbusd per 64 weight bytes and token. The weight
// is the unsigned side after xor 0x80 (w + 128); the accumulator starts at
// nc = -128 * (lane sum of q), which removes the 128 * q excess exactly. Compiled with
// AVX-512 F/BW/VL/DQ + VNNI.
#include "kernels/cpu/avx512/matmul_q8.hpp"

namespace kaa::kernels::avx512 {
namespace {

struct DotVnni {
    using W = __m512i;  // w xor 0x80, as unsigned bytes
    static W prep(__m512i w) { return _mm512_xor_si512(w, _mm512_set1_epi8(char(0x80))); }
    static __m512i dot(const W& w, __m512i q, __m512i nc) { return _mm512_dpbusd_epi32(nc, w, q); }
};

}  // namespace

void matmul_q8_vnni(const MatmulParams& p) { matmul_q8<DotVnni>(p); }

}  // namespace kaa::kernels::avx512
