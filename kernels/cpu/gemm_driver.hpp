// gemm_driver.hpp — the loop nest shared by the SIMD matmuls (avx2, avx512; float and
// Q8_0 weights). Internal linkage only: it is included by files compiled with different
// ISA flags.
//
// A kernel type `Kern` provides
//   static constexpr int R, T;          register block: weight rows x tokens (GEMM)
//   static constexpr int R1;            weight rows per step when M == 1 (GEMV)
//   static constexpr int64_t KC;        K chunk, in elements (a multiple of 64)
//   static constexpr int64_t NB;        weight rows kept hot in L2 while all tokens pass
//   template <int RR, int TT> static void micro(const Ctx&, n, m0, k0, k1, bool first);
// where micro computes y[m0+t, n+r] for r < RR, t < TT over k in [k0, k1): a vector f32
// accumulator per output, then y = hsum (first chunk) or y + hsum (later chunks).
//
// The numeric recipe of one output y[m, n] is therefore fixed by KC alone: its K-chunks
// in order, each a sequential lane-wise accumulation reduced by one fixed horizontal
// sum. It depends neither on M, the row range, RR/TT nor the loop order below, which is
// what makes GEMM rows equal GEMV results bit for bit and any thread split give identical
// output. (The "first" flag, not 0 + hsum, only matters for the sign of a zero.)
#pragma once

#include <cstdint>
#include <utility>

namespace kaa::kernels {
namespace {

inline int64_t gd_min(int64_t a, int64_t b) { return a < b ? a : b; }

template <class Ctx>
using MicroFn = void (*)(const Ctx&, int64_t n, int64_t m0, int64_t k0, int64_t k1, bool first);

template <class Kern, int RR, int... TT>
MicroFn<typename Kern::Ctx> pick_t(int t, std::integer_sequence<int, TT...>) {
    MicroFn<typename Kern::Ctx> fn = nullptr;
    ((t == TT + 1 ? (fn = &Kern::template micro<RR, TT + 1>, 0) : 0), ...);
    return fn;
}

template <class Kern, int... RR>
MicroFn<typename Kern::Ctx> pick_gemm(int r, int t, std::integer_sequence<int, RR...>) {
    MicroFn<typename Kern::Ctx> fn = nullptr;
    ((r == RR + 1 ? (fn = pick_t<Kern, RR + 1>(t, std::make_integer_sequence<int, Kern::T>{}), 0) : 0),
     ...);
    return fn;
}

template <class Kern, int... RR>
MicroFn<typename Kern::Ctx> pick_gemv(int r, std::integer_sequence<int, RR...>) {
    MicroFn<typename Kern::Ctx> fn = nullptr;
    ((r == RR + 1 ? (fn = &Kern::template micro<RR + 1, 1>, 0) : 0), ...);
    return fn;
}

// y rows [n_begin, n_end) for all M tokens.
template <class Kern>
void run_gemm(const typename Kern::Ctx& c, int64_t M, int64_t K, int64_t n_begin, int64_t n_end) {
    if (M == 1) {
        // GEMV: stream each weight row once, R1 rows side by side (independent chains,
        // several memory streams in flight), all K-chunks of a row block before the next.
        for (int64_t n = n_begin; n < n_end; n += Kern::R1) {
            const int rr = int(gd_min(Kern::R1, n_end - n));
            const auto fn = pick_gemv<Kern>(rr, std::make_integer_sequence<int, Kern::R1>{});
            for (int64_t k0 = 0; k0 < K; k0 += Kern::KC) fn(c, n, 0, k0, gd_min(K, k0 + Kern::KC), k0 == 0);
        }
        return;
    }
    // GEMM: a block of NB weight rows x one K-chunk stays in L2 while every token block
    // passes over it; the TT tokens' chunk of x stays in L1 across the row blocks.
    for (int64_t nb = n_begin; nb < n_end; nb += Kern::NB) {
        const int64_t ne = gd_min(n_end, nb + Kern::NB);
        for (int64_t k0 = 0; k0 < K; k0 += Kern::KC) {
            const int64_t k1 = gd_min(K, k0 + Kern::KC);
            for (int64_t m0 = 0; m0 < M; m0 += Kern::T) {
                const int tt = int(gd_min(Kern::T, M - m0));
                for (int64_t n = nb; n < ne; n += Kern::R) {
                    const int rr = int(gd_min(Kern::R, ne - n));
                    pick_gemm<Kern>(rr, tt, std::make_integer_sequence<int, Kern::R>{})(c, n, m0, k0, k1, k0 == 0);
                }
            }
        }
    }
}

}  // namespace
}  // namespace kaa::kernels
