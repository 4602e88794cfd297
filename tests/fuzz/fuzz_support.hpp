// fuzz_support.hpp — what the fuzz targets (and the corpus writer) share: the tiny
// models they run inputs on, scratch files, the shared test data, and the checks that
// turn a broken guarantee into a crash libFuzzer can report.
//
// A target must never crash on hostile input: kaa reports bad input as kaa::Error, so
// targets catch exactly that. Anything else escaping (std::bad_alloc from a forged
// count, std::out_of_range, ...), a sanitizer report, or a failed KAA_FUZZ_CHECK is a
// real bug.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

#include "gguf/synth.hpp"
#include "kaa/model.hpp"

namespace kaa::fuzz {

// A property the library documents does not hold: print it and abort, so that libFuzzer
// saves the input as a crash.
[[noreturn]] inline void fail(const char* what, const char* file, int line) {
    std::fprintf(stderr, "KAA_FUZZ_CHECK failed: %s (%s:%d)\n", what, file, line);
    std::abort();
}
#define KAA_FUZZ_CHECK(cond) \
    do {                     \
        if (!(cond)) ::kaa::fuzz::fail(#cond, __FILE__, __LINE__); \
    } while (0)

// Keeps reads whose only purpose is to let ASan see them from being optimized away.
inline volatile size_t g_sink = 0;
inline void consume(size_t v) { g_sink = g_sink + v; }

// A path for per-process scratch files: tmpfs (/dev/shm) when there is one, so that
// writing a model per input costs no disk I/O.
inline std::string scratch_path(const std::string& tag) {
    struct stat st {};
    const std::string dir = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp";
    return dir + "/kaa-fuzz-" + tag + "-" + std::to_string(long(getpid()));
}

// A scratch file removed when the process ends normally (a crashing run leaves it: it
// is named after the process, so nothing else picks it up).
struct ScratchFile {
    std::string path;
    explicit ScratchFile(const std::string& tag) : path(scratch_path(tag)) {}
    ~ScratchFile() { unlink(path.c_str()); }
    ScratchFile(const ScratchFile&) = delete;
    ScratchFile& operator=(const ScratchFile&) = delete;
};

inline void write_file(const std::string& path, const uint8_t* data, size_t size) {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) {
        std::perror(path.c_str());
        std::abort();  // the harness cannot work at all: not the input's fault
    }
    if (size && std::fwrite(data, 1, size, f) != size) std::abort();
    std::fclose(f);
}

// shared/ file (KAA_SHARED_DIR from the environment, else the CMake default), or ""
// when it does not exist. Targets fall back to synthetic data without it.
inline std::string shared_file(const std::string& rel) {
    const char* env = std::getenv("KAA_SHARED_DIR");
#ifdef KAA_SHARED_DIR_DEFAULT
    const std::string dir = env && *env ? env : KAA_SHARED_DIR_DEFAULT;
#else
    const std::string dir = env && *env ? env : "";
#endif
    if (dir.empty()) return "";
    const std::string path = dir + "/" + rel;
    struct stat st {};
    return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) ? path : "";
}

// The tiny models the state and C-ABI targets run inputs on. Their fingerprints are
// baked into the seed corpora (tests/fuzz/make_corpus.cpp), so changing a spec means
// regenerating the corpus.
inline gguf::SynthSpec tiny_spec(gguf::TensorType type) {
    gguf::SynthSpec s;
    s.d_model = 32;  // Q8_0 rows need a multiple of 32
    s.n_layer = 2;
    s.d_inner = 64;
    s.d_state = 4;
    s.d_conv = 4;
    s.dt_rank = 4;
    s.tied = type == gguf::TensorType::f32;
    s.type = type;
    s.byte_vocab = true;  // a working tokenizer, so generation and chat run
    s.seed = 7;
    s.n_threads = 1;
    s.name = "fuzz-tiny";
    return s;
}

// Writes the tiny model once per process and loads it.
inline Model load_tiny_model(gguf::TensorType type, std::string* path_out = nullptr) {
    const std::vector<uint8_t> bytes = gguf::synth_model_bytes(tiny_spec(type));
    const std::string path = scratch_path(std::string("tiny-") + gguf::tensor_type_name(type)) + ".gguf";
    write_file(path, bytes.data(), bytes.size());
    ModelParams p;
    p.n_threads = 1;
    Model m = Model::load(path, p);
    if (path_out) *path_out = path;
    else unlink(path.c_str());  // the mapping keeps the data alive
    return m;
}

// True when s is well-formed UTF-8 (no overlongs, surrogates or code points > U+10FFFF).
inline bool valid_utf8(std::string_view s) {
    size_t i = 0;
    const size_t n = s.size();
    while (i < n) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            ++i;
            continue;
        }
        size_t len;
        uint32_t cp;
        if (c >= 0xC2 && c <= 0xDF) len = 2, cp = c & 0x1Fu;
        else if (c >= 0xE0 && c <= 0xEF) len = 3, cp = c & 0x0Fu;
        else if (c >= 0xF0 && c <= 0xF4) len = 4, cp = c & 0x07u;
        else return false;
        if (n - i < len) return false;
        for (size_t k = 1; k < len; ++k) {
            const auto cc = static_cast<unsigned char>(s[i + k]);
            if ((cc & 0xC0u) != 0x80u) return false;
            cp = (cp << 6) | (cc & 0x3Fu);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += len;
    }
    return true;
}

// Reads fields off the front of a fuzz input; past the end everything reads as zero.
struct InputReader {
    const uint8_t* p;
    size_t n;
    size_t off = 0;

    bool empty() const { return off >= n; }
    size_t left() const { return off < n ? n - off : 0; }
    uint8_t u8() { return off < n ? p[off++] : 0; }
    uint32_t u32() {
        uint32_t v = 0;
        for (int i = 0; i < 4; ++i) v |= uint32_t(u8()) << (8 * i);
        return v;
    }
    // Bytes up to (not including) the next NUL, or the rest of the input.
    std::string_view until_nul() {
        const size_t b = std::min(off, n);
        size_t e = b;
        while (e < n && p[e] != 0) ++e;
        off = e < n ? e + 1 : n;
        return {reinterpret_cast<const char*>(p + b), e - b};
    }
    std::string_view rest() {
        const size_t b = std::min(off, n);
        off = n;
        return {reinterpret_cast<const char*>(p + b), n - b};
    }
};

}  // namespace kaa::fuzz
