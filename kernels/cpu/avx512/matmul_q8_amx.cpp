// AVX-512 + AMX-INT8 Q8_0 matmul: prefill (M >= kAmxMinM tokens) on Q8_0x16 weights with
// tile dot products (tdpbsud); fewer tokens go to the VNNI kernel, which reads the
// weights once from memory and is bound by that. Compiled with AVX-512 F/BW/VL/DQ + VNNI
// + AMX-TILE/INT8 flags: the only file that may use AMX.
//
// Why the Q8_0x16 layout fits AMX as it is: a B tile of tdpbsud is (K/4 rows) x (N x 4
// bytes), row k holding bytes 4k..4k+3 of each of N columns. One block (32 quants) of a
// 16-row group in q8_0_x16.hpp is 8 vectors of 64 bytes, vector j holding quants
// 4j..4j+3 of each of the 16 rows, stored unsigned (q + 128): exactly an 8 x 64-byte B
// tile of unsigned bytes. The activations' int8 rows (x86::XRow, one per token) give the
// signed A tile (16 tokens x 32 bytes) in place. Neither side is repacked.
//
// Per 32-block each tile product is one block of 16 tokens x 16 rows; its int32 sums
// are combined exactly as the VNNI kernel does (sum + nc, to f32, times w scale x
// x scale, fused add into the f32 accumulator, blocks in order), so both kernels give
// the same bits, and EmuTiles (amx_tiles.hpp) lets the tests check that without AMX.
#include "kernels/cpu/avx512/vec512.hpp"
#include "kernels/cpu/q8_0_x16.hpp"
#include "kernels/cpu/scratch.hpp"
#include "kernels/cpu/x86/amx_tiles.hpp"
#include "kernels/cpu/x86/matmul_q8.inl"

