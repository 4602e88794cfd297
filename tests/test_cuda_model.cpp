// The CUDA backend end to end, through the public API: Sessions on a device model give
// the CPU's logits (prefill, decode, batches of Sessions), States move between devices,
// decode steps replay a captured graph, errors are clear. On the CPU emulation always
// ([cuda-emu]: small synthetic models), on a GPU when there is one ([cuda]: larger random
// shapes, the whole shared golden suite, threads).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>
#include <thread>

#include "cuda/device.hpp"
#include "gguf/synth.hpp"
#include "model/model_impl.hpp"
#include "support/golden.hpp"
#include "support/shared.hpp"
#include "support/temp.hpp"
#include "support/tolerances.hpp"
#include "test_cuda.hpp"

namespace {

using namespace kaa::test::cuda;
using kaa::gguf::SynthSpec;
using kaa::gguf::TensorType;

std::vector<kaa::Token> random_tokens(std::mt19937& rng, size_t n, int32_t V) {
    std::vector<kaa::Token> t(n);
    for (auto& x : t) x = kaa::Token(rng() % uint32_t(V));
    return t;
}

// A fixed workload through every entry point that runs the forward pass; returns every
// logit it produced, in order. Prefill of P tokens (all logits, in chunks of n_batch),
// `steps` decode steps, then Sessions batched with different token counts, then `steps`
// batched decode steps.
std::vector<float> workload(const kaa::Model& model, int P, int n_batch, int steps) {
    std::mt19937 rng(3);
    const int32_t V = model.n_vocab();
    std::vector<float> out;
    auto keep = [&](const std::vector<float>& l) { out.insert(out.end(), l.begin(), l.end()); };
    kaa::SessionParams sp;
    sp.n_batch = n_batch;
    sp.n_threads = 1;
    kaa::Session a(model, sp);
    kaa::EvalOptions all;
    all.all_logits = true;
    keep(a.eval(random_tokens(rng, size_t(P), V), all));
    for (int i = 0; i < steps; ++i) keep(a.eval(random_tokens(rng, 1, V)));

    std::vector<kaa::Session> b;
    for (int i = 0; i < 3; ++i) b.emplace_back(model, sp);
    std::vector<std::vector<kaa::Token>> toks = {random_tokens(rng, 1, V), random_tokens(rng, 3, V), random_tokens(rng, 2, V)};
    std::vector<kaa::BatchItem> items;
    for (size_t i = 0; i < 3; ++i) items.push_back({&b[i], toks[i].data(), toks[i].size()});
    kaa::eval_batch(items);
    for (auto& s : b) keep(s.logits());
    for (int step = 0; step < steps; ++step) {  // decode: every Session one token
        for (size_t i = 0; i < 3; ++i) {
            toks[i] = random_tokens(rng, 1, V);
            items[i] = {&b[i], toks[i].data(), 1};
        }
        kaa::eval_batch(items);
        for (auto& s : b) keep(s.logits());
    }
    return out;
}

// max |a - b| / (1 + max |a|)
double relative_diff(const std::vector<float>& a, const std::vector<float>& b) {
    REQUIRE(a.size() == b.size());
    double d = 0, scale = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        d = std::max(d, std::abs(double(a[i]) - b[i]));
        scale = std::max(scale, std::abs(double(a[i])));
    }
    return d / (1.0 + scale);
}

// The CPU (exact) and the device agree on `spec` (exact within f32 rounding; fast within
// the f16 rounding of tensor-core activations).
void check_agreement(Where where, const SynthSpec& spec, int P, int n_batch, int steps, bool with_fast) {
    kaa::test::TempDir dir;
    const std::string path = dir.file("model.gguf");
    kaa::gguf::write_synth_model(spec, path);
    const std::vector<float> ref = workload(load_on(path, Where::cpu, kaa::Precision::exact), P, n_batch, steps);
    const double exact = relative_diff(ref, workload(load_on(path, where, kaa::Precision::exact), P, n_batch, steps));
    const double fast =
        with_fast ? relative_diff(ref, workload(load_on(path, where, kaa::Precision::fast), P, n_batch, steps)) : 0.0;
    std::printf("agreement %s: d_model %lld d_inner %lld d_state %lld type %d: relative |dlogit| exact %.2e fast %.2e\n",
                where_name(where), (long long)spec.d_model, (long long)spec.d_inner, (long long)spec.d_state, int(spec.type),
                exact, fast);
    INFO(where_name(where) << ": d_model " << spec.d_model << " d_inner " << spec.d_inner << " d_state " << spec.d_state
                           << " d_conv " << spec.d_conv << " dt_rank " << spec.dt_rank << " layers " << spec.n_layer
                           << " type " << int(spec.type) << (spec.tied ? " tied" : "") << (spec.dt_b_c_rms ? " dt_b_c_rms" : "")
                           << ": relative |dlogit| exact " << exact << ", fast " << fast);
    CHECK(exact <= 1e-5);
    CHECK(fast <= 1e-2);
}

