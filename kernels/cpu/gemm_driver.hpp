// gemm_driver.hpp — the loop nest shared by the SIMD matmuls with f32 activations
// (x86/matmul.inl for avx2 and avx512, neon/matmul.cpp). Internal linkage only: it is
// included by files compiled with different ISA flags. (Q8_0 with int8 activations has
// its own recipe: x86/matmul_q8.inl, neon/matmul_q8.hpp.)
//
// A kernel type `Kern` provides
//   static constexpr int R, T;          register block: weight rows x tokens (GEMM)
//   static constexpr int R1;            weight rows per step when M == 1 (GEMV)
//   static constexpr int64_t KC;        K chunk, in elements (a multiple of the width)
//   static constexpr int64_t NB;        weight rows per GEMM panel (kept hot in L2)
//   template <int RR, int TT, bool kStream> static void micro(const Ctx&, n, m0, k0, k1,
//                                                             bool first);
//     (kStream: the weights come from memory, so prefetch them; default TT == 1)
// where micro computes y[m0+t, n+r] for r < RR, t < TT over k in [k0, k1): a vector f32
// accumulator per output, then y = hsum (first chunk) or y + hsum (later chunks).
//
// The numeric recipe of one output y[m, n] is therefore fixed by KC alone: its K-chunks
// in order, each a sequential lane-wise accumulation reduced by one fixed horizontal
// sum. It depends neither on M, the row range, RR/TT nor the loop order, which is
// what makes GEMM rows equal GEMV results bit for bit and any thread split give identical
// output. (The "first" flag, not 0 + hsum, only matters for the sign of a zero.)
#pragma once

#include <cstdint>
#include <utility>

namespace kaa::kernels {
namespace {

inline int64_t gd_min(int64_t a, int64_t b) { return a < b ? a : b; }

// Batches of up to this many tokens read the weights in place (each ISA's
// gemm_float_in_place); larger ones widen them into panels first. Measured on x86
// (x86/matmul.inl): in place wins up to M = 16, the panels from M = 24.
constexpr int64_t kInPlaceMaxM = 16;

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

// pick_gemm's micro kernels with prefetches, for weights read in place from memory.
template <class Kern, int RR, int... TT>
MicroFn<typename Kern::Ctx> pick_t_stream(int t, std::integer_sequence<int, TT...>) {
    MicroFn<typename Kern::Ctx> fn = nullptr;
    ((t == TT + 1 ? (fn = &Kern::template micro<RR, TT + 1, true>, 0) : 0), ...);
    return fn;
}
template <class Kern, int... RR>
MicroFn<typename Kern::Ctx> pick_gemm_stream(int r, int t, std::integer_sequence<int, RR...>) {
    MicroFn<typename Kern::Ctx> fn = nullptr;
    ((r == RR + 1 ? (fn = pick_t_stream<Kern, RR + 1>(t, std::make_integer_sequence<int, Kern::T>{}), 0) : 0),
     ...);
    return fn;
}

template <class Kern, int... RR>
MicroFn<typename Kern::Ctx> pick_gemv(int r, std::integer_sequence<int, RR...>) {
    MicroFn<typename Kern::Ctx> fn = nullptr;
    ((r == RR + 1 ? (fn = &Kern::template micro<RR + 1, 1>, 0) : 0), ...);
    return fn;
}

// GEMV (M = 1), rows [n_begin, n_end): stream each weight row once, R1 rows side by side
// (independent accumulator chains, several memory streams in flight), all K-chunks of a
// row block before the next. Batches of up to kInPlaceMaxM tokens: run_gemm_in_place
// below. Larger GEMMs live with each ISA's matmul: they first copy blocks into panels and
// run pick_gemm()'s micro kernels over them.
template <class Kern>
void run_gemv(const typename Kern::Ctx& c, int64_t K, int64_t n_begin, int64_t n_end) {
    for (int64_t n = n_begin; n < n_end; n += Kern::R1) {
        const int rr = int(gd_min(Kern::R1, n_end - n));
        const auto fn = pick_gemv<Kern>(rr, std::make_integer_sequence<int, Kern::R1>{});
        for (int64_t k0 = 0; k0 < K; k0 += Kern::KC) fn(c, n, 0, k0, gd_min(K, k0 + Kern::KC), k0 == 0);
    }
}

// Small batches (1 < M <= kInPlaceMaxM: several Sessions decoding together), rows
// [n_begin, n_end): the weights read in place, as by the GEMV, R rows x up to T tokens per
// micro kernel with the streaming prefetches, instead of widened into panels first. The
// first token block streams them from memory, later ones find them in cache.
template <class Kern>
void run_gemm_in_place(const typename Kern::Ctx& c, int64_t M, int64_t K, int64_t n_begin, int64_t n_end) {
    for (int64_t n = n_begin; n < n_end; n += Kern::R) {
        const int rr = int(gd_min(Kern::R, n_end - n));
        for (int64_t m0 = 0; m0 < M; m0 += Kern::T) {
            const int tt = int(gd_min(Kern::T, M - m0));
            const auto fn = pick_gemm_stream<Kern>(rr, tt, std::make_integer_sequence<int, Kern::R>{});
            for (int64_t k0 = 0; k0 < K; k0 += Kern::KC) fn(c, n, m0, k0, gd_min(K, k0 + Kern::KC), k0 == 0);
        }
    }
}

}  // namespace
}  // namespace kaa::kernels
