// Scalar reference for the per-channel Mamba kernels: causal conv1d + SiLU, the
// selective scan with its gate, and RMS norm. Channels are independent, so callers split
// [c_begin, c_end) across threads; time is walked sequentially.
#include <cmath>

#include "kernels/cpu/numeric.hpp"
#include "kernels/kernels.hpp"

namespace kaa::kernels {

void scalar_dequantize_row(WeightType t, const void* row, float* out, int64_t K);
void scalar_matmul(const MatmulParams& p);

namespace {

void conv1d_silu_scalar(const ConvParams& p) {
    const int64_t K = p.d_conv, H = p.d_conv - 1;  // H: inputs of history kept in state
    for (int64_t c = p.c_begin; c < p.c_end; ++c) {
        const float* w = p.weight + c * K;   // (d_conv)
        float* st = p.state + c * H;         // (d_conv-1), oldest first
        for (int64_t t = 0; t < p.T; ++t) {
            // window element k is input at time t - H + k; negative times come from state
            float acc = 0.0f;
            for (int64_t k = 0; k < K; ++k) {
                const int64_t src = t - H + k;
                const float v = src < 0 ? st[H + src] : p.x[src * p.x_stride + c];
                acc += v * w[k];
            }
            p.out[t * p.out_stride + c] = silu(acc + p.bias[c]);
        }
        // New history: the last H inputs. Entry j reads old entry j+T (never yet
        // overwritten, as j+T >= j) or an input of this call.
        for (int64_t j = 0; j < H; ++j) {
            const int64_t src = j + p.T - H;  // time of the input that lands in slot j
            st[j] = src < 0 ? st[j + p.T] : p.x[src * p.x_stride + c];
        }
    }
}

void scan_scalar(const ScanParams& p) {
    const int64_t N = p.d_state;
    for (int64_t c = p.c_begin; c < p.c_end; ++c) {
        float* S = p.state + c * N;       // (d_state)
        const float* A = p.A + c * N;     // (d_state)
        for (int64_t t = 0; t < p.T; ++t) {
            const float dt = softplus(p.dt_raw[t * p.dt_stride + c] + p.dt_bias[c]);
            const float u = p.u[t * p.u_stride + c];
            const float* B = p.B + t * p.B_stride;
            const float* C = p.C + t * p.C_stride;
            const float du = dt * u;
            float acc = 0.0f;
            for (int64_t s = 0; s < N; ++s) {
                S[s] = S[s] * std::exp(dt * A[s]) + du * B[s];
                acc += S[s] * C[s];
            }
            const float yv = acc + p.D[c] * u;
            p.y[t * p.y_stride + c] = yv * silu(p.z[t * p.z_stride + c]);
        }
    }
}

void rms_norm_scalar(const float* x, const float* w, float* y, int64_t n, float eps) {
    // Same 8-lane order as the matmul's dot product.
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; ++j) acc[j] += x[i + j] * x[i + j];
    for (int j = 0; i < n; ++i, ++j) acc[j] += x[i] * x[i];
    const float ss = ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
    const float scale = 1.0f / std::sqrt(ss / float(n) + eps);
    for (int64_t k = 0; k < n; ++k) y[k] = x[k] * scale * (w ? w[k] : 1.0f);
}

}  // namespace

const CpuKernels& scalar_kernels() {
    static const CpuKernels table = {
        "scalar", scalar_matmul, conv1d_silu_scalar, scan_scalar, rms_norm_scalar, scalar_dequantize_row,
    };
    return table;
}

}  // namespace kaa::kernels
