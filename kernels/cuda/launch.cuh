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

template <class L, int R, int MM>
void launch_gemv(L& launch, const MatmulArgs& a, const GemvPlan& plan) {
    const dim3 grid(unsigned(plan.blocks)), block(kGemvThreads);
    switch (a.w.type) {
        case WeightType::q8_0: launch(gemv_kernel<WeightType::q8_0, R, MM>, grid, block, a, plan.ksplit); break;
        case WeightType::f16: launch(gemv_kernel<WeightType::f16, R, MM>, grid, block, a, plan.ksplit); break;
        case WeightType::bf16: launch(gemv_kernel<WeightType::bf16, R, MM>, grid, block, a, plan.ksplit); break;
        case WeightType::f32: launch(gemv_kernel<WeightType::f32, R, MM>, grid, block, a, plan.ksplit); break;
    }
}

template <class L, int MM>
void launch_gemv_rows(L& launch, const MatmulArgs& a) {
    const GemvPlan plan = gemv_plan(a.w, a.sm_count, gemv_rows(a));
    switch (plan.rows) {
        case 4: launch_gemv<L, 4, MM>(launch, a, plan); break;
        default: launch_gemv<L, 2, MM>(launch, a, plan); break;
    }
}

// The RMS norm of a.x's rows into a.tmp (M x K) by rms_rows_kernel, once per row: the
// arguments of a plain matmul on them.
template <class L>
MatmulArgs launch_prenorm(L& launch, const MatmulArgs& a) {
    MatmulArgs b = a;
    if (!a.norm) return b;
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
    return b;
}

template <class L>
void launch_matmul(L& launch, const MatmulArgs& a) {
    if (a.M <= 0) return;
    switch (matmul_path(a)) {
        case MatmulPath::gemv: {
            // Normed rows first: in the GEMV every block would recompute each row's norm
            // (measured on an H200: in_proj's GEMV then took ~3x as long).
            const MatmulArgs b = launch_prenorm(launch, a);
            if (b.M == 1) launch_gemv_rows<L, 1>(launch, b);
            else launch_gemv_rows<L, kGemvMaxM>(launch, b);
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
            const MatmulArgs b = launch_prenorm(launch, a);  // normed rows into tmp, then a plain GEMM
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

// scan_kernel (a sequence) or scan_step_kernel (a decode step) for G = scan_lanes(d_state,
// NS): with d_state <= kMaxDState (64), G <= 32 for NS 2 and <= 16 for NS 4.
template <int G, int NS>
struct ScanKernels {
    static constexpr auto whole = scan_kernel<G, NS>;
    static constexpr auto step = scan_step_kernel<G, NS>;
};

template <class L, int NS>
void launch_scan_ns(L& launch, const ScanArgs& a) {
    static_assert(kMaxDState == 64 && (NS == 2 || NS == 4), "scan variants");
    const bool step = a.max_T == 1;
    auto go = [&](auto kernels, dim3 grid) {
        using Ks = decltype(kernels);
        if (step) launch(Ks::step, grid, dim3(kScanThreads), a);
        else launch(Ks::whole, grid, dim3(kScanThreads), a);
    };
    switch (scan_lanes(a.p.d_state, NS)) {
        case 1: go(ScanKernels<1, NS>{}, scan_grid<1>(a)); break;
        case 2: go(ScanKernels<2, NS>{}, scan_grid<2>(a)); break;
        case 4: go(ScanKernels<4, NS>{}, scan_grid<4>(a)); break;
        case 8: go(ScanKernels<8, NS>{}, scan_grid<8>(a)); break;
        case 16: go(ScanKernels<16, NS>{}, scan_grid<16>(a)); break;
        default: go(ScanKernels<(NS == 2 ? 32 : 16), NS>{}, scan_grid<(NS == 2 ? 32 : 16)>(a)); break;
    }
}

template <class L>
void launch_scan(L& launch, const ScanArgs& a) {
    if (a.n_segs <= 0 || a.max_T <= 0) return;
    if (scan_states_per_lane(a) == 4) launch_scan_ns<L, 4>(launch, a);
    else launch_scan_ns<L, 2>(launch, a);
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
