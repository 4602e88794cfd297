// matmul.cu — the matmul kernels (GEMV, f32 tiles, tensor cores) for the CUDA build.
#include "kernels/cuda/cuda_kernels.hpp"
#include "kernels/cuda/cuda_launch.cuh"

namespace kaa::kernels::cuda {

void matmul(const MatmulArgs& a, void* stream) {
    CudaLaunch l{static_cast<cudaStream_t>(stream)};
    launch_matmul(l, a);
}

}  // namespace kaa::kernels::cuda