// Small enough for the emulation (a few hundred emulated blocks per forward pass).
SynthSpec small_spec(TensorType type, bool tied, uint64_t seed, int64_t layers = 1) {
    SynthSpec s;
    s.d_model = 32;
    s.n_layer = layers;
    s.d_inner = 64;
    s.d_state = 16;
    s.d_conv = 4;
    s.dt_rank = 4;
    s.n_vocab = 32;
    s.tied = tied;
    s.type = type;
    s.seed = seed;
    s.n_threads = 1;
    return s;
}

// Plain Mamba (no dt/B/C norm), odd sizes everywhere.
SynthSpec odd_spec(TensorType type) {
    SynthSpec s = small_spec(type, false, 5);
    s.d_model = 24;
    s.d_inner = 40;
    s.d_state = 5;
    s.d_conv = 3;
    s.dt_rank = 6;
    s.n_vocab = 19;
    s.dt_b_c_rms = false;
    return s;
}

// States move between CPU and device Sessions; fork and reset on the device.
void check_states(Where where) {
    kaa::test::TempDir dir;
    const std::string path = dir.file("model.gguf");
    kaa::gguf::write_synth_model(small_spec(TensorType::q8_0, false, 9), path);
    const kaa::Model cpu = load_on(path, Where::cpu, kaa::Precision::exact);
    const kaa::Model dev = load_on(path, where, kaa::Precision::exact);
    std::mt19937 rng(4);
    const auto prompt = random_tokens(rng, 6, cpu.n_vocab()), next = random_tokens(rng, 2, cpu.n_vocab());
    kaa::Session c(cpu), d(dev);
    c.eval(prompt);
    d.eval(prompt);
    const kaa::State cs = c.state(), ds = d.state();
    CHECK(ds.position() == 6);
    CHECK(relative_diff(cs.data(), ds.data()) <= 1e-5);

    // device -> CPU and CPU -> device (through serialization), then both continue
    kaa::Session c2(cpu), d2(dev);
    c2.set_state(kaa::State::deserialize(ds.serialize()));
    d2.set_state(cs);
    const std::vector<float> ref = c.eval(next);
    CHECK(relative_diff(ref, c2.eval(next)) <= 1e-5);
    CHECK(relative_diff(ref, d2.eval(next)) <= 1e-5);
    CHECK(d2.position() == 8);

    // fork on the device continues exactly like its parent; reset starts over
    kaa::Session f = d.fork();
    CHECK(f.eval(next) == d.eval(next));
    d.reset();
    kaa::Session fresh(dev);
    CHECK(d.eval(prompt) == fresh.eval(prompt));
    CHECK(d.state().data() == fresh.state().data());
}

}  // namespace

TEST_CASE("cuda-emu: device sessions give the CPU's logits on synthetic models", "[cuda-emu]") {
    const int64_t live = emu_live_allocations();
    // Q8_0 and F16 in both precisions (tensor cores under fast for the 8 + 2 token
    // prefill chunks and the 6-token batch), the other types exact only.
    check_agreement(Where::emu, small_spec(TensorType::q8_0, false, 2, /*layers=*/2), 10, 8, 1, true);
    check_agreement(Where::emu, small_spec(TensorType::f32, true, 1), 5, 64, 1, false);
    check_agreement(Where::emu, small_spec(TensorType::bf16, false, 3), 5, 64, 1, false);
    check_agreement(Where::emu, odd_spec(TensorType::f16), 5, 64, 1, true);
    CHECK(emu_live_allocations() == live);  // models and sessions free their device memory
}

TEST_CASE("cuda-emu: states move between CPU and device sessions, fork and reset", "[cuda-emu]") { check_states(Where::emu); }

