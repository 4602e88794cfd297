#include "gguf/synth.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <optional>
#include <thread>

#include "gguf/quantize.hpp"
#include "kaa/error.hpp"

namespace kaa::gguf {

namespace {

using Sink = std::function<void(const void*, uint64_t)>;

[[noreturn]] void bad_spec(const std::string& msg) {
    throw Error(ErrorCode::invalid_argument, "synthetic model: " + msg);
}

bool ends_with(const std::string& s, const char* suffix) {
    const size_t n = std::char_traits<char>::length(suffix);
    return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

// splitmix64: tiny, fast, and good enough for weights that only need to look random.
inline uint64_t splitmix(uint64_t& s) {
    s += 0x9E3779B97F4A7C15ull;
    uint64_t z = s;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t hash_name(const std::string& s) {
    uint64_t h = 1469598103934665603ull;  // FNV-1a
    for (unsigned char ch : s) h = (h ^ ch) * 1099511628211ull;
    return h;
}

// How a tensor's values are drawn. Scales follow the usual Mamba initialisation so that
// the residual stream and the scan stay bounded over long sequences.
enum class Kind { embedding, matrix, norm, conv_weight, small_bias, dt_bias, ssm_a, ssm_d };

Kind kind_of(const std::string& name) {
    if (name == "token_embd.weight") return Kind::embedding;
    if (ends_with(name, "norm.weight")) return Kind::norm;
    if (ends_with(name, ".ssm_conv1d.weight")) return Kind::conv_weight;
    if (ends_with(name, ".ssm_conv1d.bias")) return Kind::small_bias;
    if (ends_with(name, ".ssm_dt.bias")) return Kind::dt_bias;
    if (ends_with(name, ".ssm_a")) return Kind::ssm_a;
    if (ends_with(name, ".ssm_d")) return Kind::ssm_d;
    return Kind::matrix;
}

// Fills one row (ne0 values) of a tensor. Each row has its own random stream, seeded by
// (seed, tensor name, row), so rows can be generated in any order on any thread.
void fill_row(Kind kind, uint64_t seed, uint64_t name_hash, uint64_t row, float* out,
              uint64_t ne0) {
    uint64_t s = seed * 0xD1B54A32D192ED03ull ^ name_hash ^ (row * 0x8CB92BA72F3D8DD7ull);
    splitmix(s);
    uint64_t bits = 0;
    bool have = false;
    // Uniform in (-1, 1) with 24 random bits; two per 64-bit draw.
    auto uni = [&]() {
        if (!have) bits = splitmix(s);
        const uint32_t r = uint32_t(bits & 0xFFFFFFu);
        bits >>= 32;
        have = !have;
        return (float(r) - 8388607.5f) * (1.0f / 8388608.0f);
    };
    const float sqrt3 = 1.7320508f;  // uniform(-a, a) has std a / sqrt(3)
    switch (kind) {
        case Kind::embedding:
            for (uint64_t i = 0; i < ne0; ++i) out[i] = sqrt3 * uni();
            break;
        case Kind::matrix:
        case Kind::conv_weight: {
            // Std 1/sqrt(fan_in); ne0 is the fan-in (rows are dot products with inputs).
            const float a = sqrt3 / std::sqrt(float(ne0));
            for (uint64_t i = 0; i < ne0; ++i) out[i] = a * uni();
            break;
        }
        case Kind::norm:
        case Kind::ssm_d:
            for (uint64_t i = 0; i < ne0; ++i) out[i] = 1.0f + 0.1f * uni();
            break;
        case Kind::small_bias:
            for (uint64_t i = 0; i < ne0; ++i) out[i] = 0.1f * uni();
            break;
        case Kind::dt_bias: {
            // dt = softplus(bias) log-uniform in [1e-3, 1e-1]: bias = dt + log(1 - e^-dt).
            const float lo = std::log(1e-3f), hi = std::log(1e-1f);
            for (uint64_t i = 0; i < ne0; ++i) {
                const float dt = std::exp(lo + (hi - lo) * 0.5f * (uni() + 1.0f));
                out[i] = dt + std::log(-std::expm1(-dt));
            }
            break;
        }
        case Kind::ssm_a:
            // The S4D-real pattern A[c, s] = -(s + 1), jittered by up to e^{+-0.25}.
            for (uint64_t i = 0; i < ne0; ++i)
                out[i] = -float(i + 1) * std::exp(0.25f * uni());
            break;
    }
}

// Generates, encodes and emits the data of one tensor, in chunks of a few MiB whose rows
// are spread over threads.
void emit_tensor(const SynthSpec& spec, const Writer::Tensor& t, const Sink& sink) {
    const uint64_t ne0 = t.ne[0];
    const uint64_t rows = t.n_bytes / row_bytes(t.type, ne0);
    const uint64_t rb = row_bytes(t.type, ne0);
    const Kind kind = kind_of(t.name);
    const uint64_t name_hash = hash_name(t.name);
    const uint64_t chunk_rows =
        std::max<uint64_t>(1, (uint64_t(8) << 20) / std::max<uint64_t>(rb, ne0 * 4));
    unsigned n_threads = spec.n_threads > 0 ? unsigned(spec.n_threads)
                                            : std::max(1u, std::thread::hardware_concurrency());
    n_threads = std::min(n_threads, 64u);

    std::vector<uint8_t> buf(size_t(std::min(rows, chunk_rows) * rb));
    for (uint64_t r0 = 0; r0 < rows; r0 += chunk_rows) {
        const uint64_t n = std::min(chunk_rows, rows - r0);
        auto work = [&](uint64_t a, uint64_t b) {
            std::vector<float> row(static_cast<size_t>(ne0));
            for (uint64_t r = a; r < b; ++r) {
                fill_row(kind, spec.seed, name_hash, r0 + r, row.data(), ne0);
                encode_row(t.type, row.data(), buf.data() + r * rb, int64_t(ne0));
            }
        };
        const unsigned nt = unsigned(std::min<uint64_t>(n_threads, n * ne0 / 65536 + 1));
        if (nt <= 1) {
            work(0, n);
        } else {
            std::vector<std::thread> pool;
            pool.reserve(nt - 1);
            for (unsigned i = 1; i < nt; ++i)
                pool.emplace_back(work, n * i / nt, n * (i + 1) / nt);
            work(0, n / nt);
            for (auto& th : pool) th.join();
        }
        sink(buf.data(), n * rb);
    }
}

void check_dim(int64_t v, const char* what, int64_t max) {
    if (v < 1 || v > max)
        bad_spec(std::string(what) + " = " + std::to_string(v) + " is outside [1, " +
                 std::to_string(max) + "]");
}

}  // namespace

SynthSpec falcon_mamba_7b_shape(SynthSpec base) {
    base.d_model = 4096;
    base.d_inner = 8192;
    base.d_state = 16;
    base.d_conv = 4;
    base.dt_rank = 256;
    base.n_vocab = 65024;
    base.tied = false;
    base.dt_b_c_rms = true;
    return base;
}

TensorType tensor_type_for(const SynthSpec& spec, const std::string& name, uint64_t ne0) {
    const bool matrix = name == "token_embd.weight" || name == "output.weight" ||
                        ends_with(name, ".ssm_in.weight") || ends_with(name, ".ssm_x.weight") ||
                        ends_with(name, ".ssm_dt.weight") || ends_with(name, ".ssm_out.weight");
    if (!matrix) return TensorType::f32;
    if (spec.type == TensorType::q8_0 && ne0 % kQ8_0BlockSize != 0) return TensorType::f16;
    return spec.type;
}

uint32_t file_type_for(TensorType type) {
    switch (type) {
        case TensorType::f32: return 0;
        case TensorType::f16: return 1;
        case TensorType::q8_0: return 7;
        case TensorType::bf16: return 32;
    }
    return 0;
}

// GPT-2's byte-to-unicode mapping: printable Latin-1 bytes stand for themselves, the
// others are shifted to code points 256, 257, ... in byte order. Returns UTF-8.
std::string byte_token_text(unsigned b) {
    const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174);
    unsigned cp = b;
    if (!printable) {
        unsigned n = 0;
        for (unsigned x = 0; x < b; ++x)
            if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174))) ++n;
        cp = 256 + n;
    }
    std::string out;
    if (cp < 0x80) out += char(cp);
    else {
        out += char(0xC0 | (cp >> 6));
        out += char(0x80 | (cp & 0x3F));
    }
    return out;
}

