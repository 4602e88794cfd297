// The CUDA kernels against the scalar reference (kernels/cpu/scalar), through the
// gpu::Runtime interface: on the CPU emulation always ([cuda-emu], small odd shapes), on
// a GPU when there is one ([cuda], more and larger random shapes). Weights go in as the
// file stores them and through the repack kernel, so the device layout is checked too.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <random>

#include "kernels/cpu/numeric.hpp"
#include "kernels/kernels.hpp"
#include "support/shared.hpp"
#include "test_cuda.hpp"

namespace {

using namespace kaa::test::cuda;
namespace kk = kaa::kernels;
namespace kc = kaa::kernels::cuda;
using kk::WeightType;

const char* type_name(WeightType t) {
    switch (t) {
        case WeightType::f32: return "f32";
        case WeightType::f16: return "f16";
        case WeightType::bf16: return "bf16";
        case WeightType::q8_0: return "q8_0";
    }
    return "?";
}

std::vector<float> random_floats(std::mt19937& rng, size_t n, float lo, float hi) {
    std::uniform_real_distribution<float> d(lo, hi);
    std::vector<float> v(n);
    for (float& x : v) x = d(rng);
    return v;
}

// A weight matrix as a file stores it, and its exact f32 values.
struct HostMatrix {
    WeightType type;
    int64_t N, K;
    size_t row_bytes;
    std::vector<uint8_t> raw;
    std::vector<float> deq;  // N x K
};

// dequantize = false: only the file bytes (benchmarks; the 7B LM head would be 1 GiB of f32).
HostMatrix random_matrix(std::mt19937& rng, WeightType t, int64_t N, int64_t K, bool dequantize = true) {
    HostMatrix m{t, N, K, 0, {}, {}};
    m.row_bytes = t == WeightType::q8_0 ? size_t(K / 32 * 34) : size_t(K) * (t == WeightType::f32 ? 4 : 2);
    m.raw.resize(size_t(N) * m.row_bytes);
    std::uniform_real_distribution<float> w(-0.5f, 0.5f), scale(0.002f, 0.02f);
    std::uniform_int_distribution<int> q(-127, 127);
    for (int64_t n = 0; n < N; ++n) {
        uint8_t* row = m.raw.data() + size_t(n) * m.row_bytes;
        for (int64_t k = 0; k < K; ++k) {
            if (t == WeightType::f32) {
                const float v = w(rng);
                std::memcpy(row + 4 * k, &v, 4);
            } else if (t == WeightType::f16 || t == WeightType::bf16) {
                const uint16_t h = t == WeightType::f16 ? kk::f32_to_f16(w(rng)) : kk::f32_to_bf16(w(rng));
                std::memcpy(row + 2 * k, &h, 2);
            } else if (k % 32 == 0) {
                const uint16_t d = kk::f32_to_f16(scale(rng));
                std::memcpy(row + k / 32 * 34, &d, 2);
                for (int j = 0; j < 32; ++j) row[k / 32 * 34 + 2 + j] = uint8_t(int8_t(q(rng)));
            }
        }
    }
    if (!dequantize) return m;
    m.deq.resize(size_t(N * K));
    for (int64_t n = 0; n < N; ++n)
        kk::scalar_kernels().dequantize_row(t, m.raw.data() + size_t(n) * m.row_bytes, m.deq.data() + n * K, K);
    return m;
}

// The matrix in device memory, in the device layout (through the repack kernel).
struct DeviceMatrix {
    DevVec<uint8_t> data, scales;
    kc::DevMatrix m;
    DeviceMatrix(gpu::Runtime& rt, const HostMatrix& h)
        : data(rt, kc::dev_matrix_bytes(h.type, h.N, h.K)), scales(rt, size_t(h.N * kc::padded_cols(h.K) / 16)) {
        m.type = h.type;
        m.rows = h.N;
        m.cols = h.K;
        m.ld = kc::padded_cols(h.K);
        m.data = data.get();
        m.scales = reinterpret_cast<const uint16_t*>(scales.get());
        DevVec<uint8_t> raw(rt, h.raw);
        kc::RepackArgs a;
        a.raw = raw.get();
        a.row_bytes = h.row_bytes;
        a.type = h.type;
        a.rows = h.N;
        a.cols = h.K;
        a.ld = m.ld;
        a.data = data.get();
        a.scales = reinterpret_cast<uint16_t*>(scales.get());
        void* s = rt.create_stream();
        rt.repack(a, s);
        rt.sync(s);
        rt.destroy_stream(s);
    }
};

struct MatmulCase {
    WeightType type;
    int64_t N, K, M;
    bool accumulate, norm, norm_weight, fast;
    int gemv_rows = 0;  // a GEMV variant (MatmulArgs::gemv_rows)
    bool blas = false;  // offer cuBLAS (used where the runtime has it: not in the emulation)
};

// Runs one matmul on the device and compares with the scalar reference. Tolerance per
// output: relative to sum_k |w x| (f32 rounding, or f16 rounding on the tensor cores).
void check_matmul(gpu::Runtime& rt, std::mt19937& rng, const MatmulCase& c) {
    const HostMatrix hm = random_matrix(rng, c.type, c.N, c.K);
    const int64_t ldx = c.K + 3, ldy = c.N + 1;  // odd strides
    std::vector<float> x = random_floats(rng, size_t(c.M * ldx), -2.0f, 2.0f);
    std::vector<float> y0 = random_floats(rng, size_t(c.M * ldy), -1.0f, 1.0f);
    std::vector<float> nw = random_floats(rng, size_t(c.K), 0.5f, 1.5f);
    const float eps = 1e-5f;

    // Reference: optional RMS norm, then the scalar matmul on the dequantized rows.
    std::vector<float> xr(size_t(c.M * c.K)), ref(size_t(c.M * c.N)), mag(size_t(c.M * c.N));
    for (int64_t m = 0; m < c.M; ++m) {
        if (c.norm)
            kk::scalar_kernels().rms_norm(x.data() + m * ldx, c.norm_weight ? nw.data() : nullptr, xr.data() + m * c.K,
                                          c.K, eps);
        else
            std::copy(x.begin() + m * ldx, x.begin() + m * ldx + c.K, xr.begin() + m * c.K);
    }
    kk::MatmulParams p{};
    p.wtype = WeightType::f32;
    p.w = hm.deq.data();
    p.w_row_bytes = size_t(c.K) * 4;
    p.x = xr.data();
    p.x_stride = c.K;
    p.y = ref.data();
    p.y_stride = c.N;
    p.M = c.M;
    p.N = c.N;
    p.K = c.K;
    p.n_end = c.N;
    kk::scalar_kernels().matmul(p);
    for (int64_t m = 0; m < c.M; ++m)
        for (int64_t n = 0; n < c.N; ++n) {
            double s = 0;
            for (int64_t k = 0; k < c.K; ++k) s += std::abs(double(hm.deq[size_t(n * c.K + k)]) * xr[size_t(m * c.K + k)]);
            mag[size_t(m * c.N + n)] = float(s);
            if (c.accumulate) ref[size_t(m * c.N + n)] += y0[size_t(m * ldy + n)];
        }

    DeviceMatrix dmat(rt, hm);
    DevVec<float> dx(rt, x), dy(rt, y0), dnw(rt, nw);
    const int64_t ld = kc::padded_cols(c.K);
    DevVec<float> tmp(rt, size_t(c.M * ld)), xscale(rt, size_t(c.M)), part(rt, size_t(8 * c.M * c.N));
    DevVec<uint16_t> xh(rt, size_t(c.M * ld));
    kc::MatmulArgs a;
    a.w = dmat.m;
    a.x = dx.get();
    a.ldx = ldx;
    a.y = dy.get();
    a.ldy = ldy;
    a.M = c.M;
    a.accumulate = c.accumulate;
    a.norm = c.norm;
    a.norm_w = c.norm_weight ? dnw.get() : nullptr;
    a.eps = eps;
    a.fast = c.fast;
    a.tmp = tmp.get();
    a.xh = xh.get();
    a.xscale = xscale.get();
    a.part = part.get();
    a.part_floats = 8 * c.M * c.N;
    a.sm_count = rt.info().sm_count;
    a.gemv_rows = c.gemv_rows;
    void* s = rt.create_stream();
    DevVec<uint16_t> wh(rt, size_t(c.blas ? c.N * ld : 1));
    DevVec<float> blas_scalars(rt, 4);
    if (c.blas && (a.blas = rt.create_blas(s)) != nullptr) {
        a.wh = wh.get();
        a.wh_halfs = c.N * ld;
        a.blas_scalars = blas_scalars.get();
    }
    rt.matmul(a, s);
    rt.sync(s);
    rt.destroy_blas(a.blas);
    rt.destroy_stream(s);
    const std::vector<float> y = dy.read();

    const bool tensor_cores = kc::matmul_path(a) == kc::MatmulPath::tensor_core;
    const double rel = tensor_cores ? 2e-3 : 2e-5;  // f16 operands vs f32 (K up to ~10^4)
    double worst = 0;
    int bad = 0;
    for (int64_t m = 0; m < c.M; ++m)
        for (int64_t n = 0; n < c.N; ++n) {
            const double d = std::abs(double(y[size_t(m * ldy + n)]) - ref[size_t(m * c.N + n)]);
            const double tol = rel * mag[size_t(m * c.N + n)] + 1e-5;
            worst = std::max(worst, d / tol);
            bad += d > tol;
        }
    // Padding columns of y (n >= N) are never written.
    for (int64_t m = 0; m < c.M; ++m) bad += y[size_t(m * ldy + c.N)] != y0[size_t(m * ldy + c.N)];
    INFO(type_name(c.type) << " N " << c.N << " K " << c.K << " M " << c.M << (c.accumulate ? " accumulate" : "")
                           << (c.norm ? (c.norm_weight ? " norm(w)" : " norm") : "") << (c.fast ? " fast" : "")
                           << (tensor_cores ? (a.blas ? " [cublas]" : " [tensor cores]") : "") << " gemv rows " << c.gemv_rows
                           << ": worst error / tolerance " << worst);
    CHECK(bad == 0);
}

void matmul_cases(gpu::Runtime& rt, bool large) {
    std::mt19937 rng(7);
    for (WeightType t : {WeightType::f32, WeightType::f16, WeightType::bf16, WeightType::q8_0}) {
        const int64_t K1 = t == WeightType::q8_0 ? 64 : 40, K2 = t == WeightType::q8_0 ? 96 : 13;
        for (int64_t M : {1, 3, 9}) check_matmul(rt, rng, {t, 37, K1, M, false, false, false, false});
        for (int64_t M : {1, 4, 9}) check_matmul(rt, rng, {t, 70, K2, M, true, true, true, true});
        // Two blocks of activation rows (128-row tiles on the tensor cores).
        check_matmul(rt, rng, {t, 33, K1, 70, true, false, false, true});
    }
    // Every GEMV variant (rows per warp), one and several activation rows, rows past N.
    for (int R : {2, 4})
        for (WeightType t : {WeightType::f32, WeightType::f16, WeightType::bf16, WeightType::q8_0})
            for (int64_t M : {1, 3}) check_matmul(rt, rng, {t, 45, t == WeightType::q8_0 ? 128 : 77, M, M == 3, true, M == 1, false, R});
    check_matmul(rt, rng, {WeightType::q8_0, 33, 64, 70, false, true, false, true});  // norm in the f16 staging
    // cuBLAS (M >= kBlasMinM), both weight types, plain and normed + accumulating.
    for (WeightType t : {WeightType::q8_0, WeightType::f16}) {
        check_matmul(rt, rng, {t, 70, 96, kc::kBlasMinM, false, false, false, true, 0, true});
        check_matmul(rt, rng, {t, 45, 160, kc::kBlasMinM + 37, true, true, true, true, 0, true});
    }
    check_matmul(rt, rng, {WeightType::q8_0, 40, 1024, 9, true, false, false, true});  // K split 4 ways
    check_matmul(rt, rng, {WeightType::f16, 20, 300, 6, false, false, false, true});   // 10 K steps, split 2
    if (!large) return;
    std::uniform_int_distribution<int> pick(0, 1 << 20);
    for (int i = 0; i < 40; ++i) {  // sizes bounded by the CPU reference's time
        const WeightType t = WeightType(pick(rng) % 4);
        const int64_t N = 1 + pick(rng) % 2000, K = t == WeightType::q8_0 ? 32 * (1 + pick(rng) % 90) : 1 + pick(rng) % 3000;
        const int64_t Ms[] = {1, 2, 3, 4, 5, 16, 64, 65, 130};
        const int64_t M = Ms[pick(rng) % 9];
        check_matmul(rt, rng, {t, N, K, M, pick(rng) % 2 == 0, pick(rng) % 2 == 0, pick(rng) % 2 == 0, pick(rng) % 2 == 0});
    }
    // The 7B shapes: in_proj, x_proj, dt_proj, out_proj; GEMV and (M = 5) tensor cores.
    for (int64_t M : {1, 5}) {
        check_matmul(rt, rng, {WeightType::q8_0, 16384, 4096, M, false, true, true, true});
        check_matmul(rt, rng, {WeightType::q8_0, 288, 8192, M, false, false, false, true});
        check_matmul(rt, rng, {WeightType::q8_0, 8192, 256, M, false, true, false, true});
        check_matmul(rt, rng, {WeightType::q8_0, 4096, 8192, M, true, false, false, true});
    }
}

// ---- conv ----------------------------------------------------------------------------------------
// Segments of lengths Ts stacked in one x buffer; each has its own state buffer with the
// layer's conv state at `offset`.
void check_conv(gpu::Runtime& rt, std::mt19937& rng, int64_t di, int64_t d_conv, const std::vector<int64_t>& Ts) {
    const int64_t H = d_conv - 1, offset = 5, state_floats = offset + di * H + 3;
    int64_t total = 0;
    for (int64_t T : Ts) total += T;
    const int64_t xs = 2 * di + 1, os = di + 2;
    std::vector<float> x = random_floats(rng, size_t(total * xs), -2, 2), w = random_floats(rng, size_t(di * d_conv), -1, 1),
                       b = random_floats(rng, size_t(di), -0.5f, 0.5f), out0 = random_floats(rng, size_t(total * os), -1, 1);
    std::vector<std::vector<float>> states;
    for (size_t i = 0; i < Ts.size(); ++i) states.push_back(random_floats(rng, size_t(state_floats), -1, 1));

    // Reference, segment by segment.
    std::vector<float> ref = out0;
    std::vector<std::vector<float>> ref_states = states;
    int64_t row0 = 0;
    for (size_t i = 0; i < Ts.size(); ++i) {
        kk::ConvParams p{};
        p.x = x.data() + row0 * xs;
        p.x_stride = xs;
        p.out = ref.data() + row0 * os;
        p.out_stride = os;
        p.state = ref_states[i].data() + offset;
        p.weight = w.data();
        p.bias = b.data();
        p.T = Ts[i];
        p.d_inner = di;
        p.d_conv = d_conv;
        p.c_end = di;
        kk::scalar_kernels().conv1d_silu(p);
        row0 += Ts[i];
    }

    DevVec<float> dx(rt, x), dw(rt, w), db(rt, b), dout(rt, out0);
    std::vector<std::unique_ptr<DevVec<float>>> dstates;
    std::vector<kc::SegmentDesc> descs;
    row0 = 0;
    for (size_t i = 0; i < Ts.size(); ++i) {
        dstates.push_back(std::make_unique<DevVec<float>>(rt, states[i]));
        descs.push_back({row0, Ts[i], dstates.back()->get()});
        row0 += Ts[i];
    }
    std::vector<uint8_t> desc_bytes(descs.size() * sizeof(kc::SegmentDesc));
    std::memcpy(desc_bytes.data(), descs.data(), desc_bytes.size());
    DevVec<uint8_t> dsegs(rt, desc_bytes);
    kc::ConvArgs a{};
    a.p.x = dx.get();
    a.p.x_stride = xs;
    a.p.out = dout.get();
    a.p.out_stride = os;
    a.p.weight = dw.get();
    a.p.bias = db.get();
    a.p.d_inner = di;
    a.p.d_conv = d_conv;
    a.segs = reinterpret_cast<const kc::SegmentDesc*>(dsegs.get());
    a.n_segs = int(Ts.size());
    a.max_T = *std::max_element(Ts.begin(), Ts.end());
    a.state_offset = offset;
    void* s = rt.create_stream();
    rt.conv(a, s);
    rt.sync(s);
    rt.destroy_stream(s);

    const std::vector<float> out = dout.read();
    double worst = 0;
    for (size_t i = 0; i < out.size(); ++i) worst = std::max(worst, double(std::abs(out[i] - ref[i])));
    INFO("conv d_inner " << di << " d_conv " << d_conv << " segments " << Ts.size() << " (first T " << Ts[0] << ")");
    CHECK(worst <= 1e-5);
    for (size_t i = 0; i < Ts.size(); ++i) CHECK(dstates[i]->read() == ref_states[i]);  // copies: exact
}

// ---- scan ----------------------------------------------------------------------------------------
// ns: states per lane, the kernel variant (0: the launcher's choice).
void check_scan(gpu::Runtime& rt, std::mt19937& rng, int64_t di, int64_t ds, bool bc_norm, const std::vector<int64_t>& Ts,
                int ns = 0) {
    const int64_t R = 3, nx = R + 2 * ds + 1, offset = 7, state_floats = offset + di * ds + 2;
    int64_t total = 0;
    for (int64_t T : Ts) total += T;
    const int64_t us = di + 1, zs = 2 * di, ys = di + 3;
    std::vector<float> u = random_floats(rng, size_t(total * us), -2, 2), dtr = random_floats(rng, size_t(total * us), -4, 1),
                       xdbl = random_floats(rng, size_t(total * nx), -1.5f, 1.5f), xz = random_floats(rng, size_t(total * zs), -3, 3),
                       bias = random_floats(rng, size_t(di), -1, 1), A = random_floats(rng, size_t(di * ds), -3, -0.05f),
                       D = random_floats(rng, size_t(di), -1, 1), y0 = random_floats(rng, size_t(total * ys), -1, 1);
    const float eps = 1e-5f;
    std::vector<std::vector<float>> states;
    for (size_t i = 0; i < Ts.size(); ++i) states.push_back(random_floats(rng, size_t(state_floats), -1, 1));

    std::vector<float> bc = xdbl;  // the reference scans on normed B, C
    if (bc_norm)
        for (int64_t t = 0; t < total; ++t) {
            kk::scalar_kernels().rms_norm(bc.data() + t * nx + R, nullptr, bc.data() + t * nx + R, ds, eps);
            kk::scalar_kernels().rms_norm(bc.data() + t * nx + R + ds, nullptr, bc.data() + t * nx + R + ds, ds, eps);
        }
    std::vector<float> ref = y0;
    std::vector<std::vector<float>> ref_states = states;
    int64_t row0 = 0;
    auto params = [&](kk::ScanParams& p, const float* uu, const float* dd, const float* xd, const float* zz, float* yy) {
        p.u = uu;
        p.u_stride = us;
        p.dt_raw = dd;
        p.dt_stride = us;
        p.dt_bias = bias.data();
        p.B = xd + R;
        p.B_stride = nx;
        p.C = xd + R + ds;
        p.C_stride = nx;
        p.z = zz + di;
        p.z_stride = zs;
        p.y = yy;
        p.y_stride = ys;
        p.d_inner = di;
        p.d_state = ds;
    };
    for (size_t i = 0; i < Ts.size(); ++i) {
        kk::ScanParams p{};
        params(p, u.data() + row0 * us, dtr.data() + row0 * us, bc.data() + row0 * nx, xz.data() + row0 * zs,
               ref.data() + row0 * ys);
        p.A = A.data();
        p.D = D.data();
        p.state = ref_states[i].data() + offset;
        p.T = Ts[i];
        p.c_end = di;
        kk::scalar_kernels().scan(p);
        row0 += Ts[i];
    }

    DevVec<float> du(rt, u), ddt(rt, dtr), dx(rt, xdbl), dz(rt, xz), db(rt, bias), dA(rt, A), dD(rt, D), dy(rt, y0);
    std::vector<std::unique_ptr<DevVec<float>>> dstates;
    std::vector<kc::SegmentDesc> descs;
    row0 = 0;
    for (size_t i = 0; i < Ts.size(); ++i) {
        dstates.push_back(std::make_unique<DevVec<float>>(rt, states[i]));
        descs.push_back({row0, Ts[i], dstates.back()->get()});
        row0 += Ts[i];
    }
    std::vector<uint8_t> desc_bytes(descs.size() * sizeof(kc::SegmentDesc));
    std::memcpy(desc_bytes.data(), descs.data(), desc_bytes.size());
    DevVec<uint8_t> dsegs(rt, desc_bytes);
    kc::ScanArgs a{};
    params(a.p, du.get(), ddt.get(), dx.get(), dz.get(), dy.get());
    a.p.dt_bias = db.get();
    a.p.A = dA.get();
    a.p.D = dD.get();
    a.segs = reinterpret_cast<const kc::SegmentDesc*>(dsegs.get());
    a.n_segs = int(Ts.size());
    a.max_T = *std::max_element(Ts.begin(), Ts.end());
    a.state_offset = offset;
    a.bc_norm = bc_norm;
    a.eps = eps;
    a.states_per_lane = ns;
    void* s = rt.create_stream();
    rt.scan(a, s);
    rt.sync(s);
    rt.destroy_stream(s);

    const std::vector<float> y = dy.read();
    double worst = 0;
    for (size_t i = 0; i < y.size(); ++i) worst = std::max(worst, std::abs(double(y[i]) - ref[i]) / (1.0 + std::abs(ref[i])));
    double worst_state = 0;
    for (size_t i = 0; i < Ts.size(); ++i) {
        const std::vector<float> st = dstates[i]->read();
        for (size_t j = 0; j < st.size(); ++j)
            worst_state = std::max(worst_state, std::abs(double(st[j]) - ref_states[i][j]) / (1.0 + std::abs(ref_states[i][j])));
    }
    INFO("scan d_inner " << di << " d_state " << ds << (bc_norm ? " bc_norm" : "") << " states per lane " << ns
                         << " segments " << Ts.size()
                         << ": worst relative |dy| " << worst << ", |dstate| " << worst_state);
    // The GPU's exp is the hardware approximation (compat.cuh decay_exp): a few ulp per
    // step, which a 300-step recurrence accumulates to ~2e-5 (measured on an H200).
    const double tol = *std::max_element(Ts.begin(), Ts.end()) > 64 ? 5e-5 : 2e-5;
    CHECK(worst <= tol);
    CHECK(worst_state <= tol);
}

// ---- rows: rms (gather, in place), embedding -----------------------------------------------------
void check_rows(gpu::Runtime& rt, std::mt19937& rng) {
    const int64_t n = 77, ld = 80, rows = 6;
    std::vector<float> x = random_floats(rng, size_t(rows * ld), -3, 3), w = random_floats(rng, size_t(n), 0.5f, 2);
    const std::vector<int32_t> gather = {4, 0, 4, 2};
    void* s = rt.create_stream();
    for (bool weighted : {false, true}) {
        DevVec<float> dx(rt, x), dw(rt, w), dy(rt, size_t(4 * n));
        DevVec<int32_t> dg(rt, gather);
        kc::RmsArgs a;
        a.x = dx.get();
        a.ldx = ld;
        a.rows = dg.get();
        a.w = weighted ? dw.get() : nullptr;
        a.y = dy.get();
        a.ldy = n;
        a.n_rows = 4;
        a.n = n;
        a.eps = 1e-5f;
        rt.rms(a, s);
        a.rows = nullptr;  // in place, every row
        a.y = dx.get();
        a.ldy = ld;
        a.n_rows = rows;
        rt.rms(a, s);
        rt.sync(s);
        const std::vector<float> y = dy.read(), xi = dx.read();
        std::vector<float> ref(static_cast<size_t>(n));
        for (int r = 0; r < 4; ++r) {
            kk::scalar_kernels().rms_norm(x.data() + gather[size_t(r)] * ld, weighted ? w.data() : nullptr, ref.data(), n, 1e-5f);
            for (int64_t k = 0; k < n; ++k) CHECK(std::abs(y[size_t(r * n + k)] - ref[size_t(k)]) <= 1e-5f * (1 + std::abs(ref[size_t(k)])));
        }
        for (int64_t r = 0; r < rows; ++r) {
            kk::scalar_kernels().rms_norm(x.data() + r * ld, weighted ? w.data() : nullptr, ref.data(), n, 1e-5f);
            for (int64_t k = 0; k < n; ++k) CHECK(std::abs(xi[size_t(r * ld + k)] - ref[size_t(k)]) <= 1e-5f * (1 + std::abs(ref[size_t(k)])));
            CHECK(xi[size_t(r * ld + n)] == x[size_t(r * ld + n)]);  // past n: untouched
        }
    }
    for (WeightType t : {WeightType::f32, WeightType::f16, WeightType::bf16, WeightType::q8_0}) {
        const HostMatrix hm = random_matrix(rng, t, 50, t == WeightType::q8_0 ? 64 : 45);
        DeviceMatrix dm(rt, hm);
        const std::vector<int32_t> tokens = {49, 0, 7, 7, 31};
        DevVec<int32_t> dt(rt, tokens);
        DevVec<float> dh(rt, size_t(5 * (hm.K + 1)));
        kc::EmbedArgs e;
        e.table = dm.m;
        e.tokens = dt.get();
        e.h = dh.get();
        e.ldh = hm.K + 1;
        e.n = 5;
        rt.embed(e, s);
        rt.sync(s);
        const std::vector<float> h = dh.read();
        for (int r = 0; r < 5; ++r)
            for (int64_t k = 0; k < hm.K; ++k) CHECK(h[size_t(r * (hm.K + 1) + k)] == hm.deq[size_t(tokens[size_t(r)] * hm.K + k)]);
    }
    rt.destroy_stream(s);
}

// ---- graphs: arguments recorded, memory read at replay ------------------------------------------
void check_graph(gpu::Runtime& rt, std::mt19937& rng) {
    const HostMatrix hm = random_matrix(rng, WeightType::q8_0, 40, 64);
    DeviceMatrix dm(rt, hm);
    DevVec<float> dx(rt, size_t(64)), dy(rt, size_t(40));
    float* pinned = static_cast<float*>(rt.alloc_host(64 * sizeof(float), "test"));
    void* s = rt.create_stream();
    kc::MatmulArgs a;
    a.w = dm.m;
    a.x = dx.get();
    a.ldx = 64;
    a.y = dy.get();
    a.ldy = 40;
    a.M = 1;
    a.sm_count = rt.info().sm_count;
    void* g = rt.capture(s, [&] {
        rt.to_device(dx.get(), pinned, 64 * sizeof(float), s);
        rt.matmul(a, s);
    });
    for (int rep = 0; rep < 2; ++rep) {
        const std::vector<float> x = random_floats(rng, 64, -1, 1);
        std::copy(x.begin(), x.end(), pinned);
        rt.replay(g, s);
        rt.sync(s);
        const std::vector<float> y = dy.read();
        for (int64_t n = 0; n < 40; ++n) {
            double ref = 0;
            for (int64_t k = 0; k < 64; ++k) ref += double(hm.deq[size_t(n * 64 + k)]) * x[size_t(k)];
            CHECK(std::abs(y[size_t(n)] - ref) <= 1e-4);
        }
    }
    rt.destroy_graph(g);
    rt.destroy_stream(s);
    rt.release_host(pinned);
}

void all_kernel_checks(gpu::Runtime& rt, bool large) {
    std::mt19937 rng(11);
    SECTION("matmul: GEMV, f32 tiles and tensor cores, every weight type") { matmul_cases(rt, large); }
    SECTION("conv1d + SiLU with state, segments of different lengths") {
        for (int64_t dc : {4, 3, 1}) {
            check_conv(rt, rng, 130, dc, {1});
            check_conv(rt, rng, 130, dc, {2, 17, 1, 40});
        }
        if (large) check_conv(rt, rng, 8192, 4, {1000, 1, 100});
    }
    SECTION("selective scan from a given state, segments of different lengths") {
        for (int64_t ds : {16, 8, 5, 33, 64})
            for (int ns : {0, 2, 4}) {
                check_scan(rt, rng, 37, ds, false, {1}, ns);
                check_scan(rt, rng, 70, ds, ds != 8, {1, 1, 1}, ns);  // a batched decode step
                check_scan(rt, rng, 70, ds, ds == 16 || ds == 5, {3, 1, 40}, ns);
                check_scan(rt, rng, 70, ds, ds == 16 || ds == 33, {3, 0, 40, 16, 17}, ns);
            }
        if (large) {
            for (int ns : {2, 4}) {
                check_scan(rt, rng, 8192, 16, true, {300, 1, 33}, ns);
                check_scan(rt, rng, 8192, 16, true, std::vector<int64_t>(64, 1), ns);  // 64 sessions' decode step
                check_scan(rt, rng, 1000, 64, false, {100, 1}, ns);
            }
        }
    }
    SECTION("RMS norm (gather, in place) and embedding lookup") { check_rows(rt, rng); }
    SECTION("graphs record arguments and read memory at replay") { check_graph(rt, rng); }
}

}  // namespace

