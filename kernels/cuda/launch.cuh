// launch.cuh — which kernel runs for which arguments, on what grid. Shared by the CUDA
// build (kernels/cuda/*.cu launch with <<<>>>) and the tests' CPU emulation, through a
// launcher `L` callable as L(kernel, grid, block, args...).
#pragma once

#include "kernels/cuda/compat.cuh"
#include "kernels/cuda/conv.cuh"
#include "kernels/cuda/gemm.cuh"
#include "kernels/cuda/gemm_tc.cuh"
#include "kernels/cuda/gemv.cuh"
#include "kernels/cuda/norm.cuh"
#include "kernels/cuda/scan.cuh"

namespace kaa::kernels::cuda {

template <class L>
void launch_matmul(L& launch, const MatmulArgs& a) {
    if (a.M <= 0) return;
    switch (matmul_path(a)) {
        case MatmulPath::gemv: {
            const GemvPlan plan = gemv_plan(a.w, a.sm_count);
            const dim3 grid(unsigned(plan.blocks)), block(kGemvThreads);
            switch (a.w.type) {
                case WeightType::q8_0: launch(gemv_kernel<WeightType::q8_0>, grid, block, a, plan.ksplit); break;
                case WeightType::f16: launch(gemv_kernel<WeightType::f16>, grid, block, a, plan.ksplit); break;
                case WeightType::bf16: launch(gemv_kernel<WeightType::bf16>, grid, block, a, plan.ksplit); break;
                case WeightType::f32: launch(gemv_kernel<WeightType::f32>, grid, block, a, plan.ksplit); break;
            }
            return;
        }
        case MatmulPath::tensor_core: {
            launch(tc_prep_kernel<>, dim3(unsigned(a.M)), dim3(kRowThreads), a);
            const dim3 block(kTcThreads);
            // BM 64 keeps more blocks in flight for batches of up to 64 rows.
            dim3 grid = a.M <= 64 ? tc_grid<64>(a.M, a.w.rows) : tc_grid<128>(a.M, a.w.rows);
            const int ksplit = tc_ksplit(a, int64_t(grid.x) * grid.y);
            grid.z = unsigned(ksplit);
            const bool q8 = a.w.type == WeightType::q8_0;
            if (a.M <= 64) launch(q8 ? gemm_tc_kernel<WeightType::q8_0, 64> : gemm_tc_kernel<WeightType::f16, 64>, grid, block, a);
            else launch(q8 ? gemm_tc_kernel<WeightType::q8_0, 128> : gemm_tc_kernel<WeightType::f16, 128>, grid, block, a);
            if (ksplit > 1)
                launch(tc_splitk_reduce_kernel<>, dim3(unsigned((a.M * a.w.rows + kRowThreads - 1) / kRowThreads)),
                       dim3(kRowThreads), a, ksplit);
            return;
        }
        case MatmulPath::f32_tiles: {
            MatmulArgs b = a;
            if (a.norm) {  // normed rows into tmp (M x K), then a plain GEMM on them
                RmsArgs r;
                r.x = a.x;
                r.ldx = a.ldx;
                r.w = a.norm_w;
                r.y = a.tmp;
                r.ldy = a.w.cols;
                r.n_rows = a.M;
                r.n = a.w.cols;
                r.eps = a.eps;
                launch(rms_rows_kernel<>, dim3(unsigned(a.M)), dim3(kRowThreads), r);
                b.x = a.tmp;
                b.ldx = a.w.cols;
                b.norm = false;
            }
            const dim3 grid = gemm_f32_grid(a.M, a.w.rows), block(kGemmThreads);
            switch (a.w.type) {
                case WeightType::q8_0: launch(gemm_f32_kernel<WeightType::q8_0>, grid, block, b); break;
                case WeightType::f16: launch(gemm_f32_kernel<WeightType::f16>, grid, block, b); break;
                case WeightType::bf16: launch(gemm_f32_kernel<WeightType::bf16>, grid, block, b); break;
                case WeightType::f32: launch(gemm_f32_kernel<WeightType::f32>, grid, block, b); break;
            }
            return;
        }
    }
}

template <class L>
void launch_conv(L& launch, const ConvArgs& a) {
    if (a.n_segs <= 0 || a.max_T <= 0) return;
    if (a.p.d_conv == 4) launch(conv_kernel<4>, conv_grid(a), dim3(kConvThreads), a);
    else launch(conv_kernel<0>, conv_grid(a), dim3(kConvThreads), a);
}

template <class L>
void launch_scan(L& launch, const ScanArgs& a) {
    if (a.n_segs <= 0 || a.max_T <= 0) return;
    const dim3 block(kScanThreads);
    switch (scan_lanes(a.p.d_state)) {
        case 1: launch(scan_kernel<1>, scan_grid<1>(a), block, a); break;
        case 2: launch(scan_kernel<2>, scan_grid<2>(a), block, a); break;
        case 4: launch(scan_kernel<4>, scan_grid<4>(a), block, a); break;
        case 8: launch(scan_kernel<8>, scan_grid<8>(a), block, a); break;
        default: launch(scan_kernel<16>, scan_grid<16>(a), block, a); break;  // d_state <= kMaxDState
    }
}

template <class L>
void launch_rms(L& launch, const RmsArgs& a) {
    if (a.n_rows > 0) launch(rms_rows_kernel<>, dim3(unsigned(a.n_rows)), dim3(kRowThreads), a);
}

template <class L>
void launch_embed(L& launch, const EmbedArgs& a) {
    if (a.n > 0) launch(embed_kernel<>, dim3(unsigned(a.n)), dim3(kRowThreads), a);
}

template <class L>
void launch_repack(L& launch, const RepackArgs& a) {
    const int64_t blocks = a.rows * (a.ld / 32);
    if (blocks > 0) launch(repack_kernel<>, dim3(unsigned((blocks + kRowThreads - 1) / kRowThreads)), dim3(kRowThreads), a);
}

}  // namespace kaa::kernels::cuda
