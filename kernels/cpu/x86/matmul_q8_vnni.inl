// matmul_q8_vnni.inl — x86 Q8_0 matmul with VNNI (vpdpbusd): the GEMV kernel of
// matmul_q8.inl with a VNNI dot, and the packed GEMM. Generic over the vector traits V
// (W = V::kW rows per vector) and Dp, which wraps the ISA's vpdpbusd; included by
// <isa>/matmul_q8_vnni.cpp, the only files compiled with VNNI flags.
//
// GEMM: the micro kernel wants, per W-row group and 32-block, 8 vectors whose lane r
// holds 4 quants of row r (+128) and the W row scales, so that
// vpdpbusd(acc, wq[j], broadcast(q[4j..4j+3])) adds 4 products to each of W rows. Two
// sources provide them:
//  - PackSrc: weights as stored, repacked per call into PackedBlock records
//    (wq[j] as above, ws = f32 scales). For a block of NB rows and KCB 32-blocks the pack
//    (NB/W x KCB x 36W B = 288 KiB) stays in L2 while all token blocks pass over it.
//  - X16Src: weights re-laid at model load (WeightLayout::q8_0_x16, q8_0_x16.hpp); read
//    in place, for every M up to V::kBatchMaxM; the GEMV (M = 1) has a kernel of its
//    own, gemv_x16.
// A micro kernel keeps RB x T (W-row groups x tokens) int32 accumulators in registers,
// and the f32 ones too where they fit (at T = 8 the compiler spills those, touched once
// a block); per block it issues 8 vpdpbusd per pair and one cvt + mul + fma. The f32
// accumulators go through y between K-chunks (exact, so the recipe is unchanged). Only
// X16Src streams from memory, so only it is prefetched (in the kernels themselves: see
// micro).
#pragma once

#include <cstring>
#include <utility>

#include "kernels/cpu/q8_0_x16.hpp"
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
// Q8_0x16 software prefetch distance, in 32-blocks (4.3 KB a 16-row group). In one
// process, 2 threads, GB/s (medians of 15; session 7): ssm_in M = 1 without / 4 / 8 / 16:
// 27.0 / 28.2 / 28.5 / 27.9, ssm_out 28.0 / 29.8 / 29.6 / 26.6, LM head 28.0 / 29.9 /
// 29.9 / 28.7; ssm_in M = 8: 16.4 / 19.4 / 19.8 / 19.3.
constexpr int64_t kPF = 8;
constexpr int kRB = 2;          // register block: kRB x W rows x (packs: V::kVnniT, in place: V::kBatchT) tokens

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

// The blocks of a per-call pack: pk points at the first group's block b0, nbc blocks
// per group.
template <class V>
struct PackSrc {
    static constexpr bool kStreams = false;  // in L2 already
    const PackedBlock<V>* pk;
    int64_t nbc, b0;
    const PackedBlock<V>& at(int g, int64_t b) const { return pk[g * nbc + (b - b0)]; }
    typename V::I wq(int g, int64_t b, int j) const { return V::load_i(at(g, b).wq[j]); }
    typename V::F ws(int g, int64_t b) const { return V::load(at(g, b).ws); }
};

// The blocks of a Q8_0x16 matrix, for the W-row groups starting at row n (a multiple of
// W): group g covers rows n + gW .. n + gW + W - 1, which sit in half (n / W + g) % H of
// 16-row group (n / W + g) / H, H = 16 / W. Read from memory, so the micro kernel
// prefetches it (kStreams).
template <class V>
struct X16Src {
    static constexpr int W = V::kW, H = int(kX16Rows) / W;
    static constexpr bool kStreams = true;
    const uint8_t* w;  // the whole matrix
    int64_t group_bytes, n;
    // The micro kernel's RB groups are followed by RB more in the caller's range: the
    // prefetch runs on into their first blocks instead of stopping kPF blocks early.
    bool next = false;
    const uint8_t* rec(int g, int64_t b, int* half) const {
        const int64_t idx = n / W + g;
        *half = int(idx % H);
        return w + (idx / H) * group_bytes + (b / 2) * kX16RecordBytes;
    }
    // Block b's quants for group g: line j at + 64 j.
    const uint8_t* quants(int g, int64_t b) const {
        int h;
        const uint8_t* r = rec(g, b, &h);
        return r + (b % 2) * 512 + h * 4 * W;
    }
    typename V::I wq(int g, int64_t b, int j) const { return V::load_i(quants(g, b) + j * 64); }
    typename V::F ws(int g, int64_t b) const {
        int h;
        const uint8_t* r = rec(g, b, &h);
        return V::load_f16(reinterpret_cast<const uint16_t*>(r + kX16ScalesOffset + (b % 2) * 32 + h * 2 * W));
    }
    // Line j of block b's quants, and the line of its record's scales.
    const char* quant_line(int g, int64_t b, int j) const {
        int h;
        return reinterpret_cast<const char*>(rec(g, b, &h) + (b % 2) * 512 + j * 64);
    }
    const char* scale_line(int g, int64_t b) const {
        int h;
        return reinterpret_cast<const char*>(rec(g, b, &h) + kX16ScalesOffset);
    }
};

