// Sampler: bias -> penalties -> greedy | top-k -> typical-p -> top-p -> min-p -> temperature.
//
// Determinism: the random stream is our own xoshiro256** seeded through splitmix64, and
// uniforms are made from its top 53 bits, so the same seed gives the same stream on every
// platform (std:: distributions are implementation-defined and would not). Candidates are
// always kept in id order, selections are made under strict total orders (ties broken by
// id), and masses are summed as integers, so no result depends on how std::nth_element
// arranges what it leaves unsorted. Probabilities use std::exp/std::log in double; libm's
// may differ in the last bit, which can only change a draw whose uniform lands within
// ~1e-16 of a bucket edge (and logits themselves differ between CPU kernels anyway).
//
// Cost per call: one checked copy of the logits, one gather of the possible tokens, then
// expected O(n_vocab) selections (nth_element; a weighted quickselect for top-p and
// typical-p) and O(k log k) for top-k's survivors; no full sort. All buffers live in the
// Impl and are reused, so after the first call sample() does not allocate.

#include "kaa/sampler.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <random>
#include <string>

#include "kaa/error.hpp"

namespace kaa {

namespace {

[[noreturn]] void fail(const std::string& msg) {
    throw Error(ErrorCode::invalid_argument, "Sampler: " + msg);
}

uint64_t splitmix64(uint64_t& x) {
    uint64_t z = (x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

// xoshiro256** (Blackman & Vigna): small, fast, and its output is fully specified.
struct Rng {
    uint64_t s[4] = {0, 0, 0, 0};

    void seed(uint64_t seed) {
        // splitmix64 expands any seed (0 included) into a state that is not all zero.
        uint64_t x = seed;
        for (auto& w : s) w = splitmix64(x);
    }
    uint64_t next() {
        const uint64_t result = rotl(s[1] * 5, 7) * 9;
        const uint64_t t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = rotl(s[3], 45);
        return result;
    }
    // Uniform in [0, 1) from the top 53 bits: exact in double, identical everywhere.
    double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
};

uint64_t draw_random_seed() {
    uint64_t seed = 0;
    try {
        std::random_device rd;
        seed = (static_cast<uint64_t>(rd()) << 32) ^ static_cast<uint64_t>(rd());
    } catch (...) {
        // random_device can be unavailable on some platforms; the clock below still
        // makes the seed differ between runs.
    }
    uint64_t mix = seed ^ static_cast<uint64_t>(
                              std::chrono::high_resolution_clock::now().time_since_epoch().count());
    return splitmix64(mix);
}

// One surviving token. `key` is stage scratch (a probability, or typical-p's surprise
// distance); `w` is its probability at temperature 1 in 2^-52 fixed point, so masses are
// integer sums that come out the same in any summation order.
struct Cand {
    int32_t id;
    float logit;
    double key;
    uint64_t w;
};

constexpr double kWeightOne = 0x1.0p52;

// Up to this k, top-k keeps a heap while scanning the logits (cheap for small k); above it,
// a select-and-filter over all candidates wins. Both give the same set.
constexpr int32_t kHeapTopK = 256;

// Canonical "more likely first" order: a strict total order (ids are unique), so a
// selection under it has exactly one answer whatever the standard library. Function
// objects rather than functions so std::nth_element can inline them.
struct MoreLikely {
    bool operator()(const Cand& a, const Cand& b) const {
        if (a.logit != b.logit) return a.logit > b.logit;
        return a.id < b.id;
    }
};

struct MoreTypical {
    bool operator()(const Cand& a, const Cand& b) const {
        if (a.key != b.key) return a.key < b.key;
        return MoreLikely()(a, b);
    }
};

struct ById {
    bool operator()(const Cand& a, const Cand& b) const { return a.id < b.id; }
};

constexpr MoreLikely more_likely{};
constexpr MoreTypical more_typical{};

double max_logit_of(const std::vector<Cand>& cands) {
    double m = -INFINITY;
    for (const Cand& c : cands) m = std::max(m, static_cast<double>(c.logit));
    return m;
}

// Softmax at temperature 1 into c.key (probability) and c.w (fixed-point weight). Sums run
// in the candidates' current order, which is always id order here.
void softmax(std::vector<Cand>& cands) {
    const double max_logit = max_logit_of(cands);
    double sum = 0.0;
    for (Cand& c : cands) {
        c.key = std::exp(static_cast<double>(c.logit) - max_logit);
        sum += c.key;
    }
    for (Cand& c : cands) {
        c.key /= sum;
        c.w = static_cast<uint64_t>(c.key * kWeightOne + 0.5);  // round; key is in [0, 1]
    }
}

// Keeps, in their current (id) order, the shortest prefix of `cands` under `less` whose
// mass reaches `target` (at least one token). Finds the cut by a weighted quickselect on a
// scratch copy: nth_element on halving ranges, expected O(n), instead of sorting.
template <class Less>
void keep_mass(std::vector<Cand>& cands, std::vector<Cand>& sel, double target, Less less) {
    const uint64_t goal = static_cast<uint64_t>(std::min(target, 1.0) * kWeightOne + 0.5);
    sel.assign(cands.begin(), cands.end());
    size_t lo = 0, hi = sel.size();
    uint64_t before = 0;  // mass of everything ordered before sel[lo]
    const Cand* cut = nullptr;
    while (lo < hi) {
        const size_t mid = lo + (hi - lo) / 2;
        std::nth_element(sel.begin() + static_cast<std::ptrdiff_t>(lo),
                         sel.begin() + static_cast<std::ptrdiff_t>(mid),
                         sel.begin() + static_cast<std::ptrdiff_t>(hi), less);
        uint64_t left = 0;
        for (size_t i = lo; i < mid; ++i) left += sel[i].w;
        if (before + left >= goal && mid > lo) {
            hi = mid;  // the cut lies strictly before sel[mid]
        } else if (before + left + sel[mid].w >= goal) {
            cut = &sel[mid];
            break;
        } else {
            before += left + sel[mid].w;
            lo = mid + 1;
        }
    }
    if (cut == nullptr) return;  // rounding left the total under the goal: keep all
    const Cand limit = *cut;
    cands.erase(std::remove_if(cands.begin(), cands.end(),
                               [&](const Cand& c) { return less(limit, c); }),
                cands.end());
}

void validate(const SamplerParams& p, int32_t n_vocab) {
    if (n_vocab <= 0) fail("n_vocab must be positive (got " + std::to_string(n_vocab) + ")");
    if (!std::isfinite(p.temperature))
        fail("temperature must be finite (got " + std::to_string(p.temperature) + ")");
    if (std::isnan(p.top_p) || p.top_p < 0.0f)
        fail("top_p must be >= 0 (got " + std::to_string(p.top_p) + ")");
    if (std::isnan(p.min_p) || p.min_p < 0.0f || p.min_p > 1.0f)
        fail("min_p must be in [0, 1] (got " + std::to_string(p.min_p) + ")");
    if (std::isnan(p.typical_p) || p.typical_p < 0.0f)
        fail("typical_p must be >= 0 (got " + std::to_string(p.typical_p) + ")");
    if (!std::isfinite(p.repeat_penalty) || p.repeat_penalty <= 0.0f)
        fail("repeat_penalty must be finite and > 0 (got " + std::to_string(p.repeat_penalty) +
             ")");
    if (!std::isfinite(p.presence_penalty))
        fail("presence_penalty must be finite");
    if (!std::isfinite(p.frequency_penalty))
        fail("frequency_penalty must be finite");
    if (p.penalty_last_n < -1)
        fail("penalty_last_n must be -1 (whole history), 0 (off) or positive (got " +
             std::to_string(p.penalty_last_n) + ")");
    for (const auto& [token, bias] : p.logit_bias) {
        if (token < 0 || token >= n_vocab)
            throw Error(ErrorCode::invalid_token,
                        "Sampler: logit_bias token " + std::to_string(token) +
                            " is outside [0, " + std::to_string(n_vocab) + ")");
        if (std::isnan(bias) || bias == INFINITY)
            fail("logit_bias for token " + std::to_string(token) +
                 " must be finite or -INFINITY");
    }
}

}  // namespace

struct Sampler::Impl {
    SamplerParams params;
    int32_t n_vocab = 0;
    uint64_t seed = 0;
    Rng rng;

    std::vector<Token> history;   // accepted tokens, oldest first (trimmed to the window)
    std::vector<float> work;      // (n_vocab) logits after bias and penalties
    std::vector<Cand> cands;      // surviving candidates, in id order
    std::vector<Cand> sel;        // scratch copy that selections reorder
    std::vector<int32_t> counts;  // (n_vocab) occurrences in the window; all zero between calls
    std::vector<Token> touched;   // ids with nonzero counts, to clear them cheaply

    bool penalties_on() const {
        return params.penalty_last_n != 0 &&
               (params.repeat_penalty != 1.0f || params.presence_penalty != 0.0f ||
                params.frequency_penalty != 0.0f);
    }

    void apply_penalties() {
        const size_t window = params.penalty_last_n < 0
                                  ? history.size()
                                  : std::min(history.size(),
                                             static_cast<size_t>(params.penalty_last_n));
        touched.clear();
        if (window == 0) return;
        if (counts.empty()) counts.assign(static_cast<size_t>(n_vocab), 0);
        for (size_t i = history.size() - window; i < history.size(); ++i) {
            const Token t = history[i];
            if (counts[static_cast<size_t>(t)]++ == 0) touched.push_back(t);
        }
        for (const Token t : touched) {
            float& l = work[static_cast<size_t>(t)];
            const int32_t count = counts[static_cast<size_t>(t)];
            counts[static_cast<size_t>(t)] = 0;
            // Dividing a positive logit and multiplying a negative one both make the token
            // less likely; plain division would boost tokens with negative logits.
            if (params.repeat_penalty != 1.0f)
                l = l > 0.0f ? l / params.repeat_penalty : l * params.repeat_penalty;
            l -= params.presence_penalty;
            l -= static_cast<float>(count) * params.frequency_penalty;
        }
    }

    void check_adjusted(Token t) const {
        const float l = work[static_cast<size_t>(t)];
        if (std::isnan(l) || l == INFINITY)
            fail("logit " + std::to_string(t) + " is not finite after logit_bias and penalties");
    }

    Token sample(const float* logits, int32_t n) {
        if (logits == nullptr) fail("logits pointer is null");
        if (n != n_vocab)
            fail("logits have " + std::to_string(n) + " entries but the sampler was made for " +
                 std::to_string(n_vocab));
        const size_t nv = static_cast<size_t>(n_vocab);

        work.resize(nv);
        for (size_t i = 0; i < nv; ++i) {
            const float l = logits[i];
            if (std::isnan(l)) fail("logit " + std::to_string(i) + " is NaN");
            if (l == INFINITY) fail("logit " + std::to_string(i) + " is +inf");
            work[i] = l;
        }
        if (!params.logit_bias.empty() || penalties_on()) {
            for (const auto& [token, bias] : params.logit_bias) work[static_cast<size_t>(token)] += bias;
            if (penalties_on()) apply_penalties();
            // Large biases or penalties can overflow a float; only the touched entries can.
            for (const auto& tb : params.logit_bias) check_adjusted(tb.first);
            for (const Token t : touched) check_adjusted(t);
        }
        bool any = false;
        for (size_t i = 0; i < nv && !any; ++i) any = work[i] != -INFINITY;
        if (!any) fail("every logit is -inf (all tokens are banned)");

        if (params.temperature <= 0.0f) return argmax();

        // Gather the tokens still possible, in id order: every stage below keeps this
        // order, so the final draw walks a canonical sequence.
        cands.clear();
        cands.reserve(nv);
        const bool use_top_k = params.top_k > 0 && static_cast<size_t>(params.top_k) < nv;
        if (use_top_k && params.top_k <= kHeapTopK) {
            gather_top_k(static_cast<size_t>(params.top_k));
        } else {
            // Fill in place and count: cheaper than push_back of temporaries.
            cands.resize(nv);
            size_t m = 0;
            for (size_t i = 0; i < nv; ++i) {
                cands[m].id = static_cast<int32_t>(i);
                cands[m].logit = work[i];
                m += work[i] != -INFINITY;
            }
            cands.resize(m);
            if (use_top_k && static_cast<size_t>(params.top_k) < cands.size()) {
                // Large k: select the k-th on a copy, then filter in place (keeps id order).
                sel.assign(cands.begin(), cands.end());
                const auto k = static_cast<std::ptrdiff_t>(params.top_k);
                std::nth_element(sel.begin(), sel.begin() + k - 1, sel.end(), more_likely);
                const Cand limit = sel[static_cast<size_t>(k - 1)];
                cands.erase(std::remove_if(cands.begin(), cands.end(),
                                           [&](const Cand& c) { return more_likely(limit, c); }),
                            cands.end());
            }
        }

        // typical-p: keep the tokens whose surprise (-log p) is closest to the entropy.
        if (params.typical_p < 1.0f && cands.size() > 1) {
            softmax(cands);
            double entropy = 0.0;
            for (const Cand& c : cands)
                if (c.key > 0.0) entropy -= c.key * std::log(c.key);
            for (Cand& c : cands)
                c.key = c.key > 0.0 ? std::fabs(-std::log(c.key) - entropy) : INFINITY;
            keep_mass(cands, sel, params.typical_p, more_typical);
        }

        // top-p: the smallest most-likely set whose (renormalised) mass reaches top_p.
        if (params.top_p < 1.0f && cands.size() > 1) {
            softmax(cands);
            keep_mass(cands, sel, params.top_p, more_likely);
        }

        // min-p: p >= min_p * p_max  <=>  logit - max_logit >= log(min_p); the most likely
        // token always survives.
        if (params.min_p > 0.0f && cands.size() > 1) {
            const double max_logit = max_logit_of(cands);
            const double cut = std::log(static_cast<double>(params.min_p));
            cands.erase(std::remove_if(cands.begin(), cands.end(),
                                       [&](const Cand& c) {
                                           return static_cast<double>(c.logit) - max_logit < cut;
                                       }),
                        cands.end());
        }

        if (cands.size() == 1) return cands[0].id;  // nothing to draw; keep the stream as is

        // Temperature, then one draw by inverse CDF in id order.
        const double max_logit = max_logit_of(cands);
        const double inv_t = 1.0 / static_cast<double>(params.temperature);
        double sum = 0.0;
        for (Cand& c : cands) {
            c.key = std::exp((static_cast<double>(c.logit) - max_logit) * inv_t);
            sum += c.key;
        }
        const double u = rng.uniform() * sum;
        double acc = 0.0;
        for (const Cand& c : cands) {
            acc += c.key;
            if (u < acc) return c.id;
        }
        // Only rounding can get here; fall back to the last token with any weight (the
        // most likely one always has weight 1 before normalisation).
        for (auto it = cands.rbegin(); it != cands.rend(); ++it)
            if (it->key > 0.0) return it->id;
        return cands.front().id;
    }

    // top-k in one pass over the logits: a min-heap (under more_likely) of the best k
    // seen so far. Almost every token loses to the heap's weakest member at a single
    // comparison, so this costs about n_vocab compares instead of touching n_vocab Cands.
    void gather_top_k(size_t k) {
        const MoreLikely weaker_on_top;  // heap "max" under more-likely-first = the weakest
        for (size_t i = 0; i < work.size(); ++i) {
            const float l = work[i];
            if (l == -INFINITY) continue;
            const Cand c{static_cast<int32_t>(i), l, 0.0, 0};
            if (cands.size() < k) {
                cands.push_back(c);
                std::push_heap(cands.begin(), cands.end(), weaker_on_top);
            } else if (more_likely(c, cands.front())) {
                std::pop_heap(cands.begin(), cands.end(), weaker_on_top);
                cands.back() = c;
                std::push_heap(cands.begin(), cands.end(), weaker_on_top);
            }
        }
        std::sort(cands.begin(), cands.end(), ById());
    }

    // Greedy: the largest logit, lowest id on ties (the same token top_k = 1 keeps).
    Token argmax() const {
        size_t best = work.size();
        for (size_t i = 0; i < work.size(); ++i)
            if (work[i] != -INFINITY && (best == work.size() || work[i] > work[best])) best = i;
        return static_cast<Token>(best);
    }

    void accept(Token token) {
        if (token < 0 || token >= n_vocab)
            throw Error(ErrorCode::invalid_token,
                        "Sampler::accept: token " + std::to_string(token) + " is outside [0, " +
                            std::to_string(n_vocab) + ")");
        if (params.penalty_last_n == 0) return;  // no window: nothing to remember
        history.push_back(token);
        // Keep at most twice the window so trimming (a memmove) happens once per
        // penalty_last_n tokens rather than on every token.
        if (params.penalty_last_n > 0) {
            const size_t window = static_cast<size_t>(params.penalty_last_n);
            if (history.size() >= 2 * window)
                history.erase(history.begin(),
                              history.end() - static_cast<std::ptrdiff_t>(window));
        }
    }
};

Sampler::Sampler(const SamplerParams& params, int32_t n_vocab) {
    validate(params, n_vocab);
    impl_ = std::make_unique<Impl>();
    impl_->params = params;
    impl_->n_vocab = n_vocab;
    impl_->seed = params.seed == kRandomSeed ? draw_random_seed() : params.seed;
    impl_->rng.seed(impl_->seed);
}

Sampler::~Sampler() = default;
Sampler::Sampler(const Sampler& other)
    : impl_(other.impl_ ? std::make_unique<Impl>(*other.impl_) : nullptr) {}
Sampler& Sampler::operator=(const Sampler& other) {
    if (this != &other) impl_ = other.impl_ ? std::make_unique<Impl>(*other.impl_) : nullptr;
    return *this;
}
Sampler::Sampler(Sampler&& other) noexcept = default;
Sampler& Sampler::operator=(Sampler&& other) noexcept = default;

namespace {
template <class P>
P& live(P* impl) {
    if (impl == nullptr) throw Error(ErrorCode::invalid_argument, "Sampler: used after move");
    return *impl;
}
}  // namespace

Token Sampler::sample(const float* logits, int32_t n_vocab) {
    return live(impl_.get()).sample(logits, n_vocab);
}

void Sampler::accept(Token token) { live(impl_.get()).accept(token); }

void Sampler::reset() {
    Impl& impl = live(impl_.get());
    impl.history.clear();
    impl.rng.seed(impl.seed);
}

uint64_t Sampler::seed() const { return live(impl_.get()).seed; }
const SamplerParams& Sampler::params() const { return live(impl_.get()).params; }
int32_t Sampler::n_vocab() const { return live(impl_.get()).n_vocab; }

}  // namespace kaa
