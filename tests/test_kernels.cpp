// Every SIMD backend against the scalar reference (the spec), on random data with odd
// sizes, plus the invariants the engine relies on: a GEMM row equals the GEMV result and
// any [n_begin, n_end) / channel split / T chunking gives the same bits.
// Backends this CPU (or this build) lacks are skipped.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "kaa/error.hpp"
#include "kernels/cpu/numeric.hpp"
#include "kernels/cpu/q8_0_x16.hpp"
#include "kernels/kernels.hpp"
#include "runtime/cpu_features.hpp"
#include "runtime/dispatch.hpp"
#include "support/shared.hpp"

namespace {

using kaa::kernels::ConvParams;
using kaa::kernels::CpuKernels;
using kaa::kernels::MatmulParams;
using kaa::kernels::ScanParams;
using kaa::kernels::WeightType;

// ---- backends under test (template tags, one TEST_CASE instance each) ---------------------
struct Avx2 { static constexpr bool kAvx512 = false, kVnni = false; };
struct Avx2Vnni { static constexpr bool kAvx512 = false, kVnni = true; };
struct Avx512 { static constexpr bool kAvx512 = true, kVnni = false; };
struct Avx512Vnni { static constexpr bool kAvx512 = true, kVnni = true; };
struct Neon { [[maybe_unused]] static constexpr bool kDot = false; };
struct NeonDot { [[maybe_unused]] static constexpr bool kDot = true; };

template <class B>
constexpr bool kIsNeon = std::is_same_v<B, Neon> || std::is_same_v<B, NeonDot>;

// The table for tag B, or nullptr (with the reason in *why) when it cannot run here.
template <class B>
const CpuKernels* backend(std::string* why) {
    if constexpr (kIsNeon<B>) {
#if KAA_HAVE_NEON_KERNELS
        // The no-argument form picks the SDOT variant exactly when the CPU/OS reports it.
        const bool dot = std::string(kaa::kernels::neon_kernels().detail).find("dotprod") != std::string::npos;
        if (B::kDot && !dot) return *why = "CPU lacks the ARMv8.2 dot product extension", nullptr;
        return &kaa::kernels::neon_kernels(B::kDot);
#else
        return *why = "no neon backend in this build", nullptr;
#endif
    } else {
#if KAA_HAVE_X86_KERNELS
    const auto& f = kaa::runtime::cpu_features();
    if (B::kAvx512) {
        if (!f.has_avx512_set()) return *why = "CPU lacks AVX-512 F/BW/VL/DQ", nullptr;
        if (B::kVnni && !f.avx512_vnni) return *why = "CPU lacks AVX-512 VNNI", nullptr;
        return &kaa::kernels::avx512_kernels(B::kVnni);
    }
    if (!f.has_avx2_set()) return *why = "CPU lacks AVX2/FMA/F16C", nullptr;
    if (B::kVnni && !f.avx_vnni) return *why = "CPU lacks AVX-VNNI", nullptr;
    return &kaa::kernels::avx2_kernels(B::kVnni);
#else
    return *why = "no x86 backends in this build", nullptr;
#endif
    }
}

#define KAA_BACKEND_OR_SKIP(k)                                             \
    std::string why_;                                                      \
    const CpuKernels* k = backend<TestType>(&why_);                        \
    if (!k) KAA_SKIP(why_);                                                \
    const CpuKernels& ref = kaa::kernels::scalar_kernels();                \
    (void)ref;                                                             \
    INFO("backend " << k->name << " (" << k->detail << ")")

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

std::vector<float> randn(size_t n, std::mt19937& rng, float scale = 1.0f) {
    std::normal_distribution<float> d(0.0f, scale);
    std::vector<float> v(n);
    for (auto& x : v) x = d(rng);
    return v;
}

// ---- weights of every type ---------------------------------------------------------------
struct Weights {
    WeightType type;
    int64_t N, K;
    size_t row_bytes;
    std::vector<uint8_t> data;
    std::vector<float> deq;  // exactly dequantized (N x K)
};

Weights make_weights(WeightType t, int64_t N, int64_t K, std::mt19937& rng) {
    Weights w{t, N, K, 0, {}, std::vector<float>(size_t(N * K))};
    const std::vector<float> f = randn(size_t(N * K), rng);
    switch (t) {
        case WeightType::f32:
            w.row_bytes = size_t(K) * 4;
            w.data.resize(w.row_bytes * size_t(N));
            std::memcpy(w.data.data(), f.data(), w.data.size());
            w.deq = f;
            break;
        case WeightType::f16:
        case WeightType::bf16: {
            w.row_bytes = size_t(K) * 2;
            w.data.resize(w.row_bytes * size_t(N));
            auto* h = reinterpret_cast<uint16_t*>(w.data.data());
            for (size_t i = 0; i < f.size(); ++i) {
                h[i] = t == WeightType::f16 ? kaa::kernels::f32_to_f16(f[i]) : kaa::kernels::f32_to_bf16(f[i]);
                w.deq[i] = t == WeightType::f16 ? kaa::kernels::f16_to_f32(h[i]) : kaa::kernels::bf16_to_f32(h[i]);
            }
            break;
        }
        case WeightType::q8_0: {
            REQUIRE(K % 32 == 0);
            w.row_bytes = size_t(K / 32) * 34;
            w.data.resize(w.row_bytes * size_t(N));
            std::uniform_int_distribution<int> q(-128, 127);  // -128 too: the |w| = 128 edge
            std::uniform_real_distribution<float> scale(0.001f, 0.05f);
            for (int64_t n = 0; n < N; ++n)
                for (int64_t b = 0; b < K / 32; ++b) {
                    uint8_t* blk = w.data.data() + size_t(n) * w.row_bytes + size_t(b) * 34;
                    const uint16_t d = kaa::kernels::f32_to_f16(scale(rng));
                    std::memcpy(blk, &d, 2);
                    for (int j = 0; j < 32; ++j) {
                        const int8_t v = int8_t(q(rng));
                        blk[2 + j] = uint8_t(v);
                        w.deq[size_t(n * K + b * 32 + j)] = float(v) * kaa::kernels::f16_to_f32(d);
                    }
                }
            break;
        }
    }
    return w;
}

const char* type_name(WeightType t) {
    switch (t) {
        case WeightType::f32: return "f32";
        case WeightType::f16: return "f16";
        case WeightType::bf16: return "bf16";
        case WeightType::q8_0: return "q8_0";
    }
    return "?";
}

// y (M x y_stride) for rows [nb, ne) of W.
void run_matmul(const CpuKernels& k, const Weights& w, const float* x, int64_t x_stride, int64_t M,
                float* y, int64_t y_stride, int64_t nb, int64_t ne, bool q8_f32 = false) {
    MatmulParams p{};
    p.q8_f32_activations = q8_f32;
    p.wtype = w.type;
    p.w = w.data.data();
    p.w_row_bytes = w.row_bytes;
    p.x = x;
    p.x_stride = x_stride;
    p.y = y;
    p.y_stride = y_stride;
    p.M = M;
    p.N = w.N;
    p.K = w.K;
    p.n_begin = nb;
    p.n_end = ne;
    k.matmul(p);
}

// The int8 path's exact expectation: x quantized per 32-block exactly as the kernels do
// (d = max|x| / 127, q = round-to-even(x * (1/d))), products summed in double.
double q8_emulated_dot(const Weights& w, int64_t n, const float* x) {
    double sum = 0;
    for (int64_t b = 0; b < w.K / 32; ++b) {
        float amax = 0;
        for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[b * 32 + j]));
        const float d = amax / 127.0f;
        const float id = d > 0 ? 1.0f / d : 0.0f;
        const uint8_t* blk = w.data.data() + size_t(n) * w.row_bytes + size_t(b) * 34;
        uint16_t dh;
        std::memcpy(&dh, blk, 2);
        int64_t isum = 0;
        for (int j = 0; j < 32; ++j)
            isum += int64_t(int8_t(blk[2 + j])) * int64_t(std::nearbyint(x[b * 32 + j] * id));
        sum += double(kaa::kernels::f16_to_f32(dh)) * double(d) * double(isum);
    }
    return sum;
}

