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

void write_file_atomic(const std::string& path, const void* data, size_t size) {
    static std::atomic<unsigned> counter{0};
#if defined(_WIN32)
    const unsigned pid = unsigned(_getpid());
#else
    const unsigned pid = unsigned(getpid());
#endif
    const std::string tmp = path + ".tmp-" + std::to_string(pid) + "-" + std::to_string(counter++);
    std::FILE* f = std::fopen(tmp.c_str(), "wb");
    if (!f) throw Error(ErrorCode::io, "cannot create '" + tmp + "': " + std::strerror(errno));
    bool ok = std::fwrite(data, 1, size, f) == size && std::fflush(f) == 0;
#if defined(_WIN32)
    ok = ok && _commit(_fileno(f)) == 0;
#else
    ok = ok && fsync(fileno(f)) == 0;
#endif
    const int err = errno;
    ok = (std::fclose(f) == 0) && ok;
    if (!ok) {
        std::remove(tmp.c_str());
        throw Error(ErrorCode::io, "cannot write '" + tmp + "': " + std::strerror(err));
    }
#if defined(_WIN32)
    const bool renamed = MoveFileExA(tmp.c_str(), path.c_str(), MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH) != 0;
#else
    const bool renamed = std::rename(tmp.c_str(), path.c_str()) == 0;
#endif
    if (!renamed) {
        const int rerr = errno;
        std::remove(tmp.c_str());
        throw Error(ErrorCode::io, "cannot rename '" + tmp + "' to '" + path + "': " + std::strerror(rerr));
    }
}

}  // namespace kaa::runtime
