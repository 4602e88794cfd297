// kaa/model.hpp — a loaded Mamba-1 model: immutable, memory-mapped, shared by Sessions.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kaa/error.hpp"
#include "kaa/export.hpp"

namespace kaa {

class Tokenizer;
namespace detail { struct ModelImpl; }

// How matmuls treat activations.
enum class Precision {
    // The backend may round activations where that makes matmuls faster: int8 dot
    // products for Q8_0 weights (AVX-512 VNNI, AVX-VNNI, NEON dotprod), as llama.cpp
    // does. Decode then runs at the memory-bandwidth limit and prefill ~3x faster than
    // with f32 activations. Logits differ from the float64 reference by up to ~0.5% of
    // their magnitude (0.04-0.11 on the test models; docs/CORRECTNESS.md).
    fast,
    // Activations stay f32 in every matmul: logits match the float64 reference within
    // 1e-3 on every backend. Q8_0 decode becomes compute-bound (int8 -> f32 widening)
    // at roughly 2/3 of the fast mode's speed, and prefill ~3x slower.
    exact,
};

// Where the weights live and the forward pass runs.
enum class Device {
    cpu,
    // An NVIDIA GPU of compute capability 8.0 or newer (A100, H100, ...): the weights are
    // uploaded once at load; each Session's state lives on the GPU and is copied to the
    // host only by Session::state() / fork() (and back by set_state). Sessions, States,
    // sampling and generation work unchanged. Needs a build with -DKAA_CUDA=ON; otherwise
    // Model::load throws Error(unsupported) "built without CUDA". Precision::fast runs
    // Q8_0 and F16 matmuls of many rows (prefill, batches) on the tensor cores with
    // activations rounded to f16; decode keeps f32 activations in both precisions.
    cuda,
};

struct ModelParams {
    // Default thread count for Sessions on this model; 0 = all hardware threads.
    int32_t n_threads = 0;
    // Map the file read-only (weights stay in the page cache, shared between processes).
    // false: read the whole file into memory.
    bool use_mmap = true;
    // Called with a fraction in [0, 1] while loading; return false to cancel
    // (load then throws Error(cancelled)).
    std::function<bool(float)> progress;
    Precision precision = Precision::fast;
    // Files whose header (metadata and tensor table, everything before the tensor data)
    // is larger are refused with Error(unsupported); nothing past the limit is read.
    // Falcon-Mamba-7B's header is about 2.2 MiB, nearly all of it the 65,024-token
    // vocabulary and its merges; the default leaves room for vocabularies 100x larger
    // while bounding what a hostile file can make kaa parse and allocate. Must be > 0.
    uint64_t max_metadata_bytes = 256ull << 20;
    // Device::cuda: Model::load throws Error(unsupported) when there is no usable GPU
    // (none, no driver, compute capability below 8.0), Error(invalid_argument) for a
    // gpu_index out of range, Error(out_of_memory) saying how much GPU memory the
    // weights need and how much is free.
    Device device = Device::cpu;
    int32_t gpu_index = 0;  // which CUDA device
    // Device::cuda: after the upload, hand the host pages holding the weights back to the
    // OS (the file mapping's pages leave the process's resident memory).
    bool release_host_weights = false;
};

// CUDA devices usable with Device::cuda: 0 in a build without CUDA, or without a driver
// or device.
KAA_API int cuda_device_count() noexcept;

// Hyperparameters, read from the `mamba.*` metadata keys.
struct HParams {
    int64_t n_vocab = 0;   // rows of token_embd
    int64_t d_model = 0;   // mamba.embedding_length
    int64_t n_layer = 0;   // mamba.block_count
    int64_t d_inner = 0;   // mamba.ssm.inner_size
    int64_t d_state = 0;   // mamba.ssm.state_size
    int64_t d_conv = 0;    // mamba.ssm.conv_kernel
    int64_t dt_rank = 0;   // mamba.ssm.time_step_rank
    float rms_eps = 1e-5f; // mamba.attention.layer_norm_rms_epsilon
    bool dt_b_c_rms = false;      // mamba.ssm.dt_b_c_rms (Falcon-Mamba: true)
    bool tied_embeddings = false; // no output.weight: the LM head is token_embd
};

// One tensor of the file, for inspection.
struct TensorDesc {
    std::string name;
    std::string type;            // "F32", "F16", "BF16", "Q8_0"
    std::vector<int64_t> shape;  // GGUF order: innermost (contiguous) dimension first
    uint64_t n_bytes = 0;
};

// Copies are cheap and share the loaded model; the file stays mapped until the last copy
// and the last Session using it are gone. Every method may be called from any number of
// threads at once.
class KAA_API Model {
public:
    // Loads and validates a GGUF file. Throws Error (io, invalid_file, unsupported,
    // invalid_model, cancelled; invalid_argument for params out of range). The progress
    // callback runs on the calling thread.
    static Model load(const std::string& path, const ModelParams& params = {});

    const HParams& hparams() const noexcept;
    int32_t n_vocab() const noexcept;
    const std::string& architecture() const noexcept;  // general.architecture ("mamba")
    const std::string& name() const noexcept;          // general.name, or the file name
    std::string file_type() const;  // the dominant weight type: "F32", "F16", "BF16", "Q8_0"
    const std::string& path() const noexcept;
    const ModelParams& params() const noexcept;

    // Metadata value rendered as text (arrays: "[n items]"); nullopt when absent.
    std::optional<std::string> meta(const std::string& key) const;
    std::vector<std::string> meta_keys() const;
    std::vector<TensorDesc> tensors() const;

    // The tokenizer built from tokenizer.* metadata. Throws Error(invalid_model)
    // when the file has none (has_tokenizer() == false).
    bool has_tokenizer() const noexcept;
    const Tokenizer& tokenizer() const;
    // tokenizer.chat_template, "" when absent.
    std::string chat_template() const;

    // Bytes of a State's payload for this model (conv + SSM state of every layer, f32).
    uint64_t state_size() const noexcept;
    // Hash of the hyperparameters and the tensor table; States carry it to refuse
    // being restored into another model.
    uint64_t fingerprint() const noexcept;
    // Bytes of weights read per decoded token (every matrix once, LM head included).
    uint64_t weight_bytes() const noexcept;
    // The kernel backend in use: the CPU's ("scalar", "avx2", ...), or "cuda".
    const char* backend() const noexcept;

    // Internal: the shared implementation (used by Session).
    const std::shared_ptr<const detail::ModelImpl>& impl() const noexcept { return impl_; }

private:
    explicit Model(std::shared_ptr<const detail::ModelImpl> impl) : impl_(std::move(impl)) {}
    std::shared_ptr<const detail::ModelImpl> impl_;
};

}  // namespace kaa
