// c_api_model.cpp — C ABI: models, tokenizers, stream decoders, chat templates.
#include <memory>

#include "c_api.hpp"

using namespace kaa::capi;

namespace {

kaa::ModelParams to_model_params(const kaa_model_params* p) {
    kaa::ModelParams out;
    if (!p) return out;
    check_struct_size(p->struct_size, KAA_V1_SIZE(kaa_model_params, precision), "kaa_model_params");
    kaa_model_params in = kaa_model_default_params();
    KAA_READ_FIELD(kaa_model_params, in, p, n_threads);
    KAA_READ_FIELD(kaa_model_params, in, p, use_mmap);
    KAA_READ_FIELD(kaa_model_params, in, p, progress);
    KAA_READ_FIELD(kaa_model_params, in, p, progress_user_data);
    KAA_READ_FIELD(kaa_model_params, in, p, precision);
    KAA_READ_FIELD(kaa_model_params, in, p, max_metadata_bytes);
    KAA_READ_FIELD(kaa_model_params, in, p, device);
    KAA_READ_FIELD(kaa_model_params, in, p, gpu_index);
    KAA_READ_FIELD(kaa_model_params, in, p, release_host_weights);
    if (in.n_threads < 0) fail(KAA_ERR_INVALID_ARGUMENT, "kaa_model_params.n_threads must be >= 0");
    if (in.device != KAA_DEVICE_CPU && in.device != KAA_DEVICE_CUDA)
        fail(KAA_ERR_INVALID_ARGUMENT, "kaa_model_params.device must be KAA_DEVICE_CPU or KAA_DEVICE_CUDA");
    if (in.gpu_index < 0) fail(KAA_ERR_INVALID_ARGUMENT, "kaa_model_params.gpu_index must be >= 0");
    if (in.precision != KAA_PRECISION_FAST && in.precision != KAA_PRECISION_EXACT)
        fail(KAA_ERR_INVALID_ARGUMENT, "kaa_model_params.precision must be KAA_PRECISION_FAST or KAA_PRECISION_EXACT");
    out.n_threads = in.n_threads;
    out.use_mmap = in.use_mmap;
    out.max_metadata_bytes = in.max_metadata_bytes;  // 0 is refused by Model::load
    out.device = in.device == KAA_DEVICE_CUDA ? kaa::Device::cuda : kaa::Device::cpu;
    out.gpu_index = in.gpu_index;
    out.release_host_weights = in.release_host_weights;
    out.precision = in.precision == KAA_PRECISION_EXACT ? kaa::Precision::exact : kaa::Precision::fast;
    if (in.progress) {
        const kaa_progress_callback cb = in.progress;
        void* const ud = in.progress_user_data;
        out.progress = [cb, ud](float f) { return cb(f, ud); };
    }
    return out;
}

// Every out-handle parameter is checked first and cleared, so a caller that ignores the
// status never sees a stale pointer.
template <class H>
H*& out_handle(H** out, const char* what) {
    if (!out) fail(KAA_ERR_INVALID_ARGUMENT, std::string(what) + " is NULL");
    *out = nullptr;
    return *out;
}

uint32_t flags_checked(uint32_t flags, uint32_t known, const char* what) {
    if (flags & ~known) fail(KAA_ERR_INVALID_ARGUMENT, std::string("unknown ") + what + " flags " + std::to_string(flags));
    return flags;
}

}  // namespace

