// kaa-bench — prompt processing and generation speed, like llama-bench.
//
//   kaa-bench -m MODEL [-t THREADS] [-p 256] [-n 32] [-b BATCH] [-r REPS] [--json]
//
// pp: a fresh Session evaluates P random tokens in one eval (prefill).
// tg: a Session decodes N tokens one eval at a time.
// tg xB: B Sessions decode N tokens each, one eval_batch per step (aggregate tok/s).
// Each is repeated REPS times; the median and the spread (min..max) are printed. The
// machine's read bandwidth (huge pages, as kaa's copied weights; 4 KiB pages for
// reference) is measured before each generation repetition, and
// generation is given as a fraction of the roofline bandwidth / weight bytes read per
// token (the median of the per-repetition fractions), the batch as a speed-up over one
// session measured in the same repetition.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <sys/resource.h>
#include <unistd.h>

#include "common/cli.hpp"
#include "common/membw.hpp"
#include "kaa/kaa.hpp"

static const char* kUsage =
    "usage: kaa-bench -m MODEL [-t THREADS] [-p N_PROMPT] [-n N_GEN] [-b BATCH] [-r REPS] [--device D] [--json]\n"
    "  -t THREADS   threads (default: all cores)\n"
    "  -p N         prompt tokens for the pp test (default 256; 0 = skip)\n"
    "  -n N         generated tokens for the tg test (default 32; 0 = skip)\n"
    "  -b B         also decode with B sessions batched together (default 1 = skip)\n"
    "  -r REPS      repetitions (default 3)\n"
    "  --no-bw      skip the memory bandwidth measurement\n"
    "  --exact      Precision::exact (f32 activations; default fast: int8 for Q8_0)\n"
    "  --device D   cpu (default) or cuda (then no host bandwidth measurement)\n"
    "  --gpu N      CUDA device index (default 0)\n"
    "  --json       one JSON object per test on stdout\n";

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

struct Stats {
    double median, min, max;
};
Stats stats(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    const double med = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    return {med, v.front(), v.back()};
}

double peak_rss_mib() {
    struct rusage ru {};
    getrusage(RUSAGE_SELF, &ru);
    return double(ru.ru_maxrss) / 1024.0;  // Linux reports KiB
}

// Resident set now (Linux /proc/self/statm; 0 elsewhere): sampled after each generation
// repetition, when the bandwidth probe's buffer, which would dominate the peak, is freed.
double current_rss_mib() {
    std::FILE* f = std::fopen("/proc/self/statm", "r");
    if (!f) return 0;
    long pages = 0, resident = 0;
    const int got = std::fscanf(f, "%ld %ld", &pages, &resident);
    std::fclose(f);
    return got == 2 ? double(resident) * double(sysconf(_SC_PAGESIZE)) / (1024.0 * 1024.0) : 0;
}

}  // namespace

