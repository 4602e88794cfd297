// relayout.cpp — load-time copies of the weight matrices into the model's own memory,
// in 2 MiB pages:
//  - Q8_0 matrices, for kernels that take it, re-laid into Q8_0x16
//    (kernels/cpu/q8_0_x16.hpp). Why: the int8 dot products want 16 rows side by side in
//    vector lanes; done once here, the GEMV skips its per-call transpose-reduce and
//    batched decode skips repacking every weight on every step.
//  - every other matrix copied as it is, only for the huge pages (see allocate_weights),
//    so only where the OS has them.
//
// The copy replaces the file's pages rather than adding to them: as each slice of a
// matrix is re-laid, the mapped pages it came from are dropped from this process
// (madvise MADV_DONTNEED on a read-only shared mapping: touched again, they are re-read
// from the file), so the resident size stays about one copy of the weights.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <thread>
#include <unordered_set>
#include <vector>

#ifdef _WIN32
#include <malloc.h>
#endif

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

// A buffer for `bytes` of weights: 2 MiB-aligned, and on Linux marked for transparent
// huge pages (the kernel's default is often "madvise"): the decode GEMV walks GBs of
// weights per token, and 2 MiB pages take its TLB misses from one per 4 KiB to one per
// 2 MiB. (The file mapping it replaces could not have them: page-cache pages are 4 KiB.)
// Measured on the 2.2 GB benchmark model: decode +5.7% (median of 8 alternated runs),
// load 1.35 -> 2.1-3.3 s (the kernel compacts memory to find huge pages).
// Small matrices (test models) get 64-byte alignment and no huge pages.
uint8_t* allocate_weights(size_t bytes) {
    constexpr size_t kHuge = size_t(2) << 20;
    const size_t align = bytes >= kHuge ? kHuge : 64;
    const size_t n = (bytes + align - 1) / align * align;
#ifdef _WIN32
    void* p = _aligned_malloc(n, align);
#else
    void* p = std::aligned_alloc(align, n);
#endif
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (p && align == kHuge) madvise(p, n, MADV_HUGEPAGE);
#endif
    return static_cast<uint8_t*>(p);
}

// Rows [r_begin, r_end) of one matrix. x16: 16-row groups re-laid (r_begin a multiple of
// 16); else the rows copied as they are.
struct Job {
    WeightMatrix* w;
    uint8_t* dst;
    int64_t r_begin, r_end;
    bool x16;
    bool in_file;  // w->data is the mapping itself (not a loader's aligned heap copy)
};

}  // namespace

bool huge_pages_available() {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    std::FILE* f = std::fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    if (!f) return false;
    char buf[128] = {};
    const size_t n = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    return n > 0 && std::strstr(buf, "[never]") == nullptr;
#else
    return false;
#endif
}

void ModelImpl::FreeDeleter::operator()(void* p) const noexcept {
#ifdef _WIN32
    _aligned_free(p);
#else
    std::free(p);
#endif
}

