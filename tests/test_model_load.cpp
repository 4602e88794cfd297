// Model loading: files that parse as GGUF but are not usable models each give a clear
// error naming what is wrong; odd-but-valid files (mixed types) load and run.
#include <catch2/catch.hpp>

#include <functional>

#include "gguf/gguf.hpp"
#include "gguf/synth.hpp"
#include "gguf/writer.hpp"
#include "kernels/cpu/numeric.hpp"
#include "kaa/kaa.hpp"
#include "support/temp.hpp"

namespace {

using kaa::ErrorCode;
using kaa::gguf::TensorType;

kaa::gguf::SynthSpec small_spec() {
    kaa::gguf::SynthSpec s;
    s.d_model = 32;
    s.n_layer = 2;
    s.d_inner = 64;
    s.d_state = 8;
    s.d_conv = 4;
    s.dt_rank = 4;
    s.n_vocab = 50;
    s.tied = false;
    return s;
}

// Copies a synthetic model into a Writer, letting `edit` change it before writing.
// `tensor_filter` returns false to drop a tensor.
std::string rewrite(const kaa::test::TempDir& dir, const std::string& name,
                    const std::function<void(kaa::gguf::Writer&)>& edit,
                    const std::function<bool(const kaa::gguf::TensorInfo&)>& keep = nullptr) {
    const kaa::gguf::File src = kaa::gguf::File::from_bytes(kaa::gguf::synth_model_bytes(small_spec()));
    kaa::gguf::Writer w;
    for (const std::string& k : src.keys())
        if (k != "general.alignment") w.set_value(k, *src.find(k));
    for (const auto& t : src.tensors())
        if (!keep || keep(t))
            w.add_tensor(t.name, t.type, std::vector<uint64_t>(t.ne, t.ne + t.n_dims), t.data, t.n_bytes);
    edit(w);
    const std::string path = dir.file(name);
    w.write(path);
    return path;
}

// The error a load gives (ok when it loads).
std::pair<ErrorCode, std::string> load_error(const std::string& path, const kaa::ModelParams& mp = {}) {
    try {
        kaa::Model::load(path, mp);
    } catch (const kaa::Error& e) {
        return {e.code(), e.what()};
    }
    return {ErrorCode::ok, ""};
}

void expect_error(const std::string& path, ErrorCode code, const std::vector<std::string>& substrings) {
    const auto [c, msg] = load_error(path);
    INFO("message: " << msg);
    CHECK(c == code);
    for (const auto& s : substrings) CHECK(msg.find(s) != std::string::npos);
}

}  // namespace

TEST_CASE("model load: a file that is not there is an io error", "[model]") {
    expect_error("/nonexistent/dir/model.gguf", ErrorCode::io, {"/nonexistent/dir/model.gguf"});
}

