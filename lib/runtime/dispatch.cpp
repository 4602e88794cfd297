// The one place that picks a CPU kernel backend.
//
// Rules: KAA_ISA unset or empty -> the best backend this build has and this CPU + OS
// support (avx512 > avx2 > scalar on x86-64; scalar elsewhere until a neon backend
// exists). KAA_ISA=scalar|avx2|avx512|neon forces one; a backend the build lacks or the
// CPU/OS cannot run is Error(unsupported), never a silent fallback, so a test run with
// KAA_ISA=avx512 really tests avx512. Within a backend, the (AVX-)VNNI variant is used
// when the CPU has it (same results, faster Q8_0).
#include "runtime/dispatch.hpp"

#include <cstdlib>
#include <string>

#include "kaa/error.hpp"
#include "runtime/cpu_features.hpp"

namespace kaa::kernels {

#if KAA_HAVE_X86_KERNELS
// Declared in kernels.hpp; defined here because the variant choice needs cpu_features.
const CpuKernels& avx2_kernels() { return avx2_kernels(runtime::cpu_features().avx_vnni); }
const CpuKernels& avx512_kernels() { return avx512_kernels(runtime::cpu_features().avx512_vnni); }
#endif

}  // namespace kaa::kernels

namespace kaa::runtime {

const kernels::CpuKernels& select_cpu_kernels() {
    const char* env = std::getenv("KAA_ISA");
    const std::string want = env ? env : "";
    const CpuFeatures& cpu = cpu_features();
    if (want == "scalar") return kernels::scalar_kernels();
    if (!want.empty() && want != "avx2" && want != "avx512" && want != "neon")
        throw Error(ErrorCode::invalid_argument,
                    "KAA_ISA=" + want + " is not one of scalar, avx2, avx512, neon");

#if KAA_HAVE_X86_KERNELS
    if (want.empty()) {
        if (cpu.has_avx512_set()) return kernels::avx512_kernels();
        if (cpu.has_avx2_set()) return kernels::avx2_kernels();
        return kernels::scalar_kernels();
    }
    if (want == "avx512") {
        if (!cpu.has_avx512_set())
            throw Error(ErrorCode::unsupported,
                        "KAA_ISA=avx512: this CPU/OS lacks AVX-512 F/BW/VL/DQ (+AVX2/FMA/F16C); it has: " +
                            cpu.describe());
        return kernels::avx512_kernels();
    }
    if (want == "avx2") {
        if (!cpu.has_avx2_set())
            throw Error(ErrorCode::unsupported,
                        "KAA_ISA=avx2: this CPU/OS lacks AVX2/FMA/F16C; it has: " + cpu.describe());
        return kernels::avx2_kernels();
    }
#else
    (void)cpu;
    if (want.empty()) return kernels::scalar_kernels();
#endif
    throw Error(ErrorCode::unsupported,
                "KAA_ISA=" + want + ": this build has no " + want + " backend for this architecture");
}

}  // namespace kaa::runtime
