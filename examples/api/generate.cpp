// generate.cpp — the C++ API in one program: load a model, stream generated text, then
// fork a conversation into two continuations that share everything said before.
//
// Usage: generate MODEL.gguf [PROMPT]
//
// Forking is cheap because a Mamba Session's whole memory of the text is its State, a
// few MiB whatever the length: Session::fork() copies it, nothing is re-evaluated.
// The program checks what it shows and exits 1 if something does not hold:
//   - the streamed pieces add up to the generated text;
//   - a branch replayed on another fork of the same point gives the same reply, token
//     for token (same state + same seed = same text).
#include <kaa/kaa.hpp>

#include <cstdio>
#include <string>
#include <string_view>

namespace {

// Prints each piece as soon as it is complete UTF-8; returning false would stop early.
bool print_piece(std::string_view piece) {
    std::fwrite(piece.data(), 1, piece.size(), stdout);
    std::fflush(stdout);
    return true;
}

kaa::GenerationOptions sampling(uint64_t seed) {
    kaa::GenerationOptions opts;
    opts.max_tokens = 24;
    opts.sampler.temperature = 0.7f;
    opts.sampler.seed = seed;  // fixed: the run is reproducible (kaa::kRandomSeed: not)
    return opts;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2 || argc > 3) {
        std::fprintf(stderr, "usage: %s MODEL.gguf [PROMPT]\n", argv[0]);
        return 2;
    }
    const std::string prompt = argc > 2 ? argv[2] : "Once upon a time";
    try {
        kaa::ModelParams mp;
        mp.n_threads = 2;  // 0 would use every hardware thread
        const kaa::Model model = kaa::Model::load(argv[1], mp);
        std::printf("model %s (%s, %s), backend %s, state %.1f KiB\n", model.name().c_str(),
                    model.architecture().c_str(), model.file_type().c_str(), model.backend(),
                    double(model.state_size()) / 1024.0);

        // ---- 1. plain generation, streamed -----------------------------------------------
        kaa::Session session(model);
        std::printf("\n== generate\n%s", prompt.c_str());
        std::string streamed;
        const kaa::GenerationResult res =
            session.generate(prompt, sampling(1), [&](std::string_view piece) {
                streamed += piece;
                return print_piece(piece);
            });
        std::printf("\n-- %lld prompt + %lld generated tokens, %.1f tok/s; session at position %lld\n",
                    (long long)res.timings.n_prompt, (long long)res.timings.n_generated,
                    res.timings.generation_tokens_per_second(), (long long)session.position());
        // Streaming holds back only unfinished UTF-8: the pieces add up to the result.
        if (streamed != res.text) {
            std::fprintf(stderr, "the streamed pieces differ from the generated text\n");
            return 1;
        }

        // ---- 2. a conversation, forked ---------------------------------------------------
        // Conversation renders the model's chat template and feeds only the new text.
        kaa::Session root(model);
        kaa::Conversation chat(root);
        chat.add({"system", "You are a storyteller."});
        std::printf("\n== conversation\n[user] Tell me about a lighthouse keeper.\n[assistant] ");
        chat.reply("Tell me about a lighthouse keeper.", sampling(2), print_piece);

        // The fork point: a second Session with a copy of the state, and a Conversation
        // that continues from the same messages. A third one replays branch A as a check.
        kaa::Session alt = root.fork();
        kaa::Conversation alt_chat(alt);
        alt_chat.restore(chat.serialize());
        kaa::Session replay = root.fork();
        kaa::Conversation replay_chat(replay);
        replay_chat.restore(chat.serialize());
        std::printf("\n-- forked at position %lld (%zu messages)\n", (long long)root.position(),
                    chat.messages().size());

        std::printf("\n== branch A\n[user] Make it funny.\n[assistant] ");
        const std::string a = chat.reply("Make it funny.", sampling(3), print_piece).text;
        std::printf("\n\n== branch B\n[user] Make it sad.\n[assistant] ");
        alt_chat.reply("Make it sad.", sampling(3), print_piece);
        std::printf("\n");

        const std::string again = replay_chat.reply("Make it funny.", sampling(3)).text;
        std::printf("\n-- branch A replayed on another fork: %s\n", again == a ? "identical" : "DIFFERENT");
        std::printf("-- branch A at position %lld, branch B at %lld\n", (long long)root.position(),
                    (long long)alt.position());
        return again == a ? 0 : 1;
    } catch (const kaa::Error& e) {
        std::fprintf(stderr, "error (%s): %s\n", kaa::error_code_name(e.code()), e.what());
        return 1;
    }
}