namespace kaa::kernels::avx512 {

void matmul_q8_vnni(const MatmulParams& p);  // matmul_q8_vnni.cpp

namespace {

using x86::imin;
using x86::XLayout;
using x86::XRow;

constexpr int64_t kTok = 16;       // tokens per tile: rows of A and C
constexpr int64_t kAmxNB = 64;     // weight rows per panel (4 groups of 16)
constexpr int64_t kAmxKCB = 64;    // 32-blocks per K chunk: a panel is 4 x 32 x 1088 B = 136 KiB
constexpr int64_t kAmxMinM = 13;   // fewer tokens: the VNNI kernel (weights from memory once)

// Tiles 0, 1: A, 16 tokens x 32 bytes (one block of activations);
// tiles 2, 3: B, 8 x 64 bytes (one block of a 16-row group);
// tiles 4, 5: C, 16 x 16 int32. Two sets, for blocks b and b + 1.
x86::TileConfig amx_config() {
    x86::TileConfig c;
    for (int t = 0; t < 2; ++t) {
        c.rows[t] = kTok, c.colsb[t] = 32;
        c.rows[2 + t] = 8, c.colsb[2 + t] = 64;
        c.rows[4 + t] = kTok, c.colsb[4 + t] = 64;
    }
    return c;
}

// acc[t] += f32(c[t] + nc_t[b]) * (w scales * d_t[b]) for the 16 tokens: the VNNI
// kernel's steps (x86/matmul_q8_vnni.inl, micro), in its order.
inline void accumulate(const int32_t (&c)[kTok][16], const uint8_t* scales, const XRow* xr, int64_t b,
                       __m512 (&acc)[kTok]) {
    const __m512 ws = Vec512::load_f16(reinterpret_cast<const uint16_t*>(scales));
    for (int t = 0; t < kTok; ++t) {
        const __m512i s = _mm512_add_epi32(_mm512_load_si512(c[t]), _mm512_set1_epi32(xr[t].nc[b]));
        acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(ws, _mm512_set1_ps(xr[t].d[b])), acc[t]);
    }
}

// Tokens [m0, m0 + 16) x the 16-row group starting at `group` (Q8_0x16 records) over
// blocks [b0, b1), b0 even. y (row stride ys) receives `tokens` rows of `rows` lanes;
// first: start from zero, else continue from y (exact, as in the VNNI GEMM).
template <class Tiles>
void micro_amx(const uint8_t* group, const uint8_t* xq, const XLayout& L, int64_t m0, int64_t b0, int64_t b1,
               float* y, int64_t ys, int64_t tokens, __mmask16 rows, bool first) {
    XRow xr[kTok];
    for (int t = 0; t < kTok; ++t) xr[t] = x86::x_row(xq, L, m0 + t);
    __m512 acc[kTok];
    for (int t = 0; t < kTok; ++t)
        acc[t] = first || t >= tokens ? _mm512_setzero_ps() : Vec512::load(y + t * ys, rows);
    alignas(64) int32_t c[2][kTok][16];
    const uint8_t* a = xq + m0 * L.stride;
    int64_t b = b0;
    for (; b + 2 <= b1; b += 2) {  // blocks b, b + 1: one record
        const uint8_t* r = group + (b / 2) * kX16RecordBytes;
        Tiles::template load<0>(a + b * 32, L.stride);
        Tiles::template load<2>(r, 64);
        Tiles::template zero<4>();
        Tiles::template dpbsud<4, 0, 2>();
        Tiles::template load<1>(a + (b + 1) * 32, L.stride);
        Tiles::template load<3>(r + 512, 64);
        Tiles::template zero<5>();
        Tiles::template dpbsud<5, 1, 3>();
        Tiles::template store<4>(c[0], 64);
        Tiles::template store<5>(c[1], 64);
        accumulate(c[0], r + kX16ScalesOffset, xr, b, acc);
        accumulate(c[1], r + kX16ScalesOffset + 32, xr, b + 1, acc);
    }
    if (b < b1) {  // odd block count: the last block, first half of its record
        const uint8_t* r = group + (b / 2) * kX16RecordBytes;
        Tiles::template load<0>(a + b * 32, L.stride);
        Tiles::template load<2>(r, 64);
        Tiles::template zero<4>();
        Tiles::template dpbsud<4, 0, 2>();
        Tiles::template store<4>(c[0], 64);
        accumulate(c[0], r + kX16ScalesOffset, xr, b, acc);
    }
    for (int t = 0; t < tokens; ++t) Vec512::store(y + t * ys, rows, acc[t]);
}

// Rows [n_begin, n_end) (n_begin a multiple of 16) x all M tokens. Panels of 64 rows x
// 64 blocks stay in L2 while every 16-token tile passes over them.
template <class Tiles>
void gemm_amx(const MatmulParams& p) {
    const XLayout L(p.K);
    // A tiles always read 16 token rows: rows past M are zero (their sums are dropped),
    // in the engine's shared buffer (x86::quant_x_bytes pads to 16) as in our own.
    static_assert(x86::kXRowPad % kTok == 0, "the shared buffer's padding covers whole tiles");
    const auto* xq = static_cast<const uint8_t*>(p.xq);
    if (!xq) {
        auto* own = static_cast<uint8_t*>(thread_scratch(0, x86::quant_x_bytes(p.M, p.K)));
        x86::quantize_x<Vec512>(p.x, p.x_stride, p.M, p.K, 0, p.M, own);
        xq = own;
    }

    const auto* w = static_cast<const uint8_t*>(p.w);
    const int64_t group_bytes = x16_group_bytes(p.K);
    const x86::TileConfig cfg = amx_config();
    Tiles::configure(cfg);
    for (int64_t n0 = p.n_begin; n0 < p.n_end; n0 += kAmxNB) {
        const int64_t R = imin(kAmxNB, p.n_end - n0);
        for (int64_t kb0 = 0; kb0 < L.nb; kb0 += kAmxKCB) {
            const int64_t kb1 = imin(L.nb, kb0 + kAmxKCB);
            for (int64_t m0 = 0; m0 < p.M; m0 += kTok)
                for (int64_t g = 0; g * 16 < R; ++g)
                    micro_amx<Tiles>(w + (n0 / 16 + g) * group_bytes, xq, L, m0, kb0, kb1,
                                     p.y + m0 * p.y_stride + n0 + g * 16, p.y_stride, imin(kTok, p.M - m0),
                                     Vec512::tail(R - g * 16), kb0 == 0);
        }
    }
    Tiles::release();  // leave no tile state to the thread's next user
}

template <class Tiles>
void matmul_q8_tiles(const MatmulParams& p) {
    if (p.w_layout == WeightLayout::q8_0_x16 && p.M >= kAmxMinM) return gemm_amx<Tiles>(p);
    matmul_q8_vnni(p);
}

}  // namespace

// The backend's Q8_0 entry on CPUs with AMX-INT8 (lib/runtime/dispatch.cpp checks the
// CPU, XCR0 and the OS grant). A compiler without AMX support builds the VNNI path here.
void matmul_q8_amx(const MatmulParams& p) {
#if defined(__AMX_TILE__) && defined(__AMX_INT8__)
    matmul_q8_tiles<x86::HwTiles>(p);
#else
    matmul_q8_vnni(p);
#endif
}

// The same kernel on emulated tiles: for tests on CPUs without AMX (slow).
void matmul_q8_amx_emulated(const MatmulParams& p) { matmul_q8_tiles<x86::EmuTiles>(p); }

}  // namespace kaa::kernels::avx512