const WeightType kAllTypes[] = {WeightType::f32, WeightType::f16, WeightType::bf16, WeightType::q8_0};

// K values: odd ones for float types; multiples of 32 (odd block counts too) for Q8_0;
// some above the kernels' K-chunk (1024 / 2048 elements).
std::vector<int64_t> k_values(WeightType t) {
    if (t == WeightType::q8_0) return {32, 64, 96, 160, 480, 992, 2080, 4160};
    return {32, 1, 5, 17, 33, 100, 255, 1000, 1029, 2500};
}

}  // namespace

TEMPLATE_TEST_CASE("kernels: matmul matches the scalar reference", "[kernels]", Avx2, Avx2Vnni, Avx512,
                   Avx512Vnni, Neon, NeonDot) {
    KAA_BACKEND_OR_SKIP(k);
    std::mt19937 rng(11);
    for (WeightType t : kAllTypes) {
        for (int64_t K : k_values(t))
        for (bool f32act : {false, true}) {
            if (f32act && t != WeightType::q8_0) continue;
            const int64_t N = 37, M = K > 1100 ? 5 : 17;
            const Weights w = make_weights(t, N, K, rng);
            const int64_t xs = K + 3, ys = N + 2;  // strides wider than the rows, as in the engine
            const std::vector<float> x = randn(size_t(M * xs), rng);
            std::vector<float> y(size_t(M * ys), -1.0f), yr(size_t(M * ys), -1.0f);
            run_matmul(*k, w, x.data(), xs, M, y.data(), ys, 0, N, f32act);
            run_matmul(ref, w, x.data(), xs, M, yr.data(), ys, 0, N);
            const bool quant = k->quantizes_activations(t) && !f32act;
            double worst = 0;
            for (int64_t m = 0; m < M; ++m)
                for (int64_t n = 0; n < N; ++n) {
                    const float* xr = x.data() + m * xs;
                    const float* wr = w.deq.data() + n * K;
                    double abs_sum = 0, w2 = 0, x2 = 0;
                    for (int64_t i = 0; i < K; ++i) {
                        abs_sum += std::fabs(double(wr[i]) * xr[i]);
                        w2 += double(wr[i]) * wr[i];
                        x2 += double(xr[i]) * xr[i];
                    }
                    const double got = y[size_t(m * ys + n)], want = yr[size_t(m * ys + n)];
                    double err;
                    if (quant) {
                        // vs the f32 reference: int8 rounding of x, relative to |w| |x|
                        err = std::fabs(got - want) / (std::sqrt(w2 * x2) * 1e-2);
                        // vs the exact int8 emulation: only f32 accumulation rounding
                        const double em = q8_emulated_dot(w, n, xr);
                        err = std::max(err, std::fabs(got - em) / (1e-5 * abs_sum + 1e-30));
                    } else {
                        err = std::fabs(got - want) / (1e-5 * abs_sum + 1e-30);
                    }
                    worst = std::max(worst, err);
                }
            INFO(type_name(t) << (f32act ? " (f32 activations)" : "") << " K " << K << " M " << M
                              << ": worst error / tolerance " << worst);
            CHECK(worst <= 1.0);
            // padding between rows untouched
            for (int64_t m = 0; m < M; ++m) CHECK(y[size_t(m * ys + N)] == -1.0f);
        }
    }
}

