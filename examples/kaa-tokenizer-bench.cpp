// kaa-tokenizer-bench — tokenizer throughput on one thread.
//
//   kaa-tokenizer-bench -m GGUF [-f FILE] [--mb N] [--reps R] [--save FILE]
//
// Without -f it generates N MiB (default 4) of mixed text: English prose, C-like code,
// numbers, non-Latin scripts and emoji, runs of white space. It reports encode speed
// for the whole text in one call and in 4 KiB calls (each call starts with an empty
// word cache, like short chat prompts), and decode speed; best of R repetitions. Speeds
// are given per second of wall time and per second of this thread's CPU time (the
// second is steadier on a busy machine).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>
#include <time.h>

#include "common/cli.hpp"
#include "kaa/tokenizer.hpp"

static const char* kUsage =
    "usage: kaa-tokenizer-bench -m GGUF [-f FILE] [--mb N] [--reps R] [--save FILE]\n"
    "  -f FILE   tokenize this file instead of generated text\n"
    "  --mb N    MiB of generated text (default 4)\n"
    "  --reps R  repetitions, the best is reported (default 3)\n"
    "  --save F  also write the text to F (to compare with other tokenizers)\n";

namespace {

const char* const kWords[] = {
    "the", "of", "and", "to", "in", "is", "was", "that", "for", "on", "with", "as", "by", "at",
    "from", "state", "space", "model", "selective", "recurrent", "token", "sequence", "memory",
    "layer", "attention", "scan", "hardware", "efficient", "language", "training", "inference",
    "throughput", "latency", "context", "length", "parameters", "billion", "architecture",
    "convolution", "projection", "gradient", "optimizer", "benchmark", "dataset", "evaluation",
    "although", "however", "because", "therefore", "nevertheless", "approximately", "significantly",
    "Falcon", "Mamba", "Transformer", "GPU", "CPU", "researchers", "engineers", "results", "we",
    "they", "it", "this", "these", "which", "would", "could", "should", "might", "must", "can't",
    "don't", "it's", "we're", "they've", "I'll", "you'd", "naïve", "café", "résumé", "façade",
};
const char* const kUnicode[] = {
    "東京は日本の首都です。", "我想在苹果公司工作。", "Привет, как дела?", "Ελληνικά κείμενα",
    "안녕하세요 세계", "مرحبا بالعالم", "नमस्ते दुनिया", "ភាសាខ្មែរ", "🦙🚀😶‍🌫️✅", "Füße und Größe",
    "Tiếng Việt có dấu", "½ ¾ ² ³ €100 £5 ¥300", "— “quoted” ‘text’ …",
};
const char* const kIdents[] = {"i", "n", "sum", "buf", "len", "x", "y", "state", "dt", "A", "B", "C", "ctx",
                               "tokens", "logits", "d_inner", "conv_state", "kMaxLen"};

std::string generate(size_t bytes, uint32_t seed) {
    std::mt19937 rng(seed);
    auto pick = [&](auto& arr) { return arr[rng() % (sizeof(arr) / sizeof(arr[0]))]; };
    std::string s;
    s.reserve(bytes + 1024);
    while (s.size() < bytes) {
        const unsigned kind = rng() % 10;
        if (kind < 5) {  // a paragraph of prose
            for (int sentence = 0, ns = 2 + int(rng() % 5); sentence < ns; ++sentence) {
                std::string w = pick(kWords);
                w[0] = char(std::toupper(static_cast<unsigned char>(w[0])));
                s += w;
                for (int k = 0, nw = 5 + int(rng() % 15); k < nw; ++k) {
                    s += ' ';
                    s += pick(kWords);
                    if (rng() % 12 == 0) s += ',';
                    if (rng() % 25 == 0) s += " " + std::to_string(rng() % 100000);
                }
                s += (rng() % 6 == 0) ? "? " : ". ";
            }
            s += "\n\n";
        } else if (kind < 7) {  // code
            const int indent = 4 * int(rng() % 3);
            for (int line = 0, nl = 3 + int(rng() % 8); line < nl; ++line) {
                s.append(size_t(indent + 4 * (line % 2)), ' ');
                const std::string a = pick(kIdents), b = pick(kIdents);
                switch (rng() % 4) {
                    case 0: s += "for (int " + a + " = 0; " + a + " < " + b + "; ++" + a + ") {"; break;
                    case 1: s += a + "[" + b + "] += " + std::to_string(rng() % 1000) + ".0f * " + b + ";"; break;
                    case 2: s += "if (" + a + " != nullptr && " + b + "->size() > 0x" + std::to_string(rng() % 4096) + ") return;"; break;
                    default: s += "// " + std::string(pick(kWords)) + " " + pick(kWords) + "\t" + pick(kWords); break;
                }
                s += '\n';
            }
            s += "}\n\n";
        } else if (kind < 8) {  // numbers
            for (int k = 0, nk = 5 + int(rng() % 10); k < nk; ++k) {
                s += std::to_string(rng() % 10000000) + "." + std::to_string(rng() % 1000);
                s += (k % 3 == 0) ? "\t" : " ";
                s += "2024-0" + std::to_string(1 + rng() % 9) + "-1" + std::to_string(rng() % 10) + " ";
            }
            s += '\n';
        } else if (kind < 9) {  // other scripts, emoji
            for (int k = 0, nk = 2 + int(rng() % 5); k < nk; ++k) {
                s += pick(kUnicode);
                s += ' ';
            }
            s += '\n';
        } else {  // white space runs
            s.append(size_t(1 + rng() % 12), ' ');
            s.append(size_t(1 + rng() % 3), '\n');
            s.append(size_t(rng() % 3), '\t');
        }
    }
    return s;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double thread_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

// Wall and CPU seconds of one run of f, keeping the best of each over repetitions.
struct Timing {
    double wall = 1e30, cpu = 1e30;
    template <class F>
    void run(F&& f) {
        const auto t0 = std::chrono::steady_clock::now();
        const double c0 = thread_cpu_seconds();
        f();
        cpu = std::min(cpu, thread_cpu_seconds() - c0);
        wall = std::min(wall, seconds_since(t0));
    }
    std::string mbps(size_t bytes) const {
        char buf[96];
        std::snprintf(buf, sizeof buf, "%6.1f MB/s wall, %6.1f MB/s cpu", double(bytes) / wall / 1e6,
                      double(bytes) / cpu / 1e6);
        return buf;
    }
};

}  // namespace

int main(int argc, char** argv) {
    return kaa::cli::run(kUsage, [&] {
        kaa::cli::Args args(argc, argv);
        std::string model, file, save;
        long long mb = 4, reps = 3;
        while (!args.done()) {
            const std::string a = args.next();
            if (a == "-m" || a == "--model") model = args.value(a);
            else if (a == "-f" || a == "--file") file = args.value(a);
            else if (a == "--mb") mb = args.integer(a, 1, 4096);
            else if (a == "--reps") reps = args.integer(a, 1, 1000);
            else if (a == "--save") save = args.value(a);
            else if (a == "-h" || a == "--help") { std::fputs(kUsage, stdout); return 0; }
            else throw kaa::cli::UsageError("unknown option '" + a + "'");
        }
        if (model.empty()) throw kaa::cli::UsageError("-m GGUF is required");
        std::string text;
        if (!file.empty()) {
            std::ifstream in(file, std::ios::binary);
            if (!in) throw kaa::Error(kaa::ErrorCode::io, "cannot open '" + file + "'");
            std::ostringstream ss;
            ss << in.rdbuf();
            text = ss.str();
        } else {
            text = generate(size_t(mb) << 20, 42);
        }
        if (!save.empty()) {
            std::ofstream out(save, std::ios::binary);
            if (!(out << text)) throw kaa::Error(kaa::ErrorCode::io, "cannot write '" + save + "'");
        }
        auto t0 = std::chrono::steady_clock::now();
        const kaa::Tokenizer tok = kaa::Tokenizer::from_file(model);
        std::printf("load:        %.1f ms (%d tokens, pre-tokenizer %s)\n", 1e3 * seconds_since(t0),
                    tok.n_vocab(), std::string(tok.pre_tokenizer()).c_str());
        const double mib = double(text.size()) / (1 << 20);
        std::printf("text:        %.2f MiB%s\n", mib, file.empty() ? " generated" : "");

        std::vector<kaa::Token> ids;
        Timing one, chunked, dec;
        size_t n_chunked = 0;
        constexpr size_t kChunk = 4096;
        for (long long r = 0; r < reps; ++r) {
            one.run([&] { ids = tok.encode(text); });
            chunked.run([&] {
                n_chunked = 0;
                for (size_t b = 0; b < text.size(); b += kChunk)
                    n_chunked += tok.encode(std::string_view(text).substr(b, kChunk)).size();
            });
            std::string back;
            dec.run([&] { back = tok.decode(ids); });
            if (back.size() > text.size())
                throw kaa::Error(kaa::ErrorCode::internal, "decode returned more bytes than encoded");
        }
        std::printf("tokens:      %zu (%.2f bytes/token)\n", ids.size(), double(text.size()) / double(ids.size()));
        std::printf("encode:      %s  (one call, %.2f Mtok/s cpu)\n", one.mbps(text.size()).c_str(),
                    double(ids.size()) / one.cpu / 1e6);
        std::printf("encode 4KiB: %s  (%zu calls, %zu tokens)\n", chunked.mbps(text.size()).c_str(),
                    (text.size() + kChunk - 1) / kChunk, n_chunked);
        std::printf("decode:      %s\n", dec.mbps(text.size()).c_str());
        const bool exact = tok.decode(ids) == text;
        std::printf("round trip:  %s\n", exact ? "exact" : "NOT exact (text has bytes without a token)");
        return 0;
    });
}
