// Kernel micro-benchmarks at the falcon-mamba-7b shapes, per backend (scalar, avx2,
// avx512) and weight type, with 1 and 2 threads split like lib/session/forward.cpp
// (output rows in multiples of 16, channels for conv/scan).
//
//   GEMV (M = 1, decode):   W_B/s  = weight bytes streamed per second
//   GEMM (M = 256, prefill): OP/s  = 2*M*N*K per second (multiply + add; int8 for Q8_0)
//   batch8 (M = 8, 8 sessions decoding together, Q8_0): W_B/s and OP/s
//   scan / conv:             time per call, and state updates / channel steps per second
//   read_bandwidth:          a plain streaming read of 1 GiB, the roofline for GEMV
//
// Run: build/bin/kaa_bench_kernels [--benchmark_filter=REGEX] [--benchmark_min_time=0.5]
#include <benchmark/benchmark.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include <sys/mman.h>

#include "kernels/cpu/numeric.hpp"
#include "kernels/cpu/q8_0_x16.hpp"
#include "kernels/kernels.hpp"
#include "runtime/cpu_features.hpp"
#include "runtime/thread_pool.hpp"

#if defined(__SSE2__) || defined(_M_X64)
#include <emmintrin.h>
#endif

namespace {

using kaa::kernels::CpuKernels;
using kaa::kernels::WeightType;

// ---- backends ---------------------------------------------------------------------------------
const CpuKernels* backend(const std::string& name) {
    if (name == "scalar") return &kaa::kernels::scalar_kernels();
#if KAA_HAVE_X86_KERNELS
    const auto& f = kaa::runtime::cpu_features();
    if (name == "avx2" && f.has_avx2_set()) return &kaa::kernels::avx2_kernels();
    // AVX2 without AVX-VNNI (Zen 2/3, Intel before Alder Lake): Q8_0 by vpmaddubsw.
    if (name == "avx2-novnni" && f.has_avx2_set()) return &kaa::kernels::avx2_kernels(false);
    if (name == "avx512" && f.has_avx512_set()) return &kaa::kernels::avx512_kernels();
    if (name == "avx512-novnni" && f.has_avx512_set()) return &kaa::kernels::avx512_kernels(false);  // Skylake-SP
#endif
    return nullptr;
}

kaa::runtime::ThreadPool& pool(int threads) {
    static std::unique_ptr<kaa::runtime::ThreadPool> p1, p2;
    auto& p = threads == 1 ? p1 : p2;
    if (!p) p = std::make_unique<kaa::runtime::ThreadPool>(threads);
    return *p;
}

// xorshift: fast enough to fill hundreds of MiB
struct Rng {
    uint64_t s = 0x9e3779b97f4a7c15ull;
    uint64_t next() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        return s;
    }
    float normalish() {  // sum of uniforms, mean 0, sd ~1
        const uint64_t r = next();
        return (float(r & 0xffff) + float((r >> 16) & 0xffff) + float((r >> 32) & 0xffff) - 98302.5f) / 32768.0f;
    }
};

// ---- weights (one shape kept at a time: the f32 ssm_in alone is 256 MiB) ------------------
// GEMV streams `copies` identical matrices in turn, together larger than the last-level
// cache (this VM reports 260 MiB of L3), so every weight byte comes from DRAM as in a real
// decode step that walks 2+ GB of weights; GEMM uses copy 0 only.
constexpr size_t kStreamBytes = size_t(768) << 20;

// Bytes in transparent huge pages from 2 MiB up, as the model loader copies weights
// (lib/model/relayout.cpp): with 4 KiB pages a GEMV pays TLB misses the engine does not.
class HugeBuf {
public:
    HugeBuf() = default;
    HugeBuf(const HugeBuf& o) {
        resize(o.n_);
        if (n_) std::memcpy(p_.get(), o.p_.get(), n_);
    }
    HugeBuf& operator=(const HugeBuf&) = delete;
    void resize(size_t n) {
        constexpr size_t kHuge = size_t(2) << 20;
        const size_t align = n >= kHuge ? kHuge : 64;
        p_.reset(static_cast<uint8_t*>(std::aligned_alloc(align, (n + align - 1) / align * align)));
        if (!p_) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
        if (align == kHuge) madvise(p_.get(), (n + align - 1) / align * align, MADV_HUGEPAGE);
#endif
        n_ = n;
    }
    uint8_t* data() const { return p_.get(); }
    size_t size() const { return n_; }

private:
    std::unique_ptr<uint8_t, void (*)(void*)> p_{nullptr, std::free};
    size_t n_ = 0;
};

