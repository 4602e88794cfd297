// no_cuda.cpp — the CUDA entry points of a build without -DKAA_CUDA=ON.
#include "cuda/runtime.hpp"
#include "kaa/error.hpp"

namespace kaa::detail::gpu {

int cuda_device_count() noexcept { return 0; }

bool built_with_cuda() noexcept { return false; }

std::shared_ptr<Runtime> cuda_runtime(int) {
    throw Error(ErrorCode::unsupported,
                "Device::cuda: this build of kaa was built without CUDA (configure with -DKAA_CUDA=ON)");
}

}  // namespace kaa::detail::gpu
