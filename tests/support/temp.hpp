// A per-test temporary folder, removed with its files when the object goes away.
#pragma once

#include <string>

namespace kaa::test {

class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::string& path() const { return path_; }
    std::string file(const std::string& name) const { return path_ + "/" + name; }

private:
    std::string path_;
};

// Writes bytes to a file (throws std::runtime_error on failure).
void write_bytes(const std::string& path, const void* data, size_t n);

}  // namespace kaa::test
