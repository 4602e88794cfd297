// GGUF layer: reading the shared models, writer round trips, the row encoders (Q8_0, F16,
// BF16) and synthetic models. Malformed files are in test_gguf_malformed.cpp.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "gguf/gguf.hpp"
#include "gguf/quantize.hpp"
#include "gguf/synth.hpp"
#include "gguf/writer.hpp"
#include "kaa/error.hpp"
#include "kernels/cpu/numeric.hpp"
#include "support/shared.hpp"
#include "support/temp.hpp"

using namespace kaa::gguf;

namespace {

std::vector<uint8_t> read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

// Expected per-tensor type of the shared tiny models, as the reference converter lays
// them out: matrices in the file type, F32 for the rest, F16 where Q8_0 cannot hold a row.
TensorType expected_type(const std::string& name, uint64_t ne0, TensorType file_type) {
    SynthSpec s;
    s.type = file_type;
    return tensor_type_for(s, name, ne0);
}

// Naive Q8_0 block quantizer written straight from the format description, as the spec
// the optimized quantize_row_q8_0 must match bit for bit.
void reference_q8_0(const float* x, BlockQ8_0& out) {
    float amax = 0.0f;
    for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[i]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    out.d = kaa::kernels::f32_to_f16(d);
    for (int i = 0; i < 32; ++i) out.qs[i] = int8_t(std::round(x[i] * id));
}

}  // namespace

TEST_CASE("gguf: every shared model parses with the expected layout", "[gguf]") {
    KAA_REQUIRE_SHARED();
    struct Case {
        const char* file;
        size_t n_tensors;
        TensorType type;
        uint64_t d_model;
        bool tied;
    };
    const Case cases[] = {
        {"tiny-falcon-mamba-f32.gguf", 22, TensorType::f32, 64, true},
        {"tiny-falcon-mamba-f16.gguf", 23, TensorType::f16, 64, false},
        {"tiny-falcon-mamba-bf16.gguf", 23, TensorType::bf16, 64, false},
        {"tiny-falcon-mamba-q8_0.gguf", 23, TensorType::q8_0, 64, false},
        {"tiny-mamba-q8_0.gguf", 32, TensorType::q8_0, 96, true},
    };
    for (const Case& c : cases) {
        for (bool mmap : {true, false}) {
            INFO(c.file << " mmap=" << mmap);
            OpenOptions o;
            o.use_mmap = mmap;
            const File f = File::open(kaa::test::shared_path(std::string("models/") + c.file), o);
            CHECK(f.is_mmap() == mmap);
            CHECK(f.version() == 3);
            CHECK(f.alignment() == 32);
            CHECK(f.data_offset() % 32 == 0);
            CHECK(f.tensors().size() == c.n_tensors);
            CHECK(f.get_string("general.architecture") == std::string("mamba"));
            CHECK(f.get_uint("mamba.embedding_length") == c.d_model);
            CHECK(std::fabs(*f.get_float("mamba.attention.layer_norm_rms_epsilon") - 1e-5) < 1e-9);
            CHECK((f.find_tensor("output.weight") == nullptr) == c.tied);
            const Value* tokens = f.find("tokenizer.ggml.tokens");
            REQUIRE(tokens != nullptr);
            CHECK(tokens->elem_type == ValueType::string);
            CHECK(tokens->strings.size() == 65024);
            CHECK(tokens->strings[0] == ">>TITLE<<");
            const Value* types = f.find("tokenizer.ggml.token_type");
            REQUIRE(types != nullptr);
            CHECK(types->count == 65024);
            CHECK(types->int_at(0) == 3);
            uint64_t end = 0;
            for (const TensorInfo& t : f.tensors()) {
                INFO(t.name);
                CHECK(t.type == expected_type(t.name, t.ne[0], c.type));
                CHECK(t.data == f.find_tensor(t.name)->data);
                end = std::max(end, f.data_offset() + t.offset + t.n_bytes);
            }
            CHECK(end == f.size());
        }
    }
    // The 7B-style fallback: ssm_dt rows (dt_rank 4) cannot be Q8_0, so they are F16.
    const File q = File::open(kaa::test::shared_path("models/tiny-falcon-mamba-q8_0.gguf"));
    REQUIRE(q.find_tensor("blk.0.ssm_dt.weight"));
    CHECK(q.find_tensor("blk.0.ssm_dt.weight")->type == TensorType::f16);
    CHECK(q.find_tensor("blk.1.ssm_x.weight")->type == TensorType::q8_0);
    CHECK(q.find_tensor("blk.1.ssm_x.weight")->ne[1] == 4 + 2 * 16);
    CHECK(q.find_tensor("blk.0.ssm_a")->type == TensorType::f32);
    CHECK(q.find_tensor("blk.0.ssm_conv1d.weight")->ne[0] == 4);
    CHECK(q.get_bool("mamba.ssm.dt_b_c_rms") == true);
    CHECK(q.get_string("tokenizer.chat_template")->find("<|im_start|>") != std::string::npos);
    CHECK_THROWS_AS(q.get_bool("mamba.block_count"), kaa::Error);
    const File plain = File::open(kaa::test::shared_path("models/tiny-mamba-q8_0.gguf"));
    CHECK(plain.get_bool("mamba.ssm.dt_b_c_rms") == false);
    CHECK(plain.get_uint("mamba.ssm.conv_kernel") == 3u);

    const File vocab = File::open(kaa::test::shared_path("models/falcon-vocab-only.gguf"));
    CHECK(vocab.tensors().empty());
    CHECK(vocab.find("tokenizer.ggml.merges")->strings.size() == 64784);
    CHECK(vocab.keys().front() == "general.architecture");
    CHECK(vocab.keys().size() == 18);
}