TEMPLATE_TEST_CASE("kernels: matmul rows are bitwise independent of M and the row range", "[kernels]", Avx2,
                   Avx2Vnni, Avx512, Avx512Vnni, Neon, NeonDot) {
    KAA_BACKEND_OR_SKIP(k);
    std::mt19937 rng(5);
    for (WeightType t : kAllTypes) {
        for (int64_t K : {t == WeightType::q8_0 ? int64_t(96) : int64_t(101), int64_t(2080)})
        for (bool f32act : {false, true}) {
            if (f32act && t != WeightType::q8_0) continue;
            const int64_t N = 53, M = 17;
            const Weights w = make_weights(t, N, K, rng);
            const std::vector<float> x = randn(size_t(M * K), rng);
            std::vector<float> full(size_t(M * N));
            auto run = [&](const float* xx, int64_t mm, float* yy, int64_t nb, int64_t ne) {
                run_matmul(*k, w, xx, K, mm, yy, N, nb, ne, f32act);
            };
            run(x.data(), M, full.data(), 0, N);
            INFO(type_name(t) << (f32act ? " (f32 activations)" : "") << " K " << K);
            if (f32act) {  // exactly the F32 path on the dequantized weights
                Weights wf{WeightType::f32, N, K, size_t(K) * 4, std::vector<uint8_t>(size_t(N * K) * 4), w.deq};
                std::memcpy(wf.data.data(), w.deq.data(), wf.data.size());
                std::vector<float> yf(size_t(M * N));
                run_matmul(*k, wf, x.data(), K, M, yf.data(), N, 0, N);
                CHECK(same_bits(yf, full));
            }
            // GEMV of each row, and GEMMs over other M and offsets
            for (int64_t m = 0; m < M; ++m) {
                std::vector<float> one(static_cast<size_t>(N));
                run(x.data() + m * K, 1, one.data(), 0, N);
                CHECK(same_bits(one, std::vector<float>(full.begin() + m * N, full.begin() + (m + 1) * N)));
            }
            for (int64_t m0 : {1, 4}) {
                for (int64_t mm : {2, 3, 7, 9}) {
                    std::vector<float> part(size_t(mm * N));
                    run(x.data() + m0 * K, mm, part.data(), 0, N);
                    CHECK(same_bits(part, std::vector<float>(full.begin() + m0 * N, full.begin() + (m0 + mm) * N)));
                }
            }
            // split rows: multiples of 16 (as the engine) and arbitrary cut points
            for (const std::vector<int64_t>& cuts :
                 {std::vector<int64_t>{0, 16, 48, N}, std::vector<int64_t>{0, 1, 6, 7, 30, 31, N}}) {
                std::vector<float> split(size_t(M * N), 0.0f);
                for (size_t i = 0; i + 1 < cuts.size(); ++i)
                    run(x.data(), M, split.data(), cuts[i], cuts[i + 1]);
                CHECK(same_bits(split, full));
            }
        }
    }
}