TEST_CASE("model load: missing tensors, keys and wrong shapes are named", "[model]") {
    kaa::test::TempDir dir;
    auto noop = [](kaa::gguf::Writer&) {};
    SECTION("unchanged copy loads") {
        const auto [c, msg] = load_error(rewrite(dir, "ok.gguf", noop));
        INFO(msg);
        CHECK(c == ErrorCode::ok);
    }
    SECTION("missing tensor") {
        const auto path = rewrite(dir, "a.gguf", noop, [](const kaa::gguf::TensorInfo& t) { return t.name != "blk.1.ssm_x.weight"; });
        expect_error(path, ErrorCode::invalid_model, {"blk.1.ssm_x.weight", "missing"});
    }
    SECTION("missing output_norm") {
        const auto path = rewrite(dir, "a.gguf", noop, [](const kaa::gguf::TensorInfo& t) { return t.name != "output_norm.weight"; });
        expect_error(path, ErrorCode::invalid_model, {"output_norm.weight"});
    }
    SECTION("wrong shape names tensor, expected and found") {
        const auto path = rewrite(dir, "b.gguf", [](kaa::gguf::Writer& w) {
            std::vector<float> z(32 * 100, 0.0f);
            w.add_tensor("blk.0.ssm_in.weight.tmp", TensorType::f32, {32, 100}, z.data(), z.size() * 4);
        }, [](const kaa::gguf::TensorInfo& t) { return t.name != "blk.0.ssm_in.weight"; });
        // rename: build again with the odd tensor under the real name
        kaa::gguf::File f = kaa::gguf::File::open(path);
        kaa::gguf::Writer w;
        for (const std::string& k : f.keys())
            if (k != "general.alignment") w.set_value(k, *f.find(k));
        for (const auto& t : f.tensors()) {
            const std::string n = t.name == "blk.0.ssm_in.weight.tmp" ? "blk.0.ssm_in.weight" : t.name;
            w.add_tensor(n, t.type, std::vector<uint64_t>(t.ne, t.ne + t.n_dims), t.data, t.n_bytes);
        }
        w.write(dir.file("c.gguf"));
        expect_error(dir.file("c.gguf"), ErrorCode::invalid_model, {"blk.0.ssm_in.weight", "[32, 100]", "[32, 128]"});
    }
    SECTION("more layers declared than present") {
        const auto path = rewrite(dir, "d.gguf", [](kaa::gguf::Writer& w) { w.set_u32("mamba.block_count", 3); });
        expect_error(path, ErrorCode::invalid_model, {"blk.2."});
    }
    SECTION("an extra tensor the model does not use") {
        const auto path = rewrite(dir, "e.gguf", [](kaa::gguf::Writer& w) {
            float v[4] = {1, 2, 3, 4};
            w.add_tensor("blk.0.attn_q.weight", TensorType::f32, {4}, v, sizeof v);
        });
        expect_error(path, ErrorCode::invalid_model, {"blk.0.attn_q.weight"});
    }
    SECTION("missing hyperparameter") {
        const auto path = rewrite(dir, "f.gguf", [](kaa::gguf::Writer& w) { w.remove_key("mamba.ssm.state_size"); });
        expect_error(path, ErrorCode::invalid_model, {"mamba.ssm.state_size"});
    }
    SECTION("hyperparameter of the wrong type") {
        const auto path = rewrite(dir, "g.gguf", [](kaa::gguf::Writer& w) { w.set_string("mamba.ssm.inner_size", "64"); });
        const auto [c, msg] = load_error(path);
        INFO(msg);
        CHECK(c != ErrorCode::ok);
        CHECK(msg.find("mamba.ssm.inner_size") != std::string::npos);
    }
    SECTION("absurd hyperparameter") {
        const auto path = rewrite(dir, "h.gguf", [](kaa::gguf::Writer& w) { w.set_u32("mamba.ssm.conv_kernel", 0); });
        expect_error(path, ErrorCode::invalid_model, {"mamba.ssm.conv_kernel"});
    }
    SECTION("another architecture") {
        const auto path = rewrite(dir, "i.gguf", [](kaa::gguf::Writer& w) { w.set_string("general.architecture", "llama"); });
        expect_error(path, ErrorCode::unsupported, {"llama"});
    }
    SECTION("no architecture") {
        const auto path = rewrite(dir, "j.gguf", [](kaa::gguf::Writer& w) { w.remove_key("general.architecture"); });
        expect_error(path, ErrorCode::invalid_model, {"general.architecture"});
    }
}