TEST_CASE("cuda-emu: with release_host_weights the device copy alone serves", "[cuda-emu]") {
    kaa::test::TempDir dir;
    const std::string path = dir.file("model.gguf");
    kaa::gguf::write_synth_model(small_spec(TensorType::q8_0, false, 7), path);
    for (bool mmap : {true, false}) {
        kaa::ModelParams mp;
        mp.precision = kaa::Precision::exact;
        mp.use_mmap = mmap;
        mp.release_host_weights = true;
        const kaa::Model model = kaa::Model::load(path, mp);
        kaa::detail::gpu::attach(const_cast<kaa::detail::ModelImpl&>(*model.impl()), emu_runtime());
        std::mt19937 rng(2);
        const auto tokens = random_tokens(rng, 6, model.n_vocab());
        kaa::Session dev(model), cpu(load_on(path, Where::cpu, kaa::Precision::exact));
        CHECK(relative_diff(cpu.eval(tokens), dev.eval(tokens)) <= 1e-5);
    }
}

TEST_CASE("cuda-emu: decode steps replay one captured graph per batch shape", "[cuda-emu]") {
    kaa::test::TempDir dir;
    const std::string path = dir.file("model.gguf");
    kaa::gguf::write_synth_model(small_spec(TensorType::q8_0, false, 6), path);
    const kaa::Model model = load_on(path, Where::emu, kaa::Precision::exact);
    const auto stats = [&] { return emu_graph_stats(*model.impl()->gpu->rt); };
    kaa::Session s(model);
    std::mt19937 rng(8);
    s.eval(random_tokens(rng, 5, model.n_vocab()));  // prefill: no graph
    CHECK(stats() == std::make_pair(0, 0));
    for (int i = 0; i < 3; ++i) s.eval(random_tokens(rng, 1, model.n_vocab()));
    CHECK(stats() == std::make_pair(1, 3));
}

TEST_CASE("cuda-emu: out of device memory and unsupported shapes are clear errors", "[cuda-emu]") {
    kaa::test::TempDir dir;
    const std::string path = dir.file("model.gguf");
    kaa::gguf::write_synth_model(small_spec(TensorType::q8_0, false, 6), path);
    const kaa::Model model = load_on(path, Where::cpu, kaa::Precision::exact);
    auto& impl = const_cast<kaa::detail::ModelImpl&>(*model.impl());
    try {
        kaa::detail::gpu::attach(impl, emu_runtime(/*free_bytes=*/10000));
        FAIL("no error");
    } catch (const kaa::Error& e) {
        CHECK(e.code() == kaa::ErrorCode::out_of_memory);
        CHECK_THAT(e.what(), Catch::Contains("needs") && Catch::Contains("free"));
    }
    CHECK(!impl.gpu);

    SynthSpec wide = small_spec(TensorType::f32, true, 1);
    wide.d_state = 65;
    kaa::gguf::write_synth_model(wide, dir.file("wide.gguf"));
    const kaa::Model w = load_on(dir.file("wide.gguf"), Where::cpu, kaa::Precision::exact);
    try {
        kaa::detail::gpu::attach(const_cast<kaa::detail::ModelImpl&>(*w.impl()), emu_runtime());
        FAIL("no error");
    } catch (const kaa::Error& e) {
        CHECK(e.code() == kaa::ErrorCode::unsupported);
        CHECK_THAT(e.what(), Catch::Contains("d_state"));
    }
}

TEST_CASE("cuda: Device::cuda fails clearly without CUDA or a device, and for a bad gpu_index", "[cuda]") {
    kaa::ModelParams mp;
    mp.device = kaa::Device::cuda;
    if (!kaa::detail::gpu::built_with_cuda() || kaa::cuda_device_count() == 0) {
        // The device is checked before the file is opened.
        CHECK(kaa::cuda_device_count() == 0);
        try {
            kaa::Model::load("/nonexistent/model.gguf", mp);
            FAIL("no error");
        } catch (const kaa::Error& e) {
            CHECK(e.code() == kaa::ErrorCode::unsupported);
            CHECK_THAT(e.what(), Catch::Contains(kaa::detail::gpu::built_with_cuda() ? "no CUDA device" : "built without CUDA"));
        }
        return;
    }
    kaa::test::TempDir dir;
    const std::string path = dir.file("model.gguf");
    kaa::gguf::write_synth_model(small_spec(TensorType::q8_0, false, 6), path);
    mp.gpu_index = kaa::cuda_device_count();
    CHECK_THROWS_MATCHES(kaa::Model::load(path, mp), kaa::Error,
                         Catch::Predicate<kaa::Error>([](const kaa::Error& e) { return e.code() == kaa::ErrorCode::invalid_argument; }));
    mp.gpu_index = 0;
    mp.release_host_weights = true;
    const kaa::Model m = kaa::Model::load(path, mp);
    CHECK(std::string(m.backend()) == "cuda");
    kaa::Session s(m);
    CHECK(s.eval(std::vector<kaa::Token>{1, 2, 3}).size() == size_t(m.n_vocab()));
}

