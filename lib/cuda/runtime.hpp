// runtime.hpp — what the device model and the device forward pass need from a GPU:
// memory, copies, streams, graphs and the kernel launches of kernels/cuda. The CUDA
// build implements it on the CUDA runtime (cuda_runtime.cpp); the tests implement it on
// host memory with the kernels run by the CPU emulation, so everything above this
// interface — uploads, buffer layout, the forward pass over segments, graph replay — is
// tested without a GPU. No CUDA header here: lib/cuda compiles in every build.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "kernels/cuda/params.hpp"

namespace kaa::detail::gpu {

namespace kc = kaa::kernels::cuda;

struct DeviceInfo {
    std::string name;
    int index = 0;
    int cc_major = 0, cc_minor = 0;  // compute capability
    int sm_count = 1;
    uint64_t total_bytes = 0;
};

class Runtime {
public:
    virtual ~Runtime() = default;

    virtual const DeviceInfo& info() const = 0;
    virtual uint64_t free_bytes() const = 0;

    // Device memory. alloc throws Error(out_of_memory) naming `what`, the bytes asked for
    // and the bytes free. Allocations are 256-byte aligned.
    virtual void* alloc(size_t bytes, const char* what) = 0;
    virtual void release(void* p) noexcept = 0;
    // Page-locked host memory (copies from it can be captured in graphs).
    virtual void* alloc_host(size_t bytes, const char* what) = 0;
    virtual void release_host(void* p) noexcept = 0;

    // Work is ordered per stream. Streams are opaque handles.
    virtual void* create_stream() = 0;
    virtual void destroy_stream(void* s) noexcept = 0;
    virtual void sync(void* s) = 0;  // waits, and throws Error(internal) for a failed kernel
    // True when launches are being timed one by one (KAA_CUDA_PROFILE): no graphs then.
    virtual bool profiling() const { return false; }

    // Asynchronous copies on a stream (host side page-locked), and a fill with zeros.
    virtual void to_device(void* dst, const void* host, size_t bytes, void* s) = 0;
    virtual void to_host(void* host, const void* src, size_t bytes, void* s) = 0;
    virtual void copy(void* dst, const void* src, size_t bytes, void* s) = 0;
    virtual void zero(void* dst, size_t bytes, void* s) = 0;
    // Synchronous copies from / to any host memory (the mapped file, a State's vector),
    // done when they return. They do not wait for other streams: sync those first.
    virtual void upload(void* dst, const void* host, size_t bytes) = 0;
    virtual void download(void* host, const void* src, size_t bytes) = 0;

    // Kernel launches (kernels/cuda/launch.cuh decides grids and variants).
    virtual void matmul(const kc::MatmulArgs& a, void* s) = 0;
    virtual void conv(const kc::ConvArgs& a, void* s) = 0;
    virtual void scan(const kc::ScanArgs& a, void* s) = 0;
    virtual void rms(const kc::RmsArgs& a, void* s) = 0;
    virtual void embed(const kc::EmbedArgs& a, void* s) = 0;
    virtual void repack(const kc::RepackArgs& a, void* s) = 0;

    // Records what `body` issues on stream `s` (launches and copies, nothing else) into a
    // replayable graph; nothing runs yet. Every argument is recorded by value: replays
    // see the same pointers and sizes, and only the contents of memory may change.
    virtual void* capture(void* s, const std::function<void()>& body) = 0;
    virtual void replay(void* graph, void* s) = 0;
    virtual void destroy_graph(void* graph) noexcept = 0;

    // A cuBLAS handle bound to stream `s` (MatmulArgs::blas), or nullptr where there is
    // no cuBLAS (the emulation, a machine without libcublas).
    virtual void* create_blas(void* s) { (void)s; return nullptr; }
    virtual void destroy_blas(void* handle) noexcept { (void)handle; }

    // Milliseconds per run of `body` on stream `s` (events around `reps` runs after one
    // warm-up), for benchmarks.
    virtual double time_ms(void* s, const std::function<void()>& body, int reps) = 0;
};

// The CUDA runtime on device `index`: checks that it exists and has compute capability
// 8.0 or newer. Throws Error(unsupported) without a device (or in a build without CUDA:
// "built without CUDA"), Error(invalid_argument) for an index out of range.
std::shared_ptr<Runtime> cuda_runtime(int index);
// Devices CUDA sees; 0 without CUDA, driver or device.
int cuda_device_count() noexcept;
bool built_with_cuda() noexcept;

}  // namespace kaa::detail::gpu
