// module.cpp — the _kaa extension module: errors, value types (State, Sampler, chat
// templates, tokenizer, hyperparameters, generation options/results). Models and
// Sessions are in session.cpp. The pure-Python package `kaa` wraps this module; keep the
// bindings thin and put conveniences there.
#include <cstring>
#include <limits>
#include <map>
#include <optional>

#include "common.hpp"
#include "kaa/kaa.h"  // kaa_version_string()

namespace kaa::py_bind {

namespace {

// kaa.Error: created once at import and kept for the life of the process (never freed,
// so no Python object is destroyed after the interpreter is gone).
PyObject* g_error_type = nullptr;

std::string to_path(py::handle obj) {
    return py::module_::import("os").attr("fspath")(obj).cast<std::string>();
}

std::vector<ChatMessage> to_messages(py::handle obj) {
    std::vector<ChatMessage> out;
    for (py::handle item : py::reinterpret_borrow<py::iterable>(obj)) {
        if (py::isinstance<py::dict>(item)) {
            py::dict d = py::reinterpret_borrow<py::dict>(item);
            if (!d.contains("role") || !d.contains("content"))
                throw py::value_error("a chat message needs 'role' and 'content'");
            out.push_back({d["role"].cast<std::string>(), d["content"].cast<std::string>()});
        } else {
            auto t = item.cast<std::pair<std::string, std::string>>();
            out.push_back({std::move(t.first), std::move(t.second)});
        }
    }
    return out;
}

SamplerParams make_sampler_params(float temperature, int32_t top_k, float top_p, float min_p, float typical_p,
                                  float repeat_penalty, float presence_penalty, float frequency_penalty,
                                  int32_t penalty_last_n, std::optional<uint64_t> seed,
                                  std::optional<std::map<Token, float>> logit_bias) {
    SamplerParams p;
    p.temperature = temperature;
    p.top_k = top_k;
    p.top_p = top_p;
    p.min_p = min_p;
    p.typical_p = typical_p;
    p.repeat_penalty = repeat_penalty;
    p.presence_penalty = presence_penalty;
    p.frequency_penalty = frequency_penalty;
    p.penalty_last_n = penalty_last_n;
    p.seed = seed.value_or(kRandomSeed);
    if (logit_bias)
        for (const auto& [t, b] : *logit_bias) p.logit_bias.emplace_back(t, b);
    return p;
}

}  // namespace

SessionLock::SessionLock(PySession& s) : lock_(s.busy, std::try_to_lock) {
    if (!lock_.owns_lock())
        throw Error(ErrorCode::invalid_argument,
                    "the Session is busy (another thread, or a streaming generation that is still running, "
                    "is using it)");
}

std::vector<Token> to_tokens(py::handle obj) {
    if (py::isinstance<py::str>(obj) || py::isinstance<py::bytes>(obj))
        throw py::type_error("expected a sequence of token ids, not text (tokenize it first)");
    std::vector<int64_t> wide;
    if (py::isinstance<py::array>(obj)) {
        py::array a = py::reinterpret_borrow<py::array>(obj);
        const char kind = a.dtype().kind();
        if (kind != 'i' && kind != 'u') throw py::type_error("token ids must be integers");
        if (a.ndim() != 1) throw py::type_error("token ids must be a 1-D array");
        auto ints = py::array_t<int64_t, py::array::c_style | py::array::forcecast>::ensure(obj);
        if (!ints) throw py::error_already_set();
        wide.assign(ints.data(), ints.data() + ints.size());
    } else {
        wide = obj.cast<std::vector<int64_t>>();
    }
    std::vector<Token> out(wide.size());
    for (size_t i = 0; i < wide.size(); ++i) {
        if (wide[i] < std::numeric_limits<Token>::min() || wide[i] > std::numeric_limits<Token>::max())
            throw Error(ErrorCode::invalid_token, "token id " + std::to_string(wide[i]) + " at index " +
                                                      std::to_string(i) + " is not a valid id");
        out[i] = Token(wide[i]);
    }
    return out;
}

py::array_t<float> to_array(const float* data, const std::vector<py::ssize_t>& shape) {
    py::array_t<float> a(shape);
    if (a.size()) std::memcpy(a.mutable_data(), data, size_t(a.size()) * sizeof(float));
    return a;
}

py::str utf8(const std::string& s) {
    PyObject* o = PyUnicode_DecodeUTF8(s.data(), py::ssize_t(s.size()), "replace");
    if (!o) throw py::error_already_set();
    return py::reinterpret_steal<py::str>(o);
}

void bind_types(py::module_& m) {
    // ---- errors ---------------------------------------------------------------------------
    // A real enum.IntEnum with pybind11 3; the classic pybind11 enum type before that.
#if PYBIND11_VERSION_MAJOR >= 3
    py::native_enum<ErrorCode>(m, "ErrorCode", "enum.IntEnum",
                               "kaa::ErrorCode (same numbers as the C ABI's kaa_status)")
#else
    py::enum_<ErrorCode>(m, "ErrorCode", "kaa::ErrorCode (same numbers as the C ABI's kaa_status)")
#endif
        .value("ok", ErrorCode::ok)
        .value("invalid_argument", ErrorCode::invalid_argument)
        .value("io", ErrorCode::io)
        .value("invalid_file", ErrorCode::invalid_file)
        .value("unsupported", ErrorCode::unsupported)
        .value("invalid_model", ErrorCode::invalid_model)
        .value("invalid_state", ErrorCode::invalid_state)
        .value("state_mismatch", ErrorCode::state_mismatch)
        .value("out_of_memory", ErrorCode::out_of_memory)
        .value("cancelled", ErrorCode::cancelled)
        .value("invalid_token", ErrorCode::invalid_token)
        .value("template_error", ErrorCode::template_error)
        .value("internal", ErrorCode::internal)
#if PYBIND11_VERSION_MAJOR >= 3
        .finalize()
#endif
        ;

    py::dict error_attrs;
    error_attrs["code"] = py::none();
    error_attrs["__module__"] = "kaa";
    g_error_type = PyErr_NewExceptionWithDoc(
        "kaa.Error", "Raised for every failure inside kaa; `code` is a kaa.ErrorCode.", PyExc_RuntimeError,
        error_attrs.ptr());
    if (!g_error_type) throw py::error_already_set();
    m.attr("Error") = py::handle(g_error_type);  // the module holds a second reference

    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const Error& e) {
            py::object exc = py::handle(g_error_type)(utf8(e.what()));
            exc.attr("code") = py::cast(e.code());
            PyErr_SetObject(g_error_type, exc.ptr());
        }
    });

    m.attr("__version__") = kaa_version_string();

    // ---- hyperparameters and tensors ------------------------------------------------------
    py::class_<HParams>(m, "HParams", "Hyperparameters read from the mamba.* metadata keys.")
        .def_readonly("n_vocab", &HParams::n_vocab)
        .def_readonly("d_model", &HParams::d_model)
        .def_readonly("n_layer", &HParams::n_layer)
        .def_readonly("d_inner", &HParams::d_inner)
        .def_readonly("d_state", &HParams::d_state)
        .def_readonly("d_conv", &HParams::d_conv)
        .def_readonly("dt_rank", &HParams::dt_rank)
        .def_readonly("rms_eps", &HParams::rms_eps)
        .def_readonly("dt_b_c_rms", &HParams::dt_b_c_rms)
        .def_readonly("tied_embeddings", &HParams::tied_embeddings)
        .def("_asdict", [](const HParams& h) {
            py::dict d;
            d["n_vocab"] = h.n_vocab; d["d_model"] = h.d_model; d["n_layer"] = h.n_layer;
            d["d_inner"] = h.d_inner; d["d_state"] = h.d_state; d["d_conv"] = h.d_conv;
            d["dt_rank"] = h.dt_rank; d["rms_eps"] = h.rms_eps; d["dt_b_c_rms"] = h.dt_b_c_rms;
            d["tied_embeddings"] = h.tied_embeddings;
            return d;
        })
        .def("__repr__", [](const HParams& h) {
            return "HParams(n_vocab=" + std::to_string(h.n_vocab) + ", d_model=" + std::to_string(h.d_model) +
                   ", n_layer=" + std::to_string(h.n_layer) + ", d_inner=" + std::to_string(h.d_inner) +
                   ", d_state=" + std::to_string(h.d_state) + ", d_conv=" + std::to_string(h.d_conv) +
                   ", dt_rank=" + std::to_string(h.dt_rank) + ")";
        });

    py::class_<TensorDesc>(m, "TensorDesc")
        .def_readonly("name", &TensorDesc::name)
        .def_readonly("type", &TensorDesc::type)
        .def_readonly("shape", &TensorDesc::shape)
        .def_readonly("n_bytes", &TensorDesc::n_bytes)
        .def("__repr__", [](const TensorDesc& t) { return "TensorDesc('" + t.name + "', " + t.type + ")"; });

    // ---- state ------------------------------------------------------------------------------
    py::class_<State>(m, "State", "A Session's recurrent state as a value (copy, pickle, save, load).")
        .def(py::init<>())
        .def_property_readonly("empty", &State::empty)
        .def_property_readonly("position", &State::position)
        .def_property_readonly("model_fingerprint", &State::model_fingerprint)
        .def_property_readonly("nbytes", [](const State& s) { return s.data().size() * sizeof(float); })
        .def_property(
            "user_data", [](const State& s) { return py::bytes(s.user_data()); },
            [](State& s, const py::bytes& b) { s.set_user_data(std::string(b)); })
        .def("serialize", [](const State& s) {
            std::vector<uint8_t> bytes;
            {
                py::gil_scoped_release nogil;
                bytes = s.serialize();
            }
            return py::bytes(reinterpret_cast<const char*>(bytes.data()), bytes.size());
        })
        .def_static("deserialize", [](py::handle data) {
            // bytes, bytearray, memoryview, ...: anything bytes() accepts.
            const py::bytes b = py::reinterpret_steal<py::bytes>(PyObject_Bytes(data.ptr()));
            if (!b) throw py::error_already_set();
            char* p = nullptr;
            py::ssize_t n = 0;
            if (PyBytes_AsStringAndSize(b.ptr(), &p, &n) != 0) throw py::error_already_set();
            return State::deserialize(reinterpret_cast<const uint8_t*>(p), size_t(n));
        }, py::arg("data"))
        .def("save", [](const State& s, py::object path) {
            const std::string p = to_path(path);
            py::gil_scoped_release nogil;
            s.save(p);
        }, py::arg("path"))
        .def_static("load", [](py::object path) {
            const std::string p = to_path(path);
            py::gil_scoped_release nogil;
            return State::load(p);
        }, py::arg("path"))
        .def("__copy__", [](const State& s) { return State(s); })
        .def("__deepcopy__", [](const State& s, py::handle) { return State(s); }, py::arg("memo"))
        .def(py::pickle(
            [](const State& s) {
                const std::vector<uint8_t> bytes = s.serialize();
                return py::bytes(reinterpret_cast<const char*>(bytes.data()), bytes.size());
            },
            [](const py::bytes& b) {
                const std::string raw(b);
                return State::deserialize(reinterpret_cast<const uint8_t*>(raw.data()), raw.size());
            }))
        .def("__repr__", [](const State& s) {
            return s.empty() ? std::string("State(empty)")
                             : "State(position=" + std::to_string(s.position()) + ", nbytes=" +
                                   std::to_string(s.data().size() * sizeof(float)) + ")";
        });

    // ---- sampling and generation options -----------------------------------------------------
    py::class_<SamplerParams>(m, "SamplerParams")
        .def(py::init(&make_sampler_params), py::kw_only(), py::arg("temperature") = SamplerParams{}.temperature,
             py::arg("top_k") = SamplerParams{}.top_k, py::arg("top_p") = SamplerParams{}.top_p,
             py::arg("min_p") = SamplerParams{}.min_p, py::arg("typical_p") = SamplerParams{}.typical_p,
             py::arg("repeat_penalty") = SamplerParams{}.repeat_penalty,
             py::arg("presence_penalty") = SamplerParams{}.presence_penalty,
             py::arg("frequency_penalty") = SamplerParams{}.frequency_penalty,
             py::arg("penalty_last_n") = SamplerParams{}.penalty_last_n, py::arg("seed") = py::none(),
             py::arg("logit_bias") = py::none())
        .def_readwrite("temperature", &SamplerParams::temperature)
        .def_readwrite("top_k", &SamplerParams::top_k)
        .def_readwrite("top_p", &SamplerParams::top_p)
        .def_readwrite("min_p", &SamplerParams::min_p)
        .def_readwrite("typical_p", &SamplerParams::typical_p)
        .def_readwrite("repeat_penalty", &SamplerParams::repeat_penalty)
        .def_readwrite("presence_penalty", &SamplerParams::presence_penalty)
        .def_readwrite("frequency_penalty", &SamplerParams::frequency_penalty)
        .def_readwrite("penalty_last_n", &SamplerParams::penalty_last_n)
        .def_readwrite("seed", &SamplerParams::seed)
        .def_readwrite("logit_bias", &SamplerParams::logit_bias);

    py::class_<GenerationOptions>(m, "GenerationOptions")
        .def(py::init<>())
        .def_readwrite("max_tokens", &GenerationOptions::max_tokens)
        .def_readwrite("sampler", &GenerationOptions::sampler)
        .def_readwrite("stop", &GenerationOptions::stop)
        .def_readwrite("ignore_eos", &GenerationOptions::ignore_eos)
        .def_readwrite("add_bos", &GenerationOptions::add_bos)
        .def_readwrite("parse_special", &GenerationOptions::parse_special);

    py::class_<GenerationTimings>(m, "GenerationTimings")
        .def_readonly("n_prompt", &GenerationTimings::n_prompt)
        .def_readonly("prompt_ms", &GenerationTimings::prompt_ms)
        .def_readonly("n_generated", &GenerationTimings::n_generated)
        .def_readonly("generation_ms", &GenerationTimings::generation_ms)
        .def_property_readonly("prompt_tokens_per_second", &GenerationTimings::prompt_tokens_per_second)
        .def_property_readonly("generation_tokens_per_second", &GenerationTimings::generation_tokens_per_second);

    py::class_<GenerationResult>(m, "GenerationResult")
        .def_property_readonly("text", [](const GenerationResult& r) { return utf8(r.text); })
        .def_readonly("tokens", &GenerationResult::tokens)
        .def_property_readonly("stop_reason", [](const GenerationResult& r) { return stop_reason_name(r.stop_reason); })
        .def_readonly("timings", &GenerationResult::timings)
        .def("__repr__", [](const GenerationResult& r) {
            return "GenerationResult(" + std::to_string(r.tokens.size()) + " tokens, stop_reason='" +
                   stop_reason_name(r.stop_reason) + "')";
        });

    py::class_<Sampler>(m, "Sampler", "Turns logits into tokens (temperature <= 0: greedy). Not thread-safe.")
        .def(py::init<const SamplerParams&, int32_t>(), py::arg("params"), py::arg("n_vocab"))
        .def("sample", [](Sampler& s, const py::array_t<float, py::array::c_style | py::array::forcecast>& logits) {
            if (logits.ndim() != 1) throw py::value_error("logits must be a 1-D array");
            return s.sample(logits.data(), int32_t(logits.size()));
        }, py::arg("logits"))
        .def("accept", &Sampler::accept, py::arg("token"))
        .def("reset", &Sampler::reset)
        .def_property_readonly("seed", &Sampler::seed)
        .def_property_readonly("n_vocab", &Sampler::n_vocab)
        .def_property_readonly("params", &Sampler::params)
        .def("__copy__", [](const Sampler& s) { return Sampler(s); })
        .def("__deepcopy__", [](const Sampler& s, py::handle) { return Sampler(s); }, py::arg("memo"));

    // ---- chat templates -----------------------------------------------------------------------
    py::class_<ChatTemplate>(m, "ChatTemplate", "A parsed Jinja chat template (the subset chat templates use).")
        .def(py::init([](const std::string& source) { return ChatTemplate::parse(source); }), py::arg("source"))
        .def_static("chatml", &ChatTemplate::chatml)
        .def("render", [](const ChatTemplate& t, py::handle messages, bool add_generation_prompt,
                          const std::string& bos_token, const std::string& eos_token) {
            ChatTemplateOptions o;
            o.add_generation_prompt = add_generation_prompt;
            o.bos_token = bos_token;
            o.eos_token = eos_token;
            const std::vector<ChatMessage> msgs = to_messages(messages);
            std::string out;
            {
                py::gil_scoped_release nogil;
                out = t.render(msgs, o);
            }
            return utf8(out);
        }, py::arg("messages"), py::kw_only(), py::arg("add_generation_prompt") = true, py::arg("bos_token") = "",
           py::arg("eos_token") = "")
        .def_property_readonly("source", &ChatTemplate::source);

    // ---- tokenizer ------------------------------------------------------------------------------
    py::class_<Tokenizer>(m, "Tokenizer", "Byte-level BPE tokenizer of a GGUF vocabulary. Thread-safe.")
        .def_static("from_file", [](py::object path) { return Tokenizer::from_file(to_path(path)); }, py::arg("path"))
        .def("encode", [](const Tokenizer& t, const std::string& text, bool add_bos, bool parse_special) {
            TokenizeOptions o;
            o.add_bos = add_bos;
            o.parse_special = parse_special;
            py::gil_scoped_release nogil;
            return t.encode(text, o);
        }, py::arg("text"), py::kw_only(), py::arg("add_bos") = false, py::arg("parse_special") = false)
        .def("decode_bytes", [](const Tokenizer& t, py::handle ids, bool skip_special) {
            DecodeOptions o;
            o.skip_special = skip_special;
            return py::bytes(t.decode(to_tokens(ids), o));
        }, py::arg("ids"), py::kw_only(), py::arg("skip_special") = false)
        .def("decode", [](const Tokenizer& t, py::handle ids, bool skip_special) {
            DecodeOptions o;
            o.skip_special = skip_special;
            return utf8(t.decode(to_tokens(ids), o));
        }, py::arg("ids"), py::kw_only(), py::arg("skip_special") = false)
        .def("token_to_piece", [](const Tokenizer& t, Token id) { return py::bytes(t.token_to_piece(id)); },
             py::arg("token"))
        .def("token_text", [](const Tokenizer& t, Token id) {
            if (id < 0 || id >= t.n_vocab())
                throw Error(ErrorCode::invalid_token, "token id " + std::to_string(id) + " is out of range");
            return utf8(std::string(t.text(id)));
        }, py::arg("token"))
        .def("find", [](const Tokenizer& t, const std::string& raw) { return t.find(raw); }, py::arg("raw_text"))
        .def("is_end_of_generation", &Tokenizer::is_end_of_generation, py::arg("token"))
        .def_property_readonly("n_vocab", &Tokenizer::n_vocab)
        .def_property_readonly("bos", &Tokenizer::bos)
        .def_property_readonly("eos", &Tokenizer::eos)
        .def_property_readonly("pad", &Tokenizer::pad)
        .def_property_readonly("eot", &Tokenizer::eot)
        .def_property_readonly("add_bos_default", &Tokenizer::add_bos_default)
        .def_property_readonly("model", [](const Tokenizer& t) { return std::string(t.model()); })
        .def_property_readonly("pre_tokenizer", [](const Tokenizer& t) { return std::string(t.pre_tokenizer()); });
}

}  // namespace kaa::py_bind

PYBIND11_MODULE(_kaa, m) {
    m.doc() = "kaa: Mamba-1 / Falcon-Mamba inference from GGUF files (low-level bindings; use the kaa package)";
    kaa::py_bind::bind_types(m);
    kaa::py_bind::bind_sessions(m);
}
