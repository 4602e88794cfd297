// Concurrency: one Model shared by many threads, each running its own randomized script
// of Session operations; every result must equal, bit for bit, a single-threaded replay
// of the same script. Plus cancellation of generate() from its stream callback, also
// when the stop is requested by another thread.
//
// Run under ThreadSanitizer to check for data races (docs/RELIABILITY.md):
//   CC=clang CXX=clang++ cmake -B build-tsan -DKAA_SANITIZE=thread && build-tsan/bin/kaa_tests "[concurrency]"
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gguf/synth.hpp"
#include "kaa/kaa.hpp"
#include "runtime/hash.hpp"
#include "support/temp.hpp"

namespace {

using kaa::Token;

kaa::Model shared_model(const kaa::test::TempDir& dir) {
    kaa::gguf::SynthSpec spec;
    spec.d_model = 32;  // Q8_0 rows: a multiple of 32
    spec.n_layer = 2;
    spec.d_inner = 64;
    spec.d_state = 8;
    spec.d_conv = 4;
    spec.dt_rank = 4;
    spec.type = kaa::gguf::TensorType::q8_0;
    spec.tied = false;
    spec.byte_vocab = true;  // a real tokenizer and chat template: generate works
    spec.seed = 11;
    spec.n_threads = 1;
    const std::string path = dir.file("shared.gguf");
    kaa::gguf::write_synth_model(spec, path);
    kaa::ModelParams p;
    p.n_threads = 1;
    return kaa::Model::load(path, p);
}

template <class T>
uint64_t hash_of(const std::vector<T>& v) {
    return kaa::runtime::hash64(v.data(), v.size() * sizeof(T));
}
uint64_t hash_of(const std::string& s) { return kaa::runtime::hash64(s.data(), s.size()); }

// Kinds of operation a Script draws from (see Script::step), and their names for the report.
constexpr size_t kKinds = 11;
const char* const kKindNames[kKinds] = {"eval", "generate", "fork", "state", "restore", "serialize",
                                        "eval_batch", "reset", "tokenizer", "template", "new session"};

const char* const kPrompts[] = {"Hello", "The weather in", "a", "Once upon a time, there",
                                "\xc3\xa9t\xc3\xa9 \xf0\x9f\x99\x82", "<|endoftext|>the"};

// One thread's work: a sequence of operations drawn from `seed`, run on the thread's own
// Sessions over the shared Model, tokenizer and chat template. Every observable result
// goes into `log` as a hash, so two runs can be compared bit for bit.
class Script {
public:
    Script(const kaa::Model& model, const kaa::ChatTemplate& tmpl, uint64_t seed)
        : model_(model), tmpl_(tmpl), rng_(seed) {
        for (int i = 0; i < 2; ++i) sessions_.push_back(new_session());
    }

    std::vector<uint64_t> run(int n_ops) {
        for (int i = 0; i < n_ops; ++i) step();
        return std::move(log_);
    }
    // Operations run, by kind (the cases of step()).
    const std::array<int, kKinds>& counts() const { return counts_; }

private:
    size_t pick(size_t n) { return size_t(rng_() % n); }
    kaa::Session& any() { return sessions_[pick(sessions_.size())]; }
    Token token() { return Token(pick(size_t(model_.n_vocab()))); }
    std::vector<Token> tokens(size_t max_n) {
        std::vector<Token> t(1 + pick(max_n));
        for (Token& x : t) x = token();
        return t;
    }
    kaa::Session new_session() {
        kaa::SessionParams p;
        // A quarter of the Sessions run a worker thread of their own: enough to race the
        // pools against each other, few enough not to drown 2 cores in spinning workers.
        p.n_threads = pick(4) == 0 ? 2 : 1;
        p.n_batch = 1 + int(pick(16));
        return kaa::Session(model_, p);
    }
    void note(uint64_t v) { log_.push_back(v); }

