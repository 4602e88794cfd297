// Sampler stages, determinism, distribution checks, errors; StopMatcher.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "kaa/error.hpp"
#include "kaa/sampler.hpp"
#include "sampling/stop.hpp"

using kaa::Sampler;
using kaa::SamplerParams;
using kaa::Token;

namespace {

// Every filter off, temperature 1, fixed seed: tests switch on the stage they check.
SamplerParams plain(uint64_t seed = 1234) {
    SamplerParams p;
    p.temperature = 1.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.typical_p = 1.0f;
    p.seed = seed;
    return p;
}

int32_t n_of(const std::vector<float>& v) { return static_cast<int32_t>(v.size()); }

std::set<Token> support(Sampler& s, const std::vector<float>& logits, int draws = 3000) {
    std::set<Token> seen;
    for (int i = 0; i < draws; ++i) seen.insert(s.sample(logits.data(), n_of(logits)));
    return seen;
}

std::vector<int> histogram(Sampler& s, const std::vector<float>& logits, int draws) {
    std::vector<int> h(logits.size(), 0);
    for (int i = 0; i < draws; ++i) ++h[static_cast<size_t>(s.sample(logits.data(), n_of(logits)))];
    return h;
}

// softmax(logits / t) restricted to `keep` (all when empty).
std::vector<double> expected(const std::vector<float>& logits, double t,
                             const std::set<Token>& keep = {}) {
    std::vector<double> p(logits.size(), 0.0);
    double sum = 0.0;
    for (size_t i = 0; i < logits.size(); ++i) {
        if (!keep.empty() && keep.count(static_cast<Token>(i)) == 0) continue;
        p[i] = std::exp(logits[i] / t);
        sum += p[i];
    }
    for (double& x : p) x /= sum;
    return p;
}

// Pearson chi-square of observed counts against expected probabilities. A bin with zero
// expected probability but observed draws makes the statistic infinite.
double chi_square(const std::vector<int>& obs, const std::vector<double>& p) {
    double total = 0.0;
    for (int o : obs) total += o;
    double chi = 0.0;
    for (size_t i = 0; i < obs.size(); ++i) {
        const double e = p[i] * total;
        if (e == 0.0) {
            if (obs[i] != 0) return INFINITY;
            continue;
        }
        chi += (obs[i] - e) * (obs[i] - e) / e;
    }
    return chi;
}

// Chi-square critical values at p = 1e-4 (generous: with a fixed seed the test is
// deterministic, but a correct sampler should pass for any seed).
constexpr double kChi2Df2 = 18.42;
constexpr double kChi2Df4 = 23.51;

template <class F>
kaa::ErrorCode code_of(F&& f) {
    try {
        f();
    } catch (const kaa::Error& e) {
        return e.code();
    }
    return kaa::ErrorCode::ok;
}

}  // namespace

TEST_CASE("greedy picks the argmax, lowest id on ties", "[sampler]") {
    SamplerParams p = plain();
    p.temperature = 0.0f;
    const std::vector<float> logits = {0.1f, 2.0f, -1.0f, 1.9f, 2.0f};
    Sampler s(p, n_of(logits));
    for (int i = 0; i < 10; ++i) CHECK(s.sample(logits.data(), n_of(logits)) == 1);

    p.temperature = -1.0f;  // any non-positive temperature is greedy
    Sampler s2(p, n_of(logits));
    CHECK(s2.sample(logits.data(), n_of(logits)) == 1);

    const std::vector<float> neg = {-5.0f, -3.0f, -4.0f};
    Sampler s3(p, n_of(neg));
    CHECK(s3.sample(neg.data(), n_of(neg)) == 1);
}

TEST_CASE("top_k = 1 equals greedy", "[sampler]") {
    std::vector<float> logits(1000);
    for (size_t i = 0; i < logits.size(); ++i) logits[i] = std::sin(static_cast<float>(i) * 0.37f);
    SamplerParams g = plain();
    g.temperature = 0.0f;
    SamplerParams k = plain();
    k.top_k = 1;
    k.temperature = 1.5f;
    Sampler sg(g, n_of(logits)), sk(k, n_of(logits));
    for (int round = 0; round < 20; ++round) {
        logits[static_cast<size_t>(round * 37)] += 3.0f;
        CHECK(sk.sample(logits.data(), n_of(logits)) == sg.sample(logits.data(), n_of(logits)));
    }
}

