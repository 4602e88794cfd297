// GGUF reader against malformed files: a corpus derived from one valid writer image by
// patching fields, truncating, and random byte mutations. Every bad file must be refused
// with a kaa::Error of the right code whose message says what and where, quickly and
// without allocating memory sized by a forged count. Then model files the reader accepts
// but the loader must refuse (NaN/inf in norms and other small tensors), and the metadata
// limit as users set it (ModelParams::max_metadata_bytes).
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <sys/resource.h>

#include "gguf/gguf.hpp"
#include "gguf/synth.hpp"
#include "gguf/writer.hpp"
#include "kaa/error.hpp"
#include "kaa/kaa.hpp"
#include "support/temp.hpp"

using namespace kaa::gguf;
using kaa::ErrorCode;

namespace {

using Bytes = std::vector<uint8_t>;

// The valid file every case starts from. Keys and tensor names are unique byte strings so
// a field can be found by searching for its length-prefixed name.
Writer base_writer() {
    Writer w;
    w.set_string("general.architecture", "mamba");
    w.set_u32("test.count", 7);
    w.set_f32("test.eps", 1e-5f);
    w.set_bool("test.flag", true);
    w.set_string("test.text", "hello");
    w.set_array("test.ints", std::vector<int32_t>{1, 2, 3});
    w.set_string_array("test.words", {"ab", "cd", "ef"});
    w.set_u32("test.dup1", 1);
    w.set_u32("test.dup2", 2);
    w.add_tensor("tensor.alpha", TensorType::f32, {32, 2}, Bytes(256, 0));   // offset 0
    w.add_tensor("tensor.beta", TensorType::q8_0, {64, 2}, Bytes(136, 0));   // offset 256
    w.add_tensor("tensor.gamma", TensorType::f16, {3}, Bytes(6, 0));         // offset 416
    return w;
}

// Index just after the length-prefixed string s (where the next field starts).
size_t after(const Bytes& img, const std::string& s) {
    Bytes pat(8);
    const uint64_t n = s.size();
    std::memcpy(pat.data(), &n, 8);
    pat.insert(pat.end(), s.begin(), s.end());
    auto it = std::search(img.begin(), img.end(), pat.begin(), pat.end());
    REQUIRE(it != img.end());
    return size_t(it - img.begin()) + pat.size();
}

Bytes with32(Bytes img, size_t pos, uint32_t v) {
    std::memcpy(img.data() + pos, &v, 4);
    return img;
}

Bytes with64(Bytes img, size_t pos, uint64_t v) {
    std::memcpy(img.data() + pos, &v, 8);
    return img;
}

// Field positions inside a tensor info.
size_t ndims_of(const Bytes& img, const std::string& t) { return after(img, t); }
size_t ne_of(const Bytes& img, const std::string& t, int d) { return after(img, t) + 4 + 8 * d; }
size_t type_of(const Bytes& img, const std::string& t) {
    uint32_t nd;
    std::memcpy(&nd, img.data() + after(img, t), 4);
    return after(img, t) + 4 + 8 * nd;
}
size_t offset_of(const Bytes& img, const std::string& t) { return type_of(img, t) + 4; }

// `levels` arrays nested in each other around one i32, encoded after the type tag.
Bytes nested_arrays(int levels) {
    Bytes e;
    auto put32 = [&](uint32_t v) { for (int i = 0; i < 4; ++i) e.push_back(uint8_t(v >> (8 * i))); };
    auto put64 = [&](uint64_t v) { for (int i = 0; i < 8; ++i) e.push_back(uint8_t(v >> (8 * i))); };
    for (int l = levels; l > 1; --l) {
        put32(uint32_t(ValueType::array));
        put64(1);
    }
    put32(uint32_t(ValueType::i32));
    put64(1);
    put32(42);
    return e;
}

struct Case {
    std::string what;
    Bytes bytes;
    ErrorCode code;
    std::vector<std::string> needles;  // all must appear in the message
    uint64_t max_metadata_bytes = 256ull << 20;
};

long peak_rss_kib() {
    struct rusage ru {};
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

// Parses c.bytes and checks the error; returns the seconds it took.
double expect_error(const Case& c) {
    INFO("case: " << c.what);
    OpenOptions o;
    o.max_metadata_bytes = c.max_metadata_bytes;
    const auto t0 = std::chrono::steady_clock::now();
    bool threw = false;
    try {
        File::from_bytes(c.bytes, o);
    } catch (const kaa::Error& e) {
        threw = true;
        INFO("message: " << e.what());
        CHECK(kaa::error_code_name(e.code()) == std::string(kaa::error_code_name(c.code)));
        for (const std::string& n : c.needles) CHECK_THAT(e.what(), Catch::Contains(n));
    }
    CHECK(threw);
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

TEST_CASE("gguf malformed: the base image and its valid variants parse", "[gguf]") {
    const Writer w = base_writer();
    const Bytes img = w.to_bytes();
    const File f = File::from_bytes(img);
    CHECK(f.tensors().size() == 3);
    CHECK(f.find_tensor("tensor.gamma")->offset == 416);
    CHECK(f.size() == f.data_offset() + 416 + 6);

    CHECK(File::from_bytes(with32(img, 4, 2)).version() == 2);  // v2 has the same layout
    Writer a = base_writer();
    a.set_alignment(64);
    const File fa = File::from_bytes(a.to_bytes());
    CHECK(fa.alignment() == 64);
    CHECK(fa.find_tensor("tensor.beta")->offset == 256);
    CHECK(fa.find_tensor("tensor.gamma")->offset == 448);
    Writer n = base_writer();
    n.set_encoded("test.nested", ValueType::array, nested_arrays(8));
    CHECK(File::from_bytes(n.to_bytes()).find("test.nested")->elem_type == ValueType::array);
    // Exactly enough metadata budget is enough.
    OpenOptions tight;
    tight.max_metadata_bytes = w.header_size();
    CHECK(File::from_bytes(img, tight).tensors().size() == 3);
}

TEST_CASE("gguf malformed: corpus of broken files is refused with precise errors", "[gguf]") {
    const Writer w = base_writer();
    const Bytes img = w.to_bytes();
    const uint64_t header_end = w.header_size();
    const std::string A = "tensor.alpha", B = "tensor.beta", G = "tensor.gamma";
    const ErrorCode bad = ErrorCode::invalid_file, unsup = ErrorCode::unsupported;
    const uint64_t huge = 1ull << 62;

    std::vector<Case> cases;
    auto add = [&](std::string what, Bytes b, ErrorCode code, std::vector<std::string> needles) {
        cases.push_back(Case{std::move(what), std::move(b), code, std::move(needles)});
    };
    auto variant = [&](const std::function<void(Writer&)>& edit) {
        Writer v = base_writer();
        edit(v);
        return v.to_bytes();
    };

    // --- header ---
    add("empty file", {}, bad, {"truncated", "magic"});
    add("bad magic", [&] { Bytes b = img; b[3] = 'X'; return b; }(), bad, {"magic", "47 47 55 58"});
    add("text file", Bytes{'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd'}, bad, {"not a GGUF file"});
    add("magic only", Bytes(img.begin(), img.begin() + 4), bad, {"truncated", "version"});
    add("no counts", Bytes(img.begin(), img.begin() + 12), bad, {"truncated", "tensor count"});
    add("version 0", with32(img, 4, 0), bad, {"version 0"});
    add("version 1", with32(img, 4, 1), unsup, {"version 1"});
    add("version 99", with32(img, 4, 99), unsup, {"version 99"});
    add("big-endian version 3", with32(img, 4, 0x03000000u), unsup, {"big-endian"});
    add("big-endian version 2", with32(img, 4, 0x02000000u), unsup, {"big-endian"});
    add("n_kv 2^63", with64(img, 16, 1ull << 63), bad, {"metadata count 9223372036854775808"});
    add("n_kv max", with64(img, 16, ~0ull), bad, {"metadata count"});
    add("n_kv a million", with64(img, 16, 1000000), bad, {"metadata count 1000000"});
    add("n_tensors 2^60", with64(img, 8, 1ull << 60), bad, {"tensor count"});
    add("n_tensors max", with64(img, 8, ~0ull), bad, {"tensor count"});
    add("counts fit alone, not together", with64(with64(img, 8, img.size() / 66), 16, img.size() / 28), bad,
        {"metadata entries and"});
    // --- metadata ---
    add("key length 2^62", with64(img, 24, huge), bad, {"key of metadata entry 0", "offset 24"});
    add("key length one past the end", with64(img, 24, img.size() - 32 + 1), bad, {"truncated"});
    add("value type 99", with32(img, after(img, "test.count"), 99), bad, {"value type 99", "test.count"});
    add("bool 2", [&] { Bytes b = img; b[after(img, "test.flag") + 4] = 2; return b; }(), bad,
        {"boolean", "test.flag"});
    add("string value length 2^63", with64(img, after(img, "test.text") + 4, 1ull << 63), bad,
        {"test.text", "truncated"});
    add("array element type 13", with32(img, after(img, "test.ints") + 4, 13), bad,
        {"element type 13", "test.ints"});
    add("array count 2^61", with64(img, after(img, "test.ints") + 8, 1ull << 61), bad,
        {"test.ints", "2305843009213693952"});
    add("string array count 2^60", with64(img, after(img, "test.words") + 8, 1ull << 60), bad,
        {"test.words", "array of"});
    add("string element length 2^40", with64(img, after(img, "test.words") + 16, 1ull << 40), bad,
        {"element 0 of key 'test.words'"});
    add("arrays nested 9 deep",
        variant([](Writer& v) { v.set_encoded("test.nested", ValueType::array, nested_arrays(9)); }),
        bad, {"nested deeper", "test.nested"});
    add("nested array count absurd",
        variant([](Writer& v) {
            Bytes e = nested_arrays(3);
            const uint64_t n = 1ull << 58;
            std::memcpy(e.data() + 16, &n, 8);  // count of the second level
            v.set_encoded("test.nested", ValueType::array, e);
        }),
        bad, {"test.nested"});
    add("duplicate key",
        [&] { Bytes b = img; b[after(img, "test.dup2") - 1] = '1'; return b; }(), bad,
        {"duplicate metadata key 'test.dup1'"});
    add("alignment 0", variant([](Writer& v) { v.set_u32("general.alignment", 0); }), bad,
        {"general.alignment = 0"});
    add("alignment 3", variant([](Writer& v) { v.set_u32("general.alignment", 3); }), bad,
        {"general.alignment = 3", "power of two"});
    add("alignment 48", variant([](Writer& v) { v.set_u32("general.alignment", 48); }), bad,
        {"power of two"});
    add("alignment as u64", variant([](Writer& v) { v.set_u64("general.alignment", 32); }), bad,
        {"general.alignment has type u64"});
    add("alignment as string", variant([](Writer& v) { v.set_string("general.alignment", "32"); }),
        bad, {"general.alignment has type string"});
    // --- tensor infos ---
    add("tensor name length 2^62", with64(img, after(img, A) - A.size() - 8, huge), bad,
        {"name of tensor 0"});
    add("n_dims 0", with32(img, ndims_of(img, A), 0), bad, {"tensor.alpha", "n_dims = 0"});
    add("n_dims 5", with32(img, ndims_of(img, A), 5), bad, {"tensor.alpha", "n_dims = 5"});
    add("n_dims 2^31", with32(img, ndims_of(img, B), 1u << 31), bad, {"tensor.beta", "n_dims"});
    add("dimension 0", with64(img, ne_of(img, A, 1), 0), bad, {"tensor.alpha", "dimension 1 = 0"});
    add("dims overflow uint64", with64(with64(img, ne_of(img, A, 0), 1ull << 33), ne_of(img, A, 1), 1ull << 33),
        bad, {"tensor.alpha", "overflows 64 bits"});
    add("element count above int64", with64(with64(img, ne_of(img, A, 0), 1ull << 32), ne_of(img, A, 1), (1ull << 31) + 1),
        bad, {"tensor.alpha", "too large"});
    add("byte size overflows", with64(with64(img, ne_of(img, A, 0), 1ull << 31), ne_of(img, A, 1), 1ull << 31),
        bad, {"tensor.alpha", "byte size overflows"});
    add("4 TiB tensor", with64(with64(img, ne_of(img, A, 0), 1ull << 20), ne_of(img, A, 1), 1ull << 20),
        bad, {"tensor.alpha", "outside the file"});
    add("type id 99", with32(img, type_of(img, A), 99), bad, {"tensor.alpha", "type id 99"});
    add("type id 43", with32(img, type_of(img, G), 43), bad, {"tensor.gamma", "type id 43"});
    add("type Q4_K", with32(img, type_of(img, A), 12), unsup, {"tensor.alpha", "Q4_K"});
    add("type IQ2_XXS", with32(img, type_of(img, B), 16), unsup, {"tensor.beta", "IQ2_XXS"});
    add("type F64", with32(img, type_of(img, G), 28), unsup, {"tensor.gamma", "F64"});
    add("type Q4_0_4_4 (retired)", with32(img, type_of(img, G), 31), unsup, {"Q4_0_4_4"});
    add("Q8_0 row of 48", with64(img, ne_of(img, B, 0), 48), bad, {"tensor.beta", "ne[0] = 48", "block size 32"});
    add("Q8_0 row of 1", with32(with64(img, ne_of(img, G, 0), 1), type_of(img, G), 8), bad,
        {"tensor.gamma", "ne[0] = 1"});
    add("duplicate tensor name", [&] { Bytes b = img; std::memcpy(b.data() + after(img, G) - 5, "alpha", 5); return b; }(),
        bad, {"duplicate tensor name 'tensor.alpha'"});
    add("misaligned offset", with64(img, offset_of(img, B), 256 + 4), bad,
        {"tensor.beta", "260", "alignment 32"});
    add("offset outside the file", with64(img, offset_of(img, G), 1ull << 40), bad,
        {"tensor.gamma", "outside the file"});
    add("offset wraps around", with64(img, offset_of(img, G), ~0ull - 31), bad,
        {"tensor.gamma", "outside the file"});
    add("tensors overlap exactly", with64(img, offset_of(img, B), 0), bad, {"overlaps"});
    add("tensors overlap partly", with64(img, offset_of(img, B), 224), bad,
        {"tensor.alpha", "overlaps tensor 'tensor.beta'"});
    add("last tensor one byte short", Bytes(img.begin(), img.end() - 1), bad,
        {"tensor.gamma", "outside the file"});
    // --- limits ---
    Case limit{"header over max_metadata_bytes", img, unsup, {"max_metadata_bytes"}};
    limit.max_metadata_bytes = 64;
    cases.push_back(limit);
    limit.what = "header one byte over max_metadata_bytes";
    limit.max_metadata_bytes = header_end - 1;
    cases.push_back(limit);

    REQUIRE(cases.size() >= 40);
    const long rss0 = peak_rss_kib();
    double worst = 0;
    for (const Case& c : cases) worst = std::max(worst, expect_error(c));

    // Truncation at every byte: inside the header the reader reports what it was reading;
    // past it, the first tensor that no longer fits.
    for (size_t len = 0; len < img.size(); ++len) {
        Case c{"truncated to " + std::to_string(len), Bytes(img.begin(), img.begin() + len), bad,
               {len < header_end ? "truncated" : "outside the file"}};
        worst = std::max(worst, expect_error(c));
    }
    // And at random points of a larger image (a synthetic model with a 256-token vocab).
    const Bytes model = synth_model_bytes(SynthSpec{});
    std::mt19937 rng(5);
    for (int i = 0; i < 200; ++i) {
        const size_t len = std::uniform_int_distribution<size_t>(0, model.size() - 1)(rng);
        Case c{"model truncated to " + std::to_string(len), Bytes(model.begin(), model.begin() + len),
               bad, {}};
        worst = std::max(worst, expect_error(c));
    }
    CHECK(worst < 1.0);  // microseconds in practice: nothing sized by a forged count
    CHECK(peak_rss_kib() - rss0 < 128 * 1024);
}

TEST_CASE("gguf malformed: random header mutations never crash", "[gguf]") {
    const Writer w = base_writer();
    const Bytes img = w.to_bytes();
    std::mt19937 rng(1234);
    std::uniform_int_distribution<size_t> pos(0, size_t(w.header_size()) - 1);
    size_t refused = 0, accepted = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 4000; ++i) {
        Bytes b = img;
        const int flips = 1 + int(rng() % 4);
        for (int k = 0; k < flips; ++k) {
            const size_t p = pos(rng);
            // Mostly extreme bytes: they make lengths and counts absurd.
            const uint32_t r = rng() % 4;
            b[p] = r == 0 ? 0xff : r == 1 ? 0x00 : r == 2 ? uint8_t(b[p] ^ (1u << (rng() % 8))) : uint8_t(rng());
        }
        try {
            const File f = File::from_bytes(b);
            ++accepted;
            for (const TensorInfo& t : f.tensors())  // an accepted file is self-consistent
                REQUIRE(f.data_offset() + t.offset + t.n_bytes <= f.size());
        } catch (const kaa::Error& e) {
            ++refused;
            const ErrorCode c = e.code();
            REQUIRE((c == ErrorCode::invalid_file || c == ErrorCode::unsupported));
            INFO(e.what());
            REQUIRE(std::string(e.what()).size() > 10);
        }
    }
    CHECK(refused > 2000);
    CHECK(accepted + refused == 4000);
    CHECK(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() < 30.0);
}

TEST_CASE("gguf malformed: files that cannot be opened are io errors", "[gguf]") {
    kaa::test::TempDir dir;
    try {
        File::open(dir.file("missing.gguf"));
        FAIL("no error");
    } catch (const kaa::Error& e) {
        CHECK(e.code() == ErrorCode::io);
        CHECK_THAT(e.what(), Catch::Contains("missing.gguf") && Catch::Contains("No such file"));
    }
    for (bool mmap : {true, false}) {
        OpenOptions o;
        o.use_mmap = mmap;
        try {
            File::open(dir.path(), o);  // a directory
            FAIL("no error");
        } catch (const kaa::Error& e) {
            CHECK(e.code() == ErrorCode::io);
        }
        // An empty file opens, then fails to parse, naming the path.
        kaa::test::write_bytes(dir.file("empty.gguf"), "", 0);
        try {
            File::open(dir.file("empty.gguf"), o);
            FAIL("no error");
        } catch (const kaa::Error& e) {
            CHECK(e.code() == ErrorCode::invalid_file);
            CHECK_THAT(e.what(), Catch::Contains("empty.gguf"));
        }
    }
}

// ---- model-level cases: files the reader accepts but the loader must refuse ----

namespace {

// The tensors the loader scans for NaN/inf (Builder::vec in lib/model/loader.cpp): every
// one enters each token's computation, so one bad value would poison every logit.
const char* const kScannedTensors[] = {
    "output_norm.weight",  "blk.0.attn_norm.weight", "blk.1.ssm_conv1d.weight", "blk.0.ssm_conv1d.bias",
    "blk.1.ssm_dt.bias",   "blk.0.ssm_a",            "blk.1.ssm_d",
};

// A small synthetic model (untied, byte-level tokenizer: generate works) as a GGUF image.
Bytes small_model_image() {
    SynthSpec s;
    s.d_model = 32;
    s.n_layer = 2;
    s.d_inner = 64;
    s.d_state = 8;
    s.dt_rank = 4;
    s.tied = false;
    s.byte_vocab = true;
    s.n_threads = 1;
    return synth_model_bytes(s);
}

// The image with element `index` of tensor `name` (an F32 tensor) replaced by v.
Bytes with_float(const Bytes& img, const std::string& name, uint64_t index, float v) {
    const File f = File::from_bytes(img);
    const TensorInfo* t = f.find_tensor(name);
    REQUIRE(t);
    REQUIRE(t->type == TensorType::f32);
    REQUIRE(index < t->n_elements);
    Bytes out = img;
    std::memcpy(out.data() + f.data_offset() + t->offset + 4 * index, &v, 4);
    return out;
}

// Loads an image through a file, as users do; returns the error (ok when it loads).
std::pair<ErrorCode, std::string> model_load_error(const kaa::test::TempDir& dir, const Bytes& img,
                                                   const kaa::ModelParams& mp = {}) {
    const std::string path = dir.file("m.gguf");
    kaa::test::write_bytes(path, img.data(), img.size());
    try {
        kaa::Model::load(path, mp);
    } catch (const kaa::Error& e) {
        return {e.code(), e.what()};
    }
    return {ErrorCode::ok, ""};
}

}  // namespace

TEST_CASE("model malformed: NaN or inf in norms, conv, dt bias, A or D is refused naming the tensor", "[gguf][model]") {
    kaa::test::TempDir dir;
    const Bytes img = small_model_image();
    REQUIRE(model_load_error(dir, img).first == ErrorCode::ok);
    int cases = 0;
    for (const char* name : kScannedTensors) {
        const File f = File::from_bytes(img);
        const uint64_t last = f.find_tensor(name)->n_elements - 1;
        const struct {
            float v;
            const char* shown;
            uint64_t at;
        } bad[] = {{NAN, "NaN", 0}, {INFINITY, "+inf", last}, {-INFINITY, "-inf", last / 2}};
        for (const auto& b : bad) {
            const auto [code, msg] = model_load_error(dir, with_float(img, name, b.at, b.v));
            INFO(name << " = " << b.shown << " at " << b.at << ": " << msg);
            CHECK(code == ErrorCode::invalid_model);
            CHECK_THAT(msg, Catch::Contains(std::string("'") + name + "'") && Catch::Contains(b.shown) &&
                                Catch::Contains("element " + std::to_string(b.at) + " of "));
            ++cases;
        }
    }
    // A norm stored as F16 (converted to f32 at load) is checked after conversion: F16
    // infinity and NaN stay non-finite.
    for (const uint16_t h : {uint16_t(0x7c00), uint16_t(0x7e00)}) {
        const File src = File::from_bytes(img);
        Writer w;
        for (const std::string& k : src.keys())
            if (k != "general.alignment") w.set_value(k, *src.find(k));
        for (const TensorInfo& t : src.tensors()) {
            const std::vector<uint64_t> ne(t.ne, t.ne + t.n_dims);
            if (t.name != "blk.1.attn_norm.weight") {
                w.add_tensor(t.name, t.type, ne, t.data, t.n_bytes);
                continue;
            }
            std::vector<uint16_t> half(t.n_elements, uint16_t(0x3c00));  // 1.0
            half[5] = h;
            w.add_tensor(t.name, TensorType::f16, ne, half.data(), half.size() * 2);
        }
        const auto [code, msg] = model_load_error(dir, w.to_bytes());
        INFO(msg);
        CHECK(code == ErrorCode::invalid_model);
        CHECK_THAT(msg, Catch::Contains("'blk.1.attn_norm.weight'") && Catch::Contains("element 5 of ") &&
                            Catch::Contains(h == 0x7c00 ? "+inf" : "NaN"));
        ++cases;
    }
    CHECK(cases == 23);
    // Large finite values are not the loader's business: they load.
    CHECK(model_load_error(dir, with_float(img, "blk.0.ssm_d", 3, 3e38f)).first == ErrorCode::ok);
}

TEST_CASE("model malformed: NaN in a weight matrix loads, and generate refuses its NaN logits", "[gguf][model]") {
    // The matrices are not scanned (that would read the whole model at load); a NaN there
    // makes the logits NaN, and the sampler says so instead of returning a token.
    kaa::test::TempDir dir;
    const std::string path = dir.file("nan.gguf");
    const Bytes img = with_float(small_model_image(), "output.weight", 0, NAN);
    kaa::test::write_bytes(path, img.data(), img.size());
    const kaa::Model model = kaa::Model::load(path);
    kaa::Session s(model);
    const kaa::Token t = 65;
    const std::vector<float>& logits = s.eval(&t, 1);
    CHECK(std::isnan(logits[0]));
    kaa::Session g(model);
    try {
        g.generate(std::string_view("Hello"));
        FAIL("no error");
    } catch (const kaa::Error& e) {
        CHECK(e.code() == ErrorCode::invalid_argument);
        CHECK_THAT(e.what(), Catch::Contains("NaN"));
    }
    g.reset();  // usable again (its state is zero, the model unchanged)
    CHECK(g.position() == 0);
}

TEST_CASE("model malformed: ModelParams::max_metadata_bytes bounds the header Model::load reads", "[gguf][model]") {
    kaa::test::TempDir dir;
    const Bytes img = small_model_image();
    const uint64_t header = File::from_bytes(img).data_offset();
    kaa::ModelParams mp;
    CHECK(mp.max_metadata_bytes == 256ull << 20);
    mp.max_metadata_bytes = header;  // the padded header: enough
    CHECK(model_load_error(dir, img, mp).first == ErrorCode::ok);
    mp.max_metadata_bytes = 1024;
    const auto [code, msg] = model_load_error(dir, img, mp);
    INFO(msg);
    CHECK(code == ErrorCode::unsupported);
    CHECK_THAT(msg, Catch::Contains("max_metadata_bytes (1024)") && Catch::Contains("m.gguf"));
    mp.max_metadata_bytes = 0;
    const auto [code0, msg0] = model_load_error(dir, img, mp);
    CHECK(code0 == ErrorCode::invalid_argument);
    CHECK_THAT(msg0, Catch::Contains("max_metadata_bytes"));
}
