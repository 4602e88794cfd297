// dispatch.hpp — the one place that picks a CPU kernel backend.
#pragma once

#include "kernels/kernels.hpp"

namespace kaa::runtime {

// The best backend this CPU and OS support, or the one named by the environment
// variable KAA_ISA (scalar|avx2|avx512|neon). Throws Error(unsupported) when KAA_ISA
// names a backend this build or this CPU cannot run.
const kernels::CpuKernels& select_cpu_kernels();

}  // namespace kaa::runtime
