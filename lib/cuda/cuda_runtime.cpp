// cuda_runtime.cpp — gpu::Runtime on the CUDA runtime API (built with -DKAA_CUDA=ON).
// Every entry point selects the runtime's device first: Sessions may run on any thread.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "cuda/runtime.hpp"
#include "kaa/error.hpp"
#include "kernels/cuda/cuda_kernels.hpp"

namespace kaa::detail::gpu {
namespace {

void check(cudaError_t e, const char* what) {
    if (e == cudaSuccess) return;
    cudaGetLastError();  // clear a non-sticky error
    throw Error(e == cudaErrorMemoryAllocation ? ErrorCode::out_of_memory : ErrorCode::internal,
                std::string("CUDA: ") + what + ": " + cudaGetErrorString(e));
}

// Held while a graph is captured and around allocations and frees, which may synchronize
// the device: another thread's cudaFree must not fall into the middle of a capture.
std::mutex& capture_mutex() {
    static std::mutex m;
    return m;
}

std::string mib(uint64_t bytes) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f MiB", double(bytes) / double(1 << 20));
    return buf;
}

// KAA_CUDA_PROFILE=1: every launch outside a graph capture is timed with a pair of CUDA
// events, summed per kernel and shape, and printed to stderr when the runtime goes away
// (the last Model using the device). The device forward pass then skips its decode
// graphs, so each launch is seen; compare with a normal run for the graphs' effect.
class KernelProfile {
public:
    static bool enabled() {
        const char* v = std::getenv("KAA_CUDA_PROFILE");
        return v && *v && std::strcmp(v, "0") != 0;
    }
    template <class F>
    void run(const std::string& name, cudaStream_t s, F&& launch) {
        cudaStreamCaptureStatus st = cudaStreamCaptureStatusNone;
        cudaStreamIsCapturing(s, &st);
        if (st != cudaStreamCaptureStatusNone) return launch();
        cudaEvent_t e0 = nullptr, e1 = nullptr;
        cudaEventCreate(&e0);
        cudaEventCreate(&e1);
        cudaEventRecord(e0, s);
        launch();
        cudaEventRecord(e1, s);
        std::lock_guard<std::mutex> lk(mu_);
        pending_.push_back({name, e0, e1});
        if (pending_.size() > 4096) collect(true);
    }
    // Adds finished timings to the totals (all of them, waiting, when `wait`).
    void collect(bool wait) {
        std::vector<Rec> left;
        for (Rec& r : pending_) {
            if (wait) cudaEventSynchronize(r.e1);
            else if (cudaEventQuery(r.e1) != cudaSuccess) {
                cudaGetLastError();
                left.push_back(r);
                continue;
            }
            float ms = 0.0f;
            cudaEventElapsedTime(&ms, r.e0, r.e1);
            Total& t = totals_[r.name];
            t.ms += ms;
            ++t.calls;
            cudaEventDestroy(r.e0);
            cudaEventDestroy(r.e1);
        }
        pending_.swap(left);
    }
    void after_sync() {
        std::lock_guard<std::mutex> lk(mu_);
        collect(false);
    }
    void print() {
        std::lock_guard<std::mutex> lk(mu_);
        collect(true);
        double all = 0;
        std::vector<std::pair<std::string, Total>> v(totals_.begin(), totals_.end());
        for (const auto& e : v) all += e.second.ms;
        std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.second.ms > b.second.ms; });
        std::fprintf(stderr, "kaa cuda profile (KAA_CUDA_PROFILE): %.3f ms in kernels\n", all);
        std::fprintf(stderr, "  %-48s %8s %11s %10s %6s\n", "kernel", "calls", "total ms", "mean us", "share");
        for (const auto& e : v)
            std::fprintf(stderr, "  %-48s %8lld %11.3f %10.2f %5.1f%%\n", e.first.c_str(), (long long)e.second.calls,
                         e.second.ms, 1e3 * e.second.ms / double(e.second.calls), 100.0 * e.second.ms / (all > 0 ? all : 1));
    }

private:
    struct Rec {
        std::string name;
        cudaEvent_t e0, e1;
    };
    struct Total {
        double ms = 0;
        int64_t calls = 0;
    };
    std::mutex mu_;
    std::vector<Rec> pending_;
    std::map<std::string, Total> totals_;
};