TEST_CASE("cuda-emu: kernels match the scalar reference", "[cuda-emu]") {
    const int64_t live = emu_live_allocations();
    {
        auto rt = emu_runtime();
        all_kernel_checks(*rt, /*large=*/false);
    }
    CHECK(emu_live_allocations() == live);
}

TEST_CASE("cuda: kernels match the scalar reference", "[cuda]") {
    std::string why;
    auto rt = cuda_runtime_or_null(&why);
    if (!rt) KAA_SKIP(why);
    all_kernel_checks(*rt, /*large=*/true);
}

// ---- timings for scripts/gpu-check.sh (hidden: run with "[cudabench]") ------------------------
namespace {

// One "cudabench:" line per measurement, parsed by scripts/gpu-check.sh.
void report(const char* what, double ms, double bytes, double flops) {
    std::printf("cudabench: %-44s %9.1f us  %8.1f GB/s  %8.1f TFLOP/s\n", what, ms * 1e3, bytes / (ms * 1e-3) / 1e9,
                flops / (ms * 1e-3) / 1e12);
    std::fflush(stdout);
}

void bench_matmul(gpu::Runtime& rt, void* s, std::mt19937& rng, const char* name, const DeviceMatrix& dm, int64_t M,
                  bool fast, int gemv_rows = 0, bool blas = false) {
    const WeightType t = dm.m.type;
    const int64_t N = dm.m.rows, K = dm.m.cols, ld = dm.m.ld;
    DevVec<float> dx(rt, random_floats(rng, size_t(M * K), -1, 1)), dy(rt, size_t(M * N)), tmp(rt, size_t(M * ld)),
        xscale(rt, size_t(M)), part(rt, size_t(4 * M * N));
    DevVec<uint16_t> xh(rt, size_t(M * ld));
    kc::MatmulArgs a;
    a.w = dm.m;
    a.x = dx.get();
    a.ldx = K;
    a.y = dy.get();
    a.ldy = N;
    a.M = M;
    a.fast = fast;
    a.tmp = tmp.get();
    a.xh = xh.get();
    a.xscale = xscale.get();
    a.part = part.get();
    a.part_floats = 4 * M * N;
    a.sm_count = rt.info().sm_count;
    a.gemv_rows = gemv_rows;
    DevVec<uint16_t> wh(rt, size_t(blas ? N * ld : 1));
    DevVec<float> blas_scalars(rt, 4);
    if (blas && (a.blas = rt.create_blas(s)) != nullptr) {
        a.wh = wh.get();
        a.wh_halfs = N * ld;
        a.blas_scalars = blas_scalars.get();
        a.blas_min_m = 1;
    }
    const double ms = rt.time_ms(s, [&] { rt.matmul(a, s); }, 20);
    rt.destroy_blas(a.blas);
    const double bytes = double(kc::dev_matrix_bytes(t, N, K)) + double(M) * double(K + N) * 4;
    char label[96];
    std::snprintf(label, sizeof label, "%s M=%lld%s", name, (long long)M,
                  M <= kc::kGemvMaxM ? (gemv_rows ? (" R=" + std::to_string(gemv_rows)).c_str() : "")
                  : a.blas            ? " (cublas)"
                  : fast              ? " (tensor cores)"
                                      : "");
    report(label, ms, bytes, 2.0 * double(M) * double(N) * double(K));
}

void bench_scan(gpu::Runtime& rt, void* s, std::mt19937& rng, int64_t T, int64_t n_segs, int ns = 0) {
    const int64_t di = 8192, ds = 16, R = 256, nx = R + 2 * ds, rows = T * n_segs;
    DevVec<float> u(rt, random_floats(rng, size_t(rows * di), -1, 1)), dt(rt, random_floats(rng, size_t(rows * di), -4, 0)),
        xdbl(rt, random_floats(rng, size_t(rows * nx), -1, 1)), xz(rt, random_floats(rng, size_t(rows * 2 * di), -1, 1)),
        bias(rt, random_floats(rng, size_t(di), -1, 0)), A(rt, random_floats(rng, size_t(di * ds), -2, -0.1f)),
        D(rt, random_floats(rng, size_t(di), -1, 1)), y(rt, size_t(rows * di));
    std::vector<std::unique_ptr<DevVec<float>>> states;
    std::vector<kc::SegmentDesc> descs;
    for (int64_t i = 0; i < n_segs; ++i) {
        states.push_back(std::make_unique<DevVec<float>>(rt, size_t(di * ds)));
        descs.push_back({i * T, T, states.back()->get()});
    }
    std::vector<uint8_t> desc_bytes(descs.size() * sizeof(kc::SegmentDesc));
    std::memcpy(desc_bytes.data(), descs.data(), desc_bytes.size());
    DevVec<uint8_t> segs(rt, desc_bytes);
    kc::ScanArgs a{};
    a.p.u = u.get();
    a.p.u_stride = di;
    a.p.dt_raw = dt.get();
    a.p.dt_stride = di;
    a.p.dt_bias = bias.get();
    a.p.A = A.get();
    a.p.B = xdbl.get() + R;
    a.p.B_stride = nx;
    a.p.C = xdbl.get() + R + ds;
    a.p.C_stride = nx;
    a.p.D = D.get();
    a.p.z = xz.get() + di;
    a.p.z_stride = 2 * di;
    a.p.y = y.get();
    a.p.y_stride = di;
    a.p.d_inner = di;
    a.p.d_state = ds;
    a.segs = reinterpret_cast<const kc::SegmentDesc*>(segs.get());
    a.n_segs = int(n_segs);
    a.max_T = T;
    a.bc_norm = true;
    a.eps = 1e-5f;
    a.states_per_lane = ns;
    const double ms = rt.time_ms(s, [&] { rt.scan(a, s); }, 20);
    // u, dt, z in and y out per (t, channel); B, C per t; the state in and out.
    const double bytes = double(rows) * double(di) * 16 + double(rows) * 2 * ds * 4 + double(n_segs) * di * ds * 8;
    char label[96];
    std::snprintf(label, sizeof label, "scan T=%lld x %lld seq d_inner=8192 d_state=16%s", (long long)T, (long long)n_segs,
                  ns ? (" NS=" + std::to_string(ns)).c_str() : "");
    report(label, ms, bytes, 0);
}

}  // namespace

