// load.hpp — building a Tokenizer from the tokenizer.* metadata of a GGUF file.
#pragma once

#include "gguf/gguf.hpp"
#include "kaa/tokenizer.hpp"

namespace kaa::detail {

struct VocabSpec;

// Reads tokenizer.ggml.{model, pre, tokens, token_type, merges, *_token_id,
// add_bos_token}. Throws Error(invalid_model) when they are missing or inconsistent
// (lengths differ, an id is out of range, a merge is malformed) and Error(unsupported)
// for a tokenizer model other than "gpt2" or an unknown pre-tokenizer name.
// A file without tokenizer.ggml.pre is treated as "default", as llama.cpp does.
Tokenizer load_tokenizer(const gguf::File& file);

// The metadata as read, before validation (load_tokenizer = build_tokenizer of this);
// lets tests rebuild a vocabulary with one field changed.
VocabSpec read_vocab_spec(const gguf::File& file);

}  // namespace kaa::detail
