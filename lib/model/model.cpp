// model.cpp — the public kaa::Model over a shared ModelImpl.
#include <map>
#include <sstream>

#include "cuda/gpu.hpp"
#include "model/model_impl.hpp"

namespace kaa {

Model Model::load(const std::string& path, const ModelParams& params) {
    if (params.n_threads < 0)
        throw Error(ErrorCode::invalid_argument, "ModelParams::n_threads must be >= 0");
    if (params.max_metadata_bytes == 0)
        throw Error(ErrorCode::invalid_argument, "ModelParams::max_metadata_bytes must be > 0");
    if (params.device != Device::cpu && params.device != Device::cuda)
        throw Error(ErrorCode::invalid_argument, "ModelParams::device is not a Device");
    // The GPU is checked before the file is read: no device fails fast.
    std::shared_ptr<detail::gpu::Runtime> gpu;
    if (params.device == Device::cuda) gpu = detail::gpu::cuda_runtime(params.gpu_index);
    gguf::OpenOptions opts;
    opts.use_mmap = params.use_mmap;
    opts.max_metadata_bytes = params.max_metadata_bytes;
    gguf::File file = gguf::File::open(path, opts);
    auto impl = detail::build_model(std::move(file), path, params);
    if (gpu) detail::gpu::attach(*impl, std::move(gpu));
    return Model(std::move(impl));
}

int cuda_device_count() noexcept { return detail::gpu::cuda_device_count(); }

const HParams& Model::hparams() const noexcept { return impl_->hp; }
int32_t Model::n_vocab() const noexcept { return int32_t(impl_->hp.n_vocab); }
const std::string& Model::architecture() const noexcept { return impl_->arch; }
const std::string& Model::name() const noexcept { return impl_->name; }
const std::string& Model::path() const noexcept { return impl_->path; }
const ModelParams& Model::params() const noexcept { return impl_->params; }
uint64_t Model::state_size() const noexcept {
    return uint64_t(impl_->state_dims().floats()) * sizeof(float);
}
uint64_t Model::fingerprint() const noexcept { return impl_->fingerprint; }
uint64_t Model::weight_bytes() const noexcept { return impl_->weight_bytes; }
const char* Model::backend() const noexcept { return impl_->gpu ? "cuda" : impl_->kernels->name; }

std::string Model::file_type() const {
    // The type holding the most bytes among 2-D weights.
    std::map<std::string, uint64_t> bytes;
    for (const auto& t : impl_->file.tensors())
        if (t.n_dims >= 2) bytes[gguf::tensor_type_name(t.type)] += t.n_bytes;
    std::string best = "F32";
    uint64_t most = 0;
    for (const auto& [name, n] : bytes)
        if (n > most) most = n, best = name;
    return best;
}

namespace {

// A scalar metadata value as text.
std::string scalar_text(const std::string& key, const gguf::Value& v) {
    using VT = gguf::ValueType;
    switch (v.type) {
        case VT::f32:
        case VT::f64: {
            std::ostringstream o;
            o << v.as_float(key);
            return o.str();
        }
        case VT::boolean: return v.as_bool(key) ? "true" : "false";
        case VT::string: return std::string(v.as_string(key));
        case VT::u8: case VT::u16: case VT::u32: case VT::u64: return std::to_string(v.as_uint(key));
        default: return std::to_string(v.as_int(key));
    }
}

}  // namespace

std::optional<std::string> Model::meta(const std::string& key) const {
    const gguf::Value* v = impl_->file.find(key);
    if (!v) return std::nullopt;
    if (v->type != gguf::ValueType::array) return scalar_text(key, *v);
    if (v->elem_type == gguf::ValueType::array) return "[" + std::to_string(v->count) + " arrays]";
    return "[" + std::to_string(v->count) + " items]";
}

std::vector<std::string> Model::meta_keys() const { return impl_->file.keys(); }

std::vector<TensorDesc> Model::tensors() const {
    std::vector<TensorDesc> out;
    for (const auto& t : impl_->file.tensors()) {
        TensorDesc d;
        d.name = t.name;
        d.type = gguf::tensor_type_name(t.type);
        d.shape.assign(t.ne, t.ne + t.n_dims);
        d.n_bytes = t.n_bytes;
        out.push_back(std::move(d));
    }
    return out;
}

bool Model::has_tokenizer() const noexcept { return impl_->tokenizer != nullptr; }

const Tokenizer& Model::tokenizer() const {
    if (!impl_->tokenizer)
        throw Error(ErrorCode::invalid_model, "model '" + impl_->name + "' has no tokenizer metadata");
    return *impl_->tokenizer;
}

std::string Model::chat_template() const {
    return impl_->file.get_string("tokenizer.chat_template").value_or("");
}

}  // namespace kaa