TEST_CASE("model load: hyperparameters, tying and metadata are read", "[model]") {
    kaa::test::TempDir dir;
    auto spec = small_spec();
    spec.tied = true;
    spec.dt_b_c_rms = false;
    kaa::gguf::write_synth_model(spec, dir.file("t.gguf"));
    const kaa::Model m = kaa::Model::load(dir.file("t.gguf"));
    const kaa::HParams& h = m.hparams();
    CHECK(h.d_model == 32);
    CHECK(h.n_layer == 2);
    CHECK(h.d_inner == 64);
    CHECK(h.d_state == 8);
    CHECK(h.d_conv == 4);
    CHECK(h.dt_rank == 4);
    CHECK(h.n_vocab == 50);
    CHECK(h.tied_embeddings);
    CHECK_FALSE(h.dt_b_c_rms);
    CHECK(m.architecture() == "mamba");
    CHECK(m.state_size() == uint64_t(2 * (64 * 3 + 64 * 8) * 4));
    CHECK(m.meta("mamba.block_count") == std::optional<std::string>("2"));
    CHECK_FALSE(m.meta("no.such.key").has_value());
    CHECK(m.tensors().size() == 2 + 10 * 2);
    CHECK_FALSE(m.has_tokenizer());
    CHECK_THROWS_AS(m.tokenizer(), kaa::Error);
}

TEST_CASE("model load: mixed tensor types load and agree with the f32 model", "[model]") {
    kaa::test::TempDir dir;
    // The f32 model, then the same weights with the norms stored as BF16 and ssm_in as
    // F16: rounding changes the logits a little, not the function.
    const auto f32_path = rewrite(dir, "f32.gguf", [](kaa::gguf::Writer&) {});
    const kaa::gguf::File src = kaa::gguf::File::open(f32_path);
    kaa::gguf::Writer w;
    for (const std::string& k : src.keys())
        if (k != "general.alignment") w.set_value(k, *src.find(k));
    for (const auto& t : src.tensors()) {
        std::vector<uint64_t> ne(t.ne, t.ne + t.n_dims);
        const bool to_half = t.name.find("norm") != std::string::npos || t.name.find("ssm_in") != std::string::npos;
        if (!to_half) {
            w.add_tensor(t.name, t.type, ne, t.data, t.n_bytes);
            continue;
        }
        const float* f = reinterpret_cast<const float*>(t.data);
        const bool bf = t.name.find("norm") != std::string::npos;  // norms BF16, ssm_in F16
        std::vector<uint16_t> h(t.n_elements);
        for (size_t i = 0; i < h.size(); ++i) h[i] = bf ? kaa::kernels::f32_to_bf16(f[i]) : kaa::kernels::f32_to_f16(f[i]);
        w.add_tensor(t.name, bf ? TensorType::bf16 : TensorType::f16, ne, h.data(), h.size() * 2);
    }
    w.write(dir.file("mixed.gguf"));
    const kaa::Model a = kaa::Model::load(f32_path), b = kaa::Model::load(dir.file("mixed.gguf"));
    kaa::Session sa(a), sb(b);
    const std::vector<kaa::Token> toks = {1, 5, 9, 3, 49, 0};
    const auto la = sa.eval(toks);
    const auto lb = sb.eval(toks);
    double max_diff = 0;
    for (size_t i = 0; i < la.size(); ++i) max_diff = std::max(max_diff, double(std::abs(la[i] - lb[i])));
    CHECK(max_diff > 0.0);   // the types really changed
    CHECK(max_diff < 0.05);  // and the model still computes the same function
}

TEST_CASE("model load: the progress callback is called and can cancel", "[model]") {
    kaa::test::TempDir dir;
    kaa::gguf::write_synth_model(small_spec(), dir.file("p.gguf"));
    std::vector<float> seen;
    kaa::ModelParams mp;
    mp.progress = [&](float f) {
        seen.push_back(f);
        return true;
    };
    kaa::Model::load(dir.file("p.gguf"), mp);
    REQUIRE(seen.size() >= 2);
    CHECK(seen.front() == 0.0f);
    CHECK(seen.back() == 1.0f);
    CHECK(std::is_sorted(seen.begin(), seen.end()));
    mp.progress = [](float f) { return f < 0.5f; };
    const auto [c, msg] = load_error(dir.file("p.gguf"), mp);
    CHECK(c == ErrorCode::cancelled);
    mp.progress = nullptr;
    mp.use_mmap = false;
    CHECK(load_error(dir.file("p.gguf"), mp).first == ErrorCode::ok);
}