TEST_CASE("gguf: shared F16/BF16/Q8_0 files are the f32 weights encoded by our helpers", "[gguf]") {
    KAA_REQUIRE_SHARED();
    const File f32 = File::open(kaa::test::shared_path("models/tiny-falcon-mamba-f32.gguf"));
    for (const char* m : {"f16", "bf16", "q8_0"}) {
        const File q =
            File::open(kaa::test::shared_path(std::string("models/tiny-falcon-mamba-") + m + ".gguf"));
        for (const TensorInfo& t : f32.tensors()) {
            INFO(m << " " << t.name);
            const TensorInfo* o = q.find_tensor(t.name);
            REQUIRE(o != nullptr);
            std::vector<uint8_t> enc(size_t(o->n_bytes));
            encode_row(o->type, reinterpret_cast<const float*>(t.data), enc.data(),
                       int64_t(t.n_elements));
            if (o->type != TensorType::q8_0) {
                CHECK(std::memcmp(enc.data(), o->data, enc.size()) == 0);
                continue;
            }
            // The converter that made these files rounds exact .5 ties to even where ggml's
            // quantizer (and ours) rounds them away from zero; everything else is identical.
            const auto* mine = reinterpret_cast<const BlockQ8_0*>(enc.data());
            const auto* theirs = reinterpret_cast<const BlockQ8_0*>(o->data);
            const auto* x = reinterpret_cast<const float*>(t.data);
            size_t ties = 0, other = 0;
            for (uint64_t b = 0; b < t.n_elements / 32; ++b) {
                if (mine[b].d != theirs[b].d) ++other;
                float amax = 0;
                for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[b * 32 + i]));
                const float id = amax != 0 ? 1.0f / (amax / 127.0f) : 0.0f;
                for (int i = 0; i < 32; ++i) {
                    if (mine[b].qs[i] == theirs[b].qs[i]) continue;
                    const float v = x[b * 32 + i] * id;
                    const bool tie = std::fabs(v - std::trunc(v)) == 0.5f;
                    (tie && std::abs(mine[b].qs[i] - theirs[b].qs[i]) == 1 ? ties : other)++;
                }
            }
            CHECK(other == 0);
            CHECK(ties <= t.n_elements / 100000 + 8);
        }
    }
}

