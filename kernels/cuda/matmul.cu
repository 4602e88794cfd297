// matmul.cu — the matmul kernels (GEMV, f32 tiles, tensor cores, cuBLAS for prefill) for the
// CUDA build.
#include "kernels/cuda/cuda_kernels.hpp"
#include "kernels/cuda/cuda_launch.cuh"

namespace kaa::kernels::cuda {

// Defined in blas.cu.
void blas_matmul(const MatmulArgs& a, void* stream);

void matmul(const MatmulArgs& a, void* stream) {
    if (blas_eligible(a)) return blas_matmul(a, stream);
    CudaLaunch l{static_cast<cudaStream_t>(stream)};
    launch_matmul(l, a);
}

}  // namespace kaa::kernels::cuda