// Int8 activations quantized once by quantize_x (rows split as the engine's threads split
// them) and passed in MatmulParams::xq must give the bits of each call quantizing its own:
// stored rows and the Q8_0x16 layout, every token-count path, and (avx512 VNNI) the AMX
// kernel on emulated tiles, whose 16-row tiles also read the buffer's padding rows (their
// sums are dropped). The buffer starts out as garbage, so a row quantize_x leaves
// unwritten shows.
void check_shared_quantization(const CpuKernels& k) {
    REQUIRE(k.quantize_x != nullptr);
    REQUIRE(k.quant_x_bytes != nullptr);
    std::mt19937 rng(23);
    for (int64_t K : {32, 96, 2080}) {
        const int64_t N = 45;
        const Weights w = make_weights(WeightType::q8_0, N, K, rng);
        std::vector<uint8_t> x16;
        if (k.q8_0_x16) {
            x16.resize(kaa::kernels::x16_bytes(N, K) + 64);
            kaa::kernels::pack_q8_0_x16(w.data.data(), w.row_bytes, N, K, 0, kaa::kernels::x16_groups(N),
                                        x16.data() + (64 - reinterpret_cast<uintptr_t>(x16.data()) % 64) % 64);
        }
        for (int64_t M : {2, 5, 17, 40}) {
            const std::vector<float> x = randn(size_t(M * (K + 3)), rng);
            std::vector<uint8_t> buf(k.quant_x_bytes(M, K) + 64, 0xab);
            uint8_t* xq = buf.data() + (64 - reinterpret_cast<uintptr_t>(buf.data()) % 64) % 64;
            const int64_t a = M / 3, b = M - 1;  // three ranges (one may be empty), out of order
            for (const auto& [m0, m1] : {std::pair{b, M}, std::pair{int64_t(0), a}, std::pair{a, b}})
                k.quantize_x(x.data(), K + 3, M, K, m0, m1, xq);
            for (bool relaid : {false, true}) {
                if (relaid && !k.q8_0_x16) continue;
                std::vector<float> own(size_t(M * N), -1.0f), shared(size_t(M * N), -2.0f);
                MatmulParams p{};
                p.wtype = WeightType::q8_0;
                p.w = relaid ? x16.data() + (64 - reinterpret_cast<uintptr_t>(x16.data()) % 64) % 64 : w.data.data();
                p.w_layout = relaid ? kaa::kernels::WeightLayout::q8_0_x16 : kaa::kernels::WeightLayout::rows;
                p.w_row_bytes = w.row_bytes;
                p.x = x.data();
                p.x_stride = K + 3;
                p.y_stride = N;
                p.M = M;
                p.N = N;
                p.K = K;
                for (const std::vector<int64_t>& cuts : {std::vector<int64_t>{0, N}, std::vector<int64_t>{0, 16, N}}) {
                    for (size_t i = 0; i + 1 < cuts.size(); ++i) {
                        p.n_begin = cuts[i];
                        p.n_end = cuts[i + 1];
                        p.xq = nullptr;
                        p.y = own.data();
                        k.matmul(p);
                        p.xq = xq;
                        p.y = shared.data();
                        k.matmul(p);
                    }
                    INFO("K " << K << " M " << M << (relaid ? " Q8_0x16" : " stored rows") << " cuts " << cuts.size());
                    CHECK(same_bits(own, shared));
                }
            }
        }
    }
}

TEMPLATE_TEST_CASE("kernels: activations quantized once give the bits of each call's own", "[kernels]", Avx2,
                   Avx2Vnni, Avx512, Avx512Vnni, Neon, NeonDot) {
    KAA_BACKEND_OR_SKIP(k);
    CHECK(ref.quantize_x == nullptr);  // the f32 reference quantizes nothing
    check_shared_quantization(*k);
#if KAA_HAVE_X86_KERNELS
    if constexpr (!kIsNeon<TestType>) {
        if (TestType::kAvx512 && TestType::kVnni) check_shared_quantization(kaa::kernels::avx512_amx_kernels(true));
    }
#endif
}

TEMPLATE_TEST_CASE("kernels: VNNI and plain int8 variants give identical bits", "[kernels]", Avx2Vnni,
                   Avx512Vnni) {
    KAA_BACKEND_OR_SKIP(k);
    const CpuKernels& plain = TestType::kAvx512 ? kaa::kernels::avx512_kernels(false)
                                                : kaa::kernels::avx2_kernels(false);
    std::mt19937 rng(3);
    // Token counts through each plain path: the GEMV per token (1, 3) and, on AVX2, the
    // int16 GEMM (from 4: one and several token blocks); 70 rows span two of its packs.
    for (int64_t K : {32, 96, 2080})
        for (int64_t N : {21, 70}) {
            const int64_t M = 17;
            const Weights w = make_weights(WeightType::q8_0, N, K, rng);
            const std::vector<float> x = randn(size_t(M * K), rng);
            INFO("K " << K << ", N " << N);
            for (int64_t mm : {int64_t(1), int64_t(3), int64_t(4), int64_t(6), M}) {
                INFO("M " << mm);
                std::vector<float> a(size_t(mm * N)), b(size_t(mm * N));
                run_matmul(*k, w, x.data(), K, mm, a.data(), N, 0, N);
                run_matmul(plain, w, x.data(), K, mm, b.data(), N, 0, N);
                CHECK(same_bits(a, b));
            }
        }
}

