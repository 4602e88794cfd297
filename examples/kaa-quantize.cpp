// kaa-quantize — rewrite a Mamba GGUF model with its weight matrices in another type.
//
//   kaa-quantize IN.gguf OUT.gguf TYPE [--threads N] [--quiet]
//
// TYPE is f32, f16, bf16 or q8_0. Conversions: F32/F16/BF16 -> F32/F16/BF16/Q8_0 and
// Q8_0 -> F32/F16. Norms, biases, ssm_a, ssm_d and ssm_conv1d.weight stay F32; under
// Q8_0 a matrix whose rows are not a multiple of 32 (ssm_dt.weight) becomes F16, as the
// llama.cpp converter does. All metadata is carried over (general.file_type updated).
// The input is memory-mapped and converted tensor by tensor in chunks of a few MiB, so
// memory stays small for any model size; OUT appears atomically when done.
// Progress goes to stderr; one summary line to stdout.
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "gguf/requantize.hpp"
#include "kaa/error.hpp"

namespace {

const char kUsage[] =
    "usage: kaa-quantize IN.gguf OUT.gguf TYPE [--threads N] [--quiet]\n"
    "  TYPE: f32, f16, bf16 or q8_0 (the type of the weight matrices)\n"
    "  conversions: F32/F16/BF16 -> F32/F16/BF16/Q8_0, Q8_0 -> F32/F16\n";

struct UsageError {
    std::string msg;
};

// One status line, rewritten in place ("\r"), at most ~10 times a second.
class ProgressLine {
public:
    explicit ProgressLine(bool enabled) : enabled_(enabled) {}
    void update(const kaa::gguf::RequantizeProgress& p) {
        if (!enabled_) return;
        const auto now = std::chrono::steady_clock::now();
        const bool done = p.tensor >= p.n_tensors;
        if (!done && p.tensor == last_tensor_ && now - last_ < std::chrono::milliseconds(100))
            return;
        last_ = now;
        last_tensor_ = p.tensor;
        const double pct = p.bytes_total ? 100.0 * double(p.bytes_done) / double(p.bytes_total) : 100.0;
        if (done) {
            std::fprintf(stderr, "\r[%zu/%zu] 100.0%%%-60s\n", p.n_tensors, p.n_tensors, "");
            open_ = false;
            return;
        }
        open_ = true;
        std::fprintf(stderr, "\r[%zu/%zu] %5.1f%%  %-36.36s %-4s -> %-4s", p.tensor + 1,
                     p.n_tensors, pct, p.info->name.c_str(),
                     kaa::gguf::tensor_type_name(p.info->type),
                     kaa::gguf::tensor_type_name(p.out_type));
        std::fflush(stderr);
    }

    // Ends an unfinished status line so an error message starts on a line of its own.
    void close() {
        if (open_) std::fputc('\n', stderr);
        open_ = false;
    }

private:
    bool enabled_;
    bool open_ = false;
    std::chrono::steady_clock::time_point last_{};
    size_t last_tensor_ = size_t(-1);
};

}  // namespace

int main(int argc, char** argv) {
    std::string in, out, type_name;
    kaa::gguf::RequantizeOptions opts;
    bool quiet = false;
    try {
        int positional = 0;
        for (int i = 1; i < argc; ++i) {
            const std::string a = argv[i];
            if (a == "-h" || a == "--help") {
                std::fputs(kUsage, stdout);
                return 0;
            } else if (a == "--quiet" || a == "-q") {
                quiet = true;
            } else if (a == "--threads" || a == "-t") {
                if (i + 1 >= argc) throw UsageError{a + " needs a value"};
                const char* s = argv[++i];
                char* end = nullptr;
                errno = 0;
                const long v = std::strtol(s, &end, 10);
                if (errno != 0 || end == s || *end != '\0' || v < 1 || v > 256)
                    throw UsageError{"--threads expects an integer in [1, 256], got '" +
                                     std::string(s) + "'"};
                opts.n_threads = int(v);
            } else if (a.size() > 1 && a[0] == '-') {
                throw UsageError{"unknown option '" + a + "'"};
            } else {
                (positional == 0 ? in : positional == 1 ? out : type_name) = a;
                if (++positional > 3) throw UsageError{"unexpected argument '" + a + "'"};
            }
        }
        if (positional < 3) throw UsageError{"expected IN.gguf OUT.gguf TYPE"};
        const auto t = kaa::gguf::parse_tensor_type(type_name);
        if (!t) throw UsageError{"TYPE must be f32, f16, bf16 or q8_0, got '" + type_name + "'"};
        opts.type = *t;
    } catch (const UsageError& e) {
        std::fprintf(stderr, "kaa-quantize: %s\n%s", e.msg.c_str(), kUsage);
        return 2;
    }

    ProgressLine line(!quiet);
    opts.progress = [&](const kaa::gguf::RequantizeProgress& p) { line.update(p); };
    try {
        const auto t0 = std::chrono::steady_clock::now();
        const kaa::gguf::RequantizeStats s = kaa::gguf::requantize_file(in, out, opts);
        const double sec =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::printf("kaa-quantize: wrote %s (%s): %zu tensors (%zu converted, %zu copied), "
                    "%.1f MiB -> %.1f MiB in %.2f s\n",
                    out.c_str(), kaa::gguf::tensor_type_name(opts.type), s.n_tensors,
                    s.n_converted, s.n_copied, double(s.bytes_in) / (1 << 20),
                    double(s.bytes_out) / (1 << 20), sec);
    } catch (const kaa::Error& e) {
        line.close();
        std::fprintf(stderr, "kaa-quantize: error (%s): %s\n", kaa::error_code_name(e.code()),
                     e.what());
        return 1;
    } catch (const std::exception& e) {
        line.close();
        std::fprintf(stderr, "kaa-quantize: error: %s\n", e.what());
        return 1;
    }
    return 0;
}
