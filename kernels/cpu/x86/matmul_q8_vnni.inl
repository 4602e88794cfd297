// matmul_q8_vnni.inl — x86 Q8_0 matmul with VNNI (vpdpbusd): the GEMV kernel of
// matmul_q8.inl with a VNNI dot, and the packed GEMM. Generic over the vector traits V
// (W = V::kW rows per vector) and Dp, which wraps the ISA's vpdpbusd; included by
// <isa>/matmul_q8_vnni.cpp, the only files compiled with VNNI flags.
//
// GEMM: for a block of NB rows and KCB 32-blocks of K, the weights are repacked into
// PackedBlock records (W rows x one 32-block each):
//   wq[j] lane r = bytes 4j..4j+3 of row r's block, xor 0x80   (8 vectors, j = 0..7)
//   ws[r]        = d_w of row r's block (f32)
// so that vpdpbusd(acc, wq[j], broadcast(q[4j..4j+3])) adds 4 products to each of W rows.
// A micro kernel keeps RB x T (W-row groups x tokens) int32 and f32 accumulators in
// registers; per block it issues 8 vpdpbusd per pair and one cvt + mul + fma. The pack
// (NB/W x KCB x 36W B = 288 KiB) stays in L2 while all token blocks pass over it; the
// f32 accumulators go through y between K-chunks (exact, so the recipe is unchanged).
#pragma once

#include <cstring>
#include <utility>

#include "kernels/cpu/x86/matmul_q8.inl"

namespace kaa::kernels::x86 {
namespace {

template <class V>
struct alignas(4 * V::kW) PackedBlock {
    uint8_t wq[8][4 * V::kW];
    float ws[V::kW];
};

constexpr int64_t kNB = 128;    // rows per pack
constexpr int64_t kKCB = 64;    // 32-blocks per pack (K = 2048)
constexpr int kRB = 2;          // register block: kRB x W rows x V::kVnniT tokens

// Rows [n0, n0 + R) x blocks [b0, b1) -> out[group][block - b0]. Rows past R are zero.
template <class V>
void pack(const uint8_t* w, size_t row_bytes, int64_t n0, int64_t R, int64_t b0, int64_t b1, PackedBlock<V>* out) {
    constexpr int W = V::kW;
    const int64_t nbc = b1 - b0, groups = (R + W - 1) / W;
    // Full groups gather their W scales at once (32-bit offsets: rows of < 128 MiB).
    const bool gather = row_bytes < (size_t(1) << 27);
    for (int64_t g = 0; g < groups; ++g) {
        const int64_t rows = imin(W, R - g * W);
        const uint8_t* base = w + size_t(n0 + g * W) * row_bytes;
        for (int64_t b = b0; b < b1; ++b) {
            PackedBlock<V>& pb = out[g * nbc + (b - b0)];
            __m256i v[W];  // row r's 32 quants
            for (int r = 0; r < W; ++r) {
                v[r] = _mm256_setzero_si256();
                if (r < rows) {
                    const uint8_t* blk = base + size_t(r) * row_bytes + b * kQ8BlockBytes;
                    v[r] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 2));
                }
            }
            for (int r = 0; r < W; r += 8) transpose8x8(v + r);  // now v[r + j] = dword j of rows r..r+7
            for (int j = 0; j < 8; ++j) V::store_i(pb.wq[j], V::flip_sign_bits(V::join_quads(v, j)));
            if (rows == W && gather) {
                V::store(pb.ws, V::gather_f16(base + b * kQ8BlockBytes, int32_t(row_bytes)));
            } else {
                alignas(2 * W) uint16_t h[W] = {};
                for (int r = 0; r < rows; ++r) std::memcpy(&h[r], base + size_t(r) * row_bytes + b * kQ8BlockBytes, 2);
                V::store(pb.ws, V::load_f16(h));
            }
        }
    }
}

