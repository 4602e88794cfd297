// kaa-synth — write a deterministic synthetic Mamba-1 GGUF model of any shape.
//
//   kaa-synth -o OUT.gguf [--type f32|f16|bf16|q8_0] [--d-model N] [--layers N]
//             [--d-inner N] [--d-state N] [--d-conv N] [--dt-rank N] [--vocab N]
//             [--untied] [--no-dt-b-c-rms] [--seed N] [--vocab-from GGUF]
//             [--falcon-7b-shape] [--threads N] [--name NAME]
//
// --falcon-7b-shape sets the falcon-mamba-7b layer shape (d_model 4096, d_inner 8192,
// d_state 16, dt_rank 256, vocab 65024, untied); options given after it override it.
// Example (the benchmark model): kaa-synth -o bench.gguf --falcon-7b-shape --layers 16 --type q8_0
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "gguf/synth.hpp"
#include "kaa/error.hpp"

namespace {

const char kUsage[] =
    "usage: kaa-synth -o OUT.gguf [--type f32|f16|bf16|q8_0] [--d-model N] [--layers N]\n"
    "                 [--d-inner N] [--d-state N] [--d-conv N] [--dt-rank N] [--vocab N]\n"
    "                 [--untied] [--no-dt-b-c-rms] [--seed N] [--vocab-from GGUF]\n"
    "                 [--falcon-7b-shape] [--threads N] [--name NAME]\n";

struct UsageError {
    std::string msg;
};

long long parse_int(const char* opt, const char* s, long long lo, long long hi) {
    char* end = nullptr;
    errno = 0;
    const long long v = std::strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
        throw UsageError{std::string(opt) + " expects an integer in [" + std::to_string(lo) +
                         ", " + std::to_string(hi) + "], got '" + s + "'"};
    return v;
}

}  // namespace

int main(int argc, char** argv) {
    using kaa::gguf::TensorType;
    kaa::gguf::SynthSpec spec;
    std::string out;
    try {
        for (int i = 1; i < argc; ++i) {
            const std::string a = argv[i];
            auto value = [&]() -> const char* {
                if (i + 1 >= argc) throw UsageError{a + " needs a value"};
                return argv[++i];
            };
            constexpr long long kBig = 1ll << 24;
            if (a == "-h" || a == "--help") {
                std::fputs(kUsage, stdout);
                return 0;
            } else if (a == "-o" || a == "--output") {
                out = value();
            } else if (a == "--type") {
                const std::string t = value();
                if (t == "f32") spec.type = TensorType::f32;
                else if (t == "f16") spec.type = TensorType::f16;
                else if (t == "bf16") spec.type = TensorType::bf16;
                else if (t == "q8_0") spec.type = TensorType::q8_0;
                else throw UsageError{"--type must be f32, f16, bf16 or q8_0, got '" + t + "'"};
            } else if (a == "--d-model") {
                spec.d_model = parse_int("--d-model", value(), 1, kBig);
            } else if (a == "--layers") {
                spec.n_layer = parse_int("--layers", value(), 1, 4096);
            } else if (a == "--d-inner") {
                spec.d_inner = parse_int("--d-inner", value(), 1, kBig);
            } else if (a == "--d-state") {
                spec.d_state = parse_int("--d-state", value(), 1, 4096);
            } else if (a == "--d-conv") {
                spec.d_conv = parse_int("--d-conv", value(), 1, 64);
            } else if (a == "--dt-rank") {
                spec.dt_rank = parse_int("--dt-rank", value(), 1, kBig);
            } else if (a == "--vocab") {
                spec.n_vocab = parse_int("--vocab", value(), 1, kBig);
            } else if (a == "--untied") {
                spec.tied = false;
            } else if (a == "--no-dt-b-c-rms") {
                spec.dt_b_c_rms = false;
            } else if (a == "--seed") {
                spec.seed = uint64_t(parse_int("--seed", value(), 0, (1ll << 62)));
            } else if (a == "--vocab-from") {
                spec.vocab_from = value();
            } else if (a == "--falcon-7b-shape") {
                spec = kaa::gguf::falcon_mamba_7b_shape(spec);
            } else if (a == "--threads") {
                spec.n_threads = int(parse_int("--threads", value(), 1, 256));
            } else if (a == "--name") {
                spec.name = value();
            } else {
                throw UsageError{"unknown option '" + a + "'"};
            }
        }
        if (out.empty()) throw UsageError{"missing -o OUT.gguf"};
    } catch (const UsageError& e) {
        std::fprintf(stderr, "kaa-synth: %s\n%s", e.msg.c_str(), kUsage);
        return 2;
    }

    try {
        const auto t0 = std::chrono::steady_clock::now();
        const kaa::gguf::Writer layout = kaa::gguf::synth_layout(spec);
        kaa::gguf::write_synth_model(spec, out);
        const double s =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::printf("kaa-synth: wrote %s (%zu tensors, %.1f MiB) in %.2f s\n", out.c_str(),
                    layout.tensors().size(), double(layout.file_size()) / (1 << 20), s);
    } catch (const kaa::Error& e) {
        std::fprintf(stderr, "kaa-synth: error (%s): %s\n", kaa::error_code_name(e.code()),
                     e.what());
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "kaa-synth: error: %s\n", e.what());
        return 1;
    }
    return 0;
}
