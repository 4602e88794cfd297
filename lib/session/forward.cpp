// forward.cpp — the data path of one layer, in the order of ../shared/README.md:
//   rms_norm → in_proj → conv1d+SiLU → x_proj → [rms dt,B,C] → dt_proj →
//   selective scan (softplus, D skip, SiLU(z) gate fused) → out_proj → residual
// Every step is a kernel call split across the Session's threads by output row or
// channel, so results do not depend on the thread count.
#include "session/forward.hpp"

#include <algorithm>
#include <cstdint>

namespace kaa::detail {
namespace {

// Output rows per thread are multiples of this (keeps SIMD blocks whole).
constexpr int64_t kRowGrain = 16;
// Decode and small batches (M <= 16) split each matmul into 4 parts per thread: on a
// shared machine a descheduled thread's parts are taken by the running one instead of
// the step waiting for it. tg64, 2 threads, alternated runs at load 35-50: 80.8-82.9 %
// of the roofline against 73.1-77.8 % with one part per thread; at load < 2 the same
// within the noise (82-90 % both). Prefill keeps one part per thread: 2 or 4 parts
// per thread (with the activations quantized once, shared_x) were no faster, pp256 at
// load 20-50 in three alternated rounds: 199.0 / 191.2 / 195.4, 183.7 / 155.3 / 171.5,
// 184.9 / 193.3 / 182.6 tok/s for 1 / 2 / 4. Parts keep at least kMinPartRows rows: x_proj
// (288 rows) in one process, 2 threads, read 26.8 GB/s in one part per thread against
// 23.7 in four (parts of 2-3 row groups are too short for the GEMV's four streams).
constexpr int kSmallMParts = 4;
constexpr int64_t kMinPartRows = 128;

// Q8_0 with int8 activations: every part of a matmul would quantize all M activation
// rows itself (T threads: T times the work, and a larger share of each part the more
// threads there are), so where the backend can share them they are quantized once, the
// rows split across the threads, into s.xq. Same bits (kernels.hpp). Decode (M = 1) keeps
// the parts' own: one row costs less than another hand-off to the threads.
const void* shared_x(const ModelImpl& m, runtime::ThreadPool& pool, Scratch& s, const WeightMatrix& W,
                     const float* x, int64_t x_stride, int64_t M) {
    const kernels::CpuKernels& k = *m.kernels;
    if (M < 2 || W.type != kernels::WeightType::q8_0 || m.params.precision == Precision::exact || !k.quantize_x)
        return nullptr;
    const int64_t K = W.cols;
    const size_t bytes = k.quant_x_bytes(M, K) + 63;  // + room to align to 64 bytes
    if (s.xq.size() < bytes) s.xq.resize(bytes);
    const uintptr_t at = reinterpret_cast<uintptr_t>(s.xq.data());
    void* out = s.xq.data() + (64 - at % 64) % 64;
    pool.parallel_for(M, 1, [&](int64_t b, int64_t e) { k.quantize_x(x, x_stride, M, K, b, e, out); });
    return out;
}

// y (M x W.rows) = x (M x W.cols) @ W^T, rows of W split across threads.
void matmul(const ModelImpl& m, runtime::ThreadPool& pool, Scratch& s, const WeightMatrix& W,
            const float* x, int64_t x_stride, float* y, int64_t y_stride, int64_t M) {
    kernels::MatmulParams p{};
    p.wtype = W.type;
    p.w = W.data;
    p.w_row_bytes = W.row_bytes;
    p.w_layout = W.layout;
    p.x = x;
    p.x_stride = x_stride;
    p.y = y;
    p.y_stride = y_stride;
    p.M = M;
    p.N = W.rows;
    p.K = W.cols;
    p.q8_f32_activations = m.params.precision == Precision::exact;
    p.xq = shared_x(m, pool, s, W, x, x_stride, M);
    const auto* k = m.kernels;
    pool.parallel_for(
        W.rows, kRowGrain,
        [&](int64_t b, int64_t e) {
            kernels::MatmulParams q = p;
            q.n_begin = b;
            q.n_end = e;
            k->matmul(q);
        },
        M <= 16 ? int(std::clamp<int64_t>(W.rows / (pool.size() * kMinPartRows), 1, kSmallMParts)) : 1);
}

// fn(t) for each token row t in [0, T): on the calling thread for a few rows (decode),
// split across the threads for more (prefill, batches), where the per-row steps (norms,
// the residual add) would otherwise run on one thread while the others wait. Row-wise
// steps give the same bits either way.
template <class Fn>
void for_rows(runtime::ThreadPool& pool, int64_t T, const Fn& fn) {
    constexpr int64_t kInlineRows = 8;
    if (T < kInlineRows) {
        for (int64_t t = 0; t < T; ++t) fn(t);
        return;
    }
    pool.parallel_for(T, 1, [&](int64_t b, int64_t e) {
        for (int64_t t = b; t < e; ++t) fn(t);
    });
}

}  // namespace

void Scratch::reserve(const HParams& hp, int64_t n) {
    if (n <= rows) return;
    ld_di = hp.d_inner + kRowPad;
    ld_xz = 2 * hp.d_inner + kRowPad;
    const size_t T = size_t(n);
    h.assign(T * size_t(hp.d_model), 0.0f);
    xn.assign(T * size_t(hp.d_model), 0.0f);
    xz.assign(T * size_t(ld_xz), 0.0f);
    xc.assign(T * size_t(ld_di), 0.0f);
    xdbl.assign(T * size_t(hp.dt_rank + 2 * hp.d_state), 0.0f);
    dt.assign(T * size_t(ld_di), 0.0f);
    y.assign(T * size_t(ld_di), 0.0f);
    out.assign(T * size_t(hp.d_model), 0.0f);
    rows = n;
}

void forward(const ModelImpl& m, runtime::ThreadPool& pool, Scratch& s, const Segment* segs,
             size_t n_segs) {
    const HParams& hp = m.hp;
    const kernels::CpuKernels& k = *m.kernels;
    const int64_t dm = hp.d_model, di = hp.d_inner, ds = hp.d_state, R = hp.dt_rank;
    const int64_t n_xdbl = R + 2 * ds;
    const int64_t conv_floats = di * (hp.d_conv - 1);
    const int64_t layer_floats = conv_floats + di * ds;

    // Segment i owns rows [row0[i], row0[i] + T) of every activation buffer.
    std::vector<int64_t> row0(n_segs + 1, 0);
    for (size_t i = 0; i < n_segs; ++i) row0[i + 1] = row0[i] + segs[i].T;
    const int64_t T = row0[n_segs];
    s.reserve(hp, T);  // before any state is touched: a failed allocation leaves it as it was
    const int64_t ld_di = s.ld_di, ld_xz = s.ld_xz;  // padded row strides (Scratch)

    // Embedding lookup: h[t] = token_embd[token t]
    for (size_t i = 0; i < n_segs; ++i)
        for (int64_t t = 0; t < segs[i].T; ++t)
            k.dequantize_row(m.tok_embd.type, m.tok_embd.data + size_t(segs[i].tokens[t]) * m.tok_embd.row_bytes,
                             s.h.data() + (row0[i] + t) * dm, dm);

    for (int64_t l = 0; l < hp.n_layer; ++l) {
        const LayerWeights& L = m.layers[size_t(l)];
        const int64_t conv_at = l * layer_floats;           // (d_inner x d_conv-1) in each state
        const int64_t ssm_at = conv_at + conv_floats;       // (d_inner x d_state)

        for_rows(pool, T, [&](int64_t t) {
            k.rms_norm(s.h.data() + t * dm, L.attn_norm, s.xn.data() + t * dm, dm, hp.rms_eps);
        });

        matmul(m, pool, s, L.ssm_in, s.xn.data(), dm, s.xz.data(), ld_xz, T);

        kernels::ConvParams cp{};
        cp.x_stride = ld_xz;  // x half of each xz row
        cp.out_stride = ld_di;
        cp.weight = L.conv_w;
        cp.bias = L.conv_b;
        cp.d_inner = di;
        cp.d_conv = hp.d_conv;
        pool.parallel_for(di, kRowGrain, [&](int64_t b, int64_t e) {
            kernels::ConvParams q = cp;
            q.c_begin = b;
            q.c_end = e;
            for (size_t i = 0; i < n_segs; ++i) {
                q.x = s.xz.data() + row0[i] * ld_xz;
                q.out = s.xc.data() + row0[i] * ld_di;
                q.state = segs[i].state + conv_at;
                q.T = segs[i].T;
                k.conv1d_silu(q);
            }
        });

        matmul(m, pool, s, L.ssm_x, s.xc.data(), ld_di, s.xdbl.data(), n_xdbl, T);
        if (hp.dt_b_c_rms) {  // Falcon-Mamba: weightless RMS norm on dt, B and C separately
            for_rows(pool, T, [&](int64_t t) {
                float* row = s.xdbl.data() + t * n_xdbl;
                k.rms_norm(row, nullptr, row, R, hp.rms_eps);
                k.rms_norm(row + R, nullptr, row + R, ds, hp.rms_eps);
                k.rms_norm(row + R + ds, nullptr, row + R + ds, ds, hp.rms_eps);
            });
        }
        matmul(m, pool, s, L.ssm_dt, s.xdbl.data(), n_xdbl, s.dt.data(), ld_di, T);

        kernels::ScanParams sp{};
        sp.u_stride = ld_di;
        sp.dt_stride = ld_di;
        sp.dt_bias = L.dt_bias;
        sp.A = L.A;
        sp.B_stride = n_xdbl;
        sp.C_stride = n_xdbl;
        sp.D = L.D;
        sp.z_stride = ld_xz;  // z half of each xz row
        sp.y_stride = ld_di;
        sp.d_inner = di;
        sp.d_state = ds;
        pool.parallel_for(di, kRowGrain, [&](int64_t b, int64_t e) {
            kernels::ScanParams q = sp;
            q.c_begin = b;
            q.c_end = e;
            for (size_t i = 0; i < n_segs; ++i) {
                const int64_t r = row0[i];
                q.u = s.xc.data() + r * ld_di;
                q.dt_raw = s.dt.data() + r * ld_di;
                q.B = s.xdbl.data() + r * n_xdbl + R;
                q.C = s.xdbl.data() + r * n_xdbl + R + ds;
                q.z = s.xz.data() + r * ld_xz + di;
                q.y = s.y.data() + r * ld_di;
                q.state = segs[i].state + ssm_at;
                q.T = segs[i].T;
                k.scan(q);
            }
        });

        matmul(m, pool, s, L.ssm_out, s.y.data(), ld_di, s.out.data(), dm, T);
        for_rows(pool, T, [&](int64_t t) {
            float* h = s.h.data() + t * dm;
            const float* o = s.out.data() + t * dm;
            for (int64_t i = 0; i < dm; ++i) h[i] += o[i];
        });
    }

    // LM head over the rows that want logits, gathered into xn.
    int64_t rows = 0;
    for (size_t i = 0; i < n_segs; ++i) {
        if (!segs[i].logits) continue;
        const int64_t first = segs[i].all_rows ? 0 : segs[i].T - 1;
        for (int64_t t = first; t < segs[i].T; ++t, ++rows)
            k.rms_norm(s.h.data() + (row0[i] + t) * dm, m.output_norm, s.xn.data() + rows * dm, dm, hp.rms_eps);
    }
    if (rows == 0) return;
    const size_t V = size_t(hp.n_vocab);
    if (n_segs == 1) {  // straight into the caller's buffer
        matmul(m, pool, s, m.output, s.xn.data(), dm, segs[0].logits, hp.n_vocab, rows);
        return;
    }
    if (s.logits.size() < size_t(rows) * V) s.logits.resize(size_t(rows) * V);
    matmul(m, pool, s, m.output, s.xn.data(), dm, s.logits.data(), hp.n_vocab, rows);
    const float* src = s.logits.data();
    for (size_t i = 0; i < n_segs; ++i) {
        if (!segs[i].logits) continue;
        const size_t n = size_t(segs[i].all_rows ? segs[i].T : 1) * V;
        std::copy(src, src + n, segs[i].logits);
        src += n;
    }
}

}  // namespace kaa::detail
