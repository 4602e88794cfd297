#include "gguf/requantize.hpp"

#include <algorithm>
#include <cctype>
#include <thread>
#include <vector>

#include "gguf/quantize.hpp"
#include "gguf/synth.hpp"
#include "gguf/writer.hpp"
#include "kaa/error.hpp"

#ifndef _WIN32
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

namespace kaa::gguf {

namespace {

[[noreturn]] void unsupported(const std::string& msg) {
    throw Error(ErrorCode::unsupported, "requantize: " + msg);
}

// True when both paths name the same existing file (writing the output would replace the
// file being read).
bool same_file(const std::string& a, const std::string& b) {
#ifndef _WIN32
    struct stat sa, sb;
    if (::stat(a.c_str(), &sa) != 0 || ::stat(b.c_str(), &sb) != 0) return false;
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
#else
    return a == b;
#endif
}

// Drops the whole pages of [p, p + n) of a read-only file mapping from the resident set
// once they have been converted: without it, reading a 14 GiB model leaves 14 GiB resident
// (file-backed and reclaimable, but it looks like, and competes as, real memory). Pages
// touched again are simply read back from the file, so this is always safe.
void drop_pages(const uint8_t* p, uint64_t n) {
#ifndef _WIN32
    static const uintptr_t page = uintptr_t(::sysconf(_SC_PAGESIZE));
    const uintptr_t lo = (reinterpret_cast<uintptr_t>(p) + page - 1) / page * page;
    const uintptr_t hi = (reinterpret_cast<uintptr_t>(p) + n) / page * page;
    if (hi > lo) ::madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
#else
    (void)p;
    (void)n;
#endif
}

// Output bytes of `rows` rows per chunk: ~4 MiB of f32 scratch per thread at most, and
// at least one row.
uint64_t chunk_rows_for(uint64_t ne0) {
    return std::max<uint64_t>(1, (uint64_t(4) << 20) / (ne0 * sizeof(float)));
}

// Converts rows [0, n) of a chunk from `src` (type `from`) into `dst` (type `to`), spread
// over up to n_threads threads. Each thread has its own f32 row buffer.
void convert_rows(const uint8_t* src, TensorType from, uint8_t* dst, TensorType to,
                  uint64_t ne0, uint64_t n, unsigned n_threads) {
    const uint64_t rb_in = row_bytes(from, ne0), rb_out = row_bytes(to, ne0);
    auto work = [&](uint64_t a, uint64_t b) {
        std::vector<float> row(static_cast<size_t>(ne0));
        for (uint64_t r = a; r < b; ++r) {
            decode_row(from, src + r * rb_in, row.data(), int64_t(ne0));
            encode_row(to, row.data(), dst + r * rb_out, int64_t(ne0));
        }
    };
    // Threads only pay off for a chunk with real work in it (spawning costs ~50 us).
    const unsigned nt = unsigned(std::min<uint64_t>(n_threads, n * ne0 / 65536 + 1));
    if (nt <= 1) {
        work(0, n);
        return;
    }
    std::vector<std::thread> pool;
    pool.reserve(nt - 1);
    for (unsigned i = 1; i < nt; ++i) pool.emplace_back(work, n * i / nt, n * (i + 1) / nt);
    work(0, n / nt);
    for (auto& th : pool) th.join();
}

}  // namespace

std::optional<TensorType> parse_tensor_type(std::string_view name) {
    std::string s(name);
    for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
    if (s == "f32") return TensorType::f32;
    if (s == "f16") return TensorType::f16;
    if (s == "bf16") return TensorType::bf16;
    if (s == "q8_0") return TensorType::q8_0;
    return std::nullopt;
}

TensorType requantized_type(const std::string& name, uint64_t ne0, TensorType target) {
    // One rule for the whole project: the synthetic-model writer's, which mirrors the
    // llama.cpp converter's choices on the real model.
    SynthSpec spec;
    spec.type = target;
    return tensor_type_for(spec, name, ne0);
}

bool conversion_supported(TensorType from, TensorType to) noexcept {
    if (from == to || to == TensorType::f32) return true;
    if (from == TensorType::q8_0) return to == TensorType::f16;
    return true;  // F32 / F16 / BF16 -> F16 / BF16 / Q8_0
}

RequantizeStats requantize_file(const std::string& in, const std::string& out,
                                const RequantizeOptions& opts) {
    if (!is_supported_type(uint32_t(opts.type)))
        throw Error(ErrorCode::invalid_argument, "requantize: unknown target type");
    if (same_file(in, out))
        throw Error(ErrorCode::invalid_argument,
                    "requantize: the output '" + out + "' is the input file; write to another path");
    const File f = File::open(in);
    const std::optional<std::string> arch = f.get_string("general.architecture");
    if (arch != std::string("mamba"))
        unsupported("'" + in + "' has general.architecture '" + arch.value_or("(missing)") +
                    "'; only Mamba models (general.architecture = mamba) are handled, because "
                    "which tensors to quantize is decided by their Mamba tensor names");

    // Metadata: carried over in order, byte for byte; the layout keeps the input's
    // alignment so a general.alignment key stays true.
    Writer w;
    for (const std::string& k : f.keys()) w.set_value(k, *f.find(k));
    if (f.alignment() != kDefaultAlignment || f.find("general.alignment"))
        w.set_alignment(uint32_t(f.alignment()));
    w.set_u32("general.file_type", file_type_for(opts.type));

    // Plan every tensor first, so a refused conversion fails before any output exists.
    std::vector<TensorType> out_types;
    out_types.reserve(f.tensors().size());
    uint64_t total = 0;
    for (const TensorInfo& t : f.tensors()) {
        const TensorType to = requantized_type(t.name, t.ne[0], opts.type);
        if (!conversion_supported(t.type, to))
            unsupported("tensor '" + t.name + "' is " + tensor_type_name(t.type) +
                        " and would become " + tensor_type_name(to) +
                        "; supported: F32/F16/BF16 -> F32/F16/BF16/Q8_0 and Q8_0 -> F32/F16 "
                        "(convert from the original weights for BF16)");
        std::vector<uint64_t> ne(t.ne, t.ne + t.n_dims);
        w.declare_tensor(t.name, to, ne);
        out_types.push_back(to);
        total += t.n_bytes;
    }

    unsigned n_threads = opts.n_threads > 0 ? unsigned(opts.n_threads)
                                            : std::max(1u, std::thread::hardware_concurrency());
    n_threads = std::min(n_threads, 64u);

    RequantizeStats stats;
    stats.n_tensors = f.tensors().size();
    stats.bytes_in = f.size();
    RequantizeProgress p;
    p.n_tensors = stats.n_tensors;
    p.bytes_total = total;
    auto report = [&]() {
        if (opts.progress) opts.progress(p);
    };

    StreamWriter sw(w, out);
    std::vector<uint8_t> buf;
    for (size_t i = 0; i < f.tensors().size(); ++i) {
        const TensorInfo& t = f.tensors()[i];
        const TensorType to = out_types[i];
        p.tensor = i;
        p.info = &t;
        p.out_type = to;
        report();
        if (to == t.type) {
            // Same type: copy in bounded chunks straight from the mapping.
            ++stats.n_copied;
            const uint64_t step = uint64_t(4) << 20;
            for (uint64_t off = 0; off < t.n_bytes; off += step) {
                const uint64_t n = std::min(step, t.n_bytes - off);
                sw.write(t.data + off, n);
                if (f.is_mmap()) drop_pages(t.data + off, n);
                p.bytes_done += n;
                report();
            }
            continue;
        }
        ++stats.n_converted;
        const uint64_t ne0 = t.ne[0];
        const uint64_t rows = t.n_elements / ne0;
        const uint64_t rb_in = row_bytes(t.type, ne0), rb_out = row_bytes(to, ne0);
        const uint64_t chunk = chunk_rows_for(ne0) * n_threads;
        buf.resize(size_t(std::min(rows, chunk) * rb_out));
        for (uint64_t r0 = 0; r0 < rows; r0 += chunk) {
            const uint64_t n = std::min(chunk, rows - r0);
            convert_rows(t.data + r0 * rb_in, t.type, buf.data(), to, ne0, n, n_threads);
            sw.write(buf.data(), n * rb_out);
            if (f.is_mmap()) drop_pages(t.data + r0 * rb_in, n * rb_in);
            p.bytes_done += n * rb_in;
            report();
        }
    }
    sw.finish();
    p.tensor = stats.n_tensors;
    p.info = nullptr;
    report();
    stats.bytes_out = w.file_size();
    return stats;
}

}  // namespace kaa::gguf
