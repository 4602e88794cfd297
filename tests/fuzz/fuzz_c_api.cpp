// fuzz_c_api — the C ABI's string and buffer entry points on arbitrary input.
//
// Input: [op] [capacity byte] rest. Each op feeds `rest` to one family of functions:
//   0 chat template parse + render   (rest: template \0 role \0 content \0 ...)
//   1 kaa_tokenize                    (rest: [flags] text; flags bit 2 picks the Falcon
//                                      vocabulary when ../shared is there)
//   2 kaa_detokenize, kaa_token_to_piece, stream decoder (rest: [flags] u16 ids)
//   3 kaa_state_deserialize, set_state, serialize back (rest: a state blob)
//   4 kaa_conversation_restore, then serialize / messages / one reply (rest: bookkeeping)
//   5 kaa_model_meta with a key from the input, and the key enumeration
//   6 kaa_sampler_create / sample (rest: params and logits as raw bytes)
// Every call goes through the buffer protocol with a capacity drawn from the input and
// an allocation of exactly that size (so ASan sees any write past it); the protocol's
// promises (kaa.h) are checked: a size query, KAA_OK and a NUL-terminated text when it
// fits, KAA_ERR_BUFFER_TOO_SMALL with the needed size and an empty text when not.
// Nothing may crash, and a failing call must leave a message.
#include <cmath>
#include <cstring>
#include <memory>

#include "fuzz_support.hpp"
#include "kaa/kaa.h"

