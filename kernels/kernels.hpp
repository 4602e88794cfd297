// kernels.hpp — the interface between the model code and every compute backend.
//
// A kernel takes one POD params struct (sizes, strides in elements, raw pointers) so the
// same description serves the scalar reference, the SIMD backends and CUDA. Kernels work
// on a range of output rows / channels ([begin, end)) so the caller can split work across
// threads; every output element is computed the same way whatever the split, which keeps
// results bitwise identical for any thread count and any prefill chunking.
#pragma once

#include <cstddef>
#include <cstdint>

// Whether this build has the x86-64 SIMD backends (kernels/CMakeLists.txt builds them
// for every x86-64 target, each file with its own ISA flags).
#if defined(__x86_64__) || defined(_M_X64)
#define KAA_HAVE_X86_KERNELS 1
#else
#define KAA_HAVE_X86_KERNELS 0
#endif
// Whether this build has the AArch64 NEON backend (built for every aarch64 target).
#if defined(__aarch64__) || defined(_M_ARM64)
#define KAA_HAVE_NEON_KERNELS 1
#else
#define KAA_HAVE_NEON_KERNELS 0
#endif

namespace kaa::kernels {

enum class WeightType : uint8_t { f32, f16, bf16, q8_0 };

// How a weight matrix's bytes are laid out. `rows`: as stored in GGUF, row after row.
// `q8_0_x16`: a Q8_0 matrix re-laid at load time so that int8 dot products put rows in
// vector lanes with no per-call repacking (kernels/cpu/q8_0_x16.hpp); only backends
// with CpuKernels::q8_0_x16 set accept it.
enum class WeightLayout : uint8_t { rows, q8_0_x16 };

// y[m, n] = sum_k W[n, k] * x[m, k]      for m in [0, M), n in [n_begin, n_end)
// W: (N x K) rows of `w_row_bytes` bytes in `wtype`; x: (M x K) f32; y: (M x N) f32.
// For Q8_0, K is a multiple of 32. Accumulation is f32.
struct MatmulParams {
    WeightType wtype;
    const void* w;
    size_t w_row_bytes;
    const float* x;
    int64_t x_stride;   // floats between rows of x
    float* y;
    int64_t y_stride;   // floats between rows of y
    int64_t M, N, K;
    int64_t n_begin, n_end;
    // Q8_0 only, for backends that quantize activations (CpuKernels::quantized_activations):
    // keep x in f32 instead (weights widened exactly, f32 FMA), giving the f32-tolerance
    // result at f32-GEMM prefill speed; decode (memory-bound) costs the same either way.
    bool q8_f32_activations = false;
    // WeightLayout::q8_0_x16: w is the re-laid matrix (w_row_bytes still the stored row
    // size), n_begin a multiple of 16, and activations are int8 (not q8_f32_activations).
    WeightLayout w_layout = WeightLayout::rows;
    // Q8_0 with int8 activations: all M rows of x already quantized by this backend's
    // CpuKernels::quantize_x into a 64-byte aligned buffer of quant_x_bytes(M, K), or null
    // (each call then quantizes all M rows itself).
    const void* xq = nullptr;
};

// Depthwise causal conv1d over T steps, then SiLU, for channels [c_begin, c_end):
//   win = [state[c, 0 .. d_conv-2], x[0..T-1, c]]   (oldest first)
//   out[t, c] = silu(bias[c] + sum_k win[t + k] * weight[c, k])
//   state[c, :] = last d_conv-1 inputs
struct ConvParams {
    const float* x;      // (T x *) input rows, channel c at x[t * x_stride + c]
    int64_t x_stride;
    float* out;          // (T x *) output rows
    int64_t out_stride;
    float* state;        // (d_inner x (d_conv - 1)), updated in place
    const float* weight; // (d_inner x d_conv)
    const float* bias;   // (d_inner)
    int64_t T, d_inner, d_conv;
    int64_t c_begin, c_end;
};

// Selective scan with the gate fused, for channels [c_begin, c_end), sequential in t:
//   dt   = softplus(dt_raw[t, c] + dt_bias[c])
//   S[c, :] = S[c, :] * exp(dt * A[c, :]) + dt * u[t, c] * B[t, :]
//   y[t, c] = (sum_s S[c, s] * C[t, s] + D[c] * u[t, c]) * silu(z[t, c])
struct ScanParams {
    const float* u;       // (T x *) conv output
    int64_t u_stride;
    const float* dt_raw;  // (T x *) dt_proj output before bias
    int64_t dt_stride;
    const float* dt_bias; // (d_inner)
    const float* A;       // (d_inner x d_state), already -exp(A_log)
    const float* B;       // (T x *) row t holds B_t (d_state)
    int64_t B_stride;
    const float* C;       // (T x *) row t holds C_t (d_state)
    int64_t C_stride;
    const float* D;       // (d_inner)
    const float* z;       // (T x *) gate input
    int64_t z_stride;
    float* y;             // (T x *) output
    int64_t y_stride;
    float* state;         // (d_inner x d_state), updated in place
    int64_t T, d_inner, d_state;
    int64_t c_begin, c_end;
};

// One backend's functions. Tables are immutable singletons chosen once at load time.
struct CpuKernels {
    const char* name;  // "scalar", "avx2", ...
    void (*matmul)(const MatmulParams& p);
    void (*conv1d_silu)(const ConvParams& p);
    void (*scan)(const ScanParams& p);
    // y[i] = x[i] / sqrt(mean(x^2) + eps) * (w ? w[i] : 1); y may alias x.
    void (*rms_norm)(const float* x, const float* w, float* y, int64_t n, float eps);
    // Row `row` of a weight matrix (K elements) converted to f32.
    void (*dequantize_row)(WeightType t, const void* row, float* out, int64_t K);

