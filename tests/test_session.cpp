// Engine invariants on synthetic models the tests write themselves (no shared data):
// prefill == decode, chunking, thread counts, state save/restore/fork, the per-Session
// limits, and state blobs and files that are corrupt or of another format version.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <dirent.h>
#include <functional>
#include <random>
#include <stdlib.h>
#include <unistd.h>

#include "gguf/synth.hpp"
#include "kaa/kaa.hpp"
#include "model/model_impl.hpp"
#include "runtime/hash.hpp"
#include "support/shared.hpp"
#include "support/temp.hpp"

namespace {

using kaa::gguf::SynthSpec;
using kaa::gguf::TensorType;

// Writes a synthetic model into `dir` and loads it.
kaa::Model synth_model(const kaa::test::TempDir& dir, SynthSpec spec, const std::string& name = "m.gguf",
                       kaa::Precision precision = kaa::Precision::exact) {
    const std::string path = dir.file(name);
    kaa::gguf::write_synth_model(spec, path);
    kaa::ModelParams mp;
    mp.precision = precision;
    return kaa::Model::load(path, mp);
}

// Odd shapes on purpose: nothing is a multiple of a vector width except where Q8_0 needs 32.
SynthSpec odd_spec(TensorType type, uint64_t seed = 7) {
    SynthSpec s;
    s.d_model = type == TensorType::q8_0 ? 96 : 37;
    s.n_layer = 3;
    s.d_inner = type == TensorType::q8_0 ? 160 : 75;
    s.d_state = 8;
    s.d_conv = 3;
    s.dt_rank = 5;
    s.n_vocab = 301;
    s.tied = false;
    s.type = type;
    s.seed = seed;
    return s;
}

std::vector<kaa::Token> random_tokens(size_t n, int32_t n_vocab, uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<kaa::Token> out(n);
    for (auto& t : out) t = kaa::Token(rng() % uint32_t(n_vocab));
    return out;
}

std::vector<float> prefill_all(kaa::Session& s, const std::vector<kaa::Token>& toks) {
    kaa::EvalOptions eo;
    eo.all_logits = true;
    return s.eval(toks, eo);
}

std::vector<float> decode_all(kaa::Session& s, const std::vector<kaa::Token>& toks) {
    std::vector<float> out;
    for (kaa::Token t : toks) {
        const auto& l = s.eval(&t, 1);
        out.insert(out.end(), l.begin(), l.end());
    }
    return out;
}

bool bitwise_equal(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

}  // namespace

TEST_CASE("engine: prefill of N tokens equals N decode steps, bit for bit", "[engine]") {
    kaa::test::TempDir dir;
    for (TensorType type : {TensorType::f32, TensorType::f16, TensorType::bf16, TensorType::q8_0})
    for (kaa::Precision precision : {kaa::Precision::exact, kaa::Precision::fast}) {
        const kaa::Model model = synth_model(dir, odd_spec(type), "m" + std::to_string(int(type)) + ".gguf", precision);
        const auto toks = random_tokens(41, model.n_vocab(), 1);
        kaa::Session a(model), b(model);
        const auto pre = prefill_all(a, toks);
        const auto dec = decode_all(b, toks);
        INFO("weight type " << kaa::gguf::tensor_type_name(type) << ", precision " << int(precision));
        REQUIRE(pre.size() == toks.size() * size_t(model.n_vocab()));
        CHECK(bitwise_equal(pre, dec));
        CHECK(a.position() == 41);
        // and the states agree too
        CHECK(a.state().data() == b.state().data());
    }
}

TEST_CASE("engine: splitting a prompt into chunks at any boundary gives the same logits", "[engine]") {
    kaa::test::TempDir dir;
    const kaa::Model model = synth_model(dir, odd_spec(TensorType::q8_0), "m.gguf", kaa::Precision::fast);
    const auto toks = random_tokens(23, model.n_vocab(), 2);
    kaa::Session ref(model);
    const auto whole = prefill_all(ref, toks);
    for (size_t cut = 1; cut < toks.size(); ++cut) {
        kaa::Session s(model);
        std::vector<kaa::Token> a(toks.begin(), toks.begin() + long(cut)), b(toks.begin() + long(cut), toks.end());
        auto la = prefill_all(s, a);
        const auto lb = prefill_all(s, b);
        la.insert(la.end(), lb.begin(), lb.end());
        INFO("cut at " << cut);
        CHECK(bitwise_equal(la, whole));
    }
    // internal chunking (n_batch) does not matter either
    for (int n_batch : {1, 2, 5, 7, 64}) {
        kaa::SessionParams sp;
        sp.n_batch = n_batch;
        kaa::Session s(model, sp);
        INFO("n_batch " << n_batch);
        CHECK(bitwise_equal(prefill_all(s, toks), whole));
    }
}

// F16 (f32 activations) and Q8_0 (int8 activations, quantized once per matmul and split
// across the threads by rows), with more threads than token rows too.
TEST_CASE("engine: results do not depend on the thread count", "[engine]") {
    for (TensorType type : {TensorType::f16, TensorType::q8_0}) {
        kaa::test::TempDir dir;
        const kaa::Model model = synth_model(dir, odd_spec(type), "m.gguf", kaa::Precision::fast);
        const auto toks = random_tokens(17, model.n_vocab(), 3);
        kaa::SessionParams sp;
        sp.n_threads = 1;
        kaa::Session one(model, sp);
        const auto ref = prefill_all(one, toks);
        for (int n : {2, 3, 4, 7, 20}) {
            sp.n_threads = n;
            kaa::Session s(model, sp);
            REQUIRE(s.n_threads() == n);
            INFO(n << " threads, type " << int(type));
            CHECK(bitwise_equal(prefill_all(s, toks), ref));
        }
    }
}

TEST_CASE("engine: save, continue, restore, continue again gives identical logits", "[engine][state]") {
    kaa::test::TempDir dir;
    const kaa::Model model = synth_model(dir, odd_spec(TensorType::q8_0));
    const auto prompt = random_tokens(13, model.n_vocab(), 4);
    const auto more = random_tokens(9, model.n_vocab(), 5);
    kaa::Session s(model);
    s.eval(prompt);
    const kaa::State saved = s.state();
    CHECK(saved.position() == 13);
    const auto first = prefill_all(s, more);
    s.set_state(saved);
    CHECK(s.position() == 13);
    CHECK(bitwise_equal(prefill_all(s, more), first));

    // through bytes and through a file
    const auto bytes = saved.serialize();
    CHECK(bytes.size() > model.state_size());
    s.set_state(kaa::State::deserialize(bytes));
    CHECK(bitwise_equal(prefill_all(s, more), first));
    saved.save(dir.file("s.kaastate"));
    s.set_state(kaa::State::load(dir.file("s.kaastate")));
    CHECK(bitwise_equal(prefill_all(s, more), first));
}

TEST_CASE("engine: fork gives two independent continuations", "[engine][state]") {
    kaa::test::TempDir dir;
    const kaa::Model model = synth_model(dir, odd_spec(TensorType::bf16));
    const auto prompt = random_tokens(11, model.n_vocab(), 6);
    const auto cont_a = random_tokens(6, model.n_vocab(), 7);
    const auto cont_b = random_tokens(6, model.n_vocab(), 8);

    kaa::Session base(model);
    base.eval(prompt);
    kaa::Session fork = base.fork();
    CHECK(fork.position() == base.position());
    const auto la = prefill_all(base, cont_a);
    const auto lb = prefill_all(fork, cont_b);

    // each equals a fresh run of prompt + its continuation
    kaa::Session fresh(model);
    std::vector<kaa::Token> pa = prompt, pb = prompt;
    pa.insert(pa.end(), cont_a.begin(), cont_a.end());
    pb.insert(pb.end(), cont_b.begin(), cont_b.end());
    const size_t V = size_t(model.n_vocab());
    auto tail = [&](const std::vector<float>& all) {
        return std::vector<float>(all.end() - long(6 * V), all.end());
    };
    CHECK(bitwise_equal(tail(prefill_all(fresh, pa)), la));
    fresh.reset();
    CHECK(bitwise_equal(tail(prefill_all(fresh, pb)), lb));
    CHECK_FALSE(bitwise_equal(la, lb));

    // a State copied into a second Session works the same way
    kaa::Session other(model);
    other.set_state(base.state());
    CHECK(other.position() == base.position());
}

TEST_CASE("engine: bad tokens and arguments are clear errors and leave the state alone", "[engine]") {
    kaa::test::TempDir dir;
    const kaa::Model model = synth_model(dir, odd_spec(TensorType::f32));
    kaa::Session s(model);
    s.eval(random_tokens(3, model.n_vocab(), 9));
    const kaa::State before = s.state();
    const std::vector<kaa::Token> bad = {1, 2, model.n_vocab()};
    try {
        s.eval(bad);
        FAIL("expected an error");
    } catch (const kaa::Error& e) {
        CHECK(e.code() == kaa::ErrorCode::invalid_token);
        CHECK(std::string(e.what()).find("index 2") != std::string::npos);
    }
    CHECK_THROWS_MATCHES(s.eval(std::vector<kaa::Token>{-1}), kaa::Error,
                         Catch::Predicate<kaa::Error>([](const kaa::Error& e) { return e.code() == kaa::ErrorCode::invalid_token; }));
    CHECK(s.state().data() == before.data());
    CHECK(s.position() == 3);
    CHECK_THROWS_AS(s.eval(std::vector<kaa::Token>{}), kaa::Error);
    CHECK_THROWS_AS(s.set_state(kaa::State()), kaa::Error);
    kaa::SessionParams sp;
    sp.n_batch = 0;
    CHECK_THROWS_AS(kaa::Session(model, sp), kaa::Error);
    sp.n_batch = 8;
    sp.n_threads = -2;
    CHECK_THROWS_AS(kaa::Session(model, sp), kaa::Error);
}

#if defined(__linux__)
namespace {
// Resident set size of this process, in bytes (/proc/self/statm: pages).
int64_t resident_bytes() {
    std::FILE* f = std::fopen("/proc/self/statm", "r");
    long long size = 0, resident = 0;
    const bool ok = f && std::fscanf(f, "%lld %lld", &size, &resident) == 2;
    if (f) std::fclose(f);
    return ok ? resident * sysconf(_SC_PAGESIZE) : -1;
}
}  // namespace
#endif

// A Session's activation buffers grow to the chunks it runs, not to n_batch up front:
// Sessions that only decode stay small whatever their n_batch.
TEST_CASE("engine: a Session holds activation buffers for the chunks it ran, not for n_batch", "[engine]") {
#if !defined(__linux__)
    KAA_SKIP("reads /proc/self/statm");
#else
    kaa::test::TempDir dir;
    SynthSpec spec = odd_spec(TensorType::f32);
    spec.d_model = 256;
    spec.d_inner = 512;  // ~15 KB of buffers a token: n_batch 65536 would be ~1 GB a Session
    const kaa::Model model = synth_model(dir, spec);
    kaa::SessionParams sp;
    sp.n_batch = 65536;
    sp.n_threads = 1;
    const auto toks = random_tokens(40, model.n_vocab(), 3);
    const int64_t before = resident_bytes();
    REQUIRE(before > 0);
    {
        std::vector<kaa::Session> sessions;
        for (int i = 0; i < 4; ++i) {
            sessions.emplace_back(model, sp);
            sessions.back().eval(&toks[size_t(i)], 1);
        }
        CHECK(resident_bytes() - before < (int64_t(64) << 20));
        // A prompt grows the buffers to its length, and results do not depend on it.
        kaa::SessionParams small = sp;
        small.n_batch = 7;
        kaa::Session a(model, sp), b(model, small);
        CHECK(bitwise_equal(prefill_all(a, toks), prefill_all(b, toks)));
        CHECK(bitwise_equal(decode_all(a, toks), decode_all(b, toks)));
        CHECK(resident_bytes() - before < (int64_t(64) << 20));
    }
#endif
}

TEST_CASE("state: corrupt, truncated and foreign blobs are refused", "[state]") {
    kaa::test::TempDir dir;
    const kaa::Model model = synth_model(dir, odd_spec(TensorType::f32));
    SynthSpec other_spec = odd_spec(TensorType::f32);
    other_spec.d_state = 4;
    const kaa::Model other = synth_model(dir, other_spec, "other.gguf");
    SynthSpec same_shape = odd_spec(TensorType::f16);  // same dims, other tensor types
    const kaa::Model twin = synth_model(dir, same_shape, "twin.gguf");

    kaa::Session s(model);
    s.eval(random_tokens(5, model.n_vocab(), 10));
    const auto bytes = s.state().serialize();

    auto code_of = [](const std::vector<uint8_t>& b) {
        try {
            kaa::State::deserialize(b);
        } catch (const kaa::Error& e) {
            return e.code();
        }
        return kaa::ErrorCode::ok;
    };
    CHECK(code_of(bytes) == kaa::ErrorCode::ok);
    // every truncation
    for (size_t n = 0; n < bytes.size(); n += (n < 200 ? 1 : 97)) {
        INFO("truncated to " << n);
        CHECK(code_of(std::vector<uint8_t>(bytes.begin(), bytes.begin() + long(n))) == kaa::ErrorCode::invalid_state);
    }
    // a flipped bit anywhere
    std::mt19937 rng(11);
    for (int i = 0; i < 300; ++i) {
        auto b = bytes;
        const size_t at = rng() % b.size();
        b[at] ^= uint8_t(1u << (rng() % 8));
        INFO("bit flip at byte " << at);
        CHECK(code_of(b) == kaa::ErrorCode::invalid_state);
    }
    // another model
    kaa::Session so(other), st(twin);
    const kaa::State state = kaa::State::deserialize(bytes);
    CHECK_THROWS_MATCHES(so.set_state(state), kaa::Error,
                         Catch::Predicate<kaa::Error>([](const kaa::Error& e) { return e.code() == kaa::ErrorCode::state_mismatch; }));
    CHECK_THROWS_MATCHES(st.set_state(state), kaa::Error,
                         Catch::Predicate<kaa::Error>([](const kaa::Error& e) { return e.code() == kaa::ErrorCode::state_mismatch; }));
    // files: a missing file is an io error; a saved file leaves no temporary behind
    CHECK_THROWS_MATCHES(kaa::State::load(dir.file("missing")), kaa::Error,
                         Catch::Predicate<kaa::Error>([](const kaa::Error& e) { return e.code() == kaa::ErrorCode::io; }));
    state.save(dir.file("a.state"));
    state.save(dir.file("a.state"));  // replaces
    CHECK(kaa::State::load(dir.file("a.state")).data() == state.data());
    int leftovers = 0;
    if (DIR* d = opendir(dir.path().c_str())) {
        while (dirent* e = readdir(d)) leftovers += std::string(e->d_name).find(".tmp") != std::string::npos;
        closedir(d);
    }
    CHECK(leftovers == 0);
}

TEST_CASE("state: files cut short or bit-flipped on disk never load, other versions are refused by name", "[state]") {
    kaa::test::TempDir dir;
    const kaa::Model model = synth_model(dir, odd_spec(TensorType::f32));
    kaa::Session s(model);
    s.eval(random_tokens(4, model.n_vocab(), 12));
    kaa::State st = s.state();
    st.set_user_data("history");
    const std::string path = dir.file("chat.kaastate");
    st.save(path);
    const std::vector<uint8_t> good = st.serialize();

    auto load_code = [&](const std::vector<uint8_t>& bytes) {
        kaa::test::write_bytes(path, bytes.data(), bytes.size());
        try {
            kaa::State::load(path);
        } catch (const kaa::Error& e) {
            return e.code();
        }
        return kaa::ErrorCode::ok;
    };
    REQUIRE(load_code(good) == kaa::ErrorCode::ok);
    // A power cut while a non-atomic writer wrote the file: any prefix of it, including
    // an empty file and the file less its last byte.
    std::mt19937 rng(21);
    std::vector<size_t> cuts = {0, 1, 7, 8, 12, 16, good.size() / 2, good.size() - 9, good.size() - 8, good.size() - 1};
    for (int i = 0; i < 40; ++i) cuts.push_back(rng() % good.size());
    for (size_t n : cuts) {
        INFO("file cut to " << n << " of " << good.size() << " bytes");
        CHECK(load_code(std::vector<uint8_t>(good.begin(), good.begin() + long(n))) == kaa::ErrorCode::invalid_state);
    }
    // Bits flipped on disk, also in the header's version and size fields and the checksum.
    for (size_t at : {size_t(0), size_t(8), size_t(12), size_t(20), size_t(60), good.size() - 1}) {
        auto b = good;
        b[at] ^= 0x10;
        INFO("bit flipped at byte " << at);
        CHECK(load_code(b) == kaa::ErrorCode::invalid_state);
    }
    // Trailing garbage (a longer old file under a shorter new one, without truncation).
    auto longer = good;
    longer.insert(longer.end(), {1, 2, 3});
    CHECK(load_code(longer) == kaa::ErrorCode::invalid_state);

    // Another format version, older (0) or newer, with a correct checksum so that only the
    // version can be the reason: refused, the message naming both versions.
    for (uint32_t version : {0u, kaa::State::kFormatVersion + 1, 0xffffffffu}) {
        auto b = good;
        std::memcpy(b.data() + 8, &version, 4);  // after the 8-byte magic
        const uint64_t sum = kaa::runtime::hash64(b.data(), b.size() - 8, 0x6b61612d73746174ull);
        std::memcpy(b.data() + b.size() - 8, &sum, 8);
        INFO("version " << version);
        try {
            kaa::State::deserialize(b);
            FAIL("version " << version << " was accepted");
        } catch (const kaa::Error& e) {
            CHECK(e.code() == kaa::ErrorCode::invalid_state);
            CHECK_THAT(e.what(), Catch::Contains("state format version " + std::to_string(version) +
                                                 " is not supported") &&
                                     Catch::Contains("reads version " + std::to_string(kaa::State::kFormatVersion)));
        }
        CHECK(load_code(b) == kaa::ErrorCode::invalid_state);
    }
    // After all that, saving over the damaged file replaces it whole.
    st.save(path);
    const kaa::State back = kaa::State::load(path);
    CHECK(back.data() == st.data());
    CHECK(back.user_data() == "history");
}

TEST_CASE("session limits: oversized calls are refused by name before anything is evaluated", "[engine][limits]") {
    kaa::test::TempDir dir;
    SynthSpec spec = odd_spec(TensorType::f32);
    spec.byte_vocab = true;  // a tokenizer, for generate
    const kaa::Model model = synth_model(dir, spec);
    const kaa::SessionParams defaults;
    CHECK(defaults.max_tokens_per_call == int64_t(1) << 20);
    CHECK(defaults.max_generation_tokens == int32_t(1) << 24);

    kaa::SessionParams p;
    p.max_tokens_per_call = 6;
    p.max_generation_tokens = 5;
    p.n_batch = 4;
    kaa::Session s(model, p);
    CHECK(s.params().max_tokens_per_call == 6);
    auto error_of = [](const std::function<void()>& f) -> std::pair<kaa::ErrorCode, std::string> {
        try {
            f();
        } catch (const kaa::Error& e) {
            return {e.code(), e.what()};
        }
        return {kaa::ErrorCode::ok, ""};
    };
    const std::vector<kaa::Token> seven = random_tokens(7, model.n_vocab(), 13), six(seven.begin(), seven.end() - 1);
    s.eval(six);  // exactly the limit
    const kaa::State before = s.state();
    const std::vector<float> logits_before = s.logits();

    std::vector<std::pair<kaa::ErrorCode, std::string>> refused;
    refused.push_back(error_of([&] { s.eval(seven); }));
    kaa::Session other(model);  // default limits: its share is fine, s's is not
    refused.push_back(error_of([&] { kaa::eval_batch({{&other, six.data(), 6}, {&s, seven.data(), 7}}); }));
    kaa::GenerationOptions g;
    g.max_tokens = 3;
    refused.push_back(error_of([&] { s.generate(seven, g); }));
    refused.push_back(error_of([&] { s.generate(std::string_view("a text of many tokens"), g); }));
    for (size_t i = 0; i < refused.size(); ++i) {
        INFO("call " << i << ": " << refused[i].second);
        CHECK(refused[i].first == kaa::ErrorCode::invalid_argument);
        CHECK_THAT(refused[i].second, Catch::Contains("max_tokens_per_call (6)"));
    }
    g.max_tokens = 6;
    const auto [code, msg] = error_of([&] { s.generate(six, g); });
    CHECK(code == kaa::ErrorCode::invalid_argument);
    CHECK_THAT(msg, Catch::Contains("max_tokens 6") && Catch::Contains("max_generation_tokens (5)"));
    // Nothing was evaluated by any refused call, in s or in the batch partner.
    CHECK(s.position() == 6);
    CHECK(s.state().data() == before.data());
    CHECK(bitwise_equal(s.logits(), logits_before));
    CHECK(other.position() == 0);

    // Within the limits everything works, and the ceiling is reachable exactly.
    g.max_tokens = 5;
    g.ignore_eos = true;
    CHECK(s.generate(std::vector<kaa::Token>{}, g).tokens.size() == 5);
    kaa::eval_batch({{&other, seven.data(), 7}, {&s, six.data(), 6}});
    CHECK(s.position() == 6 + 5 + 6);
    // fork keeps the limits
    kaa::Session f = s.fork();
    CHECK(error_of([&] { f.eval(seven); }).first == kaa::ErrorCode::invalid_argument);

    // Bad limits are refused at construction.
    p.max_tokens_per_call = 0;
    CHECK(error_of([&] { kaa::Session bad(model, p); }).first == kaa::ErrorCode::invalid_argument);
    p.max_tokens_per_call = 1;
    p.max_generation_tokens = -1;
    CHECK(error_of([&] { kaa::Session bad(model, p); }).first == kaa::ErrorCode::invalid_argument);
    p.max_generation_tokens = 0;  // a Session that may evaluate but never generate
    kaa::Session no_gen(model, p);
    g.max_tokens = 1;
    CHECK(error_of([&] { no_gen.generate(std::vector<kaa::Token>{1}, g); }).first == kaa::ErrorCode::invalid_argument);
    g.max_tokens = 0;
    CHECK(no_gen.generate(std::vector<kaa::Token>{1}, g).tokens.empty());
}

TEST_CASE("engine: a batch of Sessions gives each exactly its own logits", "[engine][batch]") {
    kaa::test::TempDir dir;
    const kaa::Model model = synth_model(dir, odd_spec(TensorType::q8_0));
    const size_t V = size_t(model.n_vocab());
    // five sessions at different positions, bringing different numbers of tokens
    std::vector<kaa::Session> batched, alone;
    std::vector<std::vector<kaa::Token>> prompts;
    for (int i = 0; i < 5; ++i) {
        batched.emplace_back(model);
        alone.emplace_back(model);
        const auto history = random_tokens(size_t(3 * i), model.n_vocab(), 100 + uint32_t(i));
        if (!history.empty()) {
            batched.back().eval(history);
            alone.back().eval(history);
        }
        prompts.push_back(random_tokens(size_t(1 + 7 * i), model.n_vocab(), 200 + uint32_t(i)));
    }
    kaa::SessionParams small;
    small.n_batch = 4;  // forces the batch to be split into rounds
    batched.emplace_back(model, small);
    alone.emplace_back(model);
    prompts.push_back(random_tokens(9, model.n_vocab(), 300));

    std::vector<kaa::BatchItem> items;
    for (size_t i = 0; i < batched.size(); ++i) items.push_back({&batched[i], prompts[i].data(), prompts[i].size()});
    // the first Session's scratch bounds each round; make the small one lead once too
    kaa::eval_batch(items);
    for (size_t i = 0; i < batched.size(); ++i) {
        alone[i].eval(prompts[i]);
        INFO("session " << i);
        REQUIRE(batched[i].logits().size() == V);
        CHECK(bitwise_equal(batched[i].logits(), alone[i].logits()));
        CHECK(batched[i].position() == alone[i].position());
    }
    // then a few decode steps of all of them together, led by the small-batch Session
    std::rotate(items.begin(), items.end() - 1, items.end());
    for (int step = 0; step < 3; ++step) {
        std::vector<kaa::Token> next(batched.size());
        for (size_t i = 0; i < batched.size(); ++i) next[i] = kaa::Token((step * 31 + int(i) * 7) % model.n_vocab());
        for (auto& it : items) {
            const size_t i = size_t(it.session - batched.data());
            it.tokens = &next[i];
            it.n_tokens = 1;
        }
        kaa::eval_batch(items);
        for (size_t i = 0; i < batched.size(); ++i) {
            alone[i].eval(&next[i], 1);
            INFO("step " << step << " session " << i);
            CHECK(bitwise_equal(batched[i].logits(), alone[i].logits()));
        }
    }
}

// More sessions than one token block of the batch kernels (AVX-512: 8; AVX2: 3, and
// past 2 blocks the per-call packs): 12 sessions decoding together, in both precisions
// (fast: int8 activations on the load-time Q8_0x16 layout where the CPU has VNNI).
TEST_CASE("engine: twelve Sessions decoding together match each alone", "[engine][batch]") {
    kaa::test::TempDir dir;
    const kaa::Precision precision = GENERATE(kaa::Precision::exact, kaa::Precision::fast);
    const kaa::Model model = synth_model(dir, odd_spec(TensorType::q8_0), "m.gguf", precision);
    std::vector<kaa::Session> batched, alone;
    for (int i = 0; i < 12; ++i) {
        batched.emplace_back(model);
        alone.emplace_back(model);
        const auto history = random_tokens(size_t(1 + i % 4), model.n_vocab(), 400 + uint32_t(i));
        batched.back().eval(history);
        alone.back().eval(history);
    }
    for (int step = 0; step < 2; ++step) {
        std::vector<kaa::Token> next(batched.size());
        std::vector<kaa::BatchItem> items;
        for (size_t i = 0; i < batched.size(); ++i) {
            next[i] = kaa::Token((step * 17 + int(i) * 11) % model.n_vocab());
            items.push_back({&batched[i], &next[i], 1});
        }
        kaa::eval_batch(items);
        for (size_t i = 0; i < batched.size(); ++i) {
            alone[i].eval(&next[i], 1);
            INFO("step " << step << " session " << i);
            CHECK(bitwise_equal(batched[i].logits(), alone[i].logits()));
        }
    }
}

TEST_CASE("engine: eval_batch refuses bad batches before touching any state", "[engine][batch]") {
    kaa::test::TempDir dir;
    const kaa::Model model = synth_model(dir, odd_spec(TensorType::f32));
    const kaa::Model other = synth_model(dir, odd_spec(TensorType::f32), "other.gguf");
    kaa::Session a(model), b(model), c(other);
    const std::vector<kaa::Token> t = {1, 2}, bad = {1, model.n_vocab()};
    auto code = [](const std::vector<kaa::BatchItem>& items) {
        try {
            kaa::eval_batch(items);
        } catch (const kaa::Error& e) {
            return e.code();
        }
        return kaa::ErrorCode::ok;
    };
    CHECK(code({{&a, t.data(), 2}, {&a, t.data(), 2}}) == kaa::ErrorCode::invalid_argument);
    CHECK(code({{&a, t.data(), 2}, {&c, t.data(), 2}}) == kaa::ErrorCode::invalid_argument);
    CHECK(code({{&a, t.data(), 2}, {&b, t.data(), 0}}) == kaa::ErrorCode::invalid_argument);
    CHECK(code({{&a, t.data(), 2}, {nullptr, t.data(), 2}}) == kaa::ErrorCode::invalid_argument);
    CHECK(code({{&a, t.data(), 2}, {&b, bad.data(), 2}}) == kaa::ErrorCode::invalid_token);
    CHECK(a.position() == 0);
    CHECK(b.position() == 0);
    CHECK(code({}) == kaa::ErrorCode::ok);
}

// The AMX prefill kernel end to end (model load, re-layout, thread splits, chunks), on
// emulated tiles: the same logits as the VNNI kernels.
TEST_CASE("engine: AMX prefill (emulated tiles) gives the bits of the VNNI kernels", "[engine]") {
    kaa::test::TempDir dir;
    SynthSpec spec = odd_spec(TensorType::q8_0, 9);
    spec.d_inner = 224;
    const std::string path = dir.file("m.gguf");
    kaa::gguf::write_synth_model(spec, path);
    kaa::ModelParams mp;
    mp.precision = kaa::Precision::fast;
    mp.n_threads = 2;
    setenv("KAA_AMX", "0", 1);
    const kaa::Model vnni = kaa::Model::load(path, mp);
    setenv("KAA_AMX", "emulate", 1);
    const kaa::Model amx = kaa::Model::load(path, mp);
    unsetenv("KAA_AMX");
    const std::string detail = amx.impl()->kernels->detail;
    if (detail.find("emulated amx") == std::string::npos)
        KAA_SKIP("the AMX emulation runs in the avx512 VNNI backend; this run uses " + detail);
    CHECK(std::string(vnni.impl()->kernels->detail).find("amx") == std::string::npos);
    const auto toks = random_tokens(40, vnni.n_vocab(), 5);
    for (int32_t n_batch : {13, 16, 40}) {  // prefill chunks: partial and whole 16-token tiles
        kaa::SessionParams sp;
        sp.n_batch = n_batch;
        kaa::Session a(vnni, sp), b(amx, sp);
        INFO("n_batch " << n_batch);
        CHECK(bitwise_equal(prefill_all(a, toks), prefill_all(b, toks)));
    }
}

// KAA_VNNI=0 picks the plain int8 kernels (the path of CPUs without VNNI: vpmaddubsw
// GEMV, on AVX2 the int16 GEMM): the same logits, prefill, decode and batches.
TEST_CASE("engine: KAA_VNNI=0 gives the bits of the VNNI kernels", "[engine]") {
    kaa::test::TempDir dir;
    const std::string path = dir.file("m.gguf");
    kaa::gguf::write_synth_model(odd_spec(TensorType::q8_0, 4), path);
    kaa::ModelParams mp;
    mp.precision = kaa::Precision::fast;
    mp.n_threads = 2;
    const kaa::Model vnni = kaa::Model::load(path, mp);
    setenv("KAA_VNNI", "0", 1);
    const kaa::Model plain = kaa::Model::load(path, mp);
    unsetenv("KAA_VNNI");
    const std::string detail = vnni.impl()->kernels->detail;
    if (detail.find("vnni") == std::string::npos) KAA_SKIP("no VNNI kernels on this CPU/ISA: " + detail);
    INFO("kernels " << detail << " / " << plain.impl()->kernels->detail);
    CHECK(std::string(plain.impl()->kernels->detail).find("vnni") == std::string::npos);
    const auto toks = random_tokens(23, vnni.n_vocab(), 8);
    kaa::Session a(vnni), b(plain);
    CHECK(bitwise_equal(prefill_all(a, toks), prefill_all(b, toks)));
    CHECK(bitwise_equal(decode_all(a, toks), decode_all(b, toks)));
    std::vector<kaa::Session> sa, sb;
    for (int i = 0; i < 5; ++i) {
        sa.emplace_back(vnni);
        sb.emplace_back(plain);
    }
    std::vector<kaa::BatchItem> ia, ib;
    for (int i = 0; i < 5; ++i) {
        ia.push_back({&sa[size_t(i)], &toks[size_t(i)], 1});
        ib.push_back({&sb[size_t(i)], &toks[size_t(i)], 1});
    }
    kaa::eval_batch(ia);
    kaa::eval_batch(ib);
    for (int i = 0; i < 5; ++i) CHECK(bitwise_equal(sa[size_t(i)].logits(), sb[size_t(i)].logits()));
}

// CPU models from a mapped file copy their matrices into huge pages at load, re-laying
// fast-precision Q8_0 for kernels that take Q8_0x16 (lib/model/relayout.cpp);
// KAA_RELAYOUT=0 keeps the file's pages. The two must agree bit for bit: prefill, decode
// and batched decode.
TEST_CASE("engine: weights copied or re-laid at load give the bits of the file's", "[engine]") {
    struct Case {
        TensorType type;
        kaa::Precision precision;
    };
    for (const Case c : {Case{TensorType::q8_0, kaa::Precision::fast}, Case{TensorType::q8_0, kaa::Precision::exact},
                         Case{TensorType::f16, kaa::Precision::fast}, Case{TensorType::bf16, kaa::Precision::fast},
                         Case{TensorType::f32, kaa::Precision::exact}}) {
        INFO("type " << int(c.type) << ", precision " << int(c.precision));
        kaa::test::TempDir dir;
        SynthSpec spec = odd_spec(c.type, 9);
        if (c.type == TensorType::q8_0)
            spec.d_inner = 224;  // ssm_in: 448 rows, ssm_x: 37 rows (a padded group), 7 blocks a row (odd)
        const std::string path = dir.file("m.gguf");
        kaa::gguf::write_synth_model(spec, path);
        kaa::ModelParams mp;
        mp.precision = c.precision;
        setenv("KAA_RELAYOUT", "0", 1);
        const kaa::Model plain = kaa::Model::load(path, mp);
        unsetenv("KAA_RELAYOUT");
        const kaa::Model relaid = kaa::Model::load(path, mp);
        using kaa::kernels::WeightLayout;
        const auto& pw = plain.impl()->layers[0].ssm_in;
        const auto& rw = relaid.impl()->layers[0].ssm_in;
        CHECK(pw.layout == WeightLayout::rows);
        CHECK(pw.stored == nullptr);
        const bool x16 = c.type == TensorType::q8_0 && c.precision == kaa::Precision::fast &&
                         relaid.impl()->kernels->q8_0_x16;
        INFO("backend " << relaid.impl()->kernels->detail);
        CHECK(rw.layout == (x16 ? WeightLayout::q8_0_x16 : WeightLayout::rows));
        const size_t bytes = size_t(pw.rows) * pw.row_bytes;
        const bool copied = x16 || kaa::detail::huge_pages_available();
        INFO("copied " << copied);
        if (!copied) {  // no huge pages to gain: the file's pages serve
            CHECK(rw.stored == nullptr);
            continue;
        }
        REQUIRE(rw.stored != nullptr);
        CHECK(std::memcmp(rw.stored, pw.data, bytes) == 0);  // the file's bytes (re-read if touched)
        CHECK(rw.data != rw.stored);                         // the model's copy
        if (!x16) CHECK(std::memcmp(rw.data, pw.data, bytes) == 0);
        CHECK(relaid.impl()->output.layout == rw.layout);
        CHECK(relaid.impl()->tok_embd.layout == WeightLayout::rows);  // read by row
        CHECK(relaid.impl()->tok_embd.stored == nullptr);

        // Progress runs on through the copy, and a cancel there is a clean error.
        std::vector<float> seen;
        mp.progress = [&](float f) {
            seen.push_back(f);
            return true;
        };
        kaa::Model::load(path, mp);
        CHECK(std::is_sorted(seen.begin(), seen.end()));
        CHECK(std::any_of(seen.begin(), seen.end(), [](float f) { return f > 0.9f && f < 1.0f; }));
        mp.progress = [](float f) { return !(f > 0.9f && f < 1.0f); };
        try {
            kaa::Model::load(path, mp);
            FAIL("a load cancelled during the copy returned a model");
        } catch (const kaa::Error& e) {
            CHECK(e.code() == kaa::ErrorCode::cancelled);
        }
        mp.progress = nullptr;

        const auto toks = random_tokens(19, plain.n_vocab(), 4);
        kaa::Session a(plain), b(relaid);
        CHECK(bitwise_equal(prefill_all(a, toks), prefill_all(b, toks)));
        CHECK(bitwise_equal(decode_all(a, toks), decode_all(b, toks)));
        // 9 sessions decoding together: token blocks of the GEMM's small-batch path
        std::vector<kaa::Session> sa, sb;
        for (int i = 0; i < 9; ++i) {
            sa.emplace_back(plain);
            sb.emplace_back(relaid);
        }
        for (int step = 0; step < 3; ++step) {
            std::vector<kaa::BatchItem> ia, ib;
            for (int i = 0; i < 9; ++i) {
                ia.push_back({&sa[size_t(i)], &toks[size_t(i + step)], 1});
                ib.push_back({&sb[size_t(i)], &toks[size_t(i + step)], 1});
            }
            kaa::eval_batch(ia);
            kaa::eval_batch(ib);
            for (int i = 0; i < 9; ++i) CHECK(bitwise_equal(sa[size_t(i)].logits(), sb[size_t(i)].logits()));
        }
    }
}
