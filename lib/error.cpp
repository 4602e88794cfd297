#include "kaa/error.hpp"

namespace kaa {

const char* error_code_name(ErrorCode code) noexcept {
    switch (code) {
        case ErrorCode::ok: return "ok";
        case ErrorCode::invalid_argument: return "invalid_argument";
        case ErrorCode::io: return "io";
        case ErrorCode::invalid_file: return "invalid_file";
        case ErrorCode::unsupported: return "unsupported";
        case ErrorCode::invalid_model: return "invalid_model";
        case ErrorCode::invalid_state: return "invalid_state";
        case ErrorCode::state_mismatch: return "state_mismatch";
        case ErrorCode::out_of_memory: return "out_of_memory";
        case ErrorCode::cancelled: return "cancelled";
        case ErrorCode::invalid_token: return "invalid_token";
        case ErrorCode::template_error: return "template_error";
        case ErrorCode::internal: return "internal";
    }
    return "unknown";
}

}  // namespace kaa
