// fuzz_state — State::deserialize of arbitrary bytes, then set_state into a Session.
//
// Input: [flags] body. Flags:
//   bit 0  build: the body supplies the position (8 bytes), the payload floats and the
//          user data of a state whose header (magic, version, fingerprint, dims) and
//          checksum are made right for the chosen model. Without it the body is the
//          blob itself.
//   bit 1  (raw mode) recompute the blob's trailing checksum, so that mutations reach
//          the field checks behind it instead of all failing the checksum
//   bit 2  the Q8_0 tiny model instead of the F32 one
// A blob that deserializes must serialize back to exactly the same bytes; a State that
// fits the model must restore, evaluate and generate (errors allowed only as
// kaa::Error: a finite but huge state may well make NaN logits, which the sampler
// refuses).
#include <cstring>

#include "fuzz_support.hpp"
#include "kaa/error.hpp"
#include "kaa/session.hpp"
#include "kaa/state.hpp"
#include "runtime/hash.hpp"

namespace {

// Must match lib/state/state.cpp (the format is documented in docs/FORMATS.md).
constexpr size_t kHeaderBytes = 8 + 4 + 4 + 8 + 4 * 8 + 8 + 8 + 8;
constexpr uint64_t kChecksumSeed = 0x6b61612d73746174ull;

const kaa::Model& model(bool q8) {
    static const kaa::Model f32 = kaa::fuzz::load_tiny_model(kaa::gguf::TensorType::f32);
    static const kaa::Model q8_0 = kaa::fuzz::load_tiny_model(kaa::gguf::TensorType::q8_0);
    return q8 ? q8_0 : f32;
}

template <class T>
void put(std::vector<uint8_t>& b, size_t at, T v) {
    std::memcpy(b.data() + at, &v, sizeof v);
}

void seal(std::vector<uint8_t>& blob) {
    const uint64_t h = kaa::runtime::hash64(blob.data(), blob.size() - 8, kChecksumSeed);
    put(blob, blob.size() - 8, h);
}

// A well-formed blob for model m from the fuzz body.
std::vector<uint8_t> build_blob(const kaa::Model& m, std::string_view body) {
    const uint64_t payload = m.state_size();
    int64_t position = 0;
    std::memcpy(&position, body.data(), std::min<size_t>(8, body.size()));
    body.remove_prefix(std::min<size_t>(8, body.size()));
    const size_t from_body = std::min<size_t>(body.size(), size_t(payload));
    const size_t user = body.size() - from_body;
    std::vector<uint8_t> blob(kHeaderBytes + size_t(payload) + user + 8, 0);
    std::memcpy(blob.data(), "KAASTATE", 8);
    put<uint32_t>(blob, 8, kaa::State::kFormatVersion);
    put<uint32_t>(blob, 12, uint32_t(kHeaderBytes));
    put<uint64_t>(blob, 16, m.fingerprint());
    const kaa::HParams& h = m.hparams();
    put<uint64_t>(blob, 24, uint64_t(h.n_layer));
    put<uint64_t>(blob, 32, uint64_t(h.d_inner));
    put<uint64_t>(blob, 40, uint64_t(h.d_conv));
    put<uint64_t>(blob, 48, uint64_t(h.d_state));
    put<int64_t>(blob, 56, position);
    put<uint64_t>(blob, 64, payload);
    put<uint64_t>(blob, 72, uint64_t(user));
    if (from_body) std::memcpy(blob.data() + kHeaderBytes, body.data(), from_body);
    if (user) std::memcpy(blob.data() + kHeaderBytes + payload, body.data() + from_body, user);
    seal(blob);
    return blob;
}

void use_state(const kaa::Model& m, const kaa::State& st) {
    kaa::SessionParams sp;
    sp.n_threads = 1;
    kaa::Session s(m, sp);
    try {
        s.set_state(st);
    } catch (const kaa::Error& e) {
        KAA_FUZZ_CHECK(e.code() == kaa::ErrorCode::state_mismatch);
        KAA_FUZZ_CHECK(st.model_fingerprint() != m.fingerprint() || !(st.dims() == s.state().dims()));
        return;
    }
    KAA_FUZZ_CHECK(s.position() == st.position());
    KAA_FUZZ_CHECK(s.state().data() == st.data());
    const kaa::Token t = 1;
    KAA_FUZZ_CHECK(s.eval(&t, 1).size() == size_t(m.n_vocab()));
    kaa::GenerationOptions g;
    g.max_tokens = 2;
    g.sampler.temperature = 0;
    g.ignore_eos = true;
    try {
        (void)s.generate(std::vector<kaa::Token>{}, g);
    } catch (const kaa::Error& e) {
        KAA_FUZZ_CHECK(e.code() == kaa::ErrorCode::invalid_argument);  // NaN/inf logits
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    kaa::fuzz::InputReader in{data, size};
    const uint8_t flags = in.u8();
    const kaa::Model& m = model(flags & 4);
    const std::string_view body = in.rest();
    std::vector<uint8_t> blob;
    if (flags & 1) {
        blob = build_blob(m, body);
    } else {
        blob.assign(body.begin(), body.end());
        if ((flags & 2) && blob.size() >= kHeaderBytes + 8) seal(blob);
    }
    try {
        const kaa::State st = kaa::State::deserialize(blob);
        KAA_FUZZ_CHECK(st.serialize() == blob);
        use_state(m, st);
    } catch (const kaa::Error& e) {
        KAA_FUZZ_CHECK(e.code() == kaa::ErrorCode::invalid_state);
    }
    return 0;
}
