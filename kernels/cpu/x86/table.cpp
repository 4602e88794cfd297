// The x86 kernel tables: avx2 (AVX2 + FMA + F16C) and avx512 (AVX-512 F/BW/VL/DQ), each
// with or without VNNI for Q8_0. Compiled with baseline flags (kernels/CMakeLists.txt):
// the tables hold only pointers and names, so nothing here needs, or may run, the ISA
// before lib/runtime/dispatch.cpp (or a test) has checked the CPU.
#include "kernels/kernels.hpp"

namespace kaa::kernels {

namespace avx2 {
constexpr const char *kName = "avx2", *kDetail = "avx2 + fma + f16c", *kDetailVnni = "avx2 + fma + f16c + avx-vnni";
#include "kernels/cpu/x86/table.inl"
}  // namespace avx2

namespace avx512 {
constexpr const char *kName = "avx512", *kDetail = "avx512 (f/bw/vl/dq)", *kDetailVnni = "avx512 (f/bw/vl/dq) + vnni";
#include "kernels/cpu/x86/table.inl"

void matmul_amx(const MatmulParams& p);  // matmul.cpp: Q8_0 prefill by AMX tiles (matmul_q8_amx.cpp)
void matmul_amx_emulated(const MatmulParams& p);

// The VNNI table with AMX-INT8 tile products for Q8_0 prefill; same results.
const CpuKernels& amx_table(bool emulated) {
    constexpr uint32_t kQuant = 1u << unsigned(WeightType::q8_0);
    static const CpuKernels hw = {
        kName, matmul_amx, conv1d_silu_kernel, scan_kernel, rms_norm_kernel, dequantize_row, kQuant,
        "avx512 (f/bw/vl/dq) + vnni + amx-int8", /*q8_0_x16=*/true, quant_x_bytes, quantize_x,
    };
    static const CpuKernels emu = {
        kName, matmul_amx_emulated, conv1d_silu_kernel, scan_kernel, rms_norm_kernel, dequantize_row, kQuant,
        "avx512 (f/bw/vl/dq) + vnni + emulated amx-int8 (tests only)", /*q8_0_x16=*/true, quant_x_bytes,
        quantize_x,
    };
    return emulated ? emu : hw;
}
}  // namespace avx512

const CpuKernels& avx2_kernels(bool vnni) { return avx2::table(vnni); }
const CpuKernels& avx512_kernels(bool vnni) { return avx512::table(vnni); }
const CpuKernels& avx512_amx_kernels(bool emulated) { return avx512::amx_table(emulated); }

}  // namespace kaa::kernels
