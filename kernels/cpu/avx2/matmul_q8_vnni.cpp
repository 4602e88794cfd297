// AVX2 Q8_0 matmul with AVX-VNNI (Alder Lake, Sapphire Rapids, Zen 5): one vpdpbusd per
// 32 weight bytes and token, weight as the unsigned side (w xor 0x80 = w + 128) and the
// accumulator started at nc = -128 * (lane sum of q). Compiled with AVX2 + AVX-VNNI.
#include "kernels/cpu/avx2/matmul_q8.hpp"

namespace kaa::kernels::avx2 {
namespace {

struct DotVnni {
    static constexpr int kR = 2, kT = 4;  // 8 accumulators + 2 x (w, scale)
    using W = __m256i;                    // w xor 0x80, as unsigned bytes
    static W prep(__m256i w) { return _mm256_xor_si256(w, _mm256_set1_epi8(char(0x80))); }
    static __m256i dot(const W& w, __m256i q, const int32_t* nc) {
        return _mm256_dpbusd_avx_epi32(_mm256_load_si256(reinterpret_cast<const __m256i*>(nc)), w, q);
    }
};

}  // namespace

void matmul_q8_vnni(const MatmulParams& p) { matmul_q8<DotVnni>(p); }

}  // namespace kaa::kernels::avx2
