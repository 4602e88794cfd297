// pretokenize.hpp — splitting text into the pieces that BPE then encodes one by one.
//
// Each kind reproduces, by hand, the split rules of one family of tokenizers (no regex
// engine: a direct matcher is many times faster and has no backtracking blow-up):
//
// gpt2    GPT-2's pattern, used as is by GPT-2 and GPT-NeoX (state-spaces Mamba,
//         llama.cpp names "gpt-2" and "mpt"):
//           's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// falcon  the Hugging Face pipeline of tiiuae/falcon-7b (llama.cpp name "falcon"):
//           1. Punctuation, contiguous: each run of [\p{P}$+<=>^`|~] is its own piece;
//           2. ByteLevel: the GPT-2 pattern on the text between those runs;
//           3. Digits (not individual): runs of numeric characters are isolated. This
//              runs after ByteLevel, so on the byte-level alphabet: it isolates runs of
//              the bytes whose byte-level character is numeric, '0'-'9' and also
//              B2 B3 B9 BC BD BE (drawn as ² ³ ¹ ¼ ½ ¾), which splits e.g. "ü" (C3 BC);
//           4. Split [0-9][0-9][0-9], isolated: numbers in groups of three from the left.
// llama_default  what llama.cpp applies when a file names no pre-tokenizer:
//           [\p{P}$+<=>^~|]+, the GPT-2 pattern, \p{N}+ (on characters), [0-9]{3}.
//
// \s is the Unicode White_Space property, \p{L}/\p{N}/\p{P} the general categories
// (tables generated from Python's unicodedata). Invalid UTF-8 bytes count as symbols
// ([^\s\p{L}\p{N}]) of one byte each, so any byte string splits, losslessly.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

namespace kaa::detail {

enum class PreKind : unsigned char { gpt2, falcon, llama_default };

// Calls fn(ctx, begin, end) for every piece of `text`, in order. Pieces are non-empty,
// contiguous and cover the text. (A plain function pointer: the encoder consumes pieces
// as they come, so no list of a whole long text is ever built.)
using PieceFn = void (*)(void* ctx, size_t begin, size_t end);
void pretokenize(PreKind kind, std::string_view text, PieceFn fn, void* ctx);

// The same, appending each piece's end offset to `ends` (for tests and tools).
void pretokenize(PreKind kind, std::string_view text, std::vector<size_t>& ends);

// True for the bytes whose GPT-2 byte-level character is numeric (Falcon's Digits step).
bool is_byte_level_numeric(unsigned char b) noexcept;

}  // namespace kaa::detail