std::string matmul_name(const kc::MatmulArgs& a) {
    const char* path = "f32 tiles";
    if (kc::blas_eligible(a)) return "matmul " + std::to_string(a.w.rows) + "x" + std::to_string(a.w.cols) + " M=" + std::to_string(a.M) + " cublas";
    switch (kc::matmul_path(a)) {
        case kc::MatmulPath::gemv: path = "gemv"; break;
        case kc::MatmulPath::tensor_core: path = "tensor cores"; break;
        case kc::MatmulPath::f32_tiles: break;
    }
    return "matmul " + std::to_string(a.w.rows) + "x" + std::to_string(a.w.cols) + " M=" + std::to_string(a.M) + " " +
           path;
}

class CudaRuntime final : public Runtime {
public:
    explicit CudaRuntime(const DeviceInfo& info) : info_(info) {
        if (KernelProfile::enabled()) profile_ = std::make_unique<KernelProfile>();
    }
    ~CudaRuntime() override {
        if (profile_) profile_->print();
        use();
        for (int i = 0; i < 2; ++i) {
            if (up_buf_[i]) cudaFreeHost(up_buf_[i]);
            if (up_done_[i]) cudaEventDestroy(up_done_[i]);
        }
        if (up_stream_) cudaStreamDestroy(up_stream_);
    }

    const DeviceInfo& info() const override { return info_; }

    uint64_t free_bytes() const override {
        use();
        size_t free = 0, total = 0;
        check(cudaMemGetInfo(&free, &total), "cudaMemGetInfo");
        return free;
    }

    void* alloc(size_t bytes, const char* what) override {
        std::lock_guard<std::mutex> lk(capture_mutex());
        use();
        void* p = nullptr;
        const cudaError_t e = cudaMalloc(&p, bytes);
        if (e == cudaErrorMemoryAllocation) {
            cudaGetLastError();
            size_t free = 0, total = 0;
            cudaMemGetInfo(&free, &total);
            throw Error(ErrorCode::out_of_memory, "GPU " + std::to_string(info_.index) + " (" + info_.name +
                                                      ") is out of memory: " + what + " needs " + mib(bytes) + ", " +
                                                      mib(free) + " free");
        }
        check(e, "cudaMalloc");
        return p;
    }
    void release(void* p) noexcept override {
        std::lock_guard<std::mutex> lk(capture_mutex());
        use();
        cudaFree(p);
    }
    void* alloc_host(size_t bytes, const char* what) override {
        std::lock_guard<std::mutex> lk(capture_mutex());
        use();
        void* p = nullptr;
        const cudaError_t e = cudaMallocHost(&p, bytes);
        if (e != cudaSuccess) {
            cudaGetLastError();
            throw Error(ErrorCode::out_of_memory, std::string("page-locked host memory for ") + what + " (" +
                                                      mib(bytes) + "): " + cudaGetErrorString(e));
        }
        return p;
    }
    void release_host(void* p) noexcept override {
        std::lock_guard<std::mutex> lk(capture_mutex());
        use();
        cudaFreeHost(p);
    }

