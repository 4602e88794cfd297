// file_io.hpp — whole-file reads and crash-safe writes (the OS-specific part lives here).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace kaa::runtime {

// Reads a whole file. Throws Error(io) when it cannot be opened or read, and
// Error(invalid_argument) when it is larger than max_bytes.
std::vector<uint8_t> read_file(const std::string& path, uint64_t max_bytes);

// A file written under a temporary name (PATH.tmp-<pid>-<n> in the same folder) and
// moved over `path` by commit(), after its bytes are flushed to disk: a crash or an error
// at any point leaves either the old file or the complete new one, never a mix.
// Destroying it uncommitted deletes the temporary file. Errors throw Error(io), with
// `what` (e.g. "gguf writer") in front of the message.
class AtomicFile {
public:
    AtomicFile(const std::string& path, const std::string& what);
    ~AtomicFile();
    AtomicFile(const AtomicFile&) = delete;
    AtomicFile& operator=(const AtomicFile&) = delete;

    void write(const void* data, size_t n);
    void commit();

private:
    [[noreturn]] void fail(const std::string& action, const std::string& file, int err) const;

    std::string path_, tmp_, what_;
    std::FILE* f_ = nullptr;
    std::vector<char> buf_;  // stdio buffer: multi-GiB models stream at disk speed
    bool committed_ = false;
};

// AtomicFile in one call. Throws Error(io).
void write_file_atomic(const std::string& path, const void* data, size_t size);

}  // namespace kaa::runtime
