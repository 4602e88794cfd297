// common.hpp — shared pieces of the _kaa extension module (pybind11 over the C++ API).
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#if PYBIND11_VERSION_MAJOR >= 3
#include <pybind11/native_enum.h>
#endif

#include <mutex>
#include <string>
#include <vector>

#include "kaa/kaa.hpp"

namespace kaa::py_bind {

namespace py = pybind11;

// A Session plus the lock that keeps two Python threads (or a streaming worker and the
// main thread) from using it at once: kaa::Session itself is not thread-safe, and a
// data race there would corrupt the state silently. Methods take the lock with
// try_lock and raise kaa.Error instead of blocking, so a forgotten stream shows up as an
// error rather than a hang.
struct PySession {
    kaa::Session session;
    std::mutex busy;
    explicit PySession(kaa::Session s) : session(std::move(s)) {}
};

class SessionLock {
public:
    explicit SessionLock(PySession& s);
    ~SessionLock() { lock_.unlock(); }
    SessionLock(const SessionLock&) = delete;
    SessionLock& operator=(const SessionLock&) = delete;

private:
    std::unique_lock<std::mutex> lock_;
};

// Token ids from a Python sequence of ints or a NumPy integer array; ids outside int32
// are refused as kaa.Error(invalid_token) rather than wrapped around.
std::vector<kaa::Token> to_tokens(py::handle obj);

// A float32 NumPy copy of `n` floats, shaped `shape`.
py::array_t<float> to_array(const float* data, const std::vector<py::ssize_t>& shape);

// UTF-8 bytes to str; invalid bytes become U+FFFD (decoded token ids may cut a character).
py::str utf8(const std::string& s);

void bind_types(py::module_& m);     // module.cpp: errors, State, Sampler, templates, ...
void bind_sessions(py::module_& m);  // session.cpp: Model, Session, Conversation, batch

}  // namespace kaa::py_bind
