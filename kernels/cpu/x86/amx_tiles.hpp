// amx_tiles.hpp — the AMX tile operations the Q8_0 GEMM uses (avx512/matmul_q8_amx.cpp),
// twice: HwTiles runs the instructions; EmuTiles computes the same thing in plain C++,
// with the instructions' operand checks, so the kernel's addressing and tile shapes are
// tested on CPUs without AMX (the test suite's machines) and compared bit for bit with
// the VNNI kernel.
//
// The facts used (Intel SDM vol. 2, LDTILECFG / TILELOADD / TDPBSUD):
//  - ldtilecfg reads 64 bytes: palette id (byte 0), start row (1), 14 reserved bytes,
//    then colsb[16] (bytes per row of tile i, u16) and rows[16] (u8). Palette 1 has 8
//    tiles of at most 16 rows x 64 bytes. Tiles whose rows/colsb are 0 are unused.
//  - tileloadd t, [base + stride]: row r of t = colsb(t) bytes at base + r * stride; the
//    bytes past colsb and the rows past rows(t) read as zero. tilestored writes the rows
//    back the same way.
//  - tdpbsud c, a, b: for m < rows(c), n < colsb(c) / 4:
//      c[m][n] += sum over k < colsb(a) / 4, i < 4 of s8 a[m][4k + i] * u8 b[k][4n + i]
//    (int32, wrapping). It faults (#UD) unless rows(a) == rows(c),
//    colsb(a) / 4 == rows(b) and colsb(b) == colsb(c).
//  - tilerelease returns the tile state to its initial (unconfigured) state.
//
// Internal linkage: compiled into one AMX translation unit only.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#ifdef __AMX_TILE__
#include <immintrin.h>
#endif

namespace kaa::kernels::x86 {
namespace {

struct alignas(64) TileConfig {
    uint8_t palette = 1;
    uint8_t start_row = 0;
    uint8_t reserved[14] = {};
    uint16_t colsb[16] = {};
    uint8_t rows[16] = {};
};
static_assert(sizeof(TileConfig) == 64, "the ldtilecfg operand is 64 bytes");

#if defined(__AMX_TILE__) && defined(__AMX_INT8__)
// The compilers' tile intrinsics take the tile number as a literal (it becomes part of the
// instruction text), hence the spelled-out cases.
#define KAA_TILE_CASES(OP) \
    if constexpr (T == 0) OP(0); \
    else if constexpr (T == 1) OP(1); \
    else if constexpr (T == 2) OP(2); \
    else if constexpr (T == 3) OP(3); \
    else if constexpr (T == 4) OP(4); \
    else if constexpr (T == 5) OP(5); \
    else if constexpr (T == 6) OP(6); \
    else OP(7)
struct HwTiles {
    static void configure(const TileConfig& c) { _tile_loadconfig(&c); }
    static void release() { _tile_release(); }
    template <int T>
    static void zero() {
#define KAA_OP(t) _tile_zero(t)
        KAA_TILE_CASES(KAA_OP);
#undef KAA_OP
    }
    template <int T>
    static void load(const void* p, int64_t stride) {
#define KAA_OP(t) _tile_loadd(t, p, stride)
        KAA_TILE_CASES(KAA_OP);
#undef KAA_OP
    }
    template <int T>
    static void store(void* p, int64_t stride) {
#define KAA_OP(t) _tile_stored(t, p, stride)
        KAA_TILE_CASES(KAA_OP);
#undef KAA_OP
    }
    // The combinations the GEMM uses.
    template <int C, int A, int B>
    static void dpbsud() {
        static_assert((C == 4 && A == 0 && B == 2) || (C == 5 && A == 1 && B == 3), "add the case");
        if constexpr (C == 4)
            _tile_dpbsud(4, 0, 2);
        else
            _tile_dpbsud(5, 1, 3);
    }
};
#undef KAA_TILE_CASES
#endif

struct EmuTiles {
    struct State {
        TileConfig cfg;
        bool configured = false;
        alignas(64) uint8_t t[8][16][64];
    };
    static State& state() {
        static thread_local State s;
        return s;
    }
    // Where the hardware would fault, the emulation stops the program: a test that
    // reaches this has found a kernel bug.
    [[noreturn]] static void fault(const char* what) {
        std::fprintf(stderr, "kaa: emulated AMX fault: %s\n", what);
        std::abort();
    }
    template <int T>
    static State& tile_state() {
        static_assert(T >= 0 && T < 8, "palette 1 has tiles 0..7");
        State& s = state();
        if (!s.configured) fault("tile instruction before ldtilecfg");
        return s;
    }

    static void configure(const TileConfig& c) {
        if (c.palette != 1) fault("palette other than 1");
        if (c.start_row != 0) fault("start_row != 0");
        for (int i = 0; i < 16; ++i) {
            const bool in_palette = i < 8;
            if (c.rows[i] > (in_palette ? 16 : 0) || c.colsb[i] > (in_palette ? 64 : 0))
                fault("tile shape outside palette 1");
            if ((c.rows[i] == 0) != (c.colsb[i] == 0)) fault("tile with rows but no columns (or the reverse)");
        }
        State& s = state();
        s.cfg = c;
        s.configured = true;
        std::memset(s.t, 0, sizeof(s.t));
    }
    static void release() { state().configured = false; }

    template <int T>
    static void zero() {
        std::memset(tile_state<T>().t[T], 0, sizeof(State::t[T]));
    }
    template <int T>
    static void load(const void* p, int64_t stride) {
        State& s = tile_state<T>();
        if (s.cfg.rows[T] == 0) fault("tileloadd into an unconfigured tile");
        std::memset(s.t[T], 0, sizeof(State::t[T]));
        for (int r = 0; r < s.cfg.rows[T]; ++r)
            std::memcpy(s.t[T][r], static_cast<const uint8_t*>(p) + r * stride, s.cfg.colsb[T]);
    }
    template <int T>
    static void store(void* p, int64_t stride) {
        State& s = tile_state<T>();
        if (s.cfg.rows[T] == 0) fault("tilestored from an unconfigured tile");
        for (int r = 0; r < s.cfg.rows[T]; ++r)
            std::memcpy(static_cast<uint8_t*>(p) + r * stride, s.t[T][r], s.cfg.colsb[T]);
    }
    template <int C, int A, int B>
    static void dpbsud() {
        static_assert(C != A && C != B && A != B, "tdpbsud needs three different tiles");
        State& s = tile_state<C>();
        const TileConfig& c = s.cfg;
        if (c.rows[C] == 0 || c.rows[A] == 0 || c.rows[B] == 0) fault("tdpbsud on an unconfigured tile");
        if (c.rows[A] != c.rows[C] || c.colsb[A] / 4 != c.rows[B] || c.colsb[B] != c.colsb[C] || c.colsb[A] % 4)
            fault("tdpbsud operand shapes do not match");
        for (int m = 0; m < c.rows[C]; ++m)
            for (int n = 0; n < c.colsb[C] / 4; ++n) {
                int32_t acc;
                std::memcpy(&acc, &s.t[C][m][4 * n], 4);
                uint32_t sum = uint32_t(acc);  // the hardware wraps
                for (int k = 0; k < c.colsb[A] / 4; ++k)
                    for (int i = 0; i < 4; ++i)
                        sum += uint32_t(int32_t(int8_t(s.t[A][m][4 * k + i])) * int32_t(s.t[B][k][4 * n + i]));
                acc = int32_t(sum);
                std::memcpy(&s.t[C][m][4 * n], &acc, 4);
            }
    }
};

}  // namespace
}  // namespace kaa::kernels::x86
