// Locating ../shared (test models and goldens) and skipping cleanly when it is absent.
#pragma once

#include <cstdio>
#include <string>

namespace kaa::test {

// KAA_SHARED_DIR from the environment, else the CMake default; "" when the folder
// (recognised by its models/ subfolder) does not exist.
std::string shared_dir();

// Path of a file under shared/, "" when shared/ is absent.
std::string shared_path(const std::string& rel);

}  // namespace kaa::test

// Ends the current test as skipped (CTest matches "KAA_SKIP:") with a reason.
#define KAA_SKIP(reason)                                         \
    do {                                                         \
        std::printf("KAA_SKIP: %s\n", std::string(reason).c_str()); \
        std::fflush(stdout);                                     \
        return;                                                  \
    } while (0)

// Skips the test when ../shared is absent; otherwise does nothing.
#define KAA_REQUIRE_SHARED()                                                        \
    do {                                                                            \
        if (kaa::test::shared_dir().empty())                                        \
            KAA_SKIP("shared test data not found (set KAA_SHARED_DIR to the folder " \
                     "holding models/ and golden/)");                               \
    } while (0)