TEST_CASE("top_k keeps the k largest logits", "[sampler]") {
    const std::vector<float> logits = {0.0f, 3.0f, 1.0f, 2.9f, -2.0f, 2.8f, 0.5f};
    SamplerParams p = plain();
    p.top_k = 3;
    p.temperature = 5.0f;  // flatten so every kept token shows up
    Sampler s(p, n_of(logits));
    CHECK(support(s, logits) == std::set<Token>{1, 3, 5});
}

TEST_CASE("top_k on a large vocabulary, small and large k", "[sampler]") {
    // Quantised logits make many ties; the kept set must follow (logit desc, id asc).
    std::vector<float> logits(3000);
    for (size_t i = 0; i < logits.size(); ++i)
        logits[i] = static_cast<float>((i * 7919u) % 97u) / 10.0f;
    logits[17] = -INFINITY;
    for (int32_t k : {1, 5, 40, 256, 257, 1000, 2998, 2999, 3000}) {
        std::vector<Token> order(logits.size());
        for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<Token>(i);
        std::stable_sort(order.begin(), order.end(),
                         [&](Token a, Token b) { return logits[size_t(a)] > logits[size_t(b)]; });
        const size_t kept = std::min<size_t>(size_t(k), logits.size() - 1);  // one is banned
        const std::set<Token> want(order.begin(), order.begin() + static_cast<long>(kept));
        SamplerParams p = plain(static_cast<uint64_t>(k));
        p.top_k = k;
        p.temperature = 1000.0f;  // nearly uniform so the whole kept set shows up quickly
        Sampler s(p, n_of(logits));
        INFO("k = " << k);
        std::set<Token> seen = support(s, logits, k <= 257 ? 3000 : 5000);
        CHECK(seen.size() <= want.size());
        CHECK(std::includes(want.begin(), want.end(), seen.begin(), seen.end()));
        if (k <= 257) CHECK(seen == want);
    }
}

TEST_CASE("top_p keeps the smallest set reaching the mass", "[sampler]") {
    // softmax: 0.563 0.207 0.126 0.076 0.028
    const std::vector<float> logits = {2.0f, 1.0f, 0.5f, 0.0f, -1.0f};
    SamplerParams p = plain();
    p.temperature = 3.0f;
    SECTION("0.8 needs three tokens") {
        p.top_p = 0.8f;
        Sampler s(p, n_of(logits));
        CHECK(support(s, logits) == std::set<Token>{0, 1, 2});
    }
    SECTION("0.5 needs one token") {
        p.top_p = 0.5f;
        Sampler s(p, n_of(logits));
        CHECK(support(s, logits) == std::set<Token>{0});
    }
    SECTION("0 still keeps one token") {
        p.top_p = 0.0f;
        Sampler s(p, n_of(logits));
        CHECK(support(s, logits) == std::set<Token>{0});
    }
    SECTION("0.95 needs four") {
        p.top_p = 0.95f;
        Sampler s(p, n_of(logits));
        CHECK(support(s, logits) == std::set<Token>{0, 1, 2, 3});
    }
}

TEST_CASE("top_p on a large vocabulary grows its sorted prefix", "[sampler]") {
    // 5000 equal tokens plus 3 heavy ones: the nucleus spans many sort chunks.
    std::vector<float> logits(5003, 0.0f);
    logits[100] = logits[2000] = logits[4000] = 5.0f;  // each e^5 = 148.4 vs 5000 total rest
    SamplerParams p = plain();
    p.top_p = 0.5f;  // heavy three hold 445/5445 = 8%; need ~2300 more equal tokens
    Sampler s(p, n_of(logits));
    std::set<Token> seen = support(s, logits, 5000);
    CHECK(seen.count(100) == 1);
    CHECK(seen.count(2000) == 1);
    // Ties are broken by id, so the kept equal tokens are the lowest ids.
    const double heavy = 3 * std::exp(5.0), total = heavy + 5000.0;
    const int needed = static_cast<int>(std::ceil(0.5 * total - heavy));
    Token max_seen = 0;
    for (Token t : seen)
        if (t != 100 && t != 2000 && t != 4000) max_seen = std::max(max_seen, t);
    CHECK(max_seen <= needed + 3);
    CHECK(max_seen > needed / 2);
}