// RB groups of W rows x T tokens over blocks [b0, b1) of src. rows[g]: the valid rows of
// group g; first: y holds nothing yet (else the accumulators continue from y).
template <class V, class Dp, class Src, int RB, int T>
void micro(const Src& src, const XRow* xr, int64_t b0, int64_t b1, float* y, int64_t ys,
           const typename V::Tail* rows, bool first) {
    using F = typename V::F;
    using I = typename V::I;
    constexpr int W = V::kW;
    F facc[RB][T];
    for (int g = 0; g < RB; ++g)
        for (int t = 0; t < T; ++t) facc[g][t] = first ? V::zero() : V::load(y + t * ys + W * g, rows[g]);
    for (int64_t b = b0; b < b1; ++b) {
        I iacc[RB][T];
        for (int t = 0; t < T; ++t) {
            const I nc = V::set1_i32(xr[t].nc[b]);
            for (int g = 0; g < RB; ++g) iacc[g][t] = nc;
        }
        for (int j = 0; j < 8; ++j) {
            I wv[RB];
            for (int g = 0; g < RB; ++g) {
                // Line j of block b + kPF (and with j = 0 its scales), or near the end
                // of the groups, of the next RB groups' blocks. The intrinsic must sit
                // here: GCC marks a function whose only effect is a prefetch as const
                // and deletes calls to it. Running on into the next groups, in one
                // process, 2 threads, GB/s: ssm_in 25.1 -> 25.4, ssm_out 28.1 -> 28.8,
                // LM head 27.0 -> 27.6, dt_proj (K = 256) 23.6 -> 27.0, M = 8 24.5 -> 25.3.
                if constexpr (Src::kStreams) {
                    if (b + kPF < b1) {
                        _mm_prefetch(src.quant_line(g, b + kPF, j), _MM_HINT_T0);
                        if (j == 0) _mm_prefetch(src.scale_line(g, b + kPF), _MM_HINT_T0);
                    } else if (src.next) {
                        _mm_prefetch(src.quant_line(g + RB, b + kPF - b1 + b0, j), _MM_HINT_T0);
                        if (j == 0) _mm_prefetch(src.scale_line(g + RB, b + kPF - b1 + b0), _MM_HINT_T0);
                    }
                }
                wv[g] = src.wq(g, b, j);
            }
            for (int t = 0; t < T; ++t) {
                int32_t q4;
                std::memcpy(&q4, xr[t].q + b * 32 + 4 * j, 4);
                const I xv = V::set1_i32(q4);
                for (int g = 0; g < RB; ++g) iacc[g][t] = Dp::dpbusd(iacc[g][t], wv[g], xv);
            }
        }
        for (int g = 0; g < RB; ++g) {
            const F ws = src.ws(g, b);
            for (int t = 0; t < T; ++t)
                facc[g][t] = V::fmadd(V::cvt_i32(iacc[g][t]), V::mul(ws, V::set1(xr[t].d[b])), facc[g][t]);
        }
    }
    for (int g = 0; g < RB; ++g)
        for (int t = 0; t < T; ++t) V::store(y + t * ys + W * g, rows[g], facc[g][t]);
}