TEST_CASE("gguf: writer round-trips every value type in insertion order", "[gguf]") {
    Writer w;
    w.set_u8("t.u8", 255);
    w.set_i8("t.i8", -128);
    w.set_u16("t.u16", 65535);
    w.set_i16("t.i16", -32768);
    w.set_u32("t.u32", 4294967295u);
    w.set_i32("t.i32", std::numeric_limits<int32_t>::min());
    w.set_u64("t.u64", std::numeric_limits<uint64_t>::max());
    w.set_i64("t.i64", std::numeric_limits<int64_t>::min());
    w.set_f32("t.f32", -1.5e-7f);
    w.set_f64("t.f64", 3.141592653589793);
    w.set_bool("t.bool", true);
    w.set_string("t.str", "h\xc3\xa9llo \xe2\x9c\x93");
    w.set_string("t.empty", "");
    w.set_array("t.arr_u8", std::vector<uint8_t>{0, 1, 255});
    w.set_array("t.arr_i16", std::vector<int16_t>{-3, 7});
    w.set_array("t.arr_i32", std::vector<int32_t>{-1, 2, -3});
    w.set_array("t.arr_u64", std::vector<uint64_t>{1ull << 63});
    w.set_array("t.arr_f32", std::vector<float>{0.5f, -2.0f});
    w.set_array("t.arr_f64", std::vector<double>{1e300});
    w.set_array("t.arr_empty", std::vector<int32_t>{});
    const bool bools[] = {true, false, true};
    w.set_array("t.arr_bool", ValueType::boolean, bools, 3);
    w.set_string_array("t.arr_str", {"a", "", "\xf0\x9f\x90\x8d"});
    // [[1, 2], []] of i32, given encoded.
    std::vector<uint8_t> nested;
    auto put32 = [&](uint32_t v) { for (int i = 0; i < 4; ++i) nested.push_back(uint8_t(v >> (8 * i))); };
    auto put64 = [&](uint64_t v) { for (int i = 0; i < 8; ++i) nested.push_back(uint8_t(v >> (8 * i))); };
    put32(uint32_t(ValueType::array)); put64(2);
    put32(uint32_t(ValueType::i32)); put64(2); put32(1); put32(2);
    put32(uint32_t(ValueType::i32)); put64(0);
    w.set_encoded("t.nested", ValueType::array, nested);
    w.set_u32("t.u32", 7);  // replacing keeps the original position

    const File f = File::from_bytes(w.to_bytes());
    const std::vector<std::string> order = {
        "t.u8", "t.i8", "t.u16", "t.i16", "t.u32", "t.i32", "t.u64", "t.i64", "t.f32",
        "t.f64", "t.bool", "t.str", "t.empty", "t.arr_u8", "t.arr_i16", "t.arr_i32",
        "t.arr_u64", "t.arr_f32", "t.arr_f64", "t.arr_empty", "t.arr_bool", "t.arr_str",
        "t.nested"};
    CHECK(f.keys() == order);
    CHECK(f.get_uint("t.u8") == 255u);
    CHECK(f.find("t.i8")->as_int("t.i8") == -128);
    CHECK(f.get_uint("t.u16") == 65535u);
    CHECK(f.find("t.i16")->as_int("t.i16") == -32768);
    CHECK(f.get_uint("t.u32") == 7u);
    CHECK(f.find("t.i32")->as_int("t.i32") == std::numeric_limits<int32_t>::min());
    CHECK(f.get_uint("t.u64") == std::numeric_limits<uint64_t>::max());
    CHECK(f.find("t.i64")->as_int("t.i64") == std::numeric_limits<int64_t>::min());
    CHECK(float(*f.get_float("t.f32")) == -1.5e-7f);
    CHECK(*f.get_float("t.f64") == 3.141592653589793);
    CHECK(f.get_bool("t.bool") == true);
    CHECK(f.get_string("t.str") == std::string("h\xc3\xa9llo \xe2\x9c\x93"));
    CHECK(f.get_string("t.empty") == std::string());
    CHECK(f.find("t.arr_u8")->count == 3);
    CHECK(f.find("t.arr_u8")->int_at(2) == 255);
    CHECK(f.find("t.arr_i16")->int_at(0) == -3);
    CHECK(f.find("t.arr_i32")->int_at(2) == -3);
    CHECK(uint64_t(f.find("t.arr_u64")->int_at(0)) == 1ull << 63);
    CHECK(f.find("t.arr_f32")->float_at(1) == -2.0);
    CHECK(f.find("t.arr_f64")->float_at(0) == 1e300);
    CHECK(f.find("t.arr_empty")->count == 0);
    CHECK(f.find("t.arr_bool")->int_at(0) == 1);
    CHECK(f.find("t.arr_bool")->int_at(1) == 0);
    CHECK(f.find("t.arr_str")->strings == std::vector<std::string_view>{"a", "", "\xf0\x9f\x90\x8d"});
    CHECK(f.find("t.nested")->elem_type == ValueType::array);
    CHECK(f.find("t.nested")->count == 2);
    // Type errors and range errors name the key.
    CHECK_THROWS_WITH(f.get_uint("t.i8"), Catch::Contains("t.i8") && Catch::Contains("negative"));
    CHECK_THROWS_WITH(f.get_string("t.u8"), Catch::Contains("t.u8"));
    CHECK_THROWS_AS(f.find("t.u64")->as_int("t.u64"), kaa::Error);
    CHECK(!f.get_uint("t.missing").has_value());

    // Copying every value from the parsed file reproduces the metadata byte for byte.
    Writer copy;
    for (const std::string& k : f.keys()) copy.set_value(k, *f.find(k));
    CHECK(copy.to_bytes() == w.to_bytes());
}

