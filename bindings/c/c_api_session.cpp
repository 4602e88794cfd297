// c_api_session.cpp — C ABI: sessions, states, samplers, generation, conversations.
#include "c_api.hpp"

using namespace kaa::capi;

namespace {

template <class H>
H*& out_handle(H** out, const char* what) {
    if (!out) fail(KAA_ERR_INVALID_ARGUMENT, std::string(what) + " is NULL");
    *out = nullptr;
    return *out;
}

kaa::SessionParams to_session_params(const kaa_session_params* p) {
    kaa::SessionParams out;
    if (!p) return out;
    check_struct_size(p->struct_size, KAA_V1_SIZE(kaa_session_params, n_batch), "kaa_session_params");
    KAA_READ_FIELD(kaa_session_params, out, p, n_threads);
    KAA_READ_FIELD(kaa_session_params, out, p, n_batch);
    KAA_READ_FIELD(kaa_session_params, out, p, max_tokens_per_call);
    KAA_READ_FIELD(kaa_session_params, out, p, max_generation_tokens);
    return out;
}

// Wraps a GenerationResult in a handle for the caller, if it asked for one.
void hand_out(kaa::GenerationResult&& r, kaa_generation** out) {
    if (out) *out = new kaa_generation{std::move(r)};
}

}  // namespace

namespace kaa::capi {

kaa::SamplerParams to_sampler_params(const kaa_sampler_params* p) {
    kaa::SamplerParams out;
    if (!p) return out;
    check_struct_size(p->struct_size, KAA_V1_SIZE(kaa_sampler_params, n_logit_bias), "kaa_sampler_params");
    KAA_READ_FIELD(kaa_sampler_params, out, p, temperature);
    KAA_READ_FIELD(kaa_sampler_params, out, p, top_k);
    KAA_READ_FIELD(kaa_sampler_params, out, p, top_p);
    KAA_READ_FIELD(kaa_sampler_params, out, p, min_p);
    KAA_READ_FIELD(kaa_sampler_params, out, p, typical_p);
    KAA_READ_FIELD(kaa_sampler_params, out, p, repeat_penalty);
    KAA_READ_FIELD(kaa_sampler_params, out, p, presence_penalty);
    KAA_READ_FIELD(kaa_sampler_params, out, p, frequency_penalty);
    KAA_READ_FIELD(kaa_sampler_params, out, p, penalty_last_n);
    KAA_READ_FIELD(kaa_sampler_params, out, p, seed);
    if (p->n_logit_bias) {
        if (!p->logit_bias) fail(KAA_ERR_INVALID_ARGUMENT, "kaa_sampler_params.logit_bias is NULL but n_logit_bias is not 0");
        for (size_t i = 0; i < p->n_logit_bias; ++i)
            out.logit_bias.emplace_back(p->logit_bias[i].token, p->logit_bias[i].bias);
    }
    return out;
}

kaa::GenerationOptions to_generation_options(const kaa_generate_params* p) {
    kaa::GenerationOptions out;
    if (!p) return out;
    check_struct_size(p->struct_size, KAA_V1_SIZE(kaa_generate_params, user_data), "kaa_generate_params");
    kaa_generate_params in = kaa_generate_default_params();
    KAA_READ_FIELD(kaa_generate_params, in, p, max_tokens);
    KAA_READ_FIELD(kaa_generate_params, in, p, sampler);
    KAA_READ_FIELD(kaa_generate_params, in, p, stop);
    KAA_READ_FIELD(kaa_generate_params, in, p, n_stop);
    KAA_READ_FIELD(kaa_generate_params, in, p, ignore_eos);
    KAA_READ_FIELD(kaa_generate_params, in, p, add_bos);
    KAA_READ_FIELD(kaa_generate_params, in, p, parse_special);
    out.max_tokens = in.max_tokens;
    out.sampler = to_sampler_params(in.sampler);
    if (in.n_stop && !in.stop) fail(KAA_ERR_INVALID_ARGUMENT, "kaa_generate_params.stop is NULL but n_stop is not 0");
    for (size_t i = 0; i < in.n_stop; ++i)
        out.stop.emplace_back(need_str(in.stop[i], "a kaa_generate_params.stop entry"));
    out.ignore_eos = in.ignore_eos;
    if (in.add_bos < -1 || in.add_bos > 1)
        fail(KAA_ERR_INVALID_ARGUMENT, "kaa_generate_params.add_bos must be -1, 0 or 1");
    if (in.add_bos >= 0) out.add_bos = in.add_bos == 1;
    out.parse_special = in.parse_special;
    return out;
}

kaa::StreamCallback to_stream_callback(const kaa_generate_params* p) {
    if (!p || !KAA_FIELD_FITS(kaa_generate_params, user_data, p->struct_size) || !p->on_text) return nullptr;
    const kaa_text_callback cb = p->on_text;
    void* const ud = p->user_data;
    // The piece is copied so the callback gets the NUL-terminated string kaa.h promises.
    return [cb, ud, piece_z = std::string()](std::string_view piece) mutable {
        piece_z.assign(piece.data(), piece.size());
        return cb(piece_z.c_str(), piece_z.size(), ud);
    };
}

}  // namespace kaa::capi

