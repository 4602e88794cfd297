#include "support/temp.hpp"

#include <cstdio>
#include <cstdlib>
#include <dirent.h>
#include <stdexcept>
#include <unistd.h>

namespace kaa::test {

TempDir::TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/kaa-test-XXXXXX";
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
}

TempDir::~TempDir() {
    if (DIR* d = opendir(path_.c_str())) {
        while (dirent* e = readdir(d)) {
            const std::string n = e->d_name;
            if (n != "." && n != "..") std::remove((path_ + "/" + n).c_str());
        }
        closedir(d);
    }
    rmdir(path_.c_str());
}

void write_bytes(const std::string& path, const void* data, size_t n) {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) throw std::runtime_error("cannot write " + path);
    const bool ok = std::fwrite(data, 1, n, f) == n;
    std::fclose(f);
    if (!ok) throw std::runtime_error("short write to " + path);
}

}  // namespace kaa::test
