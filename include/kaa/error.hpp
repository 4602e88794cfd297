// kaa/error.hpp — the one exception type the C++ API throws.
#pragma once

#include <stdexcept>
#include <string>

#include "kaa/export.hpp"

namespace kaa {

// Stable numeric codes; the C ABI maps them one to one onto kaa_status.
// New codes are only ever appended.
enum class ErrorCode : int {
    ok = 0,
    invalid_argument = 1,   // an API argument is out of range or inconsistent
    io = 2,                 // open/read/write/rename/mmap failed
    invalid_file = 3,       // a GGUF file is malformed (bad magic, truncated, overflow, ...)
    unsupported = 4,        // valid but not supported (architecture, tensor type, version, ISA)
    invalid_model = 5,      // a GGUF parses but is not a usable model (missing tensor, wrong shape)
    invalid_state = 6,      // a state blob is corrupt, truncated or of another format version
    state_mismatch = 7,     // a state blob belongs to another model
    out_of_memory = 8,
    cancelled = 9,          // a callback asked to stop
    invalid_token = 10,     // a token id outside [0, n_vocab)
    template_error = 11,    // chat template could not be parsed or rendered
    internal = 100,
};

// Human-readable name of a code ("invalid_file", ...).
KAA_API const char* error_code_name(ErrorCode code) noexcept;

class KAA_API Error : public std::runtime_error {
public:
    Error(ErrorCode code, const std::string& message)
        : std::runtime_error(message), code_(code) {}
    ErrorCode code() const noexcept { return code_; }

private:
    ErrorCode code_;
};

}  // namespace kaa