// The load-time Q8_0x16 layout (kernels/cpu/q8_0_x16.hpp) must not change a bit: odd
// row counts (padded groups), odd block counts (a half-empty last record), every token
// count path (GEMV; small batches in one or two token blocks of V::kBatchT, up to
// V::kBatchMaxM; the prefill panels) and 16-row thread splits.
TEMPLATE_TEST_CASE("kernels: the Q8_0x16 layout gives the bits of stored rows", "[kernels]", Avx2Vnni,
                   Avx512Vnni) {
    KAA_BACKEND_OR_SKIP(k);
    REQUIRE(k->q8_0_x16);
    std::mt19937 rng(16);
    for (int64_t K : {32, 96, 4160})
        for (int64_t N : {1, 15, 17, 45, 160}) {
            const Weights w = make_weights(WeightType::q8_0, N, K, rng);
            std::vector<uint8_t> buf(kaa::kernels::x16_bytes(N, K) + 64, 0xcd);  // the pack owes nothing to a zeroed buffer
            uint8_t* x16 = buf.data() + (64 - reinterpret_cast<uintptr_t>(buf.data()) % 64) % 64;
            const int64_t groups = kaa::kernels::x16_groups(N);
            // Filled in two ranges, as threads at load time would.
            kaa::kernels::pack_q8_0_x16(w.data.data(), w.row_bytes, N, K, 0, groups / 2, x16);
            kaa::kernels::pack_q8_0_x16(w.data.data(), w.row_bytes, N, K, groups / 2, groups, x16);
            for (int64_t M : {1, 2, 6, 7, 8, 13, 16, 17, 40}) {
                const std::vector<float> x = randn(size_t(M * K), rng);
                std::vector<float> want(size_t(M * N)), got(size_t(M * N), -1.0f);
                run_matmul(*k, w, x.data(), K, M, want.data(), N, 0, N);
                const std::vector<int64_t> cuts = N > 16 ? std::vector<int64_t>{0, 16, N} : std::vector<int64_t>{0, N};
                for (size_t i = 0; i + 1 < cuts.size(); ++i) {
                    MatmulParams p{};
                    p.wtype = WeightType::q8_0;
                    p.w_layout = kaa::kernels::WeightLayout::q8_0_x16;
                    p.w = x16;
                    p.w_row_bytes = w.row_bytes;
                    p.x = x.data();
                    p.x_stride = K;
                    p.y = got.data();
                    p.y_stride = N;
                    p.M = M;
                    p.N = N;
                    p.K = K;
                    p.n_begin = cuts[i];
                    p.n_end = cuts[i + 1];
                    k->matmul(p);
                }
                INFO("N " << N << " K " << K << " M " << M);
                CHECK(same_bits(want, got));
            }
        }
}

// AMX (kernels/cpu/avx512/matmul_q8_amx.cpp): prefill on Q8_0x16 weights by tile
// products must give the bits of the VNNI kernel, for token counts that fill 16-token
// tiles and that do not, odd block counts, K chunks (64 blocks) crossed, partial
// 16-row groups and row ranges split as threads split them. Checked with the tiles
// emulated (any AVX-512 VNNI CPU) and, where the CPU and OS have AMX, on the hardware.
#if KAA_HAVE_X86_KERNELS
static void check_amx_against_vnni(const CpuKernels& amx) {
    const CpuKernels& vnni = kaa::kernels::avx512_kernels(true);
    std::mt19937 rng(17);
    for (int64_t K : {32, 96, 2080})
        for (int64_t N : {15, 45, 160}) {
            const Weights w = make_weights(WeightType::q8_0, N, K, rng);
            std::vector<uint8_t> buf(kaa::kernels::x16_bytes(N, K) + 64, 0xcd);  // the pack owes nothing to a zeroed buffer
            uint8_t* x16 = buf.data() + (64 - reinterpret_cast<uintptr_t>(buf.data()) % 64) % 64;
            kaa::kernels::pack_q8_0_x16(w.data.data(), w.row_bytes, N, K, 0, kaa::kernels::x16_groups(N), x16);
            for (int64_t M : {12, 13, 16, 17, 40}) {
                const std::vector<float> x = randn(size_t(M * K), rng);
                std::vector<float> want(size_t(M * N), -1.0f), got(size_t(M * N), -2.0f);
                const std::vector<int64_t> cuts = N > 32 ? std::vector<int64_t>{0, 16, N} : std::vector<int64_t>{0, N};
                for (size_t i = 0; i + 1 < cuts.size(); ++i)
                    for (const CpuKernels* k : {&vnni, &amx}) {
                        MatmulParams p{};
                        p.wtype = WeightType::q8_0;
                        p.w_layout = kaa::kernels::WeightLayout::q8_0_x16;
                        p.w = x16;
                        p.w_row_bytes = w.row_bytes;
                        p.x = x.data();
                        p.x_stride = K;
                        p.y = k == &vnni ? want.data() : got.data();
                        p.y_stride = N;
                        p.M = M;
                        p.N = N;
                        p.K = K;
                        p.n_begin = cuts[i];
                        p.n_end = cuts[i + 1];
                        k->matmul(p);
                    }
                INFO("N " << N << " K " << K << " M " << M);
                CHECK(same_bits(want, got));
            }
        }
}
#endif

TEST_CASE("kernels: AMX tile products (emulated) give the bits of the VNNI kernel", "[kernels]") {
#if KAA_HAVE_X86_KERNELS
    const auto& f = kaa::runtime::cpu_features();
    if (!f.has_avx512_set() || !f.avx512_vnni) KAA_SKIP("CPU lacks AVX-512 VNNI (the emulation's epilogue)");
    check_amx_against_vnni(kaa::kernels::avx512_amx_kernels(/*emulated=*/true));
#else
    KAA_SKIP("no x86 backends in this build");
#endif
}

