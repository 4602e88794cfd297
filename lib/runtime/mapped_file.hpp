// mapped_file.hpp — read-only view of a whole file: a memory mapping or a heap buffer.
//
// Model weights are used straight from this view (zero copy), so it must outlive every
// pointer into it; gguf::File keeps it alive through a shared_ptr.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace kaa::runtime {

class MappedFile {
public:
    MappedFile() = default;
    // Opens `path` read-only. use_mmap=false reads it into a heap buffer instead (for file
    // systems without mmap, or to avoid page-cache sharing). Throws kaa::Error(io) with
    // the OS reason when the file cannot be opened, sized, mapped or read.
    static MappedFile open(const std::string& path, bool use_mmap);
    // Takes ownership of an in-memory image.
    static MappedFile from_bytes(std::vector<uint8_t> bytes);

    MappedFile(MappedFile&& other) noexcept;
    MappedFile& operator=(MappedFile&& other) noexcept;
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;
    ~MappedFile();

    const uint8_t* data() const noexcept { return data_; }
    uint64_t size() const noexcept { return size_; }
    bool is_mmap() const noexcept { return mapped_; }

private:
    void release() noexcept;

    const uint8_t* data_ = nullptr;
    uint64_t size_ = 0;
    bool mapped_ = false;
    std::vector<uint8_t> buffer_;  // owner when not mapped
#ifdef _WIN32
    void* mapping_handle_ = nullptr;  // HANDLE of the file mapping object
#endif
};

}  // namespace kaa::runtime