extern "C" {

// ---- model ------------------------------------------------------------------------------

static kaa_model_params model_defaults() noexcept {
    kaa_model_params p;
    std::memset(&p, 0, sizeof p);  // padding too: the struct may be hashed or compared
    p.struct_size = sizeof p;
    p.n_threads = 0;
    p.use_mmap = true;
    p.progress = nullptr;
    p.progress_user_data = nullptr;
    p.precision = kaa::ModelParams{}.precision == kaa::Precision::exact ? KAA_PRECISION_EXACT : KAA_PRECISION_FAST;
    p.max_metadata_bytes = kaa::ModelParams{}.max_metadata_bytes;
    p.device = KAA_DEVICE_CPU;
    p.gpu_index = 0;
    p.release_host_weights = false;
    return p;
}

int32_t kaa_cuda_device_count(void) KAA_NOEXCEPT { return kaa::cuda_device_count(); }

kaa_status kaa_model_params_init(kaa_model_params* params, size_t size) KAA_NOEXCEPT {
    return guard("kaa_model_params_init", [&] {
        init_params(params, size, KAA_V1_SIZE(kaa_model_params, precision), model_defaults(), "kaa_model_params");
    });
}

kaa_status kaa_model_load(const char* path, const kaa_model_params* params, kaa_model** out_model) KAA_NOEXCEPT {
    return guard("kaa_model_load", [&] {
        kaa_model*& out = out_handle(out_model, "out_model");
        need_str(path, "path");
        const kaa::ModelParams mp = to_model_params(params);
        kaa::Model model = kaa::Model::load(path, mp);
        std::string file_type = model.file_type();
        std::string tmpl = model.chat_template();
        std::vector<std::string> keys = model.meta_keys();
        auto* h = new kaa_model{std::move(model), std::move(file_type), std::move(tmpl), std::move(keys)};
        const kaa::HParams& hp = h->model.hparams();
        const std::string line = "loaded '" + h->model.name() + "' (" + h->model.architecture() + ", " +
                                 h->file_type + ", " + std::to_string(hp.n_layer) + " layers, d_model " +
                                 std::to_string(hp.d_model) + ", vocab " + std::to_string(hp.n_vocab) +
                                 ", " + h->model.backend() + " kernels) from " + path;
        out = h;
        log_line(KAA_LOG_INFO, line.c_str());
    });
}

void kaa_model_free(kaa_model* model) KAA_NOEXCEPT { delete model; }

kaa_status kaa_model_hparams(const kaa_model* model, kaa_hparams* out) KAA_NOEXCEPT {
    return guard("kaa_model_hparams", [&] {
        const kaa::HParams& hp = need(model, "model").model.hparams();
        need(out, "out");
        check_struct_size(out->struct_size, KAA_V1_SIZE(kaa_hparams, tied_embeddings), "kaa_hparams");
        KAA_WRITE_FIELD(kaa_hparams, out, n_vocab, hp.n_vocab);
        KAA_WRITE_FIELD(kaa_hparams, out, d_model, hp.d_model);
        KAA_WRITE_FIELD(kaa_hparams, out, n_layer, hp.n_layer);
        KAA_WRITE_FIELD(kaa_hparams, out, d_inner, hp.d_inner);
        KAA_WRITE_FIELD(kaa_hparams, out, d_state, hp.d_state);
        KAA_WRITE_FIELD(kaa_hparams, out, d_conv, hp.d_conv);
        KAA_WRITE_FIELD(kaa_hparams, out, dt_rank, hp.dt_rank);
        KAA_WRITE_FIELD(kaa_hparams, out, rms_eps, hp.rms_eps);
        KAA_WRITE_FIELD(kaa_hparams, out, dt_b_c_rms, hp.dt_b_c_rms);
        KAA_WRITE_FIELD(kaa_hparams, out, tied_embeddings, hp.tied_embeddings);
    });
}

kaa_status kaa_model_n_vocab(const kaa_model* model, int32_t* out) KAA_NOEXCEPT {
    return guard("kaa_model_n_vocab", [&] { need(out, "out") = need(model, "model").model.n_vocab(); });
}
kaa_status kaa_model_name(const kaa_model* model, const char** out) KAA_NOEXCEPT {
    return guard("kaa_model_name", [&] { need(out, "out") = need(model, "model").model.name().c_str(); });
}
kaa_status kaa_model_architecture(const kaa_model* model, const char** out) KAA_NOEXCEPT {
    return guard("kaa_model_architecture",
                 [&] { need(out, "out") = need(model, "model").model.architecture().c_str(); });
}
kaa_status kaa_model_file_type(const kaa_model* model, const char** out) KAA_NOEXCEPT {
    return guard("kaa_model_file_type", [&] { need(out, "out") = need(model, "model").file_type.c_str(); });
}
kaa_status kaa_model_backend(const kaa_model* model, const char** out) KAA_NOEXCEPT {
    return guard("kaa_model_backend", [&] { need(out, "out") = need(model, "model").model.backend(); });
}
kaa_status kaa_model_chat_template(const kaa_model* model, const char** out) KAA_NOEXCEPT {
    return guard("kaa_model_chat_template", [&] { need(out, "out") = need(model, "model").chat_template.c_str(); });
}
kaa_status kaa_model_state_size(const kaa_model* model, uint64_t* out) KAA_NOEXCEPT {
    return guard("kaa_model_state_size", [&] { need(out, "out") = need(model, "model").model.state_size(); });
}
kaa_status kaa_model_fingerprint(const kaa_model* model, uint64_t* out) KAA_NOEXCEPT {
    return guard("kaa_model_fingerprint", [&] { need(out, "out") = need(model, "model").model.fingerprint(); });
}

kaa_status kaa_model_meta(const kaa_model* model, const char* key, char* buf, size_t capacity,
                          size_t* length) KAA_NOEXCEPT {
    return guard("kaa_model_meta", [&] {
        const kaa::Model& m = need(model, "model").model;
        need_str(key, "key");
        check_buffer(buf, capacity, length);
        const std::optional<std::string> v = m.meta(key);
        if (!v) fail(KAA_ERR_INVALID_ARGUMENT, std::string("no metadata key '") + key + "'");
        deliver_text(*v, buf, capacity, length);
    });
}

kaa_status kaa_model_meta_count(const kaa_model* model, size_t* out) KAA_NOEXCEPT {
    return guard("kaa_model_meta_count", [&] { need(out, "out") = need(model, "model").meta_keys.size(); });
}

kaa_status kaa_model_meta_key(const kaa_model* model, size_t index, const char** key) KAA_NOEXCEPT {
    return guard("kaa_model_meta_key", [&] {
        const auto& keys = need(model, "model").meta_keys;
        need(key, "key");
        if (index >= keys.size())
            fail(KAA_ERR_INVALID_ARGUMENT, "index " + std::to_string(index) + " is outside [0, " +
                                               std::to_string(keys.size()) + ")");
        *key = keys[index].c_str();
    });
}

// ---- tokenizer ------------------------------------------------------------------------

kaa_status kaa_tokenizer_from_model(const kaa_model* model, kaa_tokenizer** out) KAA_NOEXCEPT {
    return guard("kaa_tokenizer_from_model", [&] {
        kaa_tokenizer*& o = out_handle(out, "out");
        o = new kaa_tokenizer{need(model, "model").model.tokenizer()};
    });
}

kaa_status kaa_tokenizer_load(const char* gguf_path, kaa_tokenizer** out) KAA_NOEXCEPT {
    return guard("kaa_tokenizer_load", [&] {
        kaa_tokenizer*& o = out_handle(out, "out");
        o = new kaa_tokenizer{kaa::Tokenizer::from_file(need_str(gguf_path, "gguf_path"))};
    });
}

void kaa_tokenizer_free(kaa_tokenizer* tokenizer) KAA_NOEXCEPT { delete tokenizer; }

kaa_status kaa_tokenizer_n_vocab(const kaa_tokenizer* tokenizer, int32_t* out) KAA_NOEXCEPT {
    return guard("kaa_tokenizer_n_vocab", [&] { need(out, "out") = need(tokenizer, "tokenizer").tok.n_vocab(); });
}

kaa_status kaa_tokenizer_special_tokens(const kaa_tokenizer* tokenizer, kaa_special_tokens* out) KAA_NOEXCEPT {
    return guard("kaa_tokenizer_special_tokens", [&] {
        const kaa::Tokenizer& t = need(tokenizer, "tokenizer").tok;
        need(out, "out");
        check_struct_size(out->struct_size, KAA_V1_SIZE(kaa_special_tokens, add_bos), "kaa_special_tokens");
        KAA_WRITE_FIELD(kaa_special_tokens, out, bos, t.bos());
        KAA_WRITE_FIELD(kaa_special_tokens, out, eos, t.eos());
        KAA_WRITE_FIELD(kaa_special_tokens, out, pad, t.pad());
        KAA_WRITE_FIELD(kaa_special_tokens, out, eot, t.eot());
        KAA_WRITE_FIELD(kaa_special_tokens, out, add_bos, t.add_bos_default());
    });
}

kaa_status kaa_tokenizer_is_end_of_generation(const kaa_tokenizer* tokenizer, kaa_token token,
                                              bool* out) KAA_NOEXCEPT {
    return guard("kaa_tokenizer_is_end_of_generation", [&] {
        const kaa::Tokenizer& t = need(tokenizer, "tokenizer").tok;
        need(out, "out");
        if (token < 0 || token >= t.n_vocab())
            fail(KAA_ERR_INVALID_TOKEN, "token id " + std::to_string(token) + " is outside [0, " +
                                            std::to_string(t.n_vocab()) + ")");
        *out = t.is_end_of_generation(token);
    });
}

kaa_status kaa_tokenize(const kaa_tokenizer* tokenizer, const char* text, size_t text_length, uint32_t flags,
                        kaa_token* tokens, size_t capacity, size_t* n_tokens) KAA_NOEXCEPT {
    return guard("kaa_tokenize", [&] {
        const kaa::Tokenizer& t = need(tokenizer, "tokenizer").tok;
        if (!text && text_length) fail(KAA_ERR_INVALID_ARGUMENT, "text is NULL but text_length is not 0");
        flags_checked(flags, KAA_TOKENIZE_ADD_BOS | KAA_TOKENIZE_PARSE_SPECIAL, "kaa_tokenize");
        check_buffer(tokens, capacity, n_tokens);
        kaa::TokenizeOptions o;
        o.add_bos = (flags & KAA_TOKENIZE_ADD_BOS) != 0;
        o.parse_special = (flags & KAA_TOKENIZE_PARSE_SPECIAL) != 0;
        const std::vector<kaa::Token> ids = t.encode(std::string_view(text ? text : "", text_length), o);
        deliver(ids.data(), ids.size(), tokens, capacity, n_tokens, false);
    });
}

kaa_status kaa_detokenize(const kaa_tokenizer* tokenizer, const kaa_token* tokens, size_t n_tokens, uint32_t flags,
                          char* buf, size_t capacity, size_t* length) KAA_NOEXCEPT {
    return guard("kaa_detokenize", [&] {
        const kaa::Tokenizer& t = need(tokenizer, "tokenizer").tok;
        if (!tokens && n_tokens) fail(KAA_ERR_INVALID_ARGUMENT, "tokens is NULL but n_tokens is not 0");
        flags_checked(flags, KAA_DETOKENIZE_SKIP_SPECIAL, "kaa_detokenize");
        check_buffer(buf, capacity, length);
        kaa::DecodeOptions o;
        o.skip_special = (flags & KAA_DETOKENIZE_SKIP_SPECIAL) != 0;
        const std::vector<kaa::Token> ids(tokens, tokens + n_tokens);
        deliver_text(t.decode(ids, o), buf, capacity, length);
    });
}

kaa_status kaa_token_to_piece(const kaa_tokenizer* tokenizer, kaa_token token, uint32_t flags, char* buf,
                              size_t capacity, size_t* length) KAA_NOEXCEPT {
    return guard("kaa_token_to_piece", [&] {
        const kaa::Tokenizer& t = need(tokenizer, "tokenizer").tok;
        flags_checked(flags, KAA_DETOKENIZE_SKIP_SPECIAL, "kaa_token_to_piece");
        check_buffer(buf, capacity, length);
        kaa::DecodeOptions o;
        o.skip_special = (flags & KAA_DETOKENIZE_SKIP_SPECIAL) != 0;
        deliver_text(t.token_to_piece(token, o), buf, capacity, length);
    });
}

// ---- stream decoder ---------------------------------------------------------------------

kaa_status kaa_stream_decoder_create(const kaa_tokenizer* tokenizer, uint32_t flags,
                                     kaa_stream_decoder** out) KAA_NOEXCEPT {
    return guard("kaa_stream_decoder_create", [&] {
        kaa_stream_decoder*& o = out_handle(out, "out");
        const kaa::Tokenizer& t = need(tokenizer, "tokenizer").tok;
        flags_checked(flags, KAA_DETOKENIZE_SKIP_SPECIAL, "kaa_stream_decoder_create");
        kaa::DecodeOptions opts;
        opts.skip_special = (flags & KAA_DETOKENIZE_SKIP_SPECIAL) != 0;
        o = new kaa_stream_decoder{kaa::StreamDecoder(t, opts)};
    });
}

void kaa_stream_decoder_free(kaa_stream_decoder* decoder) KAA_NOEXCEPT { delete decoder; }

// push and flush work on a copy of the decoder and keep it only once the text has been
// delivered, so a size query or a too-small buffer leaves the decoder as it was.
kaa_status kaa_stream_decoder_push(kaa_stream_decoder* decoder, kaa_token token, char* buf, size_t capacity,
                                   size_t* length) KAA_NOEXCEPT {
    return guard("kaa_stream_decoder_push", [&] {
        kaa::StreamDecoder& d = need(decoder, "decoder").dec;
        check_buffer(buf, capacity, length);
        kaa::StreamDecoder next = d;
        const std::string text = next.push(token);
        if (deliver_text(text, buf, capacity, length)) d = std::move(next);
    });
}

kaa_status kaa_stream_decoder_flush(kaa_stream_decoder* decoder, char* buf, size_t capacity,
                                    size_t* length) KAA_NOEXCEPT {
    return guard("kaa_stream_decoder_flush", [&] {
        kaa::StreamDecoder& d = need(decoder, "decoder").dec;
        check_buffer(buf, capacity, length);
        kaa::StreamDecoder next = d;
        const std::string text = next.flush();
        if (deliver_text(text, buf, capacity, length)) d = std::move(next);
    });
}

// ---- chat templates ---------------------------------------------------------------------

static kaa_chat_render_params chat_render_defaults() noexcept {
    kaa_chat_render_params p;
    std::memset(&p, 0, sizeof p);
    p.struct_size = sizeof p;
    p.add_generation_prompt = true;
    p.bos_token = nullptr;
    p.eos_token = nullptr;
    return p;
}

kaa_status kaa_chat_render_params_init(kaa_chat_render_params* params, size_t size) KAA_NOEXCEPT {
    return guard("kaa_chat_render_params_init", [&] {
        init_params(params, size, KAA_V1_SIZE(kaa_chat_render_params, eos_token), chat_render_defaults(), "kaa_chat_render_params");
    });
}

kaa_status kaa_chat_template_parse(const char* source, size_t source_length, kaa_chat_template** out) KAA_NOEXCEPT {
    return guard("kaa_chat_template_parse", [&] {
        kaa_chat_template*& o = out_handle(out, "out");
        if (!source && source_length) fail(KAA_ERR_INVALID_ARGUMENT, "source is NULL but source_length is not 0");
        o = new kaa_chat_template{kaa::ChatTemplate::parse(std::string_view(source ? source : "", source_length))};
    });
}

kaa_status kaa_chat_template_chatml(kaa_chat_template** out) KAA_NOEXCEPT {
    return guard("kaa_chat_template_chatml", [&] {
        kaa_chat_template*& o = out_handle(out, "out");
        o = new kaa_chat_template{kaa::ChatTemplate::chatml()};
    });
}

kaa_status kaa_chat_template_from_model(const kaa_model* model, kaa_chat_template** out) KAA_NOEXCEPT {
    return guard("kaa_chat_template_from_model", [&] {
        kaa_chat_template*& o = out_handle(out, "out");
        const std::string& src = need(model, "model").chat_template;
        o = new kaa_chat_template{src.empty() ? kaa::ChatTemplate::chatml() : kaa::ChatTemplate::parse(src)};
    });
}

void kaa_chat_template_free(kaa_chat_template* tmpl) KAA_NOEXCEPT { delete tmpl; }

kaa_status kaa_chat_template_render(const kaa_chat_template* tmpl, const kaa_chat_message* messages,
                                    size_t n_messages, const kaa_chat_render_params* params, char* buf,
                                    size_t capacity, size_t* length) KAA_NOEXCEPT {
    return guard("kaa_chat_template_render", [&] {
        const kaa::ChatTemplate& t = need(tmpl, "tmpl").tmpl;
        if (!messages && n_messages) fail(KAA_ERR_INVALID_ARGUMENT, "messages is NULL but n_messages is not 0");
        check_buffer(buf, capacity, length);
        kaa_chat_render_params in = kaa_chat_render_default_params();
        if (params) {
            check_struct_size(params->struct_size, KAA_V1_SIZE(kaa_chat_render_params, eos_token),
                              "kaa_chat_render_params");
            KAA_READ_FIELD(kaa_chat_render_params, in, params, add_generation_prompt);
            KAA_READ_FIELD(kaa_chat_render_params, in, params, bos_token);
            KAA_READ_FIELD(kaa_chat_render_params, in, params, eos_token);
        }
        kaa::ChatTemplateOptions o;
        o.add_generation_prompt = in.add_generation_prompt;
        if (in.bos_token) o.bos_token = in.bos_token;
        if (in.eos_token) o.eos_token = in.eos_token;
        std::vector<kaa::ChatMessage> msgs;
        msgs.reserve(n_messages);
        for (size_t i = 0; i < n_messages; ++i) {
            if (!messages[i].role || !messages[i].content)
                fail(KAA_ERR_INVALID_ARGUMENT, "messages[" + std::to_string(i) + "] has a NULL role or content");
            msgs.push_back({messages[i].role, messages[i].content});
        }
        deliver_text(t.render(msgs, o), buf, capacity, length);
    });
}

}  // extern "C"
