// load.cpp — tokenizer.* GGUF metadata -> VocabSpec -> Tokenizer.
#include "tokenizer/load.hpp"

#include <climits>

#include "kaa/error.hpp"
#include "tokenizer/tokenizer_impl.hpp"

namespace kaa::detail {
namespace {

bool is_integer_type(gguf::ValueType t) {
    switch (t) {
        case gguf::ValueType::u8: case gguf::ValueType::i8: case gguf::ValueType::u16:
        case gguf::ValueType::i16: case gguf::ValueType::u32: case gguf::ValueType::i32:
        case gguf::ValueType::u64: case gguf::ValueType::i64:
            return true;
        default:
            return false;
    }
}

const gguf::Value* string_array(const gguf::File& f, const char* key, bool required) {
    const gguf::Value* v = f.find(key);
    if (!v) {
        if (required) throw Error(ErrorCode::invalid_model, std::string("missing tokenizer metadata '") + key + "'");
        return nullptr;
    }
    if (v->type != gguf::ValueType::array || v->elem_type != gguf::ValueType::string ||
        v->strings.size() != v->count)
        throw Error(ErrorCode::invalid_model, std::string("tokenizer metadata '") + key +
                                                  "' must be an array of strings");
    return v;
}

// A token id key: absent or -1 -> -1; anything else must fit an int32 (the range
// against the vocabulary is checked when the tables are built).
Token token_id(const gguf::File& f, const char* key) {
    const gguf::Value* v = f.find(key);
    if (!v) return -1;
    if (v->type == gguf::ValueType::array || !v->is_integer())
        throw Error(ErrorCode::invalid_model, std::string("tokenizer metadata '") + key + "' must be an integer");
    const bool is_signed = v->type == gguf::ValueType::i8 || v->type == gguf::ValueType::i16 ||
                           v->type == gguf::ValueType::i32 || v->type == gguf::ValueType::i64;
    int64_t id;
    if (is_signed) {
        id = v->as_int(key);
    } else {
        const uint64_t u = v->as_uint(key);
        id = u > uint64_t(INT32_MAX) ? int64_t(INT32_MAX) + 1 : int64_t(u);
    }
    if (id < -1 || id > INT32_MAX)
        throw Error(ErrorCode::invalid_model, std::string("tokenizer metadata '") + key + "' = " +
                                                  std::to_string(id) + " is not a token id");
    return Token(id);
}

}  // namespace

VocabSpec read_vocab_spec(const gguf::File& f) {
    VocabSpec spec;
    const std::optional<std::string> model = f.get_string("tokenizer.ggml.model");
    if (!model) throw Error(ErrorCode::invalid_model, "missing tokenizer metadata 'tokenizer.ggml.model'");
    spec.model = *model;
    if (spec.model != "gpt2")  // checked again in build_tokenizer; fail before reading arrays
        throw Error(ErrorCode::unsupported, "unsupported tokenizer.ggml.model '" + spec.model +
                                                "' (kaa supports byte-level BPE, 'gpt2')");
    spec.pre = f.get_string("tokenizer.ggml.pre").value_or("");

    const gguf::Value* tokens = string_array(f, "tokenizer.ggml.tokens", true);
    spec.tokens.reserve(tokens->strings.size());
    for (std::string_view s : tokens->strings) spec.tokens.emplace_back(s);

    if (const gguf::Value* types = f.find("tokenizer.ggml.token_type")) {
        if (types->type != gguf::ValueType::array || !is_integer_type(types->elem_type))
            throw Error(ErrorCode::invalid_model, "tokenizer metadata 'tokenizer.ggml.token_type' must be an array of integers");
        spec.types.resize(types->count);
        for (uint64_t i = 0; i < types->count; ++i) {
            const int64_t v = types->int_at(i);
            spec.types[i] = v < INT32_MIN || v > INT32_MAX ? -1 : int32_t(v);  // -1: rejected later
        }
    }

    const gguf::Value* merges = string_array(f, "tokenizer.ggml.merges", true);
    spec.merges.reserve(merges->strings.size());
    for (std::string_view s : merges->strings) spec.merges.emplace_back(s);

    spec.bos = token_id(f, "tokenizer.ggml.bos_token_id");
    spec.eos = token_id(f, "tokenizer.ggml.eos_token_id");
    spec.pad = token_id(f, "tokenizer.ggml.padding_token_id");
    spec.eot = token_id(f, "tokenizer.ggml.eot_token_id");
    spec.eom = token_id(f, "tokenizer.ggml.eom_token_id");
    spec.unk = token_id(f, "tokenizer.ggml.unknown_token_id");
    if (const gguf::Value* v = f.find("tokenizer.ggml.add_bos_token")) {
        if (v->type != gguf::ValueType::boolean)
            throw Error(ErrorCode::invalid_model, "tokenizer metadata 'tokenizer.ggml.add_bos_token' must be a bool");
        spec.add_bos = v->as_bool("tokenizer.ggml.add_bos_token");
    }
    return spec;
}

Tokenizer load_tokenizer(const gguf::File& f) { return build_tokenizer(read_vocab_spec(f)); }

}  // namespace kaa::detail
