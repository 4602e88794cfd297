#include "support/shared.hpp"

#include <cstdlib>
#include <sys/stat.h>

namespace kaa::test {

static bool is_dir(const std::string& p) {
    struct stat st {};
    return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string shared_dir() {
    const char* env = std::getenv("KAA_SHARED_DIR");
    std::string dir = (env && *env) ? env : KAA_SHARED_DIR_DEFAULT;
    return is_dir(dir + "/models") ? dir : std::string();
}

std::string shared_path(const std::string& rel) {
    std::string dir = shared_dir();
    return dir.empty() ? dir : dir + "/" + rel;
}

}  // namespace kaa::test
