// loader.cpp — from a validated GGUF file to a ModelImpl: hyperparameters from the
// `mamba.*` keys, every tensor looked up, shape- and type-checked, and viewed in place.
#include <algorithm>
#include <cstring>
#include <map>
#include <sstream>

#include "model/model_impl.hpp"
#include "runtime/dispatch.hpp"
#include "runtime/hash.hpp"
#include "tokenizer/load.hpp"

namespace kaa::detail {
namespace {

std::string shape_str(const std::vector<uint64_t>& s) {
    std::ostringstream o;
    o << "[";
    for (size_t i = 0; i < s.size(); ++i) o << (i ? ", " : "") << s[i];
    o << "]";
    return o.str();
}

// GGUF dims with size-1 dims after the first dropped, so that e.g. a conv1d weight
// stored as {d_conv, 1, d_inner} compares equal to {d_conv, d_inner}.
std::vector<uint64_t> normalized(std::vector<uint64_t> s) {
    std::vector<uint64_t> out;
    for (size_t i = 0; i < s.size(); ++i)
        if (i == 0 || s[i] != 1) out.push_back(s[i]);
    return out;
}

kernels::WeightType weight_type(gguf::TensorType t) {
    switch (t) {
        case gguf::TensorType::f32: return kernels::WeightType::f32;
        case gguf::TensorType::f16: return kernels::WeightType::f16;
        case gguf::TensorType::bf16: return kernels::WeightType::bf16;
        case gguf::TensorType::q8_0: return kernels::WeightType::q8_0;
    }
    return kernels::WeightType::f32;
}

class Builder {
public:
    Builder(ModelImpl& m) : m_(m) {}

    uint64_t need_uint(const std::string& key, uint64_t min_value, uint64_t max_value) const {
        auto v = m_.file.get_uint(key);
        if (!v) throw Error(ErrorCode::invalid_model, "missing metadata key '" + key + "'");
        if (*v < min_value || *v > max_value)
            throw Error(ErrorCode::invalid_model, "metadata '" + key + "' = " + std::to_string(*v) +
                                                      " is outside [" + std::to_string(min_value) +
                                                      ", " + std::to_string(max_value) + "]");
        return *v;
    }

    const gguf::TensorInfo& tensor(const std::string& name, const std::vector<uint64_t>& shape) {
        const gguf::TensorInfo* t = m_.file.find_tensor(name);
        if (!t) throw Error(ErrorCode::invalid_model, "missing tensor '" + name + "'");
        std::vector<uint64_t> found(t->ne, t->ne + t->n_dims);
        if (normalized(found) != normalized(shape))
            throw Error(ErrorCode::invalid_model, "tensor '" + name + "' has shape " +
                                                      shape_str(found) + ", expected " +
                                                      shape_str(shape) + " (GGUF order)");
        used_.push_back(t);
        return *t;
    }

    // A 1-D or small tensor as contiguous f32, converted (and owned) when stored otherwise.
    // Every value must be finite (see check_finite).
    const float* vec(const std::string& name, const std::vector<uint64_t>& shape) {
        const gguf::TensorInfo& t = tensor(name, shape);
        const float* out = nullptr;
        if (t.type == gguf::TensorType::f32 && reinterpret_cast<uintptr_t>(t.data) % alignof(float) == 0) {
            out = reinterpret_cast<const float*>(t.data);
        } else {
            const int64_t K = int64_t(t.ne[0]), rows = int64_t(t.n_elements / t.ne[0]);
            const size_t rb = gguf::row_bytes(t.type, t.ne[0]);
            std::vector<float>& buf = m_.owned.emplace_back(size_t(t.n_elements));
            // Copy each row to aligned scratch first: the mapped data may be misaligned.
            std::vector<uint8_t> row(rb + 8);
            for (int64_t r = 0; r < rows; ++r) {
                std::memcpy(row.data(), t.data + size_t(r) * rb, rb);
                m_.kernels->dequantize_row(weight_type(t.type), row.data(), buf.data() + r * K, K);
            }
            out = buf.data();
        }
        check_finite(name, out, uint64_t(t.n_elements));
        return out;
    }