// RB groups of W rows x T tokens over blocks [b0, b1) of the pack (pk points at the first
// group's block b0; nbc blocks per group). rows[g]: the valid rows of group g.
template <class V, class Dp, int RB, int T>
void micro(const PackedBlock<V>* pk, int64_t nbc, const XRow* xr, int64_t b0, int64_t b1, float* y, int64_t ys,
           const typename V::Tail* rows, bool first) {
    using F = typename V::F;
    using I = typename V::I;
    constexpr int W = V::kW;
    F facc[RB][T];
    for (int g = 0; g < RB; ++g)
        for (int t = 0; t < T; ++t) facc[g][t] = first ? V::zero() : V::load(y + t * ys + W * g, rows[g]);
    for (int64_t b = b0; b < b1; ++b) {
        const PackedBlock<V>* pb[RB];
        for (int g = 0; g < RB; ++g) pb[g] = pk + g * nbc + (b - b0);
        I iacc[RB][T];
        for (int t = 0; t < T; ++t) {
            const I nc = V::set1_i32(xr[t].nc[b]);
            for (int g = 0; g < RB; ++g) iacc[g][t] = nc;
        }
        for (int j = 0; j < 8; ++j) {
            I wv[RB];
            for (int g = 0; g < RB; ++g) wv[g] = V::load_i(pb[g]->wq[j]);
            for (int t = 0; t < T; ++t) {
                int32_t q4;
                std::memcpy(&q4, xr[t].q + b * 32 + 4 * j, 4);
                const I xv = V::set1_i32(q4);
                for (int g = 0; g < RB; ++g) iacc[g][t] = Dp::dpbusd(iacc[g][t], wv[g], xv);
            }
        }
        for (int g = 0; g < RB; ++g) {
            const F ws = V::load(pb[g]->ws);
            for (int t = 0; t < T; ++t)
                facc[g][t] = V::fmadd(V::cvt_i32(iacc[g][t]), V::mul(ws, V::set1(xr[t].d[b])), facc[g][t]);
        }
    }
    for (int g = 0; g < RB; ++g)
        for (int t = 0; t < T; ++t) V::store(y + t * ys + W * g, rows[g], facc[g][t]);
}

template <class V>
using VnniMicroFn = void (*)(const PackedBlock<V>*, int64_t, const XRow*, int64_t, int64_t, float*, int64_t,
                             const typename V::Tail*, bool);

template <class V, class Dp, int RB, int... TT>
VnniMicroFn<V> pick_vnni_t(int t, std::integer_sequence<int, TT...>) {
    VnniMicroFn<V> fn = nullptr;
    ((t == TT + 1 ? (fn = &micro<V, Dp, RB, TT + 1>, 0) : 0), ...);
    return fn;
}
template <class V, class Dp>
VnniMicroFn<V> pick_vnni(int rb, int t) {
    constexpr auto ts = std::make_integer_sequence<int, V::kVnniT>{};
    return rb == 2 ? pick_vnni_t<V, Dp, 2>(t, ts) : pick_vnni_t<V, Dp, 1>(t, ts);
}

template <class V, class Dp>
void gemm_packed_vnni(const MatmulParams& p, const uint8_t* xq, const XLayout& L) {
    static_assert(sizeof(PackedBlock<V>) == 36 * V::kW, "PackedBlock layout");
    static_assert(kRB == 2, "pick_vnni handles 1 or 2 row groups");
    constexpr int W = V::kW, kT = V::kVnniT;
    const auto* w = static_cast<const uint8_t*>(p.w);
    auto* packed = static_cast<PackedBlock<V>*>(thread_scratch(2, size_t(kNB / W * kKCB) * sizeof(PackedBlock<V>)));
    for (int64_t n0 = p.n_begin; n0 < p.n_end; n0 += kNB) {
        const int64_t R = imin(kNB, p.n_end - n0), groups = (R + W - 1) / W;
        for (int64_t kb0 = 0; kb0 < L.nb; kb0 += kKCB) {
            const int64_t kb1 = imin(L.nb, kb0 + kKCB), nbc = kb1 - kb0;
            pack<V>(w, p.w_row_bytes, n0, R, kb0, kb1, packed);
            for (int64_t m0 = 0; m0 < p.M; m0 += kT) {
                const int tt = int(imin(kT, p.M - m0));
                XRow xr[kT];
                for (int t = 0; t < tt; ++t) xr[t] = x_row(xq, L, m0 + t);
                for (int64_t g = 0; g < groups; g += kRB) {
                    const int rb = int(imin(kRB, groups - g));
                    typename V::Tail rows[kRB];
                    for (int i = 0; i < rb; ++i) rows[i] = V::tail(R - (g + i) * W);
                    pick_vnni<V, Dp>(rb, tt)(packed + g * nbc, nbc, xr, kb0, kb1, p.y + m0 * p.y_stride + n0 + g * W,
                                             p.y_stride, rows, kb0 == 0);
                }
            }
        }
    }
}

// Dp::dpbusd(acc, w, x): acc + the sums of 4 products of unsigned w and signed x bytes.
template <class V, class Dp>
struct DotVnni {
    using I = typename V::I;
    static constexpr bool kPacked = true;
    static I dot_h(I w, I q) { return Dp::dpbusd(V::zero_i(), V::flip_sign_bits(w), q); }
    static I correct(I s, int32_t nc) { return V::add_i32(s, V::set1_i32(nc)); }
    static void gemm_packed(const MatmulParams& p, const uint8_t* xq, const XLayout& L) {
        gemm_packed_vnni<V, Dp>(p, xq, L);
    }
};

}  // namespace
}  // namespace kaa::kernels::x86