struct Matrix {
    WeightType type = WeightType::f32;
    int64_t N = 0, K = 0;
    size_t row_bytes = 0;
    int copies = 0;
    std::vector<HugeBuf> data;
    size_t bytes() const { return row_bytes * size_t(N); }
};

void fill(Matrix& m, HugeBuf& out) {
    Rng rng;
    out.resize(m.bytes());
    if (m.type == WeightType::q8_0) {
        for (size_t i = 0; i < out.size(); i += 8) {
            const uint64_t r = rng.next();
            std::memcpy(out.data() + i, &r, std::min<size_t>(8, out.size() - i));
        }
        const uint16_t d = kaa::kernels::f32_to_f16(0.01f);  // sane block scales
        for (size_t b = 0; b < out.size(); b += 34) std::memcpy(out.data() + b, &d, 2);
        return;
    }
    const size_t n = size_t(m.N * m.K);
    for (size_t i = 0; i < n; ++i) {
        const float v = rng.normalish() * 0.05f;
        if (m.type == WeightType::f32) {
            std::memcpy(out.data() + i * 4, &v, 4);
        } else {
            const uint16_t h = m.type == WeightType::f16 ? kaa::kernels::f32_to_f16(v) : kaa::kernels::f32_to_bf16(v);
            std::memcpy(out.data() + i * 2, &h, 2);
        }
    }
}

const Matrix& matrix(WeightType t, int64_t N, int64_t K, bool streamed) {
    static Matrix m;
    if (!(m.type == t && m.N == N && m.K == K && m.copies > 0)) {
        m.data.clear();
        m = Matrix{};
        m.type = t;
        m.N = N;
        m.K = K;
        switch (t) {
            case WeightType::f32: m.row_bytes = size_t(K) * 4; break;
            case WeightType::f16:
            case WeightType::bf16: m.row_bytes = size_t(K) * 2; break;
            case WeightType::q8_0: m.row_bytes = size_t(K / 32) * 34; break;
        }
        m.data.emplace_back();
        fill(m, m.data[0]);
        m.copies = 1;
    }
    const int want = streamed ? int((kStreamBytes + m.bytes() - 1) / m.bytes()) : 1;
    while (m.copies < want) {
        m.data.push_back(m.data[0]);
        ++m.copies;
    }
    return m;
}

