// cuda_runtime.cpp — gpu::Runtime on the CUDA runtime API (built with -DKAA_CUDA=ON).
// Every entry point selects the runtime's device first: Sessions may run on any thread.
#include <cuda_runtime_api.h>

#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>

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

class CudaRuntime final : public Runtime {
public:
    explicit CudaRuntime(const DeviceInfo& info) : info_(info) {}
    ~CudaRuntime() override {
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
    }

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
        kc::matmul(a, s);
    }
    void conv(const kc::ConvArgs& a, void* s) override {
        use();
        kc::conv(a, s);
    }
    void scan(const kc::ScanArgs& a, void* s) override {
        use();
        kc::scan(a, s);
    }
    void rms(const kc::RmsArgs& a, void* s) override {
        use();
        kc::rms(a, s);
    }
    void embed(const kc::EmbedArgs& a, void* s) override {
        use();
        kc::embed(a, s);
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
    static constexpr size_t kUploadChunk = size_t(32) << 20;
    static cudaStream_t cs(void* s) { return static_cast<cudaStream_t>(s); }
    // Switches only when needed: inside a graph capture the device is already current.
    void use() const {
        int current = -1;
        if (cudaGetDevice(&current) != cudaSuccess || current != info_.index) cudaSetDevice(info_.index);
    }

    DeviceInfo info_;
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
