#include "kernels/cpu/scratch.hpp"

#include <cstdlib>
#include <new>

namespace kaa::kernels {
namespace {

void aligned_free(void* p) {
#if defined(_MSC_VER)
    _aligned_free(p);
#else
    std::free(p);
#endif
}

struct Buffer {
    void* p = nullptr;
    size_t size = 0;
    ~Buffer() { aligned_free(p); }
};

constexpr int kSlots = 4;

}  // namespace

void* thread_scratch(int slot, size_t bytes) {
    thread_local Buffer buffers[kSlots];
    Buffer& b = buffers[slot & (kSlots - 1)];
    if (b.size < bytes) {
        // Grow by 1.5x so slowly rising sizes (longer prompts) do not reallocate often.
        size_t want = bytes + bytes / 2;
        want = (want + 63) & ~size_t(63);
        void* p = nullptr;
#if defined(_MSC_VER)
        p = _aligned_malloc(want, 64);
#else
        if (posix_memalign(&p, 64, want) != 0) p = nullptr;
#endif
        if (!p) throw std::bad_alloc();
        aligned_free(b.p);
        b.p = p;
        b.size = want;
    }
    return b.p;
}

}  // namespace kaa::kernels