std::vector<float> activations(int64_t n) {
    Rng rng;
    rng.s ^= uint64_t(n);
    std::vector<float> v(static_cast<size_t>(n));
    for (auto& x : v) x = rng.normalish();
    return v;
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

// ---- matmul -----------------------------------------------------------------------------------
void bm_matmul(benchmark::State& st, std::string isa, WeightType t, int64_t N, int64_t K, int64_t M, int threads,
               bool q8_f32_activations, bool cached, bool x16) {
    const CpuKernels* k = backend(isa);
    if (!k) return st.SkipWithError(("no " + isa + " on this CPU/build").c_str());
    // Decode (M = 1) and batched decode (a few sessions, M <= 16) read weights from DRAM,
    // unless `cached` asks for the kernel's own throughput on an L2-resident matrix.
    const Matrix& w = matrix(t, N, K, /*streamed=*/M <= 16 && !cached);
    const std::vector<float> x = activations(M * K);
    std::vector<float> y(size_t(M * N));
    kaa::kernels::MatmulParams p{};
    p.wtype = t;
    p.w = w.data[0].data();
    p.w_row_bytes = w.row_bytes;
    p.x = x.data();
    p.x_stride = K;
    p.y = y.data();
    p.y_stride = N;
    p.M = M;
    p.N = N;
    p.K = K;
    p.q8_f32_activations = q8_f32_activations;
    // x16: the copies re-laid as the model loader does for VNNI backends (Q8_0x16), in
    // 2 MiB-aligned transparent huge pages like the loader's (lib/model/relayout.cpp).
    std::vector<std::unique_ptr<uint8_t, void (*)(void*)>> relaid;
    if (x16) {
        if (!k->q8_0_x16) return st.SkipWithError((isa + " takes no Q8_0x16 weights on this CPU").c_str());
        constexpr size_t kHuge = size_t(2) << 20;
        const size_t bytes = (kaa::kernels::x16_bytes(N, K) + kHuge - 1) / kHuge * kHuge;
        for (const auto& d : w.data) {
            auto* r = static_cast<uint8_t*>(std::aligned_alloc(kHuge, bytes));
            if (!r) return st.SkipWithError("out of memory");
            relaid.emplace_back(r, std::free);
#ifdef MADV_HUGEPAGE
            madvise(r, bytes, MADV_HUGEPAGE);
#endif
            kaa::kernels::pack_q8_0_x16(d.data(), w.row_bytes, N, K, 0, kaa::kernels::x16_groups(N), r);
        }
        p.w_layout = kaa::kernels::WeightLayout::q8_0_x16;
    }
    auto& tp = pool(threads);
    size_t copy = 0;
    for (auto _ : st) {
        if (x16) {
            p.w = relaid[copy].get();
        } else {
            p.w = w.data[copy].data();
        }
        copy = (copy + 1) % w.data.size();
        tp.parallel_for(N, 16, [&](int64_t b, int64_t e) {
            kaa::kernels::MatmulParams q = p;
            q.n_begin = b;
            q.n_end = e;
            k->matmul(q);
        });
        benchmark::DoNotOptimize(y.data());
        benchmark::ClobberMemory();
    }
    using C = benchmark::Counter;
    if (M <= 16)
        st.counters["W_B/s"] = C(double(w.bytes()), C::kIsIterationInvariantRate);
    st.counters["OP/s"] = C(2.0 * double(M) * double(N) * double(K), C::kIsIterationInvariantRate);
    st.counters["OP/s/thread"] = C(2.0 * double(M) * double(N) * double(K) / threads, C::kIsIterationInvariantRate);
}

// ---- scan and conv (d_inner 8192, d_state 16, d_conv 4: falcon-mamba-7b) ------------------------
// Rows padded as the engine pads them (lib/session/forward.hpp, Scratch::kRowPad): with
// 32 KiB rows a channel group's rows share a few cache sets and the scan runs ~1.7x slower.
constexpr int64_t kRowPad = 64;

void bm_scan(benchmark::State& st, std::string isa, int64_t T, int threads) {
    const CpuKernels* k = backend(isa);
    if (!k) return st.SkipWithError(("no " + isa + " on this CPU/build").c_str());
    const int64_t di = 8192, ds = 16, R = 256, nx = R + 2 * ds, ld = di + kRowPad, ldz = 2 * di + kRowPad;
    const std::vector<float> u = activations(T * ld), dt = activations(T * ld), z = activations(T * ldz);
    const std::vector<float> xdbl = activations(T * nx), bias = activations(di), D = activations(di);
    std::vector<float> A = activations(di * ds), state(size_t(di * ds), 0.0f), y(size_t(T * ld));
    for (auto& a : A) a = -std::abs(a) - 0.1f;
    kaa::kernels::ScanParams p{};
    p.u = u.data();
    p.u_stride = ld;
    p.dt_raw = dt.data();
    p.dt_stride = ld;
    p.dt_bias = bias.data();
    p.A = A.data();
    p.B = xdbl.data() + R;
    p.B_stride = nx;
    p.C = xdbl.data() + R + ds;
    p.C_stride = nx;
    p.D = D.data();
    p.z = z.data() + di;
    p.z_stride = ldz;
    p.y = y.data();
    p.y_stride = ld;
    p.state = state.data();
    p.T = T;
    p.d_inner = di;
    p.d_state = ds;
    auto& tp = pool(threads);
    for (auto _ : st) {
        tp.parallel_for(di, 16, [&](int64_t b, int64_t e) {
            kaa::kernels::ScanParams q = p;
            q.c_begin = b;
            q.c_end = e;
            k->scan(q);
        });
        benchmark::DoNotOptimize(y.data());
    }
    st.counters["state_updates/s"] =
        benchmark::Counter(double(T * di * ds), benchmark::Counter::kIsIterationInvariantRate);
}

void bm_conv(benchmark::State& st, std::string isa, int64_t T, int threads) {
    const CpuKernels* k = backend(isa);
    if (!k) return st.SkipWithError(("no " + isa + " on this CPU/build").c_str());
    const int64_t di = 8192, dc = 4, ld = di + kRowPad, ldx = 2 * di + kRowPad;
    const std::vector<float> x = activations(T * ldx), w = activations(di * dc), bias = activations(di);
    std::vector<float> state(size_t(di * (dc - 1)), 0.0f), out(size_t(T * ld));
    kaa::kernels::ConvParams p{};
    p.x = x.data();
    p.x_stride = ldx;
    p.out = out.data();
    p.out_stride = ld;
    p.state = state.data();
    p.weight = w.data();
    p.bias = bias.data();
    p.T = T;
    p.d_inner = di;
    p.d_conv = dc;
    auto& tp = pool(threads);
    for (auto _ : st) {
        tp.parallel_for(di, 16, [&](int64_t b, int64_t e) {
            kaa::kernels::ConvParams q = p;
            q.c_begin = b;
            q.c_end = e;
            k->conv1d_silu(q);
        });
        benchmark::DoNotOptimize(out.data());
    }
    st.counters["channel_steps/s"] = benchmark::Counter(double(T * di), benchmark::Counter::kIsIterationInvariantRate);
}

// ---- memory read bandwidth ------------------------------------------------------------------
// Sums 1 GiB (far beyond any cache) with plain 16-byte loads; split across threads like
// the matmuls. This is the bandwidth a decode step can at best stream weights with.
void bm_read_bandwidth(benchmark::State& st, int threads) {
    constexpr size_t kBytes = size_t(1) << 30;
    static std::vector<uint64_t> buf(kBytes / 8, 1);
    auto& tp = pool(threads);
    const int64_t lines = int64_t(kBytes / 64);
    std::atomic<uint64_t> total{0};
    for (auto _ : st) {
        tp.parallel_for(lines, 4096, [&](int64_t b, int64_t e) {
            const uint64_t* p = buf.data() + b * 8;
            const int64_t n = (e - b) * 8;
#if defined(__SSE2__) || defined(_M_X64)
            __m128i a0 = _mm_setzero_si128(), a1 = a0, a2 = a0, a3 = a0;
            for (int64_t i = 0; i < n; i += 8) {
                a0 = _mm_add_epi64(a0, _mm_load_si128(reinterpret_cast<const __m128i*>(p + i)));
                a1 = _mm_add_epi64(a1, _mm_load_si128(reinterpret_cast<const __m128i*>(p + i + 2)));
                a2 = _mm_add_epi64(a2, _mm_load_si128(reinterpret_cast<const __m128i*>(p + i + 4)));
                a3 = _mm_add_epi64(a3, _mm_load_si128(reinterpret_cast<const __m128i*>(p + i + 6)));
            }
            const __m128i s = _mm_add_epi64(_mm_add_epi64(a0, a1), _mm_add_epi64(a2, a3));
            uint64_t out[2];
            _mm_storeu_si128(reinterpret_cast<__m128i*>(out), s);
            total.fetch_add(out[0] + out[1], std::memory_order_relaxed);
#else
            uint64_t s = 0;
            for (int64_t i = 0; i < n; ++i) s += p[i];
            total.fetch_add(s, std::memory_order_relaxed);
#endif
        });
        benchmark::DoNotOptimize(total.load());
    }
    st.counters["B/s"] = benchmark::Counter(double(kBytes), benchmark::Counter::kIsIterationInvariantRate);
}

struct Shape {
    const char* name;
    int64_t N, K;
};
const Shape kShapes[] = {
    {"ssm_in", 16384, 4096}, {"ssm_out", 4096, 8192}, {"ssm_x", 288, 8192}, {"ssm_dt", 8192, 256}};

// One thread runs on the calling thread, so its CPU time is the kernel's time even when
// other jobs share the machine; with more threads only wall time covers the workers.
// KAA_BENCH_REAL_TIME=1 uses wall time everywhere.
benchmark::internal::Benchmark* timing(benchmark::internal::Benchmark* b, int threads) {
    const char* env = std::getenv("KAA_BENCH_REAL_TIME");
    if (threads > 1 || (env && *env == '1')) b->UseRealTime();
    return b;
}

void register_all() {
    const std::string isas[] = {"scalar", "avx2", "avx2-novnni", "avx512", "avx512-novnni"};
    for (int threads : {1, 2})
        timing(benchmark::RegisterBenchmark(("read_bandwidth/threads:" + std::to_string(threads)).c_str(),
                                            bm_read_bandwidth, threads),
               threads)
            ->Unit(benchmark::kMillisecond);
    // Grouped by type so one matrix is generated once for all its benchmarks.
    for (WeightType t : {WeightType::q8_0, WeightType::f16, WeightType::bf16, WeightType::f32})
        for (const Shape& s : kShapes)
            for (int64_t M : {int64_t(1), int64_t(8), int64_t(256)})
                for (const std::string& isa : isas) {
                    if (isa == "scalar" && M > 1) continue;  // minutes per iteration
                    const bool novnni = isa == "avx2-novnni" || isa == "avx512-novnni";
                    if (novnni && t != WeightType::q8_0) continue;  // the same float kernels
                    // 8 sessions decoding together (eval_batch): Q8_0's two big matrices
                    if (M == 8 && (t != WeightType::q8_0 || s.N * s.K < 4096 * 8192)) continue;
                    for (int threads : {1, 2}) {
                        const char* kind = M == 1 ? "gemv" : M == 8 ? "batch8" : "gemm";
                        const std::string name = std::string(kind) + "/" + type_name(t) + "/" + s.name + "/" + isa +
                                                 "/threads:" + std::to_string(threads);
                        timing(benchmark::RegisterBenchmark(name.c_str(), bm_matmul, isa, t, s.N, s.K, M, threads,
                                                            false, false, false),
                               threads)
                            ->Unit(benchmark::kMillisecond);
                        // Q8_0 re-laid at load (WeightLayout::q8_0_x16), where the backend takes it
                        if (novnni) continue;  // the rest: as with VNNI (no Q8_0x16 without it)
                        if (t == WeightType::q8_0 && isa != "scalar")
                            timing(benchmark::RegisterBenchmark((name + "/x16").c_str(), bm_matmul, isa, t, s.N, s.K,
                                                                M, threads, false, false, true),
                                   threads)
                                ->Unit(benchmark::kMillisecond);
                        // Q8_0 with MatmulParams::q8_f32_activations (exact mode), big shapes
                        if (t == WeightType::q8_0 && isa != "scalar" && s.N * s.K >= 4096 * 8192)
                            timing(benchmark::RegisterBenchmark((name + "/f32_activations").c_str(), bm_matmul, isa,
                                                                t, s.N, s.K, M, threads, true, false, false),
                                   threads)
                                ->Unit(benchmark::kMillisecond);
                    }
                }
    // The GEMV on a matrix that fits in L2 (256 x 4096 Q8_0: 1.1 MB): its instruction
    // throughput, the ceiling of what it can stream from DRAM per thread.
    for (const std::string& isa : isas)
        timing(benchmark::RegisterBenchmark(("gemv_cached/q8_0/256x4096/" + isa + "/threads:1").c_str(), bm_matmul,
                                            isa, WeightType::q8_0, int64_t(256), int64_t(4096), int64_t(1), 1, false,
                                            true, false),
               1)
            ->Unit(benchmark::kMicrosecond);
    for (const char* isa : {"avx2", "avx512"})
        for (int64_t M : {1, 8})
            for (bool x16 : {false, true}) {
                if (M == 1 && !x16) continue;  // registered above, for every ISA
                const std::string name = std::string(M == 1 ? "gemv" : "batch8") + "_cached/q8_0/256x4096/" + isa +
                                         "/threads:1" + (x16 ? "/x16" : "");
                timing(benchmark::RegisterBenchmark(name.c_str(), bm_matmul, isa, WeightType::q8_0, int64_t(256),
                                                    int64_t(4096), M, 1, false, true, x16),
                       1)
                    ->Unit(benchmark::kMicrosecond);
            }
    for (const std::string& isa : isas)
        for (int64_t T : {int64_t(256), int64_t(1)})
            for (int threads : {1, 2}) {
                const std::string suffix = isa + "/T:" + std::to_string(T) + "/threads:" + std::to_string(threads);
                timing(benchmark::RegisterBenchmark(("scan/" + suffix).c_str(), bm_scan, isa, T, threads), threads)
                    ->Unit(benchmark::kMicrosecond);
                timing(benchmark::RegisterBenchmark(("conv/" + suffix).c_str(), bm_conv, isa, T, threads), threads)
                    ->Unit(benchmark::kMicrosecond);
            }
}

}  // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::AddCustomContext("cpu_features", kaa::runtime::cpu_features().describe());
#if KAA_HAVE_X86_KERNELS
    benchmark::AddCustomContext("avx512_variant", kaa::kernels::avx512_kernels().detail);
    benchmark::AddCustomContext("avx2_variant", kaa::kernels::avx2_kernels().detail);
#endif
    register_all();
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
