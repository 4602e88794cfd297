// device_model.cpp — uploading a loaded model's weights to the device, once, in the
// device layout (kernels/cuda/params.hpp): one arena for everything, each matrix copied
// as stored in the file into a staging buffer and repacked there by a kernel.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>

#if defined(__unix__) || defined(__APPLE__)
#include <sys/mman.h>
#include <unistd.h>
#endif

#include "cuda/device.hpp"
#include "kaa/error.hpp"
#include "model/model_impl.hpp"

namespace kaa::detail::gpu {
namespace {

constexpr size_t kAlign = 256;
size_t align_up(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

std::string mib(uint64_t bytes) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f MiB", double(bytes) / double(1 << 20));
    return buf;
}

// What goes where in the arena: first a layout pass computes offsets, then the copy
// pass fills them (the same code walks the model both times).
class Uploader {
public:
    Uploader(const ModelImpl& m, DeviceModel& dm) : m_(m), dm_(dm) {}

    void run() {
        walk();  // layout: offsets and sizes only
        Runtime& rt = *dm_.rt;
        const DeviceInfo& info = rt.info();
        const uint64_t need = offset_ + staging_;
        const uint64_t free = rt.free_bytes();
        if (need > free)
            throw Error(ErrorCode::out_of_memory,
                        "model '" + m_.name + "' needs " + mib(need) + " of GPU memory for its weights (" +
                            mib(offset_) + " + " + mib(staging_) + " staging), but GPU " +
                            std::to_string(info.index) + " (" + info.name + ") has " + mib(free) + " free");
        dm_.arena = rt.alloc(offset_, "model weights");
        dm_.arena_bytes = offset_;
        staging_buf_ = Buffer(rt, staging_, "weight upload staging");
        stream_ = rt.create_stream();
        try {
            copying_ = true;
            offset_ = 0;
            walk();
        } catch (...) {
            rt.destroy_stream(stream_);
            throw;
        }
        rt.destroy_stream(stream_);
    }

private:
    // A place in the arena for `bytes`; during the copy pass also its address.
    char* place(size_t bytes) {
        const size_t at = offset_;
        offset_ += align_up(bytes);
        return copying_ ? static_cast<char*>(dm_.arena) + at : nullptr;
    }

    const float* vec(const float* host, int64_t n) {
        char* dst = place(size_t(n) * sizeof(float));
        if (copying_) dm_.rt->upload(dst, host, size_t(n) * sizeof(float));
        return reinterpret_cast<const float*>(dst);
    }

    kc::DevMatrix mat(const WeightMatrix& w) {
        kc::DevMatrix d;
        d.type = w.type;
        d.rows = w.rows;
        d.cols = w.cols;
        d.ld = kc::padded_cols(w.cols);
        dm_.max_ld = std::max(dm_.max_ld, d.ld);
        const size_t raw = size_t(w.rows) * w.row_bytes;
        staging_ = std::max(staging_, align_up(raw));
        // Q8_0: the quants (1 byte per element), then the scales (2 bytes per 32).
        const bool q8 = w.type == kernels::WeightType::q8_0;
        const size_t elems = size_t(w.rows) * size_t(d.ld);
        char* data = place(q8 ? elems : kc::dev_matrix_bytes(w.type, w.rows, w.cols));
        char* scales = q8 ? place(elems / 32 * 2) : nullptr;
        d.data = data;
        d.scales = reinterpret_cast<const uint16_t*>(scales);
        if (copying_) {
            Runtime& rt = *dm_.rt;
            rt.upload(staging_buf_.get(), w.rows_data(), raw);  // the file's layout, even if re-laid for the CPU
            kc::RepackArgs a;
            a.raw = staging_buf_.get<const uint8_t>();
            a.row_bytes = w.row_bytes;
            a.type = w.type;
            a.rows = w.rows;
            a.cols = w.cols;
            a.ld = d.ld;
            a.data = data;
            a.scales = reinterpret_cast<uint16_t*>(scales);
            rt.repack(a, stream_);
            rt.sync(stream_);  // before the next upload overwrites the staging buffer
        }
        return d;
    }

    void walk() {
        const HParams& hp = m_.hp;
        dm_.max_ld = 0;
        dm_.tok_embd = mat(m_.tok_embd);
        dm_.output_norm = vec(m_.output_norm, hp.d_model);
        dm_.output = hp.tied_embeddings ? dm_.tok_embd : mat(m_.output);
        dm_.layers.assign(m_.layers.size(), DeviceLayer{});
        for (size_t l = 0; l < m_.layers.size(); ++l) {
            const LayerWeights& L = m_.layers[l];
            DeviceLayer& D = dm_.layers[l];
            D.attn_norm = vec(L.attn_norm, hp.d_model);
            D.in = mat(L.ssm_in);
            D.conv_w = vec(L.conv_w, hp.d_inner * hp.d_conv);
            D.conv_b = vec(L.conv_b, hp.d_inner);
            D.x = mat(L.ssm_x);
            D.dt = mat(L.ssm_dt);
            D.dt_bias = vec(L.dt_bias, hp.d_inner);
            D.A = vec(L.A, hp.d_inner * hp.d_state);
            D.D = vec(L.D, hp.d_inner);
            D.out = mat(L.ssm_out);
        }
    }

    const ModelImpl& m_;
    DeviceModel& dm_;
    size_t offset_ = 0, staging_ = 0;
    bool copying_ = false;
    Buffer staging_buf_;
    void* stream_ = nullptr;
};

// Drops the host pages holding tensor data (ModelParams::release_host_weights). Pages
// of a mapped file are re-read from the file if touched again; nothing touches them on
// a device model (tensors() and meta() read only the header).
void release_host_pages(const ModelImpl& m) {
#if defined(__unix__) || defined(__APPLE__)
    const long page_size = sysconf(_SC_PAGESIZE);
    if (page_size <= 0) return;
    const uintptr_t page = uintptr_t(page_size);
    for (const auto& t : m.file.tensors()) {
        const uintptr_t begin = (reinterpret_cast<uintptr_t>(t.data) + page - 1) / page * page;
        const uintptr_t end = (reinterpret_cast<uintptr_t>(t.data) + t.n_bytes) / page * page;
        if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
    }
#else
    (void)m;
#endif
}

}  // namespace

void attach(ModelImpl& m, std::shared_ptr<Runtime> rt) {
    const HParams& hp = m.hp;
    if (hp.d_state > kc::kMaxDState)
        throw Error(ErrorCode::unsupported, "the CUDA backend supports d_state <= " + std::to_string(kc::kMaxDState) +
                                                "; this model has " + std::to_string(hp.d_state));
    if (hp.d_conv > kc::kMaxConvKernel)
        throw Error(ErrorCode::unsupported, "the CUDA backend supports d_conv <= " +
                                                std::to_string(kc::kMaxConvKernel) + "; this model has " +
                                                std::to_string(hp.d_conv));
    auto dm = std::make_shared<DeviceModel>();
    dm->rt = std::move(rt);
    Uploader(m, *dm).run();
    m.gpu = std::move(dm);
    if (m.params.release_host_weights) release_host_pages(m);
}

}  // namespace kaa::detail::gpu
