// make_corpus.cpp — writes the seed corpora of the fuzz targets (tests/fuzz/corpus/).
//
//   fuzz_make_corpus OUT_DIR      (tests/fuzz/make_corpus.sh runs it)
//
// Seeds are small valid (and a few nearly valid) inputs in each target's input format,
// built with the project's own writer and synthetic models, so the fuzzer starts from
// deep inside the parsers rather than from random bytes. Output is deterministic.
#include <cstring>
#include <filesystem>

#include "fuzz_support.hpp"
#include "gguf/gguf.hpp"
#include "gguf/synth.hpp"
#include "gguf/writer.hpp"
#include "kaa/conversation.hpp"
#include "kaa/session.hpp"

using namespace kaa::gguf;
namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

namespace {

fs::path g_out;
size_t g_files = 0, g_bytes = 0;

void emit(const std::string& target, const std::string& name, const Bytes& b) {
    const fs::path dir = g_out / target;
    fs::create_directories(dir);
    kaa::fuzz::write_file((dir / name).string(), b.data(), b.size());
    ++g_files;
    g_bytes += b.size();
}

Bytes str_bytes(std::string_view s) { return Bytes(s.begin(), s.end()); }

Bytes cat(uint8_t head, std::string_view s) {
    Bytes b{head};
    b.insert(b.end(), s.begin(), s.end());
    return b;
}

// ---- gguf ---------------------------------------------------------------------------

Writer all_types_writer() {
    Writer w;
    w.set_string("general.architecture", "mamba");
    w.set_string("general.name", "corpus");
    w.set_u8("t.u8", 200);
    w.set_i8("t.i8", -100);
    w.set_u16("t.u16", 60000);
    w.set_i16("t.i16", -30000);
    w.set_u32("t.u32", 4000000000u);
    w.set_i32("t.i32", -2000000000);
    w.set_u64("t.u64", 1ull << 60);
    w.set_i64("t.i64", -(1ll << 60));
    w.set_f32("t.f32", 1e-5f);
    w.set_f64("t.f64", -2.5);
    w.set_bool("t.bool", true);
    w.set_string("t.str", "h\xc3\xa9llo");
    w.set_array("t.arr_i32", std::vector<int32_t>{1, -2, 3});
    w.set_array("t.arr_f32", std::vector<float>{0.5f, -1.0f});
    w.set_array("t.arr_u8", std::vector<uint8_t>{});
    w.set_string_array("t.arr_str", {"a", "", "c d"});
    // An array of two arrays of one i32 each, written by hand (the Writer has no helper).
    Bytes nested;
    auto put32 = [&](uint32_t v) { nested.insert(nested.end(), reinterpret_cast<uint8_t*>(&v), reinterpret_cast<uint8_t*>(&v) + 4); };
    auto put64 = [&](uint64_t v) { nested.insert(nested.end(), reinterpret_cast<uint8_t*>(&v), reinterpret_cast<uint8_t*>(&v) + 8); };
    put32(uint32_t(ValueType::array));
    put64(2);
    for (int i = 0; i < 2; ++i) {
        put32(uint32_t(ValueType::i32));
        put64(1);
        put32(uint32_t(7 + i));
    }
    w.set_encoded("t.nested", ValueType::array, nested);
    w.add_tensor("t.f32", TensorType::f32, {4, 2}, Bytes(32, 0x3f));
    w.add_tensor("t.f16", TensorType::f16, {3}, Bytes(6, 0x3c));
    w.add_tensor("t.bf16", TensorType::bf16, {2, 1, 1, 2}, Bytes(8, 0x3f));
    w.add_tensor("t.q8_0", TensorType::q8_0, {32, 2}, Bytes(68, 1));
    return w;
}

SynthSpec small_model(TensorType type, bool tied, bool byte_vocab) {
    SynthSpec s;
    s.d_model = type == TensorType::q8_0 ? 32 : 8;
    s.n_layer = 1;
    s.d_inner = 16;
    s.d_state = 2;
    s.d_conv = 2;
    s.dt_rank = 1;
    s.n_vocab = 16;
    s.tied = tied;
    s.type = type;
    s.byte_vocab = byte_vocab;
    s.n_threads = 1;
    s.seed = 3;
    return s;
}

void gguf_corpus() {
    const Bytes all = all_types_writer().to_bytes();
    emit("gguf", "all-types.gguf", all);
    emit("gguf", "all-types-truncated.gguf", Bytes(all.begin(), all.begin() + std::ptrdiff_t(all.size() / 2)));
    Writer empty;
    const Bytes e = empty.to_bytes();
    emit("gguf", "empty.gguf", e);
    Bytes v2 = e;
    const uint32_t two = 2;
    std::memcpy(v2.data() + 4, &two, 4);
    emit("gguf", "empty-v2.gguf", v2);
    Writer aligned;
    aligned.set_alignment(64);
    aligned.add_tensor("a", TensorType::f32, {3}, Bytes(12, 0));
    aligned.add_tensor("b", TensorType::f16, {5}, Bytes(10, 0));
    emit("gguf", "alignment-64.gguf", aligned.to_bytes());
    emit("gguf", "model-f32.gguf", synth_model_bytes(small_model(TensorType::f32, true, false)));
}

// ---- model_load ----------------------------------------------------------------------

void model_corpus() {
    emit("model_load", "f32-tied.gguf", synth_model_bytes(small_model(TensorType::f32, true, false)));
    SynthSpec plain = small_model(TensorType::f16, false, false);
    plain.dt_b_c_rms = false;  // plain Mamba-1
    plain.n_layer = 2;
    emit("model_load", "f16-untied-mamba.gguf", synth_model_bytes(plain));
    emit("model_load", "bf16-tied.gguf", synth_model_bytes(small_model(TensorType::bf16, true, false)));
    emit("model_load", "q8_0-untied.gguf", synth_model_bytes(small_model(TensorType::q8_0, false, false)));
    emit("model_load", "f32-byte-vocab.gguf", synth_model_bytes(small_model(TensorType::f32, true, true)));
    SynthSpec conv1 = small_model(TensorType::f32, true, false);
    conv1.d_conv = 1;  // no conv history at all
    emit("model_load", "f32-d_conv-1.gguf", synth_model_bytes(conv1));
}

// ---- tokenizer -----------------------------------------------------------------------

const std::vector<std::string>& sample_texts() {
    static const std::vector<std::string> t = {
        "Hello how are you?",
        "The quick brown fox's 1234567 jumps; I'm sure we'll see they've DONE it!!",
        "def f(x):\n    return x**2  # square\n\n\tprint(f(3))\r\n",
        "Gr\xc3\xbc\xc3\x9f" "e, \xe4\xb8\x96\xe7\x95\x8c! \xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82 "
        "\xf0\x9f\x99\x82 \xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7 e\xcc\x81",
        "   leading, trailing   \n\n\n  and   runs\t\t of   space  ",
        "<|endoftext|>>>TITLE<<<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
        "\xff\xfe\xc0\x80 \xed\xa0\x80 \xf4\x90\x80\x80 \xe2\x82",
        "3.14159 1,000,000 2024-01-01 0x1F 42nd 1e-5",
        std::string(200, 'a') + " " + std::string(64, '!'),
        std::string("\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x7f", 17),
        "\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x92\xbb \xf0\x9f\x87\xab\xf0\x9f\x87\xb7",
        "It's 'quoted' and \"double\" -- with -- dashes... ok?",
    };
    return t;
}

void tokenizer_corpus() {
    const auto& texts = sample_texts();
    // Flags: bits 0-2 tokenizer variant, 8 parse_special, 16 add_bos.
    const uint8_t variants[] = {0, 1, 2, 3, 4, 5};
    for (size_t i = 0; i < texts.size(); ++i) {
        const uint8_t v = variants[i % 6];
        emit("tokenizer", "encode-" + std::to_string(i), cat(v, texts[i]));
        emit("tokenizer", "encode-special-" + std::to_string(i), cat(uint8_t(((v + 3) % 6) | 8 | 16), texts[i]));
    }
    // Decode mode (32): u16 ids mapped onto [-1, n_vocab]; raw int32 ids (128).
    Bytes ids{32};
    for (uint32_t k = 0; k < 64; ++k) {
        const uint32_t v = k * 977 + 1;
        ids.push_back(uint8_t(v));
        ids.push_back(uint8_t(v >> 8));
    }
    emit("tokenizer", "decode-u16", ids);
    ids[0] = 32 | 64 | 3;  // skip_special, Falcon vocabulary
    emit("tokenizer", "decode-u16-skip-falcon", ids);
    Bytes raw{32 | 128};
    for (int32_t v : {0, 1, 255, 256, 270, -1, 65023, 65024, 2147483647}) {
        raw.insert(raw.end(), reinterpret_cast<uint8_t*>(&v), reinterpret_cast<uint8_t*>(&v) + 4);
    }
    emit("tokenizer", "decode-raw", raw);
}

// ---- chat_template -------------------------------------------------------------------

const std::vector<std::string>& sample_templates() {
    static const std::vector<std::string> t = {
        // ChatML
        "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
        "'<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
        // system prompt folded into the first user turn, alternation enforced
        "{% if messages[0]['role'] == 'system' %}{% set rest = messages[1:] %}{% set sys = messages[0]['content'] %}"
        "{% else %}{% set rest = messages %}{% set sys = false %}{% endif %}{% for m in rest %}"
        "{% if (m['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('roles must alternate') }}"
        "{% endif %}{% if loop.first and sys %}{% set c = '<<SYS>>\\n' + sys + '\\n<</SYS>>\\n\\n' + m['content'] %}"
        "{% else %}{% set c = m['content'] %}{% endif %}{% if m['role'] == 'user' %}"
        "{{ bos_token + '[INST] ' + c.strip() + ' [/INST]' }}{% else %}{{ ' ' + c.strip() + ' ' + eos_token }}"
        "{% endif %}{% endfor %}",
        // whitespace control, trim_blocks / lstrip_blocks sensitive layout
        "{%- for message in messages %}\n    {%- if message.role == 'user' %}\n<|user|>\n{{ message.content | trim }}"
        "{{ eos_token }}\n    {%- elif message.role == 'system' -%}\n<|system|>\n{{ message.content }}\n"
        "    {%- endif %}\n{%- endfor %}\n{% if add_generation_prompt %}<|assistant|>{% endif %}",
        // namespaces, loop variables, break/continue, filters
        "{% set ns = namespace(n=0, last='') %}{% for m in messages if m.content %}{% if loop.index > 8 %}"
        "{% break %}{% endif %}{% if m.role == 'tool' %}{% continue %}{% endif %}{% set ns.n = ns.n + 1 %}"
        "{% set ns.last = m.role %}{{ loop.index }}/{{ loop.length }} {{ m.role | upper }}: "
        "{{ m.content | replace('\\n', ' ') | title }}{{ '' if loop.last else '\\n' }}{% endfor %}"
        "[{{ ns.n }} {{ ns.last }}]{{ messages | map(attribute='role') | join(',') }}",
        // expressions and values
        "{{ (1 + 2) * 3 // 2 % 5 }}|{{ 2 ** 8 }}|{{ 'a' ~ 1 ~ none }}|{{ [1, 2, 3][1:] }}|{{ 'hello'[::-1] }}|"
        "{{ {'a': 1, 'b': [2, 'x']} | tojson }}|{{ x is defined }}|{{ 3 in [1, 2, 3] }}|{{ 1 < 2 < 3 }}|"
        "{{ 'yes' if messages else 'no' }}|{{ messages | length }}|{{ range(3) | list }}|{{ '42' | int + 1 }}|"
        "{{ 7 / 2 }}|{{ -7 // 2 }}|{{ 1e300 * 1e300 }}|{% for k, v in {'p': 1, 'q': 2}.items() %}{{ k }}{{ v }}{% endfor %}",
        // set blocks, comments, string methods, for-else, tests
        "{# a comment #}{% set head %}[{{ bos_token }}]{% endset %}{{ head }}{% for m in messages %}"
        "{{ m['content'].split(' ') | first }}{{ m['content'].startswith('H') }}{{ m['role'] is string }}"
        "{% else %}(none){% endfor %}{{ messages[-1]['content'] if messages }}{{ 10 is divisibleby 5 }}"
        "{{ messages | selectattr('role', 'equalto', 'user') | list | length }}",
        // a construct kaa refuses (macro) and a broken tag
        "{% macro m(x) %}{{ x }}{% endmacro %}{{ m(1) }}",
        "{% for m in messages %}{{ m.content }",
    };
    return t;
}

Bytes template_input(uint8_t flags, const std::string& tmpl, const std::vector<std::string>& parts) {
    Bytes b = cat(flags, tmpl);
    for (const std::string& p : parts) {
        b.push_back(0);
        b.insert(b.end(), p.begin(), p.end());
    }
    return b;
}

const std::vector<std::string> kMessages = {"<s>", "</s>", "system", "Be brief.", "user", "Hi there",
                                            "assistant", "Hello! How can I help?", "user", "Bye\n"};

void chat_corpus() {
    const auto& t = sample_templates();
    for (size_t i = 0; i < t.size(); ++i) {
        emit("chat_template", "template-" + std::to_string(i), template_input(1, t[i], kMessages));
        // no system message, other flags (trim/lstrip off, small output limit)
        const std::vector<std::string> two = {"", "", "user", "Hello", "assistant", "Hi"};
        emit("chat_template", "template-" + std::to_string(i) + "-alt", template_input(uint8_t(2 + 4 * (i % 3)), t[i], two));
    }
}

// ---- state ---------------------------------------------------------------------------

Bytes state_after(const kaa::Model& m, const std::vector<kaa::Token>& tokens, const std::string& user) {
    kaa::SessionParams sp;
    sp.n_threads = 1;
    kaa::Session s(m, sp);
    if (!tokens.empty()) s.eval(tokens);
    kaa::State st = s.state();
    st.set_user_data(user);
    return st.serialize();
}

Bytes prefixed(uint8_t flags, const Bytes& b) {
    Bytes out{flags};
    out.insert(out.end(), b.begin(), b.end());
    return out;
}

void state_corpus(const kaa::Model& f32, const kaa::Model& q8) {
    const std::vector<kaa::Token> prompt = {72, 101, 108, 108, 111};
    emit("state", "raw-f32-fresh", prefixed(0, state_after(f32, {}, "")));
    emit("state", "raw-f32-after-prompt", prefixed(0, state_after(f32, prompt, "chat history")));
    emit("state", "raw-q8_0-after-prompt", prefixed(4, state_after(q8, prompt, "")));
    Bytes corrupt = state_after(f32, prompt, "");
    corrupt[100] ^= 0x40;  // a payload float changed: the checksum catches it
    emit("state", "raw-f32-corrupt", prefixed(0, corrupt));
    emit("state", "sealed-f32-corrupt", prefixed(2, corrupt));
    Bytes build(8, 0);  // position 0, then payload floats, then user data
    build[0] = 5;
    for (int i = 0; i < 64; ++i) {
        const float v = float(i) * 0.25f - 4.0f;
        build.insert(build.end(), reinterpret_cast<const uint8_t*>(&v), reinterpret_cast<const uint8_t*>(&v) + 4);
    }
    emit("state", "build-f32", prefixed(1, build));
    emit("state", "build-q8_0", prefixed(1 | 4, build));
}

// ---- c_api ---------------------------------------------------------------------------

Bytes op(uint8_t which, uint8_t cap, const Bytes& rest) {
    Bytes b{which, cap};
    b.insert(b.end(), rest.begin(), rest.end());
    return b;
}

void c_api_corpus(const kaa::Model& q8) {
    const auto& t = sample_templates();
    Bytes msgs = str_bytes(t[0]);
    for (const char* p : {"system", "Be brief.", "user", "Hi"}) {
        msgs.push_back(0);
        msgs.insert(msgs.end(), p, p + std::strlen(p));
    }
    emit("c_api", "template-fits", op(0, 255, msgs));
    emit("c_api", "template-small-buffer", op(0, 7, msgs));
    emit("c_api", "template-broken", op(0, 129, str_bytes(t.back())));
    emit("c_api", "tokenize-plain", op(1, 254, cat(0, sample_texts()[1])));
    emit("c_api", "tokenize-special-falcon", op(1, 3, cat(2 | 4, sample_texts()[5])));
    emit("c_api", "tokenize-bos-unicode", op(1, 128, cat(1, sample_texts()[3])));
    Bytes ids{0};
    for (uint32_t k = 0; k < 40; ++k) {
        const uint32_t v = k * 131 + 7;
        ids.push_back(uint8_t(v));
        ids.push_back(uint8_t(v >> 8));
    }
    emit("c_api", "detokenize", op(2, 255, ids));
    ids[0] = 1 | 4;
    emit("c_api", "detokenize-skip-falcon", op(2, 2, ids));
    emit("c_api", "state", op(3, 255, state_after(q8, {72, 105}, "")));
    emit("c_api", "state-small-buffer", op(3, 40, state_after(q8, {}, "u")));

    kaa::SessionParams sp;
    sp.n_threads = 1;
    kaa::Session s(q8, sp);
    kaa::Conversation conv(s);
    conv.add({"system", "Be brief."});
    kaa::GenerationOptions g;
    g.max_tokens = 3;
    g.sampler.temperature = 0;
    conv.reply("Hi", g);
    emit("c_api", "conversation", op(4, 255, str_bytes(conv.serialize())));
    emit("c_api", "conversation-small-buffer", op(4, 10, str_bytes(conv.serialize())));

    for (const char* key : {"general.architecture", "tokenizer.ggml.tokens", "mamba.ssm.conv_kernel", "missing"}) {
        Bytes k = str_bytes(key);
        k.push_back(0);
        k.push_back(3);  // meta_key index
        emit("c_api", std::string("meta-") + key, op(5, 129, k));
    }

    // Sampler: temperature, top_k, top_p, min_p, typical_p, repeat/presence/frequency
    // penalties, penalty_last_n, seed, two logit biases, n_logit_bias, logits.
    Bytes sp_bytes;
    auto f = [&](float v) { sp_bytes.insert(sp_bytes.end(), reinterpret_cast<uint8_t*>(&v), reinterpret_cast<uint8_t*>(&v) + 4); };
    auto u = [&](uint32_t v) { sp_bytes.insert(sp_bytes.end(), reinterpret_cast<uint8_t*>(&v), reinterpret_cast<uint8_t*>(&v) + 4); };
    f(0.8f); u(40); f(0.95f); f(0.05f); f(1.0f); f(1.1f); f(0.1f); f(0.1f); u(65); u(1234);
    u(10); f(2.0f); u(20); f(-1.0f);
    sp_bytes.push_back(2);
    for (int i = 0; i < 300; ++i) f(float((i * 37) % 101) * 0.05f);
    emit("c_api", "sampler", op(6, 0, sp_bytes));
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
        return 2;
    }
    g_out = argv[1];
    const kaa::Model f32 = kaa::fuzz::load_tiny_model(TensorType::f32);
    const kaa::Model q8 = kaa::fuzz::load_tiny_model(TensorType::q8_0);
    gguf_corpus();
    model_corpus();
    tokenizer_corpus();
    chat_corpus();
    state_corpus(f32, q8);
    c_api_corpus(q8);
    std::printf("wrote %zu files, %zu bytes, under %s\n", g_files, g_bytes, g_out.c_str());
    return 0;
}
