// relayout.cpp — load-time re-layout of Q8_0 weight matrices into Q8_0x16
// (kernels/cpu/q8_0_x16.hpp) for kernels that take it. Why: the int8 dot products want 16
// rows side by side in vector lanes; done once here, the GEMV skips its per-call
// transpose-reduce and batched decode skips repacking every weight on every step.
//
// The copy replaces the file's pages rather than adding to them: as each slice of a
// matrix is re-laid, the mapped pages it came from are dropped from this process
// (madvise MADV_DONTNEED on a read-only shared mapping: touched again, they are re-read
// from the file), so the resident size stays about one copy of the weights.
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <thread>
#include <unordered_set>
#include <vector>

#include "kernels/cpu/q8_0_x16.hpp"
#include "model/model_impl.hpp"

#if defined(__unix__) || defined(__APPLE__)
#include <sys/mman.h>
#include <unistd.h>
#endif

namespace kaa::detail {
namespace {

// Drops the whole pages inside [p, p + n) from the resident set (see the file comment).
void release_pages(const uint8_t* p, size_t n) {
#if defined(__unix__) || defined(__APPLE__)
    static const long page_size = sysconf(_SC_PAGESIZE);
    if (page_size <= 0) return;
    const uintptr_t page = uintptr_t(page_size);
    const uintptr_t begin = (reinterpret_cast<uintptr_t>(p) + page - 1) / page * page;
    const uintptr_t end = (reinterpret_cast<uintptr_t>(p) + n) / page * page;
    if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
#else
    (void)p;
    (void)n;
#endif
}

struct Job {
    WeightMatrix* w;
    const uint8_t* src;
    uint8_t* dst;
    int64_t g_begin, g_end;
    bool in_file;  // src is the mapping itself (not a loader's aligned heap copy)
};

}  // namespace

void relayout_weights(ModelImpl& m) {
    if (m.params.device != Device::cpu || m.params.precision != Precision::fast || !m.kernels->q8_0_x16 ||
        !m.file.is_mmap())
        return;
    if (const char* env = std::getenv("KAA_RELAYOUT"); env && std::strcmp(env, "0") == 0) return;

    std::vector<WeightMatrix*> todo;
    for (LayerWeights& L : m.layers)
        for (WeightMatrix* w : {&L.ssm_in, &L.ssm_x, &L.ssm_dt, &L.ssm_out}) todo.push_back(w);
    if (!m.hp.tied_embeddings) todo.push_back(&m.output);  // tied: the embedding rows are still read

    // Slices of ~4 MiB of weights: small enough to balance threads and to release the
    // source pages as the copy proceeds.
    constexpr int64_t kSliceBytes = int64_t(4) << 20;
    std::unordered_set<const uint8_t*> mapped;
    for (const auto& t : m.file.tensors()) mapped.insert(t.data);
    std::vector<Job> jobs;
    for (WeightMatrix* w : todo) {
        if (w->type != kernels::WeightType::q8_0 || w->layout != kernels::WeightLayout::rows) continue;
        const size_t bytes = kernels::x16_bytes(w->rows, w->cols);
        auto* raw = new (std::nothrow) uint8_t[bytes + 64];
        if (!raw) {  // no room for the copy: the file's layout serves, only slower
            m.relaid.clear();
            return;
        }
        auto& buf = m.relaid.emplace_back(raw);
        uint8_t* dst = buf.get() + (64 - reinterpret_cast<uintptr_t>(buf.get()) % 64) % 64;
        const int64_t groups = kernels::x16_groups(w->rows);
        const int64_t step = std::max<int64_t>(1, kSliceBytes / kernels::x16_group_bytes(w->cols));
        for (int64_t g = 0; g < groups; g += step) jobs.push_back({w, w->data, dst, g, std::min(groups, g + step), mapped.count(w->data) > 0});
    }
    if (jobs.empty()) return;

    std::atomic<size_t> next{0};
    auto work = [&] {
        for (size_t i; (i = next.fetch_add(1)) < jobs.size();) {
            const Job& j = jobs[i];
            const WeightMatrix& w = *j.w;
            kernels::pack_q8_0_x16(j.src, w.row_bytes, w.rows, w.cols, j.g_begin, j.g_end, j.dst);
            const int64_t r0 = j.g_begin * kernels::kX16Rows,
                          r1 = std::min(w.rows, j.g_end * kernels::kX16Rows);
            if (j.in_file) release_pages(j.src + size_t(r0) * w.row_bytes, size_t(r1 - r0) * w.row_bytes);
        }
    };
    const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
    const unsigned n = std::min<unsigned>(m.params.n_threads > 0 ? unsigned(m.params.n_threads) : hw, hw);
    std::vector<std::thread> threads;
    for (unsigned t = 1; t < n; ++t) threads.emplace_back(work);
    work();
    for (auto& t : threads) t.join();

    // Point the views at the copies only now: every job has read its source.
    size_t b = 0;
    for (WeightMatrix* w : todo) {
        if (w->type != kernels::WeightType::q8_0 || w->layout != kernels::WeightLayout::rows) continue;
        uint8_t* base = m.relaid[b++].get();
        w->stored = w->data;
        w->data = base + (64 - reinterpret_cast<uintptr_t>(base) % 64) % 64;
        w->layout = kernels::WeightLayout::q8_0_x16;
    }
}

}  // namespace kaa::detail
