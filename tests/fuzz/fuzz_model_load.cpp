// fuzz_model_load — kaa::Model::load on arbitrary GGUF images, then use of what loaded.
//
// Model::load takes a path, so each input is written to a per-process file on tmpfs
// (/dev/shm) first; the input's size picks mmap or the heap-copy path. A model that
// loads must be fully usable: metadata rendered, a Session evaluating the first and last
// token ids (all logits), its state surviving a serialize round trip, and its tokenizer
// and chat template working. The load's progress callback cancels some loads midway,
// which must not leak or crash either.
#include <cmath>

#include "fuzz_support.hpp"
#include "kaa/chat.hpp"
#include "kaa/error.hpp"
#include "kaa/session.hpp"
#include "kaa/tokenizer.hpp"

namespace {

// A model that loaded from a fuzz input can be huge on paper (a forged vocabulary of a
// million rows over tiny data is refused, but a real 4096-wide layer is not): evaluate
// it only when one token costs little, so the fuzzer keeps its pace.
bool cheap_to_run(const kaa::Model& m) {
    const kaa::HParams& h = m.hparams();
    const double flops_per_token =
        double(h.n_layer) * double(h.d_inner) * double(3 * h.d_model + h.dt_rank + 3 * h.d_state) +
        double(h.n_vocab) * double(h.d_model);
    return flops_per_token < 4e6 && m.state_size() < (8u << 20);
}

void use_model(const kaa::Model& m) {
    for (const std::string& key : m.meta_keys()) KAA_FUZZ_CHECK(m.meta(key).has_value());
    (void)m.tensors();
    (void)m.file_type();
    KAA_FUZZ_CHECK(m.n_vocab() > 0);

    if (m.has_tokenizer()) {
        const kaa::Tokenizer& tok = m.tokenizer();
        kaa::TokenizeOptions to;
        to.parse_special = true;
        const std::vector<kaa::Token> ids = tok.encode("Hello <|endoftext|> w\xc3\xb6rld 123", to);
        for (kaa::Token t : ids) KAA_FUZZ_CHECK(t >= 0 && t < tok.n_vocab());
        (void)tok.decode(ids);
    }
    try {  // a template from the file is untrusted text like any other
        const kaa::ChatTemplate t = kaa::ChatTemplate::parse(m.chat_template());
        kaa::ChatTemplateOptions o;
        o.max_output_bytes = 1 << 16;
        (void)t.render({{"user", "hi"}}, o);
    } catch (const kaa::Error&) {
    }

    if (!cheap_to_run(m)) return;
    kaa::SessionParams sp;
    sp.n_threads = 1;
    sp.n_batch = 2;  // two chunks: the chunked prefill path too
    kaa::Session s(m, sp);
    const kaa::Token last = m.n_vocab() - 1;
    const std::vector<kaa::Token> prompt = {0, last, last / 2};
    kaa::EvalOptions all;
    all.all_logits = true;
    const std::vector<float>& logits = s.eval(prompt, all);
    KAA_FUZZ_CHECK(logits.size() == prompt.size() * size_t(m.n_vocab()));
    const kaa::State st = s.state();
    KAA_FUZZ_CHECK(st.data().size() * sizeof(float) == m.state_size());
    // Weights may be anything, so the state may hold inf/NaN; only finite states
    // serialize back (deserialize refuses non-finite values by design).
    bool finite = true;
    for (float v : st.data()) finite = finite && std::isfinite(v);
    if (finite) {
        kaa::Session t(m, sp);
        t.set_state(kaa::State::deserialize(st.serialize()));
        KAA_FUZZ_CHECK(t.position() == 3);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const kaa::fuzz::ScratchFile file("model.gguf");
    const std::string& path = file.path;
    kaa::fuzz::write_file(path, data, size);
    kaa::ModelParams p;
    p.n_threads = 1;
    p.use_mmap = size % 2 == 0;
    int calls = 0;
    if (size % 7 == 3) p.progress = [&calls](float) { return ++calls < 3; };
    try {
        const kaa::Model m = kaa::Model::load(path, p);
        use_model(m);
    } catch (const kaa::Error&) {
    }
    return 0;
}
