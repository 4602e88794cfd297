/* kaa.h — the stable C ABI of kaa (Mamba-1 / Falcon-Mamba inference from GGUF files).
 *
 * C99, usable from C and C++. Every handle is opaque; every function that can fail
 * returns a kaa_status and never throws, aborts or exits. The only functions that do not
 * return a kaa_status are the infallible ones: *_free, the version queries,
 * kaa_status_name, kaa_last_error_message, and the *_default_params() helpers defined
 * inline in this header.
 *
 * Conventions
 * -----------
 * - Handles come from a *_create / *_load / *_from_* / *_copy / *_fork function and are
 *   released with the matching *_free; *_free(NULL) is a no-op.
 * - Out-parameters are written only on success (KAA_OK), except the size out-parameter of
 *   the buffer protocol below, which is also written on KAA_ERR_BUFFER_TOO_SMALL, and
 *   handle out-parameters (kaa_model**, kaa_generation**, ...), which are set to NULL on
 *   failure, so freeing them afterwards is always safe.
 * - Errors: a failing call returns a status other than KAA_OK, stores a message retrievable
 *   with kaa_last_error_message() on the calling thread, and logs it through the log
 *   callback (level KAA_LOG_ERROR; KAA_ERR_BUFFER_TOO_SMALL, a normal step of the buffer
 *   protocol, at KAA_LOG_DEBUG). Successful calls leave the stored message alone (as
 *   errno), so read it right after the failing call.
 * - Params structs begin with `uint32_t struct_size`; get them from the matching
 *   kaa_*_default_params() (which fills struct_size = sizeof in your header) and change
 *   fields. The library reads only fields that lie wholly inside struct_size, so a program
 *   built against an older kaa.h keeps working with a newer library. A struct_size smaller
 *   than the struct's first published version (or 0), or larger than 65536 (an
 *   uninitialized struct), is KAA_ERR_INVALID_ARGUMENT. A
 *   params pointer may be NULL: the defaults are used. Output structs (kaa_hparams, ...)
 *   follow the same rule: set struct_size, and the library fills the fields that fit.
 * - Flags arguments: bits this library does not know are KAA_ERR_INVALID_ARGUMENT.
 * - New fields are only ever appended to structs; new functions are only ever added.
 *   (Maintainers: a field added later must start at or after the previous version's
 *   sizeof, not in its tail padding, so that struct_size tells the versions apart. The
 *   by-value kaa_*_default_params() are static inline over the exported
 *   kaa_*_params_init(params, size), so no exported function returns a struct by value
 *   and growing a struct changes no calling convention: docs/abi/README.md.)
 * - Strings are UTF-8. Pointers returned into a handle (names, logits, ...) stay valid as
 *   long as the text says; never free them.
 *
 * Buffer protocol (tokenize, detokenize, token pieces, chat rendering, metadata, logits,
 * state serialization, ...): such a function takes `T* buf, size_t capacity, size_t* n`.
 *   - *n always receives the size of the full result, in elements (for text: bytes,
 *     not counting the terminating NUL).
 *   - buf == NULL and capacity == 0: a size query; returns KAA_OK and writes only *n.
 *   - the result fits (elements: capacity >= *n; text: capacity >= *n + 1, the text is
 *     always NUL-terminated): it is written, KAA_OK.
 *   - it does not fit: KAA_ERR_BUFFER_TOO_SMALL, *n = the size needed, and nothing of the
 *     result is written (text buffers get buf[0] = '\0'). Any state change the call would
 *     have made (a stream decoder's pending bytes) does not happen, so retry with a bigger
 *     buffer.
 *   - buf == NULL with capacity > 0, or n == NULL: KAA_ERR_INVALID_ARGUMENT.
 *   A size query computes the result (then drops it), so a query + fill costs two runs;
 *   for tokenization a buffer of strlen(text) + 1 tokens always suffices.
 *
 * Threads: a kaa_model, kaa_tokenizer and kaa_chat_template may be used from any number
 * of threads at once. A kaa_session, kaa_sampler, kaa_state, kaa_conversation and
 * kaa_stream_decoder must be used by one thread at a time.
 *
 * Basic flow:
 *     kaa_model_params mp = kaa_model_default_params();
 *     kaa_model *m = NULL;
 *     if (kaa_model_load(path, &mp, &m) != KAA_OK) puts(kaa_last_error_message());
 *     kaa_session *s = NULL;
 *     kaa_session_create(m, NULL, &s);
 *     kaa_generate_params gp = kaa_generate_default_params();
 *     gp.max_tokens = 32;
 *     gp.on_text = print_piece;            // bool print_piece(const char*, size_t, void*)
 *     kaa_session_generate(s, "Hello how are you?", &gp, NULL);
 *     kaa_session_free(s);
 *     kaa_model_free(m);
 */
