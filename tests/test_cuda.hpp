// test_cuda.hpp — what the CUDA backend's tests share (test_cuda_*.cpp).
//
// Every check runs twice: on the CPU emulation of the GPU (always: the kernel sources of
// kernels/cuda compiled for the host, see kernels/cuda/emu/emu.hpp, behind the same
// gpu::Runtime interface as CUDA), tagged [cuda-emu]; and on a real GPU when there is
// one, tagged [cuda] (skipped with "KAA_SKIP: no CUDA device" otherwise).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cuda/runtime.hpp"
#include "kaa/kaa.hpp"

namespace kaa::test::cuda {

namespace gpu = kaa::detail::gpu;

// A fresh emulated GPU: host memory, kernels run by the CPU emulation, graphs recorded
// and replayed. `free_bytes` is what it reports free (allocations beyond fail like
// cudaMalloc does, with Error(out_of_memory)).
std::shared_ptr<gpu::Runtime> emu_runtime(uint64_t free_bytes = uint64_t(1) << 40);
// Live allocations of all emulated runtimes (tests check nothing leaks).
int64_t emu_live_allocations();
// Graphs an emulated runtime captured and replayed so far.
std::pair<int, int> emu_graph_stats(const gpu::Runtime& emu);

// The CUDA runtime of device 0, or null with *why set when this machine has none.
std::shared_ptr<gpu::Runtime> cuda_runtime_or_null(std::string* why);

// Where a model runs in a test.
enum class Where { cpu, emu, cuda };
const char* where_name(Where w);
// Loads `path` there; for Where::emu the model is loaded for the CPU and its weights
// then attached to a new emulated runtime (what Model::load does with a CUDA runtime).
kaa::Model load_on(const std::string& path, Where where, kaa::Precision precision);

// A device buffer that frees itself; filled from / read into host vectors.
template <class T>
class DevVec {
public:
    DevVec(gpu::Runtime& rt, size_t n) : rt_(rt), n_(n), p_(static_cast<T*>(rt.alloc(bytes(), "test"))) {}
    DevVec(gpu::Runtime& rt, const std::vector<T>& host) : DevVec(rt, host.size()) { rt.upload(p_, host.data(), bytes()); }
    ~DevVec() { rt_.release(p_); }
    DevVec(const DevVec&) = delete;
    DevVec& operator=(const DevVec&) = delete;
    T* get() const { return p_; }
    size_t bytes() const { return n_ > 0 ? n_ * sizeof(T) : 1; }
    std::vector<T> read() const {
        std::vector<T> out(n_);
        rt_.download(out.data(), p_, n_ * sizeof(T));
        return out;
    }

private:
    gpu::Runtime& rt_;
    size_t n_;
    T* p_;
};

}  // namespace kaa::test::cuda
