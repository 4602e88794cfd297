// scratch.hpp — per-thread scratch memory for the SIMD kernels.
//
// Defined in a baseline-compiled file (scratch.cpp) on purpose: SIMD translation units
// are compiled with ISA flags, and any inline/template code they instantiate (std::vector
// and friends) could be merged by the linker with copies used on CPUs without that ISA.
// So SIMD files use no standard-library templates and take memory from here instead.
#pragma once

#include <cstddef>

namespace kaa::kernels {

// A 64-byte aligned buffer of at least `bytes` owned by the calling thread; `slot`
// (0..3) selects one of a few independent buffers. The pointer stays valid until the
// same thread asks the same slot for more bytes. Throws std::bad_alloc on failure.
void* thread_scratch(int slot, size_t bytes);

}  // namespace kaa::kernels
