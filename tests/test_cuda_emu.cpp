// The CPU emulation of the GPU used by the CUDA backend's tests (test_cuda.hpp): a
// gpu::Runtime on host memory whose kernel launches run kernels/cuda's sources through
// kernels/cuda/emu/emu.hpp, and whose graphs record launches and copies (arguments by
// value, as CUDA graphs do) and replay them. Also the emulator's own checks.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

#include "cuda/gpu.hpp"
#include "kernels/cuda/launch.cuh"
#include "model/model_impl.hpp"
#include "test_cuda.hpp"

namespace kaa::test::cuda {
namespace {

namespace kc = kaa::kernels::cuda;

std::atomic<int64_t> g_live{0};

class EmuRuntime final : public gpu::Runtime {
public:
    explicit EmuRuntime(uint64_t free_bytes) : free_(free_bytes) {
        info_.name = "CPU emulation";
        info_.cc_major = 9;
        info_.sm_count = 2;  // small: GEMV plans split K as they do for small matrices
        info_.total_bytes = free_bytes;
    }

    const gpu::DeviceInfo& info() const override { return info_; }
    uint64_t free_bytes() const override { return free_ - used_; }

    void* alloc(size_t bytes, const char* what) override {
        const size_t n = (bytes + 255) / 256 * 256;
        if (n > free_ - used_)
            throw Error(ErrorCode::out_of_memory, std::string("emulated GPU out of memory: ") + what + " needs " +
                                                      std::to_string(n) + " bytes");
        void* p = std::aligned_alloc(256, n);
        if (!p) throw Error(ErrorCode::out_of_memory, "host out of memory");
        std::memset(p, 0xA5, n);  // garbage, like fresh device memory
        used_ += n;
        sizes_[p] = n;
        ++g_live;
        return p;
    }
    void release(void* p) noexcept override {
        if (!p) return;
        used_ -= sizes_[p];
        sizes_.erase(p);
        --g_live;
        std::free(p);
    }
    void* alloc_host(size_t bytes, const char* what) override { return alloc(bytes, what); }
    void release_host(void* p) noexcept override { release(p); }

    void* create_stream() override { return new int(0); }
    void destroy_stream(void* s) noexcept override { delete static_cast<int*>(s); }
    void sync(void*) override {}

    void to_device(void* dst, const void* host, size_t bytes, void*) override {
        run_or_record([=] { std::memcpy(dst, host, bytes); });
    }
    void to_host(void* host, const void* src, size_t bytes, void*) override {
        run_or_record([=] { std::memcpy(host, src, bytes); });
    }
    void copy(void* dst, const void* src, size_t bytes, void*) override {
        run_or_record([=] { std::memcpy(dst, src, bytes); });
    }
    void zero(void* dst, size_t bytes, void*) override {
        run_or_record([=] { std::memset(dst, 0, bytes); });
    }
    void upload(void* dst, const void* host, size_t bytes) override {
        no_capture("upload");
        std::memcpy(dst, host, bytes);
    }
    void download(void* host, const void* src, size_t bytes) override {
        no_capture("download");
        std::memcpy(host, src, bytes);
    }

    void matmul(const kc::MatmulArgs& a, void*) override {
        run_or_record([=] { kc::launch_matmul(launcher_, a); });
    }
    void conv(const kc::ConvArgs& a, void*) override {
        run_or_record([=] { kc::launch_conv(launcher_, a); });
    }
    void scan(const kc::ScanArgs& a, void*) override {
        run_or_record([=] { kc::launch_scan(launcher_, a); });
    }
    void rms(const kc::RmsArgs& a, void*) override {
        run_or_record([=] { kc::launch_rms(launcher_, a); });
    }
    void embed(const kc::EmbedArgs& a, void*) override {
        run_or_record([=] { kc::launch_embed(launcher_, a); });
    }
    void repack(const kc::RepackArgs& a, void*) override {
        run_or_record([=] { kc::launch_repack(launcher_, a); });
    }

    void* capture(void*, const std::function<void()>& body) override {
        no_capture("capture");
        auto* g = new std::vector<std::function<void()>>();
        recording_ = g;
        try {
            body();
        } catch (...) {
            recording_ = nullptr;
            delete g;
            throw;
        }
        recording_ = nullptr;
        ++captures;
        return g;
    }
    void replay(void* graph, void*) override {
        no_capture("replay");
        for (const auto& op : *static_cast<std::vector<std::function<void()>>*>(graph)) op();
        ++replays;
    }
    void destroy_graph(void* graph) noexcept override { delete static_cast<std::vector<std::function<void()>>*>(graph); }