#ifndef KAA_H
#define KAA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Export macro: the same definition as kaa/export.hpp (identical token sequences, so
 * both headers may be included in one translation unit). */
#ifndef KAA_API
#if defined(_WIN32)
#  if defined(KAA_BUILDING_SHARED)
#    define KAA_API __declspec(dllexport)
#  elif defined(KAA_USING_SHARED)
#    define KAA_API __declspec(dllimport)
#  else
#    define KAA_API
#  endif
#else
#  define KAA_API __attribute__((visibility("default")))
#endif
#endif

/* C++ callers (and the implementation) see the no-throw guarantee in the type. */
#ifdef __cplusplus
#  define KAA_NOEXCEPT noexcept
extern "C" {
#else
#  define KAA_NOEXCEPT
#endif

/* ---- version ------------------------------------------------------------------------ */

#define KAA_VERSION_MAJOR 0
#define KAA_VERSION_MINOR 1
#define KAA_VERSION_PATCH 0
/* MAJOR * 1000000 + MINOR * 1000 + PATCH: compare with kaa_version_number() to tell the
 * header a program was built with from the library it runs with. */
#define KAA_VERSION_NUMBER (KAA_VERSION_MAJOR * 1000000 + KAA_VERSION_MINOR * 1000 + KAA_VERSION_PATCH)

KAA_API uint32_t kaa_version_number(void) KAA_NOEXCEPT;
KAA_API const char* kaa_version_string(void) KAA_NOEXCEPT; /* "0.1.0" */

/* ---- status and errors ------------------------------------------------------------- */

/* Values 0..199 are the numbers of kaa::ErrorCode, one to one (new codes are appended
 * there and here alike). Values from 200 up belong to the C ABI alone. */
typedef enum kaa_status {
    KAA_OK = 0,
    KAA_ERR_INVALID_ARGUMENT = 1, /* an argument is NULL, out of range or inconsistent */
    KAA_ERR_IO = 2,               /* open/read/write/rename/mmap failed */
    KAA_ERR_INVALID_FILE = 3,     /* a GGUF file is malformed */
    KAA_ERR_UNSUPPORTED = 4,      /* valid, but not supported (architecture, type, ...) */
    KAA_ERR_INVALID_MODEL = 5,    /* a GGUF parses but is not a usable model */
    KAA_ERR_INVALID_STATE = 6,    /* a state blob is corrupt, truncated or of another version */
    KAA_ERR_STATE_MISMATCH = 7,   /* a state belongs to another model */
    KAA_ERR_OUT_OF_MEMORY = 8,
    KAA_ERR_CANCELLED = 9,        /* a callback asked to stop (model load progress) */
    KAA_ERR_INVALID_TOKEN = 10,   /* a token id outside [0, n_vocab) */
    KAA_ERR_TEMPLATE = 11,        /* a chat template could not be parsed or rendered */
    KAA_ERR_INTERNAL = 100,       /* a bug in kaa, or an exception from a user callback */
    KAA_ERR_BUFFER_TOO_SMALL = 200, /* C ABI only: see "Buffer protocol" */
    /* Not a status: makes every int32 value a valid kaa_status, so an unknown value
     * passed in from C (or another language) is safe to read on the C++ side. */
    KAA_STATUS_MAX_ = 0x7fffffff
} kaa_status;

/* "ok", "invalid_argument", ... ("unknown" for other values). Never NULL. */
KAA_API const char* kaa_status_name(kaa_status status) KAA_NOEXCEPT;
/* The message of the most recent failing call on this thread ("" if none). Valid until
 * the next failing call on this thread. Never NULL. */
KAA_API const char* kaa_last_error_message(void) KAA_NOEXCEPT;

/* ---- logging ------------------------------------------------------------------------ */

typedef enum kaa_log_level {
    KAA_LOG_ERROR = 0,
    KAA_LOG_WARN = 1,
    KAA_LOG_INFO = 2,
    KAA_LOG_DEBUG = 3,
    KAA_LOG_LEVEL_MAX_ = 0x7fffffff /* not a level: see KAA_STATUS_MAX_ */
} kaa_log_level;

/* Receives one NUL-terminated line (no trailing newline). May be called from any thread
 * that calls into kaa, so it must be thread-safe. It must not throw. */
typedef void (*kaa_log_callback)(kaa_log_level level, const char* message, void* user_data);

/* Installs the process-wide log callback (NULL: logging off, the default). Failing calls
 * log their error message at KAA_LOG_ERROR; model loading logs a summary at
 * KAA_LOG_INFO. A call running concurrently may still use the previous callback. */
KAA_API kaa_status kaa_set_log_callback(kaa_log_callback callback, void* user_data) KAA_NOEXCEPT;

/* ---- basic types -------------------------------------------------------------------- */

typedef int32_t kaa_token; /* a token id in [0, n_vocab) */

typedef struct kaa_model kaa_model;
typedef struct kaa_session kaa_session;
typedef struct kaa_state kaa_state;
typedef struct kaa_tokenizer kaa_tokenizer;
typedef struct kaa_stream_decoder kaa_stream_decoder;
typedef struct kaa_sampler kaa_sampler;
typedef struct kaa_chat_template kaa_chat_template;
typedef struct kaa_conversation kaa_conversation;
typedef struct kaa_generation kaa_generation;

/* ---- model -------------------------------------------------------------------------- */

/* Called with a fraction in [0, 1] while loading; return false to cancel (the load then
 * fails with KAA_ERR_CANCELLED). */
typedef bool (*kaa_progress_callback)(float progress, void* user_data);

/* How matmuls treat activations (kaa::Precision). */
typedef enum kaa_precision {
    /* Activations may be rounded where that is faster (int8 dot products for Q8_0
     * weights): decode at the memory-bandwidth limit; logits within ~0.5% of exact. */
    KAA_PRECISION_FAST = 0,
    /* Activations stay f32 in every matmul: logits match the float64 reference within
     * 1e-3, at roughly 2/3 of the fast decode speed. */
    KAA_PRECISION_EXACT = 1,
    KAA_PRECISION_MAX_ = 0x7fffffff /* not a precision: see KAA_STATUS_MAX_ */
} kaa_precision;

/* Where the weights live and the forward pass runs (kaa::Device). */
typedef enum kaa_device {
    KAA_DEVICE_CPU = 0,
    /* An NVIDIA GPU of compute capability 8.0 or newer, in a library built with
     * -DKAA_CUDA=ON (otherwise kaa_model_load fails with KAA_ERR_UNSUPPORTED). Sessions,
     * states and generation work as on the CPU; a session's state lives on the GPU. */
    KAA_DEVICE_CUDA = 1,
    KAA_DEVICE_MAX_ = 0x7fffffff /* not a device: see KAA_STATUS_MAX_ */
} kaa_device;

/* CUDA devices usable with KAA_DEVICE_CUDA: 0 without CUDA support, driver or device. */
KAA_API int32_t kaa_cuda_device_count(void) KAA_NOEXCEPT;

typedef struct kaa_model_params {
    uint32_t struct_size;
    int32_t n_threads;       /* default threads of Sessions on this model; 0 = all hardware threads */
    bool use_mmap;           /* true: map the file read-only; false: read it into memory */
    kaa_progress_callback progress; /* may be NULL */
    void* progress_user_data;
    int32_t precision;       /* a kaa_precision (default KAA_PRECISION_FAST) */
    /* Appended later: a struct_size that ends before a field gives its default. */
    uint64_t max_metadata_bytes; /* files whose header (metadata + tensor table) is larger
                                  * are refused with KAA_ERR_UNSUPPORTED; > 0 (default
                                  * 256 MiB; Falcon-Mamba-7B needs about 2.2 MiB) */
    int32_t device;          /* a kaa_device (default KAA_DEVICE_CPU); KAA_DEVICE_CUDA fails
                              * with KAA_ERR_UNSUPPORTED when no usable GPU is there and
                              * KAA_ERR_OUT_OF_MEMORY (saying how much) when it is too small */
    int32_t gpu_index;       /* KAA_DEVICE_CUDA: which device, >= 0 (default 0) */
    bool release_host_weights; /* KAA_DEVICE_CUDA: hand the host pages of the weights back
                                * to the OS after the upload (default false) */
} kaa_model_params;

/* Fills *params with the defaults for a struct of `size` bytes (pass sizeof *params):
 * struct_size = size and every field that fits (fields this library does not know are
 * zero). KAA_ERR_INVALID_ARGUMENT for NULL or a size no version of the struct has.
 * Meant for bindings from other languages; C and C++ use the inline function below. */
KAA_API kaa_status kaa_model_params_init(kaa_model_params* params, size_t size) KAA_NOEXCEPT;
/* The defaults, by value. Inline on purpose: it is compiled with the caller's copy of
 * this header, so the struct it returns always has the size the caller allocated, and
 * structs can grow in later versions without breaking compiled programs. */
static inline kaa_model_params kaa_model_default_params(void) KAA_NOEXCEPT {
    kaa_model_params p;
    (void)kaa_model_params_init(&p, sizeof p);
    return p;
}

/* Loads and validates a GGUF file. params may be NULL (defaults). */
KAA_API kaa_status kaa_model_load(const char* path, const kaa_model_params* params,
                                  kaa_model** out_model) KAA_NOEXCEPT;
/* Sessions, tokenizers and templates made from the model keep what they need alive, so
 * the model may be freed before them. */
KAA_API void kaa_model_free(kaa_model* model) KAA_NOEXCEPT;

typedef struct kaa_hparams {
    uint32_t struct_size;
    int64_t n_vocab;
    int64_t d_model;
    int64_t n_layer;
    int64_t d_inner;
    int64_t d_state;
    int64_t d_conv;
    int64_t dt_rank;
    float rms_eps;
    bool dt_b_c_rms;       /* Falcon-Mamba's RMS norm of dt, B and C */
    bool tied_embeddings;  /* the LM head is token_embd */
} kaa_hparams;

/* Set out->struct_size = sizeof(kaa_hparams) first. */
KAA_API kaa_status kaa_model_hparams(const kaa_model* model, kaa_hparams* out) KAA_NOEXCEPT;
KAA_API kaa_status kaa_model_n_vocab(const kaa_model* model, int32_t* out) KAA_NOEXCEPT;
/* The strings below stay valid until kaa_model_free. */
KAA_API kaa_status kaa_model_name(const kaa_model* model, const char** out) KAA_NOEXCEPT;
KAA_API kaa_status kaa_model_architecture(const kaa_model* model, const char** out) KAA_NOEXCEPT;
KAA_API kaa_status kaa_model_file_type(const kaa_model* model, const char** out) KAA_NOEXCEPT; /* "Q8_0", ... */
KAA_API kaa_status kaa_model_backend(const kaa_model* model, const char** out) KAA_NOEXCEPT;   /* CPU kernels */
/* tokenizer.chat_template, "" when the file has none. */
KAA_API kaa_status kaa_model_chat_template(const kaa_model* model, const char** out) KAA_NOEXCEPT;
/* Bytes of a state's payload for this model (the same for any text length). */
KAA_API kaa_status kaa_model_state_size(const kaa_model* model, uint64_t* out) KAA_NOEXCEPT;
/* Hash of the hyperparameters and tensor table; states carry it. */
KAA_API kaa_status kaa_model_fingerprint(const kaa_model* model, uint64_t* out) KAA_NOEXCEPT;

/* Metadata value rendered as text (arrays as "[n items]"), by the buffer protocol.
 * An absent key is KAA_ERR_INVALID_ARGUMENT. */
KAA_API kaa_status kaa_model_meta(const kaa_model* model, const char* key, char* buf,
                                  size_t capacity, size_t* length) KAA_NOEXCEPT;
/* Enumerates the metadata keys; *key stays valid until kaa_model_free. */
KAA_API kaa_status kaa_model_meta_count(const kaa_model* model, size_t* out) KAA_NOEXCEPT;
KAA_API kaa_status kaa_model_meta_key(const kaa_model* model, size_t index, const char** key) KAA_NOEXCEPT;

/* ---- tokenizer ---------------------------------------------------------------------- */

/* Special token ids; -1 where the vocabulary names none. */
typedef struct kaa_special_tokens {
    uint32_t struct_size;
    kaa_token bos;
    kaa_token eos;
    kaa_token pad;
    kaa_token eot;     /* end of turn */
    bool add_bos;      /* tokenizer.ggml.add_bos_token (false for Falcon and Mamba) */
} kaa_special_tokens;

/* The model's tokenizer as its own handle (free it with kaa_tokenizer_free; it shares the
 * vocabulary with the model, so this is cheap). KAA_ERR_INVALID_MODEL when the file has
 * no tokenizer. */
KAA_API kaa_status kaa_tokenizer_from_model(const kaa_model* model, kaa_tokenizer** out) KAA_NOEXCEPT;
/* Reads only the tokenizer metadata of a GGUF file (no weights). */
KAA_API kaa_status kaa_tokenizer_load(const char* gguf_path, kaa_tokenizer** out) KAA_NOEXCEPT;
KAA_API void kaa_tokenizer_free(kaa_tokenizer* tokenizer) KAA_NOEXCEPT;

KAA_API kaa_status kaa_tokenizer_n_vocab(const kaa_tokenizer* tokenizer, int32_t* out) KAA_NOEXCEPT;
/* Set out->struct_size = sizeof(kaa_special_tokens) first. */
KAA_API kaa_status kaa_tokenizer_special_tokens(const kaa_tokenizer* tokenizer,
                                                kaa_special_tokens* out) KAA_NOEXCEPT;
/* True for eos/eot and well-known end-of-turn control tokens ("<|im_end|>", ...). */
KAA_API kaa_status kaa_tokenizer_is_end_of_generation(const kaa_tokenizer* tokenizer,
                                                      kaa_token token, bool* out) KAA_NOEXCEPT;

/* kaa_tokenize flags */
#define KAA_TOKENIZE_ADD_BOS 1u       /* put BOS first (if the vocabulary has one) */
#define KAA_TOKENIZE_PARSE_SPECIAL 2u /* control-token texts ("<|im_start|>") become their ids */

/* Text (text_length bytes, any bytes) to token ids, by the buffer protocol. At most
 * text_length + 1 tokens result. */
KAA_API kaa_status kaa_tokenize(const kaa_tokenizer* tokenizer, const char* text, size_t text_length,
                                uint32_t flags, kaa_token* tokens, size_t capacity,
                                size_t* n_tokens) KAA_NOEXCEPT;

/* kaa_detokenize / kaa_token_to_piece / kaa_stream_decoder_create flags */
#define KAA_DETOKENIZE_SKIP_SPECIAL 1u /* control tokens give no text */

/* Token ids to the exact bytes they stand for (possibly invalid UTF-8 for an arbitrary cut
 * of a stream: use a kaa_stream_decoder for display), by the buffer protocol.
 * KAA_ERR_INVALID_TOKEN for an id outside [0, n_vocab). */
KAA_API kaa_status kaa_detokenize(const kaa_tokenizer* tokenizer, const kaa_token* tokens,
                                  size_t n_tokens, uint32_t flags, char* buf, size_t capacity,
                                  size_t* length) KAA_NOEXCEPT;
KAA_API kaa_status kaa_token_to_piece(const kaa_tokenizer* tokenizer, kaa_token token, uint32_t flags,
                                      char* buf, size_t capacity, size_t* length) KAA_NOEXCEPT;

/* Turns a stream of tokens into text that is always valid UTF-8 (a character split over
 * several tokens comes out once complete). */
KAA_API kaa_status kaa_stream_decoder_create(const kaa_tokenizer* tokenizer, uint32_t flags,
                                             kaa_stream_decoder** out) KAA_NOEXCEPT;
KAA_API void kaa_stream_decoder_free(kaa_stream_decoder* decoder) KAA_NOEXCEPT;
/* The text this token completes (maybe empty), by the buffer protocol. 16 bytes more than
 * the longest token piece always suffice. */
KAA_API kaa_status kaa_stream_decoder_push(kaa_stream_decoder* decoder, kaa_token token, char* buf,
                                           size_t capacity, size_t* length) KAA_NOEXCEPT;
/* Whatever is held back (an unfinished character becomes U+FFFD); the decoder is then
 * empty. */
KAA_API kaa_status kaa_stream_decoder_flush(kaa_stream_decoder* decoder, char* buf, size_t capacity,
                                            size_t* length) KAA_NOEXCEPT;

/* ---- chat templates ----------------------------------------------------------------- */

/* One turn. This struct is used in arrays, so it will never grow. */
typedef struct kaa_chat_message {
    const char* role;     /* "system", "user", "assistant", ... */
    const char* content;
} kaa_chat_message;

typedef struct kaa_chat_render_params {
    uint32_t struct_size;
    bool add_generation_prompt; /* end with the opening of an assistant turn (default true) */
    const char* bos_token;      /* exposed to the template; NULL = "" */
    const char* eos_token;
} kaa_chat_render_params;

/* As kaa_model_params_init, for this struct. */
KAA_API kaa_status kaa_chat_render_params_init(kaa_chat_render_params* params, size_t size) KAA_NOEXCEPT;
static inline kaa_chat_render_params kaa_chat_render_default_params(void) KAA_NOEXCEPT {
    kaa_chat_render_params p;
    (void)kaa_chat_render_params_init(&p, sizeof p);
    return p;
}

/* Parses Jinja chat-template source (source_length bytes). KAA_ERR_TEMPLATE names the
 * offending construct and its position. */
KAA_API kaa_status kaa_chat_template_parse(const char* source, size_t source_length,
                                           kaa_chat_template** out) KAA_NOEXCEPT;
/* The ChatML template. */
KAA_API kaa_status kaa_chat_template_chatml(kaa_chat_template** out) KAA_NOEXCEPT;
/* The model's template (tokenizer.chat_template), or ChatML when it has none. */
KAA_API kaa_status kaa_chat_template_from_model(const kaa_model* model, kaa_chat_template** out) KAA_NOEXCEPT;
KAA_API void kaa_chat_template_free(kaa_chat_template* tmpl) KAA_NOEXCEPT;

/* Renders messages[0..n_messages) by the buffer protocol. params may be NULL (defaults;
 * bos/eos texts empty). Every role and content must be non-NULL. */
KAA_API kaa_status kaa_chat_template_render(const kaa_chat_template* tmpl, const kaa_chat_message* messages,
                                            size_t n_messages, const kaa_chat_render_params* params,
                                            char* buf, size_t capacity, size_t* length) KAA_NOEXCEPT;

/* ---- sampler ------------------------------------------------------------------------ */

/* kaa_sampler_params.seed value that draws a random seed (kaa_sampler_seed tells which). */
#define KAA_RANDOM_SEED UINT64_C(0xFFFFFFFFFFFFFFFF)

/* One logit bias: added to the token's logit; -INFINITY bans it. Used in arrays: frozen. */
typedef struct kaa_logit_bias {
    kaa_token token;
    float bias;
} kaa_logit_bias;

typedef struct kaa_sampler_params {
    uint32_t struct_size;
    float temperature;        /* <= 0: greedy (default 0.8) */
    int32_t top_k;            /* <= 0: off (default 40) */
    float top_p;              /* >= 1: off (default 0.95) */
    float min_p;              /* <= 0: off (default 0.05) */
    float typical_p;          /* >= 1: off (default 1) */
    float repeat_penalty;     /* 1: off */
    float presence_penalty;   /* 0: off */
    float frequency_penalty;  /* 0: off */
    int32_t penalty_last_n;   /* tokens the penalties look back (0 off, -1 all; default 64) */
    uint64_t seed;            /* KAA_RANDOM_SEED (default) or a fixed seed */
    const kaa_logit_bias* logit_bias; /* n_logit_bias entries, copied at creation */
    size_t n_logit_bias;
} kaa_sampler_params;

/* As kaa_model_params_init, for this struct. */
KAA_API kaa_status kaa_sampler_params_init(kaa_sampler_params* params, size_t size) KAA_NOEXCEPT;
static inline kaa_sampler_params kaa_sampler_default_params(void) KAA_NOEXCEPT {
    kaa_sampler_params p;
    (void)kaa_sampler_params_init(&p, sizeof p);
    return p;
}

/* Validates params against n_vocab (KAA_ERR_INVALID_ARGUMENT / KAA_ERR_INVALID_TOKEN). */
KAA_API kaa_status kaa_sampler_create(const kaa_sampler_params* params, int32_t n_vocab,
                                      kaa_sampler** out) KAA_NOEXCEPT;
/* An independent copy continuing the same random stream and penalty history. */
KAA_API kaa_status kaa_sampler_copy(const kaa_sampler* sampler, kaa_sampler** out) KAA_NOEXCEPT;
KAA_API void kaa_sampler_free(kaa_sampler* sampler) KAA_NOEXCEPT;
/* Picks a token from n_vocab logits (left unmodified). Does not record it: see accept. */
KAA_API kaa_status kaa_sampler_sample(kaa_sampler* sampler, const float* logits, int32_t n_vocab,
                                      kaa_token* out) KAA_NOEXCEPT;
/* Records a token into the penalty history. */
KAA_API kaa_status kaa_sampler_accept(kaa_sampler* sampler, kaa_token token) KAA_NOEXCEPT;
/* Clears the history and restarts the random stream from the seed. */
KAA_API kaa_status kaa_sampler_reset(kaa_sampler* sampler) KAA_NOEXCEPT;
KAA_API kaa_status kaa_sampler_seed(const kaa_sampler* sampler, uint64_t* out) KAA_NOEXCEPT;

/* ---- state -------------------------------------------------------------------------- */

/* A session's recurrent state as a value: constant size whatever the text length. */
KAA_API void kaa_state_free(kaa_state* state) KAA_NOEXCEPT;
KAA_API kaa_status kaa_state_copy(const kaa_state* state, kaa_state** out) KAA_NOEXCEPT;
KAA_API kaa_status kaa_state_position(const kaa_state* state, int64_t* out) KAA_NOEXCEPT; /* tokens consumed */
KAA_API kaa_status kaa_state_model_fingerprint(const kaa_state* state, uint64_t* out) KAA_NOEXCEPT;

/* Application bytes saved and restored with the state (a chat history, ...). The pointer
 * from kaa_state_user_data stays valid until the state is changed or freed. */
KAA_API kaa_status kaa_state_set_user_data(kaa_state* state, const void* data, size_t size) KAA_NOEXCEPT;
KAA_API kaa_status kaa_state_user_data(const kaa_state* state, const void** data, size_t* size) KAA_NOEXCEPT;

/* The checksummed serialized form (docs/FORMATS.md), by the buffer protocol. */
KAA_API kaa_status kaa_state_serialize(const kaa_state* state, uint8_t* buf, size_t capacity,
                                       size_t* size) KAA_NOEXCEPT;
/* KAA_ERR_INVALID_STATE for a corrupt, truncated or foreign blob. */
KAA_API kaa_status kaa_state_deserialize(const void* data, size_t size, kaa_state** out) KAA_NOEXCEPT;
/* Atomic save (temporary file + rename). */
KAA_API kaa_status kaa_state_save(const kaa_state* state, const char* path) KAA_NOEXCEPT;
KAA_API kaa_status kaa_state_load(const char* path, kaa_state** out) KAA_NOEXCEPT;

/* ---- session ------------------------------------------------------------------------ */

typedef struct kaa_session_params {
    uint32_t struct_size;
    int32_t n_threads; /* 0: the model's n_threads */
    int32_t n_batch;   /* tokens per internal prefill chunk (default 256) */
    /* Appended later: a struct_size that ends before a field gives its default. Limits
     * for hosts that pass requests on from elsewhere; exceeding one is
     * KAA_ERR_INVALID_ARGUMENT, named in the message, with nothing evaluated. */
    int64_t max_tokens_per_call;   /* tokens one eval / eval_batch item / generate prompt
                                    * may bring; >= 1 (default 2^20). With
                                    * KAA_EVAL_ALL_LOGITS the logits take n x n_vocab floats:
                                    * set it lower if callers may ask for them. */
    int32_t max_generation_tokens; /* ceiling on kaa_generate_params.max_tokens; >= 0
                                    * (default 2^24) */
} kaa_session_params;

/* As kaa_model_params_init, for this struct. */
KAA_API kaa_status kaa_session_params_init(kaa_session_params* params, size_t size) KAA_NOEXCEPT;
static inline kaa_session_params kaa_session_default_params(void) KAA_NOEXCEPT {
    kaa_session_params p;
    (void)kaa_session_params_init(&p, sizeof p);
    return p;
}

/* params may be NULL (defaults). */
KAA_API kaa_status kaa_session_create(const kaa_model* model, const kaa_session_params* params,
                                      kaa_session** out) KAA_NOEXCEPT;
KAA_API void kaa_session_free(kaa_session* session) KAA_NOEXCEPT;
/* A new session with a copy of this one's state, position and logits. */
KAA_API kaa_status kaa_session_fork(const kaa_session* session, kaa_session** out) KAA_NOEXCEPT;

/* kaa_session_eval flags */
#define KAA_EVAL_ALL_LOGITS 1u /* logits of every position, not only the last */

/* Feeds tokens after the current position. KAA_ERR_INVALID_TOKEN for an id outside
 * [0, n_vocab); n_tokens == 0 or above max_tokens_per_call is KAA_ERR_INVALID_ARGUMENT
 * (nothing is evaluated then). */
KAA_API kaa_status kaa_session_eval(kaa_session* session, const kaa_token* tokens, size_t n_tokens,
                                    uint32_t flags) KAA_NOEXCEPT;
/* The logits of the last eval: n_vocab floats, or n_tokens x n_vocab row-major with
 * KAA_EVAL_ALL_LOGITS; *n_floats = 0 before the first eval and after reset/set_state.
 * The pointer stays valid until the next eval, generate, reset, set_state or free. */
KAA_API kaa_status kaa_session_logits(const kaa_session* session, const float** logits,
                                      size_t* n_floats) KAA_NOEXCEPT;
/* The same, copied by the buffer protocol. */
KAA_API kaa_status kaa_session_copy_logits(const kaa_session* session, float* buf, size_t capacity,
                                           size_t* n_floats) KAA_NOEXCEPT;
KAA_API kaa_status kaa_session_position(const kaa_session* session, int64_t* out) KAA_NOEXCEPT;
/* Zero state, position 0. */
KAA_API kaa_status kaa_session_reset(kaa_session* session) KAA_NOEXCEPT;
/* A copy of the current state (free it with kaa_state_free). */
KAA_API kaa_status kaa_session_get_state(const kaa_session* session, kaa_state** out) KAA_NOEXCEPT;
/* Restores a state. KAA_ERR_STATE_MISMATCH if it was made for another model. */
KAA_API kaa_status kaa_session_set_state(kaa_session* session, const kaa_state* state) KAA_NOEXCEPT;

/* Evaluates n sessions of one model in a single pass over the weights: session i gets
 * tokens[i][0..n_tokens[i]). Afterwards each session's logits hold its last token's
 * logits, exactly as kaa_session_eval would give. Sessions must be distinct; each must
 * bring at least one token. */
KAA_API kaa_status kaa_eval_batch(kaa_session* const* sessions, const kaa_token* const* tokens,
                                  const size_t* n_tokens, size_t n) KAA_NOEXCEPT;

/* ---- generation --------------------------------------------------------------------- */

/* Receives each piece of generated text once it is complete UTF-8 (piece[length] == 0).
 * Return false to stop (the result then says KAA_STOP_CALLBACK; the session stays
 * usable and holds every token generated so far). */
typedef bool (*kaa_text_callback)(const char* piece, size_t length, void* user_data);

typedef struct kaa_generate_params {
    uint32_t struct_size;
    int32_t max_tokens;                /* tokens to generate at most (default 256; at most
                                        * the session's max_generation_tokens) */
    const kaa_sampler_params* sampler; /* NULL: kaa_sampler_default_params() */
    const char* const* stop;           /* n_stop stop strings (copied) */
    size_t n_stop;
    bool ignore_eos;                   /* keep going past end-of-generation tokens */
    int32_t add_bos;                   /* -1 (default): the tokenizer's default; 0 no; 1 yes */
    bool parse_special;                /* control tokens written in the prompt are parsed (default true) */
    kaa_text_callback on_text;         /* may be NULL */
    void* user_data;                   /* passed to on_text */
} kaa_generate_params;

/* As kaa_model_params_init, for this struct. */
KAA_API kaa_status kaa_generate_params_init(kaa_generate_params* params, size_t size) KAA_NOEXCEPT;
static inline kaa_generate_params kaa_generate_default_params(void) KAA_NOEXCEPT {
    kaa_generate_params p;
    (void)kaa_generate_params_init(&p, sizeof p);
    return p;
}

typedef enum kaa_stop_reason {
    KAA_STOP_MAX_TOKENS = 0,
    KAA_STOP_END_OF_GENERATION = 1,
    KAA_STOP_STOP_STRING = 2,
    KAA_STOP_CALLBACK = 3
} kaa_stop_reason;

typedef struct kaa_generation_timings {
    uint32_t struct_size;
    int64_t n_prompt;       /* prompt tokens evaluated */
    double prompt_ms;
    int64_t n_generated;    /* tokens sampled */
    double generation_ms;
} kaa_generation_timings;

/* Generates after a prompt (NUL-terminated; "" continues from the last logits). The
 * state afterwards holds the prompt and every generated token that was fed back, so a
 * later call continues the text. For "", a session without logits evaluates the BOS
 * token first at position 0 (new or reset), and returns KAA_ERR_INVALID_ARGUMENT further
 * on (right after kaa_session_set_state, which restores no logits): give a prompt.
 * out may be NULL; otherwise it receives a result handle (free with kaa_generation_free). */
KAA_API kaa_status kaa_session_generate(kaa_session* session, const char* prompt,
                                        const kaa_generate_params* params, kaa_generation** out) KAA_NOEXCEPT;
/* The same from token ids (n_prompt may be 0). */
KAA_API kaa_status kaa_session_generate_tokens(kaa_session* session, const kaa_token* prompt, size_t n_prompt,
                                               const kaa_generate_params* params,
                                               kaa_generation** out) KAA_NOEXCEPT;

KAA_API void kaa_generation_free(kaa_generation* generation) KAA_NOEXCEPT;
/* The generated text without a matched stop string; valid until kaa_generation_free. */
KAA_API kaa_status kaa_generation_text(const kaa_generation* generation, const char** text,
                                       size_t* length) KAA_NOEXCEPT;
/* The generated tokens (an end-of-generation token included); valid until
 * kaa_generation_free. */
KAA_API kaa_status kaa_generation_tokens(const kaa_generation* generation, const kaa_token** tokens,
                                         size_t* n_tokens) KAA_NOEXCEPT;
KAA_API kaa_status kaa_generation_stop_reason(const kaa_generation* generation,
                                              kaa_stop_reason* out) KAA_NOEXCEPT;
/* Set out->struct_size = sizeof(kaa_generation_timings) first. */
KAA_API kaa_status kaa_generation_timings_get(const kaa_generation* generation,
                                              kaa_generation_timings* out) KAA_NOEXCEPT;

/* ---- conversation ------------------------------------------------------------------- */

/* Multi-turn chat on a session: each reply feeds only the text the state has not seen.
 * tmpl NULL: the model's template (or ChatML). The session must outlive the conversation
 * and should be fresh (position 0), or restored together with kaa_conversation_restore. */
KAA_API kaa_status kaa_conversation_create(kaa_session* session, const kaa_chat_template* tmpl,
                                           kaa_conversation** out) KAA_NOEXCEPT;
KAA_API void kaa_conversation_free(kaa_conversation* conversation) KAA_NOEXCEPT;
/* Appends a message without generating (a system prompt, earlier turns). */
KAA_API kaa_status kaa_conversation_add(kaa_conversation* conversation, const char* role,
                                        const char* content) KAA_NOEXCEPT;
/* Appends the user's message and generates the assistant's reply (appended too). The
 * template's end-of-turn markers are added to the stop strings. out may be NULL. */
KAA_API kaa_status kaa_conversation_reply(kaa_conversation* conversation, const char* user_text,
                                          const kaa_generate_params* params, kaa_generation** out) KAA_NOEXCEPT;
KAA_API kaa_status kaa_conversation_n_messages(const kaa_conversation* conversation, size_t* out) KAA_NOEXCEPT;
/* The strings stay valid until the conversation is changed or freed. */
KAA_API kaa_status kaa_conversation_message(const kaa_conversation* conversation, size_t index,
                                            const char** role, const char** content) KAA_NOEXCEPT;
/* The bookkeeping needed to continue later (store it as the state's user data), by the
 * buffer protocol; restore replaces it (KAA_ERR_INVALID_STATE when malformed). */
KAA_API kaa_status kaa_conversation_serialize(const kaa_conversation* conversation, char* buf,
                                              size_t capacity, size_t* length) KAA_NOEXCEPT;
KAA_API kaa_status kaa_conversation_restore(kaa_conversation* conversation, const void* data,
                                            size_t size) KAA_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#endif /* KAA_H */