namespace {

struct Handles {
    kaa_model* model = nullptr;
    kaa_tokenizer* byte_tok = nullptr;
    kaa_tokenizer* falcon_tok = nullptr;  // null without ../shared
};

const Handles& handles() {
    static const Handles h = [] {
        Handles out;
        std::string path;
        (void)kaa::fuzz::load_tiny_model(kaa::gguf::TensorType::q8_0, &path);  // writes the file
        kaa_model_params mp = kaa_model_default_params();
        mp.n_threads = 1;
        if (kaa_model_load(path.c_str(), &mp, &out.model) != KAA_OK) std::abort();
        unlink(path.c_str());
        if (kaa_tokenizer_from_model(out.model, &out.byte_tok) != KAA_OK) std::abort();
        const std::string falcon = kaa::fuzz::shared_file("models/falcon-vocab-only.gguf");
        if (!falcon.empty() && kaa_tokenizer_load(falcon.c_str(), &out.falcon_tok) != KAA_OK) std::abort();
        return out;
    }();
    return h;
}

void check_failed(kaa_status st) {
    KAA_FUZZ_CHECK(st != KAA_OK);
    KAA_FUZZ_CHECK(kaa_last_error_message()[0] != '\0');
}

// Runs `call(buf, capacity, &n)` by the buffer protocol and checks its promises.
// Returns false (after checking the error) when the call fails for another reason.
template <class T, class Call>
bool buffer_call(Call call, bool text, uint8_t cap_byte, std::vector<T>& out) {
    size_t n = 0;
    kaa_status st = call(nullptr, 0, &n);
    if (st != KAA_OK) {
        check_failed(st);
        return false;
    }
    const size_t need = n + (text ? 1 : 0);
    // Capacities around the boundary are the interesting ones.
    const size_t cap = cap_byte < 128 ? cap_byte % (need + 2) : need + 1 - std::min<size_t>(need + 1, cap_byte % 3);
    // new T[0] is a real (non-null) zero-byte allocation: a buffer that is not NULL,
    // so this is not a size query, and ASan flags any byte written to it.
    std::unique_ptr<T[]> buf(new T[cap]);
    size_t n2 = 0;
    st = call(buf.get(), cap, &n2);
    KAA_FUZZ_CHECK(n2 == n);
    if (cap >= need) {
        KAA_FUZZ_CHECK(st == KAA_OK);
        if (text) KAA_FUZZ_CHECK(reinterpret_cast<const char*>(buf.get())[n] == '\0');
        out.assign(buf.get(), buf.get() + n);
        return true;
    }
    KAA_FUZZ_CHECK(st == KAA_ERR_BUFFER_TOO_SMALL);
    if (text && cap) KAA_FUZZ_CHECK(reinterpret_cast<const char*>(buf.get())[0] == '\0');
    std::unique_ptr<T[]> full(new T[need]);
    st = call(full.get(), need, &n2);
    KAA_FUZZ_CHECK(st == KAA_OK && n2 == n);
    out.assign(full.get(), full.get() + n);
    return true;
}

void op_template(kaa::fuzz::InputReader& in, uint8_t cap) {
    const std::string source(in.until_nul());
    std::vector<std::string> strings;
    while (!in.empty() && strings.size() < 16) strings.emplace_back(in.until_nul());
    if (strings.size() % 2) strings.emplace_back();
    std::vector<kaa_chat_message> msgs;
    for (size_t i = 0; i < strings.size(); i += 2) msgs.push_back({strings[i].c_str(), strings[i + 1].c_str()});
    kaa_chat_template* t = nullptr;
    const kaa_status st = kaa_chat_template_parse(source.data(), source.size(), &t);
    if (st != KAA_OK) {
        check_failed(st);
        KAA_FUZZ_CHECK(t == nullptr);
        return;
    }
    std::vector<char> out;
    (void)buffer_call<char>(
        [&](char* b, size_t c, size_t* n) {
            return kaa_chat_template_render(t, msgs.data(), msgs.size(), nullptr, b, c, n);
        },
        true, cap, out);
    kaa_chat_template_free(t);
}

const kaa_tokenizer* pick_tokenizer(uint8_t flags) {
    const Handles& h = handles();
    return (flags & 4) && h.falcon_tok ? h.falcon_tok : h.byte_tok;
}

void op_tokenize(kaa::fuzz::InputReader& in, uint8_t cap) {
    const uint8_t flags = in.u8();
    const kaa_tokenizer* tok = pick_tokenizer(flags);
    const std::string_view text = in.rest();
    std::vector<kaa_token> ids;
    if (!buffer_call<kaa_token>(
            [&](kaa_token* b, size_t c, size_t* n) {
                return kaa_tokenize(tok, text.data(), text.size(), flags & 3, b, c, n);
            },
            false, cap, ids))
        return;
    KAA_FUZZ_CHECK(ids.size() <= text.size() + 1);  // the documented bound
    int32_t V = 0;
    KAA_FUZZ_CHECK(kaa_tokenizer_n_vocab(tok, &V) == KAA_OK);
    for (kaa_token t : ids) KAA_FUZZ_CHECK(t >= 0 && t < V);
}

void op_detokenize(kaa::fuzz::InputReader& in, uint8_t cap) {
    const uint8_t flags = in.u8();
    const kaa_tokenizer* tok = pick_tokenizer(flags);
    int32_t V = 0;
    KAA_FUZZ_CHECK(kaa_tokenizer_n_vocab(tok, &V) == KAA_OK);
    std::vector<kaa_token> ids;
    while (in.left() >= 2 && ids.size() < 1024) {
        const uint32_t v = uint32_t(in.u8()) | uint32_t(in.u8()) << 8;
        ids.push_back(kaa_token(int64_t(v % uint32_t(V + 2)) - 1));
    }
    const uint32_t dflags = flags & 1;
    std::vector<char> text;
    (void)buffer_call<char>(
        [&](char* b, size_t c, size_t* n) { return kaa_detokenize(tok, ids.data(), ids.size(), dflags, b, c, n); },
        true, cap, text);
    kaa_stream_decoder* sd = nullptr;
    KAA_FUZZ_CHECK(kaa_stream_decoder_create(tok, dflags, &sd) == KAA_OK);
    for (kaa_token id : ids) {
        std::vector<char> piece;
        (void)buffer_call<char>(
            [&](char* b, size_t c, size_t* n) { return kaa_token_to_piece(tok, id, dflags, b, c, n); },
            true, cap, piece);
        // A too-small buffer must not consume the token: the retry inside buffer_call
        // then yields it exactly once.
        if (buffer_call<char>([&](char* b, size_t c, size_t* n) { return kaa_stream_decoder_push(sd, id, b, c, n); },
                              true, cap, piece))
            KAA_FUZZ_CHECK(kaa::fuzz::valid_utf8(std::string_view(piece.data(), piece.size())));
    }
    std::vector<char> tail;
    if (buffer_call<char>([&](char* b, size_t c, size_t* n) { return kaa_stream_decoder_flush(sd, b, c, n); }, true,
                          cap, tail))
        KAA_FUZZ_CHECK(kaa::fuzz::valid_utf8(std::string_view(tail.data(), tail.size())));
    kaa_stream_decoder_free(sd);
}

kaa_session* new_session() {
    kaa_session_params sp = kaa_session_default_params();
    sp.n_threads = 1;
    kaa_session* s = nullptr;
    KAA_FUZZ_CHECK(kaa_session_create(handles().model, &sp, &s) == KAA_OK);
    return s;
}

void op_state(kaa::fuzz::InputReader& in, uint8_t cap) {
    const std::string_view blob = in.rest();
    kaa_state* st = nullptr;
    const kaa_status rc = kaa_state_deserialize(blob.data(), blob.size(), &st);
    if (rc != KAA_OK) {
        check_failed(rc);
        return;
    }
    std::vector<uint8_t> again;
    KAA_FUZZ_CHECK(buffer_call<uint8_t>(
        [&](uint8_t* b, size_t c, size_t* n) { return kaa_state_serialize(st, b, c, n); }, false, cap, again));
    KAA_FUZZ_CHECK(again.size() == blob.size() && std::memcmp(again.data(), blob.data(), blob.size()) == 0);
    kaa_session* s = new_session();
    if (kaa_session_set_state(s, st) == KAA_OK) {
        const kaa_token t = 0;
        KAA_FUZZ_CHECK(kaa_session_eval(s, &t, 1, 0) == KAA_OK);
    }
    kaa_session_free(s);
    kaa_state_free(st);
}

void op_conversation(kaa::fuzz::InputReader& in, uint8_t cap) {
    const std::string_view bytes = in.rest();
    kaa_session* s = new_session();
    kaa_conversation* c = nullptr;
    KAA_FUZZ_CHECK(kaa_conversation_create(s, nullptr, &c) == KAA_OK);
    const kaa_status rc = kaa_conversation_restore(c, bytes.data(), bytes.size());
    if (rc != KAA_OK) {
        check_failed(rc);
    } else {
        size_t n = 0;
        KAA_FUZZ_CHECK(kaa_conversation_n_messages(c, &n) == KAA_OK);
        for (size_t i = 0; i < n; ++i) {
            const char* role = nullptr;
            const char* content = nullptr;
            KAA_FUZZ_CHECK(kaa_conversation_message(c, i, &role, &content) == KAA_OK && role && content);
        }
        std::vector<char> again;
        KAA_FUZZ_CHECK(buffer_call<char>(
            [&](char* b, size_t cp, size_t* len) { return kaa_conversation_serialize(c, b, cp, len); }, true, cap,
            again));
        if (bytes.size() < 512) {  // the reply re-feeds everything: keep it cheap
            kaa_generate_params gp = kaa_generate_default_params();
            gp.max_tokens = 1;
            const kaa_status r = kaa_conversation_reply(c, "hi", &gp, nullptr);
            if (r != KAA_OK) check_failed(r);
        }
    }
    kaa_conversation_free(c);
    kaa_session_free(s);
}

void op_meta(kaa::fuzz::InputReader& in, uint8_t cap) {
    const kaa_model* m = handles().model;
    const std::string key(in.until_nul());
    std::vector<char> value;
    (void)buffer_call<char>([&](char* b, size_t c, size_t* n) { return kaa_model_meta(m, key.c_str(), b, c, n); },
                            true, cap, value);
    size_t count = 0;
    KAA_FUZZ_CHECK(kaa_model_meta_count(m, &count) == KAA_OK);
    const char* k = nullptr;
    const size_t index = in.u32();
    const kaa_status rc = kaa_model_meta_key(m, index, &k);
    KAA_FUZZ_CHECK((rc == KAA_OK) == (index < count));
    if (rc != KAA_OK) check_failed(rc);
}

void op_sampler(kaa::fuzz::InputReader& in) {
    int32_t V = 0;
    KAA_FUZZ_CHECK(kaa_tokenizer_n_vocab(handles().byte_tok, &V) == KAA_OK);
    kaa_sampler_params p = kaa_sampler_default_params();
    auto f32 = [&] {
        const uint32_t bits = in.u32();
        float f;
        std::memcpy(&f, &bits, 4);
        return f;
    };
    p.temperature = f32();
    p.top_k = int32_t(in.u32());
    p.top_p = f32();
    p.min_p = f32();
    p.typical_p = f32();
    p.repeat_penalty = f32();
    p.presence_penalty = f32();
    p.frequency_penalty = f32();
    p.penalty_last_n = int32_t(in.u32() % 130) - 1;
    p.seed = in.u32();
    kaa_logit_bias bias[2] = {{kaa_token(in.u32() % uint32_t(V + 1)), f32()}, {kaa_token(in.u32()), f32()}};
    p.logit_bias = bias;
    p.n_logit_bias = in.u8() % 3;
    std::vector<float> logits(size_t(V), 0.0f);
    for (float& l : logits) l = in.empty() ? 0.0f : f32();
    kaa_sampler* s = nullptr;
    const kaa_status rc = kaa_sampler_create(&p, V, &s);
    if (rc != KAA_OK) {
        check_failed(rc);
        return;
    }
    for (int i = 0; i < 3; ++i) {
        kaa_token t = -1;
        const kaa_status r = kaa_sampler_sample(s, logits.data(), V, &t);
        if (r != KAA_OK) {
            check_failed(r);
            break;
        }
        KAA_FUZZ_CHECK(t >= 0 && t < V);
        KAA_FUZZ_CHECK(kaa_sampler_accept(s, t) == KAA_OK);
    }
    kaa_sampler_free(s);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    (void)handles();
    kaa::fuzz::InputReader in{data, size};
    const uint8_t op = in.u8();
    const uint8_t cap = in.u8();
    switch (op % 7) {
        case 0: op_template(in, cap); break;
        case 1: op_tokenize(in, cap); break;
        case 2: op_detokenize(in, cap); break;
        case 3: op_state(in, cap); break;
        case 4: op_conversation(in, cap); break;
        case 5: op_meta(in, cap); break;
        default: op_sampler(in); break;
    }
    return 0;
}
