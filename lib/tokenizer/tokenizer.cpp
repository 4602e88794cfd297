// tokenizer.cpp — building the vocabulary tables, encode, decode, stream decoding.
#include <algorithm>
#include <climits>
#include <cstring>

#include "kaa/error.hpp"
#include "tokenizer/tokenizer_impl.hpp"
#include "tokenizer/unicode.hpp"

namespace kaa::detail {
namespace {

// GPT-2's byte-to-unicode map: bytes that are printable and not white space (21..7E,
// A1..AC, AE..FF) stand for themselves; the other 68 bytes, in increasing order, take
// the code points from U+0100 on. Vocab strings are written in this alphabet.
struct ByteLevel {
    uint32_t to_cp[256];
    int16_t to_byte[256 + 68];  // inverse, -1 where no byte maps

    ByteLevel() {
        std::fill(std::begin(to_byte), std::end(to_byte), int16_t(-1));
        uint32_t next = 256;
        for (int b = 0; b < 256; ++b) {
            const bool self = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
            to_cp[b] = self ? uint32_t(b) : next++;
            to_byte[to_cp[b]] = int16_t(b);
        }
    }
};

const ByteLevel& byte_level() {
    static const ByteLevel table;
    return table;
}

void append_utf8(std::string& s, uint32_t cp) {
    if (cp < 0x80) {
        s += char(cp);
    } else if (cp < 0x800) {
        s += char(0xC0 | (cp >> 6));
        s += char(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        s += char(0xE0 | (cp >> 12));
        s += char(0x80 | ((cp >> 6) & 0x3F));
        s += char(0x80 | (cp & 0x3F));
    } else {
        s += char(0xF0 | (cp >> 18));
        s += char(0x80 | ((cp >> 12) & 0x3F));
        s += char(0x80 | ((cp >> 6) & 0x3F));
        s += char(0x80 | (cp & 0x3F));
    }
}

// The bytes a byte-level vocab string stands for. A character outside the byte-level
// alphabet (not produced by GPT-2 style converters) is kept as its own UTF-8.
void append_byte_level_decoded(std::string& out, std::string_view raw) {
    const ByteLevel& bl = byte_level();
    const auto* s = reinterpret_cast<const unsigned char*>(raw.data());
    size_t i = 0;
    while (i < raw.size()) {
        const Decoded d = decode_utf8(s + i, raw.size() - i);
        if (d.cp < 256 + 68 && bl.to_byte[d.cp] >= 0) out += char(bl.to_byte[d.cp]);
        else out.append(raw.data() + i, d.len);
        i += d.len;
    }
}

// "<0xAB>" -> 0xAB; -1 when the text is not of that form.
int parse_byte_token(std::string_view t) {
    if (t.size() != 6 || t.compare(0, 3, "<0x") != 0 || t[5] != '>') return -1;
    int v = 0;
    for (int i = 3; i < 5; ++i) {
        const char c = t[i];
        int d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else return -1;
        v = v * 16 + d;
    }
    return v;
}

// Control-token texts that end a turn in common chat formats; such tokens count as end
// of generation besides eos/eot/eom (as llama.cpp does).
constexpr std::string_view kEogTexts[] = {
    "<|endoftext|>", "<|im_end|>", "<|eot_id|>", "<|eom_id|>", "<|end|>", "<end_of_turn>",
    "<|end_of_text|>", "</s>",
};

PreKind pre_kind(const std::string& name) {
    if (name == "falcon") return PreKind::falcon;
    if (name == "gpt-2" || name == "mpt") return PreKind::gpt2;
    if (name == "default") return PreKind::llama_default;
    throw Error(ErrorCode::unsupported,
                "unsupported tokenizer.ggml.pre '" + name +
                    "' (kaa supports: falcon, gpt-2, mpt, default)");
}

}  // namespace

Tokenizer build_tokenizer(VocabSpec spec) {
    if (spec.model != "gpt2")
        throw Error(ErrorCode::unsupported, "unsupported tokenizer.ggml.model '" + spec.model +
                                                "' (kaa supports byte-level BPE, 'gpt2')");
    auto impl = std::make_shared<TokenizerImpl>();
    TokenizerImpl& t = *impl;
    t.model = spec.model;
    t.pre_name = spec.pre.empty() ? "default" : spec.pre;
    t.pre = pre_kind(t.pre_name);

    const size_t n = spec.tokens.size();
    if (n == 0) throw Error(ErrorCode::invalid_model, "tokenizer.ggml.tokens is empty");
    if (n > size_t(INT32_MAX) - 1)
        throw Error(ErrorCode::invalid_model, "tokenizer.ggml.tokens has too many entries");
    if (!spec.types.empty() && spec.types.size() != n)
        throw Error(ErrorCode::invalid_model,
                    "tokenizer.ggml.token_type has " + std::to_string(spec.types.size()) +
                        " entries but tokenizer.ggml.tokens has " + std::to_string(n));
    t.n_vocab = int32_t(n);

    size_t raw_total = 0;
    for (const std::string& s : spec.tokens) raw_total += s.size();
    if (raw_total > UINT32_MAX / 2)
        throw Error(ErrorCode::invalid_model, "tokenizer.ggml.tokens is too large");
    t.raw_arena.reserve(raw_total);
    t.raw_off.reserve(n + 1);
    t.attrs.resize(n, TokenAttr::normal);
    for (size_t i = 0; i < n; ++i) {
        t.raw_off.push_back(uint32_t(t.raw_arena.size()));
        t.raw_arena += spec.tokens[i];
        if (!spec.types.empty()) {
            const int32_t ty = spec.types[i];
            if (ty < 0 || ty > int32_t(TokenAttr::byte))
                throw Error(ErrorCode::invalid_model, "tokenizer.ggml.token_type[" + std::to_string(i) +
                                                          "] = " + std::to_string(ty) +
                                                          " is not a token type (0..6)");
            t.attrs[i] = TokenAttr(ty);
        }
    }
    t.raw_off.push_back(uint32_t(t.raw_arena.size()));
    spec.tokens = {};  // the arena holds them now

    // Lookup by raw text; the first of duplicate strings wins.
    t.by_raw.reserve(n);
    for (size_t i = 0; i < n; ++i) {
        const std::string_view r = t.raw(Token(i));
        if (t.find_raw(r) < 0) t.by_raw.insert(hash_bytes(r.data(), r.size()), Token(i));
    }

    // What each token decodes to.
    t.piece_off.reserve(n + 1);
    for (size_t i = 0; i < n; ++i) {
        t.piece_off.push_back(uint32_t(t.piece_arena.size()));
        const std::string_view raw = t.raw(Token(i));
        switch (t.attrs[i]) {
            case TokenAttr::control:
            case TokenAttr::user_defined:
                t.piece_arena += raw;  // stored literally, not in the byte-level alphabet
                break;
            case TokenAttr::byte: {
                const int b = parse_byte_token(raw);
                if (b >= 0) t.piece_arena += char(b);
                else append_byte_level_decoded(t.piece_arena, raw);
                break;
            }
            default:
                append_byte_level_decoded(t.piece_arena, raw);
                break;
        }
        if (t.piece_arena.size() > UINT32_MAX / 2)
            throw Error(ErrorCode::invalid_model, "tokenizer.ggml.tokens is too large");
    }
    t.piece_off.push_back(uint32_t(t.piece_arena.size()));

    // The token of each byte: its byte-level character as a vocab string.
    const ByteLevel& bl = byte_level();
    for (int b = 0; b < 256; ++b) {
        std::string ch;
        append_utf8(ch, bl.to_cp[b]);
        t.byte_token[b] = t.find_raw(ch);
    }

    // Merges: "left right" in rank order. Pairs naming strings the vocab lacks can never
    // apply and are skipped, like Hugging Face skips them.
    t.merges.reserve(spec.merges.size());
    std::string joined;
    for (size_t r = 0; r < spec.merges.size(); ++r) {
        const std::string& m = spec.merges[r];
        const size_t sp = m.find(' ', 1);
        if (sp == std::string::npos || sp + 1 >= m.size())
            throw Error(ErrorCode::invalid_model, "tokenizer.ggml.merges[" + std::to_string(r) +
                                                      "] = '" + m + "' is not of the form 'left right'");
        const std::string_view mv(m);
        const Token l = t.find_raw(mv.substr(0, sp));
        const Token rr = t.find_raw(mv.substr(sp + 1));
        if (l < 0 || rr < 0) continue;
        joined.assign(m, 0, sp);
        joined.append(m, sp + 1, std::string::npos);
        const Token res = t.find_raw(joined);
        if (res < 0) continue;
        t.merges.insert(l, rr, int32_t(r), res);
    }

    // Whole-token shortcut: tokens whose own bytes encode to just themselves.
    {
        t.whole.reserve(n);
        BpeScratch sc;
        std::vector<Token> ids;
        for (size_t i = 0; i < n; ++i) {
            const TokenAttr a = t.attrs[i];
            if (a != TokenAttr::normal && a != TokenAttr::undefined) continue;
            const std::string_view bytes = t.piece(Token(i));
            if (bytes.size() < 2) continue;  // single bytes take the byte_token path
            ids.clear();
            bpe_encode(t.merges, t.byte_token, -1, bytes, ids, sc);
            if (ids.size() == 1 && ids[0] == Token(i)) {
                t.whole.insert(hash_bytes(bytes.data(), bytes.size()), Token(i));
                t.whole_max_len = std::max(t.whole_max_len, bytes.size());
            }
        }
    }

    auto check_id = [&](Token id, const char* key) {
        if (id < -1 || id >= t.n_vocab)
            throw Error(ErrorCode::invalid_model, std::string("tokenizer.ggml.") + key + " = " +
                                                      std::to_string(id) + " is outside the vocabulary (" +
                                                      std::to_string(t.n_vocab) + " tokens)");
        return id;
    };
    t.bos = check_id(spec.bos, "bos_token_id");
    t.eos = check_id(spec.eos, "eos_token_id");
    t.pad = check_id(spec.pad, "padding_token_id");
    t.eot = check_id(spec.eot, "eot_token_id");
    t.eom = check_id(spec.eom, "eom_token_id");
    t.unk = check_id(spec.unk, "unknown_token_id");
    t.add_bos = spec.add_bos;

    // End of generation.
    t.is_eog.assign(n, 0);
    for (Token id : {t.eos, t.eot, t.eom})
        if (id >= 0) t.is_eog[id] = 1;
    for (size_t i = 0; i < n; ++i) {
        if (t.attrs[i] != TokenAttr::control) continue;
        const std::string_view raw = t.raw(Token(i));
        for (std::string_view e : kEogTexts)
            if (raw == e) t.is_eog[i] = 1;
    }
    for (size_t i = 0; i < n; ++i)
        if (t.is_eog[i]) t.eog.push_back(Token(i));

    // Literal tokens: by first byte, longest first, so the first match is the longest.
    for (size_t i = 0; i < n; ++i) {
        const TokenAttr a = t.attrs[i];
        const std::string_view raw = t.raw(Token(i));
        if (raw.empty() || (a != TokenAttr::control && a != TokenAttr::user_defined)) continue;
        t.specials.push_back({raw, Token(i), a == TokenAttr::control});
        t.has_user_defined |= a == TokenAttr::user_defined;
        const unsigned char b = static_cast<unsigned char>(raw[0]);
        t.special_first[1][b] = true;
        if (a == TokenAttr::user_defined) t.special_first[0][b] = true;
    }
    std::stable_sort(t.specials.begin(), t.specials.end(),
                     [](const TokenizerImpl::Special& a, const TokenizerImpl::Special& b) {
                         if (a.text[0] != b.text[0])
                             return static_cast<unsigned char>(a.text[0]) < static_cast<unsigned char>(b.text[0]);
                         return a.text.size() > b.text.size();
                     });
    size_t k = 0;
    for (int b = 0; b <= 256; ++b) {
        while (k < t.specials.size() && static_cast<unsigned char>(t.specials[k].text[0]) < b) ++k;
        t.special_start[b] = uint32_t(k);
    }
    return Tokenizer(std::move(impl));
}

}  // namespace kaa::detail