TEST_CASE("cuda: kernel timings at the falcon-mamba-7b shape", "[.][cudabench]") {
    std::string why;
    auto rt = cuda_runtime_or_null(&why);
    if (!rt) KAA_SKIP(why);
    std::mt19937 rng(1);
    void* s = rt->create_stream();
    bench_scan(*rt, s, rng, 2048, 1);
    bench_scan(*rt, s, rng, 1, 64);
    bench_scan(*rt, s, rng, 1, 1);
    for (int ns : {2, 4}) {  // the variants (states per lane)
        bench_scan(*rt, s, rng, 2048, 1, ns);
        bench_scan(*rt, s, rng, 1, 64, ns);
        bench_scan(*rt, s, rng, 1, 1, ns);
    }
    bench_scan(*rt, s, rng, 512, 1);
    bench_scan(*rt, s, rng, 64, 64);
    auto matrix = [&](int64_t N, int64_t K) {
        return std::make_unique<DeviceMatrix>(*rt, random_matrix(rng, WeightType::q8_0, N, K, /*dequantize=*/false));
    };
    const auto in = matrix(16384, 4096), out = matrix(4096, 8192), x = matrix(288, 8192), dt = matrix(8192, 256);
    for (int R : {2, 4})  // the GEMV variants (weight rows per warp)
        for (int64_t M : {1, 4}) {
            bench_matmul(*rt, s, rng, "in_proj 16384x4096 q8_0", *in, M, true, R);
            bench_matmul(*rt, s, rng, "out_proj 4096x8192 q8_0", *out, M, true, R);
            bench_matmul(*rt, s, rng, "x_proj 288x8192 q8_0", *x, M, true, R);
        }
    for (int64_t M : {1, 4, 64, 2048}) {
        bench_matmul(*rt, s, rng, "in_proj 16384x4096 q8_0", *in, M, true);
        bench_matmul(*rt, s, rng, "out_proj 4096x8192 q8_0", *out, M, true);
        if (M > 64) continue;
        bench_matmul(*rt, s, rng, "x_proj 288x8192 q8_0", *x, M, true);
        bench_matmul(*rt, s, rng, "dt_proj 8192x256 q8_0", *dt, M, true);
    }
    for (int64_t M : {16, 64, 128, 512, 2048}) {  // cuBLAS (with the Q8_0 -> f16 dequantization) vs the WMMA kernel
        bench_matmul(*rt, s, rng, "in_proj 16384x4096 q8_0", *in, M, true, 0, true);
        bench_matmul(*rt, s, rng, "out_proj 4096x8192 q8_0", *out, M, true, 0, true);
        if (M == 16 || M == 128) bench_matmul(*rt, s, rng, "in_proj 16384x4096 q8_0", *in, M, true);
        if (M <= 128) {
            bench_matmul(*rt, s, rng, "x_proj 288x8192 q8_0", *x, M, true, 0, true);
            bench_matmul(*rt, s, rng, "dt_proj 8192x256 q8_0", *dt, M, true, 0, true);
        }
    }
    bench_matmul(*rt, s, rng, "x_proj 288x8192 q8_0", *x, 2048, true, 0, true);
    bench_matmul(*rt, s, rng, "dt_proj 8192x256 q8_0", *dt, 2048, true, 0, true);
    bench_matmul(*rt, s, rng, "in_proj 16384x4096 q8_0, f32 tiles", *in, 2048, false);
    bench_matmul(*rt, s, rng, "lm head 65024x4096 q8_0", *matrix(65024, 4096), 1, true);
    rt->destroy_stream(s);
}