    void step() {
        const size_t kind = pick(kKinds);
        ++counts_[kind];
        switch (kind) {
            case 0: {  // eval
                kaa::Session& s = any();
                kaa::EvalOptions o;
                o.all_logits = pick(2);
                note(hash_of(s.eval(tokens(12), o)));
                note(uint64_t(s.position()));
                break;
            }
            case 1: {  // generate with a fixed seed
                kaa::Session& s = any();
                kaa::GenerationOptions g;
                g.max_tokens = 1 + int32_t(pick(8));
                g.sampler.seed = rng_();
                g.sampler.temperature = pick(3) ? 0.9f : 0.0f;
                g.ignore_eos = pick(2);
                if (pick(3) == 0) g.stop = {"e"};
                const kaa::GenerationResult r = s.logits().empty() || pick(2)
                                                    ? s.generate(std::string_view(kPrompts[pick(6)]), g)
                                                    : s.generate(std::vector<Token>{}, g);
                note(hash_of(r.tokens));
                note(hash_of(r.text));
                note(uint64_t(r.stop_reason));
                note(uint64_t(s.position()));
                break;
            }
            case 2: {  // fork
                kaa::Session f = any().fork();
                note(hash_of(f.logits()));
                if (sessions_.size() < 4) sessions_.push_back(std::move(f));
                else sessions_[pick(sessions_.size())] = std::move(f);
                break;
            }
            case 3: {  // save a state
                kaa::State st = any().state();
                note(hash_of(st.data()));
                if (saved_.size() < 4) saved_.push_back(std::move(st));
                else saved_[pick(saved_.size())] = std::move(st);
                break;
            }
            case 4: {  // restore a saved state, then continue from it
                if (saved_.empty()) break;
                kaa::Session& s = any();
                s.set_state(saved_[pick(saved_.size())]);
                const Token t = token();
                note(hash_of(s.eval(&t, 1)));
                break;
            }
            case 5: {  // serialize, deserialize into another Session
                kaa::State st = any().state();
                st.set_user_data(std::to_string(rng_()));
                const std::vector<uint8_t> blob = st.serialize();
                note(hash_of(blob));
                const kaa::State back = kaa::State::deserialize(blob);
                note(hash_of(back.user_data()));
                any().set_state(back);
                break;
            }
            case 6: {  // eval_batch over some of this thread's Sessions
                const size_t n = 1 + pick(sessions_.size());
                std::vector<size_t> idx(sessions_.size());
                for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
                std::shuffle(idx.begin(), idx.end(), rng_);
                std::vector<std::vector<Token>> toks;
                for (size_t i = 0; i < n; ++i) toks.push_back(tokens(6));
                std::vector<kaa::BatchItem> items;
                for (size_t i = 0; i < n; ++i) items.push_back({&sessions_[idx[i]], toks[i].data(), toks[i].size()});
                kaa::eval_batch(items);
                for (size_t i = 0; i < n; ++i) note(hash_of(sessions_[idx[i]].logits()));
                break;
            }
            case 7:  // reset
                any().reset();
                note(uint64_t(any().position()));
                break;
            case 8: {  // the shared tokenizer
                const kaa::Tokenizer& tok = model_.tokenizer();
                kaa::TokenizeOptions o;
                o.parse_special = pick(2);
                const std::vector<Token> ids = tok.encode(kPrompts[pick(6)], o);
                note(hash_of(ids));
                note(hash_of(tok.decode(ids)));
                break;
            }
            case 9: {  // the shared chat template
                std::vector<kaa::ChatMessage> msgs = {{"user", kPrompts[pick(6)]}};
                if (pick(2)) msgs.push_back({"assistant", kPrompts[pick(6)]});
                note(hash_of(tmpl_.render(msgs)));
                break;
            }
            default:  // a fresh Session in place of one (thread pools come and go)
                sessions_[pick(sessions_.size())] = new_session();
                break;
        }
    }

    const kaa::Model& model_;
    const kaa::ChatTemplate& tmpl_;
    std::mt19937_64 rng_;
    std::vector<kaa::Session> sessions_;
    std::vector<kaa::State> saved_;
    std::vector<uint64_t> log_;
    std::array<int, kKinds> counts_{};
};

}  // namespace