TEST_CASE("gguf: writer round-trips tensors of every type, alignment and streaming", "[gguf]") {
    std::mt19937 rng(3);
    std::normal_distribution<float> nd;
    std::vector<float> vals(64 * 3);
    for (float& v : vals) v = nd(rng);
    for (uint32_t alignment : {32u, 64u, 4096u}) {
        INFO("alignment " << alignment);
        Writer w;
        if (alignment != 32) w.set_alignment(alignment);
        w.set_string("general.architecture", "test");
        std::vector<std::vector<uint8_t>> datas;
        const TensorType types[] = {TensorType::f32, TensorType::f16, TensorType::bf16,
                                    TensorType::q8_0};
        for (TensorType t : types) {
            std::vector<uint8_t> d(size_t(row_bytes(t, 64) * 3));
            for (int r = 0; r < 3; ++r)
                encode_row(t, vals.data() + 64 * r, d.data() + r * row_bytes(t, 64), 64);
            w.add_tensor(std::string("w.") + tensor_type_name(t), t, {64, 3}, d);
            datas.push_back(d);
        }
        const float odd[3] = {1, 2, 3};
        w.add_tensor("odd", TensorType::f32, {3}, odd, sizeof odd);
        w.add_tensor("four_d", TensorType::f16, {2, 1, 3, 1}, std::vector<uint8_t>(12, 0x3c));

        const std::vector<uint8_t> bytes = w.to_bytes();
        CHECK(bytes.size() == w.file_size());
        const File f = File::from_bytes(bytes);
        CHECK(f.alignment() == alignment);
        CHECK(f.data_offset() == w.data_offset());
        REQUIRE(f.tensors().size() == 6);
        for (size_t i = 0; i < 4; ++i) {
            const TensorInfo& t = f.tensors()[i];
            CHECK(t.type == types[i]);
            CHECK(t.n_dims == 2);
            CHECK(t.ne[0] == 64);
            CHECK(t.ne[1] == 3);
            CHECK(t.offset % alignment == 0);
            REQUIRE(t.n_bytes == datas[i].size());
            CHECK(std::memcmp(t.data, datas[i].data(), datas[i].size()) == 0);
            // Decoding gives back the values within each type's precision.
            std::vector<float> back(64);
            decode_row(t.type, t.data + row_bytes(t.type, 64), back.data(), 64);
            const float tol = t.type == TensorType::f32 ? 0 : t.type == TensorType::f16 ? 2e-3f : 3e-2f;
            for (int j = 0; j < 64; ++j) CHECK(std::fabs(back[j] - vals[64 + j]) <= tol * 4);
        }
        CHECK(f.find_tensor("odd")->n_bytes == 12);
        CHECK(f.find_tensor("four_d")->n_dims == 4);
        CHECK(f.find_tensor("four_d")->n_elements == 6);

        // The same file, streamed in odd-sized chunks, and written atomically.
        Writer s = w;
        Writer decl;
        if (alignment != 32) decl.set_alignment(alignment);
        decl.set_string("general.architecture", "test");
        for (const auto& t : w.tensors()) decl.declare_tensor(t.name, t.type, t.ne);
        kaa::test::TempDir dir;
        {
            StreamWriter sw(decl, dir.file("s.gguf"));
            for (const auto& t : w.tensors())
                for (size_t o = 0; o < t.data.size(); o += 5)
                    sw.write(t.data.data() + o, std::min<size_t>(5, t.data.size() - o));
            CHECK(sw.current_tensor() == w.tensors().size());
            sw.finish();
        }
        CHECK(read_file(dir.file("s.gguf")) == bytes);
        s.write(dir.file("w.gguf"));
        CHECK(read_file(dir.file("w.gguf")) == bytes);
        CHECK(File::open(dir.file("w.gguf")).tensors().size() == 6);
    }
}

