// ssm.cu — the per-channel Mamba kernels (conv1d + SiLU, selective scan) for the CUDA build.
#include "kernels/cuda/cuda_kernels.hpp"
#include "kernels/cuda/cuda_launch.cuh"

namespace kaa::kernels::cuda {

void conv(const ConvArgs& a, void* stream) {
    CudaLaunch l{static_cast<cudaStream_t>(stream)};
    launch_conv(l, a);
}

void scan(const ScanArgs& a, void* stream) {
    CudaLaunch l{static_cast<cudaStream_t>(stream)};
    launch_scan(l, a);
}

}  // namespace kaa::kernels::cuda