    // Norm weights, conv weights and biases, dt bias, A and D enter every token's
    // computation, so one NaN or infinity in them makes every logit NaN from then on: the
    // file is refused here, naming the tensor, rather than failing later in the sampler.
    // These tensors are small (the 7B shape: 0.74 MiB per layer, 47 MiB for 64 layers,
    // against 7 GiB of Q8_0 matrices): the scan takes about 3.4 ms per 16 layers with the
    // file in the page cache (docs/RELIABILITY.md). The matrices are not scanned (that
    // would read the whole model at load); a NaN there shows up as NaN logits, which the
    // sampler refuses (Error(invalid_argument)).
    static void check_finite(const std::string& name, const float* v, uint64_t n) {
        // Tested on the bits (exponent all ones: NaN or infinity), which stays correct
        // under any floating-point optimization flags. The first pass is branch-free so
        // it vectorizes; only a bad tensor gets the second.
        auto bits_of = [v](uint64_t i) {
            uint32_t b;
            std::memcpy(&b, v + i, 4);
            return b;
        };
        uint32_t bad = 0;
        for (uint64_t i = 0; i < n; ++i) bad |= uint32_t((bits_of(i) & 0x7f800000u) == 0x7f800000u);
        if (!bad) return;
        for (uint64_t i = 0; i < n; ++i) {
            const uint32_t b = bits_of(i);
            if ((b & 0x7f800000u) != 0x7f800000u) continue;
            const char* what = (b & 0x007fffffu) ? "NaN" : (b >> 31) ? "-inf" : "+inf";
            throw Error(ErrorCode::invalid_model, "tensor '" + name + "' holds a non-finite value (" +
                                                      what + ") at element " + std::to_string(i) +
                                                      " of " + std::to_string(n));
        }
    }

    // A matrix of `rows` x `cols` (GGUF shape {cols, rows}), viewed in its own type.
    WeightMatrix mat(const std::string& name, uint64_t cols, uint64_t rows) {
        const gguf::TensorInfo& t = tensor(name, {cols, rows});
        WeightMatrix w;
        w.type = weight_type(t.type);
        w.rows = int64_t(rows);
        w.cols = int64_t(cols);
        w.row_bytes = size_t(gguf::row_bytes(t.type, cols));
        w.data = t.data;
        if (reinterpret_cast<uintptr_t>(t.data) % 4 != 0) {  // keep kernels' loads aligned
            std::vector<float>& buf = m_.owned.emplace_back((t.n_bytes + 3) / 4);
            std::memcpy(buf.data(), t.data, t.n_bytes);
            w.data = reinterpret_cast<const uint8_t*>(buf.data());
        }
        return w;
    }

