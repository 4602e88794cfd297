// The one place that picks a CPU kernel backend.
//
// Rules: KAA_ISA unset or empty -> the best backend this build has and this CPU + OS
// support (avx512 > avx2 > scalar on x86-64; neon on AArch64, where Advanced SIMD is
// mandatory; scalar elsewhere). KAA_ISA=scalar|avx2|avx512|neon forces one; a backend the
// build lacks or the CPU/OS cannot run is Error(unsupported), never a silent fallback, so
// a test run with KAA_ISA=avx512 really tests avx512. Within a backend, the (AVX-)VNNI
// variant, or on AArch64 the SDOT one, is used when the CPU has it (same results, faster
// Q8_0); on avx512, AMX-INT8 tiles too for Q8_0 prefill when the CPU has them and the OS
// grants tile data (KAA_AMX=0 keeps them off; same results).
#include "runtime/dispatch.hpp"

#include <cstdlib>
#include <string>

#include "kaa/error.hpp"
#include "runtime/cpu_features.hpp"

#if KAA_HAVE_NEON_KERNELS && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)  // arch/arm64/include/uapi/asm/hwcap.h
#endif
#elif KAA_HAVE_NEON_KERNELS && defined(__APPLE__)
#include <sys/sysctl.h>
#endif

namespace kaa::kernels {

#if KAA_HAVE_X86_KERNELS
namespace {
// KAA_VNNI=0: the plain int8 kernels even where the CPU has VNNI (same results; for A/B
// runs of the path CPUs without VNNI take).
bool vnni_allowed() {
    const char* v = std::getenv("KAA_VNNI");
    return !(v && std::string(v) == "0");
}
}  // namespace

// Declared in kernels.hpp; defined here because the variant choice needs cpu_features.
const CpuKernels& avx2_kernels() { return avx2_kernels(runtime::cpu_features().avx_vnni && vnni_allowed()); }
// AMX when the CPU and OS allow it, unless KAA_AMX=0 (same results; for A/B runs).
// KAA_AMX=emulate runs the AMX kernel on tiles emulated in C++ on any AVX-512 VNNI CPU:
// slow, for checking the AMX path end to end where there is no AMX.
const CpuKernels& avx512_kernels() {
    const runtime::CpuFeatures& f = runtime::cpu_features();
    const std::string amx = std::getenv("KAA_AMX") ? std::getenv("KAA_AMX") : "";
    const bool vnni = f.avx512_vnni && vnni_allowed();
    if (amx == "emulate" && vnni) return avx512_amx_kernels(true);
    if (f.has_amx_int8_set() && amx != "0" && vnni) return avx512_amx_kernels(false);
    return avx512_kernels(vnni);
}
#endif

#if KAA_HAVE_NEON_KERNELS
namespace {
// ARMv8.2 dot product (SDOT/UDOT). User space cannot read the ID registers portably, so
// ask the OS: Linux/Android through the ELF auxiliary vector, macOS through sysctl. Other
// systems: assume absent (the plain variant gives the same bits, a little slower).
bool cpu_has_dotprod() {
#if defined(__linux__)
    return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#elif defined(__APPLE__)
    int v = 0;
    size_t n = sizeof(v);
    return sysctlbyname("hw.optional.arm.FEAT_DotProd", &v, &n, nullptr, 0) == 0 && v != 0;
#else
    return false;
#endif
}
}  // namespace

const CpuKernels& neon_kernels() {
    static const bool dotprod = cpu_has_dotprod();
    return neon_kernels(dotprod);
}
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
#elif KAA_HAVE_NEON_KERNELS
    (void)cpu;  // Advanced SIMD is part of every AArch64 CPU (cpu.neon is always set)
    if (want.empty() || want == "neon") return kernels::neon_kernels();
#else
    (void)cpu;
    if (want.empty()) return kernels::scalar_kernels();
#endif
    throw Error(ErrorCode::unsupported,
                "KAA_ISA=" + want + ": this build has no " + want + " backend for this architecture");
}

}  // namespace kaa::runtime
