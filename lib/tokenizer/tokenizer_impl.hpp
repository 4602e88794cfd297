// tokenizer_impl.hpp — the immutable vocabulary behind kaa::Tokenizer.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "kaa/tokenizer.hpp"
#include "tokenizer/bpe.hpp"
#include "tokenizer/piece_index.hpp"
#include "tokenizer/pretokenize.hpp"

namespace kaa::detail {

// Everything a tokenizer is built from, as read from GGUF metadata (load.cpp) or made
// up by a test. Ids are -1 when absent.
struct VocabSpec {
    std::string model = "gpt2";        // tokenizer.ggml.model
    std::string pre;                   // tokenizer.ggml.pre; "" = absent
    std::vector<std::string> tokens;   // tokenizer.ggml.tokens
    std::vector<int32_t> types;        // tokenizer.ggml.token_type; empty = all normal
    std::vector<std::string> merges;   // tokenizer.ggml.merges, "left right", by rank
    Token bos = -1, eos = -1, pad = -1, eot = -1, eom = -1, unk = -1;
    bool add_bos = false;
};

// Validates the spec and builds the tables. Throws Error(invalid_model) for
// inconsistent data and Error(unsupported) for an unknown model or pre-tokenizer.
Tokenizer build_tokenizer(VocabSpec spec);

struct TokenizerImpl {
    std::string model;
    std::string pre_name;  // as given ("default" when the file named none)
    PreKind pre = PreKind::gpt2;
    int32_t n_vocab = 0;

    // Raw vocab strings and the bytes each token decodes to, packed: token i is
    // [off[i], off[i+1]) in its arena.
    std::string raw_arena;
    std::vector<uint32_t> raw_off;
    std::string piece_arena;
    std::vector<uint32_t> piece_off;
    std::vector<TokenAttr> attrs;
    TokenIndex by_raw;  // raw vocab string -> first token with it

    Token byte_token[256];  // the token of each single byte; -1 when the vocab lacks it
    MergeTable merges;
    TokenIndex whole;  // bytes -> token, where BPE gives exactly that token
    size_t whole_max_len = 0;  // longest key in `whole`

    Token bos = -1, eos = -1, pad = -1, eot = -1, eom = -1, unk = -1;
    bool add_bos = false;
    std::vector<Token> eog;         // sorted
    std::vector<uint8_t> is_eog;    // per token

    // Tokens matched literally in the input before splitting: user-defined ones always,
    // control ones with parse_special. Sorted by first byte, then longest first.
    struct Special {
        std::string_view text;  // view into raw_arena
        Token id;
        bool control;
    };
    std::vector<Special> specials;
    uint32_t special_start[257] = {};
    bool has_user_defined = false;  // else, without parse_special, nothing is matched
    // Whether some literal token starts with byte b: [0] user-defined ones only (what is
    // matched without parse_special), [1] user-defined or control.
    bool special_first[2][256] = {};  // specials starting with byte b: [start[b], start[b+1])

    std::string_view raw(Token id) const {
        return std::string_view(raw_arena).substr(raw_off[id], raw_off[id + 1] - raw_off[id]);
    }
    std::string_view piece(Token id) const {
        return std::string_view(piece_arena).substr(piece_off[id], piece_off[id + 1] - piece_off[id]);
    }
    Token find_raw(std::string_view s) const noexcept {
        return by_raw.find(s, hash_bytes(s.data(), s.size()), [this](Token id) { return raw(id); });
    }
    // The token that the bytes `s` (hash h = hash_bytes(s)) BPE-encode to, when that is
    // a single token; -1 otherwise or when unknown.
    Token whole_token(std::string_view s, uint64_t h) const noexcept {
        return whole.find(s, h, [this](Token id) { return piece(id); });
    }
};

}  // namespace kaa::detail
