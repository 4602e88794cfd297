// Regression tests for bugs found by fuzzing (tests/fuzz, docs/RELIABILITY.md). Each test
// replays the essence of the input that crashed, on data the test builds itself; the
// exact crashing inputs also live in tests/fuzz/corpus/<target>/regression-*, which the
// fuzz.replay.* tests run in KAA_FUZZ builds.
#include <catch2/catch.hpp>

#include <cstdint>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "gguf/gguf.hpp"
#include "gguf/synth.hpp"
#include "gguf/writer.hpp"
#include "kaa/error.hpp"
#include "kaa/session.hpp"
#include "kaa/state.hpp"
#include "runtime/hash.hpp"
#include "support/temp.hpp"

namespace {

kaa::Model tiny_model(const kaa::test::TempDir& dir) {
    kaa::gguf::SynthSpec spec;
    spec.d_model = 16;
    spec.n_layer = 1;
    spec.d_inner = 32;
    spec.d_state = 4;
    spec.n_vocab = 32;
    spec.n_threads = 1;
    const std::string path = dir.file("tiny.gguf");
    kaa::gguf::write_synth_model(spec, path);
    return kaa::Model::load(path);
}

// Overwrites the position field of a serialized state and re-seals its checksum, as a
// forged (not merely corrupted) blob would be. Offsets: docs/FORMATS.md.
std::vector<uint8_t> with_position(std::vector<uint8_t> blob, int64_t position) {
    constexpr size_t kPositionAt = 8 + 4 + 4 + 8 + 4 * 8;
    std::memcpy(blob.data() + kPositionAt, &position, 8);
    const uint64_t sum = kaa::runtime::hash64(blob.data(), blob.size() - 8, 0x6b61612d73746174ull);
    std::memcpy(blob.data() + blob.size() - 8, &sum, 8);
    return blob;
}

}  // namespace

// fuzz_state: a blob with position INT64_MAX deserialized, and the next eval overflowed
// the signed position counter (UBSan: session.cpp, 9223372036854775807 + 1).
TEST_CASE("regression: a forged state position cannot overflow the session position", "[regression][state]") {
    kaa::test::TempDir dir;
    const kaa::Model model = tiny_model(dir);
    kaa::Session s(model);
    const std::vector<uint8_t> blob = s.state().serialize();

    for (int64_t bad : {std::numeric_limits<int64_t>::max(), (int64_t(1) << 62) + 1, int64_t(-1)}) {
        try {
            (void)kaa::State::deserialize(with_position(blob, bad));
            FAIL("position " << bad << " was accepted");
        } catch (const kaa::Error& e) {
            CHECK(e.code() == kaa::ErrorCode::invalid_state);
        }
        // The same through a State made in code: set_state refuses it, state unchanged.
        const kaa::State st(s.state().dims(), model.fingerprint(), bad, s.state().data());
        CHECK_THROWS_AS(s.set_state(st), kaa::Error);
        CHECK(s.position() == 0);
    }
    // The largest accepted position still evaluates.
    const kaa::State top = kaa::State::deserialize(with_position(blob, int64_t(1) << 62));
    s.set_state(top);
    const kaa::Token t = 1;
    CHECK(s.eval(&t, 1).size() == size_t(model.n_vocab()));
    CHECK(s.position() == (int64_t(1) << 62) + 1);
}

// fuzz_gguf: Value::int_at on an F32 array element of 2.86e29 cast the float to int64
// directly (UBSan: gguf.cpp, "outside the range of representable values of type long").
TEST_CASE("regression: int_at of float array elements saturates instead of overflowing", "[regression][gguf]") {
    kaa::gguf::Writer w;
    const float big = 2.85964e29f;
    w.set_array("f32", std::vector<float>{big, -big, NAN, INFINITY, 3.7f, -3.7f});
    w.set_array("f64", std::vector<double>{1e300, -1e300, 9223372036854775808.0, -9223372036854775808.0});
    const kaa::gguf::File f = kaa::gguf::File::from_bytes(w.to_bytes());
    const kaa::gguf::Value& a = *f.find("f32");
    constexpr int64_t kMax = std::numeric_limits<int64_t>::max(), kMin = std::numeric_limits<int64_t>::min();
    CHECK(a.int_at(0) == kMax);
    CHECK(a.int_at(1) == kMin);
    CHECK(a.int_at(2) == 0);
    CHECK(a.int_at(3) == kMax);
    CHECK(a.int_at(4) == 3);
    CHECK(a.int_at(5) == -3);
    const kaa::gguf::Value& b = *f.find("f64");
    CHECK(b.int_at(0) == kMax);
    CHECK(b.int_at(1) == kMin);
    CHECK(b.int_at(2) == kMax);
    CHECK(b.int_at(3) == kMin);
}
