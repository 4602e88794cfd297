// gguf.hpp — a validating, zero-copy reader for GGUF v2/v3 files.
//
// Layout of a GGUF file (all little endian):
//   u32 magic "GGUF" | u32 version | u64 n_tensors | u64 n_kv
//   n_kv   x { string key | u32 value_type | value }
//   n_tensors x { string name | u32 n_dims | u64 ne[n_dims] | u32 ggml_type | u64 offset }
//   padding to `general.alignment` (default 32) | tensor data (each tensor at data_start + offset)
// where string = u64 length + bytes (no terminator) and an array value = u32 elem_type | u64 n | elems.
//
// Everything read from the file is untrusted: every count and length is checked against
// the bytes that remain before anything is allocated from it, every dims product is
// overflow-checked, every tensor must lie inside the file. Failures throw kaa::Error
// (invalid_file, or unsupported for a valid but unsupported tensor type / version).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace kaa::gguf {

enum class ValueType : uint32_t {
    u8 = 0, i8 = 1, u16 = 2, i16 = 3, u32 = 4, i32 = 5, f32 = 6, boolean = 7,
    string = 8, array = 9, u64 = 10, i64 = 11, f64 = 12,
};
const char* value_type_name(ValueType t) noexcept;

// ggml tensor type ids. Only these four are supported by kaa; others are named in errors.
enum class TensorType : uint32_t { f32 = 0, f16 = 1, q8_0 = 8, bf16 = 30 };
// Name of any ggml type id ("Q4_K", ...), "type#N" for ids ggml does not define.
std::string ggml_type_name(uint32_t type_id);
const char* tensor_type_name(TensorType t) noexcept;

// Q8_0: blocks of 32 weights, each an f16 scale then 32 int8 values (34 bytes).
constexpr int64_t kQ8_0BlockSize = 32;
struct BlockQ8_0 {
    uint16_t d;       // f16 scale
    int8_t qs[32];
};
static_assert(sizeof(BlockQ8_0) == 34, "Q8_0 block must be 34 bytes");

// Bytes of one row of `ne0` elements; 0 if ne0 is not a multiple of the block size.
uint64_t row_bytes(TensorType t, uint64_t ne0) noexcept;
// Elements per block (32 for Q8_0, else 1) and bytes per block.
uint64_t block_elements(TensorType t) noexcept;
uint64_t block_bytes(TensorType t) noexcept;
// True for the four ids kaa reads (0, 1, 8, 30).
bool is_supported_type(uint32_t type_id) noexcept;

constexpr uint32_t kDefaultAlignment = 32;
// Deepest nesting of arrays inside arrays the reader accepts (an array of arrays is 2).
constexpr int kMaxArrayDepth = 8;

// One metadata value. Scalars and numeric arrays point into the mapped file (possibly
// unaligned; read through the accessors). Strings and string arrays are views into it.
struct Value {
    ValueType type = ValueType::u8;
    ValueType elem_type = ValueType::u8;    // element type when type == array
    uint64_t count = 1;                      // number of elements for arrays, else 1
    const uint8_t* raw = nullptr;           // scalar or numeric-array payload
    std::vector<std::string_view> strings;   // string (1 entry) or array of strings
    // The value exactly as stored after its type tag (for arrays: element type, count,
    // elements). Lets a writer copy any value, nested arrays included, byte for byte.
    const uint8_t* encoded = nullptr;
    uint64_t encoded_size = 0;

    bool is_integer() const noexcept;        // any integer scalar type
    bool is_float() const noexcept;          // f32 / f64 scalar
    // Conversions throw kaa::Error(invalid_file) naming `key` on a type mismatch or
    // a value out of range of the target type.
    uint64_t as_uint(std::string_view key) const;
    int64_t as_int(std::string_view key) const;
    double as_float(std::string_view key) const;  // also accepts integers
    bool as_bool(std::string_view key) const;
    std::string_view as_string(std::string_view key) const;
    // Element i of a numeric array as int64 / double (i < count checked by caller).
    // int_at truncates float elements toward zero, saturating; NaN gives 0.
    int64_t int_at(uint64_t i) const noexcept;
    double float_at(uint64_t i) const noexcept;
};

struct TensorInfo {
    std::string name;
    TensorType type = TensorType::f32;
    uint32_t n_dims = 0;
    uint64_t ne[4] = {1, 1, 1, 1};  // ne[0] is the innermost (contiguous) dimension
    uint64_t offset = 0;            // relative to the start of the data section
    uint64_t n_elements = 0;
    uint64_t n_bytes = 0;
    const uint8_t* data = nullptr;  // inside the mapping
};

struct OpenOptions {
    bool use_mmap = true;               // false: read the whole file into memory
    uint64_t max_metadata_bytes = 256ull << 20;  // refuse files whose header is larger
};

class Mapping;  // platform layer: mmap or a heap buffer (lib/runtime/mapped_file.hpp)

class File {
public:
    // Open and fully validate a file. Throws kaa::Error.
    static File open(const std::string& path, const OpenOptions& opts = {});
    // Parse a file image held in memory (tests and fuzzing).
    static File from_bytes(std::vector<uint8_t> bytes, const OpenOptions& opts = {});

    uint32_t version() const noexcept { return version_; }
    uint64_t alignment() const noexcept { return alignment_; }
    uint64_t data_offset() const noexcept { return data_offset_; }
    uint64_t size() const noexcept { return size_; }
    // True when the bytes are a memory mapping of the file (not a heap copy).
    bool is_mmap() const noexcept;

    const Value* find(std::string_view key) const noexcept;
    // Metadata keys in file order.
    const std::vector<std::string>& keys() const noexcept { return keys_; }

    // Typed lookups: nullopt when absent, kaa::Error(invalid_file) when of the wrong type.
    std::optional<uint64_t> get_uint(std::string_view key) const;
    std::optional<double> get_float(std::string_view key) const;
    std::optional<bool> get_bool(std::string_view key) const;
    std::optional<std::string> get_string(std::string_view key) const;

    const std::vector<TensorInfo>& tensors() const noexcept { return tensors_; }
    const TensorInfo* find_tensor(std::string_view name) const noexcept;

private:
    File() = default;
    void parse(const OpenOptions& opts);

    std::shared_ptr<Mapping> map_;
    const uint8_t* base_ = nullptr;
    uint64_t size_ = 0;
    uint32_t version_ = 0;
    uint64_t alignment_ = 32;
    uint64_t data_offset_ = 0;
    std::vector<std::string> keys_;
    std::unordered_map<std::string, Value> kv_;
    std::vector<TensorInfo> tensors_;
    std::unordered_map<std::string, size_t> tensor_index_;
};

}  // namespace kaa::gguf
