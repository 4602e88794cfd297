// consumer.cpp — a C++ program built against an installed kaa (scripts/consumer-check.sh).
//
// Usage: kaa-consumer-cpp MODEL.gguf
// Prints the same lines as consumer.c, through the C++ API: the greedy tokens come from
// Session::generate here and from an argmax loop there, so the two cross-check each other.
// It also catches a kaa::Error thrown inside libkaa.so, which works only if the library
// exports the exception's type information.
#include <kaa/kaa.hpp>

#include <cstdio>
#include <string>

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s MODEL.gguf\n", argv[0]);
        return 2;
    }
    try {
        try {
            kaa::Model::load(std::string(argv[1]) + ".does-not-exist");
            std::fprintf(stderr, "loading a missing file did not throw\n");
            return 1;
        } catch (const kaa::Error& e) {
            if (e.code() != kaa::ErrorCode::io) {
                std::fprintf(stderr, "expected an io error, got %s\n", kaa::error_code_name(e.code()));
                return 1;
            }
        }

        kaa::ModelParams mp;
        mp.n_threads = 2;
        mp.precision = kaa::Precision::exact;  // logits within 1e-3 of the goldens
        const kaa::Model model = kaa::Model::load(argv[1], mp);
        std::printf("n_vocab: %d\n", model.n_vocab());

        const std::vector<kaa::Token> prompt = model.tokenizer().encode("Hello how are you?");
        std::printf("tokens:");
        for (kaa::Token t : prompt) std::printf(" %d", t);
        std::printf("\n");

        kaa::Session session(model);
        kaa::GenerationOptions opts;
        opts.max_tokens = 8;
        opts.sampler.temperature = 0;  // greedy
        opts.ignore_eos = true;
        const kaa::GenerationResult res = session.generate(prompt, opts);
        std::printf("greedy:");
        for (kaa::Token t : res.tokens) std::printf(" %d", t);
        std::printf("\n");
        std::printf("bytes: %zu\n", model.tokenizer().decode(res.tokens).size());
        return 0;
    } catch (const kaa::Error& e) {
        std::fprintf(stderr, "kaa error (%s): %s\n", kaa::error_code_name(e.code()), e.what());
        return 1;
    }
}
