// kaa/sampler.hpp — turning a logit vector into the next token.
//
// A Sampler is a small value: copy it to fork a generation (the copy continues the same
// random stream and penalty history). It is not thread-safe; use one per Session/thread.
#pragma once

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "kaa/export.hpp"
#include "kaa/types.hpp"

namespace kaa {

// SamplerParams::seed value that asks for a seed drawn from std::random_device.
// Sampler::seed() then tells which seed was drawn, so the run can be reproduced.
inline constexpr uint64_t kRandomSeed = 0xFFFFFFFFFFFFFFFFull;

struct SamplerParams {
    float temperature = 0.8f;   // <= 0: greedy (argmax after biases/penalties); must not be NaN/inf
    int32_t top_k = 40;         // <= 0: off
    float top_p = 0.95f;        // >= 1: off; must be >= 0 (0 keeps the single most likely token)
    float min_p = 0.05f;        // <= 0: off; must be in [0, 1]
    float typical_p = 1.0f;     // >= 1: off; must be >= 0 (locally typical sampling)
    float repeat_penalty = 1.0f;     // 1: off; must be > 0
    float presence_penalty = 0.0f;   // subtracted once from every token in the window
    float frequency_penalty = 0.0f;  // subtracted once per occurrence in the window
    int32_t penalty_last_n = 64;     // recent accepted tokens the penalties look at
                                     // (0: penalties off, -1: the whole history)
    std::vector<std::pair<Token, float>> logit_bias;  // added to logits; -INFINITY bans a token
    uint64_t seed = kRandomSeed;     // kRandomSeed: random; anything else: deterministic
};

class KAA_API Sampler {
public:
    // Validates the parameters against n_vocab; throws kaa::Error(invalid_argument) for
    // values out of range (or n_vocab <= 0) and kaa::Error(invalid_token) for a logit_bias
    // token outside [0, n_vocab). Copies continue the same random stream and history; a
    // moved-from Sampler throws Error(invalid_argument) when used.
    Sampler(const SamplerParams& params, int32_t n_vocab);
    ~Sampler();
    Sampler(const Sampler& other);
    Sampler& operator=(const Sampler& other);
    Sampler(Sampler&& other) noexcept;
    Sampler& operator=(Sampler&& other) noexcept;

    // Picks a token from `logits` (n_vocab floats, left unmodified). The stages run in this
    // order: logit bias -> penalties over the recent accepted tokens -> (argmax if
    // temperature <= 0) -> top-k -> typical-p -> top-p -> min-p -> temperature -> draw.
    // Filtering stages see probabilities at temperature 1; temperature shapes only the
    // final draw. The sampled token is NOT added to the penalty history: call accept().
    // Throws kaa::Error(invalid_argument) for a null pointer, an n_vocab that differs from
    // the constructor's, a NaN or +inf logit, or when every token is banned (-inf).
    Token sample(const float* logits, int32_t n_vocab);

    // Records a token into the penalty history (prompt tokens too, if wanted).
    // Throws kaa::Error(invalid_token) for an id outside [0, n_vocab).
    void accept(Token token);

    // Clears the history and restarts the random stream from seed(), so a reset Sampler
    // reproduces the tokens it gave after construction.
    void reset();

    // The seed in use: params().seed, or the drawn one when that was kRandomSeed.
    uint64_t seed() const;
    const SamplerParams& params() const;
    int32_t n_vocab() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;  // null only in a moved-from Sampler
};

}  // namespace kaa
