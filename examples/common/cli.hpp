// cli.hpp — the few helpers the command-line tools share: argument scanning and
// running main() so that a kaa::Error becomes a message and exit code 1, never a crash.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <string>
#include <vector>

#include "kaa/error.hpp"

namespace kaa::cli {

struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Sequential reader over argv with typed getters for option values.
class Args {
public:
    Args(int argc, char** argv) : args_(argv + 1, argv + argc) {}
    bool done() const { return i_ >= args_.size(); }
    const std::string& next() { return args_[i_++]; }
    // The value following option `opt`.
    std::string value(const std::string& opt) {
        if (done()) throw UsageError("option " + opt + " needs a value");
        return next();
    }
    long long integer(const std::string& opt, long long lo, long long hi) {
        const std::string v = value(opt);
        char* end = nullptr;
        const long long x = std::strtoll(v.c_str(), &end, 10);
        if (v.empty() || *end != '\0' || x < lo || x > hi)
            throw UsageError("option " + opt + " needs an integer in [" + std::to_string(lo) + ", " +
                             std::to_string(hi) + "], got '" + v + "'");
        return x;
    }
    double real(const std::string& opt) {
        const std::string v = value(opt);
        char* end = nullptr;
        const double x = std::strtod(v.c_str(), &end);
        if (v.empty() || *end != '\0') throw UsageError("option " + opt + " needs a number, got '" + v + "'");
        return x;
    }

private:
    std::vector<std::string> args_;
    size_t i_ = 0;
};

// Runs body(); prints usage on UsageError (exit 2), the message on kaa::Error or any
// other exception (exit 1).
inline int run(const char* usage, const std::function<int()>& body) {
    try {
        return body();
    } catch (const UsageError& e) {
        std::fprintf(stderr, "error: %s\n\n%s", e.what(), usage);
        return 2;
    } catch (const kaa::Error& e) {
        std::fprintf(stderr, "error (%s): %s\n", kaa::error_code_name(e.code()), e.what());
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
}

}  // namespace kaa::cli
