// device_forward.cpp — lib/session/forward.cpp's data path on the device, over the
// same Segments (several Sessions batched), one kernel launch per step per layer:
//   embed → per layer: [rms_norm ∘ in_proj] → conv1d+SiLU → x_proj → [rms dt ∘ dt_proj]
//   → scan (rms B, C; softplus; D skip; SiLU(z) gate) → out_proj (+= residual)
//   → gather + output_norm → LM head → logits to the host.
// Per-call inputs (tokens, the segment table with each Session's device state, the rows
// that want logits) go to the device in one copy and are read there by the kernels, so
// kernel arguments depend only on the shape of the call. A decode step (every segment
// one token) is therefore captured once per (segments, logit rows) as a graph and
// replayed: launch overhead for a 64-layer step is one graph launch.
#include <algorithm>
#include <cstring>

#include "cuda/device.hpp"
#include "kaa/error.hpp"
#include "model/model_impl.hpp"
#include "session/forward.hpp"

namespace kaa::detail::gpu {
namespace {

size_t floats(int64_t n) { return size_t(n) * sizeof(float); }

// Split-K partial sums are kept for GEMMs of up to this many rows (batched decode; longer
// prefills have blocks enough without splitting), up to 4 splits of the widest layer matrix.
constexpr int64_t kSplitRows = 64, kSplitMax = 4;
size_t align8(size_t n) { return (n + 7) / 8 * 8; }

// Where tokens, segments and logit rows sit in the packed per-call block.
struct ParamsLayout {
    size_t tokens = 0, segs, rows, bytes;
    ParamsLayout(int64_t n_tokens, int64_t n_segs, int64_t n_rows)
        : segs(align8(size_t(n_tokens) * 4)),
          rows(segs + size_t(n_segs) * sizeof(kc::SegmentDesc)),
          bytes(rows + size_t(n_rows) * 4) {}
};

}  // namespace

SessionDevice::SessionDevice(const ModelImpl& model, int64_t cap)
    : m(model), dm(*model.gpu), rt(*model.gpu->rt), capacity(cap) {
    const HParams& hp = m.hp;
    const int64_t dm_ = hp.d_model, di = hp.d_inner, nx = hp.dt_rank + 2 * hp.d_state;
    state = Buffer(rt, floats(m.state_dims().floats()), "session state");
    h = Buffer(rt, floats(cap * dm_), "activations");
    xn = Buffer(rt, floats(cap * dm_), "activations");
    xz = Buffer(rt, floats(cap * 2 * di), "activations");
    xc = Buffer(rt, floats(cap * di), "activations");
    xdbl = Buffer(rt, floats(cap * nx), "activations");
    dt = Buffer(rt, floats(cap * di), "activations");
    y = Buffer(rt, floats(cap * di), "activations");
    tmp = Buffer(rt, floats(cap * dm.max_ld), "matmul staging");
    xh = Buffer(rt, size_t(cap * dm.max_ld) * 2, "matmul staging");
    xscale = Buffer(rt, floats(cap), "matmul staging");
    if (m.params.precision == Precision::fast && cap > kc::kGemvMaxM) {
        part_floats = kSplitMax * std::min(cap, kSplitRows) * std::max({2 * di, dm_, nx});
        part = Buffer(rt, floats(part_floats), "matmul staging");
    }
    const ParamsLayout most(cap, cap, cap);
    params_host = Buffer(rt, most.bytes, "per-call inputs", /*host=*/true);
    params_dev = Buffer(rt, most.bytes, "per-call inputs");
    stream = rt.create_stream();
    try {
        zero_state(*this);
    } catch (...) {
        rt.destroy_stream(stream);
        throw;
    }
}

SessionDevice::~SessionDevice() {
    drop_graphs();
    rt.destroy_blas(blas);
    rt.destroy_stream(stream);
}

void SessionDevice::setup_blas() {
    blas_tried = true;
    if (m.params.precision != Precision::fast || capacity < kc::kBlasMinM) return;
    using kaa::kernels::WeightType;
    int64_t halfs = 0;  // the largest Q8_0 layer matrix, dequantized
    bool any = false;   // cuBLAS takes Q8_0 and F16 weights (blas.cu)
    for (const DeviceLayer& D : dm.layers)
        for (const kc::DevMatrix* w : {&D.in, &D.x, &D.dt, &D.out}) {
            if (w->type == WeightType::q8_0) halfs = std::max(halfs, w->rows * w->ld);
            any = any || w->type == WeightType::q8_0 || w->type == WeightType::f16;
        }
    if (!any) return;
    blas = rt.create_blas(stream);
    if (!blas) return;
    try {
        wh = Buffer(rt, size_t(halfs) * 2, "prefill f16 weights");
        blas_scalars = Buffer(rt, floats(4), "cuBLAS scalars");
    } catch (const Error&) {  // no room: the tensor-core kernels instead
        wh = Buffer();
        blas_scalars = Buffer();
        rt.destroy_blas(blas);
        blas = nullptr;
    }
}

void SessionDevice::drop_graphs() noexcept {
    for (auto& g : graphs) rt.destroy_graph(g.second);
    graphs.clear();
}

void SessionDeviceDeleter::operator()(SessionDevice* s) const noexcept { delete s; }

SessionDevicePtr make_session(const ModelImpl& m, int64_t capacity) {
    return SessionDevicePtr(new SessionDevice(m, capacity));
}

float* device_state(SessionDevice& s) { return s.state.get<float>(); }

void download_state(SessionDevice& s, float* host) {
    s.rt.sync(s.stream);
    s.rt.download(host, s.state.get(), s.state.bytes());
}

void upload_state(SessionDevice& s, const float* host) {
    s.rt.sync(s.stream);
    s.rt.upload(s.state.get(), host, s.state.bytes());
}

void zero_state(SessionDevice& s) {
    s.rt.zero(s.state.get(), s.state.bytes(), s.stream);
    s.rt.sync(s.stream);
}

namespace {

// Every launch of one forward call; `n_tokens` rows, `n_rows` of them get logits.
// `captured`: being recorded into a graph, where cuBLAS is not used (untested there).
void issue(SessionDevice& s, const ParamsLayout& L, int64_t n_tokens, int n_segs, int64_t max_T, int64_t n_rows,
           bool captured) {
    const ModelImpl& m = s.m;
    const DeviceModel& dm = s.dm;
    Runtime& rt = s.rt;
    const HParams& hp = m.hp;
    const int64_t dmod = hp.d_model, di = hp.d_inner, ds = hp.d_state, R = hp.dt_rank, nx = R + 2 * ds;
    const int64_t conv_floats = di * (hp.d_conv - 1), layer_floats = conv_floats + di * ds;
    void* st = s.stream;
    auto* pd = s.params_dev.get<char>();
    const auto* tokens = reinterpret_cast<const int32_t*>(pd + L.tokens);
    const auto* segs = reinterpret_cast<const kc::SegmentDesc*>(pd + L.segs);
    const auto* rows = reinterpret_cast<const int32_t*>(pd + L.rows);

    rt.to_device(pd, s.params_host.get(), L.bytes, st);

    kc::EmbedArgs e;
    e.table = dm.tok_embd;
    e.tokens = tokens;
    e.h = s.h.get<float>();
    e.ldh = dmod;
    e.n = n_tokens;
    rt.embed(e, st);

    kc::MatmulArgs mm;
    mm.eps = hp.rms_eps;
    mm.fast = m.params.precision == Precision::fast;
    mm.tmp = s.tmp.get<float>();
    mm.xh = s.xh.get();
    mm.xscale = s.xscale.get<float>();
    mm.part = s.part.get<float>();
    mm.part_floats = s.part_floats;
    mm.sm_count = rt.info().sm_count;
    mm.blas = captured ? nullptr : s.blas;
    mm.wh = s.wh.get();
    mm.wh_halfs = int64_t(s.wh.bytes() / 2);
    mm.blas_scalars = s.blas_scalars.get<float>();
    auto matmul = [&](const kc::DevMatrix& w, const float* x, int64_t ldx, float* out, int64_t ldy, int64_t M,
                      bool accumulate, bool norm, const float* norm_w) {
        kc::MatmulArgs a = mm;
        a.w = w;
        a.x = x;
        a.ldx = ldx;
        a.y = out;
        a.ldy = ldy;
        a.M = M;
        a.accumulate = accumulate;
        a.norm = norm;
        a.norm_w = norm_w;
        rt.matmul(a, st);
    };

    float* h = s.h.get<float>();
    float* xz = s.xz.get<float>();
    float* xc = s.xc.get<float>();
    float* xdbl = s.xdbl.get<float>();
    float* dt = s.dt.get<float>();
    float* y = s.y.get<float>();
    for (int64_t l = 0; l < hp.n_layer; ++l) {
        const DeviceLayer& D = dm.layers[size_t(l)];
        matmul(D.in, h, dmod, xz, 2 * di, n_tokens, false, true, D.attn_norm);

        kc::ConvArgs c{};
        c.p.x = xz;  // x half of each xz row
        c.p.x_stride = 2 * di;
        c.p.out = xc;
        c.p.out_stride = di;
        c.p.weight = D.conv_w;
        c.p.bias = D.conv_b;
        c.p.d_inner = di;
        c.p.d_conv = hp.d_conv;
        c.segs = segs;
        c.n_segs = n_segs;
        c.max_T = max_T;
        c.state_offset = l * layer_floats;
        rt.conv(c, st);

        matmul(D.x, xc, di, xdbl, nx, n_tokens, false, false, nullptr);
        // Falcon-Mamba's weightless norm of dt, fused into dt_proj (B, C: in the scan)
        matmul(D.dt, xdbl, nx, dt, di, n_tokens, false, hp.dt_b_c_rms, nullptr);

        kc::ScanArgs sc{};
        sc.p.u = xc;
        sc.p.u_stride = di;
        sc.p.dt_raw = dt;
        sc.p.dt_stride = di;
        sc.p.dt_bias = D.dt_bias;
        sc.p.A = D.A;
        sc.p.B = xdbl + R;
        sc.p.B_stride = nx;
        sc.p.C = xdbl + R + ds;
        sc.p.C_stride = nx;
        sc.p.D = D.D;
        sc.p.z = xz + di;  // z half of each xz row
        sc.p.z_stride = 2 * di;
        sc.p.y = y;
        sc.p.y_stride = di;
        sc.p.d_inner = di;
        sc.p.d_state = ds;
        sc.segs = segs;
        sc.n_segs = n_segs;
        sc.max_T = max_T;
        sc.state_offset = l * layer_floats + conv_floats;
        sc.bc_norm = hp.dt_b_c_rms;
        sc.eps = hp.rms_eps;
        rt.scan(sc, st);

        matmul(D.out, y, di, h, dmod, n_tokens, /*accumulate=*/true, false, nullptr);
    }

    if (n_rows == 0) return;
    kc::RmsArgs r;
    r.x = h;
    r.ldx = dmod;
    r.rows = rows;
    r.w = dm.output_norm;
    r.y = s.xn.get<float>();
    r.ldy = dmod;
    r.n_rows = n_rows;
    r.n = dmod;
    r.eps = hp.rms_eps;
    rt.rms(r, st);
    matmul(dm.output, s.xn.get<float>(), dmod, s.logits_dev.get<float>(), hp.n_vocab, n_rows, false, false, nullptr);
    rt.to_host(s.logits_host.get(), s.logits_dev.get(), floats(n_rows * hp.n_vocab), st);
}

}  // namespace

void forward(const ModelImpl& m, SessionDevice& s, const Segment* segs, size_t n_segs) {
    const HParams& hp = m.hp;
    int64_t n_tokens = 0, n_rows = 0, max_T = 0;
    bool decode = true;
    for (size_t i = 0; i < n_segs; ++i) {
        n_tokens += segs[i].T;
        max_T = std::max(max_T, segs[i].T);
        decode = decode && segs[i].T == 1;
        if (segs[i].logits) n_rows += segs[i].all_rows ? segs[i].T : 1;
    }
    if (n_tokens == 0) return;
    if (n_tokens > s.capacity)
        throw Error(ErrorCode::internal, "device forward: more tokens than the Session's buffers hold");

    // Inputs of this call into the page-locked block.
    const ParamsLayout L(n_tokens, int64_t(n_segs), n_rows);
    char* ph = s.params_host.get<char>();
    auto* tokens = reinterpret_cast<int32_t*>(ph + L.tokens);
    auto* descs = reinterpret_cast<kc::SegmentDesc*>(ph + L.segs);
    auto* rows = reinterpret_cast<int32_t*>(ph + L.rows);
    int64_t row0 = 0, r = 0;
    for (size_t i = 0; i < n_segs; ++i) {
        const Segment& g = segs[i];
        for (int64_t t = 0; t < g.T; ++t) tokens[row0 + t] = int32_t(g.tokens[t]);
        descs[i] = kc::SegmentDesc{row0, g.T, g.state};
        if (g.logits)
            for (int64_t t = g.all_rows ? 0 : g.T - 1; t < g.T; ++t) rows[r++] = int32_t(row0 + t);
        row0 += g.T;
    }

    if (n_rows > s.logit_rows_cap) {  // buffers move: recorded graphs would write to the old ones
        s.drop_graphs();
        s.logits_dev = Buffer();
        s.logits_host = Buffer();
        s.logits_dev = Buffer(s.rt, floats(n_rows * hp.n_vocab), "logits");
        s.logits_host = Buffer(s.rt, floats(n_rows * hp.n_vocab), "logits", /*host=*/true);
        s.logit_rows_cap = n_rows;
    }

    const bool graph = decode && !s.rt.profiling();
    if (!graph && !s.blas_tried && n_tokens >= kc::kBlasMinM) s.setup_blas();
    auto body = [&] { issue(s, L, n_tokens, int(n_segs), max_T, n_rows, graph); };
    if (graph) {
        const auto key = std::make_pair(int64_t(n_segs), n_rows);
        auto it = s.graphs.find(key);
        if (it == s.graphs.end()) {
            if (s.graphs.size() >= 8) s.drop_graphs();  // a few batch shapes at a time
            it = s.graphs.emplace(key, s.rt.capture(s.stream, body)).first;
        }
        s.rt.replay(it->second, s.stream);
    } else {
        body();
    }
    s.rt.sync(s.stream);

    // Logits back to each segment, in row order.
    const float* src = s.logits_host.get<float>();
    const size_t V = size_t(hp.n_vocab);
    for (size_t i = 0; i < n_segs; ++i) {
        if (!segs[i].logits) continue;
        const size_t n = size_t(segs[i].all_rows ? segs[i].T : 1) * V;
        std::memcpy(segs[i].logits, src, n * sizeof(float));
        src += n;
    }
}

}  // namespace kaa::detail::gpu
