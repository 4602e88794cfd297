// Scalar reference for the weight-type-aware matmul and row dequantization.
//
// This is the spec the SIMD backends are tested against. The dot product accumulates in
// 8 interleaved f32 lanes (element k goes to lane k % 8) and then sums the lanes
// pairwise; an 8-wide SIMD kernel that keeps the same order reproduces it bit for bit.
#include <cstring>
#include <vector>

#include "kernels/cpu/numeric.hpp"
#include "kernels/kernels.hpp"

namespace kaa::kernels {
namespace {

struct Q8Block {
    uint16_t d;
    int8_t qs[32];
};
static_assert(sizeof(Q8Block) == 34, "Q8_0 block layout");

void dequantize_row_scalar(WeightType t, const void* row, float* out, int64_t K) {
    switch (t) {
        case WeightType::f32:
            std::memcpy(out, row, size_t(K) * sizeof(float));
            break;
        case WeightType::f16: {
            const auto* h = static_cast<const uint16_t*>(row);
            for (int64_t k = 0; k < K; ++k) out[k] = f16_to_f32(h[k]);
            break;
        }
        case WeightType::bf16: {
            const auto* h = static_cast<const uint16_t*>(row);
            for (int64_t k = 0; k < K; ++k) out[k] = bf16_to_f32(h[k]);
            break;
        }
        case WeightType::q8_0: {
            // q * d is exact in f32 (8-bit times 11-bit significand), so dequantized
            // weights equal the reference's float64 ones.
            const auto* b = static_cast<const Q8Block*>(row);
            for (int64_t i = 0; i < K / 32; ++i) {
                const float d = f16_to_f32(b[i].d);
                for (int j = 0; j < 32; ++j) out[i * 32 + j] = float(b[i].qs[j]) * d;
            }
            break;
        }
    }
}

float dot_f32(const float* a, const float* b, int64_t K) {
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t k = 0;
    for (; k + 8 <= K; k += 8)
        for (int j = 0; j < 8; ++j) acc[j] += a[k + j] * b[k + j];
    for (int j = 0; k < K; ++k, ++j) acc[j] += a[k] * b[k];
    const float s0 = (acc[0] + acc[4]) + (acc[2] + acc[6]);
    const float s1 = (acc[1] + acc[5]) + (acc[3] + acc[7]);
    return s0 + s1;
}

void matmul_scalar(const MatmulParams& p) {
    // Each weight row is dequantized once and reused for all M inputs.
    thread_local std::vector<float> wrow;
    if (int64_t(wrow.size()) < p.K) wrow.resize(size_t(p.K));
    const auto* w = static_cast<const uint8_t*>(p.w);
    for (int64_t n = p.n_begin; n < p.n_end; ++n) {
        const float* wr;
        if (p.wtype == WeightType::f32) {
            wr = reinterpret_cast<const float*>(w + size_t(n) * p.w_row_bytes);
        } else {
            dequantize_row_scalar(p.wtype, w + size_t(n) * p.w_row_bytes, wrow.data(), p.K);
            wr = wrow.data();
        }
        for (int64_t m = 0; m < p.M; ++m) p.y[m * p.y_stride + n] = dot_f32(wr, p.x + m * p.x_stride, p.K);
    }
}

}  // namespace

void scalar_dequantize_row(WeightType t, const void* row, float* out, int64_t K) {
    dequantize_row_scalar(t, row, out, K);
}
void scalar_matmul(const MatmulParams& p) { matmul_scalar(p); }

}  // namespace kaa::kernels
