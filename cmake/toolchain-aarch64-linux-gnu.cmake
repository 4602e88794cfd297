# Cross toolchain: Linux aarch64 with Debian/Ubuntu's gcc cross compiler, tests run under
# qemu-user. Used by scripts/neon-check.sh:
#   cmake -S . -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-aarch64-linux-gnu.cmake
# Packages: g++-aarch64-linux-gnu (compiler + target glibc in /usr/aarch64-linux-gnu) and
# qemu-user (qemu-aarch64). No binfmt registration is needed: CTest and Catch2's test
# discovery go through CMAKE_CROSSCOMPILING_EMULATOR.
#
# Third-party dependencies (Eigen, xsimd, Catch2, nlohmann_json) are header-only and
# arch-independent, so the host's copies under /usr serve the target too. Two details:
#  - their CMake packages are looked up in the target sysroot first, then on the host
#    (CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH); xsimd installs its package under the
#    host's multiarch folder (/usr/lib/x86_64-linux-gnu/cmake), added to the prefix path;
#  - their imported targets say "include /usr/include". Given to the cross compiler as
#    -isystem, that folder would shadow the target's libc and libstdc++ wrapper headers
#    (<cstdlib>'s #include_next <stdlib.h> breaks). So /usr/include is appended with
#    -idirafter instead: searched after every target folder, only for what the target
#    lacks (the header-only libraries). CMake sees it in the compiler's own search list,
#    treats it as implicit and drops the -isystem /usr/include.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(KAA_CROSS_TRIPLE "aarch64-linux-gnu" CACHE STRING "GNU triple of the cross compiler")
set(KAA_CROSS_SYSROOT "/usr/${KAA_CROSS_TRIPLE}" CACHE PATH "Target libc / libstdc++ folder (qemu -L)")

find_program(KAA_CROSS_CC NAMES ${KAA_CROSS_TRIPLE}-gcc ${KAA_CROSS_TRIPLE}-gcc-12 REQUIRED)
find_program(KAA_CROSS_CXX NAMES ${KAA_CROSS_TRIPLE}-g++ ${KAA_CROSS_TRIPLE}-g++-12 REQUIRED)
set(CMAKE_C_COMPILER ${KAA_CROSS_CC})
set(CMAKE_CXX_COMPILER ${KAA_CROSS_CXX})

# -Wno-psabi: GCC notes on every std::pair<double, double> by value that its AArch64
# parameter passing changed in GCC 10.1; kaa is built by one compiler, so it is noise.
set(CMAKE_C_FLAGS_INIT "-idirafter /usr/include -Wno-psabi")
set(CMAKE_CXX_FLAGS_INIT "-idirafter /usr/include -Wno-psabi")

# Programs (and the tests' discovery step) run through qemu-user with the target's libs.
find_program(KAA_QEMU_AARCH64 NAMES qemu-aarch64 qemu-aarch64-static)
if(KAA_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${KAA_QEMU_AARCH64} -L ${KAA_CROSS_SYSROOT})
endif()

# Libraries and headers only from the target; packages from the target, then the host.
set(CMAKE_FIND_ROOT_PATH ${KAA_CROSS_SYSROOT})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)

# The host's multiarch package folder (xsimd lives there on Debian).
cmake_host_system_information(RESULT _kaa_host_arch QUERY OS_PLATFORM)
if(EXISTS "/usr/lib/${_kaa_host_arch}-linux-gnu/cmake")
  list(APPEND CMAKE_PREFIX_PATH "/usr/lib/${_kaa_host_arch}-linux-gnu/cmake")
endif()
unset(_kaa_host_arch)
