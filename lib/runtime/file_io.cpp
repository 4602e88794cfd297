#include "runtime/file_io.hpp"

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "kaa/error.hpp"

#if defined(_WIN32)
#  include <io.h>
#  include <process.h>
#  include <windows.h>
#else
#  include <fcntl.h>
#  include <unistd.h>
#endif

namespace kaa::runtime {

std::vector<uint8_t> read_file(const std::string& path, uint64_t max_bytes) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) throw Error(ErrorCode::io, "cannot open '" + path + "': " + std::strerror(errno));
    std::vector<uint8_t> out;
    uint8_t buf[1 << 16];
    size_t got;
    while ((got = std::fread(buf, 1, sizeof buf, f)) > 0) {
        if (out.size() + got > max_bytes) {
            std::fclose(f);
            throw Error(ErrorCode::invalid_argument, "'" + path + "' is larger than " +
                                                         std::to_string(max_bytes) + " bytes");
        }
        out.insert(out.end(), buf, buf + got);
    }
    const bool failed = std::ferror(f) != 0;
    std::fclose(f);
    if (failed) throw Error(ErrorCode::io, "error reading '" + path + "'");
    return out;
}

AtomicFile::AtomicFile(const std::string& path, const std::string& what) : path_(path), what_(what) {
    // Unique per process and per call: two writers of the same path never share a
    // temporary file, and the name tells which process left it behind after a crash.
    static std::atomic<unsigned> counter{0};
#if defined(_WIN32)
    const unsigned pid = unsigned(_getpid());
#else
    const unsigned pid = unsigned(getpid());
#endif
    tmp_ = path + ".tmp-" + std::to_string(pid) + "-" + std::to_string(counter++);
    f_ = std::fopen(tmp_.c_str(), "wb");
    if (!f_) fail("cannot create", tmp_, errno);
    buf_.resize(size_t(4) << 20);
    std::setvbuf(f_, buf_.data(), _IOFBF, buf_.size());
}

AtomicFile::~AtomicFile() {
    if (f_) std::fclose(f_);
    if (!committed_) std::remove(tmp_.c_str());
}

void AtomicFile::fail(const std::string& action, const std::string& file, int err) const {
    throw Error(ErrorCode::io, what_ + ": " + action + " '" + file + "': " + std::strerror(err));
}

void AtomicFile::write(const void* data, size_t n) {
    if (!f_) throw Error(ErrorCode::io, what_ + ": write to '" + path_ + "' after commit");
    if (n && std::fwrite(data, 1, n, f_) != n) fail("write failed on", tmp_, errno);
}

void AtomicFile::commit() {
    if (!f_) return;
    bool ok = std::fflush(f_) == 0;
#if defined(_WIN32)
    ok = ok && _commit(_fileno(f_)) == 0;
#else
    ok = ok && fsync(fileno(f_)) == 0;
#endif
    int err = errno;
    ok = (std::fclose(f_) == 0) && ok;
    if (!ok && err == 0) err = errno;
    f_ = nullptr;
    if (!ok) fail("cannot write", tmp_, err);
#if defined(_WIN32)
    if (!MoveFileExA(tmp_.c_str(), path_.c_str(), MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH))
        throw Error(ErrorCode::io, what_ + ": cannot rename '" + tmp_ + "' to '" + path_ + "'");
#else
    if (std::rename(tmp_.c_str(), path_.c_str()) != 0) fail("cannot rename '" + tmp_ + "' to", path_, errno);
#endif
    committed_ = true;
}

void write_file_atomic(const std::string& path, const void* data, size_t size) {
    AtomicFile f(path, "kaa");
    f.write(data, size);
    f.commit();
}

}  // namespace kaa::runtime