TEST_CASE("kernels: AMX tile products (hardware) give the bits of the VNNI kernel", "[kernels]") {
#if KAA_HAVE_X86_KERNELS
    const auto& f = kaa::runtime::cpu_features();
    if (!f.has_amx_int8_set()) KAA_SKIP("CPU/OS lacks AMX-INT8 (has: " + f.describe() + ")");
    check_amx_against_vnni(kaa::kernels::avx512_amx_kernels(/*emulated=*/false));
    // With AMX, the backend chosen by default is the AMX one (unless KAA_AMX=0).
    const char* env = std::getenv("KAA_AMX");
    if (!(env && std::string(env) == "0"))
        CHECK(std::string(kaa::kernels::avx512_kernels().detail).find("amx") != std::string::npos);
#else
    KAA_SKIP("no x86 backends in this build");
#endif
}

TEST_CASE("kernels: neon SDOT and plain int8 variants give identical bits", "[kernels]") {
    std::string why;
    const CpuKernels* dot = backend<NeonDot>(&why);
    const CpuKernels* plain = dot ? backend<Neon>(&why) : nullptr;
    if (!dot || !plain) KAA_SKIP(why);
    std::mt19937 rng(3);
    // Token counts through each plain path: the GEMV per token (1, 3) and, on AVX2, the
    // int16 GEMM (from 4: one and several token blocks); 70 rows span two of its packs.
    for (int64_t K : {32, 96, 2080})
        for (int64_t N : {21, 70}) {
        const int64_t M = 17;
        const Weights w = make_weights(WeightType::q8_0, N, K, rng);
        const std::vector<float> x = randn(size_t(M * K), rng);
        INFO("K " << K << ", N " << N);
        for (int64_t mm : {int64_t(1), int64_t(3), int64_t(4), int64_t(6), M}) {
            INFO("M " << mm);
            std::vector<float> a(size_t(mm * N)), b(size_t(mm * N));
            run_matmul(*dot, w, x.data(), K, mm, a.data(), N, 0, N);
            run_matmul(*plain, w, x.data(), K, mm, b.data(), N, 0, N);
            CHECK(same_bits(a, b));
        }
    }
}

TEST_CASE("kernels: Q8_0 gives the same bits on avx2 and avx512 (one recipe)", "[kernels]") {
    std::string why;
    const CpuKernels* a = backend<Avx2>(&why);
    const CpuKernels* b = a ? backend<Avx512>(&why) : nullptr;
    if (!a || !b) KAA_SKIP(why);
    std::mt19937 rng(21);
    for (int64_t K : {32, 96, 4160}) {
        const int64_t N = 45, M = 7;
        const Weights w = make_weights(WeightType::q8_0, N, K, rng);
        const std::vector<float> x = randn(size_t(M * K), rng);
        for (int64_t mm : {int64_t(1), M}) {
            std::vector<float> ya(size_t(mm * N)), yb(size_t(mm * N));
            run_matmul(*a, w, x.data(), K, mm, ya.data(), N, 0, N);
            run_matmul(*b, w, x.data(), K, mm, yb.data(), N, 0, N);
            INFO("K " << K << " M " << mm);
            CHECK(same_bits(ya, yb));
        }
    }
}

TEMPLATE_TEST_CASE("kernels: dequantize_row is exact", "[kernels]", Avx2, Avx512, Neon) {
    KAA_BACKEND_OR_SKIP(k);
    std::mt19937 rng(9);
    for (WeightType t : kAllTypes) {
        for (int64_t K : t == WeightType::q8_0 ? std::vector<int64_t>{32, 96, 1024} : std::vector<int64_t>{1, 7, 16, 37, 1001}) {
            const Weights w = make_weights(t, 3, K, rng);
            for (int64_t n = 0; n < 3; ++n) {
                std::vector<float> a(size_t(K) + 1, 7.0f), b(size_t(K) + 1, 7.0f);
                k->dequantize_row(t, w.data.data() + size_t(n) * w.row_bytes, a.data(), K);
                ref.dequantize_row(t, w.data.data() + size_t(n) * w.row_bytes, b.data(), K);
                INFO(type_name(t) << " K " << K);
                CHECK(same_bits(a, b));
            }
        }
    }
}

TEMPLATE_TEST_CASE("kernels: rms_norm matches the scalar reference", "[kernels]", Avx2, Avx512, Neon) {
    KAA_BACKEND_OR_SKIP(k);
    std::mt19937 rng(4);
    for (int64_t n : {1, 5, 8, 16, 37, 4099}) {
        const std::vector<float> x = randn(size_t(n), rng, 3.0f), w = randn(size_t(n), rng);
        for (bool with_w : {true, false}) {
            std::vector<float> a(static_cast<size_t>(n)), b(static_cast<size_t>(n));
            k->rms_norm(x.data(), with_w ? w.data() : nullptr, a.data(), n, 1e-5f);
            ref.rms_norm(x.data(), with_w ? w.data() : nullptr, b.data(), n, 1e-5f);
            std::vector<float> alias = x;  // y may alias x
            k->rms_norm(alias.data(), with_w ? w.data() : nullptr, alias.data(), n, 1e-5f);
            CHECK(same_bits(alias, a));
            for (int64_t i = 0; i < n; ++i) CHECK(std::fabs(a[size_t(i)] - b[size_t(i)]) <= 1e-5f * (std::fabs(b[size_t(i)]) + 1e-3f));
        }
    }
}

