// rows.cu — the row-wise kernels (RMS norm, embedding lookup, weight repacking) for the
// CUDA build.
#include "kernels/cuda/cuda_kernels.hpp"
#include "kernels/cuda/cuda_launch.cuh"

namespace kaa::kernels::cuda {

void rms(const RmsArgs& a, void* stream) {
    CudaLaunch l{static_cast<cudaStream_t>(stream)};
    launch_rms(l, a);
}

void embed(const EmbedArgs& a, void* stream) {
    CudaLaunch l{static_cast<cudaStream_t>(stream)};
    launch_embed(l, a);
}

void repack(const RepackArgs& a, void* stream) {
    CudaLaunch l{static_cast<cudaStream_t>(stream)};
    launch_repack(l, a);
}

}  // namespace kaa::kernels::cuda
