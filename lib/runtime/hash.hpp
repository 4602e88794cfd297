// hash.hpp — a fast 64-bit non-cryptographic hash for fingerprints and checksums.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kaa::runtime {

// Hashes n bytes; any change of a bit changes the result with overwhelming probability.
// Not cryptographic: detects corruption, not tampering.
uint64_t hash64(const void* data, size_t n, uint64_t seed = 0) noexcept;

// Incremental form: hash64_combine(h, v) mixes a 64-bit value into a running hash.
uint64_t hash64_combine(uint64_t h, uint64_t v) noexcept;

}  // namespace kaa::runtime