    void* create_stream() override {
        std::lock_guard<std::mutex> lk(capture_mutex());
        use();
        cudaStream_t s = nullptr;
        check(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreate");
        return s;
    }
    void destroy_stream(void* s) noexcept override {
        std::lock_guard<std::mutex> lk(capture_mutex());
        use();
        cudaStreamDestroy(cs(s));
    }
    void sync(void* s) override {
        use();
        check(cudaStreamSynchronize(cs(s)), "a kernel failed");
        if (profile_) profile_->after_sync();
    }
    bool profiling() const override { return profile_ != nullptr; }

    void to_device(void* dst, const void* host, size_t bytes, void* s) override {
        use();
        check(cudaMemcpyAsync(dst, host, bytes, cudaMemcpyHostToDevice, cs(s)), "copy to device");
    }
    void to_host(void* host, const void* src, size_t bytes, void* s) override {
        use();
        check(cudaMemcpyAsync(host, src, bytes, cudaMemcpyDeviceToHost, cs(s)), "copy to host");
    }
    void copy(void* dst, const void* src, size_t bytes, void* s) override {
        use();
        check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, cs(s)), "device copy");
    }
    void zero(void* dst, size_t bytes, void* s) override {
        use();
        check(cudaMemsetAsync(dst, 0, bytes, cs(s)), "cudaMemsetAsync");
    }

    // Through two page-locked buffers: the CPU fills one while the other is copied.
    void upload(void* dst, const void* host, size_t bytes) override {
        std::lock_guard<std::mutex> lk(up_mu_);
        use();
        if (!up_stream_) {
            check(cudaStreamCreateWithFlags(&up_stream_, cudaStreamNonBlocking), "cudaStreamCreate");
            for (int i = 0; i < 2; ++i) {
                up_buf_[i] = alloc_host(kUploadChunk, "uploads");
                check(cudaEventCreateWithFlags(&up_done_[i], cudaEventDisableTiming), "cudaEventCreate");
            }
        }
        const auto* src = static_cast<const char*>(host);
        auto* out = static_cast<char*>(dst);
        int i = 0;
        for (size_t off = 0; off < bytes; off += kUploadChunk, i ^= 1) {
            const size_t n = bytes - off < kUploadChunk ? bytes - off : kUploadChunk;
            check(cudaEventSynchronize(up_done_[i]), "upload");  // buffer i free again
            std::memcpy(up_buf_[i], src + off, n);
            check(cudaMemcpyAsync(out + off, up_buf_[i], n, cudaMemcpyHostToDevice, up_stream_), "upload");
            check(cudaEventRecord(up_done_[i], up_stream_), "upload");
        }
        check(cudaStreamSynchronize(up_stream_), "upload");
    }
    void download(void* host, const void* src, size_t bytes) override {
        use();
        check(cudaMemcpy(host, src, bytes, cudaMemcpyDeviceToHost), "download");
    }

    void matmul(const kc::MatmulArgs& a, void* s) override {
        use();
        launch(s, [&] { return matmul_name(a); }, [&] { kc::matmul(a, s); });
    }
    void conv(const kc::ConvArgs& a, void* s) override {
        use();
        launch(s, [&] { return "conv T=" + std::to_string(a.max_T) + " segments " + std::to_string(a.n_segs); },
               [&] { kc::conv(a, s); });
    }
    void scan(const kc::ScanArgs& a, void* s) override {
        use();
        launch(s, [&] { return "scan T=" + std::to_string(a.max_T) + " segments " + std::to_string(a.n_segs); },
               [&] { kc::scan(a, s); });
    }
    void rms(const kc::RmsArgs& a, void* s) override {
        use();
        launch(s, [&] { return "rms rows " + std::to_string(a.n_rows); }, [&] { kc::rms(a, s); });
    }
    void embed(const kc::EmbedArgs& a, void* s) override {
        use();
        launch(s, [&] { return "embed rows " + std::to_string(a.n); }, [&] { kc::embed(a, s); });
    }
    void repack(const kc::RepackArgs& a, void* s) override {
        use();
        kc::repack(a, s);
    }

    void* capture(void* s, const std::function<void()>& body) override {
        std::lock_guard<std::mutex> lk(capture_mutex());
        use();
        check(cudaStreamBeginCapture(cs(s), cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture");
        cudaGraph_t g = nullptr;
        try {
            body();
        } catch (...) {
            cudaStreamEndCapture(cs(s), &g);
            if (g) cudaGraphDestroy(g);
            throw;
        }
        check(cudaStreamEndCapture(cs(s), &g), "cudaStreamEndCapture");
        cudaGraphExec_t exec = nullptr;
        const cudaError_t e = cudaGraphInstantiate(&exec, g, 0);
        cudaGraphDestroy(g);
        check(e, "cudaGraphInstantiate");
        return exec;
    }
    void replay(void* graph, void* s) override {
        use();
        check(cudaGraphLaunch(static_cast<cudaGraphExec_t>(graph), cs(s)), "cudaGraphLaunch");
    }
    void destroy_graph(void* graph) noexcept override {
        std::lock_guard<std::mutex> lk(capture_mutex());
        use();
        cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(graph));
    }

    void* create_blas(void* s) override {
        if (!kc::blas_available()) return nullptr;
        void* ws = alloc(kBlasWorkspace, "cuBLAS workspace");
        void* h = kc::blas_create(s, ws, kBlasWorkspace);
        if (!h) {
            release(ws);
            return nullptr;
        }
        std::lock_guard<std::mutex> lk(blas_mu_);
        blas_ws_[h] = ws;
        return h;
    }
    void destroy_blas(void* handle) noexcept override {
        if (!handle) return;
        use();
        kc::blas_destroy(handle);
        void* ws = nullptr;
        {
            std::lock_guard<std::mutex> lk(blas_mu_);
            ws = blas_ws_[handle];
            blas_ws_.erase(handle);
        }
        release(ws);
    }

    double time_ms(void* s, const std::function<void()>& body, int reps) override {
        use();
        cudaEvent_t e0 = nullptr, e1 = nullptr;
        check(cudaEventCreate(&e0), "cudaEventCreate");
        check(cudaEventCreate(&e1), "cudaEventCreate");
        float ms = 0.0f;
        try {
            body();  // warm-up
            check(cudaEventRecord(e0, cs(s)), "cudaEventRecord");
            for (int r = 0; r < reps; ++r) body();
            check(cudaEventRecord(e1, cs(s)), "cudaEventRecord");
            check(cudaEventSynchronize(e1), "timed work");
            check(cudaEventElapsedTime(&ms, e0, e1), "cudaEventElapsedTime");
        } catch (...) {
            cudaEventDestroy(e0);
            cudaEventDestroy(e1);
            throw;
        }
        cudaEventDestroy(e0);
        cudaEventDestroy(e1);
        return double(ms) / (reps > 0 ? reps : 1);
    }

private:
    // A launch, timed under KAA_CUDA_PROFILE.
    template <class Name, class F>
    void launch(void* s, Name&& name, F&& f) {
        if (profile_) profile_->run(name(), cs(s), f);
        else f();
    }

    static constexpr size_t kUploadChunk = size_t(32) << 20;
    static constexpr size_t kBlasWorkspace = size_t(32) << 20;
    static cudaStream_t cs(void* s) { return static_cast<cudaStream_t>(s); }
    // Switches only when needed: inside a graph capture the device is already current.
    void use() const {
        int current = -1;
        if (cudaGetDevice(&current) != cudaSuccess || current != info_.index) cudaSetDevice(info_.index);
    }

    DeviceInfo info_;
    std::unique_ptr<KernelProfile> profile_;
    std::mutex blas_mu_;
    std::map<void*, void*> blas_ws_;  // cuBLAS handle -> its workspace
    std::mutex up_mu_;
    cudaStream_t up_stream_ = nullptr;
    void* up_buf_[2] = {nullptr, nullptr};
    cudaEvent_t up_done_[2] = {nullptr, nullptr};
};

}  // namespace

