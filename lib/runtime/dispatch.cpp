#include "runtime/dispatch.hpp"

#include <cstdlib>
#include <string>

#include "kaa/error.hpp"

namespace kaa::runtime {

const kernels::CpuKernels& select_cpu_kernels() {
    const char* env = std::getenv("KAA_ISA");
    const std::string want = env ? env : "";
    if (want.empty() || want == "scalar") return kernels::scalar_kernels();
    if (want == "avx2" || want == "avx512" || want == "neon")
        throw Error(ErrorCode::unsupported,
                    "KAA_ISA=" + want + ": this build has no " + want + " backend");
    throw Error(ErrorCode::invalid_argument,
                "KAA_ISA=" + want + " is not one of scalar, avx2, avx512, neon");
}

}  // namespace kaa::runtime