extern "C" {

// ---- sampler ------------------------------------------------------------------------------

static kaa_sampler_params sampler_defaults() noexcept {
    const kaa::SamplerParams d;
    kaa_sampler_params p;
    std::memset(&p, 0, sizeof p);
    p.struct_size = sizeof p;
    p.temperature = d.temperature;
    p.top_k = d.top_k;
    p.top_p = d.top_p;
    p.min_p = d.min_p;
    p.typical_p = d.typical_p;
    p.repeat_penalty = d.repeat_penalty;
    p.presence_penalty = d.presence_penalty;
    p.frequency_penalty = d.frequency_penalty;
    p.penalty_last_n = d.penalty_last_n;
    p.seed = d.seed;
    p.logit_bias = nullptr;
    p.n_logit_bias = 0;
    return p;
}

kaa_status kaa_sampler_params_init(kaa_sampler_params* params, size_t size) KAA_NOEXCEPT {
    return guard("kaa_sampler_params_init", [&] {
        init_params(params, size, KAA_V1_SIZE(kaa_sampler_params, n_logit_bias), sampler_defaults(), "kaa_sampler_params");
    });
}

kaa_status kaa_sampler_create(const kaa_sampler_params* params, int32_t n_vocab, kaa_sampler** out) KAA_NOEXCEPT {
    return guard("kaa_sampler_create", [&] {
        kaa_sampler*& o = out_handle(out, "out");
        o = new kaa_sampler{kaa::Sampler(to_sampler_params(params), n_vocab)};
    });
}

kaa_status kaa_sampler_copy(const kaa_sampler* sampler, kaa_sampler** out) KAA_NOEXCEPT {
    return guard("kaa_sampler_copy", [&] {
        kaa_sampler*& o = out_handle(out, "out");
        o = new kaa_sampler{need(sampler, "sampler").sampler};
    });
}

void kaa_sampler_free(kaa_sampler* sampler) KAA_NOEXCEPT { delete sampler; }

kaa_status kaa_sampler_sample(kaa_sampler* sampler, const float* logits, int32_t n_vocab, kaa_token* out) KAA_NOEXCEPT {
    return guard("kaa_sampler_sample", [&] {
        kaa::Sampler& s = need(sampler, "sampler").sampler;
        need(out, "out");
        need(logits, "logits");
        *out = s.sample(logits, n_vocab);
    });
}

kaa_status kaa_sampler_accept(kaa_sampler* sampler, kaa_token token) KAA_NOEXCEPT {
    return guard("kaa_sampler_accept", [&] { need(sampler, "sampler").sampler.accept(token); });
}

kaa_status kaa_sampler_reset(kaa_sampler* sampler) KAA_NOEXCEPT {
    return guard("kaa_sampler_reset", [&] { need(sampler, "sampler").sampler.reset(); });
}

kaa_status kaa_sampler_seed(const kaa_sampler* sampler, uint64_t* out) KAA_NOEXCEPT {
    return guard("kaa_sampler_seed", [&] { need(out, "out") = need(sampler, "sampler").sampler.seed(); });
}

// ---- state ---------------------------------------------------------------------------------

void kaa_state_free(kaa_state* state) KAA_NOEXCEPT { delete state; }

kaa_status kaa_state_copy(const kaa_state* state, kaa_state** out) KAA_NOEXCEPT {
    return guard("kaa_state_copy", [&] {
        kaa_state*& o = out_handle(out, "out");
        o = new kaa_state{need(state, "state").state};
    });
}

kaa_status kaa_state_position(const kaa_state* state, int64_t* out) KAA_NOEXCEPT {
    return guard("kaa_state_position", [&] { need(out, "out") = need(state, "state").state.position(); });
}

kaa_status kaa_state_model_fingerprint(const kaa_state* state, uint64_t* out) KAA_NOEXCEPT {
    return guard("kaa_state_model_fingerprint",
                 [&] { need(out, "out") = need(state, "state").state.model_fingerprint(); });
}

kaa_status kaa_state_set_user_data(kaa_state* state, const void* data, size_t size) KAA_NOEXCEPT {
    return guard("kaa_state_set_user_data", [&] {
        kaa::State& st = need(state, "state").state;
        if (!data && size) fail(KAA_ERR_INVALID_ARGUMENT, "data is NULL but size is not 0");
        if (size > kaa::State::kMaxUserData)
            fail(KAA_ERR_INVALID_ARGUMENT, "user data of " + std::to_string(size) + " bytes is over the limit of " +
                                               std::to_string(kaa::State::kMaxUserData));
        st.set_user_data(std::string(static_cast<const char*>(data ? data : ""), size));
    });
}

kaa_status kaa_state_user_data(const kaa_state* state, const void** data, size_t* size) KAA_NOEXCEPT {
    return guard("kaa_state_user_data", [&] {
        const std::string& u = need(state, "state").state.user_data();
        need(data, "data");
        need(size, "size");
        *data = u.data();
        *size = u.size();
    });
}

kaa_status kaa_state_serialize(const kaa_state* state, uint8_t* buf, size_t capacity, size_t* size) KAA_NOEXCEPT {
    return guard("kaa_state_serialize", [&] {
        const kaa::State& st = need(state, "state").state;
        check_buffer(buf, capacity, size);
        const std::vector<uint8_t> bytes = st.serialize();
        deliver(bytes.data(), bytes.size(), buf, capacity, size, false);
    });
}

kaa_status kaa_state_deserialize(const void* data, size_t size, kaa_state** out) KAA_NOEXCEPT {
    return guard("kaa_state_deserialize", [&] {
        kaa_state*& o = out_handle(out, "out");
        if (!data && size) fail(KAA_ERR_INVALID_ARGUMENT, "data is NULL but size is not 0");
        static const uint8_t kNothing = 0;
        const uint8_t* p = data ? static_cast<const uint8_t*>(data) : &kNothing;
        o = new kaa_state{kaa::State::deserialize(p, size)};
    });
}

kaa_status kaa_state_save(const kaa_state* state, const char* path) KAA_NOEXCEPT {
    return guard("kaa_state_save", [&] { need(state, "state").state.save(need_str(path, "path")); });
}

kaa_status kaa_state_load(const char* path, kaa_state** out) KAA_NOEXCEPT {
    return guard("kaa_state_load", [&] {
        kaa_state*& o = out_handle(out, "out");
        o = new kaa_state{kaa::State::load(need_str(path, "path"))};
    });
}

// ---- session ------------------------------------------------------------------------------

static kaa_session_params session_defaults() noexcept {
    const kaa::SessionParams d;
    kaa_session_params p;
    std::memset(&p, 0, sizeof p);
    p.struct_size = sizeof p;
    p.n_threads = d.n_threads;
    p.n_batch = d.n_batch;
    p.max_tokens_per_call = d.max_tokens_per_call;
    p.max_generation_tokens = d.max_generation_tokens;
    return p;
}

kaa_status kaa_session_params_init(kaa_session_params* params, size_t size) KAA_NOEXCEPT {
    return guard("kaa_session_params_init", [&] {
        init_params(params, size, KAA_V1_SIZE(kaa_session_params, n_batch), session_defaults(), "kaa_session_params");
    });
}

kaa_status kaa_session_create(const kaa_model* model, const kaa_session_params* params,
                              kaa_session** out) KAA_NOEXCEPT {
    return guard("kaa_session_create", [&] {
        kaa_session*& o = out_handle(out, "out");
        const kaa::Model& m = need(model, "model").model;
        o = new kaa_session{kaa::Session(m, to_session_params(params))};
    });
}

void kaa_session_free(kaa_session* session) KAA_NOEXCEPT { delete session; }

kaa_status kaa_session_fork(const kaa_session* session, kaa_session** out) KAA_NOEXCEPT {
    return guard("kaa_session_fork", [&] {
        kaa_session*& o = out_handle(out, "out");
        o = new kaa_session{need(session, "session").session.fork()};
    });
}

kaa_status kaa_session_eval(kaa_session* session, const kaa_token* tokens, size_t n_tokens,
                            uint32_t flags) KAA_NOEXCEPT {
    return guard("kaa_session_eval", [&] {
        kaa::Session& s = need(session, "session").session;
        need(tokens, "tokens");
        if (flags & ~uint32_t(KAA_EVAL_ALL_LOGITS))
            fail(KAA_ERR_INVALID_ARGUMENT, "unknown kaa_session_eval flags " + std::to_string(flags));
        kaa::EvalOptions o;
        o.all_logits = (flags & KAA_EVAL_ALL_LOGITS) != 0;
        s.eval(tokens, n_tokens, o);
    });
}

kaa_status kaa_session_logits(const kaa_session* session, const float** logits, size_t* n_floats) KAA_NOEXCEPT {
    return guard("kaa_session_logits", [&] {
        const std::vector<float>& l = need(session, "session").session.logits();
        need(logits, "logits");
        need(n_floats, "n_floats");
        *logits = l.data();
        *n_floats = l.size();
    });
}

kaa_status kaa_session_copy_logits(const kaa_session* session, float* buf, size_t capacity,
                                   size_t* n_floats) KAA_NOEXCEPT {
    return guard("kaa_session_copy_logits", [&] {
        const std::vector<float>& l = need(session, "session").session.logits();
        deliver(l.data(), l.size(), buf, capacity, n_floats, false);
    });
}

kaa_status kaa_session_position(const kaa_session* session, int64_t* out) KAA_NOEXCEPT {
    return guard("kaa_session_position", [&] { need(out, "out") = need(session, "session").session.position(); });
}

kaa_status kaa_session_reset(kaa_session* session) KAA_NOEXCEPT {
    return guard("kaa_session_reset", [&] { need(session, "session").session.reset(); });
}

kaa_status kaa_session_get_state(const kaa_session* session, kaa_state** out) KAA_NOEXCEPT {
    return guard("kaa_session_get_state", [&] {
        kaa_state*& o = out_handle(out, "out");
        o = new kaa_state{need(session, "session").session.state()};
    });
}

kaa_status kaa_session_set_state(kaa_session* session, const kaa_state* state) KAA_NOEXCEPT {
    return guard("kaa_session_set_state",
                 [&] { need(session, "session").session.set_state(need(state, "state").state); });
}

kaa_status kaa_eval_batch(kaa_session* const* sessions, const kaa_token* const* tokens, const size_t* n_tokens,
                          size_t n) KAA_NOEXCEPT {
    return guard("kaa_eval_batch", [&] {
        if (n == 0) return;
        need(sessions, "sessions");
        need(tokens, "tokens");
        need(n_tokens, "n_tokens");
        std::vector<kaa::BatchItem> items;
        items.reserve(n);
        for (size_t i = 0; i < n; ++i) {
            if (!sessions[i]) fail(KAA_ERR_INVALID_ARGUMENT, "sessions[" + std::to_string(i) + "] is NULL");
            if (!tokens[i]) fail(KAA_ERR_INVALID_ARGUMENT, "tokens[" + std::to_string(i) + "] is NULL");
            items.push_back({&sessions[i]->session, tokens[i], n_tokens[i]});
        }
        kaa::eval_batch(items);
    });
}

// ---- generation ------------------------------------------------------------------------

static kaa_generate_params generate_defaults() noexcept {
    const kaa::GenerationOptions d;
    kaa_generate_params p;
    std::memset(&p, 0, sizeof p);
    p.struct_size = sizeof p;
    p.max_tokens = d.max_tokens;
    p.sampler = nullptr;
    p.stop = nullptr;
    p.n_stop = 0;
    p.ignore_eos = d.ignore_eos;
    p.add_bos = -1;
    p.parse_special = d.parse_special;
    p.on_text = nullptr;
    p.user_data = nullptr;
    return p;
}

kaa_status kaa_generate_params_init(kaa_generate_params* params, size_t size) KAA_NOEXCEPT {
    return guard("kaa_generate_params_init", [&] {
        init_params(params, size, KAA_V1_SIZE(kaa_generate_params, user_data), generate_defaults(), "kaa_generate_params");
    });
}

kaa_status kaa_session_generate(kaa_session* session, const char* prompt, const kaa_generate_params* params,
                                kaa_generation** out) KAA_NOEXCEPT {
    return guard("kaa_session_generate", [&] {
        if (out) *out = nullptr;
        kaa::Session& s = need(session, "session").session;
        const std::string_view text = need_str(prompt, "prompt");
        hand_out(s.generate(text, to_generation_options(params), to_stream_callback(params)), out);
    });
}

kaa_status kaa_session_generate_tokens(kaa_session* session, const kaa_token* prompt, size_t n_prompt,
                                       const kaa_generate_params* params, kaa_generation** out) KAA_NOEXCEPT {
    return guard("kaa_session_generate_tokens", [&] {
        if (out) *out = nullptr;
        kaa::Session& s = need(session, "session").session;
        if (!prompt && n_prompt) fail(KAA_ERR_INVALID_ARGUMENT, "prompt is NULL but n_prompt is not 0");
        const std::vector<kaa::Token> ids(prompt, prompt + n_prompt);
        hand_out(s.generate(ids, to_generation_options(params), to_stream_callback(params)), out);
    });
}

void kaa_generation_free(kaa_generation* generation) KAA_NOEXCEPT { delete generation; }

kaa_status kaa_generation_text(const kaa_generation* generation, const char** text, size_t* length) KAA_NOEXCEPT {
    return guard("kaa_generation_text", [&] {
        const std::string& t = need(generation, "generation").result.text;
        need(text, "text") = t.c_str();
        need(length, "length") = t.size();
    });
}

kaa_status kaa_generation_tokens(const kaa_generation* generation, const kaa_token** tokens,
                                 size_t* n_tokens) KAA_NOEXCEPT {
    return guard("kaa_generation_tokens", [&] {
        const std::vector<kaa::Token>& t = need(generation, "generation").result.tokens;
        need(tokens, "tokens") = t.data();
        need(n_tokens, "n_tokens") = t.size();
    });
}

kaa_status kaa_generation_stop_reason(const kaa_generation* generation, kaa_stop_reason* out) KAA_NOEXCEPT {
    return guard("kaa_generation_stop_reason", [&] {
        const kaa::StopReason r = need(generation, "generation").result.stop_reason;
        kaa_stop_reason c = KAA_STOP_MAX_TOKENS;
        switch (r) {
            case kaa::StopReason::max_tokens: c = KAA_STOP_MAX_TOKENS; break;
            case kaa::StopReason::end_of_generation: c = KAA_STOP_END_OF_GENERATION; break;
            case kaa::StopReason::stop_string: c = KAA_STOP_STOP_STRING; break;
            case kaa::StopReason::callback: c = KAA_STOP_CALLBACK; break;
        }
        need(out, "out") = c;
    });
}

kaa_status kaa_generation_timings_get(const kaa_generation* generation, kaa_generation_timings* out) KAA_NOEXCEPT {
    return guard("kaa_generation_timings_get", [&] {
        const kaa::GenerationTimings& t = need(generation, "generation").result.timings;
        need(out, "out");
        check_struct_size(out->struct_size, KAA_V1_SIZE(kaa_generation_timings, generation_ms),
                          "kaa_generation_timings");
        KAA_WRITE_FIELD(kaa_generation_timings, out, n_prompt, t.n_prompt);
        KAA_WRITE_FIELD(kaa_generation_timings, out, prompt_ms, t.prompt_ms);
        KAA_WRITE_FIELD(kaa_generation_timings, out, n_generated, t.n_generated);
        KAA_WRITE_FIELD(kaa_generation_timings, out, generation_ms, t.generation_ms);
    });
}

// ---- conversation ------------------------------------------------------------------------

kaa_status kaa_conversation_create(kaa_session* session, const kaa_chat_template* tmpl,
                                   kaa_conversation** out) KAA_NOEXCEPT {
    return guard("kaa_conversation_create", [&] {
        kaa_conversation*& o = out_handle(out, "out");
        kaa::Session& s = need(session, "session").session;
        std::optional<kaa::ChatTemplate> t;
        if (tmpl) t = tmpl->tmpl;
        o = new kaa_conversation{kaa::Conversation(s, std::move(t))};
    });
}

void kaa_conversation_free(kaa_conversation* conversation) KAA_NOEXCEPT { delete conversation; }

kaa_status kaa_conversation_add(kaa_conversation* conversation, const char* role, const char* content) KAA_NOEXCEPT {
    return guard("kaa_conversation_add", [&] {
        kaa::Conversation& c = need(conversation, "conversation").conv;
        c.add({need_str(role, "role"), need_str(content, "content")});
    });
}

kaa_status kaa_conversation_reply(kaa_conversation* conversation, const char* user_text,
                                  const kaa_generate_params* params, kaa_generation** out) KAA_NOEXCEPT {
    return guard("kaa_conversation_reply", [&] {
        if (out) *out = nullptr;
        kaa::Conversation& c = need(conversation, "conversation").conv;
        const std::string text = need_str(user_text, "user_text");
        hand_out(c.reply(text, to_generation_options(params), to_stream_callback(params)), out);
    });
}

kaa_status kaa_conversation_n_messages(const kaa_conversation* conversation, size_t* out) KAA_NOEXCEPT {
    return guard("kaa_conversation_n_messages",
                 [&] { need(out, "out") = need(conversation, "conversation").conv.messages().size(); });
}

kaa_status kaa_conversation_message(const kaa_conversation* conversation, size_t index, const char** role,
                                    const char** content) KAA_NOEXCEPT {
    return guard("kaa_conversation_message", [&] {
        const auto& msgs = need(conversation, "conversation").conv.messages();
        need(role, "role");
        need(content, "content");
        if (index >= msgs.size())
            fail(KAA_ERR_INVALID_ARGUMENT, "index " + std::to_string(index) + " is outside [0, " +
                                               std::to_string(msgs.size()) + ")");
        *role = msgs[index].role.c_str();
        *content = msgs[index].content.c_str();
    });
}

kaa_status kaa_conversation_serialize(const kaa_conversation* conversation, char* buf, size_t capacity,
                                      size_t* length) KAA_NOEXCEPT {
    return guard("kaa_conversation_serialize", [&] {
        const kaa::Conversation& c = need(conversation, "conversation").conv;
        check_buffer(buf, capacity, length);
        deliver_text(c.serialize(), buf, capacity, length);
    });
}

kaa_status kaa_conversation_restore(kaa_conversation* conversation, const void* data, size_t size) KAA_NOEXCEPT {
    return guard("kaa_conversation_restore", [&] {
        kaa::Conversation& c = need(conversation, "conversation").conv;
        if (!data && size) fail(KAA_ERR_INVALID_ARGUMENT, "data is NULL but size is not 0");
        c.restore(std::string_view(static_cast<const char*>(data ? data : ""), size));
    });
}

}  // extern "C"
