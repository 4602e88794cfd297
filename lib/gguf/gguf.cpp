// gguf.cpp — parsing and validating GGUF v2/v3 (see gguf.hpp for the layout).
//
// Decisions a reader of this file may look for:
// - A dimension of 0 is rejected. ggml tolerates empty tensors, but a model has none, and
//   a zero-byte tensor would make the overlap and "inside the file" checks vacuous.
// - Tensors may leave gaps between them (ggml's own writer packs them tightly, but
//   nothing is lost by accepting gaps); they may not overlap.
// - A header that would run past max_metadata_bytes while still fitting in the file is
//   `unsupported` (a limit the caller chose); running past the end of the file is
//   `invalid_file` (truncated).
// - Version 1, big-endian files and versions above 3 are `unsupported`: they are real
//   formats this reader does not speak. Version 0 is `invalid_file`.
#include "gguf/gguf.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <limits>
#include <utility>

#include "kaa/error.hpp"
#include "runtime/mapped_file.hpp"

namespace kaa::gguf {

class Mapping {
public:
    explicit Mapping(runtime::MappedFile f) : file(std::move(f)) {}
    runtime::MappedFile file;
};

namespace {

template <typename T>
T load(const uint8_t* p) noexcept {
    T v;
    std::memcpy(&v, p, sizeof(T));
    return v;
}

// a * b, saturating at UINT64_MAX (used for "at least this many bytes" estimates).
uint64_t sat_mul(uint64_t a, uint64_t b) noexcept {
    if (a != 0 && b > std::numeric_limits<uint64_t>::max() / a)
        return std::numeric_limits<uint64_t>::max();
    return a * b;
}

uint64_t sat_add(uint64_t a, uint64_t b) noexcept {
    return b > std::numeric_limits<uint64_t>::max() - a ? std::numeric_limits<uint64_t>::max()
                                                         : a + b;
}

[[noreturn]] void bad(const std::string& msg) { throw Error(ErrorCode::invalid_file, msg); }

std::string quoted(std::string_view s) {
    // Names come from an untrusted file: cap their length in messages and escape control
    // bytes (a NUL would cut the message short for C callers).
    std::string out = "'";
    for (char ch : s.substr(0, 128)) {
        const auto u = static_cast<unsigned char>(ch);
        if (u < 0x20 || u == 0x7f) {
            char esc[8];
            std::snprintf(esc, sizeof esc, "\\x%02x", u);
            out += esc;
        } else {
            out += ch;
        }
    }
    if (s.size() > 128) out += "...";
    return out + "'";
}

// Size in bytes of a scalar value type; 0 for string and array.
uint64_t scalar_size(ValueType t) noexcept {
    switch (t) {
        case ValueType::u8: case ValueType::i8: case ValueType::boolean: return 1;
        case ValueType::u16: case ValueType::i16: return 2;
        case ValueType::u32: case ValueType::i32: case ValueType::f32: return 4;
        case ValueType::u64: case ValueType::i64: case ValueType::f64: return 8;
        case ValueType::string: case ValueType::array: return 0;
    }
    return 0;
}

// Smallest encoding of one element of type t (used to bound counts before allocating).
uint64_t min_encoded_size(ValueType t) noexcept {
    if (t == ValueType::string) return 8;     // u64 length, empty string
    if (t == ValueType::array) return 4 + 8;  // element type + count, no elements
    return scalar_size(t);
}

bool valid_value_type(uint32_t t) noexcept { return t <= uint32_t(ValueType::f64); }

// Bounds-checked little-endian reader over the header. `limit` is min(file size,
// max_metadata_bytes): nothing beyond it is ever read.
struct Cursor {
    const uint8_t* base;
    uint64_t file_size;
    uint64_t limit;
    uint64_t max_meta;
    uint64_t pos = 0;