// The GEMV (M = 1): micro<V, Dp, X16Src<V>, RB, 1> with its address arithmetic and
// prefetch choice hoisted out of the line loop. Per block, each group's quant lines and
// the lines to prefetch (block b + kPF; near the end, the next RB groups' first blocks;
// with neither, block b itself again, which costs no branch) are found once, and each of
// the 8 lines then costs a prefetch, a load and a vpdpbusd. In micro, GCC kept the line
// loop rolled with the prefetch choice, spills and address arithmetic inside: ~50
// instructions per 4 lines. A loop that only loads the layout in the same order read
// 31.5 GB/s where micro read 30.0 and the probe 32.8; gemv_x16 reads 31.4 (in one
// process, 2 threads, ssm_in, medians of 15; ssm_out 29.6 -> 31.1, LM head 29.9 -> 31.7,
// dt_proj 28.0 -> 30.0, x_proj 29.0 -> 30.6). The same hoisting in micro for batches
// changed nothing measurable (M = 8: 25.4 -> 24.9, M = 5: 27.7 -> 28.3, M = 256 the same).
// Kept out of line (one call covers RB groups x K) so that tests/tools/check_prefetch.py
// finds it in the disassembly.
template <class V, class Dp, int RB>
__attribute__((noinline)) void gemv_x16(const X16Src<V>& src, const XRow& xr, int64_t nb, float* y, const typename V::Tail* rows) {
    using F = typename V::F;
    using I = typename V::I;
    F facc[RB];
    for (int g = 0; g < RB; ++g) facc[g] = V::zero();
    for (int64_t b = 0; b < nb; ++b) {
        int64_t bp = b + kPF;
        int gp = 0;
        if (bp >= nb) {
            if (src.next) {
                bp -= nb;
                gp = RB;
            } else {
                bp = b;
            }
        }
        const uint8_t* q[RB];
        const char* pq[RB];
        const char* ps[RB];
        for (int g = 0; g < RB; ++g) {
            q[g] = src.quants(g, b);
            pq[g] = src.quant_line(g + gp, bp, 0);
            ps[g] = src.scale_line(g + gp, bp);
        }
        I acc[RB];
        const I nc = V::set1_i32(xr.nc[b]);
        for (int g = 0; g < RB; ++g) acc[g] = nc;
#pragma GCC unroll 8
        for (int j = 0; j < 8; ++j) {
            int32_t q4;
            std::memcpy(&q4, xr.q + b * 32 + 4 * j, 4);
            const I xv = V::set1_i32(q4);
            for (int g = 0; g < RB; ++g) {
                _mm_prefetch(pq[g] + 64 * j, _MM_HINT_T0);
                if (j == 0) _mm_prefetch(ps[g], _MM_HINT_T0);
                acc[g] = Dp::dpbusd(acc[g], V::load_i(q[g] + 64 * j), xv);
            }
        }
        const F d = V::set1(xr.d[b]);
        for (int g = 0; g < RB; ++g) facc[g] = V::fmadd(V::cvt_i32(acc[g]), V::mul(src.ws(g, b), d), facc[g]);
    }
    for (int g = 0; g < RB; ++g) V::store(y + V::kW * g, rows[g], facc[g]);
}

template <class V, class Src>
using VnniMicroFn = void (*)(const Src&, const XRow*, int64_t, int64_t, float*, int64_t, const typename V::Tail*,
                             bool);

template <class V, class Dp, class Src, int RB, int... TT>
VnniMicroFn<V, Src> pick_vnni_t(int t, std::integer_sequence<int, TT...>) {
    VnniMicroFn<V, Src> fn = nullptr;
    ((t == TT + 1 ? (fn = &micro<V, Dp, Src, RB, TT + 1>, 0) : 0), ...);
    return fn;
}
// gemv_x16 over rb W-row groups, rb in 1, 2, 4 and (V::kGemvRB = 8) 8.
template <class V, class Dp>
void gemv_x16_rb(int rb, const X16Src<V>& src, const XRow& xr, int64_t nb, float* y, const typename V::Tail* rows) {
    if constexpr (V::kGemvRB >= 8) {
        if (rb == 8) return gemv_x16<V, Dp, 8>(src, xr, nb, y, rows);
    }
    if (rb == 4) return gemv_x16<V, Dp, 4>(src, xr, nb, y, rows);
    if (rb == 2) return gemv_x16<V, Dp, 2>(src, xr, nb, y, rows);
    gemv_x16<V, Dp, 1>(src, xr, nb, y, rows);
}
// rb in 1, 2 groups x t in 1 .. MaxT tokens.
template <class V, class Dp, class Src, int MaxT>
VnniMicroFn<V, Src> pick_vnni(int rb, int t) {
    constexpr auto ts = std::make_integer_sequence<int, MaxT>{};
    return rb == 2 ? pick_vnni_t<V, Dp, Src, 2>(t, ts) : pick_vnni_t<V, Dp, Src, 1>(t, ts);
}

