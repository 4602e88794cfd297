// table.inl — the kernel table of one x86 backend. Included by x86/table.cpp inside
// namespace kaa::kernels::<isa>, after kName, kDetail and kDetailVnni: declares the entry
// points that backend's files define (kernels/cpu/<isa>/*.cpp, in that same namespace, so
// each ISA's symbols have their own names) and defines table(vnni).
//
// Only Q8_0 quantizes activations (int8 per 32-block); F16/BF16 weights are widened to
// f32 exactly and multiplied by f32 activations.

void matmul_plain(const MatmulParams& p);  // matmul.cpp: Q8_0 by vpmaddubsw
void matmul_vnni(const MatmulParams& p);   // matmul.cpp: Q8_0 by vpdpbusd
void dequantize_row(WeightType t, const void* row, float* out, int64_t K);
void conv1d_silu_kernel(const ConvParams& p);  // ssm.cpp
void scan_kernel(const ScanParams& p);
void rms_norm_kernel(const float* x, const float* w, float* y, int64_t n, float eps);
size_t quant_x_bytes(int64_t M, int64_t K);  // matmul_q8.cpp
void quantize_x(const float* x, int64_t x_stride, int64_t M, int64_t K, int64_t m_begin, int64_t m_end, void* out);

// Constant-initialized: no code runs at program start.
const CpuKernels& table(bool vnni) {
    constexpr uint32_t kQuant = 1u << unsigned(WeightType::q8_0);
    static const CpuKernels plain = {
        kName, matmul_plain, conv1d_silu_kernel, scan_kernel, rms_norm_kernel, dequantize_row, kQuant, kDetail,
        /*q8_0_x16=*/false, quant_x_bytes, quantize_x,
    };
    static const CpuKernels with_vnni = {
        kName, matmul_vnni, conv1d_silu_kernel, scan_kernel, rms_norm_kernel, dequantize_row, kQuant, kDetailVnni,
        /*q8_0_x16=*/true, quant_x_bytes, quantize_x,
    };
    return vnni ? with_vnni : plain;
}
