// AVX2 Q8_0 matmul without VNNI (Haswell .. Zen 3): |w| * (q with w's sign) by vpsignb
// and vpmaddubsw (pairs; no saturation since |q| <= 127), then vpmaddwd sums pairs of
// pairs. Same per-block int32 sums, hence the same bits, as the AVX-VNNI variant. GEMM
// runs the GEMV kernel once per token over L2-resident blocks of rows. Compiled with
// AVX2 + FMA + F16C.
#include "kernels/cpu/avx2/matmul_q8.hpp"

namespace kaa::kernels::avx2 {
namespace {

struct DotMaddubs {
    static constexpr bool kPacked = false;
    static __m256i dot_h(__m256i w, __m256i q) {
        const __m256i qs = _mm256_sign_epi8(q, w);  // q * sign(w); 0 where w == 0
        return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(w), qs), _mm256_set1_epi16(1));
    }
    static __m256i correct(__m256i I, int32_t /*nc*/) { return I; }
    static void gemm_packed(const MatmulParams&, const uint8_t*, const XLayout&) {}
};

}  // namespace

void matmul_q8_plain(const MatmulParams& p) { matmul_q8<DotMaddubs>(p); }

}  // namespace kaa::kernels::avx2
