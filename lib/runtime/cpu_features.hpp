// cpu_features.hpp — what this CPU *and* this OS let kaa use, detected once.
//
// A flag is set only when the CPU reports the instructions (CPUID) and the OS saves the
// register state they need (XGETBV: XMM/YMM for AVX*, plus opmask/ZMM for AVX-512; tile
// state for AMX, which Linux also wants requested per process with arch_prctl). On
// non-x86 builds every x86 flag is false.
#pragma once

#include <string>

namespace kaa::runtime {

struct CpuFeatures {
    // x86
    bool sse42 = false;
    bool avx = false;
    bool avx2 = false;
    bool fma = false;
    bool f16c = false;
    bool avx512f = false;
    bool avx512bw = false;
    bool avx512vl = false;
    bool avx512dq = false;
    bool avx512_vnni = false;
    bool avx512_bf16 = false;
    bool avx512_fp16 = false;
    bool avx_vnni = false;     // VEX-encoded vpdpbusd on YMM (Alder Lake / Sapphire Rapids)
    bool amx_tile = false;     // CPU reports AMX and XCR0 enables tile state
    bool amx_int8 = false;
    bool amx_bf16 = false;
    bool amx_granted = false;  // the OS granted this process tile data (Linux arch_prctl)
    bool amx_16x64 = false;    // palette 1 offers 8 tiles of 16 rows x 64 bytes (CPUID 0x1D)
    // arm
    bool neon = false;

    // The sets the kernel backends are compiled for.
    bool has_avx2_set() const { return avx2 && fma && f16c; }
    bool has_avx512_set() const { return has_avx2_set() && avx512f && avx512bw && avx512vl && avx512dq; }
    // What the avx512 backend's AMX kernel needs (kernels/cpu/avx512/matmul_q8_amx.cpp).
    bool has_amx_int8_set() const {
        return has_avx512_set() && avx512_vnni && amx_tile && amx_int8 && amx_granted && amx_16x64;
    }

    // e.g. "avx2 fma f16c avx512f ... " (for logs and kaa-info).
    std::string describe() const;
};

// Detected on first call (thread-safe), then cached. AMX tile permission is requested
// from the OS at that first call on Linux when the CPU has AMX.
const CpuFeatures& cpu_features();

}  // namespace kaa::runtime
