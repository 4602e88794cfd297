// session.cpp — kaa::Session: state, scratch and threads for one sequence.
#include "kaa/session.hpp"

#include <algorithm>
#include <cstring>

#include "cuda/gpu.hpp"
#include "model/model_impl.hpp"
#include "session/forward.hpp"

namespace kaa {
namespace detail {

struct SessionImpl {
    Model model;  // keeps the ModelImpl alive
    const ModelImpl& m;
    SessionParams params;
    runtime::ThreadPool pool;
    std::vector<float> state;  // StateDims layout, zero at start
    int64_t position = 0;
    std::vector<float> logits;
    Scratch scratch;
    // On a device model the state and buffers live on the GPU; `state` is then only a
    // host copy, refreshed by pull_state() for state() and fork().
    gpu::SessionDevicePtr dev;

    SessionImpl(const Model& mod, const SessionParams& p, int n_threads)
        : model(mod), m(*mod.impl()), params(p), pool(mod.impl()->gpu ? 1 : n_threads) {  // GPU: no CPU workers
        state.assign(size_t(m.state_dims().floats()), 0.0f);
        scratch.capacity = p.n_batch;  // chunking; on the CPU the buffers grow on use (forward)
        if (m.gpu) dev = gpu::make_session(m, p.n_batch);
    }
    float* forward_state() { return dev ? gpu::device_state(*dev) : state.data(); }
    void run(const Segment* segs, size_t n) {
        if (dev) gpu::forward(m, *dev, segs, n);
        else forward(m, pool, scratch, segs, n);
    }
    void pull_state() {
        if (dev) gpu::download_state(*dev, state.data());
    }
    void push_state() {
        if (dev) gpu::upload_state(*dev, state.data());
    }
};

}  // namespace detail

namespace {

int resolve_threads(const Model& model, const SessionParams& p) {
    if (p.n_threads < 0) throw Error(ErrorCode::invalid_argument, "SessionParams::n_threads must be >= 0");
    if (p.n_threads > 1024) throw Error(ErrorCode::invalid_argument, "SessionParams::n_threads must be <= 1024");
    int n = p.n_threads ? p.n_threads : model.params().n_threads;
    return n > 0 ? n : runtime::hardware_threads();
}

}  // namespace

Session::Session(const Model& model, const SessionParams& params) {
    if (!model.impl()) throw Error(ErrorCode::invalid_argument, "Session needs a loaded Model");
    if (params.n_batch < 1 || params.n_batch > 65536)
        throw Error(ErrorCode::invalid_argument, "SessionParams::n_batch must be in [1, 65536]");
    if (params.max_tokens_per_call < 1)
        throw Error(ErrorCode::invalid_argument, "SessionParams::max_tokens_per_call must be >= 1");
    if (params.max_generation_tokens < 0)
        throw Error(ErrorCode::invalid_argument, "SessionParams::max_generation_tokens must be >= 0");
    impl_ = std::make_unique<detail::SessionImpl>(model, params, resolve_threads(model, params));
}

Session::~Session() = default;
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;

namespace {

void check_tokens(const Token* tokens, size_t n, int64_t V, const SessionParams& p) {
    if (n == 0 || !tokens) throw Error(ErrorCode::invalid_argument, "eval needs at least one token");
    if (n > uint64_t(p.max_tokens_per_call))
        throw Error(ErrorCode::invalid_argument,
                    std::to_string(n) + " tokens in one call exceed SessionParams::max_tokens_per_call (" +
                        std::to_string(p.max_tokens_per_call) + ")");
    for (size_t i = 0; i < n; ++i)
        if (tokens[i] < 0 || tokens[i] >= V)
            throw Error(ErrorCode::invalid_token, "token id " + std::to_string(tokens[i]) + " at index " +
                                                      std::to_string(i) + " is outside [0, " +
                                                      std::to_string(V) + ")");
}

}  // namespace

const std::vector<float>& Session::eval(const Token* tokens, size_t n, const EvalOptions& opts) {
    auto& s = *impl_;
    const int64_t V = s.m.hp.n_vocab;
    check_tokens(tokens, n, V, s.params);
    const size_t rows = opts.all_logits ? n : 1;
    s.logits.resize(rows * size_t(V));

    // Prefill in chunks of n_batch tokens; chunking never changes results.
    const int64_t cap = s.scratch.capacity;
    for (size_t done = 0; done < n;) {
        const int64_t T = std::min<int64_t>(cap, int64_t(n - done));
        const bool last_chunk = done + size_t(T) == n;
        float* out = nullptr;
        if (opts.all_logits) out = s.logits.data() + done * size_t(V);
        else if (last_chunk) out = s.logits.data();
        const detail::Segment seg{s.forward_state(), tokens + done, T, out, opts.all_logits};
        s.run(&seg, 1);
        done += size_t(T);
    }
    s.position += int64_t(n);
    return s.logits;
}

void eval_batch(const std::vector<BatchItem>& items) {
    if (items.empty()) return;
    for (const BatchItem& it : items)
        if (!it.session || !it.session->impl_)
            throw Error(ErrorCode::invalid_argument, "eval_batch: an item has no Session");
    detail::SessionImpl& lead = *items[0].session->impl_;
    const int64_t V = lead.m.hp.n_vocab;
    for (size_t i = 0; i < items.size(); ++i) {
        const detail::SessionImpl& s = *items[i].session->impl_;
        if (&s.m != &lead.m) throw Error(ErrorCode::invalid_argument, "eval_batch: Sessions must share one Model");
        for (size_t j = 0; j < i; ++j)
            if (items[j].session == items[i].session)
                throw Error(ErrorCode::invalid_argument, "eval_batch: a Session appears twice");
        check_tokens(items[i].tokens, items[i].n_tokens, V, s.params);
    }

    // Rounds of at most `cap` stacked tokens; a Session with more tokens than fit
    // continues in the next round (chunking never changes results).
    const int64_t cap = lead.scratch.capacity;
    std::vector<size_t> done(items.size(), 0);
    std::vector<detail::Segment> segs;
    for (bool left = true; left;) {
        segs.clear();
        int64_t used = 0;
        left = false;
        for (size_t i = 0; i < items.size(); ++i) {
            const size_t rest = items[i].n_tokens - done[i];
            if (rest == 0) continue;
            if (used == cap) {
                left = true;
                continue;
            }
            detail::SessionImpl& s = *items[i].session->impl_;
            const int64_t T = std::min<int64_t>(cap - used, int64_t(rest));
            const bool last = done[i] + size_t(T) == items[i].n_tokens;
            if (last) s.logits.resize(size_t(V));
            segs.push_back({s.forward_state(), items[i].tokens + done[i], T, last ? s.logits.data() : nullptr, false});
            done[i] += size_t(T);
            used += T;
            left = left || !last;
        }
        lead.run(segs.data(), segs.size());
    }
    for (const BatchItem& it : items) it.session->impl_->position += int64_t(it.n_tokens);
}

const std::vector<float>& Session::logits() const noexcept { return impl_->logits; }
int64_t Session::position() const noexcept { return impl_->position; }
const Model& Session::model() const noexcept { return impl_->model; }
int32_t Session::n_threads() const noexcept { return impl_->pool.size(); }
const SessionParams& Session::params() const noexcept { return impl_->params; }

void Session::reset() {
    std::fill(impl_->state.begin(), impl_->state.end(), 0.0f);
    if (impl_->dev) detail::gpu::zero_state(*impl_->dev);
    impl_->position = 0;
    impl_->logits.clear();
}

State Session::state() const {
    impl_->pull_state();
    return State(impl_->m.state_dims(), impl_->m.fingerprint, impl_->position, impl_->state);
}

void Session::set_state(const State& st) {
    auto& s = *impl_;
    if (st.empty()) throw Error(ErrorCode::invalid_argument, "set_state: the State is empty");
    if (st.model_fingerprint() != s.m.fingerprint || !(st.dims() == s.m.state_dims()))
        throw Error(ErrorCode::state_mismatch, "set_state: the State was made for another model");
    if (st.data().size() != s.state.size())
        throw Error(ErrorCode::invalid_state, "set_state: the State's payload has the wrong size");
    // The bound State::deserialize applies: eval adds to the position, which must not
    // overflow however the State was made.
    if (st.position() < 0 || st.position() > (int64_t(1) << 62))
        throw Error(ErrorCode::invalid_state, "set_state: the State's position is out of range");
    std::copy(st.data().begin(), st.data().end(), s.state.begin());
    s.push_state();
    s.position = st.position();
    s.logits.clear();
}

Session Session::fork() const {
    Session copy(impl_->model, impl_->params);
    impl_->pull_state();
    copy.impl_->state = impl_->state;
    copy.impl_->push_state();
    copy.impl_->position = impl_->position;
    copy.impl_->logits = impl_->logits;
    return copy;
}

}  // namespace kaa
