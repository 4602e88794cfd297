// kaa-info — print a model's metadata, tensor table and state size.
//
//   kaa-info -m MODEL [--all-keys]
#include <cstdio>

#include "common/cli.hpp"
#include "kaa/kaa.hpp"

static const char* kUsage =
    "usage: kaa-info -m MODEL [--all-keys]\n"
    "  Prints hyperparameters, metadata, the tensor table (name, type, shape) and the\n"
    "  size of a session's state. --all-keys also lists tokenizer.* arrays' sizes.\n";

int main(int argc, char** argv) {
    return kaa::cli::run(kUsage, [&] {
        kaa::cli::Args args(argc, argv);
        std::string path;
        bool all_keys = false;
        while (!args.done()) {
            const std::string a = args.next();
            if (a == "-m" || a == "--model") path = args.value(a);
            else if (a == "--all-keys") all_keys = true;
            else if (a == "-h" || a == "--help") { std::fputs(kUsage, stdout); return 0; }
            else throw kaa::cli::UsageError("unknown option '" + a + "'");
        }
        if (path.empty()) throw kaa::cli::UsageError("-m MODEL is required");
        const kaa::Model model = kaa::Model::load(path);
        const kaa::HParams& h = model.hparams();
        std::printf("model:         %s\n", model.name().c_str());
        std::printf("architecture:  %s\n", model.architecture().c_str());
        std::printf("weights:       %s (%.2f MiB read per token)\n", model.file_type().c_str(),
                    double(model.weight_bytes()) / (1 << 20));
        std::printf("n_vocab %lld, d_model %lld, n_layer %lld, d_inner %lld, d_state %lld, d_conv %lld, dt_rank %lld\n",
                    (long long)h.n_vocab, (long long)h.d_model, (long long)h.n_layer, (long long)h.d_inner,
                    (long long)h.d_state, (long long)h.d_conv, (long long)h.dt_rank);
        std::printf("rms_eps %g, dt_b_c_rms %s, tied embeddings %s\n", double(h.rms_eps),
                    h.dt_b_c_rms ? "yes" : "no", h.tied_embeddings ? "yes" : "no");
        std::printf("state size:    %llu bytes (%.2f MiB)\n", (unsigned long long)model.state_size(),
                    double(model.state_size()) / (1 << 20));
        std::printf("fingerprint:   %016llx\n", (unsigned long long)model.fingerprint());
        std::printf("cpu backend:   %s\n", model.backend());
        if (model.has_tokenizer()) {
            const kaa::Tokenizer& tok = model.tokenizer();
            std::printf("tokenizer:     %d tokens, bos %d, eos %d\n", tok.n_vocab(), tok.bos(), tok.eos());
        } else {
            std::printf("tokenizer:     none\n");
        }
        std::printf("\nmetadata:\n");
        for (const std::string& key : model.meta_keys()) {
            if (!all_keys && key.rfind("tokenizer.ggml.", 0) == 0 && key != "tokenizer.ggml.model" &&
                key != "tokenizer.ggml.pre" && key.find("_id") == std::string::npos)
                continue;
            std::string v = model.meta(key).value_or("");
            if (v.size() > 120) v = v.substr(0, 117) + "...";
            for (char& c : v)
                if (c == '\n') c = ' ';
            std::printf("  %-44s %s\n", key.c_str(), v.c_str());
        }
        std::printf("\ntensors:\n");
        for (const kaa::TensorDesc& t : model.tensors()) {
            std::string shape;
            for (size_t i = 0; i < t.shape.size(); ++i) shape += (i ? " x " : "") + std::to_string(t.shape[i]);
            std::printf("  %-28s %-5s %-20s %12llu bytes\n", t.name.c_str(), t.type.c_str(), shape.c_str(),
                        (unsigned long long)t.n_bytes);
        }
        return 0;
    });
}