// ---- on a GPU ------------------------------------------------------------------------------------
#define KAA_REQUIRE_CUDA()                                \
    do {                                                  \
        std::string why_;                                 \
        if (!cuda_runtime_or_null(&why_)) KAA_SKIP(why_); \
    } while (0)

TEST_CASE("cuda: device sessions give the CPU's logits on random shapes", "[cuda]") {
    KAA_REQUIRE_CUDA();
    check_agreement(Where::cuda, small_spec(TensorType::f32, true, 1, 2), 7, 64, 3, true);
    check_agreement(Where::cuda, odd_spec(TensorType::f16), 6, 64, 3, true);
    std::mt19937 rng(21);
    for (int i = 0; i < 6; ++i) {
        SynthSpec s;
        const TensorType types[] = {TensorType::f32, TensorType::f16, TensorType::bf16, TensorType::q8_0};
        s.type = types[i % 4];
        s.d_model = 32 * (1 + int64_t(rng() % 24));
        s.d_inner = 2 * s.d_model + 32 * int64_t(rng() % 3);
        s.d_state = int64_t(1 + rng() % 64);
        s.d_conv = int64_t(2 + rng() % 4);
        s.dt_rank = int64_t(1 + rng() % 64);
        s.n_layer = int64_t(1 + rng() % 3);
        s.n_vocab = int64_t(100 + rng() % 2000);
        s.tied = rng() % 2 == 0;
        s.dt_b_c_rms = rng() % 2 == 0;
        s.seed = rng();
        check_agreement(Where::cuda, s, 1 + int(rng() % 300), 1 + int(rng() % 128), 3, true);
    }
    // Prefill chunks of at least kBlasMinM tokens: the cuBLAS path (where libcublas loads).
    for (TensorType t : {TensorType::q8_0, TensorType::f16}) {
        SynthSpec s = small_spec(t, false, 5, 2);
        s.d_model = 256;
        s.d_inner = 544;
        s.dt_rank = 16;
        s.n_vocab = 700;
        s.dt_b_c_rms = true;
        check_agreement(Where::cuda, s, 300, 256, 3, true);
    }
}

TEST_CASE("cuda: states move between CPU and GPU sessions, fork and reset", "[cuda]") {
    KAA_REQUIRE_CUDA();
    check_states(Where::cuda);
}

TEST_CASE("cuda: sessions on several threads share one GPU model", "[cuda]") {
    KAA_REQUIRE_CUDA();
    kaa::test::TempDir dir;
    const std::string path = dir.file("model.gguf");
    SynthSpec spec = small_spec(TensorType::q8_0, false, 12, 2);
    spec.d_model = 256;
    spec.d_inner = 512;
    kaa::gguf::write_synth_model(spec, path);
    const kaa::Model model = load_on(path, Where::cuda, kaa::Precision::fast);
    auto run = [&](int seed) {
        std::mt19937 rng{uint32_t(seed)};
        kaa::Session s(model);
        std::vector<float> out = s.eval(random_tokens(rng, 50, model.n_vocab()));
        for (int i = 0; i < 20; ++i) {
            const auto& l = s.eval(random_tokens(rng, 1, model.n_vocab()));
            out.insert(out.end(), l.begin(), l.end());
        }
        return out;
    };
    std::vector<std::vector<float>> alone, together(4);
    for (int t = 0; t < 4; ++t) alone.push_back(run(t));
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) threads.emplace_back([&, t] { together[size_t(t)] = run(t); });
    for (auto& th : threads) th.join();
    for (int t = 0; t < 4; ++t) CHECK(alone[size_t(t)] == together[size_t(t)]);  // same kernels, same bits
}

