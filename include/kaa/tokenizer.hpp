// kaa/tokenizer.hpp — text <-> token ids for the byte-level BPE vocabularies that GGUF
// files carry (tokenizer.ggml.model = "gpt2": Falcon, GPT-NeoX/Mamba, GPT-2).
//
// A Tokenizer is a handle to an immutable vocabulary: copying it is cheap (shared), and
// every const method may be called from any number of threads at once.
//
// Guarantees:
//   - encode() reproduces the Hugging Face `tokenizers` output of the original model for
//     the supported pre-tokenizers (see pre_tokenizer()), with two known limits: the NFC
//     normalizer of GPT-NeoX's tokenizer is not applied (text already in NFC, nearly all
//     text, is unaffected; llama.cpp does not apply it either), and characters assigned
//     after Unicode 14.0 count as symbols rather than letters or digits.
//   - decode(encode(s)) == s byte for byte, for any input, invalid UTF-8 included (each
//     invalid byte is encoded alone through the byte-level alphabet), provided the
//     vocabulary has a token for every byte of s. Falcon's lacks 28 byte values that
//     never or hardly ever occur in text (C0 C1 F2 F5..FF, and the control characters
//     03 04 05 0B 11 13..17 19 1C..1E); such bytes are dropped, exactly as the Hugging
//     Face tokenizer drops them (or become the unknown token if the vocabulary has one).
//   - Nothing throws on odd text; ids outside [0, n_vocab) throw Error(invalid_token).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kaa/export.hpp"
#include "kaa/types.hpp"

namespace kaa {

namespace detail {
struct TokenizerImpl;
}

// Per-token attribute: the values of the GGUF array tokenizer.ggml.token_type.
enum class TokenAttr : int32_t {
    undefined = 0,
    normal = 1,        // an ordinary BPE token (its text is byte-level encoded)
    unknown = 2,
    control = 3,       // <|endoftext|>, >>TITLE<<, ...: produced only by parse_special
    user_defined = 4,  // an added token: its text is stored literally, always matched in input
    unused = 5,
    byte = 6,          // "<0xAB>": the single byte 0xAB
};

struct TokenizeOptions {
    bool add_bos = false;        // put bos() first (see Tokenizer::add_bos_default());
                                 // Error(invalid_argument) when the vocabulary has no BOS
    bool parse_special = false;  // control-token texts in the input ("<|endoftext|>") become
                                 // those ids; when false they are tokenized as plain text
};

struct DecodeOptions {
    bool skip_special = false;   // control tokens decode to nothing instead of their text
};

class KAA_API Tokenizer {
public:
    // Loads only the tokenizer.* metadata of a GGUF file (no weights are touched).
    // Throws Error: io / invalid_file for the file, invalid_model when the tokenizer
    // metadata is missing or inconsistent, unsupported for another tokenizer model or an
    // unknown pre-tokenizer.
    static Tokenizer from_file(const std::string& gguf_path);

    std::vector<Token> encode(std::string_view text, const TokenizeOptions& opts = {}) const;

    // The bytes the ids stand for, concatenated. Normal and byte tokens give their bytes;
    // control and user-defined tokens give their text (control ones nothing with
    // skip_special). The result is exactly what was encoded, so it may be invalid UTF-8
    // when the ids are an arbitrary cut of a stream: use StreamDecoder for display.
    // Throws Error(invalid_token) for an id outside [0, n_vocab).
    std::string decode(const std::vector<Token>& ids, const DecodeOptions& opts = {}) const;
    // The bytes of one token, as decode({id}).
    std::string token_to_piece(Token id, const DecodeOptions& opts = {}) const;

    int32_t n_vocab() const noexcept;
    Token bos() const noexcept;  // -1 when the file names none
    Token eos() const noexcept;
    Token pad() const noexcept;
    Token eot() const noexcept;  // end of turn (tokenizer.ggml.eot_token_id), -1 when absent
    // tokenizer.ggml.add_bos_token; false when absent (Falcon and Mamba add no BOS).
    bool add_bos_default() const noexcept;

    // True for eos, eot and eom, and for control tokens whose text is a well-known
    // end-of-turn marker ("<|im_end|>", "<|endoftext|>", ...). False for invalid ids.
    bool is_end_of_generation(Token id) const noexcept;
    const std::vector<Token>& end_of_generation_tokens() const noexcept;

    TokenAttr attr(Token id) const;          // throws Error(invalid_token)
    // The raw vocab string as stored in the GGUF file (valid as long as any copy of this
    // Tokenizer); throws Error(invalid_token).
    std::string_view text(Token id) const;
    // The id whose raw vocab string is exactly `raw_text`, -1 when none.
    Token find(std::string_view raw_text) const noexcept;

    std::string_view model() const noexcept;          // "gpt2"
    std::string_view pre_tokenizer() const noexcept;  // "falcon", "gpt-2", "mpt", "default"

    // Internal: Model::tokenizer() and from_file() build Tokenizers.
    explicit Tokenizer(std::shared_ptr<const detail::TokenizerImpl> impl);
    const std::shared_ptr<const detail::TokenizerImpl>& impl() const noexcept { return impl_; }

private:
    std::shared_ptr<const detail::TokenizerImpl> impl_;
};

// Turns a stream of generated tokens into text that is always valid UTF-8: a character
// whose bytes are spread over several tokens is returned once all of them have arrived.
// Bytes that can never form a character come out as U+FFFD. It holds a copy of the
// Tokenizer (so it may outlive the Model); one StreamDecoder is not thread-safe.
class KAA_API StreamDecoder {
public:
    explicit StreamDecoder(const Tokenizer& tokenizer, const DecodeOptions& opts = {});

    // The text completed by this token (maybe empty). Throws Error(invalid_token).
    std::string push(Token id);
    // Everything still held back; an unfinished character becomes U+FFFD. The decoder is
    // then empty and may be reused.
    std::string flush();
    // Drops what is held back.
    void reset() noexcept { pending_.clear(); }

private:
    Tokenizer tokenizer_;
    DecodeOptions opts_;
    std::string pending_;  // bytes of a character not yet complete (at most 3)
};

}  // namespace kaa
