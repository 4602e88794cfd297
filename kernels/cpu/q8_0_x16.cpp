// q8_0_x16.cpp — fills the Q8_0x16 layout (q8_0_x16.hpp). Plain C++, baseline flags: it
// runs once per weight at load time and is bound by memory, not arithmetic.
#include "kernels/cpu/q8_0_x16.hpp"

#include <cstring>

namespace kaa::kernels {

void pack_q8_0_x16(const uint8_t* w, size_t row_bytes, int64_t N, int64_t K, int64_t g_begin, int64_t g_end,
                   uint8_t* out) {
    constexpr int64_t kBlockBytes = 34;  // f16 d, then 32 int8 quants
    const int64_t nb = K / 32, gb = x16_group_bytes(K);
    for (int64_t g = g_begin; g < g_end; ++g) {
        uint8_t* grp = out + g * gb;
        std::memset(grp, 0, size_t(gb));  // padding rows and the odd last block stay zero
        for (int64_t r = 0; r < kX16Rows && g * kX16Rows + r < N; ++r) {
            const uint8_t* row = w + size_t(g * kX16Rows + r) * row_bytes;
            for (int64_t b = 0; b < nb; ++b) {
                const uint8_t* blk = row + b * kBlockBytes;
                uint8_t* rec = grp + (b / 2) * kX16RecordBytes;
                uint8_t* quants = rec + (b % 2) * 512;
                for (int j = 0; j < 8; ++j)
                    for (int i = 0; i < 4; ++i) quants[j * 64 + r * 4 + i] = uint8_t(blk[2 + 4 * j + i] ^ 0x80u);
                std::memcpy(rec + kX16ScalesOffset + (b % 2) * 32 + r * 2, blk, 2);
            }
        }
    }
}

}  // namespace kaa::kernels
