// blas.cu — prefill-sized matmuls (many activation rows, Precision::fast) through cuBLAS's
// f16 tensor-core GEMM, which on sm_90 runs several times faster than kernels/cuda's own
// WMMA GEMM (gemm_tc.cuh): y (M x N) = W (N x K) @ x^T.
//
// Numerics as gemm_tc's, but with one exact power-of-two scale 2^-e for all M rows (the
// largest magnitude of the call into [2^14, 2^15)) instead of one per row, so that cuBLAS
// applies 2^e itself (alpha) and accumulates into y (beta): no f32 product round trip.
// f16 keeps its full relative precision down to 2^-14, so a row loses precision only if
// it is over 2^28 times smaller than the largest row of the call. Q8_0 weights are
// dequantized to f16 as q * d rounded once; products accumulate in f32. Steps:
//   rowmax_kernel:  the largest |x| (after the norm) over all rows -> scalars[0] (bits)
//   convert_kernel: x * 2^-e -> xh (M x ld f16); alpha = 2^e, beta = 0 or 1 -> scalars
//   dequant_kernel: Q8_0 W -> wh (N x ld f16); F16 weights are used in place
//   cublasGemmEx:   y = alpha * xh @ wh^T + beta * y  (column-major: y^T = wh^T(op T) @ xh)
//
// libcublas is loaded with dlopen on first use, so libkaa needs only the driver at run
// time; without cuBLAS (or when a Session has no scratch for it) matmuls stay on
// gemm_tc. KAA_CUBLAS names the library file to load, if it is not on the loader's path.
#include <cublas_v2.h>
#include <dlfcn.h>

#include <cstdlib>
#include <mutex>
#include <string>
#include <type_traits>

#include "kernels/cuda/cuda_kernels.hpp"
#include "kernels/cuda/cuda_launch.cuh"

namespace kaa::kernels::cuda {
namespace {

// The cuBLAS entry points kaa uses.
struct Cublas {
    decltype(&cublasCreate_v2) create = nullptr;
    decltype(&cublasDestroy_v2) destroy = nullptr;
    decltype(&cublasSetStream_v2) set_stream = nullptr;
    decltype(&cublasSetWorkspace_v2) set_workspace = nullptr;
    decltype(&cublasSetPointerMode_v2) set_pointer_mode = nullptr;
    cublasStatus_t (*gemm)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int, const void*, const void*,
                           cudaDataType, int, const void*, cudaDataType, int, const void*, void*, cudaDataType, int,
                           cublasComputeType_t, cublasGemmAlgo_t) = nullptr;
    bool ok = false;
};

const Cublas& cublas() {
    static Cublas c;
    static std::once_flag once;
    std::call_once(once, [] {
        const std::string major = std::to_string(CUDART_VERSION / 1000);
        const char* env = std::getenv("KAA_CUBLAS");
        const std::string names[] = {env ? env : "", "libcublas.so." + major, "/usr/local/cuda/lib64/libcublas.so." + major,
                                     "libcublas.so"};
        void* lib = nullptr;  // kept for the life of the process
        for (const std::string& n : names)
            if (!n.empty() && (lib = dlopen(n.c_str(), RTLD_NOW | RTLD_LOCAL)) != nullptr) break;
        if (!lib) return;
        auto sym = [&](auto& f, const char* name) { f = reinterpret_cast<std::remove_reference_t<decltype(f)>>(dlsym(lib, name)); };
        sym(c.create, "cublasCreate_v2");
        sym(c.destroy, "cublasDestroy_v2");
        sym(c.set_stream, "cublasSetStream_v2");
        sym(c.set_workspace, "cublasSetWorkspace_v2");
        sym(c.set_pointer_mode, "cublasSetPointerMode_v2");
        sym(c.gemm, "cublasGemmEx");
        c.ok = c.create && c.destroy && c.set_stream && c.set_workspace && c.set_pointer_mode && c.gemm;
    });
    return c;
}

// Q8_0 (quants + scales planes) -> f16, 16 weights per thread.
__global__ void __launch_bounds__(kRowThreads) dequant_q8_f16_kernel(DevMatrix w, half* out) {
    const int64_t per_row = w.ld / 16, total = w.rows * per_row;
    const int64_t i = int64_t(blockIdx.x) * kRowThreads + threadIdx.x;
    if (i >= total) return;
    const int64_t n = i / per_row, k = (i % per_row) * 16;
    const uint4 raw = load16(static_cast<const int8_t*>(w.data) + n * w.ld + k);
    const float d = f16_bits_to_float(w.scales[n * (w.ld / 32) + k / 32]);
    const uint32_t words[4] = {raw.x, raw.y, raw.z, raw.w};
    __align__(16) half h[16];
    for (int j = 0; j < 16; ++j) h[j] = __float2half_rn(float(sbyte(words[j / 4], j % 4)) * d);
    store16(out + n * w.ld + k, *reinterpret_cast<const uint4*>(h));
    store16(out + n * w.ld + k + 8, *reinterpret_cast<const uint4*>(h + 8));
}

// scalars: [0] the largest |x| of the call as float bits (zeroed before), [1] alpha,
// [2] beta. One block per row.
__global__ void __launch_bounds__(kRowThreads) blas_rowmax_kernel(MatmulArgs a) {
    __shared__ float red[kRowThreads / 32];
    const float* x = a.x + int64_t(blockIdx.x) * a.ldx;
    const float mx = tc_row_max(a, x, tc_norm_scale(a, x, red), red);
    // Non-negative floats order as their bits; NaN (above inf) ends up as e = 0.
    if (threadIdx.x == 0) atomicMax(reinterpret_cast<unsigned*>(a.blas_scalars), __float_as_uint(mx));
}

__global__ void __launch_bounds__(kRowThreads) blas_convert_kernel(MatmulArgs a) {
    __shared__ float red[kRowThreads / 32];
    const int64_t m = blockIdx.x;
    const float* x = a.x + m * a.ldx;
    const int e = tc_exponent(__uint_as_float(*reinterpret_cast<const unsigned*>(a.blas_scalars)));
    tc_store_half_row(a, m, x, tc_norm_scale(a, x, red), e);
    if (m == 0 && threadIdx.x == 0) {
        a.blas_scalars[1] = pow2(e);
        a.blas_scalars[2] = a.accumulate ? 1.0f : 0.0f;
    }
}

unsigned blocks_for(int64_t n) { return unsigned((n + kRowThreads - 1) / kRowThreads); }

}  // namespace