TEST_CASE("min_p keeps tokens at least min_p times the best", "[sampler]") {
    const std::vector<float> logits = {2.0f, 1.0f, 0.5f, 0.0f, -1.0f};
    SamplerParams p = plain();
    p.min_p = 0.2f;  // ratios: 1, 0.368, 0.223, 0.135, 0.050
    p.temperature = 3.0f;
    Sampler s(p, n_of(logits));
    CHECK(support(s, logits) == std::set<Token>{0, 1, 2});

    p.min_p = 1.0f;
    Sampler s1(p, n_of(logits));
    CHECK(support(s1, logits) == std::set<Token>{0});
}

TEST_CASE("typical_p keeps tokens whose surprise is near the entropy", "[sampler]") {
    // p = 0.5 0.2 0.2 0.1, entropy 1.2206; |-log p - H| = 0.527 0.389 0.389 1.082.
    const std::vector<float> logits = {std::log(0.5f), std::log(0.2f), std::log(0.2f),
                                       std::log(0.1f)};
    SamplerParams p = plain();
    p.temperature = 3.0f;
    SECTION("0.3: the two typical tokens, not the most likely one") {
        p.typical_p = 0.3f;
        Sampler s(p, n_of(logits));
        CHECK(support(s, logits) == std::set<Token>{1, 2});
    }
    SECTION("0.5: the most likely joins next") {
        p.typical_p = 0.5f;
        Sampler s(p, n_of(logits));
        CHECK(support(s, logits) == std::set<Token>{0, 1, 2});
    }
    SECTION("0.95: all four") {
        p.typical_p = 0.95f;
        Sampler s(p, n_of(logits));
        CHECK(support(s, logits) == std::set<Token>{0, 1, 2, 3});
    }
}

TEST_CASE("stages chain in order: top-k then top-p renormalised", "[sampler]") {
    // top_k = 3 leaves {0,1,2} with renormalised p = 0.629 0.231 0.140; top_p = 0.8 then
    // needs {0,1} (0.860). Without renormalisation it would need {0,1,2}.
    const std::vector<float> logits = {2.0f, 1.0f, 0.5f, 0.0f, -1.0f};
    SamplerParams p = plain();
    p.top_k = 3;
    p.top_p = 0.8f;
    p.temperature = 3.0f;
    Sampler s(p, n_of(logits));
    CHECK(support(s, logits) == std::set<Token>{0, 1});
}

