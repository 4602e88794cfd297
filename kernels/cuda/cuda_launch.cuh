// cuda_launch.cuh — the launcher launch.cuh's plans call in the CUDA build: <<<>>> on a
// stream, and the launch error turned into an Error.
#pragma once

#include <cuda_runtime.h>

#include <string>

#include "kaa/error.hpp"
#include "kernels/cuda/launch.cuh"

namespace kaa::kernels::cuda {

struct CudaLaunch {
    cudaStream_t stream;

    template <class... P, class... A>
    void operator()(void (*kernel)(P...), dim3 grid, dim3 block, const A&... args) const {
        kernel<<<grid, block, 0, stream>>>(args...);
        const cudaError_t e = cudaGetLastError();
        if (e != cudaSuccess)
            throw Error(ErrorCode::internal, std::string("CUDA kernel launch failed: ") + cudaGetErrorString(e));
    }
};

}  // namespace kaa::kernels::cuda
