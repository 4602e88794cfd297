// q8_0_x16.hpp — the Q8_0x16 weight layout: a Q8_0 matrix (N x K, K % 32 == 0, nb = K / 32
// blocks per row) re-laid once at model load so that vpdpbusd-style int8 dot products
// find 16 rows in the 16 int32 lanes of a vector, ready to use: the GEMV needs no
// transpose-reduce and the GEMM no per-call repacking (kernels/cpu/x86/matmul_q8_vnni.inl).
//
// Rows go in groups of 16 (the last group padded with zero rows). A group is
// ceil(nb / 2) records of 1088 bytes (17 cache lines), one per pair of blocks (2p, 2p+1):
//   [0, 512)      block 2p:   8 vectors of 64 bytes; vector j holds, in bytes 4r..4r+3,
//                 quants 4j..4j+3 of row r, each stored as q + 128 (q xor 0x80: the
//                 unsigned operand of vpdpbusd)
//   [512, 1024)   block 2p+1, the same (zero when nb is odd and this is the last record)
//   [1024, 1056)  f16 scales d of block 2p, rows 0..15
//   [1056, 1088)  f16 scales d of block 2p+1
// A group of 16 full rows is exactly as large as the 16 stored rows when nb is even.
// The buffer is 64-byte aligned, so every quant vector is a whole cache line.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kaa::kernels {

constexpr int64_t kX16Rows = 16;
constexpr int64_t kX16RecordBytes = 1088;
constexpr int64_t kX16ScalesOffset = 1024;

inline int64_t x16_groups(int64_t N) { return (N + kX16Rows - 1) / kX16Rows; }
inline int64_t x16_group_bytes(int64_t K) { return (K / 32 + 1) / 2 * kX16RecordBytes; }
inline size_t x16_bytes(int64_t N, int64_t K) { return size_t(x16_groups(N)) * size_t(x16_group_bytes(K)); }

// Re-lays groups [g_begin, g_end) of the stored Q8_0 matrix `w` (N rows of row_bytes)
// into `out` (x16_bytes(N, K) bytes, 64-byte aligned). Groups are independent, so
// threads may fill disjoint ranges.
void pack_q8_0_x16(const uint8_t* w, size_t row_bytes, int64_t N, int64_t K, int64_t g_begin, int64_t g_end,
                   uint8_t* out);

}  // namespace kaa::kernels