namespace {

struct ConvCase {
    int64_t T, d_inner, d_conv, stride;
    std::vector<float> x, weight, bias, state;
};

ConvCase make_conv(int64_t T, int64_t di, int64_t dc, std::mt19937& rng) {
    ConvCase c{T, di, dc, 2 * di + 1, {}, {}, {}, {}};
    c.x = randn(size_t(T * c.stride), rng);
    c.weight = randn(size_t(di * dc), rng, 0.5f);
    c.bias = randn(size_t(di), rng, 0.5f);
    c.state = randn(size_t(di * (dc - 1)), rng);
    return c;
}

// Runs conv over steps [t0, t1) and channels [cb, ce); out is (T x d_inner).
void run_conv(const CpuKernels& k, const ConvCase& c, std::vector<float>& state, std::vector<float>& out,
              int64_t t0, int64_t t1, int64_t cb, int64_t ce) {
    ConvParams p{};
    p.x = c.x.data() + t0 * c.stride;
    p.x_stride = c.stride;
    p.out = out.data() + t0 * c.d_inner;
    p.out_stride = c.d_inner;
    p.state = state.data();
    p.weight = c.weight.data();
    p.bias = c.bias.data();
    p.T = t1 - t0;
    p.d_inner = c.d_inner;
    p.d_conv = c.d_conv;
    p.c_begin = cb;
    p.c_end = ce;
    k.conv1d_silu(p);
}

bool close_rel(const std::vector<float>& a, const std::vector<float>& b, double rel, double floor) {
    bool ok = a.size() == b.size();
    for (size_t i = 0; ok && i < a.size(); ++i)
        if (!(std::fabs(double(a[i]) - b[i]) <= rel * (std::fabs(double(b[i])) + floor))) {
            UNSCOPED_INFO("index " << i << ": " << a[i] << " vs " << b[i]);
            ok = false;
        }
    return ok;
}

}  // namespace

TEMPLATE_TEST_CASE("kernels: conv1d_silu matches the scalar reference and is split-invariant", "[kernels]",
                   Avx2, Avx512, Neon) {
    KAA_BACKEND_OR_SKIP(k);
    std::mt19937 rng(8);
    for (int64_t dc : {2, 3, 4, 5}) {
        for (int64_t T : {1, 2, 3, 7, 40}) {
            const int64_t di = 75;
            const ConvCase c = make_conv(T, di, dc, rng);
            INFO("d_conv " << dc << " T " << T);
            // whole range vs scalar, on an unaligned channel range
            std::vector<float> sa = c.state, sb = c.state, oa(size_t(T * di), 0.0f), ob(size_t(T * di), 0.0f);
            run_conv(*k, c, sa, oa, 0, T, 3, 70);
            run_conv(ref, c, sb, ob, 0, T, 3, 70);
            // silu(sum of O(1) terms): relative to |value| + 0.1 (cancellation near 0)
            CHECK(close_rel(oa, ob, 1e-5, 0.1));
            CHECK(same_bits(sa, sb));  // the state is a copy of inputs: exact
            // split channels and chunked time give identical bits
            std::vector<float> sc = c.state, oc(size_t(T * di), 0.0f);
            for (int64_t t0 = 0; t0 < T; t0 += 3) {
                const int64_t t1 = std::min(T, t0 + 3);
                run_conv(*k, c, sc, oc, t0, t1, 3, 20);
                run_conv(*k, c, sc, oc, t0, t1, 20, 21);
                run_conv(*k, c, sc, oc, t0, t1, 21, 70);
            }
            CHECK(same_bits(oc, oa));
            CHECK(same_bits(sc, sa));
        }
    }
}

namespace {

struct ScanCase {
    int64_t T, d_inner, d_state, stride;
    std::vector<float> u, dt, dt_bias, A, B, C, D, z, state;
};

ScanCase make_scan(int64_t T, int64_t di, int64_t ds, std::mt19937& rng) {
    ScanCase s{T, di, ds, 2 * di + 3, {}, {}, {}, {}, {}, {}, {}, {}, {}};
    s.u = randn(size_t(T * s.stride), rng);
    s.dt = randn(size_t(T * s.stride), rng, 2.0f);
    s.dt_bias = randn(size_t(di), rng, 1.0f);
    s.A = randn(size_t(di * ds), rng);
    for (auto& a : s.A) a = -std::exp(a);  // A = -exp(A_log)
    s.B = randn(size_t(T * (ds + 2)), rng);
    s.C = randn(size_t(T * (ds + 2)), rng);
    s.D = randn(size_t(di), rng);
    s.z = randn(size_t(T * s.stride), rng, 2.0f);
    s.state = randn(size_t(di * ds), rng);
    // extremes: softplus' v > 20 branch, very negative dt, saturated gates, large |A|
    s.dt[0] = 25.0f;
    if (T > 1) s.dt[size_t(s.stride + 1)] = -30.0f;
    s.z[2] = 40.0f;
    s.z[3] = -40.0f;
    s.A[0] = -300.0f;
    return s;
}

void run_scan(const CpuKernels& k, const ScanCase& s, std::vector<float>& state, std::vector<float>& y,
              int64_t t0, int64_t t1, int64_t cb, int64_t ce) {
    ScanParams p{};
    p.u = s.u.data() + t0 * s.stride;
    p.u_stride = s.stride;
    p.dt_raw = s.dt.data() + t0 * s.stride;
    p.dt_stride = s.stride;
    p.dt_bias = s.dt_bias.data();
    p.A = s.A.data();
    p.B = s.B.data() + t0 * (s.d_state + 2);
    p.B_stride = s.d_state + 2;
    p.C = s.C.data() + t0 * (s.d_state + 2);
    p.C_stride = s.d_state + 2;
    p.D = s.D.data();
    p.z = s.z.data() + t0 * s.stride;
    p.z_stride = s.stride;
    p.y = y.data() + t0 * s.d_inner;
    p.y_stride = s.d_inner;
    p.state = state.data();
    p.T = t1 - t0;
    p.d_inner = s.d_inner;
    p.d_state = s.d_state;
    p.c_begin = cb;
    p.c_end = ce;
    k.scan(p);
}

}  // namespace

