// c_api_core.cpp — version, statuses, the per-thread error message and the log callback.
#include <cstdio>
#include <mutex>

#include "c_api.hpp"

#define KAA_STR2(x) #x
#define KAA_STR(x) KAA_STR2(x)

namespace kaa::capi {
namespace {

// kaa_status mirrors kaa::ErrorCode number for number; these fail to compile the day the
// two drift apart.
static_assert(int(KAA_OK) == int(ErrorCode::ok));
static_assert(int(KAA_ERR_INVALID_ARGUMENT) == int(ErrorCode::invalid_argument));
static_assert(int(KAA_ERR_IO) == int(ErrorCode::io));
static_assert(int(KAA_ERR_INVALID_FILE) == int(ErrorCode::invalid_file));
static_assert(int(KAA_ERR_UNSUPPORTED) == int(ErrorCode::unsupported));
static_assert(int(KAA_ERR_INVALID_MODEL) == int(ErrorCode::invalid_model));
static_assert(int(KAA_ERR_INVALID_STATE) == int(ErrorCode::invalid_state));
static_assert(int(KAA_ERR_STATE_MISMATCH) == int(ErrorCode::state_mismatch));
static_assert(int(KAA_ERR_OUT_OF_MEMORY) == int(ErrorCode::out_of_memory));
static_assert(int(KAA_ERR_CANCELLED) == int(ErrorCode::cancelled));
static_assert(int(KAA_ERR_INVALID_TOKEN) == int(ErrorCode::invalid_token));
static_assert(int(KAA_ERR_TEMPLATE) == int(ErrorCode::template_error));
static_assert(int(KAA_ERR_INTERNAL) == int(ErrorCode::internal));

// The message of the last failing call on this thread. A fixed-size buffer, so recording
// an error can never itself fail for lack of memory.
thread_local char t_last_error[2048] = "";

struct LogSink {
    std::mutex mu;
    kaa_log_callback callback = nullptr;
    void* user_data = nullptr;
};
// Function-local static: constructed on first use, so logging works during the static
// initialization of other translation units too.
LogSink& log_sink() {
    static LogSink sink;
    return sink;
}

}  // namespace

kaa_status status_of(ErrorCode code) noexcept {
    // The numbers coincide (checked above); a code added to the C++ enum before kaa.h
    // names it still arrives with its own number.
    return static_cast<kaa_status>(static_cast<int>(code));
}

void log_line(kaa_log_level level, const char* message) noexcept {
    kaa_log_callback cb = nullptr;
    void* ud = nullptr;
    try {
        std::lock_guard<std::mutex> lock(log_sink().mu);
        cb = log_sink().callback;
        ud = log_sink().user_data;
    } catch (...) {
        return;  // a mutex that cannot be locked: drop the line rather than fail the call
    }
    // Called outside the lock, so a callback may itself call into kaa (even set a new one).
    if (cb) cb(level, message, ud);
}

kaa_status report(const char* function, kaa_status status, const char* message) noexcept {
    std::snprintf(t_last_error, sizeof t_last_error, "%s: %s", function, message ? message : "");
    // A too-small buffer is a normal step of the size protocol, not worth an error line.
    log_line(status == KAA_ERR_BUFFER_TOO_SMALL ? KAA_LOG_DEBUG : KAA_LOG_ERROR, t_last_error);
    return status;
}

}  // namespace kaa::capi

using namespace kaa::capi;

extern "C" {

uint32_t kaa_version_number(void) KAA_NOEXCEPT { return KAA_VERSION_NUMBER; }

const char* kaa_version_string(void) KAA_NOEXCEPT {
    return KAA_STR(KAA_VERSION_MAJOR) "." KAA_STR(KAA_VERSION_MINOR) "." KAA_STR(KAA_VERSION_PATCH);
}

const char* kaa_status_name(kaa_status status) KAA_NOEXCEPT {
    if (status == KAA_ERR_BUFFER_TOO_SMALL) return "buffer_too_small";
    const char* name = kaa::error_code_name(static_cast<kaa::ErrorCode>(static_cast<int>(status)));
    return name ? name : "unknown";
}

const char* kaa_last_error_message(void) KAA_NOEXCEPT { return t_last_error; }

kaa_status kaa_set_log_callback(kaa_log_callback callback, void* user_data) KAA_NOEXCEPT {
    return guard("kaa_set_log_callback", [&] {
        std::lock_guard<std::mutex> lock(log_sink().mu);
        log_sink().callback = callback;
        log_sink().user_data = user_data;
    });
}

}  // extern "C"