    // Throws unless n more bytes can be read; `what` says what was being read.
    void need(uint64_t n, const std::string& what) const {
        if (n <= limit - pos) return;
        if (n <= file_size - pos)
            throw Error(ErrorCode::unsupported,
                        "GGUF metadata is larger than max_metadata_bytes (" +
                            std::to_string(max_meta) + ") while reading " + what +
                            " at offset " + std::to_string(pos));
        bad("truncated GGUF file: " + what + " at offset " + std::to_string(pos) + " needs " +
            (n == std::numeric_limits<uint64_t>::max() ? std::string("more") : std::to_string(n)) +
            " bytes but only " + std::to_string(file_size - pos) + " remain");
    }
    const uint8_t* take(uint64_t n, const std::string& what) {
        need(n, what);
        const uint8_t* p = base + pos;
        pos += n;
        return p;
    }
    uint32_t u32(const std::string& what) { return load<uint32_t>(take(4, what)); }
    uint64_t u64(const std::string& what) { return load<uint64_t>(take(8, what)); }
    std::string_view str(const std::string& what) {
        const uint64_t at = pos;
        const uint64_t len = u64("length of " + what);
        if (len > limit - pos) {
            pos = at;  // report the string's own offset
            need(sat_add(8, len), what + " (" + std::to_string(len) + " bytes)");
        }
        const uint8_t* p = take(len, what);
        return std::string_view(reinterpret_cast<const char*>(p), size_t(len));
    }
};

// Parses one value of type `t` for `key` (depth = array nesting level of this value).
void parse_value(Cursor& c, ValueType t, const std::string& key, int depth, Value& v) {
    const uint64_t start = c.pos;
    v.type = t;
    v.count = 1;
    const std::string where = "value of key " + quoted(key);
    switch (t) {
        case ValueType::string:
            v.strings.push_back(c.str(where));
            v.raw = reinterpret_cast<const uint8_t*>(v.strings[0].data());
            break;
        case ValueType::array: {
            const uint64_t type_at = c.pos;
            const uint32_t et = c.u32("array element type of key " + quoted(key));
            if (!valid_value_type(et))
                bad("key " + quoted(key) + ": array element type " + std::to_string(et) +
                    " at offset " + std::to_string(type_at) + " is not a GGUF value type");
            v.elem_type = ValueType(et);
            if (v.elem_type == ValueType::array && depth + 1 >= kMaxArrayDepth)
                bad("key " + quoted(key) + ": arrays nested deeper than " +
                    std::to_string(kMaxArrayDepth) + " levels at offset " +
                    std::to_string(type_at));
            const uint64_t count_at = c.pos;
            v.count = c.u64("array length of key " + quoted(key));
            // Bound the count by what the remaining bytes can hold before reserving.
            c.need(sat_mul(v.count, min_encoded_size(v.elem_type)),
                   "array of " + std::to_string(v.count) + " " +
                       value_type_name(v.elem_type) + " (count at offset " +
                       std::to_string(count_at) + ") of key " + quoted(key));
            if (v.elem_type == ValueType::string) {
                v.strings.reserve(size_t(v.count));
                for (uint64_t i = 0; i < v.count; ++i)
                    v.strings.push_back(
                        c.str("element " + std::to_string(i) + " of key " + quoted(key)));
            } else if (v.elem_type == ValueType::array) {
                v.raw = c.base + c.pos;
                // Each element of an array of arrays is itself encoded as an array value
                // (element type, count, elements), so it parses as one.
                for (uint64_t i = 0; i < v.count; ++i) {
                    Value nested;
                    parse_value(c, ValueType::array, key, depth + 1, nested);
                }
            } else {
                const uint64_t n = v.count * scalar_size(v.elem_type);  // checked above
                v.raw = c.take(n, "elements of key " + quoted(key));
                if (v.elem_type == ValueType::boolean)
                    for (uint64_t i = 0; i < v.count; ++i)
                        if (v.raw[i] > 1)
                            bad("key " + quoted(key) + ": boolean element " +
                                std::to_string(i) + " has value " + std::to_string(v.raw[i]));
            }
            break;
        }
        default: {
            v.raw = c.take(scalar_size(t), where);
            if (t == ValueType::boolean && v.raw[0] > 1)
                bad("key " + quoted(key) + ": boolean at offset " + std::to_string(start) +
                    " has value " + std::to_string(v.raw[0]) + " (must be 0 or 1)");
        }
    }
    v.encoded = c.base + start;
    v.encoded_size = c.pos - start;
}

struct TypeRow {
    const char* name;
    bool defined;
};
// ggml type ids and names. Ids 4, 5, 31-33 and 36-38 were used by older ggml versions and
// have since been retired; they are named so errors stay readable.
constexpr TypeRow kTypes[] = {
    {"F32", true},      {"F16", true},      {"Q4_0", true},     {"Q4_1", true},
    {"Q4_2", true},     {"Q4_3", true},     {"Q5_0", true},     {"Q5_1", true},
    {"Q8_0", true},     {"Q8_1", true},     {"Q2_K", true},     {"Q3_K", true},
    {"Q4_K", true},     {"Q5_K", true},     {"Q6_K", true},     {"Q8_K", true},
    {"IQ2_XXS", true},  {"IQ2_XS", true},   {"IQ3_XXS", true},  {"IQ1_S", true},
    {"IQ4_NL", true},   {"IQ3_S", true},    {"IQ2_S", true},    {"IQ4_XS", true},
    {"I8", true},       {"I16", true},      {"I32", true},      {"I64", true},
    {"F64", true},      {"IQ1_M", true},    {"BF16", true},     {"Q4_0_4_4", true},
    {"Q4_0_4_8", true}, {"Q4_0_8_8", true}, {"TQ1_0", true},    {"TQ2_0", true},
    {"IQ4_NL_4_4", true}, {"IQ4_NL_4_8", true}, {"IQ4_NL_8_8", true}, {"MXFP4", true},
    {"NVFP4", true},    {"Q1_0", true},     {"Q2_0", true},
};
constexpr uint32_t kTypeCount = sizeof(kTypes) / sizeof(kTypes[0]);

}  // namespace

// ---- free functions -------------------------------------------------------------

const char* value_type_name(ValueType t) noexcept {
    switch (t) {
        case ValueType::u8: return "u8";
        case ValueType::i8: return "i8";
        case ValueType::u16: return "u16";
        case ValueType::i16: return "i16";
        case ValueType::u32: return "u32";
        case ValueType::i32: return "i32";
        case ValueType::f32: return "f32";
        case ValueType::boolean: return "bool";
        case ValueType::string: return "string";
        case ValueType::array: return "array";
        case ValueType::u64: return "u64";
        case ValueType::i64: return "i64";
        case ValueType::f64: return "f64";
    }
    return "unknown";
}

std::string ggml_type_name(uint32_t type_id) {
    if (type_id < kTypeCount && kTypes[type_id].defined) return kTypes[type_id].name;
    return "type#" + std::to_string(type_id);
}

const char* tensor_type_name(TensorType t) noexcept {
    switch (t) {
        case TensorType::f32: return "F32";
        case TensorType::f16: return "F16";
        case TensorType::q8_0: return "Q8_0";
        case TensorType::bf16: return "BF16";
    }
    return "unknown";
}

bool is_supported_type(uint32_t id) noexcept {
    return id == uint32_t(TensorType::f32) || id == uint32_t(TensorType::f16) ||
           id == uint32_t(TensorType::q8_0) || id == uint32_t(TensorType::bf16);
}

uint64_t block_elements(TensorType t) noexcept {
    return t == TensorType::q8_0 ? uint64_t(kQ8_0BlockSize) : 1;
}

uint64_t block_bytes(TensorType t) noexcept {
    switch (t) {
        case TensorType::f32: return 4;
        case TensorType::f16: case TensorType::bf16: return 2;
        case TensorType::q8_0: return sizeof(BlockQ8_0);
    }
    return 0;
}

uint64_t row_bytes(TensorType t, uint64_t ne0) noexcept {
    const uint64_t be = block_elements(t);
    if (ne0 % be != 0) return 0;
    return sat_mul(ne0 / be, block_bytes(t));
}

// ---- Value ------------------------------------------------------------------------

bool Value::is_integer() const noexcept {
    switch (type) {
        case ValueType::u8: case ValueType::i8: case ValueType::u16: case ValueType::i16:
        case ValueType::u32: case ValueType::i32: case ValueType::u64: case ValueType::i64:
            return true;
        default: return false;
    }
}

bool Value::is_float() const noexcept {
    return type == ValueType::f32 || type == ValueType::f64;
}

namespace {

[[noreturn]] void wrong_type(std::string_view key, ValueType got, const char* want) {
    bad("metadata key " + quoted(key) + " has type " + value_type_name(got) + ", expected " +
        want);
}

// Integer element at p of type t; `negative` tells whether a signed value was < 0.
// A float as int64, saturating at the ends and NaN as 0: casting a value outside the
// int64 range is undefined behaviour, and array elements come from the file.
int64_t saturate_int64(double d) noexcept {
    if (!(d == d)) return 0;
    if (d >= 9223372036854775808.0) return std::numeric_limits<int64_t>::max();
    if (d < -9223372036854775808.0) return std::numeric_limits<int64_t>::min();
    return int64_t(d);
}

uint64_t load_integer(ValueType t, const uint8_t* p, bool& negative) noexcept {
    negative = false;
    int64_t s = 0;
    switch (t) {
        case ValueType::u8: return p[0];
        case ValueType::u16: return load<uint16_t>(p);
        case ValueType::u32: return load<uint32_t>(p);
        case ValueType::u64: return load<uint64_t>(p);
        case ValueType::boolean: return p[0];
        case ValueType::i8: s = int8_t(p[0]); break;
        case ValueType::i16: s = load<int16_t>(p); break;
        case ValueType::i32: s = load<int32_t>(p); break;
        case ValueType::i64: s = load<int64_t>(p); break;
        default: return 0;
    }
    negative = s < 0;
    return uint64_t(s);
}

}  // namespace

uint64_t Value::as_uint(std::string_view key) const {
    if (!is_integer()) wrong_type(key, type, "an unsigned integer");
    bool neg = false;
    const uint64_t v = load_integer(type, raw, neg);
    if (neg) bad("metadata key " + quoted(key) + " is negative (" +
                 std::to_string(int64_t(v)) + "), expected an unsigned integer");
    return v;
}

int64_t Value::as_int(std::string_view key) const {
    if (!is_integer()) wrong_type(key, type, "an integer");
    bool neg = false;
    const uint64_t v = load_integer(type, raw, neg);
    if (!neg && v > uint64_t(std::numeric_limits<int64_t>::max()))
        bad("metadata key " + quoted(key) + " = " + std::to_string(v) +
            " does not fit a signed 64-bit integer");
    return int64_t(v);
}

double Value::as_float(std::string_view key) const {
    if (type == ValueType::f32) return load<float>(raw);
    if (type == ValueType::f64) return load<double>(raw);
    if (is_integer()) {
        bool neg = false;
        const uint64_t v = load_integer(type, raw, neg);
        return neg ? double(int64_t(v)) : double(v);
    }
    wrong_type(key, type, "a number");
}

bool Value::as_bool(std::string_view key) const {
    if (type != ValueType::boolean) wrong_type(key, type, "bool");
    return raw[0] != 0;
}

std::string_view Value::as_string(std::string_view key) const {
    if (type != ValueType::string) wrong_type(key, type, "string");
    return strings.at(0);
}

int64_t Value::int_at(uint64_t i) const noexcept {
    const uint64_t sz = scalar_size(elem_type);
    if (type != ValueType::array || sz == 0 || i >= count) return 0;
    const uint8_t* p = raw + i * sz;
    if (elem_type == ValueType::f32) return saturate_int64(load<float>(p));
    if (elem_type == ValueType::f64) return saturate_int64(load<double>(p));
    bool neg = false;
    return int64_t(load_integer(elem_type, p, neg));
}

double Value::float_at(uint64_t i) const noexcept {
    const uint64_t sz = scalar_size(elem_type);
    if (type != ValueType::array || sz == 0 || i >= count) return 0.0;
    const uint8_t* p = raw + i * sz;
    if (elem_type == ValueType::f32) return load<float>(p);
    if (elem_type == ValueType::f64) return load<double>(p);
    bool neg = false;
    const uint64_t v = load_integer(elem_type, p, neg);
    return neg ? double(int64_t(v)) : double(v);
}

// ---- File ---------------------------------------------------------------------------

File File::open(const std::string& path, const OpenOptions& opts) {
    File f;
    f.map_ = std::make_shared<Mapping>(runtime::MappedFile::open(path, opts.use_mmap));
    try {
        f.parse(opts);
    } catch (const Error& e) {
        throw Error(e.code(), path + ": " + e.what());
    }
    return f;
}

File File::from_bytes(std::vector<uint8_t> bytes, const OpenOptions& opts) {
    File f;
    f.map_ = std::make_shared<Mapping>(runtime::MappedFile::from_bytes(std::move(bytes)));
    f.parse(opts);
    return f;
}

bool File::is_mmap() const noexcept { return map_ && map_->file.is_mmap(); }

void File::parse(const OpenOptions& opts) {
    base_ = map_->file.data();
    size_ = map_->file.size();
    Cursor c{base_, size_, std::min(size_, opts.max_metadata_bytes), opts.max_metadata_bytes};

    const uint8_t* magic = c.take(4, "magic");
    if (std::memcmp(magic, "GGUF", 4) != 0) {
        char shown[32];
        std::snprintf(shown, sizeof shown, "%02x %02x %02x %02x", magic[0], magic[1], magic[2],
                      magic[3]);
        bad(std::string("not a GGUF file: magic bytes are ") + shown + ", expected 'GGUF'");
    }
    version_ = c.u32("version");
    const uint32_t swapped = (version_ >> 24) | ((version_ >> 8) & 0xff00u) |
                             ((version_ << 8) & 0xff0000u) | (version_ << 24);
    if (version_ == 0) bad("GGUF version 0 is not a valid version");
    if (version_ == 1)
        throw Error(ErrorCode::unsupported,
                    "GGUF version 1 is not supported (kaa reads versions 2 and 3)");
    if (version_ > 3 && swapped >= 1 && swapped <= 3)
        throw Error(ErrorCode::unsupported,
                    "big-endian GGUF file (version " + std::to_string(swapped) +
                        " byte-swapped); kaa reads little-endian files only");
    if (version_ > 3)
        throw Error(ErrorCode::unsupported, "GGUF version " + std::to_string(version_) +
                                                " is not supported (kaa reads versions 2 and 3)");

    const uint64_t n_tensors = c.u64("tensor count");
    const uint64_t n_kv = c.u64("metadata count");
    // Smallest possible entries: key (u64 len, 1 byte) + u32 type + 1-byte value = 14;
    // tensor info: name (u64 len, 1 byte) + u32 n_dims + one u64 dim + u32 type + u64 offset.
    c.need(sat_mul(n_kv, 14), "metadata count " + std::to_string(n_kv));
    c.need(sat_mul(n_tensors, 33), "tensor count " + std::to_string(n_tensors));
    c.need(sat_add(sat_mul(n_kv, 14), sat_mul(n_tensors, 33)),
           std::to_string(n_kv) + " metadata entries and " + std::to_string(n_tensors) +
               " tensor infos");

    keys_.reserve(size_t(n_kv));
    kv_.reserve(size_t(n_kv));
    for (uint64_t i = 0; i < n_kv; ++i) {
        const uint64_t key_at = c.pos;
        const std::string key(c.str("key of metadata entry " + std::to_string(i)));
        if (key.empty())
            bad("metadata entry " + std::to_string(i) + " at offset " + std::to_string(key_at) +
                " has an empty key");
        if (kv_.count(key))
            bad("duplicate metadata key " + quoted(key) + " at offset " + std::to_string(key_at));
        const uint64_t type_at = c.pos;
        const uint32_t t = c.u32("value type of key " + quoted(key));
        if (!valid_value_type(t))
            bad("key " + quoted(key) + ": value type " + std::to_string(t) + " at offset " +
                std::to_string(type_at) + " is not a GGUF value type");
        Value v;
        parse_value(c, ValueType(t), key, 0, v);
        kv_.emplace(key, std::move(v));
        keys_.push_back(key);
    }

    alignment_ = kDefaultAlignment;
    if (const Value* a = find("general.alignment")) {
        if (a->type != ValueType::u32)
            bad(std::string("general.alignment has type ") + value_type_name(a->type) +
                ", must be u32");
        const uint32_t al = load<uint32_t>(a->raw);
        if (al == 0 || (al & (al - 1)) != 0)
            bad("general.alignment = " + std::to_string(al) + " is not a nonzero power of two");
        alignment_ = al;
    }

    tensors_.reserve(size_t(n_tensors));
    tensor_index_.reserve(size_t(n_tensors));
    for (uint64_t i = 0; i < n_tensors; ++i) {
        const uint64_t info_at = c.pos;
        TensorInfo t;
        t.name = std::string(c.str("name of tensor " + std::to_string(i)));
        const std::string tn = "tensor " + quoted(t.name);
        if (t.name.empty())
            bad("tensor " + std::to_string(i) + " at offset " + std::to_string(info_at) +
                " has an empty name");
        t.n_dims = c.u32("n_dims of " + tn);
        if (t.n_dims < 1 || t.n_dims > 4)
            bad(tn + " (info at offset " + std::to_string(info_at) + ") has n_dims = " +
                std::to_string(t.n_dims) + "; must be 1 to 4");
        for (uint32_t d = 0; d < t.n_dims; ++d) {
            t.ne[d] = c.u64("dimension " + std::to_string(d) + " of " + tn);
            if (t.ne[d] == 0)
                bad(tn + " (info at offset " + std::to_string(info_at) + ") has dimension " +
                    std::to_string(d) + " = 0");
        }
        const uint32_t type_id = c.u32("type of " + tn);
        t.offset = c.u64("data offset of " + tn);

        if (type_id >= kTypeCount || !kTypes[type_id].defined)
            bad(tn + " (info at offset " + std::to_string(info_at) + ") has type id " +
                std::to_string(type_id) + ", which is not a ggml type");
        if (!is_supported_type(type_id))
            throw Error(ErrorCode::unsupported,
                        tn + " has type " + ggml_type_name(type_id) +
                            ", which kaa does not support (F32, F16, BF16 and Q8_0 only)");
        t.type = TensorType(type_id);

        uint64_t n = 1;
        for (uint32_t d = 0; d < t.n_dims; ++d) {
            if (t.ne[d] > std::numeric_limits<uint64_t>::max() / n)
                bad(tn + ": element count overflows 64 bits (dimension " + std::to_string(d) +
                    " = " + std::to_string(t.ne[d]) + ")");
            n *= t.ne[d];
        }
        // Keep counts usable as int64_t by the rest of the library.
        if (n > uint64_t(std::numeric_limits<int64_t>::max()))
            bad(tn + ": element count " + std::to_string(n) + " is too large");
        t.n_elements = n;
        if (t.ne[0] % block_elements(t.type) != 0)
            bad(tn + " has type " + tensor_type_name(t.type) + " but ne[0] = " +
                std::to_string(t.ne[0]) + " is not a multiple of its block size " +
                std::to_string(block_elements(t.type)));
        const uint64_t rb = row_bytes(t.type, t.ne[0]);
        const uint64_t rows = n / t.ne[0];
        if (rows != 0 && rb > std::numeric_limits<uint64_t>::max() / rows)
            bad(tn + ": byte size overflows 64 bits");
        t.n_bytes = rb * rows;
        if (tensor_index_.count(t.name))
            bad("duplicate tensor name " + quoted(t.name) + " (info at offset " +
                std::to_string(info_at) + ")");
        tensor_index_.emplace(t.name, tensors_.size());
        tensors_.push_back(std::move(t));
    }

    const uint64_t header_end = c.pos;
    if (header_end > std::numeric_limits<uint64_t>::max() - (alignment_ - 1))
        bad("header size overflows");
    data_offset_ = (header_end + alignment_ - 1) / alignment_ * alignment_;

    for (TensorInfo& t : tensors_) {
        const std::string tn = "tensor " + quoted(t.name);
        if (t.offset % alignment_ != 0)
            bad(tn + " has data offset " + std::to_string(t.offset) +
                ", not a multiple of the alignment " + std::to_string(alignment_));
        const uint64_t begin = sat_add(data_offset_, t.offset);
        const uint64_t end = sat_add(begin, t.n_bytes);
        if (end > size_)
            bad(tn + " data [" + std::to_string(begin) + ", " +
                (end == std::numeric_limits<uint64_t>::max() ? std::string("overflow")
                                                             : std::to_string(end)) +
                ") lies outside the file (" + std::to_string(size_) + " bytes)");
        t.data = base_ + begin;
    }

    std::vector<const TensorInfo*> order;
    order.reserve(tensors_.size());
    for (const TensorInfo& t : tensors_) order.push_back(&t);
    std::sort(order.begin(), order.end(),
              [](const TensorInfo* a, const TensorInfo* b) { return a->offset < b->offset; });
    for (size_t i = 1; i < order.size(); ++i) {
        const TensorInfo& a = *order[i - 1];
        const TensorInfo& b = *order[i];
        if (a.offset + a.n_bytes > b.offset)  // no overflow: both lie inside the file
            bad("tensor " + quoted(a.name) + " [" + std::to_string(a.offset) + ", " +
                std::to_string(a.offset + a.n_bytes) + ") overlaps tensor " + quoted(b.name) +
                " at data offset " + std::to_string(b.offset));
    }
}

const Value* File::find(std::string_view key) const noexcept {
    auto it = kv_.find(std::string(key));
    return it == kv_.end() ? nullptr : &it->second;
}

std::optional<uint64_t> File::get_uint(std::string_view key) const {
    const Value* v = find(key);
    if (!v) return std::nullopt;
    return v->as_uint(key);
}

std::optional<double> File::get_float(std::string_view key) const {
    const Value* v = find(key);
    if (!v) return std::nullopt;
    return v->as_float(key);
}

std::optional<bool> File::get_bool(std::string_view key) const {
    const Value* v = find(key);
    if (!v) return std::nullopt;
    return v->as_bool(key);
}

std::optional<std::string> File::get_string(std::string_view key) const {
    const Value* v = find(key);
    if (!v) return std::nullopt;
    return std::string(v->as_string(key));
}

const TensorInfo* File::find_tensor(std::string_view name) const noexcept {
    auto it = tensor_index_.find(std::string(name));
    return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

}  // namespace kaa::gguf
