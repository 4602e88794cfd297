// compat.cuh — the CUDA the kernels use, and the small numeric helpers they share.
//
// Helpers are KAA_DEV (device functions under nvcc) or KAA_HD (host and device: grid
// arithmetic the launcher and the kernel share); plain inline functions on the host.
// With nvcc this is CUDA itself. With a host compiler it is emu/emu.hpp, which runs the
// same kernel source on the CPU (the tests do; see that file). Kernel code therefore
// sticks to what both provide: built-in indices, __shared__ statics, __syncthreads,
// __syncwarp, full-warp shuffles, half conversions and WMMA m16n16k16 on half.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#include <cuda_fp16.h>
#include <mma.h>
#define KAA_DEV __device__ __forceinline__
#define KAA_HD __host__ __device__ __forceinline__
#define KAA_UNROLL _Pragma("unroll")
#else
#include "kernels/cuda/emu/emu.hpp"
#define KAA_DEV inline
#define KAA_HD inline
#define KAA_UNROLL
#endif

#include "kernels/cuda/params.hpp"

namespace kaa::kernels::cuda {

// ---- conversions -----------------------------------------------------------------------------
KAA_DEV float f16_bits_to_float(uint16_t h) { return __half2float(__ushort_as_half(h)); }
KAA_DEV float bf16_bits_to_float(uint16_t h) { return __uint_as_float(uint32_t(h) << 16); }

// 16 bytes from 16-byte aligned memory, and back (memcpy on the host: no aliasing games).
KAA_DEV uint4 load16(const void* p) {
#if defined(__CUDA_ARCH__)
    return *static_cast<const uint4*>(p);
#else
    uint4 v;
    std::memcpy(&v, p, 16);
    return v;
#endif
}
KAA_DEV void store16(void* p, uint4 v) {
#if defined(__CUDA_ARCH__)
    *static_cast<uint4*>(p) = v;
#else
    std::memcpy(p, &v, 16);
#endif
}

// Byte j (0..3) of a 32-bit word as a signed int8.
KAA_DEV int sbyte(uint32_t w, int j) { return int(int8_t(uint8_t(w >> (8 * j)))); }

// ---- activation math (the scalar reference's formulas, kernels/cpu/numeric.hpp) --------------
KAA_DEV float silu(float v) { return v / (1.0f + expf(-v)); }
KAA_DEV float softplus(float v) { return v > 20.0f ? v : log1pf(expf(v)); }
// exp for the scan's decay factors: the hardware approximation on the GPU (a few ulp,
// far below the f32 tolerance; it is the scan's throughput limit otherwise).
KAA_DEV float decay_exp(float v) {
#if defined(__CUDA_ARCH__)
    return __expf(v);
#else
    return expf(v);
#endif
}
KAA_DEV float inv_rms(float sumsq, int64_t n, float eps) { return 1.0f / sqrtf(sumsq / float(n) + eps); }

// 2^e as a float, for |e| <= 126 (exact).
KAA_DEV float pow2(int e) { return __uint_as_float(uint32_t(e + 127) << 23); }

// ---- reductions --------------------------------------------------------------------------------
// Sum over the G lanes of an aligned group of a warp (G a power of two <= 32); every lane
// gets the same sum. All 32 lanes must call it.
template <int G>
KAA_DEV float group_sum(float v) {
    KAA_UNROLL
    for (int off = G / 2; off > 0; off /= 2) v += __shfl_xor_sync(0xffffffffu, v, off);
    return v;
}
KAA_DEV float warp_sum(float v) { return group_sum<32>(v); }
KAA_DEV float warp_max(float v) {
    KAA_UNROLL
    for (int off = 16; off > 0; off /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, off));
    return v;
}

// ---- weights -----------------------------------------------------------------------------------
// Element (n, k) of a device matrix as f32 (exact for every type). k < w.ld.
KAA_DEV float weight_at(const DevMatrix& w, int64_t n, int64_t k) {
    switch (w.type) {
        case WeightType::q8_0:
            return float(static_cast<const int8_t*>(w.data)[n * w.ld + k]) *
                   f16_bits_to_float(w.scales[n * (w.ld / 32) + k / 32]);
        case WeightType::f16: return f16_bits_to_float(static_cast<const uint16_t*>(w.data)[n * w.ld + k]);
        case WeightType::bf16: return bf16_bits_to_float(static_cast<const uint16_t*>(w.data)[n * w.ld + k]);
        case WeightType::f32: break;
    }
    return static_cast<const float*>(w.data)[n * w.ld + k];
}

}  // namespace kaa::kernels::cuda