    const std::vector<const gguf::TensorInfo*>& used() const { return used_; }

private:
    ModelImpl& m_;
    std::vector<const gguf::TensorInfo*> used_;
};

uint64_t compute_fingerprint(const ModelImpl& m) {
    using runtime::hash64_combine;
    const HParams& h = m.hp;
    uint64_t fp = runtime::hash64("kaa-model-v1", 12);
    for (int64_t v : {h.n_vocab, h.d_model, h.n_layer, h.d_inner, h.d_state, h.d_conv, h.dt_rank})
        fp = hash64_combine(fp, uint64_t(v));
    uint32_t eps_bits;
    std::memcpy(&eps_bits, &h.rms_eps, 4);
    fp = hash64_combine(fp, eps_bits);
    fp = hash64_combine(fp, (h.dt_b_c_rms ? 1 : 0) | (h.tied_embeddings ? 2 : 0));
    for (const auto& t : m.file.tensors()) {
        fp = hash64_combine(fp, runtime::hash64(t.name.data(), t.name.size()));
        fp = hash64_combine(fp, uint64_t(t.type));
        for (uint32_t d = 0; d < t.n_dims; ++d) fp = hash64_combine(fp, t.ne[d]);
    }
    return fp;
}

}  // namespace

std::shared_ptr<ModelImpl> build_model(gguf::File file, const std::string& path,
                                       const ModelParams& params) {
    auto m = std::make_shared<ModelImpl>(std::move(file));
    m->path = path;
    m->params = params;
    m->kernels = &runtime::select_cpu_kernels();
    auto progress = [&](float f) {
        if (params.progress && !params.progress(f))
            throw Error(ErrorCode::cancelled, "model loading cancelled by the progress callback");
    };
    progress(0.0f);

    const gguf::File& f = m->file;
    m->arch = f.get_string("general.architecture").value_or("");
    if (m->arch.empty())
        throw Error(ErrorCode::invalid_model, "missing metadata key 'general.architecture'");
    if (m->arch != "mamba")
        throw Error(ErrorCode::unsupported, "architecture '" + m->arch +
                                                "' is not supported (kaa runs 'mamba', i.e. Mamba-1 and Falcon-Mamba)");
    m->name = f.get_string("general.name").value_or("");
    if (m->name.empty()) m->name = path.substr(path.find_last_of("/\\") + 1);

    Builder b(*m);
    // Bounds keep every derived size far from overflow; real models are far inside them.
    constexpr uint64_t kMaxDim = 1ull << 20;
    HParams& hp = m->hp;
    hp.d_model = int64_t(b.need_uint("mamba.embedding_length", 1, kMaxDim));
    hp.n_layer = int64_t(b.need_uint("mamba.block_count", 1, 4096));
    hp.d_conv = int64_t(b.need_uint("mamba.ssm.conv_kernel", 1, 64));
    hp.d_inner = int64_t(b.need_uint("mamba.ssm.inner_size", 1, kMaxDim));
    hp.d_state = int64_t(b.need_uint("mamba.ssm.state_size", 1, 1024));
    hp.dt_rank = int64_t(b.need_uint("mamba.ssm.time_step_rank", 1, kMaxDim));
    const double eps = f.get_float("mamba.attention.layer_norm_rms_epsilon").value_or(1e-5);
    if (!(eps > 0.0 && eps < 1.0))
        throw Error(ErrorCode::invalid_model, "mamba.attention.layer_norm_rms_epsilon must be in (0, 1)");
    hp.rms_eps = float(eps);
    hp.dt_b_c_rms = f.get_bool("mamba.ssm.dt_b_c_rms").value_or(false);

    const gguf::TensorInfo* embd = f.find_tensor("token_embd.weight");
    if (!embd) throw Error(ErrorCode::invalid_model, "missing tensor 'token_embd.weight'");
    if (embd->n_dims < 2 || embd->ne[1] > (1u << 31) - 1)
        throw Error(ErrorCode::invalid_model, "tensor 'token_embd.weight' must be 2-D with at most 2^31-1 rows");
    hp.n_vocab = int64_t(embd->ne[1]);

    const uint64_t dm = uint64_t(hp.d_model), di = uint64_t(hp.d_inner), ds = uint64_t(hp.d_state),
                   dc = uint64_t(hp.d_conv), r = uint64_t(hp.dt_rank), nv = uint64_t(hp.n_vocab);
    m->tok_embd = b.mat("token_embd.weight", dm, nv);
    m->output_norm = b.vec("output_norm.weight", {dm});
    hp.tied_embeddings = f.find_tensor("output.weight") == nullptr;
    m->output = hp.tied_embeddings ? m->tok_embd : b.mat("output.weight", dm, nv);

    m->layers.resize(size_t(hp.n_layer));
    for (int64_t l = 0; l < hp.n_layer; ++l) {
        const std::string p = "blk." + std::to_string(l) + ".";
        LayerWeights& L = m->layers[size_t(l)];
        L.attn_norm = b.vec(p + "attn_norm.weight", {dm});
        L.ssm_in = b.mat(p + "ssm_in.weight", dm, 2 * di);
        L.conv_w = b.vec(p + "ssm_conv1d.weight", {dc, di});
        L.conv_b = b.vec(p + "ssm_conv1d.bias", {di});
        L.ssm_x = b.mat(p + "ssm_x.weight", di, r + 2 * ds);
        L.ssm_dt = b.mat(p + "ssm_dt.weight", r, di);
        L.dt_bias = b.vec(p + "ssm_dt.bias", {di});
        L.A = b.vec(p + "ssm_a", {ds, di});
        L.D = b.vec(p + "ssm_d", {di});
        L.ssm_out = b.mat(p + "ssm_out.weight", di, dm);
        progress(0.9f * float(l + 1) / float(hp.n_layer));
    }

    // Every tensor in the file must be one the model uses: an unknown one means the
    // file is for a variant kaa does not implement, and running it would be wrong.
    if (b.used().size() != f.tensors().size()) {
        for (const auto& t : f.tensors()) {
            bool known = std::any_of(b.used().begin(), b.used().end(),
                                     [&](const gguf::TensorInfo* u) { return u == &t; });
            if (!known)
                throw Error(ErrorCode::invalid_model, "unexpected tensor '" + t.name +
                                                          "' (not part of a Mamba-1 model)");
        }
    }

    uint64_t bytes = 0;
    for (const auto& t : f.tensors())
        if (t.name != "token_embd.weight" || hp.tied_embeddings) bytes += t.n_bytes;
    m->weight_bytes = bytes;
    m->fingerprint = compute_fingerprint(*m);

    if (f.find("tokenizer.ggml.model")) {
        m->tokenizer = std::make_unique<Tokenizer>(load_tokenizer(f));
        if (m->tokenizer->n_vocab() > hp.n_vocab)
            throw Error(ErrorCode::invalid_model,
                        "the tokenizer has " + std::to_string(m->tokenizer->n_vocab()) +
                            " tokens but token_embd.weight only " + std::to_string(hp.n_vocab) + " rows");
    }
    relayout_weights(*m, progress, 0.9f, 1.0f);
    progress(1.0f);
    return m;
}

}  // namespace kaa::detail
