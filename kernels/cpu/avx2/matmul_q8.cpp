// AVX2 Q8_0 matmul without VNNI (Haswell .. Zen 3): |w| * (q with w's sign) by vpsignb
// and vpmaddubsw (pairs, no saturation since |q| <= 127), then vpmaddwd sums pairs of
// pairs. Same int32 lanes as the AVX-VNNI variant. Compiled with AVX2 + FMA + F16C.
#include "kernels/cpu/avx2/matmul_q8.hpp"

namespace kaa::kernels::avx2 {
namespace {

struct DotMaddubs {
    static constexpr int kR = 2, kT = 3;  // 6 accumulators + 2 x (w, |w|, scale)
    struct W {
        __m256i w;    // signed weights (sign source)
        __m256i abs;  // |w| as unsigned bytes
    };
    static W prep(__m256i w) { return W{w, _mm256_abs_epi8(w)}; }
    static __m256i dot(const W& w, __m256i q, const int32_t* /*nc*/) {
        const __m256i qs = _mm256_sign_epi8(q, w.w);  // q * sign(w); 0 where w == 0
        return _mm256_madd_epi16(_mm256_maddubs_epi16(w.abs, qs), _mm256_set1_epi16(1));
    }
};

}  // namespace

void matmul_q8_plain(const MatmulParams& p) { matmul_q8<DotMaddubs>(p); }

}  // namespace kaa::kernels::avx2