TEST_CASE("concurrency: threads sharing one Model get exactly their single-threaded results", "[concurrency]") {
    kaa::test::TempDir dir;
    const kaa::Model model = shared_model(dir);
    const kaa::ChatTemplate tmpl = kaa::ChatTemplate::parse(model.chat_template());
    // 8 x 512 = 4,096 randomized operations (and as many again in the replay).
    constexpr int kThreads = 8, kOps = 4096;

    using Clock = std::chrono::steady_clock;
    const auto t0 = Clock::now();
    std::vector<std::vector<uint64_t>> concurrent(kThreads);
    std::vector<std::thread> threads;
    std::atomic<int> ready{0};
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            ready.fetch_add(1);
            while (ready.load() < kThreads) std::this_thread::yield();  // start together
            concurrent[size_t(t)] = Script(model, tmpl, 1000 + uint64_t(t)).run(kOps);
        });
    }
    for (auto& th : threads) th.join();
    const auto t1 = Clock::now();

    size_t observations = 0;
    std::array<int, kKinds> kinds{};
    for (int t = 0; t < kThreads; ++t) {
        Script replay(model, tmpl, 1000 + uint64_t(t));
        const std::vector<uint64_t> alone = replay.run(kOps);
        INFO("thread " << t);
        REQUIRE(alone.size() == concurrent[size_t(t)].size());
        CHECK(alone == concurrent[size_t(t)]);
        observations += alone.size();
        for (size_t k = 0; k < kKinds; ++k) kinds[k] += replay.counts()[k];
    }
    CHECK(observations > size_t(kThreads * kOps));
    for (size_t k = 0; k < kKinds; ++k) CHECK(kinds[k] > kThreads * kOps / int(kKinds) / 2);  // every kind ran
    const auto ms = [](Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); };
    std::string mix;
    for (size_t k = 0; k < kKinds; ++k) mix += (k ? ", " : "") + std::to_string(kinds[k]) + " " + kKindNames[k];
    WARN(kThreads << " threads x " << kOps << " ops (" << mix << "): " << observations
                  << " observations; concurrent " << ms(t1 - t0) << " ms, single-threaded replay "
                  << ms(Clock::now() - t1) << " ms");
}

TEST_CASE("concurrency: a stream callback returning false stops generation at once", "[concurrency][generate]") {
    kaa::test::TempDir dir;
    const kaa::Model model = shared_model(dir);
    kaa::Session s(model);
    kaa::GenerationOptions g;
    g.max_tokens = 500;
    g.ignore_eos = true;
    g.sampler.seed = 5;
    int calls = 0;
    const kaa::GenerationResult r = s.generate(std::string_view("Hello"), g, [&](std::string_view) {
        return ++calls < 3;
    });
    CHECK(r.stop_reason == kaa::StopReason::callback);
    CHECK(calls == 3);  // not called again after saying stop
    CHECK(r.tokens.size() < 500);
    const std::vector<Token> prompt = model.tokenizer().encode("Hello");
    CHECK(s.position() == int64_t(prompt.size() + r.tokens.size()));

    // The Session holds exactly prompt + generated tokens, and continues normally.
    kaa::Session ref(model);
    ref.eval(prompt);
    for (Token t : r.tokens) ref.eval(&t, 1);
    CHECK(ref.logits() == s.logits());
    kaa::GenerationOptions more;
    more.max_tokens = 6;
    more.sampler.temperature = 0;
    more.ignore_eos = true;
    CHECK(s.generate(std::vector<Token>{}, more).tokens == ref.generate(std::vector<Token>{}, more).tokens);
    CHECK(s.position() == ref.position());
}

TEST_CASE("concurrency: another thread stops a long generation promptly through the callback", "[concurrency][generate]") {
    kaa::test::TempDir dir;
    const kaa::Model model = shared_model(dir);
    kaa::Session s(model);
    std::atomic<bool> stop{false};
    std::atomic<int> pieces{0};
    kaa::GenerationResult r;
    std::thread gen([&] {
        kaa::GenerationOptions g;
        g.max_tokens = 1000000;  // would run for minutes
        g.ignore_eos = true;
        g.sampler.seed = 9;
        r = s.generate(std::string_view("Once"), g, [&](std::string_view) {
            pieces.fetch_add(1);
            return !stop.load();
        });
    });
    using Clock = std::chrono::steady_clock;
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    while (pieces.load() < 5 && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    const auto t0 = Clock::now();
    stop.store(true);
    gen.join();
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    CHECK(r.stop_reason == kaa::StopReason::callback);
    CHECK(ms < 2000.0);  // one more token at most, even under sanitizers
    CHECK(s.position() == int64_t(model.tokenizer().encode("Once").size() + r.tokens.size()));
    const Token t = 0;
    CHECK(s.eval(&t, 1).size() == size_t(model.n_vocab()));  // still usable
}
