// fuzz_gguf — gguf::File::from_bytes on arbitrary bytes.
//
// The input is a whole GGUF image. A refused image must be a kaa::Error; an accepted one
// must be safe to use in every way the reader offers: every value readable through every
// accessor, every tensor's bytes inside the image. Accepted images are also copied
// through gguf::Writer and parsed again, which must give the same metadata and tensors
// (the writer's set_value promises a byte-exact copy of any value).
#include <cstring>

#include "fuzz_support.hpp"
#include "gguf/gguf.hpp"
#include "gguf/writer.hpp"
#include "kaa/error.hpp"

using namespace kaa::gguf;

namespace {

// Reads every value through every accessor that applies (type errors are kaa::Errors).
void touch_value(const std::string& key, const Value& v) {
    const auto quiet = [](auto&& fn) {
        try {
            fn();
        } catch (const kaa::Error&) {
        }
    };
    quiet([&] { (void)v.as_uint(key); });
    quiet([&] { (void)v.as_int(key); });
    quiet([&] { (void)v.as_float(key); });
    quiet([&] { (void)v.as_bool(key); });
    quiet([&] { (void)v.as_string(key); });
    (void)v.is_integer();
    (void)v.is_float();
    KAA_FUZZ_CHECK(v.encoded != nullptr);
    if (v.type == ValueType::array) {
        if (v.elem_type == ValueType::string) {
            KAA_FUZZ_CHECK(v.strings.size() == v.count);
        } else if (v.elem_type != ValueType::array && v.count > 0) {
            KAA_FUZZ_CHECK(v.raw != nullptr);
            // First and last element: enough for ASan to see a payload that overruns.
            (void)v.int_at(0);
            (void)v.float_at(0);
            (void)v.int_at(v.count - 1);
            (void)v.float_at(v.count - 1);
        }
    }
    size_t bytes = 0;
    for (std::string_view s : v.strings)
        if (!s.empty()) bytes += size_t(s.front()) + size_t(s.back());
    kaa::fuzz::consume(bytes + (v.encoded_size ? v.encoded[v.encoded_size - 1] : 0));
}

void compare(const File& f, const File& g);

void check_round_trip(const File& f) {
    Writer w;
    try {
        for (const std::string& key : f.keys()) w.set_value(key, *f.find(key));
        if (f.alignment() != kDefaultAlignment) w.set_alignment(uint32_t(f.alignment()));
        for (const TensorInfo& t : f.tensors())
            w.add_tensor(t.name, t.type, std::vector<uint64_t>(t.ne, t.ne + t.n_dims), t.data, t.n_bytes);
    } catch (const kaa::Error&) {
        return;  // the writer is stricter than the reader (e.g. zero-sized dims): fine
    }
    std::vector<uint8_t> image = w.to_bytes();
    try {
        compare(f, File::from_bytes(std::move(image)));
    } catch (const kaa::Error& e) {
        std::fprintf(stderr, "the rewritten image was refused: %s\n", e.what());
        KAA_FUZZ_CHECK(!"what the writer writes must read back");
    }
}

void compare(const File& f, const File& g) {
    KAA_FUZZ_CHECK(g.keys().size() == f.keys().size());
    for (const std::string& key : f.keys()) {
        const Value* a = f.find(key);
        const Value* b = g.find(key);
        KAA_FUZZ_CHECK(b != nullptr && a->type == b->type && a->encoded_size == b->encoded_size);
        KAA_FUZZ_CHECK(std::memcmp(a->encoded, b->encoded, size_t(a->encoded_size)) == 0);
    }
    KAA_FUZZ_CHECK(g.tensors().size() == f.tensors().size());
    for (size_t i = 0; i < f.tensors().size(); ++i) {
        const TensorInfo& a = f.tensors()[i];
        const TensorInfo& b = g.tensors()[i];
        KAA_FUZZ_CHECK(a.name == b.name && a.type == b.type && a.n_dims == b.n_dims &&
                       a.n_bytes == b.n_bytes && a.n_elements == b.n_elements);
        KAA_FUZZ_CHECK(a.n_bytes == 0 || std::memcmp(a.data, b.data, size_t(a.n_bytes)) == 0);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::vector<uint8_t> bytes(data, data + size);
    try {
        const File f = File::from_bytes(std::move(bytes));
        for (const std::string& key : f.keys()) {
            const Value* v = f.find(key);
            KAA_FUZZ_CHECK(v != nullptr);
            touch_value(key, *v);
        }
        for (const TensorInfo& t : f.tensors()) {
            KAA_FUZZ_CHECK(f.find_tensor(t.name) == &t);
            KAA_FUZZ_CHECK(t.n_dims >= 1 && t.n_dims <= 4);
            KAA_FUZZ_CHECK(t.n_bytes == 0 || t.data != nullptr);
            KAA_FUZZ_CHECK(t.offset + f.data_offset() + t.n_bytes <= f.size());
            if (t.n_bytes) kaa::fuzz::consume(size_t(t.data[0]) + t.data[t.n_bytes - 1]);
        }
        // The typed lookups the loader uses, on keys a fuzzer easily produces.
        for (const char* key : {"general.alignment", "general.architecture", "general.name",
                                "mamba.block_count", "mamba.ssm.dt_b_c_rms",
                                "mamba.attention.layer_norm_rms_epsilon"}) {
            try {
                (void)f.get_uint(key);
            } catch (const kaa::Error&) {
            }
            try {
                (void)f.get_float(key);
            } catch (const kaa::Error&) {
            }
            try {
                (void)f.get_bool(key);
            } catch (const kaa::Error&) {
            }
            try {
                (void)f.get_string(key);
            } catch (const kaa::Error&) {
            }
        }
        check_round_trip(f);
    } catch (const kaa::Error&) {
        // refused: the expected outcome for most inputs
    }
    return 0;
}
