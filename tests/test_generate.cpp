// Generation on the shared tiny models: greedy continuations match the goldens,
// streaming, stop conditions, determinism, continuation and multi-turn chat.
#include <catch2/catch.hpp>

#include "kaa/kaa.hpp"
#include "support/golden.hpp"
#include "support/shared.hpp"

namespace {

bool valid_utf8(std::string_view s) {
    size_t i = 0;
    while (i < s.size()) {
        const unsigned char c = static_cast<unsigned char>(s[i]);
        const size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (n == 0 || i + n > s.size()) return false;
        for (size_t k = 1; k < n; ++k)
            if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
        i += n;
    }
    return true;
}

kaa::GenerationOptions greedy(int n) {
    kaa::GenerationOptions o;
    o.max_tokens = n;
    o.sampler.temperature = 0.0f;
    o.ignore_eos = true;
    return o;
}

}  // namespace

TEST_CASE("generate: greedy generation reproduces every golden continuation", "[generate]") {
    KAA_REQUIRE_SHARED();
    for (const std::string& name : kaa::test::golden_names()) {
        const auto g = kaa::test::load_golden(kaa::test::shared_path("golden/" + name + ".json"));
        const kaa::Model model = kaa::Model::load(kaa::test::shared_path("models/" + g.model_file));
        kaa::Session s(model);
        for (const auto& c : g.cases) {
            s.reset();
            const std::vector<kaa::Token> prompt(c.tokens.begin(), c.tokens.begin() + c.n_prompt);
            const std::vector<kaa::Token> expected(c.tokens.begin() + c.n_prompt, c.tokens.end());
            kaa::GenerationResult r = c.text ? s.generate(*c.text, greedy(int(expected.size())))
                                             : s.generate(prompt, greedy(int(expected.size())));
            INFO(name << " case " << c.name);
            CHECK(r.tokens == expected);
            CHECK(r.stop_reason == kaa::StopReason::max_tokens);
            CHECK(s.position() == int64_t(c.tokens.size()));
            CHECK(r.text == model.tokenizer().decode(expected));
        }
    }
}

TEST_CASE("generate: streamed pieces are complete UTF-8 and add up to the text", "[generate]") {
    KAA_REQUIRE_SHARED();
    const kaa::Model model = kaa::Model::load(kaa::test::shared_path("models/tiny-falcon-mamba-q8_0.gguf"));
    kaa::Session s(model);
    kaa::GenerationOptions o;
    o.max_tokens = 60;
    o.sampler.seed = 5;
    o.sampler.temperature = 1.5f;  // wander into multi-byte characters
    o.sampler.top_k = 0;
    o.sampler.top_p = 1.0f;
    o.sampler.min_p = 0.0f;
    std::string streamed;
    int pieces = 0;
    const auto r = s.generate("Füße, 東京 and naïve café", o, [&](std::string_view p) {
        CHECK(valid_utf8(p));
        CHECK_FALSE(p.empty());
        streamed += p;
        ++pieces;
        return true;
    });
    CHECK(pieces > 0);
    CHECK(streamed == r.text);
    CHECK(r.timings.n_generated == int64_t(r.tokens.size()));
    CHECK(r.timings.n_prompt > 0);
}

TEST_CASE("generate: stop conditions", "[generate]") {
    KAA_REQUIRE_SHARED();
    const kaa::Model model = kaa::Model::load(kaa::test::shared_path("models/tiny-falcon-mamba-q8_0.gguf"));
    kaa::Session s(model);
    const auto full = s.generate("Hello how are you?", greedy(16));
    REQUIRE(full.text.size() > 6);

    SECTION("a stop string cuts the text before it, across token boundaries") {
        const std::string stop = full.text.substr(full.text.size() / 2, 3);
        const size_t at = full.text.find(stop);
        s.reset();
        auto o = greedy(16);
        o.stop = {stop};
        std::string streamed;
        const auto r = s.generate("Hello how are you?", o, [&](std::string_view p) {
            streamed += p;
            return true;
        });
        CHECK(r.stop_reason == kaa::StopReason::stop_string);
        CHECK(r.text == full.text.substr(0, at));
        CHECK(streamed == r.text);
    }
    SECTION("the callback can stop generation and the session stays usable") {
        s.reset();
        int calls = 0;
        const auto r = s.generate("Hello how are you?", greedy(16), [&](std::string_view) { return ++calls < 2; });
        CHECK(r.stop_reason == kaa::StopReason::callback);
        CHECK(calls == 2);
        CHECK(r.tokens.size() < 16);
        const auto more = s.generate("", greedy(3));
        CHECK(more.tokens.size() == 3);
    }
    SECTION("an end-of-generation token stops unless ignore_eos") {
        s.reset();
        auto o = greedy(8);
        o.ignore_eos = false;
        o.sampler.logit_bias = {{model.tokenizer().eos(), 1000.0f}};
        const auto r = s.generate("Hello", o);
        CHECK(r.stop_reason == kaa::StopReason::end_of_generation);
        CHECK(r.tokens == std::vector<kaa::Token>{model.tokenizer().eos()});
        CHECK(r.text.empty());
    }
    SECTION("max_tokens 0 only evaluates the prompt; bad options are errors") {
        s.reset();
        const auto r = s.generate("Hello", greedy(0));
        CHECK(r.tokens.empty());
        CHECK(s.position() > 0);
        auto bad = greedy(-1);
        CHECK_THROWS_AS(s.generate("Hello", bad), kaa::Error);
        auto nan = greedy(4);
        nan.sampler.temperature = 0.7f;
        nan.sampler.top_p = -1.0f;
        CHECK_THROWS_AS(s.generate("Hello", nan), kaa::Error);
    }
}

