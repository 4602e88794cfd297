// kaa-cli — generate text or chat with a Mamba model, with llama-cli's flags.
//
//   kaa-cli -m MODEL -p "Hello how are you?" -n 64 --temp 0
//   kaa-cli -m MODEL --chat [--system TEXT] [--state-load F] [--state-save F]
//
// Without -m it uses $KAA_MODEL, else ../shared's tiny model when present, else a small
// synthetic model it builds (random weights: the text is noise, but every stage runs).
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#if defined(_WIN32)
#  include <io.h>
#  define KAA_ISATTY(fd) _isatty(fd)
#else
#  include <unistd.h>
#  define KAA_ISATTY(fd) isatty(fd)
#endif

#include "common/cli.hpp"
#include "common/default_model.hpp"
#include "kaa/kaa.hpp"

static const char* kUsage =
    "usage: kaa-cli [-m MODEL] [-p PROMPT | -f FILE] [options]\n"
    "  -m, --model FILE        GGUF model (default: $KAA_MODEL, else a small built-in model)\n"
    "  -p, --prompt TEXT       prompt (in --chat: the first user message)\n"
    "  -f, --file FILE         read the prompt from a file\n"
    "  -n, --n-predict N       tokens to generate (default 128; in chat, per reply)\n"
    "  -t, --threads N         threads (default: all cores)\n"
    "  --temp T                temperature (default 0.8; 0 = greedy)\n"
    "  --top-k N               (default 40; 0 = off)\n"
    "  --top-p P               (default 0.95; 1 = off)\n"
    "  --min-p P               (default 0.05; 0 = off)\n"
    "  --repeat-penalty R      (default 1.0 = off)\n"
    "  --repeat-last-n N       penalty window (default 64)\n"
    "  --seed N                RNG seed (default: random)\n"
    "  -c, --chat              chat with the model's template: interactive on a terminal,\n"
    "                          one user turn per input line when piped\n"
    "  --system TEXT           system message for --chat\n"
    "  --state-load FILE       resume from a state saved with --state-save\n"
    "  --state-save FILE       save the state (and the chat history) at the end\n"
    "  --exact                 f32 activations everywhere (reference logits; slower on Q8_0)\n"
    "  --verbose               print timings and settings to stderr\n";