TEST_CASE("penalties change the greedy choice", "[sampler]") {
    SamplerParams p = plain();
    p.temperature = 0.0f;
    const std::vector<float> pos = {1.0f, 0.9f, 0.0f};
    const std::vector<float> neg = {-1.0f, -1.2f, -5.0f};

    SECTION("repeat penalty divides positive, multiplies negative logits") {
        p.repeat_penalty = 1.5f;
        Sampler s(p, 3);
        CHECK(s.sample(pos.data(), 3) == 0);
        s.accept(0);
        CHECK(s.sample(pos.data(), 3) == 1);   // 1.0 / 1.5 = 0.667 < 0.9
        CHECK(s.sample(neg.data(), 3) == 1);   // -1.0 * 1.5 = -1.5 < -1.2
    }
    SECTION("presence penalty subtracts once") {
        p.presence_penalty = 0.2f;
        Sampler s(p, 3);
        s.accept(0);
        s.accept(0);
        s.accept(0);
        CHECK(s.sample(pos.data(), 3) == 1);  // 0.8 < 0.9 regardless of the count
        p.presence_penalty = 0.05f;
        Sampler s2(p, 3);
        for (int i = 0; i < 5; ++i) s2.accept(0);
        CHECK(s2.sample(pos.data(), 3) == 0);  // 0.95 > 0.9
    }
    SECTION("frequency penalty scales with the count") {
        p.frequency_penalty = 0.06f;
        Sampler s(p, 3);
        s.accept(0);
        CHECK(s.sample(pos.data(), 3) == 0);  // 0.94
        s.accept(0);
        CHECK(s.sample(pos.data(), 3) == 1);  // 0.88
    }
    SECTION("only the last penalty_last_n tokens count") {
        p.repeat_penalty = 2.0f;
        p.penalty_last_n = 2;
        Sampler s(p, 3);
        s.accept(0);
        CHECK(s.sample(pos.data(), 3) == 1);
        s.accept(2);
        CHECK(s.sample(pos.data(), 3) == 1);
        s.accept(2);  // token 0 has left the window
        CHECK(s.sample(pos.data(), 3) == 0);
        for (int i = 0; i < 100; ++i) s.accept(2);  // trimming keeps the window right
        s.accept(0);
        CHECK(s.sample(pos.data(), 3) == 1);
        s.reset();  // clears the history
        CHECK(s.sample(pos.data(), 3) == 0);
    }
    SECTION("penalty_last_n = -1 remembers everything, 0 disables") {
        p.repeat_penalty = 2.0f;
        p.penalty_last_n = -1;
        Sampler s(p, 3);
        s.accept(0);
        for (int i = 0; i < 500; ++i) s.accept(2);
        CHECK(s.sample(pos.data(), 3) == 1);
        p.penalty_last_n = 0;
        Sampler off(p, 3);
        off.accept(0);
        CHECK(off.sample(pos.data(), 3) == 0);
    }
    SECTION("sample() does not add to the history by itself") {
        p.repeat_penalty = 2.0f;
        Sampler s(p, 3);
        CHECK(s.sample(pos.data(), 3) == 0);
        CHECK(s.sample(pos.data(), 3) == 0);
    }
}

TEST_CASE("logit bias shifts and bans tokens", "[sampler]") {
    const std::vector<float> logits = {3.0f, 1.0f, 0.0f};
    SamplerParams p = plain();
    p.temperature = 0.0f;
    p.logit_bias = {{0, -INFINITY}};
    Sampler ban(p, 3);
    CHECK(ban.sample(logits.data(), 3) == 1);

    p.logit_bias = {{2, 3.5f}};
    Sampler boost(p, 3);
    CHECK(boost.sample(logits.data(), 3) == 2);

    // A banned token never appears, even at a high temperature.
    p = plain();
    p.temperature = 10.0f;
    p.logit_bias = {{0, -INFINITY}};
    Sampler hot(p, 3);
    CHECK(support(hot, logits) == std::set<Token>{1, 2});

    // The caller's logits are untouched.
    CHECK(logits[0] == 3.0f);
}

TEST_CASE("same seed gives the same tokens, different seeds differ", "[sampler]") {
    std::vector<float> logits(500);
    for (size_t i = 0; i < logits.size(); ++i) logits[i] = std::cos(static_cast<float>(i));
    SamplerParams p;  // the defaults: top-k 40, top-p 0.95, min-p 0.05, T 0.8
    p.seed = 42;
    p.temperature = 1.5f;
    Sampler a(p, n_of(logits)), b(p, n_of(logits));
    p.seed = 43;
    Sampler c(p, n_of(logits));
    std::vector<Token> ta, tb, tc;
    for (int i = 0; i < 200; ++i) {
        ta.push_back(a.sample(logits.data(), n_of(logits)));
        tb.push_back(b.sample(logits.data(), n_of(logits)));
        tc.push_back(c.sample(logits.data(), n_of(logits)));
    }
    CHECK(ta == tb);
    CHECK(ta != tc);
    CHECK(a.seed() == 42);

    // reset() replays the stream; a copy continues it.
    a.reset();
    Sampler fork = a;
    std::vector<Token> again, forked;
    for (int i = 0; i < 200; ++i) {
        again.push_back(a.sample(logits.data(), n_of(logits)));
        forked.push_back(fork.sample(logits.data(), n_of(logits)));
    }
    CHECK(again == ta);
    CHECK(forked == ta);

    // A random seed is reported so the run can be replayed.
    p.seed = kaa::kRandomSeed;
    Sampler r(p, n_of(logits));
    p.seed = r.seed();
    Sampler replay(p, n_of(logits));
    for (int i = 0; i < 50; ++i)
        CHECK(r.sample(logits.data(), n_of(logits)) == replay.sample(logits.data(), n_of(logits)));
}