// A small byte-level BPE vocabulary: the 256 bytes, a few English merges, an eos.
void add_byte_vocab(Writer& w, int64_t& n_vocab) {
    std::vector<std::string> tokens;
    std::vector<int32_t> types;
    for (unsigned b = 0; b < 256; ++b) {
        tokens.push_back(byte_token_text(b));
        types.push_back(1);
    }
    const std::string sp = byte_token_text(' ');  // "Ġ"
    const std::vector<std::pair<std::string, std::string>> merges = {
        {sp, "t"}, {"h", "e"}, {"i", "n"}, {sp, "a"}, {"e", "r"}, {"o", "n"}, {sp + "t", "he"},
        {"r", "e"}, {sp, "s"}, {"a", "t"}, {"o", "u"}, {sp, "w"}, {"n", "d"}, {sp, "o"},
    };
    std::vector<std::string> merge_text;
    for (const auto& m : merges) {
        merge_text.push_back(m.first + " " + m.second);
        tokens.push_back(m.first + m.second);
        types.push_back(1);
    }
    tokens.emplace_back("<|endoftext|>");
    types.push_back(3);
    n_vocab = int64_t(tokens.size());
    w.set_string("tokenizer.ggml.model", "gpt2");
    w.set_string("tokenizer.ggml.pre", "default");
    w.set_string_array("tokenizer.ggml.tokens", tokens);
    w.set_array("tokenizer.ggml.token_type", types);
    w.set_string_array("tokenizer.ggml.merges", merge_text);
    w.set_u32("tokenizer.ggml.eos_token_id", uint32_t(n_vocab - 1));
    w.set_u32("tokenizer.ggml.bos_token_id", uint32_t(n_vocab - 1));
    w.set_string("tokenizer.chat_template",
                 "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
                 "'<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}");
}

