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
}  // namespace avx512

const CpuKernels& avx2_kernels(bool vnni) { return avx2::table(vnni); }
const CpuKernels& avx512_kernels(bool vnni) { return avx512::table(vnni); }

}  // namespace kaa::kernels
