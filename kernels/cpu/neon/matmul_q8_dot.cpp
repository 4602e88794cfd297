// NEON Q8_0 matmul with int8 activations using SDOT (ARMv8.2-A dot product extension:
// Neoverse N1 / V1 / V2, Cortex-A76 and later, Apple M1 and later). This file alone is
// compiled with -march=armv8.2-a+dotprod; lib/runtime/dispatch.cpp calls it only when the
// OS reports the extension (HWCAP_ASIMDDP). Each vdotq_s32 adds 4 products into each of 4
// int32 lanes, exactly, so the block sums and the bits equal the ARMv8.0 variant's
// (matmul_q8.cpp). Recipe and loops: matmul_q8.hpp.
#include "kernels/cpu/neon/matmul_q8.hpp"

#if (defined(__GNUC__) || defined(__clang__)) && !defined(__ARM_FEATURE_DOTPROD)
#error "matmul_q8_dot.cpp must be compiled with the dot product extension (-march=armv8.2-a+dotprod)"
#endif

namespace kaa::kernels::neon {
namespace {

struct DotSdot {
    static int32x4_t dot32(int8x16_t w0, int8x16_t w1, int8x16_t q0, int8x16_t q1) {
        return vdotq_s32(vdotq_s32(vdupq_n_s32(0), w0, q0), w1, q1);
    }
};

}  // namespace

void matmul_q8_dot(const MatmulParams& p) { matmul_q8<DotSdot>(p); }

}  // namespace kaa::kernels::neon