    double time_ms(void*, const std::function<void()>& body, int reps) override {
        const auto t0 = std::chrono::steady_clock::now();
        for (int r = 0; r < reps; ++r) body();
        return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / reps;
    }

    int captures = 0, replays = 0;

private:
    struct Launcher {
        template <class... P, class... A>
        void operator()(void (*kernel)(P...), dim3 grid, dim3 block, const A&... args) const {
            kaa::cuda_emu::run(grid, block, [&] { kernel(args...); });
        }
    };

    void run_or_record(std::function<void()> op) {
        if (recording_) recording_->push_back(std::move(op));
        else op();
    }
    void no_capture(const char* what) const {
        if (recording_) throw Error(ErrorCode::internal, std::string(what) + " inside a graph capture");
    }

    gpu::DeviceInfo info_;
    uint64_t free_, used_ = 0;
    std::map<void*, size_t> sizes_;
    std::vector<std::function<void()>>* recording_ = nullptr;
    Launcher launcher_;
};

}  // namespace

std::shared_ptr<gpu::Runtime> emu_runtime(uint64_t free_bytes) { return std::make_shared<EmuRuntime>(free_bytes); }

int64_t emu_live_allocations() { return g_live.load(); }

std::pair<int, int> emu_graph_stats(const gpu::Runtime& emu) {
    const auto& e = dynamic_cast<const EmuRuntime&>(emu);
    return {e.captures, e.replays};
}

std::shared_ptr<gpu::Runtime> cuda_runtime_or_null(std::string* why) {
    if (!gpu::built_with_cuda()) {
        *why = "no CUDA device (this build has no CUDA: -DKAA_CUDA=OFF)";
        return nullptr;
    }
    if (gpu::cuda_device_count() == 0) {
        *why = "no CUDA device";
        return nullptr;
    }
    return gpu::cuda_runtime(0);
}

const char* where_name(Where w) { return w == Where::cpu ? "cpu" : w == Where::emu ? "emu" : "cuda"; }

kaa::Model load_on(const std::string& path, Where where, kaa::Precision precision) {
    kaa::ModelParams mp;
    mp.precision = precision;
    if (where == Where::cuda) mp.device = kaa::Device::cuda;
    kaa::Model model = kaa::Model::load(path, mp);
    if (where == Where::emu)  // tests may reach into the shared implementation
        gpu::attach(const_cast<kaa::detail::ModelImpl&>(*model.impl()), emu_runtime());
    return model;
}

}  // namespace kaa::test::cuda

// ---- the emulator itself -------------------------------------------------------------------------
namespace {

namespace kc = kaa::kernels::cuda;

struct Probe {
    int* out;
};

__global__ void probe_kernel(Probe p) {
    __shared__ int slot[64];
    const unsigned t = threadIdx.x;
    slot[t] = int(t) * 10 + int(blockIdx.x);
    __syncthreads();
    // A shuffle inside each warp, then a read of another warp's shared-memory slot.
    const int partner = __shfl_xor_sync(0xffffffffu, int(t), 1);
    p.out[blockIdx.x * 64 + t] = partner * 1000 + slot[63 - t];
}

}  // namespace

TEST_CASE("cuda-emu: threads of a block meet at barriers and shuffles, blocks see their own indices", "[cuda-emu]") {
    std::vector<int> out(3 * 64, -1);
    kaa::cuda_emu::run(dim3(3), dim3(64), [&] { probe_kernel(Probe{out.data()}); });
    for (int b = 0; b < 3; ++b)
        for (int t = 0; t < 64; ++t) {
            INFO("block " << b << " thread " << t);
            CHECK(out[size_t(b * 64 + t)] == (t ^ 1) * 1000 + (63 - t) * 10 + b);
        }
}

TEST_CASE("cuda-emu: group sums over 4 lanes give every lane its group's total", "[cuda-emu]") {
    std::vector<float> out(32);
    kaa::cuda_emu::run(dim3(1), dim3(32), [&] {
        const unsigned t = threadIdx.x;
        out[t] = kc::group_sum<4>(float(t));
    });
    for (int t = 0; t < 32; ++t) CHECK(out[size_t(t)] == float((t / 4) * 16 + 6));
}
