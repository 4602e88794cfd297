// fuzz_tokenizer — Tokenizer::encode on arbitrary bytes, decode of arbitrary ids.
//
// Input: one flag byte, then the text (encode) or the ids (decode).
//   bits 0-2  which tokenizer: the synthetic byte-level vocabulary with the "default",
//             "gpt-2" and "falcon" pre-tokenizers (0-2), then the Falcon vocabulary of
//             ../shared/models/falcon-vocab-only.gguf with the same three (3-5; when
//             shared/ is absent these fall back to 0-2)
//   bit 3     TokenizeOptions::parse_special      bit 4  add_bos
//   bit 5     decode mode                          bit 6  DecodeOptions::skip_special
//   bit 7     decode mode: raw little-endian int32 ids (mostly invalid) rather than u16
//             values mapped onto [-1, n_vocab]
// Checked beyond "no crash": ids in range; decode(encode(s)) == s whenever the
// vocabulary has a token for every byte of s (the tokenizer.hpp guarantee); the
// StreamDecoder's output is always valid UTF-8 and, for valid UTF-8 input, the text
// itself; decode of valid ids never throws and equals the concatenated token pieces.
#include <memory>

#include "fuzz_support.hpp"
#include "gguf/gguf.hpp"
#include "kaa/error.hpp"
#include "kaa/tokenizer.hpp"
#include "tokenizer/load.hpp"
#include "tokenizer/tokenizer_impl.hpp"

using kaa::Token;

namespace {

std::vector<kaa::Tokenizer> build_variants(const kaa::gguf::File& f) {
    std::vector<kaa::Tokenizer> out;
    for (const char* pre : {"default", "gpt-2", "falcon"}) {
        kaa::detail::VocabSpec spec = kaa::detail::read_vocab_spec(f);
        spec.pre = pre;
        out.push_back(kaa::detail::build_tokenizer(std::move(spec)));
    }
    return out;
}

const std::vector<kaa::Tokenizer>& tokenizers() {
    static const std::vector<kaa::Tokenizer> all = [] {
        kaa::gguf::SynthSpec spec = kaa::fuzz::tiny_spec(kaa::gguf::TensorType::f32);
        std::vector<kaa::Tokenizer> v =
            build_variants(kaa::gguf::File::from_bytes(kaa::gguf::synth_model_bytes(spec)));
        const std::string falcon = kaa::fuzz::shared_file("models/falcon-vocab-only.gguf");
        if (!falcon.empty()) {
            std::vector<kaa::Tokenizer> f = build_variants(kaa::gguf::File::open(falcon));
            v.insert(v.end(), f.begin(), f.end());
        }
        return v;
    }();
    return all;
}

void fuzz_encode(const kaa::Tokenizer& tok, std::string_view text, uint8_t flags) {
    kaa::TokenizeOptions to;
    to.parse_special = flags & 8;
    to.add_bos = flags & 16;
    const std::vector<Token> ids = tok.encode(text, to);  // never throws on text
    for (Token t : ids) KAA_FUZZ_CHECK(t >= 0 && t < tok.n_vocab());
    size_t first = 0;
    if (to.add_bos && tok.bos() >= 0) {
        KAA_FUZZ_CHECK(!ids.empty() && ids[0] == tok.bos());
        first = 1;
    }
    const std::vector<Token> body(ids.begin() + std::ptrdiff_t(first), ids.end());

    bool covered = true;  // every byte of the text has a byte-level token
    for (char c : text) covered = covered && tok.impl()->byte_token[static_cast<unsigned char>(c)] >= 0;
    if (covered) KAA_FUZZ_CHECK(tok.decode(body) == text);

    kaa::StreamDecoder sd(tok);
    std::string streamed;
    for (Token t : body) {
        const std::string piece = sd.push(t);
        KAA_FUZZ_CHECK(kaa::fuzz::valid_utf8(piece));
        streamed += piece;
    }
    const std::string tail = sd.flush();
    KAA_FUZZ_CHECK(kaa::fuzz::valid_utf8(tail));
    streamed += tail;
    if (covered && kaa::fuzz::valid_utf8(text)) KAA_FUZZ_CHECK(streamed == text);
}

void fuzz_decode(const kaa::Tokenizer& tok, kaa::fuzz::InputReader& in, uint8_t flags) {
    const int32_t V = tok.n_vocab();
    std::vector<Token> ids;
    while (in.left() >= (flags & 128 ? 4u : 2u) && ids.size() < 4096) {
        if (flags & 128) {
            ids.push_back(Token(in.u32()));
        } else {
            const uint32_t v = uint32_t(in.u8()) | uint32_t(in.u8()) << 8;
            ids.push_back(Token(int64_t(v % uint32_t(V + 2)) - 1));
        }
    }
    bool all_valid = true;
    for (Token t : ids) all_valid = all_valid && t >= 0 && t < V;

    kaa::DecodeOptions dopt;
    dopt.skip_special = flags & 64;
    std::string text;
    try {
        text = tok.decode(ids, dopt);
        KAA_FUZZ_CHECK(all_valid);
    } catch (const kaa::Error& e) {
        KAA_FUZZ_CHECK(!all_valid && e.code() == kaa::ErrorCode::invalid_token);
    }

    std::string pieces;
    kaa::StreamDecoder sd(tok, dopt);
    for (Token t : ids) {
        if (t < 0 || t >= V) {
            KAA_FUZZ_CHECK(!tok.is_end_of_generation(t));
            try {
                (void)sd.push(t);
                KAA_FUZZ_CHECK(!"StreamDecoder::push accepted an invalid id");
            } catch (const kaa::Error&) {
            }
            continue;
        }
        pieces += tok.token_to_piece(t, dopt);
        (void)tok.attr(t);
        (void)tok.is_end_of_generation(t);
        const Token found = tok.find(tok.text(t));
        KAA_FUZZ_CHECK(found >= 0 && found < V && tok.text(found) == tok.text(t));
        KAA_FUZZ_CHECK(kaa::fuzz::valid_utf8(sd.push(t)));
    }
    KAA_FUZZ_CHECK(kaa::fuzz::valid_utf8(sd.flush()));
    if (all_valid) KAA_FUZZ_CHECK(pieces == text);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::vector<kaa::Tokenizer>& toks = tokenizers();
    kaa::fuzz::InputReader in{data, size};
    const uint8_t flags = in.u8();
    const size_t which = size_t(flags & 7) % toks.size();
    const kaa::Tokenizer& tok = toks[which];
    if (flags & 32) fuzz_decode(tok, in, flags);
    else fuzz_encode(tok, in.rest(), flags);
    return 0;
}