namespace {

struct Options {
    std::string model, prompt, system, state_load, state_save;
    bool have_prompt = false, chat = false, verbose = false, exact = false;
    int threads = 0;
    kaa::GenerationOptions gen;
};

Options parse(int argc, char** argv) {
    Options o;
    o.gen.max_tokens = 128;
    kaa::cli::Args a(argc, argv);
    while (!a.done()) {
        const std::string k = a.next();
        if (k == "-m" || k == "--model") o.model = a.value(k);
        else if (k == "-p" || k == "--prompt") o.prompt = a.value(k), o.have_prompt = true;
        else if (k == "-f" || k == "--file") {
            const std::string path = a.value(k);
            std::ifstream f(path, std::ios::binary);
            if (!f) throw kaa::Error(kaa::ErrorCode::io, "cannot open prompt file '" + path + "'");
            std::stringstream ss;
            ss << f.rdbuf();
            o.prompt = ss.str();
            o.have_prompt = true;
        }
        else if (k == "-n" || k == "--n-predict") o.gen.max_tokens = int32_t(a.integer(k, 0, 1 << 24));
        else if (k == "-t" || k == "--threads") o.threads = int(a.integer(k, 0, 1024));
        else if (k == "--temp") o.gen.sampler.temperature = float(a.real(k));
        else if (k == "--top-k") o.gen.sampler.top_k = int32_t(a.integer(k, 0, 1 << 30));
        else if (k == "--top-p") o.gen.sampler.top_p = float(a.real(k));
        else if (k == "--min-p") o.gen.sampler.min_p = float(a.real(k));
        else if (k == "--repeat-penalty") o.gen.sampler.repeat_penalty = float(a.real(k));
        else if (k == "--repeat-last-n") o.gen.sampler.penalty_last_n = int32_t(a.integer(k, -1, 1 << 30));
        else if (k == "--seed") o.gen.sampler.seed = uint64_t(a.integer(k, 0, INT64_MAX));
        else if (k == "-c" || k == "--chat") o.chat = true;
        else if (k == "--system") o.system = a.value(k);
        else if (k == "--state-load") o.state_load = a.value(k);
        else if (k == "--state-save") o.state_save = a.value(k);
        else if (k == "--verbose") o.verbose = true;
        else if (k == "--exact") o.exact = true;
        else if (k == "-h" || k == "--help") {
            std::fputs(kUsage, stdout);
            std::exit(0);
        } else throw kaa::cli::UsageError("unknown option '" + k + "'");
    }
    return o;
}

bool print_piece(std::string_view piece) {
    std::fwrite(piece.data(), 1, piece.size(), stdout);
    std::fflush(stdout);
    return true;
}

void report(const Options& o, const kaa::GenerationResult& r) {
    if (!o.verbose) return;
    std::fprintf(stderr, "\n[prompt: %lld tokens, %.1f tok/s | generated: %lld tokens, %.1f tok/s | stop: %s]\n",
                 (long long)r.timings.n_prompt, r.timings.prompt_tokens_per_second(),
                 (long long)r.timings.n_generated, r.timings.generation_tokens_per_second(),
                 kaa::stop_reason_name(r.stop_reason));
}

int run_chat(const Options& o, kaa::Session& session, const kaa::State* loaded) {
    kaa::Conversation conv(session);
    if (loaded && !loaded->user_data().empty()) conv.restore(loaded->user_data());
    else if (!o.system.empty()) conv.add({"system", o.system});
    const bool interactive = KAA_ISATTY(0) != 0;
    auto turn = [&](const std::string& user) {
        const auto r = conv.reply(user, o.gen, print_piece);
        std::fputc('\n', stdout);
        std::fflush(stdout);
        report(o, r);
    };
    if (o.have_prompt) turn(o.prompt);
    std::string line;
    for (;;) {
        if (interactive) {
            std::fputs("> ", stdout);
            std::fflush(stdout);
        }
        if (!std::getline(std::cin, line)) break;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.empty()) continue;
        turn(line);
    }
    if (!o.state_save.empty()) {
        kaa::State st = session.state();
        st.set_user_data(conv.serialize());
        st.save(o.state_save);
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    return kaa::cli::run(kUsage, [&] {
        Options o = parse(argc, argv);
        if (o.model.empty()) o.model = kaa::cli::default_model_path(stderr);
        kaa::ModelParams mp;
        mp.n_threads = o.threads;
        mp.precision = o.exact ? kaa::Precision::exact : kaa::Precision::fast;
        const kaa::Model model = kaa::Model::load(o.model, mp);
        kaa::Session session(model);
        if (o.verbose)
            std::fprintf(stderr, "[model %s: %s, %d threads, backend %s]\n", model.name().c_str(),
                         model.file_type().c_str(), session.n_threads(), model.backend());

        std::optional<kaa::State> loaded;
        if (!o.state_load.empty()) {
            loaded = kaa::State::load(o.state_load);
            session.set_state(*loaded);
        }
        if (o.chat) return run_chat(o, session, loaded ? &*loaded : nullptr);

        if (!o.have_prompt && !loaded) throw kaa::cli::UsageError("give a prompt with -p or -f (or use --chat)");
        if (!loaded) print_piece(o.prompt);  // echo the prompt, as llama-cli does
        const auto r = session.generate(o.prompt, o.gen, print_piece);
        std::fputc('\n', stdout);
        report(o, r);
        if (!o.state_save.empty()) session.state().save(o.state_save);
        return 0;
    });
}