    // Bit (1 << int(WeightType)) is set when `matmul` rounds the activations x before
    // multiplying (e.g. to int8 per 32-block for Q8_0 int8 dot products). Such results
    // differ from the f32 reference by more than rounding order; tests then use the
    // looser "quantized activations" tolerance of ../shared/README.md.
    uint32_t quantized_activations = 0;
    // Free-form description of the variant, e.g. "avx512 + vnni" (for logs).
    const char* detail = "";
    // `matmul` accepts Q8_0 weights in WeightLayout::q8_0_x16 (the x86 VNNI variants).
    bool q8_0_x16 = false;

    // Int8 activations quantized once per matmul and shared by the threads' calls
    // (MatmulParams::xq), where each call would quantize all M rows itself: with T threads
    // a prefill's quantization then costs 1/T of what it did. Null in backends whose
    // matmul quantizes nothing. quant_x_bytes(M, K): the buffer for M rows of K.
    // quantize_x(x, x_stride, M, K, m_begin, m_end, out): rows [m_begin, m_end) of x into
    // out; ranges covering [0, M) fill the whole buffer (padding included) exactly as the
    // matmul would itself, so results do not change.
    size_t (*quant_x_bytes)(int64_t M, int64_t K) = nullptr;
    void (*quantize_x)(const float* x, int64_t x_stride, int64_t M, int64_t K, int64_t m_begin, int64_t m_end,
                       void* out) = nullptr;

    bool quantizes_activations(WeightType t) const {
        return (quantized_activations >> unsigned(t)) & 1u;
    }
};

const CpuKernels& scalar_kernels();

// x86-64 backends. Declared everywhere, defined only when KAA_HAVE_X86_KERNELS is 1.
// They do not check the CPU: lib/runtime/dispatch.cpp does. The bool picks the variant
// with (AVX-)VNNI int8 dot products; both variants give bitwise identical results. The
// no-argument forms (defined in dispatch.cpp) pick the variant for the running CPU.
const CpuKernels& avx2_kernels(bool vnni);
const CpuKernels& avx512_kernels(bool vnni);
const CpuKernels& avx2_kernels();
const CpuKernels& avx512_kernels();
// avx512 + VNNI with AMX-INT8 tile products for Q8_0 prefill (bitwise the VNNI results).
// emulated = false needs a CPU and OS with AMX (dispatch.cpp checks); true runs the same
// kernel on tiles emulated in C++ (an AVX-512 VNNI CPU suffices), slowly: for tests.
const CpuKernels& avx512_amx_kernels(bool emulated);

// AArch64 backend. Declared everywhere, defined only when KAA_HAVE_NEON_KERNELS is 1. The
// bool picks the variant with ARMv8.2 SDOT (same results); the no-argument form (defined
// in dispatch.cpp) picks it when the CPU/OS reports the dot product extension.
const CpuKernels& neon_kernels(bool dotprod);
const CpuKernels& neon_kernels();

}  // namespace kaa::kernels
