// AVX-512 Q8_0 matmul without VNNI (Skylake-X class): |w| * (q with w's sign) by
// vpmaddubsw (pairs; no saturation since |q| <= 127), then vpmaddwd sums pairs of pairs.
// Same per-block int32 sums, hence the same bits, as the VNNI variant. GEMM runs the
// GEMV kernel once per token over L2-resident blocks of rows. Compiled with AVX-512
// F/BW/VL/DQ.
#include "kernels/cpu/avx512/matmul_q8.hpp"

namespace kaa::kernels::avx512 {
namespace {

struct DotMaddubs {
    static constexpr bool kPacked = false;
    static __m512i dot_h(__m512i w, __m512i q) {
        const __m512i qs = _mm512_mask_sub_epi8(q, _mm512_movepi8_mask(w), _mm512_setzero_si512(), q);
        return _mm512_madd_epi16(_mm512_maddubs_epi16(_mm512_abs_epi8(w), qs), _mm512_set1_epi16(1));
    }
    static __m512i correct(__m512i I, int32_t /*nc*/) { return I; }
    static void gemm_packed(const MatmulParams&, const uint8_t*, const XLayout&) {}
};

}  // namespace

void matmul_q8_plain(const MatmulParams& p) { matmul_q8<DotMaddubs>(p); }

}  // namespace kaa::kernels::avx512
