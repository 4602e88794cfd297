// state.cpp — serialization of kaa::State (layout documented in kaa/state.hpp).
#include "kaa/state.hpp"

#include <cmath>
#include <cstring>

#include "runtime/file_io.hpp"
#include "runtime/hash.hpp"

namespace kaa {
namespace {

constexpr char kMagic[8] = {'K', 'A', 'A', 'S', 'T', 'A', 'T', 'E'};
// magic, version, header bytes, fingerprint, 4 dims, position, payload bytes, user bytes
constexpr uint32_t kHeaderBytes = 8 + 4 + 4 + 8 + 4 * 8 + 8 + 8 + 8;
constexpr uint64_t kChecksumSeed = 0x6b61612d73746174ull;  // "kaa-stat"
// No real model comes near this; it bounds what a hostile header can make us allocate.
constexpr uint64_t kMaxPayload = 1ull << 36;
// No sequence comes near 2^62 tokens; the bound keeps a forged position from overflowing
// when a Session adds the tokens it evaluates (Session::set_state checks it too).
constexpr int64_t kMaxPosition = int64_t(1) << 62;

// Appends fixed-size little-endian fields into a preallocated buffer.
struct Writer {
    uint8_t* p;
    template <class T>
    void put(T v) {
        std::memcpy(p, &v, sizeof(T));
        p += sizeof(T);
    }
};

struct Reader {
    const uint8_t* p;
    size_t n, off = 0;
    template <class T>
    T get() {
        if (n - off < sizeof(T)) throw Error(ErrorCode::invalid_state, "state blob is truncated");
        T v;
        std::memcpy(&v, p + off, sizeof(T));
        off += sizeof(T);
        return v;
    }
};

}  // namespace

std::vector<uint8_t> State::serialize() const {
    if (empty()) throw Error(ErrorCode::invalid_argument, "cannot serialize an empty State");
    const uint64_t payload = uint64_t(data_.size()) * sizeof(float);
    const uint64_t user = user_data_.size();
    std::vector<uint8_t> out(size_t(kHeaderBytes + payload + user + 8));
    std::memcpy(out.data(), kMagic, 8);
    Writer w{out.data() + 8};
    w.put<uint32_t>(kFormatVersion);
    w.put<uint32_t>(kHeaderBytes);
    w.put<uint64_t>(fingerprint_);
    w.put<uint64_t>(uint64_t(dims_.n_layer));
    w.put<uint64_t>(uint64_t(dims_.d_inner));
    w.put<uint64_t>(uint64_t(dims_.d_conv));
    w.put<uint64_t>(uint64_t(dims_.d_state));
    w.put<int64_t>(position_);
    w.put<uint64_t>(payload);
    w.put<uint64_t>(user);
    std::memcpy(w.p, data_.data(), size_t(payload));
    w.p += payload;
    if (user) std::memcpy(w.p, user_data_.data(), size_t(user));
    w.p += user;
    w.put<uint64_t>(runtime::hash64(out.data(), size_t(kHeaderBytes + payload + user), kChecksumSeed));
    return out;
}

State State::deserialize(const uint8_t* data, size_t size) {
    if (!data || size < 8 || std::memcmp(data, kMagic, 8) != 0)
        throw Error(ErrorCode::invalid_state, "not a kaa state blob (bad magic)");
    Reader r{data, size, 8};
    const uint32_t version = r.get<uint32_t>();
    if (version != kFormatVersion)
        throw Error(ErrorCode::invalid_state, "state format version " + std::to_string(version) +
                                                  " is not supported (this build reads version " +
                                                  std::to_string(kFormatVersion) + ")");
    const uint32_t header = r.get<uint32_t>();
    if (header != kHeaderBytes) throw Error(ErrorCode::invalid_state, "state header has the wrong size");
    // Verify the checksum before trusting any field.
    if (size < uint64_t(kHeaderBytes) + 8) throw Error(ErrorCode::invalid_state, "state blob is truncated");
    uint64_t stored;
    std::memcpy(&stored, data + size - 8, 8);
    if (runtime::hash64(data, size - 8, kChecksumSeed) != stored)
        throw Error(ErrorCode::invalid_state, "state blob is corrupt or truncated (checksum mismatch)");

    State s;
    s.fingerprint_ = r.get<uint64_t>();
    uint64_t dims[4];
    for (auto& d : dims) d = r.get<uint64_t>();
    s.position_ = r.get<int64_t>();
    const uint64_t payload = r.get<uint64_t>();
    const uint64_t user = r.get<uint64_t>();
    // The loader's bounds on n_layer, d_inner, d_conv, d_state; they keep the size
    // arithmetic below far from overflow.
    const uint64_t max_dim[4] = {4096, 1ull << 20, 64, 1024};
    for (int i = 0; i < 4; ++i)
        if (dims[i] == 0 || dims[i] > max_dim[i])
            throw Error(ErrorCode::invalid_state, "state dimensions are invalid");
    s.dims_ = {int64_t(dims[0]), int64_t(dims[1]), int64_t(dims[2]), int64_t(dims[3])};
    const uint64_t floats = uint64_t(s.dims_.floats());
    if (s.position_ < 0 || s.position_ > kMaxPosition)
        throw Error(ErrorCode::invalid_state, "state position " + std::to_string(s.position_) + " is out of range");
    if (payload > kMaxPayload || payload != floats * sizeof(float) ||
        user > kMaxUserData || payload + user != size - kHeaderBytes - 8)
        throw Error(ErrorCode::invalid_state, "state payload size does not match its dimensions");
    s.data_.resize(size_t(floats));
    std::memcpy(s.data_.data(), data + kHeaderBytes, size_t(payload));
    s.user_data_.assign(reinterpret_cast<const char*>(data) + kHeaderBytes + payload, size_t(user));
    for (float v : s.data_)
        if (!std::isfinite(v)) throw Error(ErrorCode::invalid_state, "state holds a non-finite value");
    return s;
}

void State::set_user_data(std::string bytes) {
    if (bytes.size() > kMaxUserData)
        throw Error(ErrorCode::invalid_argument, "State user data is limited to 1 GiB");
    user_data_ = std::move(bytes);
}

void State::save(const std::string& path) const {
    const std::vector<uint8_t> bytes = serialize();
    runtime::write_file_atomic(path, bytes.data(), bytes.size());
}

State State::load(const std::string& path) {
    const std::vector<uint8_t> bytes = runtime::read_file(path, kMaxPayload + kMaxUserData + kHeaderBytes + 8);
    return deserialize(bytes);
}

}  // namespace kaa