bool blas_available() { return cublas().ok; }

void* blas_create(void* stream, void* workspace, size_t workspace_bytes) {
    const Cublas& c = cublas();
    if (!c.ok) return nullptr;
    cublasHandle_t h = nullptr;
    if (c.create(&h) != CUBLAS_STATUS_SUCCESS) return nullptr;
    // A fixed workspace: cuBLAS then allocates nothing itself (safe in graph capture).
    // alpha and beta are read from device memory (computed on the device).
    if (c.set_stream(h, static_cast<cudaStream_t>(stream)) != CUBLAS_STATUS_SUCCESS ||
        c.set_workspace(h, workspace, workspace_bytes) != CUBLAS_STATUS_SUCCESS ||
        c.set_pointer_mode(h, CUBLAS_POINTER_MODE_DEVICE) != CUBLAS_STATUS_SUCCESS) {
        c.destroy(h);
        return nullptr;
    }
    return h;
}

void blas_destroy(void* handle) {
    if (handle) cublas().destroy(static_cast<cublasHandle_t>(handle));
}

bool blas_eligible(const MatmulArgs& a) {
    const int64_t N = a.w.rows;
    if (!a.blas || !a.fast || a.M < (a.blas_min_m > 0 ? a.blas_min_m : kBlasMinM) || !a.xh || !a.blas_scalars) return false;
    if (a.w.type == WeightType::f16) return true;
    return a.w.type == WeightType::q8_0 && a.wh && a.wh_halfs >= N * a.w.ld;
}

void blas_matmul(const MatmulArgs& a, void* stream) {
    const cudaStream_t s = static_cast<cudaStream_t>(stream);
    CudaLaunch l{s};
    const int64_t N = a.w.rows, ld = a.w.ld;
    if (cudaMemsetAsync(a.blas_scalars, 0, sizeof(float), s) != cudaSuccess)
        throw Error(ErrorCode::internal, "cudaMemsetAsync failed before a cuBLAS GEMM");
    l(blas_rowmax_kernel, dim3(unsigned(a.M)), dim3(kRowThreads), a);
    l(blas_convert_kernel, dim3(unsigned(a.M)), dim3(kRowThreads), a);
    const void* w = a.w.data;
    if (a.w.type == WeightType::q8_0) {
        l(dequant_q8_f16_kernel, dim3(blocks_for(N * (ld / 16))), dim3(kRowThreads), a.w, static_cast<half*>(a.wh));
        w = a.wh;
    }
    const cublasStatus_t st =
        cublas().gemm(static_cast<cublasHandle_t>(a.blas), CUBLAS_OP_T, CUBLAS_OP_N, int(N), int(a.M), int(ld),
                      a.blas_scalars + 1, w, CUDA_R_16F, int(ld), a.xh, CUDA_R_16F, int(ld), a.blas_scalars + 2, a.y,
                      CUDA_R_32F, int(a.ldy), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    if (st != CUBLAS_STATUS_SUCCESS)
        throw Error(ErrorCode::internal, "cuBLAS GEMM failed (status " + std::to_string(int(st)) + ")");
}

}  // namespace kaa::kernels::cuda
