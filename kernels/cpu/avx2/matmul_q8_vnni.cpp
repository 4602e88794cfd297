// AVX-VNNI Q8_0 matmul (Alder Lake, Sapphire Rapids, Zen 5): the GEMV kernel of
// matmul_q8.hpp with vpdpbusd, and the packed GEMM. Compiled with AVX2 + AVX-VNNI.
//
// GEMM: a block of NB rows x KCB 32-blocks of K is repacked into PackedBlock records
// (8 rows x one 32-block):  wq[j] lane r = bytes 4j..4j+3 of row r's block, xor 0x80;
// ws[r] = d_w of that block. vpdpbusd(acc, wq[j], broadcast(q[4j..4j+3])) then adds 4
// products to each of 8 rows; per block a micro kernel issues 8 of them per (row group,
// token) and one cvt + mul + fma. The pack (NB/8 x KCB x 288 B = 288 KiB) stays in L2
// while the token blocks pass over it; f32 accumulators go through y between K-chunks.
#include <utility>

#include "kernels/cpu/avx2/matmul_q8.hpp"

namespace kaa::kernels::avx2 {
namespace {

struct alignas(32) PackedBlock {
    uint8_t wq[8][32];
    float ws[8];
};
static_assert(sizeof(PackedBlock) == 288, "PackedBlock layout");

constexpr int64_t kNB = 128;  // rows per pack (16 groups of 8)
constexpr int64_t kKCB = 64;  // 32-blocks per pack (K = 2048)
constexpr int kRB = 2, kT = 3;  // register block: 2 x 8 rows, 3 tokens (12 + 2 of 16 ymm)

// r[i] dword j <-> r[j] dword i.
inline void transpose8x8(__m256i (&r)[8]) {
    __m256i t[8], u[8];
    for (int i = 0; i < 4; ++i) {
        t[2 * i] = _mm256_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 2; ++i) {
        u[4 * i + 0] = _mm256_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
        u[4 * i + 1] = _mm256_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
        u[4 * i + 2] = _mm256_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
        u[4 * i + 3] = _mm256_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
    }
    for (int j = 0; j < 4; ++j) {
        r[j] = _mm256_permute2x128_si256(u[j], u[4 + j], 0x20);
        r[j + 4] = _mm256_permute2x128_si256(u[j], u[4 + j], 0x31);
    }
}

// Rows [n0, n0 + R) x blocks [b0, b1) -> out[group][block - b0]. Rows past R are zero.
void pack(const uint8_t* w, size_t row_bytes, int64_t n0, int64_t R, int64_t b0, int64_t b1, PackedBlock* out) {
    const int64_t nbc = b1 - b0, groups = (R + 7) / 8;
    const __m256i flip = _mm256_set1_epi8(char(0x80));
    for (int64_t g = 0; g < groups; ++g) {
        const int64_t rows = imin(8, R - g * 8);
        const uint8_t* base = w + size_t(n0 + g * 8) * row_bytes;
        for (int64_t b = b0; b < b1; ++b) {
            PackedBlock& pb = out[g * nbc + (b - b0)];
            __m256i v[8];
            alignas(16) uint16_t h[8] = {};
            for (int r = 0; r < 8; ++r) {
                v[r] = _mm256_setzero_si256();
                if (r < rows) {
                    const uint8_t* blk = base + size_t(r) * row_bytes + b * kQ8BlockBytes;
                    v[r] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 2));
                    std::memcpy(&h[r], blk, 2);
                }
            }
            transpose8x8(v);
            for (int j = 0; j < 8; ++j)
                _mm256_store_si256(reinterpret_cast<__m256i*>(pb.wq[j]), _mm256_xor_si256(v[j], flip));
            _mm256_store_ps(pb.ws, _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(h))));
        }
    }
}

