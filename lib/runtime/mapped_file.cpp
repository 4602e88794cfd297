#include "runtime/mapped_file.hpp"

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <utility>

#include "kaa/error.hpp"

#ifdef _WIN32
#ifndef NOMINMAX
#define NOMINMAX
#endif
#include <windows.h>
#else
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

namespace kaa::runtime {

namespace {

[[noreturn]] void io_error(const std::string& what, const std::string& path, int err) {
    throw Error(ErrorCode::io, what + " '" + path + "': " + std::strerror(err));
}

// Reads the file with stdio; used when mmap is off or unavailable.
std::vector<uint8_t> read_whole(const std::string& path) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) io_error("cannot open", path, errno);
    std::vector<uint8_t> buf;
    try {
#ifdef _WIN32
        if (std::fseek(f, 0, SEEK_END) != 0) io_error("cannot seek", path, errno);
        const long end = std::ftell(f);
        if (end < 0) io_error("cannot size", path, errno);
        if (std::fseek(f, 0, SEEK_SET) != 0) io_error("cannot seek", path, errno);
        const uint64_t size = uint64_t(end);
#else
        // fopen succeeds on a directory and ftell then reports nonsense: check the type.
        struct stat st {};
        if (::fstat(::fileno(f), &st) != 0) io_error("cannot stat", path, errno);
        if (!S_ISREG(st.st_mode))
            throw Error(ErrorCode::io, "cannot open '" + path + "': not a regular file");
        const uint64_t size = uint64_t(st.st_size);
#endif
        if (size > uint64_t(SIZE_MAX / 2)) io_error("cannot read", path, EFBIG);
        buf.resize(size_t(size));
        if (!buf.empty() && std::fread(buf.data(), 1, buf.size(), f) != buf.size())
            io_error("short read from", path, std::ferror(f) ? errno : EIO);
    } catch (...) {
        std::fclose(f);
        throw;
    }
    std::fclose(f);
    return buf;
}

}  // namespace

MappedFile MappedFile::from_bytes(std::vector<uint8_t> bytes) {
    MappedFile m;
    m.buffer_ = std::move(bytes);
    m.data_ = m.buffer_.data();
    m.size_ = m.buffer_.size();
    return m;
}

#ifdef _WIN32
// Untested branch: the project is built and tested on POSIX; kept so a Windows port
// only needs testing, not writing.
MappedFile MappedFile::open(const std::string& path, bool use_mmap) {
    if (!use_mmap) return from_bytes(read_whole(path));
    HANDLE file = CreateFileA(path.c_str(), GENERIC_READ, FILE_SHARE_READ, nullptr,
                              OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, nullptr);
    if (file == INVALID_HANDLE_VALUE)
        throw Error(ErrorCode::io, "cannot open '" + path + "' (Windows error " +
                                       std::to_string(GetLastError()) + ")");
    LARGE_INTEGER sz;
    if (!GetFileSizeEx(file, &sz)) {
        CloseHandle(file);
        throw Error(ErrorCode::io, "cannot size '" + path + "'");
    }
    MappedFile m;
    m.size_ = uint64_t(sz.QuadPart);
    if (m.size_ == 0) {  // a zero-length file cannot be mapped; the parser rejects it
        CloseHandle(file);
        return m;
    }
    HANDLE mapping = CreateFileMappingA(file, nullptr, PAGE_READONLY, 0, 0, nullptr);
    CloseHandle(file);
    if (!mapping) throw Error(ErrorCode::io, "cannot map '" + path + "'");
    void* view = MapViewOfFile(mapping, FILE_MAP_READ, 0, 0, 0);
    if (!view) {
        CloseHandle(mapping);
        throw Error(ErrorCode::io, "cannot map view of '" + path + "'");
    }
    m.mapping_handle_ = mapping;
    m.data_ = static_cast<const uint8_t*>(view);
    m.mapped_ = true;
    return m;
}

void MappedFile::release() noexcept {
    if (mapped_) {
        UnmapViewOfFile(data_);
        CloseHandle(static_cast<HANDLE>(mapping_handle_));
    }
    mapping_handle_ = nullptr;
    mapped_ = false;
    data_ = nullptr;
    size_ = 0;
    buffer_.clear();
}
#else
MappedFile MappedFile::open(const std::string& path, bool use_mmap) {
    if (!use_mmap) return from_bytes(read_whole(path));
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) io_error("cannot open", path, errno);
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        const int err = errno;
        ::close(fd);
        io_error("cannot stat", path, err);
    }
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        throw Error(ErrorCode::io, "cannot open '" + path + "': not a regular file");
    }
    MappedFile m;
    m.size_ = uint64_t(st.st_size);
    if (m.size_ == 0) {  // mmap rejects length 0; the parser reports the empty file
        ::close(fd);
        return m;
    }
    void* p = ::mmap(nullptr, size_t(m.size_), PROT_READ, MAP_SHARED, fd, 0);
    const int err = errno;
    ::close(fd);  // the mapping keeps its own reference to the file
    if (p == MAP_FAILED) io_error("cannot mmap", path, err);
    m.data_ = static_cast<const uint8_t*>(p);
    m.mapped_ = true;
    return m;
}

void MappedFile::release() noexcept {
    if (mapped_) ::munmap(const_cast<uint8_t*>(data_), size_t(size_));
    mapped_ = false;
    data_ = nullptr;
    size_ = 0;
    buffer_.clear();
}
#endif

MappedFile::MappedFile(MappedFile&& other) noexcept { *this = std::move(other); }

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
    if (this != &other) {
        release();
        // Moving a vector keeps its heap block, so data_ stays valid for buffers.
        buffer_ = std::move(other.buffer_);
        data_ = other.data_;
        size_ = other.size_;
        mapped_ = other.mapped_;
#ifdef _WIN32
        mapping_handle_ = other.mapping_handle_;
        other.mapping_handle_ = nullptr;
#endif
        other.data_ = nullptr;
        other.size_ = 0;
        other.mapped_ = false;
    }
    return *this;
}

MappedFile::~MappedFile() { release(); }

}  // namespace kaa::runtime
