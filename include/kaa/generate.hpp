// kaa/generate.hpp — text generation on a Session: options, results, streaming.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kaa/export.hpp"
#include "kaa/sampler.hpp"
#include "kaa/types.hpp"

namespace kaa {

enum class StopReason {
    max_tokens,         // GenerationOptions::max_tokens reached
    end_of_generation,  // the model produced an end-of-generation token (eos, eot, ...)
    stop_string,        // a GenerationOptions::stop string appeared in the text
    callback,           // the stream callback returned false
};
KAA_API const char* stop_reason_name(StopReason r) noexcept;

struct GenerationOptions {
    // Tokens to generate at most: >= 0 and <= the Session's
    // SessionParams::max_generation_tokens (default 2^24), or generate refuses the call.
    int32_t max_tokens = 256;
    SamplerParams sampler;             // temperature <= 0 for greedy
    std::vector<std::string> stop;     // stop strings, matched on the text across tokens
    bool ignore_eos = false;           // keep going past end-of-generation tokens
    std::optional<bool> add_bos;       // default: the tokenizer's add_bos_default()
    bool parse_special = true;         // control tokens written in the prompt are parsed
};

struct GenerationTimings {
    int64_t n_prompt = 0;        // prompt tokens evaluated
    double prompt_ms = 0;
    int64_t n_generated = 0;     // tokens sampled
    double generation_ms = 0;    // sampling + evaluating the generated tokens
    double prompt_tokens_per_second() const { return prompt_ms > 0 ? 1000.0 * double(n_prompt) / prompt_ms : 0; }
    double generation_tokens_per_second() const {
        return generation_ms > 0 ? 1000.0 * double(n_generated) / generation_ms : 0;
    }
};

struct GenerationResult {
    std::string text;            // generated text, without a matched stop string
    std::vector<Token> tokens;   // generated tokens (an end-of-generation token included)
    StopReason stop_reason = StopReason::max_tokens;
    GenerationTimings timings;
};

// Receives each piece of generated text as soon as it is complete UTF-8. Return false
// to stop generation (the Session stays usable).
using StreamCallback = std::function<bool(std::string_view piece)>;

}  // namespace kaa