TEST_CASE("the seeded stream is pinned", "[sampler]") {
    // Changing these values changes every user's seeded output: only on purpose.
    const std::vector<float> logits(16, 0.0f);
    Sampler s(plain(7), 16);
    std::vector<Token> got;
    for (int i = 0; i < 12; ++i) got.push_back(s.sample(logits.data(), 16));
    const std::vector<Token> pinned = {11, 4, 13, 15, 15, 13, 0, 1, 6, 2, 8, 11};
    CHECK(got == pinned);
}

TEST_CASE("temperature sampling matches softmax(logits / T)", "[sampler]") {
    const std::vector<float> logits = {2.0f, 1.0f, 0.5f, 0.0f, -1.0f};
    SamplerParams p = plain(2024);
    p.temperature = 0.7f;
    Sampler s(p, n_of(logits));
    const std::vector<int> h = histogram(s, logits, 20000);
    const double right = chi_square(h, expected(logits, 0.7));
    const double ignored_t = chi_square(h, expected(logits, 1.0));
    INFO("chi2 vs T=0.7: " << right << ", vs T=1: " << ignored_t);
    CHECK(right < kChi2Df4);
    CHECK(ignored_t > 10 * kChi2Df4);  // the test has the power to catch a dropped T

    p.temperature = 2.0f;
    Sampler hot(p, n_of(logits));
    const std::vector<int> h2 = histogram(hot, logits, 20000);
    CHECK(chi_square(h2, expected(logits, 2.0)) < kChi2Df4);
    CHECK(chi_square(h2, expected(logits, 1.0)) > 10 * kChi2Df4);
}

TEST_CASE("top-p sampling matches the renormalised nucleus", "[sampler]") {
    const std::vector<float> logits = {2.0f, 1.0f, 0.5f, 0.0f, -1.0f};
    SamplerParams p = plain(99);
    p.top_p = 0.8f;
    p.temperature = 1.5f;
    Sampler s(p, n_of(logits));
    const std::vector<int> h = histogram(s, logits, 20000);
    const std::set<Token> nucleus = {0, 1, 2};
    // Three nonzero bins: two degrees of freedom.
    const double right = chi_square(h, expected(logits, 1.5, nucleus));
    INFO("chi2 = " << right);
    CHECK(right < kChi2Df2);
    // Wrong models must be rejected: nucleus chosen at T = 1.5 instead of 1 (would keep
    // four tokens), or temperature ignored inside the nucleus.
    CHECK(chi_square(h, expected(logits, 1.5, {0, 1, 2, 3})) > 10 * kChi2Df2);
    CHECK(chi_square(h, expected(logits, 1.0, nucleus)) > 10 * kChi2Df2);
}