namespace {

double logsumexp(const float* x, size_t n) {
    double m = -INFINITY, s = 0;
    for (size_t i = 0; i < n; ++i) m = std::max(m, double(x[i]));
    for (size_t i = 0; i < n; ++i) s += std::exp(double(x[i]) - m);
    return m + std::log(s);
}

// One golden file on the GPU, prefill and decode, within the tolerance of the precision.
void check_golden_on_gpu(const std::string& name, kaa::Precision precision) {
    using namespace kaa::test;
    const Golden g = load_golden(shared_path("golden/" + name + ".json"));
    const kaa::Model model = load_on(shared_path("models/" + g.model_file), Where::cuda, precision);
    const size_t V = size_t(g.n_vocab);
    const bool fast = precision == kaa::Precision::fast;
    for (const GoldenCase& c : g.cases)
        for (bool decode : {false, true}) {
            kaa::Session s(model);
            std::vector<float> logits;
            if (decode) {
                for (kaa::Token t : c.tokens) {
                    const auto& l = s.eval(&t, 1);
                    logits.insert(logits.end(), l.begin(), l.end());
                }
            } else {
                kaa::EvalOptions eo;
                eo.all_logits = true;
                logits = s.eval(c.tokens, eo);
            }
            REQUIRE(logits.size() == c.tokens.size() * V);
            double scale = 0;
            for (const auto& row : c.top_logits)
                for (double v : row) scale = std::max(scale, std::abs(v));
            const double max_abs = fast ? std::max(tol::kQuantMaxAbsLogit, tol::kQuantRelativeToLogitScale * scale) : tol::kF32MaxAbsLogit;
            const double max_lse = fast ? std::max(tol::kQuantLogSumExp, tol::kQuantRelativeToLogitScale * scale) : tol::kF32LogSumExp;
            const double margin = fast ? tol::kQuantArgmaxMargin : tol::kF32ArgmaxMargin;
            double top = 0, full = 0, lse = 0;
            int mismatches = 0;
            for (size_t p = 0; p < c.tokens.size(); ++p) {
                const float* row = logits.data() + p * V;
                for (size_t i = 0; i < c.top_ids[p].size(); ++i)
                    top = std::max(top, std::abs(double(row[size_t(c.top_ids[p][i])]) - c.top_logits[p][i]));
                lse = std::max(lse, std::abs(logsumexp(row, V) - c.logsumexp[p]));
                const int am = int(std::max_element(row, row + V) - row);
                if (c.top1_margin[p] > margin && am != c.argmax[p]) ++mismatches;
            }
            for (int r = 0; r < c.full_rows; ++r)
                for (size_t i = 0; i < V; ++i)
                    full = std::max(full, std::abs(double(logits[size_t(c.logits_first_position + r) * V + i]) -
                                                   c.full_logits[size_t(r) * V + i]));
            std::printf("golden on GPU %-28s %-8s %-7s %-5s max|dlogit| top32 %.2e full %.2e |dlse| %.2e argmax mismatches %d\n",
                        name.c_str(), c.name.c_str(), decode ? "decode" : "prefill", fast ? "fast" : "exact", top, full,
                        lse, mismatches);
            INFO(name << " " << c.name << (decode ? " decode" : " prefill") << (fast ? " fast" : " exact"));
            CHECK(top <= max_abs);
            CHECK(full <= max_abs);
            CHECK(lse <= max_lse);
            CHECK(mismatches == 0);
        }
}

}  // namespace

TEST_CASE("cuda: every shared golden model and case on the GPU (exact and fast)", "[cuda]") {
    KAA_REQUIRE_CUDA();
    KAA_REQUIRE_SHARED();
    int checked = 0;
    for (const auto& name : kaa::test::golden_names()) {
        const kaa::test::Golden g = kaa::test::load_golden(kaa::test::shared_path("golden/" + name + ".json"));
        if (!kaa::test::shared_path("models/" + g.model_file).empty() &&
            std::ifstream(kaa::test::shared_path("models/" + g.model_file)).good()) {
            check_golden_on_gpu(name, kaa::Precision::exact);
            check_golden_on_gpu(name, kaa::Precision::fast);
            ++checked;
        }
    }
    CHECK(checked >= 1);
}
