// c_api.hpp — shared plumbing of the C ABI implementation (private to bindings/c).
//
// The C ABI is a thin layer over the public C++ API: each handle is a struct holding the
// C++ object, and each function runs its body inside guard(), which turns every
// exception into a kaa_status plus a thread-local message. Nothing here includes
// internal library headers, so the C ABI exercises exactly what C++ users get.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "kaa/kaa.h"
#include "kaa/kaa.hpp"

// ---- handles ---------------------------------------------------------------------------

struct kaa_model {
    kaa::Model model;
    // Cached at load so the const accessors hand out pointers that live as long as the
    // handle and never allocate (a model may be read from many threads at once).
    std::string file_type;
    std::string chat_template;
    std::vector<std::string> meta_keys;
};
struct kaa_tokenizer {
    kaa::Tokenizer tok;
};
struct kaa_stream_decoder {
    kaa::StreamDecoder dec;
};
struct kaa_chat_template {
    kaa::ChatTemplate tmpl;
};
struct kaa_sampler {
    kaa::Sampler sampler;
};
struct kaa_state {
    kaa::State state;
};
struct kaa_session {
    kaa::Session session;
};
struct kaa_generation {
    kaa::GenerationResult result;
};
struct kaa_conversation {
    kaa::Conversation conv;
};