TEST_CASE("gguf: writer rejects bad input and streams are checked", "[gguf]") {
    Writer w;
    const float x[64] = {};
    auto code_of = [](auto&& fn) {
        try {
            fn();
        } catch (const kaa::Error& e) {
            return e.code();
        }
        return kaa::ErrorCode::ok;
    };
    using kaa::ErrorCode;
    CHECK(code_of([&] { w.add_tensor("a", TensorType::f32, {}, x, 0); }) == ErrorCode::invalid_argument);
    CHECK(code_of([&] { w.add_tensor("a", TensorType::f32, {1, 1, 1, 1, 1}, x, 4); }) == ErrorCode::invalid_argument);
    CHECK(code_of([&] { w.add_tensor("a", TensorType::f32, {0}, x, 0); }) == ErrorCode::invalid_argument);
    CHECK(code_of([&] { w.add_tensor("a", TensorType::q8_0, {48}, x, 51); }) == ErrorCode::invalid_argument);
    CHECK(code_of([&] { w.add_tensor("a", TensorType::f32, {4}, x, 12); }) == ErrorCode::invalid_argument);
    CHECK(code_of([&] { w.add_tensor("a", TensorType::f32, {1ull << 40, 1ull << 40}, x, 4); }) == ErrorCode::invalid_argument);
    CHECK(code_of([&] { w.set_alignment(48); }) == ErrorCode::invalid_argument);
    CHECK(w.tensors().empty());
    w.add_tensor("a", TensorType::f32, {4}, x, 16);
    CHECK(code_of([&] { w.add_tensor("a", TensorType::f32, {4}, x, 16); }) == ErrorCode::invalid_argument);
    w.declare_tensor("b", TensorType::f32, {8});
    CHECK(code_of([&] { w.to_bytes(); }) == ErrorCode::invalid_argument);

    kaa::test::TempDir dir;
    const std::string path = dir.file("x.gguf");
    {
        StreamWriter sw(w, path);
        sw.write(x, 16);
        CHECK(code_of([&] { sw.finish(); }) == ErrorCode::invalid_argument);  // b incomplete
        CHECK(code_of([&] { sw.write(x, 32 + 4); }) == ErrorCode::invalid_argument);  // too much
    }
    CHECK(!std::ifstream(path).good());  // an abandoned stream leaves nothing behind,
    CHECK(std::filesystem::is_empty(dir.path()));  // not even its temporary file
    CHECK(code_of([&] { Writer().write(dir.file("no/such/dir/x.gguf")); }) == ErrorCode::io);
}

TEST_CASE("gguf: Q8_0 quantization matches the reference and bounds its error", "[gguf]") {
    std::mt19937 rng(11);
    std::vector<float> x(32 * 4096);
    for (size_t b = 0; b < x.size() / 32; ++b) {
        // Scales from tiny to large, some blocks of zeros, some with exact ties.
        const float scale = std::pow(10.0f, float(int(b % 13) - 8));
        std::normal_distribution<float> nd(0.0f, scale);
        for (int i = 0; i < 32; ++i) x[b * 32 + i] = (b % 17 == 5) ? 0.0f : nd(rng);
        if (b % 19 == 3)  // amax 127 -> d = 1: every k + 0.5 is an exact tie
            for (int i = 0; i < 32; ++i) x[b * 32 + i] = i == 0 ? 127.0f : float(i - 16) + 0.5f;
    }
    std::vector<BlockQ8_0> q(x.size() / 32);
    quantize_row_q8_0(x.data(), q.data(), int64_t(x.size()));
    std::vector<float> back(x.size());
    dequantize_row_q8_0(q.data(), back.data(), int64_t(x.size()));
    for (size_t b = 0; b < q.size(); ++b) {
        BlockQ8_0 ref;
        reference_q8_0(&x[b * 32], ref);
        INFO("block " << b);
        REQUIRE(std::memcmp(&ref, &q[b], sizeof ref) == 0);
        float amax = 0;
        for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[b * 32 + i]));
        const float d = amax / 127.0f;
        const float d16 = kaa::kernels::f16_to_f32(q[b].d);
        for (int i = 0; i < 32; ++i) {
            // Rounding to the grid costs d/2; storing d in f16 moves each point by |q| * |d - d16|.
            const float err = std::fabs(back[b * 32 + i] - x[b * 32 + i]);
            CHECK(err <= 0.5f * d + 127.0f * std::fabs(d - d16) + 1e-6f * d);
        }
        if (amax == 0) CHECK(q[b].d == 0);
    }
    CHECK(q[3].qs[1] == -15);  // -14.5 rounds away from zero
    CHECK(q[3].qs[17] == 2);   // 1.5 -> 2

    // Values on the grid of an f16-exact scale come back exactly.
    for (float s : {1.0f / 128, 0.75f / 32, 3.0f, 0.0009765625f}) {
        std::vector<float> g(64);
        for (int i = 0; i < 64; ++i) g[i] = s * float((i * 37) % 255 - 127);
        g[0] = 127 * s;
        g[32] = -127 * s;
        std::vector<BlockQ8_0> gq(2);
        quantize_row_q8_0(g.data(), gq.data(), 64);
        std::vector<float> gb(64);
        dequantize_row_q8_0(gq.data(), gb.data(), 64);
        CHECK(gb == g);
    }
    // NaN and inf never produce undefined casts; k must be a multiple of 32.
    std::vector<float> bad(32, 1.0f);
    bad[3] = std::numeric_limits<float>::quiet_NaN();
    bad[4] = -std::numeric_limits<float>::infinity();
    BlockQ8_0 bq;
    quantize_row_q8_0(bad.data(), &bq, 32);
    CHECK(bq.qs[3] == 0);
    CHECK_THROWS_AS(quantize_row_q8_0(x.data(), q.data(), 33), kaa::Error);
}