void relayout_weights(ModelImpl& m, const std::function<void(float)>& progress, float from, float to) {
    if (m.params.device != Device::cpu || !m.file.is_mmap()) return;
    if (const char* env = std::getenv("KAA_RELAYOUT"); env && std::strcmp(env, "0") == 0) return;
    const bool x16_kernels = m.params.precision == Precision::fast && m.kernels->q8_0_x16;
    const bool huge = huge_pages_available();

    std::vector<WeightMatrix*> todo;
    for (LayerWeights& L : m.layers)
        for (WeightMatrix* w : {&L.ssm_in, &L.ssm_x, &L.ssm_dt, &L.ssm_out}) todo.push_back(w);
    if (!m.hp.tied_embeddings) todo.push_back(&m.output);  // tied: the embedding rows are still read
    auto re_lays = [&](const WeightMatrix& w) { return x16_kernels && w.type == kernels::WeightType::q8_0; };
    todo.erase(std::remove_if(todo.begin(), todo.end(), [&](WeightMatrix* w) { return !re_lays(*w) && !huge; }),
               todo.end());

    // Slices of ~4 MiB of weights: small enough to balance threads and to release the
    // source pages as the copy proceeds.
    constexpr int64_t kSliceBytes = int64_t(4) << 20;
    std::unordered_set<const uint8_t*> mapped;
    for (const auto& t : m.file.tensors()) mapped.insert(t.data);
    std::vector<Job> jobs;
    for (WeightMatrix* w : todo) {
        const bool x16 = re_lays(*w);
        const size_t bytes = x16 ? kernels::x16_bytes(w->rows, w->cols) : size_t(w->rows) * w->row_bytes;
        uint8_t* dst = allocate_weights(bytes);
        if (!dst) {  // no room for the copies: the file's pages serve, only slower
            m.relaid.clear();
            return;
        }
        m.relaid.emplace_back(dst);
        const size_t slice_rows_bytes = x16 ? size_t(kernels::x16_group_bytes(w->cols)) : w->row_bytes;
        const int64_t unit = x16 ? kernels::kX16Rows : 1;
        const int64_t step = std::max<int64_t>(1, kSliceBytes / int64_t(slice_rows_bytes)) * unit;
        const bool in_file = mapped.count(w->data) > 0;
        for (int64_t r = 0; r < w->rows; r += step)
            jobs.push_back({w, dst, r, std::min(w->rows, r + step), x16, in_file});
    }
    if (jobs.empty()) return;

    std::atomic<size_t> next{0}, done{0};
    std::atomic<bool> stop{false};
    // Only the loading thread calls back (it may cancel by throwing): after each slice it
    // copies, and once all are done, so at least once even if the helpers took them all;
    // `to` itself is left to the caller.
    auto report_done = [&](size_t d) { progress(from + (to - from) * float(d) / float(jobs.size() + 1)); };
    auto work = [&](bool report) {
        for (size_t i; !stop.load(std::memory_order_relaxed) && (i = next.fetch_add(1)) < jobs.size();) {
            const Job& j = jobs[i];
            const WeightMatrix& w = *j.w;
            const uint8_t* src = w.data + size_t(j.r_begin) * w.row_bytes;
            const size_t n = size_t(j.r_end - j.r_begin) * w.row_bytes;
            if (j.x16)
                kernels::pack_q8_0_x16(w.data, w.row_bytes, w.rows, w.cols, j.r_begin / kernels::kX16Rows,
                                       (j.r_end + kernels::kX16Rows - 1) / kernels::kX16Rows, j.dst);
            else
                std::memcpy(j.dst + size_t(j.r_begin) * w.row_bytes, src, n);
            if (j.in_file) release_pages(src, n);
            const size_t d = done.fetch_add(1) + 1;
            if (report) report_done(d);
        }
    };
    const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
    const unsigned n = std::min<unsigned>(m.params.n_threads > 0 ? unsigned(m.params.n_threads) : hw, hw);
    std::vector<std::thread> threads;
    for (unsigned t = 1; t < n; ++t) threads.emplace_back(work, false);
    std::exception_ptr failed;
    try {
        work(true);
    } catch (...) {  // cancelled: the helpers stop after their current slice
        failed = std::current_exception();
        stop = true;
    }
    for (auto& t : threads) t.join();
    if (!failed) {
        try {
            report_done(done.load());
        } catch (...) {
            failed = std::current_exception();
        }
    }
    if (failed) {
        m.relaid.clear();  // the views still point at the file
        std::rethrow_exception(failed);
    }

    // Point the views at the copies only now: every job has read its source.
    size_t b = 0;
    for (WeightMatrix* w : todo) {
        w->stored = w->data;
        w->data = m.relaid[b++].get();
        if (re_lays(*w)) w->layout = kernels::WeightLayout::q8_0_x16;
    }
}

}  // namespace kaa::detail
