// Conformance: every model and case in ../shared/golden, in prefill and decode form,
// against the float64 reference, within the f32 tolerances (or the quantized-activation
// ones where the backend in use rounds activations, e.g. int8 dot products for Q8_0).
// CI runs the suite once per backend the machine supports (KAA_ISA).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "kaa/kaa.hpp"
#include "model/model_impl.hpp"
#include "support/golden.hpp"
#include "support/shared.hpp"
#include "support/tolerances.hpp"

namespace {

struct Comparison {
    double max_top_diff = 0;      // over the 32 stored top logits of every position
    double max_full_diff = 0;     // over the full logits of the stored last rows
    double max_lse_diff = 0;
    int argmax_mismatches = 0;    // where the reference margin is decisive
};

double logsumexp(const float* x, size_t n) {
    double m = -INFINITY;
    for (size_t i = 0; i < n; ++i) m = std::max(m, double(x[i]));
    double s = 0;
    for (size_t i = 0; i < n; ++i) s += std::exp(double(x[i]) - m);
    return m + std::log(s);
}

// logits: (n_positions x V) for tokens[0 .. n_positions-1]
// The tolerances that apply: f32 ones unless the backend rounds the activations for one
// of the model's weight types (int8 dot products for Q8_0, ...).
struct Tolerance {
    double max_abs_logit, argmax_margin, logsumexp;
    const char* name;
    bool relative_floor;  // widen to kQuantRelativeToLogitScale x the case's logit scale
};
Tolerance tolerance_for(const kaa::Model& model) {
    using namespace kaa::test::tol;
    const auto& m = *model.impl();
    bool quantized = false;
    if (m.params.precision == kaa::Precision::fast) {
        quantized = m.kernels->quantizes_activations(m.output.type);
        for (const auto& L : m.layers)
            for (const auto* w : {&L.ssm_in, &L.ssm_x, &L.ssm_dt, &L.ssm_out})
                quantized = quantized || m.kernels->quantizes_activations(w->type);
    }
    if (quantized) return {kQuantMaxAbsLogit, kQuantArgmaxMargin, kQuantLogSumExp, "quantized-activation", true};
    return {kF32MaxAbsLogit, kF32ArgmaxMargin, kF32LogSumExp, "f32", false};
}

Comparison compare(const kaa::test::GoldenCase& c, const std::vector<float>& logits, size_t V,
                   double argmax_margin) {
    Comparison r;
    const size_t n = c.tokens.size();
    for (size_t p = 0; p < n; ++p) {
        const float* row = logits.data() + p * V;
        for (size_t i = 0; i < c.top_ids[p].size(); ++i)
            r.max_top_diff = std::max(r.max_top_diff, std::abs(double(row[size_t(c.top_ids[p][i])]) - c.top_logits[p][i]));
        r.max_lse_diff = std::max(r.max_lse_diff, std::abs(logsumexp(row, V) - c.logsumexp[p]));
        const size_t am = size_t(std::max_element(row, row + V) - row);
        if (c.top1_margin[p] > argmax_margin && int(am) != c.argmax[p]) ++r.argmax_mismatches;
    }
    for (int rr = 0; rr < c.full_rows; ++rr) {
        const float* ours = logits.data() + size_t(c.logits_first_position + rr) * V;
        const float* ref = c.full_logits.data() + size_t(rr) * V;
        for (size_t i = 0; i < V; ++i) r.max_full_diff = std::max(r.max_full_diff, std::abs(double(ours[i]) - double(ref[i])));
    }
    return r;
}

void check_model(const std::string& golden_name, bool decode, int threads,
                 kaa::Precision precision = kaa::Precision::exact) {
    using namespace kaa::test;
    const Golden g = load_golden(shared_path("golden/" + golden_name + ".json"));
    kaa::ModelParams mp;
    mp.precision = precision;
    const kaa::Model model = kaa::Model::load(shared_path("models/" + g.model_file), mp);
    REQUIRE(model.n_vocab() == g.n_vocab);
    const size_t V = size_t(g.n_vocab);
    kaa::SessionParams sp;
    sp.n_threads = threads;
    kaa::Session session(model, sp);
    const Tolerance tl = tolerance_for(model);
    Comparison worst;
    for (const GoldenCase& c : g.cases) {
        session.reset();
        std::vector<float> logits;
        if (decode) {
            for (kaa::Token t : c.tokens) {
                const auto& l = session.eval(&t, 1);
                logits.insert(logits.end(), l.begin(), l.end());
            }
        } else {
            kaa::EvalOptions eo;
            eo.all_logits = true;
            logits = session.eval(c.tokens, eo);
        }
        REQUIRE(logits.size() == c.tokens.size() * V);
        const Comparison r = compare(c, logits, V, tl.argmax_margin);
        double scale = 0;
        for (const auto& row : c.top_logits)
            for (double v : row) scale = std::max(scale, std::abs(v));
        const double max_abs = tl.relative_floor ? std::max(tl.max_abs_logit, tol::kQuantRelativeToLogitScale * scale)
                                                 : tl.max_abs_logit;
        const double max_lse = tl.relative_floor ? std::max(tl.logsumexp, tol::kQuantRelativeToLogitScale * scale)
                                                 : tl.logsumexp;
        INFO(golden_name << " case " << c.name << (decode ? " decode" : " prefill") << ": max top-32 |Δ| "
                         << r.max_top_diff << ", full-row |Δ| " << r.max_full_diff << ", logsumexp |Δ| "
                         << r.max_lse_diff << ", argmax mismatches " << r.argmax_mismatches);
        CHECK(r.max_top_diff <= max_abs);
        CHECK(r.max_full_diff <= max_abs);
        CHECK(r.max_lse_diff <= max_lse);
        CHECK(r.argmax_mismatches == 0);
        worst.max_top_diff = std::max(worst.max_top_diff, r.max_top_diff);
        worst.max_full_diff = std::max(worst.max_full_diff, r.max_full_diff);
        worst.max_lse_diff = std::max(worst.max_lse_diff, r.max_lse_diff);
        worst.argmax_mismatches += r.argmax_mismatches;
    }
    std::printf("golden %-28s %-7s %-5s backend %-7s (%s tolerance) max|dlogit| top32 %.2e full %.2e, |dlse| %.2e, argmax mismatches %d\n",
                golden_name.c_str(), decode ? "decode" : "prefill",
                precision == kaa::Precision::fast ? "fast" : "exact", model.backend(), tl.name, worst.max_top_diff,
                worst.max_full_diff, worst.max_lse_diff, worst.argmax_mismatches);
}

}  // namespace

TEST_CASE("golden: every shared model and case matches the float64 reference (prefill)", "[golden]") {
    KAA_REQUIRE_SHARED();
    const auto names = kaa::test::golden_names();
    REQUIRE(names.size() >= 5);
    for (const auto& n : names) check_model(n, /*decode=*/false, /*threads=*/2);
}

TEST_CASE("golden: every shared model and case matches the float64 reference (decode)", "[golden]") {
    KAA_REQUIRE_SHARED();
    const auto names = kaa::test::golden_names();
    REQUIRE(names.size() >= 5);
    for (const auto& n : names) check_model(n, /*decode=*/true, /*threads=*/1);
}

TEST_CASE("golden: fast precision (int8 activations where the backend has them) stays within the quantized tolerance", "[golden]") {
    KAA_REQUIRE_SHARED();
    for (const auto& n : kaa::test::golden_names()) {
        check_model(n, /*decode=*/false, /*threads=*/2, kaa::Precision::fast);
        check_model(n, /*decode=*/true, /*threads=*/2, kaa::Precision::fast);
    }
}