// RB groups of 8 rows x T tokens over blocks [b0, b1) of the pack.
template <int RB, int T>
void micro(const PackedBlock* pk, int64_t nbc, const XRow* xr, int64_t b0, int64_t b1, float* y, int64_t ys,
           const __m256i* rows, bool first) {
    __m256 facc[RB][T];
    for (int g = 0; g < RB; ++g)
        for (int t = 0; t < T; ++t)
            facc[g][t] = first ? _mm256_setzero_ps() : _mm256_maskload_ps(y + t * ys + 8 * g, rows[g]);
    for (int64_t b = b0; b < b1; ++b) {
        const PackedBlock* pb[RB];
        for (int g = 0; g < RB; ++g) pb[g] = pk + g * nbc + (b - b0);
        __m256i iacc[RB][T];
        for (int t = 0; t < T; ++t) {
            const __m256i nc = _mm256_set1_epi32(xr[t].nc[b]);
            for (int g = 0; g < RB; ++g) iacc[g][t] = nc;
        }
        for (int j = 0; j < 8; ++j) {
            __m256i wv[RB];
            for (int g = 0; g < RB; ++g) wv[g] = _mm256_load_si256(reinterpret_cast<const __m256i*>(pb[g]->wq[j]));
            for (int t = 0; t < T; ++t) {
                int32_t q4;
                std::memcpy(&q4, xr[t].q + b * 32 + 4 * j, 4);
                const __m256i xv = _mm256_set1_epi32(q4);
                for (int g = 0; g < RB; ++g) iacc[g][t] = _mm256_dpbusd_avx_epi32(iacc[g][t], wv[g], xv);
            }
        }
        for (int g = 0; g < RB; ++g) {
            const __m256 ws = _mm256_load_ps(pb[g]->ws);
            for (int t = 0; t < T; ++t)
                facc[g][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(iacc[g][t]), _mm256_mul_ps(ws, _mm256_set1_ps(xr[t].d[b])),
                                             facc[g][t]);
        }
    }
    for (int g = 0; g < RB; ++g)
        for (int t = 0; t < T; ++t) _mm256_maskstore_ps(y + t * ys + 8 * g, rows[g], facc[g][t]);
}

using MicroFn = void (*)(const PackedBlock*, int64_t, const XRow*, int64_t, int64_t, float*, int64_t, const __m256i*,
                         bool);

template <int RB, int... TT>
MicroFn pick_t(int t, std::integer_sequence<int, TT...>) {
    MicroFn fn = nullptr;
    ((t == TT + 1 ? (fn = &micro<RB, TT + 1>, 0) : 0), ...);
    return fn;
}
MicroFn pick(int rb, int t) {
    return rb == 2 ? pick_t<2>(t, std::make_integer_sequence<int, kT>{}) : pick_t<1>(t, std::make_integer_sequence<int, kT>{});
}

void gemm_packed_vnni(const MatmulParams& p, const uint8_t* xq, const XLayout& L) {
    const auto* w = static_cast<const uint8_t*>(p.w);
    auto* packed = static_cast<PackedBlock*>(thread_scratch(2, size_t(kNB / 8 * kKCB) * sizeof(PackedBlock)));
    for (int64_t n0 = p.n_begin; n0 < p.n_end; n0 += kNB) {
        const int64_t R = imin(kNB, p.n_end - n0), groups = (R + 7) / 8;
        for (int64_t kb0 = 0; kb0 < L.nb; kb0 += kKCB) {
            const int64_t kb1 = imin(L.nb, kb0 + kKCB), nbc = kb1 - kb0;
            pack(w, p.w_row_bytes, n0, R, kb0, kb1, packed);
            for (int64_t m0 = 0; m0 < p.M; m0 += kT) {
                const int tt = int(imin(kT, p.M - m0));
                XRow xr[kT];
                for (int t = 0; t < tt; ++t) xr[t] = x_row(xq, L, m0 + t);
                for (int64_t g = 0; g < groups; g += kRB) {
                    const int rb = int(imin(kRB, groups - g));
                    __m256i rows[kRB];
                    for (int i = 0; i < rb; ++i) rows[i] = lanes8(R - (g + i) * 8);
                    pick(rb, tt)(packed + g * nbc, nbc, xr, kb0, kb1, p.y + m0 * p.y_stride + n0 + g * 8, p.y_stride,
                                 rows, kb0 == 0);
                }
            }
        }
    }
}

struct DotVnni {
    static constexpr bool kPacked = true;
    static __m256i dot_h(__m256i w, __m256i q) {
        return _mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), _mm256_xor_si256(w, _mm256_set1_epi8(char(0x80))), q);
    }
    static __m256i correct(__m256i I, int32_t nc) { return _mm256_add_epi32(I, _mm256_set1_epi32(nc)); }
    static void gemm_packed(const MatmulParams& p, const uint8_t* xq, const XLayout& L) { gemm_packed_vnni(p, xq, L); }
};

}  // namespace

void matmul_q8_vnni(const MatmulParams& p) { matmul_q8<DotVnni>(p); }

}  // namespace kaa::kernels::avx2