// Packs rows [n0, n0 + R) x blocks [b0, b1) of a Q8_0x16 matrix into PackedBlock records:
// copies of its quant vectors and the scales widened to f32, no transposes. (Read in
// place, X16Src costs the L2-resident prefill kernel ~20% in address arithmetic and
// scale conversions; this copy costs ~1% at M = 256.)
template <class V>
void pack_x16(const uint8_t* w, int64_t group_bytes, int64_t n0, int64_t R, int64_t b0, int64_t b1,
              PackedBlock<V>* out) {
    constexpr int W = V::kW;
    const int64_t nbc = b1 - b0, groups = (R + W - 1) / W;
    for (int64_t g = 0; g < groups; ++g) {
        const X16Src<V> src{w, group_bytes, n0 + g * W};
        for (int64_t b = b0; b < b1; ++b) {
            PackedBlock<V>& pb = out[g * nbc + (b - b0)];
            for (int j = 0; j < 8; ++j) V::store_i(pb.wq[j], src.wq(0, b, j));
            V::store(pb.ws, src.ws(0, b));
        }
    }
}

// GEMM over per-call packs of NB rows x KCB blocks: pack_panel(n0, R, b0, b1, out) fills
// them, from stored rows or from the Q8_0x16 layout.
template <class V, class Dp, class PackPanel>
void gemm_packed_vnni(const MatmulParams& p, const uint8_t* xq, const XLayout& L, PackPanel pack_panel) {
    static_assert(sizeof(PackedBlock<V>) == 36 * V::kW, "PackedBlock layout");
    static_assert(kRB == 2, "pick_vnni handles 1 or 2 row groups");
    constexpr int W = V::kW, kT = V::kVnniT;
    auto* packed = static_cast<PackedBlock<V>*>(thread_scratch(2, size_t(kNB / W * kKCB) * sizeof(PackedBlock<V>)));
    for (int64_t n0 = p.n_begin; n0 < p.n_end; n0 += kNB) {
        const int64_t R = imin(kNB, p.n_end - n0), groups = (R + W - 1) / W;
        for (int64_t kb0 = 0; kb0 < L.nb; kb0 += kKCB) {
            const int64_t kb1 = imin(L.nb, kb0 + kKCB), nbc = kb1 - kb0;
            pack_panel(n0, R, kb0, kb1, packed);
            for (int64_t m0 = 0; m0 < p.M; m0 += kT) {
                const int tt = int(imin(kT, p.M - m0));
                XRow xr[kT];
                for (int t = 0; t < tt; ++t) xr[t] = x_row(xq, L, m0 + t);
                for (int64_t g = 0; g < groups; g += kRB) {
                    const int rb = int(imin(kRB, groups - g));
                    typename V::Tail rows[kRB];
                    for (int i = 0; i < rb; ++i) rows[i] = V::tail(R - (g + i) * W);
                    const PackSrc<V> src{packed + g * nbc, nbc, kb0};
                    pick_vnni<V, Dp, PackSrc<V>, kT>(rb, tt)(src, xr, kb0, kb1, p.y + m0 * p.y_stride + n0 + g * W,
                                                         p.y_stride, rows, kb0 == 0);
                }
            }
        }
    }
}

