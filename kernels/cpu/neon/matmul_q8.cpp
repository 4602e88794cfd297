// NEON Q8_0 matmul with int8 activations for every AArch64 CPU (ARMv8.0): smull/smull2
// give int16 products (|w q| <= 128 * 127, so two of them still fit in int16), sadalp
// widens and accumulates pairs into int32. Exact, so the same block sums, hence the same
// bits, as the SDOT variant (matmul_q8_dot.cpp). Recipe and loops: matmul_q8.hpp.
#include "kernels/cpu/neon/matmul_q8.hpp"

namespace kaa::kernels::neon {
namespace {

struct DotSmull {
    static int32x4_t dot32(int8x16_t w0, int8x16_t w1, int8x16_t q0, int8x16_t q1) {
        const int16x8_t a = vmlal_high_s8(vmull_s8(vget_low_s8(w0), vget_low_s8(q0)), w0, q0);
        const int16x8_t b = vmlal_high_s8(vmull_s8(vget_low_s8(w1), vget_low_s8(q1)), w1, q1);
        return vpadalq_s16(vpaddlq_s16(a), b);
    }
};

}  // namespace

void matmul_q8_plain(const MatmulParams& p) { matmul_q8<DotSmull>(p); }

// The shared int8 activations of both variants (ARMv8.0 instructions only).
size_t quant_x_bytes(int64_t M, int64_t K) { return x_buffer_bytes(M, K); }
void quantize_x(const float* x, int64_t x_stride, int64_t M, int64_t K, int64_t m_begin, int64_t m_end, void* out) {
    quantize_range(x, x_stride, M, K, m_begin, m_end, out);
}

}  // namespace kaa::kernels::neon