int main(int argc, char** argv) {
    return kaa::cli::run(kUsage, [&] {
        kaa::cli::Args args(argc, argv);
        std::string path;
        int threads = 0, n_prompt = 256, n_gen = 32, batch = 1, reps = 3, gpu = 0;
        kaa::Device device = kaa::Device::cpu;
        bool json = false, bw = true, fast = true;
        while (!args.done()) {
            const std::string a = args.next();
            if (a == "-m" || a == "--model") path = args.value(a);
            else if (a == "-t" || a == "--threads") threads = int(args.integer(a, 0, 1024));
            else if (a == "-p") n_prompt = int(args.integer(a, 0, 1 << 20));
            else if (a == "-n") n_gen = int(args.integer(a, 0, 1 << 20));
            else if (a == "-b") batch = int(args.integer(a, 1, 4096));
            else if (a == "-r") reps = int(args.integer(a, 1, 1000));
            else if (a == "--json") json = true;
            else if (a == "--no-bw") bw = false;
            else if (a == "--exact") fast = false;
            else if (a == "--gpu") gpu = int(args.integer(a, 0, 1024));
            else if (a == "--device") {
                const std::string d = args.value(a);
                if (d == "cpu") device = kaa::Device::cpu;
                else if (d == "cuda") device = kaa::Device::cuda;
                else throw kaa::cli::UsageError("--device must be cpu or cuda, got '" + d + "'");
            }
            else if (a == "-h" || a == "--help") { std::fputs(kUsage, stdout); return 0; }
            else throw kaa::cli::UsageError("unknown option '" + a + "'");
        }
        if (path.empty()) throw kaa::cli::UsageError("-m MODEL is required");

        kaa::ModelParams mp;
        mp.n_threads = threads;
        mp.precision = fast ? kaa::Precision::fast : kaa::Precision::exact;
        mp.device = device;
        mp.gpu_index = gpu;
        if (device == kaa::Device::cuda) bw = false;  // the host's bandwidth says nothing about the GPU's
        const kaa::Model model = kaa::Model::load(path, mp);
        kaa::SessionParams sp;
        sp.n_batch = std::max(64, n_prompt);  // one chunk: pp measures one big GEMM per weight
        kaa::Session session(model, sp);
        const int nt = session.n_threads();
        std::mt19937 rng(42);
        auto random_tokens = [&](int n) {
            std::vector<kaa::Token> t(static_cast<size_t>(n));
            for (auto& x : t) x = kaa::Token(rng() % uint32_t(model.n_vocab()));
            return t;
        };

        struct Result {
            std::string test;
            Stats s;
            bool gen;
        };
        std::vector<Result> results;
        auto report = [&](const std::string& test, const Stats& st, bool gen, int) {
            results.push_back({test, st, gen});
        };

        if (n_prompt > 0) {
            const auto toks = random_tokens(n_prompt);
            session.eval(std::vector<kaa::Token>(toks.begin(), toks.begin() + 1));  // warm up
            std::vector<double> v;
            for (int r = 0; r < reps; ++r) {
                session.reset();
                const auto t0 = Clock::now();
                session.eval(toks);
                v.push_back(n_prompt / seconds_since(t0));
            }
            report("pp" + std::to_string(n_prompt), stats(v), false, 1);
        }
        // Generation. The machine is shared, so its bandwidth and the speed of everything
        // on it drift between runs: each repetition measures the read bandwidth, one
        // session and B sessions back to back, and the roofline fraction and the batch
        // speed-up are the medians of those per-repetition ratios.
        const char* probe_isa = "";
        std::vector<double> bws, bws_4k, tg, tgb, frac_rep, ratio_rep;
        double rss = peak_rss_mib();  // the bandwidth probe's buffer comes later
        std::vector<kaa::Session> sessions;
        for (int b = 0; n_gen > 0 && batch > 1 && b < batch; ++b) sessions.emplace_back(model);
        for (int r = 0; n_gen > 0 && r < reps; ++r) {
            if (bw) {
                bws.push_back(kaa::cli::measure_read_bandwidth(nt, size_t(1) << 30, 3, &probe_isa));
                bws_4k.push_back(kaa::cli::measure_read_bandwidth(nt, size_t(1) << 30, 3, nullptr, false));
            }
            session.reset();
            const auto toks = random_tokens(n_gen + 1);
            session.eval(&toks[0], 1);
            auto t0 = Clock::now();
            for (int i = 1; i <= n_gen; ++i) session.eval(&toks[size_t(i)], 1);
            tg.push_back(n_gen / seconds_since(t0));
            if (bw) frac_rep.push_back(tg.back() * double(model.weight_bytes()) / bws.back());
            if (batch > 1) {
                for (auto& s : sessions) s.reset();
                std::vector<std::vector<kaa::Token>> bt;
                for (int b = 0; b < batch; ++b) bt.push_back(random_tokens(n_gen + 1));
                std::vector<kaa::BatchItem> items;
                for (int b = 0; b < batch; ++b) items.push_back({&sessions[size_t(b)], &bt[size_t(b)][0], 1});
                kaa::eval_batch(items);
                t0 = Clock::now();
                for (int i = 1; i <= n_gen; ++i) {
                    for (int b = 0; b < batch; ++b) items[size_t(b)].tokens = &bt[size_t(b)][size_t(i)];
                    kaa::eval_batch(items);
                }
                tgb.push_back(double(n_gen) * batch / seconds_since(t0));
                ratio_rep.push_back(tgb.back() / tg.back());
            }
            rss = std::max(rss, current_rss_mib());  // the probe's buffer is freed by now
        }
        if (!tg.empty()) report("tg" + std::to_string(n_gen), stats(tg), true, 1);
        if (!tgb.empty()) report("tg" + std::to_string(n_gen) + "x" + std::to_string(batch), stats(tgb), true, 1);
        const double gib = double(model.weight_bytes()) / double(1ull << 30);
        const Stats bw_stats = bws.empty() ? Stats{0, 0, 0} : stats(bws);
        const double bw_4k = bws_4k.empty() ? 0 : stats(bws_4k).median;
        const double bandwidth = bw_stats.median;
        const double roofline = bandwidth > 0 ? bandwidth / double(model.weight_bytes()) : 0;
        if (!json) {
            std::printf("model %s: %s, %.3f GiB read per token, backend %s, precision %s, %d threads, %d reps\n",
                        model.name().c_str(), model.file_type().c_str(), gib, model.backend(),
                        fast ? "fast" : "exact", nt, reps);
            if (bandwidth > 0)
                std::printf("memory read bandwidth: %.1f GB/s (%.1f-%.1f; %d threads, %s loads, huge pages; %.1f GB/s "
                            "with 4 KiB pages) -> decode roofline %.2f tok/s\n",
                            bandwidth / 1e9, bw_stats.min / 1e9, bw_stats.max / 1e9, nt, probe_isa, bw_4k / 1e9,
                            roofline);
            std::printf("%-12s %12s %12s %12s %10s %10s\n", "test", "tok/s", "min", "max", "roofline", "x tg");
        }
        for (const Result& r : results) {
            // Generation's roofline share is the median of the per-repetition ratios; a
            // batch step reads the weights once for all its tokens, so its share is
            // against roofline x batch. "x tg": batch speed-up over one session.
            const bool batched = r.test.find('x') != std::string::npos;
            double frac = 0, speedup = 0;
            if (r.gen && !frac_rep.empty()) {
                frac = stats(frac_rep).median;
                if (batched) frac = stats(ratio_rep).median * frac / batch;
            }
            if (batched) speedup = stats(ratio_rep).median;
            if (json) {
                std::printf("{\"model\": \"%s\", \"type\": \"%s\", \"backend\": \"%s\", \"precision\": \"%s\", \"threads\": %d, "
                            "\"test\": \"%s\", \"tok_s_median\": %.3f, \"tok_s_min\": %.3f, \"tok_s_max\": %.3f, "
                            "\"reps\": %d, \"bandwidth_gb_s\": %.3f, \"bandwidth_4k_pages_gb_s\": %.3f, \"weight_gib\": %.4f, "
                            "\"roofline_fraction\": %.4f, \"speedup_vs_tg\": %.3f, \"peak_rss_mib\": %.1f}\n",
                            model.name().c_str(), model.file_type().c_str(), model.backend(), fast ? "fast" : "exact", nt,
                            r.test.c_str(), r.s.median, r.s.min, r.s.max, reps, bandwidth / 1e9, bw_4k / 1e9, gib, frac, speedup,
                            rss);
            } else {
                char pct[32] = "", up[32] = "";
                if (frac > 0) std::snprintf(pct, sizeof pct, "%.1f%%", 100.0 * frac);
                if (speedup > 0) std::snprintf(up, sizeof up, "%.2fx", speedup);
                std::printf("%-12s %12.2f %12.2f %12.2f %10s %10s\n", r.test.c_str(), r.s.median, r.s.min, r.s.max, pct,
                            up);
            }
        }
        if (!json) std::printf("peak RSS %.1f MiB (weights %.1f MiB)\n", rss, double(model.weight_bytes()) / (1 << 20));
        return 0;
    });
}