TEST_CASE("bad input is an error, not a crash", "[sampler]") {
    using kaa::ErrorCode;
    const std::vector<float> ok = {0.0f, 1.0f, 2.0f};
    auto make = [](SamplerParams p, int32_t n = 3) { return [p, n] { Sampler s(p, n); }; };

    SECTION("logits") {
        Sampler s(plain(), 3);
        std::vector<float> nan = ok;
        nan[1] = NAN;
        CHECK(code_of([&] { s.sample(nan.data(), 3); }) == ErrorCode::invalid_argument);
        std::vector<float> inf = ok;
        inf[2] = INFINITY;
        CHECK(code_of([&] { s.sample(inf.data(), 3); }) == ErrorCode::invalid_argument);
        const std::vector<float> banned(3, -INFINITY);
        CHECK(code_of([&] { s.sample(banned.data(), 3); }) == ErrorCode::invalid_argument);
        CHECK(code_of([&] { s.sample(ok.data(), 4); }) == ErrorCode::invalid_argument);
        CHECK(code_of([&] { s.sample(ok.data(), 2); }) == ErrorCode::invalid_argument);
        CHECK(code_of([&] { s.sample(nullptr, 3); }) == ErrorCode::invalid_argument);
        CHECK(code_of([&] { s.accept(3); }) == ErrorCode::invalid_token);
        CHECK(code_of([&] { s.accept(-1); }) == ErrorCode::invalid_token);
        // Greedy checks NaN too, and the sampler still works after an error.
        SamplerParams g = plain();
        g.temperature = 0.0f;
        Sampler sg(g, 3);
        CHECK(code_of([&] { sg.sample(nan.data(), 3); }) == ErrorCode::invalid_argument);
        CHECK(sg.sample(ok.data(), 3) == 2);
        try {
            s.sample(nan.data(), 3);
        } catch (const kaa::Error& e) {
            CHECK(std::string(e.what()).find("NaN") != std::string::npos);
        }
    }
    SECTION("params") {
        SamplerParams p = plain();
        CHECK(code_of(make(p, 0)) == ErrorCode::invalid_argument);
        CHECK(code_of(make(p, -5)) == ErrorCode::invalid_argument);
        p = plain(); p.top_p = -0.1f;
        CHECK(code_of(make(p)) == ErrorCode::invalid_argument);
        p = plain(); p.top_p = NAN;
        CHECK(code_of(make(p)) == ErrorCode::invalid_argument);
        p = plain(); p.temperature = NAN;
        CHECK(code_of(make(p)) == ErrorCode::invalid_argument);
        p = plain(); p.temperature = INFINITY;
        CHECK(code_of(make(p)) == ErrorCode::invalid_argument);
        p = plain(); p.min_p = 1.5f;
        CHECK(code_of(make(p)) == ErrorCode::invalid_argument);
        p = plain(); p.min_p = -0.5f;
        CHECK(code_of(make(p)) == ErrorCode::invalid_argument);
        p = plain(); p.typical_p = -1.0f;
        CHECK(code_of(make(p)) == ErrorCode::invalid_argument);
        p = plain(); p.repeat_penalty = 0.0f;
        CHECK(code_of(make(p)) == ErrorCode::invalid_argument);
        p = plain(); p.repeat_penalty = -1.0f;
        CHECK(code_of(make(p)) == ErrorCode::invalid_argument);
        p = plain(); p.presence_penalty = NAN;
        CHECK(code_of(make(p)) == ErrorCode::invalid_argument);
        p = plain(); p.frequency_penalty = INFINITY;
        CHECK(code_of(make(p)) == ErrorCode::invalid_argument);
        p = plain(); p.penalty_last_n = -2;
        CHECK(code_of(make(p)) == ErrorCode::invalid_argument);
        p = plain(); p.logit_bias = {{3, 1.0f}};
        CHECK(code_of(make(p)) == ErrorCode::invalid_token);
        p = plain(); p.logit_bias = {{-1, 1.0f}};
        CHECK(code_of(make(p)) == ErrorCode::invalid_token);
        p = plain(); p.logit_bias = {{1, NAN}};
        CHECK(code_of(make(p)) == ErrorCode::invalid_argument);
        p = plain(); p.logit_bias = {{1, INFINITY}};
        CHECK(code_of(make(p)) == ErrorCode::invalid_argument);
        // The documented "off" values are accepted.
        p = plain(); p.top_p = 1.5f; p.typical_p = 2.0f; p.top_k = -3; p.min_p = 0.0f;
        CHECK(code_of(make(p)) == ErrorCode::ok);
    }
    SECTION("moved-from sampler") {
        Sampler a(plain(), 3);
        Sampler b = std::move(a);
        CHECK(b.sample(ok.data(), 3) >= 0);
        CHECK(code_of([&] { a.sample(ok.data(), 3); }) == ErrorCode::invalid_argument);  // NOLINT
    }
}

// ---- StopMatcher -------------------------------------------------------------------------

namespace {

// Feeds pieces, returns everything emitted (plus flush when not stopped) and the flag.
std::pair<std::string, bool> run_stops(std::vector<std::string> stops,
                                       const std::vector<std::string>& pieces) {
    kaa::detail::StopMatcher m(std::move(stops));
    std::string out;
    for (const auto& piece : pieces) {
        auto r = m.push(piece);
        out += r.emit;
        if (r.stopped) return {out, true};
    }
    out += m.flush();
    return {out, false};
}

}  // namespace

