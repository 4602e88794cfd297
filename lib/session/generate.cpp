// generate.cpp — the sampling loop: prompt → eval → (sample → stream → eval)*.
#include <chrono>

#include "kaa/session.hpp"
#include "kaa/tokenizer.hpp"
#include "sampling/stop.hpp"

namespace kaa {

const char* stop_reason_name(StopReason r) noexcept {
    switch (r) {
        case StopReason::max_tokens: return "max_tokens";
        case StopReason::end_of_generation: return "end_of_generation";
        case StopReason::stop_string: return "stop_string";
        case StopReason::callback: return "callback";
    }
    return "unknown";
}

namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

}  // namespace

GenerationResult Session::generate(std::string_view prompt, const GenerationOptions& opts,
                                   const StreamCallback& on_text) {
    const Tokenizer& tok = model().tokenizer();  // throws when the model has none
    TokenizeOptions to;
    to.add_bos = opts.add_bos.value_or(tok.add_bos_default()) && position() == 0;
    to.parse_special = opts.parse_special;
    return generate(tok.encode(prompt, to), opts, on_text);
}

GenerationResult Session::generate(const std::vector<Token>& prompt, const GenerationOptions& opts,
                                   const StreamCallback& on_text) {
    const Tokenizer& tok = model().tokenizer();
    if (opts.max_tokens < 0) throw Error(ErrorCode::invalid_argument, "max_tokens must be >= 0");
    const SessionParams& limits = params();
    if (opts.max_tokens > limits.max_generation_tokens)
        throw Error(ErrorCode::invalid_argument,
                    "max_tokens " + std::to_string(opts.max_tokens) +
                        " exceeds SessionParams::max_generation_tokens (" +
                        std::to_string(limits.max_generation_tokens) + ")");
    if (prompt.size() > uint64_t(limits.max_tokens_per_call))
        throw Error(ErrorCode::invalid_argument,
                    "the prompt's " + std::to_string(prompt.size()) +
                        " tokens exceed SessionParams::max_tokens_per_call (" +
                        std::to_string(limits.max_tokens_per_call) + ")");
    const int32_t V = model().n_vocab();
    Sampler sampler(opts.sampler, V);  // validates the sampler parameters

    GenerationResult res;
    const auto t_prompt = Clock::now();
    if (!prompt.empty()) {
        eval(prompt);
    } else if (logits().empty()) {
        // An empty prompt continues from the last logits. A Session that has evaluated
        // tokens but holds no logits (a State restored with set_state carries none) must
        // not get a BOS in the middle of its sequence: the caller has to say what comes
        // next.
        if (position() > 0)
            throw Error(ErrorCode::invalid_argument,
                        "generate with an empty prompt needs the logits of the last token, and this Session has "
                        "none (set_state restores the state without logits): pass the next prompt tokens");
        // Nothing evaluated yet: start from BOS when the vocabulary has one.
        if (tok.bos() < 0)
            throw Error(ErrorCode::invalid_argument, "generate needs a prompt (the model has no BOS token)");
        eval(std::vector<Token>{tok.bos()});
        res.timings.n_prompt = 1;
    }
    res.timings.n_prompt += int64_t(prompt.size());
    res.timings.prompt_ms = ms_since(t_prompt);
    // The penalty window sees the prompt's most recent tokens.
    for (Token t : prompt) sampler.accept(t);

    StreamDecoder decoder(tok);
    detail::StopMatcher stops(opts.stop);
    bool stopped_by_user = false;
    auto emit = [&](const std::string& piece) {
        if (piece.empty()) return;
        res.text += piece;
        if (on_text && !on_text(piece)) stopped_by_user = true;
    };

    const auto t_gen = Clock::now();
    res.stop_reason = StopReason::max_tokens;
    for (int32_t i = 0; i < opts.max_tokens; ++i) {
        const Token t = sampler.sample(logits().data(), V);
        sampler.accept(t);
        res.tokens.push_back(t);
        ++res.timings.n_generated;
        if (!opts.ignore_eos && tok.is_end_of_generation(t)) {
            res.stop_reason = StopReason::end_of_generation;
            break;
        }
        // Feed the token back first: the state then always covers every token returned.
        eval(&t, 1);
        const auto r = stops.push(decoder.push(t));
        emit(r.emit);
        if (r.stopped) {
            res.stop_reason = StopReason::stop_string;
            break;
        }
        if (stopped_by_user) {
            res.stop_reason = StopReason::callback;
            break;
        }
    }
    if (res.stop_reason != StopReason::stop_string && res.stop_reason != StopReason::callback) {
        // Release what the decoder and the stop matcher still hold.
        const auto r = stops.push(decoder.flush());
        emit(r.emit);
        if (r.stopped) res.stop_reason = StopReason::stop_string;
        else emit(stops.flush());
    }
    res.timings.generation_ms = ms_since(t_gen);
    return res;
}

}  // namespace kaa
