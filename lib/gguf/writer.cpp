#include "gguf/writer.hpp"

#include <algorithm>
#include <cstring>
#include <limits>

#include "kaa/error.hpp"


namespace kaa::gguf {

namespace {

[[noreturn]] void bad_arg(const std::string& msg) {
    throw Error(ErrorCode::invalid_argument, "gguf writer: " + msg);
}

void put_bytes(std::vector<uint8_t>& out, const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    out.insert(out.end(), b, b + n);
}

template <typename T>
void put(std::vector<uint8_t>& out, T v) {
    put_bytes(out, &v, sizeof v);
}

void put_string(std::vector<uint8_t>& out, const std::string& s) {
    put<uint64_t>(out, s.size());
    put_bytes(out, s.data(), s.size());
}

template <typename T>
std::vector<uint8_t> encode_scalar(T v) {
    std::vector<uint8_t> out;
    put(out, v);
    return out;
}

uint64_t scalar_bytes(ValueType t) {
    switch (t) {
        case ValueType::u8: case ValueType::i8: case ValueType::boolean: return 1;
        case ValueType::u16: case ValueType::i16: return 2;
        case ValueType::u32: case ValueType::i32: case ValueType::f32: return 4;
        case ValueType::u64: case ValueType::i64: case ValueType::f64: return 8;
        default: return 0;
    }
}

uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

}  // namespace

// ---- metadata ---------------------------------------------------------------------

void Writer::set_meta(const std::string& key, ValueType type, std::vector<uint8_t> encoded) {
    if (key.empty()) bad_arg("empty metadata key");
    auto it = meta_index_.find(key);
    if (it != meta_index_.end()) {
        meta_[it->second].type = type;
        meta_[it->second].encoded = std::move(encoded);
        return;
    }
    meta_index_.emplace(key, meta_.size());
    meta_.push_back(Meta{key, type, std::move(encoded)});
}

void Writer::set_alignment(uint32_t alignment) {
    if (alignment == 0 || (alignment & (alignment - 1)) != 0)
        bad_arg("alignment " + std::to_string(alignment) + " is not a nonzero power of two");
    alignment_ = alignment;
    set_u32("general.alignment", alignment);
    // Offsets depend on the alignment: recompute them.
    uint64_t end = 0;
    for (Tensor& t : tensors_) {
        t.offset = align_up(end, alignment_);
        end = t.offset + t.n_bytes;
    }
}

void Writer::set_u8(const std::string& k, uint8_t v) { set_meta(k, ValueType::u8, encode_scalar(v)); }
void Writer::set_i8(const std::string& k, int8_t v) { set_meta(k, ValueType::i8, encode_scalar(v)); }
void Writer::set_u16(const std::string& k, uint16_t v) { set_meta(k, ValueType::u16, encode_scalar(v)); }
void Writer::set_i16(const std::string& k, int16_t v) { set_meta(k, ValueType::i16, encode_scalar(v)); }
void Writer::set_u32(const std::string& k, uint32_t v) { set_meta(k, ValueType::u32, encode_scalar(v)); }
void Writer::set_i32(const std::string& k, int32_t v) { set_meta(k, ValueType::i32, encode_scalar(v)); }
void Writer::set_u64(const std::string& k, uint64_t v) { set_meta(k, ValueType::u64, encode_scalar(v)); }
void Writer::set_i64(const std::string& k, int64_t v) { set_meta(k, ValueType::i64, encode_scalar(v)); }
void Writer::set_f32(const std::string& k, float v) { set_meta(k, ValueType::f32, encode_scalar(v)); }
void Writer::set_f64(const std::string& k, double v) { set_meta(k, ValueType::f64, encode_scalar(v)); }
void Writer::set_bool(const std::string& k, bool v) {
    set_meta(k, ValueType::boolean, encode_scalar<uint8_t>(v ? 1 : 0));
}

void Writer::set_string(const std::string& k, const std::string& v) {
    std::vector<uint8_t> e;
    put_string(e, v);
    set_meta(k, ValueType::string, std::move(e));
}

void Writer::set_array(const std::string& k, ValueType elem, const void* data, uint64_t count) {
    const uint64_t sz = scalar_bytes(elem);
    if (sz == 0) bad_arg("set_array on key '" + k + "': element type must be a scalar");
    if (count > (std::numeric_limits<uint64_t>::max() >> 4))
        bad_arg("set_array on key '" + k + "': count too large");
    std::vector<uint8_t> e;
    e.reserve(12 + size_t(count * sz));
    put<uint32_t>(e, uint32_t(elem));
    put<uint64_t>(e, count);
    if (count) put_bytes(e, data, size_t(count * sz));
    if (elem == ValueType::boolean)  // normalise to 0/1, as the reader requires
        for (size_t i = 12; i < e.size(); ++i) e[i] = e[i] ? 1 : 0;
    set_meta(k, ValueType::array, std::move(e));
}

void Writer::set_string_array(const std::string& k, const std::vector<std::string>& v) {
    size_t total = 12;
    for (const auto& s : v) total += 8 + s.size();
    std::vector<uint8_t> e;
    e.reserve(total);
    put<uint32_t>(e, uint32_t(ValueType::string));
    put<uint64_t>(e, v.size());
    for (const auto& s : v) put_string(e, s);
    set_meta(k, ValueType::array, std::move(e));
}

void Writer::set_value(const std::string& k, const Value& v) {
    if (!v.encoded) bad_arg("set_value on key '" + k + "': value has no encoded bytes");
    set_meta(k, v.type, std::vector<uint8_t>(v.encoded, v.encoded + v.encoded_size));
}

void Writer::set_encoded(const std::string& k, ValueType type, std::vector<uint8_t> encoded) {
    set_meta(k, type, std::move(encoded));
}

void Writer::remove_key(const std::string& key) {
    auto it = meta_index_.find(key);
    if (it == meta_index_.end()) return;
    meta_.erase(meta_.begin() + std::ptrdiff_t(it->second));
    meta_index_.clear();
    for (size_t i = 0; i < meta_.size(); ++i) meta_index_.emplace(meta_[i].key, i);
}

// ---- tensors ----------------------------------------------------------------------

Writer::Tensor& Writer::new_tensor(const std::string& name, TensorType type,
                                   const std::vector<uint64_t>& ne) {
    if (name.empty()) bad_arg("empty tensor name");
    if (tensor_index_.count(name)) bad_arg("duplicate tensor name '" + name + "'");
    if (ne.empty() || ne.size() > 4)
        bad_arg("tensor '" + name + "' has " + std::to_string(ne.size()) + " dims (1 to 4)");
    if (!is_supported_type(uint32_t(type)))
        bad_arg("tensor '" + name + "' has an unknown TensorType");
    uint64_t n = 1;
    for (uint64_t d : ne) {
        if (d == 0) bad_arg("tensor '" + name + "' has a zero dimension");
        if (d > std::numeric_limits<uint64_t>::max() / n)
            bad_arg("tensor '" + name + "' element count overflows");
        n *= d;
    }
    if (ne[0] % block_elements(type) != 0)
        bad_arg("tensor '" + name + "' of type " + tensor_type_name(type) + ": ne[0] = " +
                std::to_string(ne[0]) + " is not a multiple of " +
                std::to_string(block_elements(type)));
    const uint64_t rb = row_bytes(type, ne[0]);
    const uint64_t rows = n / ne[0];
    if (rb > (std::numeric_limits<uint64_t>::max() >> 8) / rows)
        bad_arg("tensor '" + name + "' byte size overflows");
    Tensor t;
    t.name = name;
    t.type = type;
    t.ne = ne;
    t.n_bytes = rb * rows;
    const uint64_t end = tensors_.empty() ? 0 : tensors_.back().offset + tensors_.back().n_bytes;
    t.offset = align_up(end, alignment_);
    tensor_index_.emplace(name, tensors_.size());
    tensors_.push_back(std::move(t));
    return tensors_.back();
}

void Writer::add_tensor(const std::string& name, TensorType type, const std::vector<uint64_t>& ne,
                        const void* data, uint64_t n_bytes) {
    const auto* p = static_cast<const uint8_t*>(data);
    add_tensor(name, type, ne, std::vector<uint8_t>(p, p + n_bytes));
}

void Writer::add_tensor(const std::string& name, TensorType type, const std::vector<uint64_t>& ne,
                        std::vector<uint8_t> data) {
    Tensor& t = new_tensor(name, type, ne);
    if (data.size() != t.n_bytes) {
        const std::string msg = "tensor '" + name + "' needs " + std::to_string(t.n_bytes) +
                                " bytes of data, got " + std::to_string(data.size());
        tensor_index_.erase(name);
        tensors_.pop_back();
        bad_arg(msg);
    }
    t.data = std::move(data);
    t.has_data = true;
}

void Writer::declare_tensor(const std::string& name, TensorType type,
                            const std::vector<uint64_t>& ne) {
    new_tensor(name, type, ne);
}

// ---- layout -----------------------------------------------------------------------

uint64_t Writer::header_size() const {
    uint64_t n = 4 + 4 + 8 + 8;
    for (const Meta& m : meta_) n += 8 + m.key.size() + 4 + m.encoded.size();
    for (const Tensor& t : tensors_) n += 8 + t.name.size() + 4 + 8 * t.ne.size() + 4 + 8;
    return n;
}

uint64_t Writer::data_offset() const { return align_up(header_size(), alignment_); }

uint64_t Writer::file_size() const {
    if (tensors_.empty()) return header_size();
    return data_offset() + tensors_.back().offset + tensors_.back().n_bytes;
}

std::vector<uint8_t> Writer::header_bytes() const {
    std::vector<uint8_t> out;
    // A file without tensors has no data section, hence no padding.
    out.reserve(size_t(tensors_.empty() ? header_size() : data_offset()));
    put_bytes(out, "GGUF", 4);
    put<uint32_t>(out, 3);
    put<uint64_t>(out, tensors_.size());
    put<uint64_t>(out, meta_.size());
    for (const Meta& m : meta_) {
        put_string(out, m.key);
        put<uint32_t>(out, uint32_t(m.type));
        put_bytes(out, m.encoded.data(), m.encoded.size());
    }
    for (const Tensor& t : tensors_) {
        put_string(out, t.name);
        put<uint32_t>(out, uint32_t(t.ne.size()));
        for (uint64_t d : t.ne) put<uint64_t>(out, d);
        put<uint32_t>(out, uint32_t(t.type));
        put<uint64_t>(out, t.offset);
    }
    if (!tensors_.empty()) out.resize(size_t(data_offset()), 0);
    return out;
}

std::vector<uint8_t> Writer::to_bytes() const {
    std::vector<uint8_t> out = header_bytes();
    out.reserve(size_t(file_size()));
    const uint64_t base = out.size();
    for (const Tensor& t : tensors_) {
        if (!t.has_data) bad_arg("to_bytes: tensor '" + t.name + "' has no data");
        out.resize(size_t(base + t.offset), 0);
        put_bytes(out, t.data.data(), t.data.size());
    }
    return out;
}

void Writer::write(const std::string& path) const {
    StreamWriter sw(*this, path);
    sw.finish();
}

// ---- StreamWriter -------------------------------------------------------------------

StreamWriter::StreamWriter(const Writer& layout, const std::string& path) : w_(layout), file_(path, "gguf writer") {
    const std::vector<uint8_t> header = w_.header_bytes();
    put(header.data(), header.size());
    advance();
}

void StreamWriter::put(const void* data, uint64_t n) {
    file_.write(data, size_t(n));
    pos_ += n;
}

void StreamWriter::advance() {
    const auto& ts = w_.tensors();
    const uint64_t base = w_.data_offset();
    while (cur_ < ts.size()) {
        const Writer::Tensor& t = ts[cur_];
        if (done_ == 0) {
            // Zero padding up to this tensor's aligned offset.
            static const uint8_t zeros[256] = {};
            uint64_t pad = base + t.offset - pos_;
            while (pad) {
                const uint64_t k = pad < sizeof zeros ? pad : sizeof zeros;
                put(zeros, k);
                pad -= k;
            }
            if (t.has_data) {
                put(t.data.data(), t.n_bytes);
                ++cur_;
                continue;
            }
        }
        if (done_ < t.n_bytes) return;  // waiting for write()
        ++cur_;
        done_ = 0;
    }
}

void StreamWriter::write(const void* data, uint64_t n) {
    if (finished_) bad_arg("write after finish");
    const auto* p = static_cast<const uint8_t*>(data);
    const auto& ts = w_.tensors();
    while (n) {
        if (cur_ >= ts.size())
            bad_arg("stream: " + std::to_string(n) + " bytes more than the declared tensors hold");
        const uint64_t k = std::min(n, ts[cur_].n_bytes - done_);
        put(p, k);
        p += k;
        n -= k;
        done_ += k;
        advance();
    }
}

void StreamWriter::finish() {
    if (finished_) return;
    const auto& ts = w_.tensors();
    if (cur_ < ts.size())
        bad_arg("stream: tensor '" + ts[cur_].name + "' is incomplete (" +
                std::to_string(done_) + " of " + std::to_string(ts[cur_].n_bytes) + " bytes)");
    file_.commit();
    finished_ = true;
}

}  // namespace kaa::gguf