TEMPLATE_TEST_CASE("kernels: scan matches the scalar reference and is split-invariant", "[kernels]", Avx2,
                   Avx512, Neon) {
    KAA_BACKEND_OR_SKIP(k);
    std::mt19937 rng(12);
    for (int64_t ds : {16, 8, 5}) {
        for (int64_t T : {1, 2, 5, 40}) {
            // 9 full groups of 16 and a partial one: decode (T = 1) on AVX-512 prepares
            // its per-channel inputs 8 groups at a time (x86/ssm.inl, scan_states).
            const int64_t di = 149;
            const ScanCase s = make_scan(T, di, ds, rng);
            INFO("d_state " << ds << " T " << T);
            std::vector<float> sa = s.state, sb = s.state, ya(size_t(T * di), 0.0f), yb(size_t(T * di), 0.0f);
            run_scan(*k, s, sa, ya, 0, T, 0, di);
            run_scan(ref, s, sb, yb, 0, T, 0, di);
            // The state and outputs are sums of O(1) terms: relative to |value| + 0.1. y is
            // a cancelling sum of d_state products of the state, whose f32 rounding builds
            // up over T steps: after 40 steps the scalar reference itself is ~1.5 x 2e-5
            // away from a float64 scan, so y gets 1e-4.
            CHECK(close_rel(ya, yb, T > 8 ? 1e-4 : 2e-5, 0.1));
            CHECK(close_rel(sa, sb, 2e-5, 0.1));
            // unaligned channel splits and one-step-at-a-time decode give identical bits
            std::vector<float> sc = s.state, yc(size_t(T * di), 0.0f);
            for (int64_t t = 0; t < T; ++t) {
                run_scan(*k, s, sc, yc, t, t + 1, 0, 17);
                run_scan(*k, s, sc, yc, t, t + 1, 17, 32);
                run_scan(*k, s, sc, yc, t, t + 1, 32, di);
            }
            CHECK(same_bits(yc, ya));
            CHECK(same_bits(sc, sa));
        }
    }
}

TEST_CASE("kernels: KAA_ISA selects, or refuses with a clear error", "[kernels]") {
    const char* old = std::getenv("KAA_ISA");
    const std::string saved = old ? old : "";
    auto with_isa = [](const char* v) {
#if defined(_WIN32)
        _putenv_s("KAA_ISA", v ? v : "");
#else
        if (v)
            setenv("KAA_ISA", v, 1);
        else
            unsetenv("KAA_ISA");
#endif
    };
    with_isa("scalar");
    CHECK(std::string(kaa::runtime::select_cpu_kernels().name) == "scalar");
    with_isa("sse9");
    try {
        kaa::runtime::select_cpu_kernels();
        FAIL("KAA_ISA=sse9 accepted");
    } catch (const kaa::Error& e) {
        CHECK(e.code() == kaa::ErrorCode::invalid_argument);
    }
    const auto& f = kaa::runtime::cpu_features();
    INFO("CPU features: " << f.describe());
    for (const char* isa : {"avx2", "avx512", "neon"}) {
        with_isa(isa);
        bool runnable = false;
#if KAA_HAVE_X86_KERNELS
        runnable = (std::string(isa) == "avx2" && f.has_avx2_set()) || (std::string(isa) == "avx512" && f.has_avx512_set());
#endif
#if KAA_HAVE_NEON_KERNELS
        runnable = std::string(isa) == "neon";
#endif
        if (runnable) {
            CHECK(std::string(kaa::runtime::select_cpu_kernels().name) == isa);
        } else {
            try {
                kaa::runtime::select_cpu_kernels();
                FAIL("KAA_ISA=" << isa << " accepted on a CPU/build without it");
            } catch (const kaa::Error& e) {
                CHECK(e.code() == kaa::ErrorCode::unsupported);
                CHECK(std::string(e.what()).find(isa) != std::string::npos);
            }
        }
    }
    with_isa(nullptr);
    const std::string best = kaa::runtime::select_cpu_kernels().name;
#if KAA_HAVE_X86_KERNELS
    CHECK(best == (f.has_avx512_set() ? "avx512" : f.has_avx2_set() ? "avx2" : "scalar"));
#elif KAA_HAVE_NEON_KERNELS
    CHECK(best == "neon");
#else
    CHECK(best == "scalar");
#endif
    with_isa(saved.empty() ? nullptr : saved.c_str());
}
