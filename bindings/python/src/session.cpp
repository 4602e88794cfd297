// session.cpp — _kaa.Model, _kaa.Session, _kaa.Conversation and eval_batch.
//
// The GIL is released for every piece of real work (loading, eval, generation), so other
// Python threads run meanwhile. Callbacks into Python (load progress, streamed text)
// take the GIL back for just the call. Ctrl-C: a generation without a Python callback
// still checks for pending signals at every piece of text, so KeyboardInterrupt stops it
// promptly; the Session keeps every token generated so far and stays usable.
#include <memory>
#include <optional>

#include "common.hpp"

namespace kaa::py_bind {

namespace {

std::string to_path(py::handle obj) {
    return py::module_::import("os").attr("fspath")(obj).cast<std::string>();
}

std::vector<ChatMessage> messages_of(const Conversation& c) { return c.messages(); }

// Runs a generation with the GIL released. `callback` (None or a callable taking the
// piece as str and returning a truthy value to continue) is borrowed: the caller's frame
// keeps it alive for the whole call. A Python exception raised by the callback, or by a
// signal handler (KeyboardInterrupt), stops generation and is re-raised afterwards, once
// the C++ side has unwound normally and the Session is consistent.
template <class Run>
GenerationResult run_generation(py::handle callback, Run&& run) {
    std::optional<py::error_already_set> pending;
    const bool has_callback = !callback.is_none();
    StreamCallback on_text = [&](std::string_view piece) -> bool {
        py::gil_scoped_acquire gil;
        if (pending) return false;
        try {
            if (has_callback) {
                py::object r = callback(utf8(std::string(piece)));
                if (!r.is_none()) {
                    const int truthy = PyObject_IsTrue(r.ptr());
                    if (truthy < 0) throw py::error_already_set();
                    if (!truthy) return false;
                }
            }
            if (PyErr_CheckSignals() != 0) throw py::error_already_set();
        } catch (py::error_already_set& e) {
            pending.emplace(std::move(e));
            return false;
        }
        return true;
    };
    GenerationResult res;
    {
        py::gil_scoped_release nogil;
        res = run(on_text);
    }
    if (pending) throw *pending;
    return res;
}

// A Conversation bound to a Python Session (kept alive by keep_alive in the binding).
struct PyConversation {
    PySession* owner;
    Conversation conv;
    PyConversation(PySession& s, std::optional<ChatTemplate> t) : owner(&s), conv(s.session, std::move(t)) {}
};

py::array_t<float> logits_array(const std::vector<float>& logits, int64_t n_vocab) {
    if (logits.empty() || n_vocab <= 0) return to_array(nullptr, {0});
    const py::ssize_t rows = py::ssize_t(logits.size() / size_t(n_vocab));
    if (rows == 1) return to_array(logits.data(), {py::ssize_t(n_vocab)});
    return to_array(logits.data(), {rows, py::ssize_t(n_vocab)});
}

}  // namespace

void bind_sessions(py::module_& m) {
    py::class_<Model>(m, "Model", "A loaded GGUF model: immutable, memory-mapped, shared by Sessions. Thread-safe.")
        .def_static("load", [](py::object path, int32_t n_threads, bool use_mmap, py::object progress,
                               const std::string& precision, uint64_t max_metadata_bytes,
                               const std::string& device, int32_t gpu_index, bool release_host_weights) {
            ModelParams p;
            p.n_threads = n_threads;
            p.use_mmap = use_mmap;
            p.max_metadata_bytes = max_metadata_bytes;
            if (device == "cpu") p.device = Device::cpu;
            else if (device == "cuda") p.device = Device::cuda;
            else throw Error(ErrorCode::invalid_argument, "device must be 'cpu' or 'cuda', not '" + device + "'");
            if (gpu_index < 0) throw Error(ErrorCode::invalid_argument, "gpu_index must be >= 0");
            p.gpu_index = gpu_index;
            p.release_host_weights = release_host_weights;
            if (precision == "fast") p.precision = Precision::fast;
            else if (precision == "exact") p.precision = Precision::exact;
            else throw Error(ErrorCode::invalid_argument, "precision must be 'fast' or 'exact', not '" + precision + "'");
            std::optional<py::error_already_set> pending;
            if (!progress.is_none()) {
                py::handle cb = progress;  // borrowed: alive for the whole call
                p.progress = [cb, &pending](float f) -> bool {
                    py::gil_scoped_acquire gil;
                    try {
                        py::object r = cb(f);
                        return r.is_none() || PyObject_IsTrue(r.ptr()) == 1;
                    } catch (py::error_already_set& e) {
                        pending.emplace(std::move(e));
                        return false;
                    }
                };
            }
            const std::string file = to_path(path);
            std::optional<Model> model;
            try {
                py::gil_scoped_release nogil;
                model.emplace(Model::load(file, p));
            } catch (const Error&) {
                if (pending) throw *pending;  // the callback's own exception explains the cancel
                throw;
            }
            return std::move(*model);
        }, py::arg("path"), py::kw_only(), py::arg("n_threads") = 0, py::arg("use_mmap") = true,
           py::arg("progress") = py::none(), py::arg("precision") = "fast",
           py::arg("max_metadata_bytes") = ModelParams{}.max_metadata_bytes, py::arg("device") = "cpu",
           py::arg("gpu_index") = 0, py::arg("release_host_weights") = false)
        .def_property_readonly("precision", [](const Model& mo) {
            return mo.params().precision == Precision::exact ? "exact" : "fast";
        })
        .def_property_readonly("hparams", &Model::hparams)
        .def_property_readonly("n_vocab", &Model::n_vocab)
        .def_property_readonly("architecture", &Model::architecture)
        .def_property_readonly("name", &Model::name)
        .def_property_readonly("file_type", &Model::file_type)
        .def_property_readonly("path", &Model::path)
        .def_property_readonly("n_threads", [](const Model& mo) { return mo.params().n_threads; })
        .def_property_readonly("state_size", &Model::state_size)
        .def_property_readonly("fingerprint", &Model::fingerprint)
        .def_property_readonly("weight_bytes", &Model::weight_bytes)
        .def_property_readonly("backend", [](const Model& mo) { return std::string(mo.backend()); })
        .def_property_readonly("has_tokenizer", &Model::has_tokenizer)
        .def_property_readonly("tokenizer", [](const Model& mo) { return Tokenizer(mo.tokenizer()); })
        .def_property_readonly("chat_template", [](const Model& mo) { return utf8(mo.chat_template()); })
        .def("meta", [](const Model& mo, const std::string& key) -> py::object {
            const auto v = mo.meta(key);
            if (!v) return py::none();
            return utf8(*v);
        }, py::arg("key"))
        .def("meta_keys", &Model::meta_keys)
        .def("tensors", &Model::tensors);

    py::class_<PySession>(m, "Session", "One sequence being evaluated on a Model. One thread at a time.")
        .def(py::init([](const Model& model, int32_t n_threads, int32_t n_batch, int64_t max_tokens_per_call,
                         int32_t max_generation_tokens) {
            SessionParams p;
            p.n_threads = n_threads;
            p.n_batch = n_batch;
            p.max_tokens_per_call = max_tokens_per_call;
            p.max_generation_tokens = max_generation_tokens;
            return std::make_unique<PySession>(Session(model, p));
        }), py::arg("model"), py::kw_only(), py::arg("n_threads") = 0, py::arg("n_batch") = SessionParams{}.n_batch,
           py::arg("max_tokens_per_call") = SessionParams{}.max_tokens_per_call,
           py::arg("max_generation_tokens") = SessionParams{}.max_generation_tokens)
        .def("eval", [](PySession& s, py::handle tokens, bool all_logits) {
            const std::vector<Token> ids = to_tokens(tokens);
            SessionLock lock(s);
            EvalOptions o;
            o.all_logits = all_logits;
            {
                py::gil_scoped_release nogil;
                s.session.eval(ids, o);
            }
            return logits_array(s.session.logits(), s.session.model().n_vocab());
        }, py::arg("tokens"), py::kw_only(), py::arg("all_logits") = false)
        .def_property_readonly("logits", [](PySession& s) {
            SessionLock lock(s);
            return logits_array(s.session.logits(), s.session.model().n_vocab());
        })
        .def_property_readonly("position", [](PySession& s) {
            SessionLock lock(s);
            return s.session.position();
        })
        .def_property_readonly("n_threads", [](PySession& s) { return s.session.n_threads(); })
        .def_property_readonly("max_tokens_per_call", [](PySession& s) { return s.session.params().max_tokens_per_call; })
        .def_property_readonly("max_generation_tokens", [](PySession& s) { return s.session.params().max_generation_tokens; })
        .def_property_readonly("model", [](PySession& s) { return s.session.model(); })
        .def("reset", [](PySession& s) {
            SessionLock lock(s);
            s.session.reset();
        })
        .def("state", [](PySession& s) {
            SessionLock lock(s);
            py::gil_scoped_release nogil;
            return s.session.state();
        })
        .def("set_state", [](PySession& s, const State& st) {
            SessionLock lock(s);
            py::gil_scoped_release nogil;
            s.session.set_state(st);
        }, py::arg("state"))
        .def("fork", [](PySession& s) {
            SessionLock lock(s);
            py::gil_scoped_release nogil;
            return std::make_unique<PySession>(s.session.fork());
        })
        .def("generate", [](PySession& s, py::handle prompt, const GenerationOptions& opts, py::handle callback) {
            SessionLock lock(s);
            if (py::isinstance<py::str>(prompt)) {
                const std::string text = prompt.cast<std::string>();
                return run_generation(callback, [&](const StreamCallback& cb) {
                    return s.session.generate(std::string_view(text), opts, cb);
                });
            }
            const std::vector<Token> ids = to_tokens(prompt);
            return run_generation(callback, [&](const StreamCallback& cb) { return s.session.generate(ids, opts, cb); });
        }, py::arg("prompt"), py::arg("options"), py::arg("callback") = py::none());

    m.def("cuda_device_count", &cuda_device_count,
          "CUDA devices usable with Model(..., device='cuda'): 0 without CUDA support, driver or device.");
    m.def("eval_batch", [](const std::vector<PySession*>& sessions, py::handle token_lists) {
        std::vector<std::vector<Token>> ids;
        for (py::handle t : py::reinterpret_borrow<py::iterable>(token_lists)) ids.push_back(to_tokens(t));
        if (ids.size() != sessions.size())
            throw Error(ErrorCode::invalid_argument, "eval_batch: " + std::to_string(sessions.size()) +
                                                         " sessions but " + std::to_string(ids.size()) + " token lists");
        std::vector<std::unique_ptr<SessionLock>> locks;
        std::vector<BatchItem> items;
        for (size_t i = 0; i < sessions.size(); ++i) {
            if (!sessions[i]) throw Error(ErrorCode::invalid_argument, "eval_batch: a session is None");
            for (size_t j = 0; j < i; ++j)
                if (sessions[j] == sessions[i])
                    throw Error(ErrorCode::invalid_argument, "eval_batch: a Session appears twice");
            locks.push_back(std::make_unique<SessionLock>(*sessions[i]));
            items.push_back({&sessions[i]->session, ids[i].data(), ids[i].size()});
        }
        {
            py::gil_scoped_release nogil;
            eval_batch(items);
        }
        py::list out;
        for (PySession* s : sessions) out.append(logits_array(s->session.logits(), s->session.model().n_vocab()));
        return out;
    }, py::arg("sessions"), py::arg("tokens"));

    py::class_<PyConversation>(m, "Conversation", "Multi-turn chat on a Session with a chat template.")
        .def(py::init([](PySession& s, std::optional<ChatTemplate> t) {
            SessionLock lock(s);
            return std::make_unique<PyConversation>(s, std::move(t));
        }), py::arg("session"), py::arg("template") = py::none(), py::keep_alive<1, 2>())
        .def("add", [](PyConversation& c, const std::string& role, const std::string& content) {
            c.conv.add({role, content});
        }, py::arg("role"), py::arg("content"))
        .def("reply", [](PyConversation& c, const std::string& text, const GenerationOptions& opts, py::handle callback) {
            SessionLock lock(*c.owner);
            return run_generation(callback, [&](const StreamCallback& cb) { return c.conv.reply(text, opts, cb); });
        }, py::arg("text"), py::arg("options"), py::arg("callback") = py::none())
        .def_property_readonly("messages", [](const PyConversation& c) {
            py::list out;
            for (const ChatMessage& msg : messages_of(c.conv)) {
                py::dict d;
                d["role"] = utf8(msg.role);
                d["content"] = utf8(msg.content);
                out.append(d);
            }
            return out;
        })
        .def_property_readonly("chat_template", [](const PyConversation& c) { return c.conv.chat_template(); })
        .def("serialize", [](const PyConversation& c) { return py::bytes(c.conv.serialize()); })
        .def("restore", [](PyConversation& c, const py::bytes& b) { c.conv.restore(std::string(b)); },
             py::arg("data"));
}

}  // namespace kaa::py_bind