int cuda_device_count() noexcept {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return n;
}

bool built_with_cuda() noexcept { return true; }

std::shared_ptr<Runtime> cuda_runtime(int index) {
    int n = 0;
    const cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0) {
        const std::string why = e != cudaSuccess ? cudaGetErrorString(e) : "the driver reports none";
        cudaGetLastError();
        throw Error(ErrorCode::unsupported, "no CUDA device: " + why);
    }
    if (index < 0 || index >= n)
        throw Error(ErrorCode::invalid_argument, "ModelParams::gpu_index " + std::to_string(index) + ": there are " +
                                                     std::to_string(n) + " CUDA device(s)");
    cudaDeviceProp prop{};
    check(cudaGetDeviceProperties(&prop, index), "cudaGetDeviceProperties");
    DeviceInfo info;
    info.name = prop.name;
    info.index = index;
    info.cc_major = prop.major;
    info.cc_minor = prop.minor;
    info.sm_count = prop.multiProcessorCount;
    info.total_bytes = prop.totalGlobalMem;
    if (prop.major < 8)
        throw Error(ErrorCode::unsupported, "GPU " + std::to_string(index) + " (" + info.name +
                                                ") has compute capability " + std::to_string(prop.major) + "." +
                                                std::to_string(prop.minor) +
                                                "; kaa's CUDA backend needs 8.0 or newer");
    return std::make_shared<CudaRuntime>(info);
}

}  // namespace kaa::detail::gpu
