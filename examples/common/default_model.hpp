// default_model.hpp — the model the tools use when none is given: $KAA_MODEL, else the
// shared tiny test model when ../shared is present, else a small synthetic model (random
// weights, a working byte-level tokenizer) built once into the user's cache folder.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <sys/stat.h>

#include "gguf/synth.hpp"

namespace kaa::cli {

inline bool file_exists(const std::string& p) {
    struct stat st {};
    return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// Returns a path to a usable model and says on `log` which one it picked.
inline std::string default_model_path(std::FILE* log) {
    if (const char* env = std::getenv("KAA_MODEL"); env && *env) return env;
#ifdef KAA_SHARED_DIR_DEFAULT
    const char* shared_env = std::getenv("KAA_SHARED_DIR");
    const std::string shared = shared_env && *shared_env ? shared_env : KAA_SHARED_DIR_DEFAULT;
    const std::string tiny = shared + "/models/tiny-falcon-mamba-q8_0.gguf";
    if (file_exists(tiny)) {
        std::fprintf(log, "[no -m given: using the tiny test model %s (random weights: expect noise)]\n", tiny.c_str());
        return tiny;
    }
#endif
    const char* xdg = std::getenv("XDG_CACHE_HOME");
    const char* home = std::getenv("HOME");
    std::string dir = xdg && *xdg ? std::string(xdg) + "/kaa" : std::string(home && *home ? home : "/tmp") + "/.cache/kaa";
    for (size_t i = 1; i <= dir.size(); ++i)  // mkdir -p
        if (i == dir.size() || dir[i] == '/') ::mkdir(dir.substr(0, i).c_str(), 0755);
    const std::string path = dir + "/kaa-demo-mamba-q8_0.gguf";
    if (!file_exists(path)) {
        gguf::SynthSpec spec;
        spec.d_model = 256;
        spec.n_layer = 4;
        spec.d_inner = 512;
        spec.dt_rank = 16;
        spec.tied = true;
        spec.type = gguf::TensorType::q8_0;
        spec.byte_vocab = true;
        spec.name = "kaa-demo (synthetic)";
        gguf::write_synth_model(spec, path);
    }
    std::fprintf(log, "[no -m given: using the built-in synthetic model %s (random weights: expect noise)]\n", path.c_str());
    return path;
}

}  // namespace kaa::cli
