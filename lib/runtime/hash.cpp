#include "runtime/hash.hpp"

#include <cstring>

namespace kaa::runtime {
namespace {

constexpr uint64_t kMul1 = 0x9E3779B97F4A7C15ull;  // 2^64 / golden ratio
constexpr uint64_t kMul2 = 0xC2B2AE3D27D4EB4Full;
constexpr uint64_t kMul3 = 0x165667B19E3779F9ull;

inline uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

inline uint64_t load64(const unsigned char* p) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    return v;  // little-endian hosts only; state files are little endian anyway
}

// Final avalanche (the well-known 64-bit finalizer constants).
inline uint64_t mix(uint64_t h) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

}  // namespace

uint64_t hash64(const void* data, size_t n, uint64_t seed) noexcept {
    const auto* p = static_cast<const unsigned char*>(data);
    // Four independent lanes over 32-byte stripes keep the multiplier pipelines busy.
    uint64_t lane[4] = {seed + kMul1 + kMul2, seed + kMul2, seed, seed - kMul1};
    size_t i = 0;
    for (; i + 32 <= n; i += 32)
        for (int j = 0; j < 4; ++j)
            lane[j] = rotl(lane[j] + load64(p + i + 8 * size_t(j)) * kMul2, 31) * kMul1;
    uint64_t h = rotl(lane[0], 1) + rotl(lane[1], 7) + rotl(lane[2], 12) + rotl(lane[3], 18);
    h = (h ^ uint64_t(n)) * kMul3;
    for (; i + 8 <= n; i += 8) h = rotl(h ^ (load64(p + i) * kMul2), 27) * kMul1 + kMul3;
    for (; i < n; ++i) h = rotl(h ^ (uint64_t(p[i]) * kMul3), 11) * kMul1;
    return mix(h);
}

uint64_t hash64_combine(uint64_t h, uint64_t v) noexcept {
    return mix(h ^ (v * kMul2 + kMul1 + (h << 6) + (h >> 2)));
}

}  // namespace kaa::runtime