TEST_CASE("gguf: f16 and bf16 conversions are exact for all 65536 values", "[gguf]") {
    size_t nan_f16 = 0, nan_bf16 = 0;
    for (uint32_t h = 0; h < 65536; ++h) {
        const uint16_t in = uint16_t(h);
        float f;
        uint16_t back;
        convert_row_f16_to_f32(&in, &f, 1);
        convert_row_f32_to_f16(&f, &back, 1);
        if (std::isnan(f)) {
            ++nan_f16;
            CHECK((back & 0x7c00u) == 0x7c00u);
            CHECK((back & 0x3ffu) != 0);
        } else if (back != in) {
            FAIL("f16 " << h << " -> " << f << " -> " << back);
        }
        convert_row_bf16_to_f32(&in, &f, 1);
        convert_row_f32_to_bf16(&f, &back, 1);
        if (std::isnan(f)) {
            ++nan_bf16;
            CHECK(std::isnan(kaa::kernels::bf16_to_f32(back)));
        } else if (back != in) {
            FAIL("bf16 " << h << " -> " << f << " -> " << back);
        }
    }
    CHECK(nan_f16 == 2 * 1023);
    CHECK(nan_bf16 == 2 * 127);
    // Round to nearest even between neighbours, and overflow to infinity.
    const float between = (1.0f + 1.0f / 1024 * 0.5f);  // halfway between 1 and 1+2^-10
    uint16_t h;
    convert_row_f32_to_f16(&between, &h, 1);
    CHECK(h == 0x3c00);
    const float big = 70000.0f;
    convert_row_f32_to_f16(&big, &h, 1);
    CHECK(h == 0x7c00);
    const float b16 = 1.0f + 1.0f / 128 * 0.5f;  // bf16 tie -> even (1.0)
    convert_row_f32_to_bf16(&b16, &h, 1);
    CHECK(h == 0x3f80);
}

