# Every third-party dependency is found here, and a missing one stops configuration
# with the Debian package that provides it.
macro(kaa_require_package name debian_pkg)
  find_package(${name} ${ARGN} QUIET)
  if(NOT ${name}_FOUND)
    message(FATAL_ERROR "kaa needs ${name}: install it with `apt-get install ${debian_pkg}` "
                        "(or point CMAKE_PREFIX_PATH at a folder holding it).")
  endif()
endmacro()

find_package(Threads REQUIRED)
kaa_require_package(Eigen3 libeigen3-dev NO_MODULE)
kaa_require_package(xsimd libxsimd-dev)
if(KAA_BUILD_TESTS)
  kaa_require_package(Catch2 catch2)
  kaa_require_package(nlohmann_json nlohmann-json3-dev)
endif()