TEST_CASE("generate: same seed, same tokens, whatever the thread count", "[generate]") {
    KAA_REQUIRE_SHARED();
    const kaa::Model model = kaa::Model::load(kaa::test::shared_path("models/tiny-falcon-mamba-bf16.gguf"));
    kaa::GenerationOptions o;
    o.max_tokens = 24;
    o.sampler.seed = 1234;
    std::vector<kaa::Token> first;
    for (int threads : {1, 2, 3}) {
        kaa::SessionParams sp;
        sp.n_threads = threads;
        kaa::Session s(model, sp);
        const auto r = s.generate("The Mamba architecture", o);
        if (first.empty()) first = r.tokens;
        INFO(threads << " threads");
        CHECK(r.tokens == first);
    }
    kaa::Session s(model);
    o.sampler.seed = 4321;
    CHECK(s.generate("The Mamba architecture", o).tokens != first);
}

TEST_CASE("generate: continuing in two calls equals one call", "[generate]") {
    KAA_REQUIRE_SHARED();
    const kaa::Model model = kaa::Model::load(kaa::test::shared_path("models/tiny-falcon-mamba-f16.gguf"));
    kaa::Session a(model), b(model);
    const auto whole = a.generate("Hello how are you?", greedy(15));
    auto part = b.generate("Hello how are you?", greedy(10));
    const auto rest = b.generate("", greedy(5));
    part.tokens.insert(part.tokens.end(), rest.tokens.begin(), rest.tokens.end());
    CHECK(part.tokens == whole.tokens);
    CHECK(part.text + rest.text == whole.text);
}

TEST_CASE("generate: an empty prompt after set_state is refused, never a BOS mid-sequence", "[generate]") {
    KAA_REQUIRE_SHARED();
    const kaa::Model model = kaa::Model::load(kaa::test::shared_path("models/tiny-falcon-mamba-q8_0.gguf"));
    kaa::Session a(model), b(model);
    a.generate("Hello how are you?", greedy(4));
    const kaa::State saved = a.state();
    b.set_state(saved);
    REQUIRE(b.logits().empty());
    try {
        b.generate("", greedy(3));
        FAIL("generate(\"\") after set_state must throw");
    } catch (const kaa::Error& e) {
        CHECK(e.code() == kaa::ErrorCode::invalid_argument);
    }
    CHECK(b.position() == saved.position());  // nothing was evaluated
    // With a prompt it continues exactly like the Session the state came from.
    const auto from_a = a.generate(" Fine", greedy(6));
    const auto from_b = b.generate(" Fine", greedy(6));
    CHECK(from_b.tokens == from_a.tokens);
    // At position 0 an empty prompt still starts from BOS.
    b.reset();
    CHECK(b.generate("", greedy(2)).tokens.size() == 2);
    CHECK(std::string(kaa::stop_reason_name(kaa::StopReason::stop_string)) == "stop_string");
}

TEST_CASE("conversation: a chat saved and restored continues like one that never stopped", "[generate][chat]") {
    KAA_REQUIRE_SHARED();
    const kaa::Model model = kaa::Model::load(kaa::test::shared_path("models/tiny-falcon-mamba-q8_0.gguf"));
    auto o = greedy(12);
    o.ignore_eos = false;

    kaa::Session s1(model);
    kaa::Conversation c1(s1);
    c1.add({"system", "You are terse."});
    c1.reply("Hello!", o);
    // save both halves: the model state and the conversation bookkeeping
    kaa::State saved = s1.state();
    saved.set_user_data(c1.serialize());
    const auto blob = saved.serialize();
    const auto second = c1.reply("How are you?", o);
    REQUIRE(c1.messages().size() == 5);
    CHECK(c1.messages()[3].content == "How are you?");
    CHECK(c1.messages()[4].content == second.text);

    // a fresh session from the blob
    kaa::Session s2(model);
    const kaa::State restored = kaa::State::deserialize(blob);
    s2.set_state(restored);
    kaa::Conversation c2(s2);
    c2.restore(restored.user_data());
    const auto second2 = c2.reply("How are you?", o);
    CHECK(second2.tokens == second.tokens);
    CHECK(second2.text == second.text);

    // and both equal a single rendering of the whole conversation fed at once
    kaa::Session s3(model);
    kaa::Conversation c3(s3);
    for (size_t i = 0; i + 2 < c1.messages().size(); ++i) c3.add(c1.messages()[i]);
    const auto second3 = c3.reply("How are you?", o);
    CHECK(second3.text == second.text);

    CHECK_THROWS_AS(c2.restore("garbage"), kaa::Error);
}

TEST_CASE("conversation: a reply that throws midway is undone, and the next one is what a fresh run gives",
          "[generate][chat]") {
    KAA_REQUIRE_SHARED();
    const kaa::Model model = kaa::Model::load(kaa::test::shared_path("models/tiny-falcon-mamba-q8_0.gguf"));
    auto o = greedy(12);
    o.ignore_eos = false;

    kaa::Session s1(model);
    kaa::Conversation c1(s1);
    c1.reply("Hello!", o);
    const size_t before = c1.messages().size();
    // The callback throws after the state has taken part of the reply.
    int pieces = 0;
    CHECK_THROWS_AS(c1.reply("How are you?", greedy(12),
                             [&](std::string_view) -> bool {
                                 if (++pieces == 3) throw std::runtime_error("host gave up");
                                 return true;
                             }),
                    std::runtime_error);
    CHECK(c1.messages().size() == before);  // the failed turn left nothing behind
    const auto after = c1.reply("Fine?", o);

    kaa::Session s2(model);
    kaa::Conversation c2(s2);
    c2.reply("Hello!", o);
    const auto clean = c2.reply("Fine?", o);
    CHECK(after.tokens == clean.tokens);
    CHECK(c1.messages().size() == c2.messages().size());
}
