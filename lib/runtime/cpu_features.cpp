#include "runtime/cpu_features.hpp"

#include <cstdint>

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__) || defined(_M_IX86)
#define KAA_X86 1
#if defined(_MSC_VER)
#include <immintrin.h>
#include <intrin.h>
#else
#include <cpuid.h>
#endif
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif
#endif

namespace kaa::runtime {
namespace {

#if defined(KAA_X86)
struct Regs {
    uint32_t a = 0, b = 0, c = 0, d = 0;
};

Regs cpuid(uint32_t leaf, uint32_t sub) {
    Regs r;
#if defined(_MSC_VER)
    int v[4];
    __cpuidex(v, int(leaf), int(sub));
    r.a = uint32_t(v[0]); r.b = uint32_t(v[1]); r.c = uint32_t(v[2]); r.d = uint32_t(v[3]);
#else
    __cpuid_count(leaf, sub, r.a, r.b, r.c, r.d);
#endif
    return r;
}

// XCR0: which register states the OS saves on context switch. Only valid when
// CPUID.1:ECX.OSXSAVE is set; the caller checks that first.
uint64_t xgetbv0() {
#if defined(_MSC_VER)
    return _xgetbv(0);
#else
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (uint64_t(hi) << 32) | lo;
#endif
}

bool bit(uint32_t v, int i) { return (v >> i) & 1u; }

// Linux 5.16+ hands out AMX tile data only on request (ARCH_REQ_XCOMP_PERM).
bool request_amx_permission() {
#if defined(__linux__)
    constexpr long kArchGetXcompPerm = 0x1022, kArchReqXcompPerm = 0x1023;
    constexpr int kXfeatureTileData = 18;
    if (syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureTileData) != 0) return false;
    unsigned long perm = 0;
    if (syscall(SYS_arch_prctl, kArchGetXcompPerm, &perm) != 0) return false;
    return (perm >> kXfeatureTileData) & 1ul;
#else
    return false;  // other OSes: assume no grant (the VNNI kernels serve)
#endif
}

CpuFeatures detect() {
    CpuFeatures f;
    const uint32_t max_leaf = cpuid(0, 0).a;
    if (max_leaf < 1) return f;
    const Regs l1 = cpuid(1, 0);
    f.sse42 = bit(l1.c, 20);
    const bool osxsave = bit(l1.c, 27);
    const uint64_t xcr0 = osxsave ? xgetbv0() : 0;
    const bool os_ymm = (xcr0 & 0x6) == 0x6;             // XMM + YMM state
    const bool os_zmm = os_ymm && (xcr0 & 0xe0) == 0xe0;  // + opmask, ZMM_Hi256, Hi16_ZMM
    const bool os_tile = (xcr0 & 0x60000) == 0x60000;     // XTILECFG + XTILEDATA

    f.avx = os_ymm && bit(l1.c, 28);
    f.fma = f.avx && bit(l1.c, 12);
    f.f16c = f.avx && bit(l1.c, 29);
    if (max_leaf >= 7) {
        const Regs l7 = cpuid(7, 0);
        f.avx2 = f.avx && bit(l7.b, 5);
        f.avx512f = os_zmm && bit(l7.b, 16);
        f.avx512dq = f.avx512f && bit(l7.b, 17);
        f.avx512bw = f.avx512f && bit(l7.b, 30);
        f.avx512vl = f.avx512f && bit(l7.b, 31);
        f.avx512_vnni = f.avx512f && bit(l7.c, 11);
        f.avx512_fp16 = f.avx512f && bit(l7.d, 23);
        f.amx_bf16 = os_tile && bit(l7.d, 22);
        f.amx_tile = os_tile && bit(l7.d, 24);
        f.amx_int8 = os_tile && bit(l7.d, 25);
        if (l7.a >= 1) {
            const Regs l71 = cpuid(7, 1);
            f.avx_vnni = f.avx2 && bit(l71.a, 4);
            f.avx512_bf16 = f.avx512f && bit(l71.a, 5);
        }
    }
    if (f.amx_tile) f.amx_granted = request_amx_permission();
    if (f.amx_tile && max_leaf >= 0x1d && cpuid(0x1d, 0).a >= 1) {
        // Palette 1: EBX = max names (tiles) << 16 | bytes per row, ECX low = max rows.
        const Regs p1 = cpuid(0x1d, 1);
        f.amx_16x64 = (p1.b >> 16) >= 8 && (p1.b & 0xffff) >= 64 && (p1.c & 0xffff) >= 16;
    }
    return f;
}
#elif defined(__aarch64__) || defined(_M_ARM64)
CpuFeatures detect() {
    CpuFeatures f;
    f.neon = true;  // Advanced SIMD is mandatory on AArch64
    return f;
}
#else
CpuFeatures detect() { return CpuFeatures{}; }
#endif

}  // namespace

std::string CpuFeatures::describe() const {
    std::string s;
    auto add = [&s](bool on, const char* name) {
        if (!on) return;
        if (!s.empty()) s += ' ';
        s += name;
    };
    add(sse42, "sse4.2");
    add(avx, "avx");
    add(avx2, "avx2");
    add(fma, "fma");
    add(f16c, "f16c");
    add(avx_vnni, "avx-vnni");
    add(avx512f, "avx512f");
    add(avx512bw, "avx512bw");
    add(avx512vl, "avx512vl");
    add(avx512dq, "avx512dq");
    add(avx512_vnni, "avx512-vnni");
    add(avx512_bf16, "avx512-bf16");
    add(avx512_fp16, "avx512-fp16");
    add(amx_tile, "amx-tile");
    add(amx_int8, "amx-int8");
    add(amx_bf16, "amx-bf16");
    add(amx_granted, "amx-granted");
    add(amx_16x64, "amx-16x64");
    add(neon, "neon");
    return s.empty() ? std::string("(none)") : s;
}

const CpuFeatures& cpu_features() {
    static const CpuFeatures f = detect();
    return f;
}

}  // namespace kaa::runtime