Writer synth_layout(const SynthSpec& spec) {
    constexpr int64_t kMaxDim = int64_t(1) << 20;
    check_dim(spec.d_model, "d_model", kMaxDim);
    check_dim(spec.n_layer, "n_layer", 4096);
    check_dim(spec.d_inner, "d_inner", kMaxDim);
    check_dim(spec.d_state, "d_state", 4096);
    check_dim(spec.d_conv, "d_conv", 64);
    check_dim(spec.dt_rank, "dt_rank", kMaxDim);
    if (!is_supported_type(uint32_t(spec.type))) bad_spec("unknown tensor type");

    Writer w;
    std::vector<const Value*> tokenizer_values;
    std::vector<std::string> tokenizer_keys;
    std::optional<File> vocab;  // keeps the values' bytes alive until they are copied
    int64_t n_vocab = spec.n_vocab;
    if (!spec.vocab_from.empty()) {
        vocab = File::open(spec.vocab_from);
        const Value* tokens = vocab->find("tokenizer.ggml.tokens");
        if (!tokens || tokens->type != ValueType::array || tokens->elem_type != ValueType::string)
            bad_spec("'" + spec.vocab_from + "' has no tokenizer.ggml.tokens string array");
        n_vocab = int64_t(tokens->count);
        for (const std::string& k : vocab->keys())
            if (k.compare(0, 10, "tokenizer.") == 0) {
                tokenizer_keys.push_back(k);
                tokenizer_values.push_back(vocab->find(k));
            }
    }
    check_dim(n_vocab, "n_vocab", int64_t(1) << 24);

    const uint32_t ftype = file_type_for(spec.type);
    w.set_string("general.architecture", "mamba");
    w.set_string("general.name", spec.name.empty() ? "synthetic-mamba" : spec.name);
    w.set_u32("mamba.context_length", 1048576);
    w.set_u32("mamba.embedding_length", uint32_t(spec.d_model));
    w.set_u32("mamba.feed_forward_length", 0);
    w.set_u32("mamba.attention.head_count", 0);
    w.set_u32("mamba.block_count", uint32_t(spec.n_layer));
    w.set_u32("mamba.ssm.conv_kernel", uint32_t(spec.d_conv));
    w.set_u32("mamba.ssm.inner_size", uint32_t(spec.d_inner));
    w.set_u32("mamba.ssm.state_size", uint32_t(spec.d_state));
    w.set_u32("mamba.ssm.time_step_rank", uint32_t(spec.dt_rank));
    w.set_f32("mamba.attention.layer_norm_rms_epsilon", 1e-5f);
    w.set_bool("mamba.ssm.dt_b_c_rms", spec.dt_b_c_rms);
    w.set_u32("general.file_type", ftype);
    w.set_u32("general.quantization_version", 2);
    if (spec.vocab_from.empty() && spec.byte_vocab) {
        add_byte_vocab(w, n_vocab);
    } else if (spec.vocab_from.empty()) {
        std::vector<std::string> tokens(static_cast<size_t>(n_vocab));
        for (int64_t i = 0; i < n_vocab; ++i) tokens[size_t(i)] = "<" + std::to_string(i) + ">";
        w.set_string_array("tokenizer.ggml.tokens", tokens);
    } else {
        for (size_t i = 0; i < tokenizer_keys.size(); ++i)
            w.set_value(tokenizer_keys[i], *tokenizer_values[i]);
    }

    const uint64_t dm = uint64_t(spec.d_model), di = uint64_t(spec.d_inner);
    const uint64_t ds = uint64_t(spec.d_state), dc = uint64_t(spec.d_conv);
    const uint64_t dr = uint64_t(spec.dt_rank), nv = uint64_t(n_vocab);
    auto add = [&](const std::string& name, std::vector<uint64_t> ne) {
        w.declare_tensor(name, tensor_type_for(spec, name, ne[0]), ne);
    };
    add("token_embd.weight", {dm, nv});
    for (int64_t l = 0; l < spec.n_layer; ++l) {
        const std::string p = "blk." + std::to_string(l) + ".";
        add(p + "attn_norm.weight", {dm});
        add(p + "ssm_in.weight", {dm, 2 * di});
        add(p + "ssm_conv1d.weight", {dc, di});
        add(p + "ssm_conv1d.bias", {di});
        add(p + "ssm_x.weight", {di, dr + 2 * ds});
        add(p + "ssm_dt.weight", {dr, di});
        add(p + "ssm_dt.bias", {di});
        add(p + "ssm_a", {ds, di});
        add(p + "ssm_d", {di});
        add(p + "ssm_out.weight", {di, dm});
    }
    add("output_norm.weight", {dm});
    if (!spec.tied) add("output.weight", {dm, nv});
    return w;
}

std::vector<uint8_t> synth_model_bytes(const SynthSpec& spec) {
    const Writer w = synth_layout(spec);
    std::vector<uint8_t> out = w.header_bytes();
    out.reserve(size_t(w.file_size()));
    const uint64_t base = out.size();
    for (const Writer::Tensor& t : w.tensors()) {
        out.resize(size_t(base + t.offset), 0);  // alignment padding
        emit_tensor(spec, t, [&](const void* p, uint64_t n) {
            const auto* b = static_cast<const uint8_t*>(p);
            out.insert(out.end(), b, b + n);
        });
    }
    return out;
}

void write_synth_model(const SynthSpec& spec, const std::string& path) {
    const Writer w = synth_layout(spec);
    StreamWriter sw(w, path);
    for (const Writer::Tensor& t : w.tensors())
        emit_tensor(spec, t, [&](const void* p, uint64_t n) { sw.write(p, n); });
    sw.finish();
}

}  // namespace kaa::gguf
