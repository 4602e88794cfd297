// AVX-512 Q8_0 matmul without VNNI (Skylake-X class): |w| * (q with w's sign) by
// vpmaddubsw (pairs, no saturation since |q| <= 127), then vpmaddwd sums pairs of pairs.
// Gives the same int32 lanes as the VNNI variant. Compiled with AVX-512 F/BW/VL/DQ.
#include "kernels/cpu/avx512/matmul_q8.hpp"

namespace kaa::kernels::avx512 {
namespace {

struct DotMaddubs {
    struct W {
        __m512i abs;    // |w| as unsigned bytes (|-128| = 128 fits)
        __mmask64 neg;  // bytes where w < 0
    };
    static W prep(__m512i w) { return W{_mm512_abs_epi8(w), _mm512_movepi8_mask(w)}; }
    static __m512i dot(const W& w, __m512i q, __m512i /*nc*/) {
        const __m512i qs = _mm512_mask_sub_epi8(q, w.neg, _mm512_setzero_si512(), q);
        return _mm512_madd_epi16(_mm512_maddubs_epi16(w.abs, qs), _mm512_set1_epi16(1));
    }
};

}  // namespace

void matmul_q8_plain(const MatmulParams& p) { matmul_q8<DotMaddubs>(p); }

}  // namespace kaa::kernels::avx512