TEST_CASE("gguf: synthetic models parse with the reference layout for every type", "[gguf]") {
    for (TensorType type : {TensorType::f32, TensorType::f16, TensorType::bf16, TensorType::q8_0}) {
        for (bool tied : {true, false}) {
            INFO(tensor_type_name(type) << " tied=" << tied);
            SynthSpec s;
            s.type = type;
            s.tied = tied;
            const File f = File::from_bytes(synth_model_bytes(s));
            CHECK(f.tensors().size() == 2 + 10 * 2 + (tied ? 0 : 1));
            CHECK(f.get_uint("general.file_type") == file_type_for(type));
            CHECK(f.get_uint("mamba.block_count") == 2u);
            CHECK(f.find("tokenizer.ggml.tokens")->strings.size() == 256);
            CHECK(f.find("tokenizer.ggml.model") == nullptr);
            const TensorInfo* dt = f.find_tensor("blk.1.ssm_dt.weight");
            REQUIRE(dt);
            CHECK(dt->type == (type == TensorType::q8_0 ? TensorType::f16 : type));
            CHECK(f.find_tensor("token_embd.weight")->type == type);
            CHECK(f.find_tensor("token_embd.weight")->ne[1] == 256);
            CHECK(f.find_tensor("blk.0.ssm_a")->type == TensorType::f32);
            CHECK(f.find_tensor("blk.0.ssm_x.weight")->ne[1] == 4 + 2 * 16);
            // Weight ranges that keep the recurrence stable.
            const TensorInfo* a = f.find_tensor("blk.0.ssm_a");
            const TensorInfo* b = f.find_tensor("blk.0.ssm_dt.bias");
            const auto* av = reinterpret_cast<const float*>(a->data);
            const auto* bv = reinterpret_cast<const float*>(b->data);
            for (uint64_t i = 0; i < a->n_elements; ++i) CHECK(av[i] < 0.0f);
            for (uint64_t i = 0; i < b->n_elements; ++i) {
                const float dtv = kaa::kernels::softplus(bv[i]);
                CHECK((dtv >= 0.99e-3f && dtv <= 0.101f));
            }
        }
    }
    // Q8_0 falls back to F16 for any matrix whose rows are not a multiple of 32.
    SynthSpec odd;
    odd.type = TensorType::q8_0;
    odd.d_model = 40;
    odd.n_layer = 1;
    const File f = File::from_bytes(synth_model_bytes(odd));
    CHECK(f.find_tensor("token_embd.weight")->type == TensorType::f16);
    CHECK(f.find_tensor("blk.0.ssm_in.weight")->type == TensorType::f16);
    CHECK(f.find_tensor("blk.0.ssm_out.weight")->type == TensorType::q8_0);  // ne0 = d_inner

    CHECK_THROWS_AS(synth_model_bytes([] { SynthSpec b; b.d_state = 0; return b; }()), kaa::Error);
}

TEST_CASE("gguf: synthetic models are deterministic and stream to disk", "[gguf]") {
    SynthSpec s;
    s.type = TensorType::q8_0;
    s.n_threads = 1;
    const std::vector<uint8_t> one = synth_model_bytes(s);
    s.n_threads = 4;
    CHECK(synth_model_bytes(s) == one);  // thread count never changes a bit
    kaa::test::TempDir dir;
    write_synth_model(s, dir.file("m.gguf"));
    CHECK(read_file(dir.file("m.gguf")) == one);
    s.seed = 2;
    CHECK(synth_model_bytes(s) != one);
}

TEST_CASE("gguf: a synthetic model with the Falcon vocab matches the shared layout", "[gguf]") {
    KAA_REQUIRE_SHARED();
    SynthSpec s;
    s.type = TensorType::q8_0;
    s.tied = false;
    s.vocab_from = kaa::test::shared_path("models/falcon-vocab-only.gguf");
    const File mine = File::from_bytes(synth_model_bytes(s));
    const File ref = File::open(kaa::test::shared_path("models/tiny-falcon-mamba-q8_0.gguf"));
    REQUIRE(mine.tensors().size() == ref.tensors().size());
    for (size_t i = 0; i < ref.tensors().size(); ++i) {
        const TensorInfo& a = mine.tensors()[i];
        const TensorInfo& b = ref.tensors()[i];
        INFO(b.name);
        CHECK(a.name == b.name);
        CHECK(a.type == b.type);
        CHECK(a.n_dims == b.n_dims);
        CHECK(std::equal(a.ne, a.ne + 4, b.ne));
        CHECK(a.offset == b.offset);
    }
    // Every key of the reference except the name and chat template (not in the vocab file).
    std::set<std::string> want(ref.keys().begin(), ref.keys().end());
    want.erase("tokenizer.chat_template");
    CHECK(std::set<std::string>(mine.keys().begin(), mine.keys().end()) == want);
    for (const char* k : {"mamba.context_length", "mamba.ssm.inner_size", "general.file_type",
                          "tokenizer.ggml.eos_token_id"})
        CHECK(mine.get_uint(k) == ref.get_uint(k));
    CHECK(mine.find("tokenizer.ggml.merges")->strings == ref.find("tokenizer.ggml.merges")->strings);
}
