// kaa/session.hpp — one sequence being evaluated on a Model.
//
// A Session owns its State, its scratch buffers and its thread pool; several Sessions may
// run on one Model at once (on different threads). One Session is not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "kaa/error.hpp"
#include "kaa/export.hpp"
#include "kaa/generate.hpp"
#include "kaa/model.hpp"
#include "kaa/state.hpp"
#include "kaa/types.hpp"

namespace kaa {

namespace detail { struct SessionImpl; }

struct SessionParams {
    int32_t n_threads = 0;  // 0: the model's n_threads
    int32_t n_batch = 256;  // tokens per internal prefill chunk (bounds scratch memory)

    // Limits for a host that passes requests from elsewhere (a script, a network peer) on
    // to the Session. Exceeding one is Error(invalid_argument) naming the limit, raised
    // before anything is evaluated: the state, position and logits stay as they were.
    //
    // Tokens one call may bring: eval, this Session's share of eval_batch, and the
    // (tokenized) prompt of generate. The state is constant-size, so memory never depends
    // on it, except eval with all_logits, which returns n x n_vocab floats (a 1M-token
    // call on a 65k vocabulary would need 260 GB): set it lower when callers may ask for
    // all logits. Must be >= 1.
    int64_t max_tokens_per_call = int64_t(1) << 20;
    // Ceiling on GenerationOptions::max_tokens for generate (and Conversation::reply) on
    // this Session. A generation's cost grows with its length (time, and the text and
    // token ids it returns: about 8 bytes a token), so a host bounds it here, once, rather
    // than trusting each request's max_tokens. The default is kaa-cli's own bound on -n
    // (days of generation on a 7B model); the state is constant-size, so a longer run is
    // no error in itself. Must be >= 0.
    int32_t max_generation_tokens = int32_t(1) << 24;
};

struct EvalOptions {
    bool all_logits = false;  // logits for every evaluated position, not only the last
};

class Session;

// One Session's share of a batched evaluation.
struct BatchItem {
    Session* session;
    const Token* tokens;
    size_t n_tokens;
};

// Evaluates several Sessions of the same Model in one pass over the weights: their
// tokens are stacked so each weight matrix is read once per step for all of them (N
// sessions decoding one token each cost about one GEMV's worth of memory traffic). Each
// Session may bring any number of tokens, at any position. Afterwards each Session's
// logits() holds the logits of its last token, bit for bit what Session::eval would give.
// Runs on the first Session's threads. Throws Error(invalid_argument) when the Sessions
// are not distinct or not on the same Model, or an item has no tokens or more than its
// Session's max_tokens_per_call, and Error(invalid_token) for a bad id (nothing is
// evaluated then).
KAA_API void eval_batch(const std::vector<BatchItem>& items);

class KAA_API Session {
public:
    // A fresh Session (zero state, position 0) that keeps the Model alive. Starts its
    // thread pool (n_threads - 1 workers). Throws Error(invalid_argument) for params out
    // of range (n_threads > 1024, n_batch outside [1, 65536], the limits below 1 / 0).
    explicit Session(const Model& model, const SessionParams& params = {});
    ~Session();
    Session(Session&&) noexcept;
    Session& operator=(Session&&) noexcept;
    Session(const Session&) = delete;             // use fork()
    Session& operator=(const Session&) = delete;

    // Feeds tokens after the current position and returns logits: n_vocab floats for the
    // last token, or (n x n_vocab) row-major with all_logits. The reference stays valid
    // until the next eval/reset/set_state. Throws Error(invalid_token) for an id outside
    // [0, n_vocab) and Error(invalid_argument) for n == 0 or n > max_tokens_per_call (the
    // state is then unchanged).
    const std::vector<float>& eval(const Token* tokens, size_t n, const EvalOptions& opts = {});
    const std::vector<float>& eval(const std::vector<Token>& tokens, const EvalOptions& opts = {}) {
        return eval(tokens.data(), tokens.size(), opts);
    }
    // Logits of the last eval (empty before the first, and after reset/set_state).
    const std::vector<float>& logits() const noexcept;

    int64_t position() const noexcept;  // tokens consumed since creation / reset
    void reset();                       // zero state, position 0, no logits

    State state() const;               // a copy of the current state
    // Restores a state (rewind, or fork from another Session) and clears the logits.
    // Throws Error(state_mismatch) if it was made for another model,
    // Error(invalid_argument) if it is empty, Error(invalid_state) if its payload size or
    // position is inconsistent.
    void set_state(const State& state);
    // A new Session on the same model, with the same params and a copy of this one's
    // state, position and logits.
    Session fork() const;

    // Generates text after `prompt` (which may be empty to continue from the last
    // logits). The prompt is tokenized with the model's tokenizer (BOS only at position
    // 0), evaluated, then tokens are sampled and evaluated one by one; every sampled token
    // but a final end-of-generation one is fed back, so the state afterwards continues
    // the text exactly (multi-turn chat needs no re-processing). With an empty prompt and
    // no logits, a Session at position 0 (new or reset) evaluates the BOS token first
    // (Error(invalid_argument) if there is none); one further on (right after set_state,
    // which restores no logits) throws Error(invalid_argument): give it a prompt.
    // on_text runs on the calling thread. Throws Error(invalid_model) if the model has no
    // tokenizer, Error(invalid_argument)
    // for bad options, a max_tokens above SessionParams::max_generation_tokens or a
    // prompt of more than max_tokens_per_call tokens (all checked before anything is
    // evaluated); exceptions thrown by the callback propagate.
    GenerationResult generate(std::string_view prompt, const GenerationOptions& opts = {},
                              const StreamCallback& on_text = nullptr);
    // The same from token ids (no BOS is added).
    GenerationResult generate(const std::vector<Token>& prompt, const GenerationOptions& opts = {},
                              const StreamCallback& on_text = nullptr);

    const Model& model() const noexcept;
    int32_t n_threads() const noexcept;
    const SessionParams& params() const noexcept;  // as given (n_threads 0 stays 0)

private:
    friend void eval_batch(const std::vector<BatchItem>& items);
    std::unique_ptr<detail::SessionImpl> impl_;
};

}  // namespace kaa
