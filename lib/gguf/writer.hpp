// writer.hpp — building GGUF v3 files (tests, the synthetic-model tool, the quantizer).
//
// Metadata keeps insertion order (setting an existing key replaces its value in place).
// Tensors are laid out in the order they are added, each at the next multiple of the
// alignment in the data section; no padding follows the last tensor.
//
// Two ways to produce a file:
//  - add_tensor(..., data) for every tensor, then to_bytes() or write(path);
//  - declare_tensor(...) without data, then stream the bytes in declaration order through
//    a StreamWriter, which never holds more than one caller-provided chunk in memory.
// Values are written in host byte order, which kaa assumes is little endian.
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "gguf/gguf.hpp"
#include "runtime/file_io.hpp"

namespace kaa::gguf {

class Writer {
public:
    struct Tensor {
        std::string name;
        TensorType type = TensorType::f32;
        std::vector<uint64_t> ne;     // innermost first, 1 to 4 dims
        uint64_t n_bytes = 0;
        uint64_t offset = 0;          // in the data section, a multiple of the alignment
        bool has_data = false;
        std::vector<uint8_t> data;    // n_bytes bytes when has_data
    };
    struct Meta {
        std::string key;
        ValueType type;
        std::vector<uint8_t> encoded;  // the value as stored after its type tag
    };

    Writer() = default;

    // Data alignment (a power of two); also stored as `general.alignment` (u32).
    // Throws kaa::Error(invalid_argument) for 0 or a non power of two. Setting the key
    // through set_u32 & co. does not change the layout: tests use that to write files
    // whose key disagrees with their layout.
    void set_alignment(uint32_t alignment);
    uint32_t alignment() const noexcept { return alignment_; }

    // ---- metadata (each replaces an existing value of the same key) ----
    void set_u8(const std::string& key, uint8_t v);
    void set_i8(const std::string& key, int8_t v);
    void set_u16(const std::string& key, uint16_t v);
    void set_i16(const std::string& key, int16_t v);
    void set_u32(const std::string& key, uint32_t v);
    void set_i32(const std::string& key, int32_t v);
    void set_u64(const std::string& key, uint64_t v);
    void set_i64(const std::string& key, int64_t v);
    void set_f32(const std::string& key, float v);
    void set_f64(const std::string& key, double v);
    void set_bool(const std::string& key, bool v);
    void set_string(const std::string& key, const std::string& v);
    // Array of `count` scalars of type `elem` (not string or array) read from `data`.
    void set_array(const std::string& key, ValueType elem, const void* data, uint64_t count);
    template <typename T>
    void set_array(const std::string& key, const std::vector<T>& v) {
        set_array(key, value_type_of<T>(), v.data(), v.size());
    }
    void set_string_array(const std::string& key, const std::vector<std::string>& v);
    // A value copied byte for byte from a file being read (any type, nested arrays too).
    void set_value(const std::string& key, const Value& v);
    // A value given in its encoded form (after the type tag). Not validated: lets tests
    // build deliberately odd files, e.g. nested arrays.
    void set_encoded(const std::string& key, ValueType type, std::vector<uint8_t> encoded);
    bool has_key(const std::string& key) const noexcept { return meta_index_.count(key) != 0; }
    void remove_key(const std::string& key);
    const std::vector<Meta>& metadata() const noexcept { return meta_; }

    // ---- tensors ----
    // Throws kaa::Error(invalid_argument) on an empty or duplicate name, 0 or more than 4
    // dims, a zero dim, ne[0] not a multiple of the block size, a size overflow, or
    // (add_tensor) n_bytes different from the tensor's size.
    void add_tensor(const std::string& name, TensorType type, const std::vector<uint64_t>& ne,
                    const void* data, uint64_t n_bytes);
    void add_tensor(const std::string& name, TensorType type, const std::vector<uint64_t>& ne,
                    std::vector<uint8_t> data);
    void declare_tensor(const std::string& name, TensorType type,
                        const std::vector<uint64_t>& ne);
    const std::vector<Tensor>& tensors() const noexcept { return tensors_; }

    // ---- layout and output ----
    uint64_t header_size() const;   // bytes up to the end of the tensor infos
    uint64_t data_offset() const;   // header_size() rounded up to the alignment
    uint64_t file_size() const;
    // Header plus the zero padding up to data_offset().
    std::vector<uint8_t> header_bytes() const;
    // The whole file; every tensor must have its data.
    std::vector<uint8_t> to_bytes() const;
    // Writes the whole file atomically (a temporary file in the same folder, then
    // rename). Every tensor must have its data. Throws kaa::Error(io) on failure.
    void write(const std::string& path) const;

    template <typename T>
    static constexpr ValueType value_type_of() {
        static_assert(std::is_arithmetic<T>::value, "numeric element type expected");
        if constexpr (std::is_same<T, bool>::value) return ValueType::boolean;
        else if constexpr (std::is_same<T, float>::value) return ValueType::f32;
        else if constexpr (std::is_same<T, double>::value) return ValueType::f64;
        else if constexpr (std::is_signed<T>::value)
            return sizeof(T) == 1 ? ValueType::i8 : sizeof(T) == 2 ? ValueType::i16
                 : sizeof(T) == 4 ? ValueType::i32 : ValueType::i64;
        else
            return sizeof(T) == 1 ? ValueType::u8 : sizeof(T) == 2 ? ValueType::u16
                 : sizeof(T) == 4 ? ValueType::u32 : ValueType::u64;
    }

private:
    void set_meta(const std::string& key, ValueType type, std::vector<uint8_t> encoded);
    Tensor& new_tensor(const std::string& name, TensorType type, const std::vector<uint64_t>& ne);

    uint32_t alignment_ = kDefaultAlignment;
    std::vector<Meta> meta_;
    std::unordered_map<std::string, size_t> meta_index_;
    std::vector<Tensor> tensors_;
    std::unordered_map<std::string, size_t> tensor_index_;
};

// Writes a file tensor by tensor. The constructor writes the header to a temporary file
// next to `path`; write() then takes the bytes of the tensors declared without data, in
// order, in chunks of any size (tensors that already hold data are emitted by themselves
// when their turn comes); finish() checks that every tensor is complete and renames the
// file into place. Destroying an unfinished StreamWriter deletes the temporary file.
// `layout` must stay alive and unchanged until finish().
class StreamWriter {
public:
    StreamWriter(const Writer& layout, const std::string& path);
    StreamWriter(const StreamWriter&) = delete;
    StreamWriter& operator=(const StreamWriter&) = delete;

    void write(const void* data, uint64_t n);
    // Index of the tensor the next write() goes to (== tensors().size() when done).
    size_t current_tensor() const noexcept { return cur_; }
    void finish();

private:
    void put(const void* data, uint64_t n);
    void advance();  // skip over finished tensors and those the Writer holds data for

    const Writer& w_;
    runtime::AtomicFile file_;
    size_t cur_ = 0;        // tensor being written
    uint64_t done_ = 0;     // bytes of it written so far
    uint64_t pos_ = 0;      // bytes written to the file
    bool finished_ = false;
};

}  // namespace kaa::gguf
