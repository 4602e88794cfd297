# Warnings, visibility and sanitizers shared by every kaa target.
# Never -march=native: one binary must run on every CPU; ISA-specific code is compiled
# per translation unit in kernels/cpu/ and chosen at run time.
set(KAA_WARNINGS -Wall -Wextra -Wshadow -Wno-unused-parameter)
# No fused multiply-add unless a kernel writes one: the scalar reference must round the
# same way on every architecture (GCC fuses by default when targeting AArch64).
if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
  add_compile_options($<$<COMPILE_LANGUAGE:CXX>:-ffp-contract=off>)
endif()

find_program(CCACHE_PROGRAM ccache)
if(CCACHE_PROGRAM)
  set(CMAKE_CXX_COMPILER_LAUNCHER ${CCACHE_PROGRAM})
  set(CMAKE_C_COMPILER_LAUNCHER ${CCACHE_PROGRAM})
  set(CMAKE_CUDA_COMPILER_LAUNCHER ${CCACHE_PROGRAM})
endif()

if(KAA_SANITIZE)
  add_compile_options(-fsanitize=${KAA_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${KAA_SANITIZE})
endif()

# kaa_target_defaults(target): warnings + include paths every internal target uses.
function(kaa_target_defaults target)
  target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:${KAA_WARNINGS}>)
  target_include_directories(${target} PRIVATE ${PROJECT_SOURCE_DIR}/lib ${PROJECT_SOURCE_DIR})
endfunction()