// WeightLayout::q8_0_x16, any M. Up to V::kBatchMaxM tokens (decode, small batches): the
// micro kernel reads the layout in place, V::kGemvRB (one token) or 2 W-row groups
// streaming all their blocks once per token block (a second token block finds them in
// L2), so the weights come from memory once. More tokens (prefill): per-call packs, as
// for stored rows.
template <class V, class Dp>
void gemm_x16(const MatmulParams& p, const uint8_t* xq, const XLayout& L) {
    constexpr int W = V::kW, kT = V::kBatchT;
    const auto* w = static_cast<const uint8_t*>(p.w);
    const int64_t group_bytes = x16_group_bytes(p.K);
    if (p.M > V::kBatchMaxM)
        return gemm_packed_vnni<V, Dp>(p, xq, L, [&](int64_t n0, int64_t R, int64_t b0, int64_t b1, PackedBlock<V>* out) {
            pack_x16<V>(w, group_bytes, n0, R, b0, b1, out);
        });
    if (p.M == 1) {
        // Decode: V::kGemvRB W-row groups at a time, four streams of the layout (AVX-512:
        // four 16-row groups; AVX2: eight 8-row groups). 2 threads, 4 parts each, as the
        // engine runs it, the group count alternated within one process, medians of 15,
        // GB/s (session 7, with the prefetch in place; session 6's table had none):
        //   AVX-512, 2 / 4 / 8 groups: ssm_in 27.3 / 27.0 / 23.3, again 28.9 / 28.6;
        //     ssm_out 29.5 / 28.6 / 24.2. With gemv_x16 (session 8), 1 / 2 / 4:
        //     ssm_in 30.2 / 31.3 / 31.4, ssm_out - / 31.1 / 31.1, LM head - / 31.4 / 31.7.
        //   AVX2: ssm_in 24.5 / 26.6 / 27.1, ssm_out 23.9 / 26.6 / 26.9, LM head 24.5 /
        //     27.2 / 26.8. (8 spills accumulators on AVX2's 16 registers and holds.)
        //     With gemv_x16, 4 / 8: ssm_in 29.0 / 28.9, ssm_out 29.0 / 29.0.
        for (int64_t n0 = p.n_begin; n0 < p.n_end;) {
            const int64_t groups = (p.n_end - n0 + W - 1) / W;
            const int rb = groups >= V::kGemvRB ? V::kGemvRB : groups >= 4 ? 4 : groups >= 2 ? 2 : 1;
            typename V::Tail rows[8];
            for (int i = 0; i < rb; ++i) rows[i] = V::tail(p.n_end - n0 - i * W);
            const X16Src<V> src{w, group_bytes, n0, n0 + 2 * rb * W <= p.n_end};
            gemv_x16_rb<V, Dp>(rb, src, x_row(xq, L, 0), L.nb, p.y + n0, rows);
            n0 += rb * W;
        }
        return;
    }
    for (int64_t n0 = p.n_begin; n0 < p.n_end; n0 += kRB * W) {
        const int64_t R = imin(kRB * W, p.n_end - n0), groups = (R + W - 1) / W;
        typename V::Tail rows[kRB];
        for (int i = 0; i < groups; ++i) rows[i] = V::tail(R - i * W);
        const X16Src<V> src{w, group_bytes, n0, n0 + 2 * kRB * W <= p.n_end};
        // Token blocks of kT, the first full: it streams the weights from memory, and its
        // arithmetic runs under that stream, so the more tokens it carries, the less is
        // left for the pass that reads them from L2. AVX-512 in one process, 2 threads,
        // GB/s of weights, ssm_in (medians of 15): M = 8 as 4 + 4 tokens 15.0, 6 + 2 17.8,
        // 7 + 1 17.5, one pass of 8 19.7; M = 10 as 5 + 5 16.6, 8 + 2 18.7; M = 16 as
        // packs 10.3, 8 + 8 12.3; M = 24 packs 8.4, 8 + 8 + 8 8.0. AVX2 the same way,
        // though 8 tokens spill its 16 registers: M = 6 as 3 + 3 9.7, one pass 15.3;
        // M = 8 as packs 11.4 / 13.0 (two matrices), 4 + 4 11.2 / 13.2, one pass
        // 14.3 / 16.4; but M = 12 packs 8.9, 8 + 4 7.0 and M = 16 packs 7.2, 8 + 8 6.2.
        for (int64_t m0 = 0; m0 < p.M; m0 += kT) {
            const int tt = int(imin(kT, p.M - m0));
            XRow xr[kT];
            for (int t = 0; t < tt; ++t) xr[t] = x_row(xq, L, m0 + t);
            pick_vnni<V, Dp, X16Src<V>, kT>(int(groups), tt)(src, xr, 0, L.nb, p.y + m0 * p.y_stride + n0,
                                                             p.y_stride, rows, true);
        }
    }
}

// Dp::dpbusd(acc, w, x): acc + the sums of 4 products of unsigned w and signed x bytes.
template <class V, class Dp>
struct DotVnni {
    using I = typename V::I;
    static constexpr bool kPacked = true, kX16 = true;
    static constexpr int64_t kPackedMinM = 2;
    static I dot_h(I w, I q) { return Dp::dpbusd(V::zero_i(), V::flip_sign_bits(w), q); }
    static I correct(I s, int32_t nc) { return V::add_i32(s, V::set1_i32(nc)); }
    static void gemm_packed(const MatmulParams& p, const uint8_t* xq, const XLayout& L) {
        const auto* w = static_cast<const uint8_t*>(p.w);
        gemm_packed_vnni<V, Dp>(p, xq, L, [&](int64_t n0, int64_t R, int64_t b0, int64_t b1, PackedBlock<V>* out) {
            pack<V>(w, p.w_row_bytes, n0, R, b0, b1, out);
        });
    }
    static void gemm_x16(const MatmulParams& p, const uint8_t* xq, const XLayout& L) {
        x86::gemm_x16<V, Dp>(p, xq, L);
    }
};

}  // namespace
}  // namespace kaa::kernels::x86
