// kaa-eval — evaluate a list of token ids and write the logits of every position.
//
//   kaa-eval -m MODEL --tokens 1,2,3 --logits OUT.f32 [--decode] [-t N]
//            [--state-in FILE] [--state-out FILE]
//
// OUT.f32 is float32 little endian, row-major [n_tokens x n_vocab].
#include <cstdio>
#include <fstream>
#include <sstream>

#include "common/cli.hpp"
#include "kaa/kaa.hpp"

static const char* kUsage =
    "usage: kaa-eval -m MODEL --tokens ID,ID,... [--logits OUT.f32] [--decode] [-t THREADS]\n"
    "                [--state-in FILE] [--state-out FILE]\n"
    "  Evaluates the tokens in one prefill (or one at a time with --decode) and writes the\n"
    "  logits of every position as float32 [n_tokens x n_vocab] to OUT.f32.\n"
    "  --state-in starts from a saved state; --state-out saves the final state.\n"
    "  Runs with Precision::exact (f32 activations: reference logits) unless --fast\n"
    "  (the library default: int8 activations for Q8_0 where the CPU has them).\n"
    "  Prints the argmax of the last position.\n";

static std::vector<kaa::Token> parse_tokens(const std::string& s) {
    std::vector<kaa::Token> out;
    std::stringstream ss(s);
    std::string item;
    while (std::getline(ss, item, ',')) {
        char* end = nullptr;
        const long long v = std::strtoll(item.c_str(), &end, 10);
        if (item.empty() || *end != '\0' || v < 0 || v > INT32_MAX)
            throw kaa::cli::UsageError("--tokens: '" + item + "' is not a token id");
        out.push_back(kaa::Token(v));
    }
    if (out.empty()) throw kaa::cli::UsageError("--tokens needs at least one id");
    return out;
}

int main(int argc, char** argv) {
    return kaa::cli::run(kUsage, [&] {
        kaa::cli::Args args(argc, argv);
        std::string model_path, logits_path, state_in, state_out;
        std::vector<kaa::Token> tokens;
        bool decode = false, fast = false;
        int threads = 0;
        while (!args.done()) {
            const std::string a = args.next();
            if (a == "-m" || a == "--model") model_path = args.value(a);
            else if (a == "--tokens") tokens = parse_tokens(args.value(a));
            else if (a == "--logits") logits_path = args.value(a);
            else if (a == "--decode") decode = true;
            else if (a == "--fast") fast = true;
            else if (a == "-t" || a == "--threads") threads = int(args.integer(a, 0, 1024));
            else if (a == "--state-in") state_in = args.value(a);
            else if (a == "--state-out") state_out = args.value(a);
            else if (a == "-h" || a == "--help") { std::fputs(kUsage, stdout); return 0; }
            else throw kaa::cli::UsageError("unknown option '" + a + "'");
        }
        if (model_path.empty()) throw kaa::cli::UsageError("-m MODEL is required");
        if (tokens.empty()) throw kaa::cli::UsageError("--tokens is required");

        kaa::ModelParams mp;
        mp.n_threads = threads;
        mp.precision = fast ? kaa::Precision::fast : kaa::Precision::exact;
        kaa::Model model = kaa::Model::load(model_path, mp);
        kaa::Session session(model);
        if (!state_in.empty()) session.set_state(kaa::State::load(state_in));

        const size_t V = size_t(model.n_vocab());
        std::vector<float> all;
        if (decode) {
            all.reserve(tokens.size() * V);
            for (kaa::Token t : tokens) {
                const auto& l = session.eval(&t, 1);
                all.insert(all.end(), l.begin(), l.end());
            }
        } else {
            kaa::EvalOptions eo;
            eo.all_logits = true;
            all = session.eval(tokens, eo);
        }
        if (!logits_path.empty()) {
            std::ofstream f(logits_path, std::ios::binary);
            f.write(reinterpret_cast<const char*>(all.data()), std::streamsize(all.size() * sizeof(float)));
            if (!f) throw kaa::Error(kaa::ErrorCode::io, "cannot write '" + logits_path + "'");
        }
        if (!state_out.empty()) session.state().save(state_out);

        const float* last = all.data() + (tokens.size() - 1) * V;
        size_t best = 0;
        for (size_t i = 1; i < V; ++i)
            if (last[i] > last[best]) best = i;
        std::printf("evaluated %zu tokens (%s), position %lld, argmax of last position: %zu (logit %.6f)\n",
                    tokens.size(), decode ? "decode" : "prefill", (long long)session.position(), best,
                    double(last[best]));
        return 0;
    });
}