TEST_CASE("StopMatcher finds stops split across pieces", "[sampler]") {
    using R = std::pair<std::string, bool>;
    CHECK(run_stops({"</s>"}, {"Hello", " world", "</", "s>", "more"}) == R{"Hello world", true});
    CHECK(run_stops({"</s>"}, {"Hello<", "/", "s", ">"}) == R{"Hello", true});
    CHECK(run_stops({"STOP"}, {"aS", "T", "O", "Pb"}) == R{"a", true});
    CHECK(run_stops({"xyz"}, {"axyzb"}) == R{"a", true});
    CHECK(run_stops({"xyz"}, {"xyz"}) == R{"", true});
    // No stop: everything comes out, nothing lost or duplicated.
    CHECK(run_stops({"</s>"}, {"a<", "/x", "</s", "!"}) == R{"a</x</s!", false});
}

TEST_CASE("StopMatcher holds back only possible prefixes", "[sampler]") {
    kaa::detail::StopMatcher m({"\nUser:"});
    auto r = m.push("Hi there");
    CHECK(r.emit == "Hi there");
    CHECK_FALSE(r.stopped);
    r = m.push("!\nUs");
    CHECK(r.emit == "!");
    CHECK(m.held() == 3);
    r = m.push("eful");  // "\nUseful" is no longer a prefix of "\nUser:"
    CHECK(r.emit == "\nUseful");
    CHECK(m.held() == 0);
    r = m.push("\n");
    CHECK(r.emit == "");
    CHECK(m.flush() == "\n");  // end of text: the held tail was no stop
    CHECK(m.flush() == "");
}

TEST_CASE("StopMatcher with several and overlapping stops", "[sampler]") {
    using R = std::pair<std::string, bool>;
    // The earliest complete match wins.
    CHECK(run_stops({"END", "###"}, {"a###bEND"}) == R{"a", true});
    CHECK(run_stops({"END", "###"}, {"aEN", "D###"}) == R{"a", true});
    // One stop is a prefix of another: the shorter completes first.
    CHECK(run_stops({"\n\nUser", "\n"}, {"ab\n", "\nUser"}) == R{"ab", true});
    // Overlapping self-prefix: "aab" must be found in "aaab" across pieces.
    CHECK(run_stops({"aab"}, {"a", "a", "a", "b"}) == R{"a", true});
    CHECK(run_stops({"abab"}, {"ab", "ab", "c"}) == R{"", true});
    CHECK(run_stops({"abac"}, {"aba", "bac"}) == R{"ab", true});
    // The hold is the longest prefix over all stops.
    kaa::detail::StopMatcher m({"xy", "zzzq"});
    auto r = m.push("azzz");
    CHECK(r.emit == "a");
    r = m.push("x");  // "zzzx": neither prefix continues except "x"
    CHECK(r.emit == "zzz");
    CHECK(m.held() == 1);
    r = m.push("y!");
    CHECK(r.emit == "");
    CHECK(r.stopped);
    // After a stop everything is swallowed until reset.
    r = m.push("more");
    CHECK(r.stopped);
    CHECK(r.emit == "");
    CHECK(m.flush() == "");
    m.reset();
    r = m.push("ok");
    CHECK(r.emit == "ok");
    CHECK_FALSE(r.stopped);
}

TEST_CASE("StopMatcher ignores empty stops and passes through without any", "[sampler]") {
    using R = std::pair<std::string, bool>;
    CHECK(run_stops({}, {"a", "b"}) == R{"ab", false});
    CHECK(run_stops({"", ""}, {"a", "", "b"}) == R{"ab", false});
    CHECK(run_stops({"", "b"}, {"a", "b"}) == R{"a", true});
    // UTF-8 stops are matched byte-wise and split pieces reassemble exactly.
    CHECK(run_stops({"\xC3\xA9!"}, {"caf\xC3", "\xA9", "!"}) == R{"caf", true});
    CHECK(run_stops({"\xC3\xA9!"}, {"caf\xC3", "\xA9", "?"}) == R{"caf\xC3\xA9?", false});
}