namespace kaa::capi {

// An error raised by the C layer itself (argument checks, buffer sizes); carries a C
// status directly, including the C-only KAA_ERR_BUFFER_TOO_SMALL.
struct CError {
    kaa_status status;
    std::string message;
};

[[noreturn]] inline void fail(kaa_status status, std::string message) {
    throw CError{status, std::move(message)};
}

// Records the message for kaa_last_error_message() and logs it; never throws.
kaa_status report(const char* function, kaa_status status, const char* message) noexcept;

// Sends one line to the user's log callback, if any; never throws.
void log_line(kaa_log_level level, const char* message) noexcept;

kaa_status status_of(kaa::ErrorCode code) noexcept;

// Runs body() and converts whatever it throws into a status. Every exported function
// goes through here, so no exception ever crosses the C boundary.
template <class F>
kaa_status guard(const char* function, F&& body) noexcept {
    try {
        body();
        return KAA_OK;
    } catch (const CError& e) {
        return report(function, e.status, e.message.c_str());
    } catch (const kaa::Error& e) {
        return report(function, status_of(e.code()), e.what());
    } catch (const std::bad_alloc&) {
        return report(function, KAA_ERR_OUT_OF_MEMORY, "out of memory");
    } catch (const std::exception& e) {
        return report(function, KAA_ERR_INTERNAL, e.what());
    } catch (...) {
        return report(function, KAA_ERR_INTERNAL, "unknown exception (from a callback?)");
    }
}

// ---- argument checks -------------------------------------------------------------------

template <class T>
T& need(T* p, const char* what) {
    if (!p) fail(KAA_ERR_INVALID_ARGUMENT, std::string(what) + " is NULL");
    return *p;
}

inline const char* need_str(const char* s, const char* what) {
    if (!s) fail(KAA_ERR_INVALID_ARGUMENT, std::string(what) + " is NULL");
    return s;
}

// ---- versioned structs -------------------------------------------------------------------
//
// A field is read (or written) only when it lies wholly inside the caller's struct_size.
// This is exact as long as every field added in a later version starts at or after the
// sizeof of the version before it (see the maintainer note in kaa.h).

// Bytes of a struct's first published version: up to the end of its last v1 field.
// (A member name cannot be parenthesized; sizeof of the member's type, not of a pointer
// expression, is what is meant.)
#define KAA_V1_SIZE(T, last_field) (offsetof(T, last_field) + sizeof(decltype(static_cast<T*>(nullptr)->last_field))) // NOLINT(bugprone-macro-parentheses)

// Rejects a struct_size that cannot be a version of the struct; returns it.
inline uint32_t check_struct_size(uint32_t struct_size, size_t v1_size, const char* what) {
    if (struct_size < v1_size)
        fail(KAA_ERR_INVALID_ARGUMENT,
             std::string(what) + ".struct_size is " + std::to_string(struct_size) +
                 ", smaller than any version of the struct (" + std::to_string(v1_size) +
                 " bytes); initialize it from the kaa_*_default_params() function");
    // A value this large is an uninitialized struct, not a future version.
    if (struct_size > 65536)
        fail(KAA_ERR_INVALID_ARGUMENT, std::string(what) + ".struct_size is " + std::to_string(struct_size) +
                                           ": the struct looks uninitialized");
    return struct_size;
}

// kaa_*_params_init: the library's defaults for a caller whose struct has `size` bytes —
// the fields that fit, zeros past the ones this library knows, struct_size = size.
template <class T>
void init_params(T* out, size_t size, size_t v1_size, const T& defaults, const char* what) {
    if (!out) fail(KAA_ERR_INVALID_ARGUMENT, std::string(what) + " is NULL");
    check_struct_size(uint32_t(std::min<size_t>(size, 1u << 20)), v1_size, what);
    std::memset(static_cast<void*>(out), 0, size);
    std::memcpy(static_cast<void*>(out), &defaults, std::min(size, sizeof(T)));
    out->struct_size = uint32_t(size);
}

#define KAA_FIELD_FITS(T, field, size) (offsetof(T, field) + sizeof(decltype(static_cast<T*>(nullptr)->field)) <= (size)) // NOLINT(bugprone-macro-parentheses)
// out.field = in->field when the caller's struct has it.
#define KAA_READ_FIELD(T, out, in, field) \
    do {                                  \
        if (KAA_FIELD_FITS(T, field, (in)->struct_size)) (out).field = (in)->field; \
    } while (0)
// out->field = value when the caller's struct has room for it.
#define KAA_WRITE_FIELD(T, out, field, value) \
    do {                                      \
        if (KAA_FIELD_FITS(T, field, (out)->struct_size)) (out)->field = (value); \
    } while (0)

// ---- buffer protocol (see kaa.h) --------------------------------------------------------

// Checks the caller's buffer arguments before any work is done.
template <class T>
void check_buffer(const T* buf, size_t capacity, const size_t* n_out) {
    if (!n_out) fail(KAA_ERR_INVALID_ARGUMENT, "the size out-parameter is NULL");
    if (!buf && capacity) fail(KAA_ERR_INVALID_ARGUMENT, "buffer is NULL but capacity is not 0");
}

// Delivers n elements (text: n bytes + NUL). Returns true when they were written, false
// for a size query; throws KAA_ERR_BUFFER_TOO_SMALL when they do not fit.
template <class T>
bool deliver(const T* src, size_t n, T* buf, size_t capacity, size_t* n_out, bool text) {
    check_buffer(buf, capacity, n_out);
    *n_out = n;
    if (!buf) return false;
    const size_t need = text ? n + 1 : n;
    if (capacity < need) {
        if (text && capacity) buf[0] = T(0);
        fail(KAA_ERR_BUFFER_TOO_SMALL, "buffer too small: " + std::to_string(need) + " elements needed, capacity " +
                                           std::to_string(capacity));
    }
    if (n) std::memcpy(buf, src, n * sizeof(T));
    if (text) buf[n] = T(0);
    return true;
}

inline bool deliver_text(const std::string& s, char* buf, size_t capacity, size_t* length) {
    return deliver(s.data(), s.size(), buf, capacity, length, true);
}

// ---- conversions shared by several files ------------------------------------------------

kaa::SamplerParams to_sampler_params(const kaa_sampler_params* p);
kaa::GenerationOptions to_generation_options(const kaa_generate_params* p);
// The stream callback of a kaa_generate_params as a C++ StreamCallback (empty when none).
kaa::StreamCallback to_stream_callback(const kaa_generate_params* p);

}  // namespace kaa::capi
