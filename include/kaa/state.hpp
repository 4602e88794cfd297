// kaa/state.hpp — a Session's recurrent state as a value.
//
// Mamba's state has a constant size whatever the text length: per layer the last
// d_conv-1 conv inputs and the d_inner x d_state SSM state, f32. Copy a State to fork a
// conversation, restore it to rewind, serialize it to save — all O(state), never O(text).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kaa/error.hpp"
#include "kaa/export.hpp"

namespace kaa {

struct StateDims {
    int64_t n_layer = 0, d_inner = 0, d_conv = 0, d_state = 0;
    bool operator==(const StateDims& o) const {
        return n_layer == o.n_layer && d_inner == o.d_inner && d_conv == o.d_conv &&
               d_state == o.d_state;
    }
    // floats per layer: conv (d_inner x (d_conv-1)) then ssm (d_inner x d_state)
    int64_t floats_per_layer() const { return d_inner * (d_conv - 1) + d_inner * d_state; }
    int64_t floats() const { return n_layer * floats_per_layer(); }
};

class KAA_API State {
public:
    State() = default;  // empty: belongs to no model

    bool empty() const noexcept { return data_.empty(); }
    uint64_t model_fingerprint() const noexcept { return fingerprint_; }
    int64_t position() const noexcept { return position_; }  // tokens consumed
    const StateDims& dims() const noexcept { return dims_; }
    const std::vector<float>& data() const noexcept { return data_; }

    // Application data saved and restored with the state (e.g. a chat history), opaque
    // to kaa. At most kMaxUserData bytes.
    const std::string& user_data() const noexcept { return user_data_; }
    void set_user_data(std::string bytes);
    static constexpr size_t kMaxUserData = size_t(1) << 30;

    // Serialized form (little endian):
    //   "KAASTATE" | u32 format version | u32 header bytes | u64 model fingerprint |
    //   u64 n_layer, d_inner, d_conv, d_state | i64 position | u64 payload bytes |
    //   u64 user-data bytes | payload (f32) | user data | u64 checksum of all before it
    // (docs/FORMATS.md). Throws Error(invalid_argument) for an empty State.
    std::vector<uint8_t> serialize() const;
    // Validates magic, version, sizes and checksum; throws Error(invalid_state).
    // Model compatibility is checked when the State is given to a Session.
    static State deserialize(const uint8_t* data, size_t size);
    static State deserialize(const std::vector<uint8_t>& bytes) {
        return deserialize(bytes.data(), bytes.size());
    }
    // Atomic save: writes PATH.tmp-XXXX beside the target, fsyncs, renames over it.
    // Throws Error(io), or Error(invalid_argument) for an empty State.
    void save(const std::string& path) const;
    // Reads and deserializes a file; throws Error(io) or Error(invalid_state).
    static State load(const std::string& path);

    static constexpr uint32_t kFormatVersion = 1;

    // Internal constructor (used by Session).
    State(StateDims dims, uint64_t fingerprint, int64_t position, std::vector<float> data)
        : dims_(dims), fingerprint_(fingerprint), position_(position), data_(std::move(data)) {}

private:
    StateDims dims_;
    uint64_t fingerprint_ = 0;
    int64_t position_ = 0;
    std::vector<float> data_;
    std::string user_data_;
};

}  // namespace kaa
