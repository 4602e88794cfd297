/* test_c_api.c — drives the whole C ABI from C, as an application would, on the shared tiny
 * Falcon-Mamba model, then misuses it (NULLs, bad sizes, bad ids, corrupt blobs) and checks
 * that every misuse is an error status with a message, never a crash.
 *
 * Usage: test_c_api [SHARED_DIR]   (default: $KAA_SHARED_DIR). Prints "KAA_SKIP: ..." and
 * exits 0 when the test models are absent, after running the checks that need no model. */
#define _POSIX_C_SOURCE 200809L /* getpid */
#include <math.h>
#include <stddef.h> /* offsetof */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kaa/kaa.h"

#ifndef KAA_EXPECTED_VERSION
#define KAA_EXPECTED_VERSION "0.1.0"
#endif

static int g_failures = 0;

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            ++g_failures;                                                             \
        }                                                                             \
    } while (0)

#define CHECK_OK(call)                                                                          \
    do {                                                                                        \
        kaa_status st_ = (call);                                                                \
        if (st_ != KAA_OK) {                                                                    \
            fprintf(stderr, "%s:%d: %s -> %s (%s)\n", __FILE__, __LINE__, #call,                \
                    kaa_status_name(st_), kaa_last_error_message());                            \
            ++g_failures;                                                                       \
        }                                                                                       \
    } while (0)

/* The call must fail with `expected`, leave a message naming the function, and log it. */
static int g_logged_errors = 0;
static char g_last_log[2048];

static void check_err_at(kaa_status got, kaa_status expected, const char* fn, const char* expr, int line) {
    const char* msg = kaa_last_error_message();
    if (got != expected) {
        fprintf(stderr, "%s:%d: %s -> %s, expected %s (%s)\n", __FILE__, line, expr, kaa_status_name(got),
                kaa_status_name(expected), msg);
        ++g_failures;
        return;
    }
    if (strncmp(msg, fn, strlen(fn)) != 0 || strlen(msg) <= strlen(fn) + 2) {
        fprintf(stderr, "%s:%d: %s: message '%s' does not name %s\n", __FILE__, line, expr, msg, fn);
        ++g_failures;
    }
    if (strcmp(g_last_log, msg) != 0) {
        fprintf(stderr, "%s:%d: %s: the error was not logged (last log line '%s')\n", __FILE__, line, expr,
                g_last_log);
        ++g_failures;
    }
}
#define CHECK_ERR(call, expected, fn) check_err_at((call), (expected), fn, #call, __LINE__)

static void on_log(kaa_log_level level, const char* message, void* user_data) {
    (void)user_data;
    if (level == KAA_LOG_ERROR || level == KAA_LOG_DEBUG) {
        if (level == KAA_LOG_ERROR) ++g_logged_errors;
        snprintf(g_last_log, sizeof g_last_log, "%s", message);
    }
}

/* ---- checks that need no model ---------------------------------------------------------- */

static void* error_in_thread(void* arg) {
    (void)arg;
    int32_t n = 0;
    kaa_model_n_vocab(NULL, &n); /* sets this thread's message only */
    return NULL;
}

/* The first published layouts of the two params structs that later got fields appended,
 * as a program built against the older kaa.h declares them. The library must read only
 * what struct_size covers and use the defaults for the rest: the tests below put values
 * the library would refuse right after these structs, so a read past struct_size shows. */
typedef struct {
    uint32_t struct_size;
    int32_t n_threads;
    bool use_mmap;
    kaa_progress_callback progress;
    void* progress_user_data;
    int32_t precision;
} old_model_params;
typedef struct {
    uint32_t struct_size;
    int32_t n_threads;
    int32_t n_batch;
} old_session_params;

static void test_without_model(void) {
    CHECK(kaa_version_number() == KAA_VERSION_NUMBER);
    CHECK(strcmp(kaa_version_string(), KAA_EXPECTED_VERSION) == 0);
    CHECK(strcmp(kaa_status_name(KAA_OK), "ok") == 0);
    CHECK(strcmp(kaa_status_name(KAA_ERR_INVALID_TOKEN), "invalid_token") == 0);
    CHECK(strcmp(kaa_status_name(KAA_ERR_BUFFER_TOO_SMALL), "buffer_too_small") == 0);
    CHECK(strcmp(kaa_status_name((kaa_status)12345), "unknown") == 0);

    /* Every free accepts NULL. */
    kaa_model_free(NULL);
    kaa_session_free(NULL);
    kaa_state_free(NULL);
    kaa_tokenizer_free(NULL);
    kaa_stream_decoder_free(NULL);
    kaa_sampler_free(NULL);
    kaa_chat_template_free(NULL);
    kaa_conversation_free(NULL);
    kaa_generation_free(NULL);

    /* The message is per thread. */
    CHECK_ERR(kaa_session_eval(NULL, NULL, 0, 0), KAA_ERR_INVALID_ARGUMENT, "kaa_session_eval");
    pthread_t th;
    CHECK(pthread_create(&th, NULL, error_in_thread, NULL) == 0);
    pthread_join(th, NULL);
    CHECK(strncmp(kaa_last_error_message(), "kaa_session_eval", 16) == 0);

    kaa_model* m = (kaa_model*)1;
    CHECK_ERR(kaa_model_load(NULL, NULL, &m), KAA_ERR_INVALID_ARGUMENT, "kaa_model_load");
    CHECK(m == NULL); /* out-handles are cleared on failure */
    CHECK_ERR(kaa_model_load("/nonexistent/model.gguf", NULL, &m), KAA_ERR_IO, "kaa_model_load");
    CHECK_ERR(kaa_model_load("/nonexistent/model.gguf", NULL, NULL), KAA_ERR_INVALID_ARGUMENT, "kaa_model_load");

    /* struct_size 0 or below the first version is refused; bigger (a newer header) is fine. */
    kaa_model_params mp = kaa_model_default_params();
    CHECK(mp.struct_size == sizeof(kaa_model_params) && mp.use_mmap && mp.n_threads == 0);
    mp.struct_size = 0;
    CHECK_ERR(kaa_model_load("x.gguf", &mp, &m), KAA_ERR_INVALID_ARGUMENT, "kaa_model_load");
    mp.struct_size = 4;
    CHECK_ERR(kaa_model_load("x.gguf", &mp, &m), KAA_ERR_INVALID_ARGUMENT, "kaa_model_load");
    CHECK(strstr(kaa_last_error_message(), "struct_size") != NULL);

    /* Devices: CPU by default; a bad value is refused; CUDA without a usable GPU is
     * KAA_ERR_UNSUPPORTED before the file is even opened. */
    {
        kaa_model_params dp = kaa_model_default_params();
        CHECK(dp.device == KAA_DEVICE_CPU && dp.gpu_index == 0 && !dp.release_host_weights);
        CHECK(kaa_cuda_device_count() >= 0);
        dp.device = 7;
        CHECK_ERR(kaa_model_load("x.gguf", &dp, &m), KAA_ERR_INVALID_ARGUMENT, "kaa_model_load");
        dp.device = KAA_DEVICE_CUDA;
        dp.gpu_index = -1;
        CHECK_ERR(kaa_model_load("x.gguf", &dp, &m), KAA_ERR_INVALID_ARGUMENT, "kaa_model_load");
        dp.gpu_index = 0;
        if (kaa_cuda_device_count() == 0)
            CHECK_ERR(kaa_model_load("/nonexistent/model.gguf", &dp, &m), KAA_ERR_UNSUPPORTED, "kaa_model_load");
    }

    /* kaa_*_params_init (what the inline kaa_*_default_params() call): an older, smaller
     * struct gets only the fields that fit, and the bytes after it are left alone; a
     * newer, bigger one gets zeros past the fields this library knows. */
    {
        struct {
            old_session_params p;
            unsigned char after[32];
        } older;
        memset(&older, 0xAB, sizeof older);
        CHECK_OK(kaa_session_params_init((kaa_session_params*)&older.p, sizeof older.p));
        CHECK(older.p.struct_size == sizeof(old_session_params) && older.p.n_threads == 0 && older.p.n_batch == 256);
        CHECK(older.after[0] == 0xAB && older.after[31] == 0xAB);
        struct {
            kaa_session_params p;
            unsigned char future[24];
        } newer;
        memset(&newer, 0xAB, sizeof newer);
        CHECK_OK(kaa_session_params_init(&newer.p, sizeof newer));
        CHECK(newer.p.struct_size == sizeof newer && newer.p.n_batch == 256);
        CHECK(newer.future[0] == 0 && newer.future[23] == 0);
        kaa_session_params sp = kaa_session_default_params();
        CHECK(sp.struct_size == sizeof sp && sp.max_tokens_per_call == newer.p.max_tokens_per_call);
        CHECK_ERR(kaa_session_params_init(NULL, sizeof sp), KAA_ERR_INVALID_ARGUMENT, "kaa_session_params_init");
        CHECK_ERR(kaa_session_params_init(&sp, 4), KAA_ERR_INVALID_ARGUMENT, "kaa_session_params_init");
        CHECK_ERR(kaa_model_params_init(&mp, 0), KAA_ERR_INVALID_ARGUMENT, "kaa_model_params_init");
        kaa_generate_params gp;
        CHECK_OK(kaa_generate_params_init(&gp, sizeof gp));
        CHECK(gp.max_tokens == 256 && gp.add_bos == -1 && gp.sampler == NULL);
        kaa_sampler_params smp;
        CHECK_OK(kaa_sampler_params_init(&smp, sizeof smp));
        CHECK(smp.struct_size == sizeof smp && smp.top_k == 40);
        kaa_chat_render_params rp;
        CHECK_OK(kaa_chat_render_params_init(&rp, sizeof rp));
        CHECK(rp.add_generation_prompt && rp.bos_token == NULL);
    }

    /* Chat templates need no model. */
    kaa_chat_template* t = NULL;
    const char* bad = "{% if %}";
    CHECK_ERR(kaa_chat_template_parse(bad, strlen(bad), &t), KAA_ERR_TEMPLATE, "kaa_chat_template_parse");
    CHECK(t == NULL);
    const char* raising = "{{ raise_exception('no system role here') }}";
    CHECK_OK(kaa_chat_template_parse(raising, strlen(raising), &t));
    kaa_chat_message msg = {"user", "hi"};
    char out[256];
    size_t len = 0;
    CHECK_ERR(kaa_chat_template_render(t, &msg, 1, NULL, out, sizeof out, &len), KAA_ERR_TEMPLATE,
              "kaa_chat_template_render");
    CHECK(strstr(kaa_last_error_message(), "no system role here") != NULL);
    kaa_chat_template_free(t);

    CHECK_OK(kaa_chat_template_chatml(&t));
    kaa_chat_message msgs[2] = {{"system", "Be brief."}, {"user", "Hi"}};
    CHECK_OK(kaa_chat_template_render(t, msgs, 2, NULL, NULL, 0, &len)); /* size query */
    const char* want = "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n";
    CHECK(len == strlen(want));
    CHECK_OK(kaa_chat_template_render(t, msgs, 2, NULL, out, sizeof out, &len));
    CHECK(strcmp(out, want) == 0);
    CHECK_ERR(kaa_chat_template_render(t, msgs, 2, NULL, out, 10, &len), KAA_ERR_BUFFER_TOO_SMALL,
              "kaa_chat_template_render");
    CHECK(len == strlen(want) && out[0] == '\0');
    CHECK_ERR(kaa_chat_template_render(t, msgs, 2, NULL, NULL, 10, &len), KAA_ERR_INVALID_ARGUMENT,
              "kaa_chat_template_render");
    CHECK_ERR(kaa_chat_template_render(t, msgs, 2, NULL, out, sizeof out, NULL), KAA_ERR_INVALID_ARGUMENT,
              "kaa_chat_template_render");
    kaa_chat_message null_content = {"user", NULL};
    CHECK_ERR(kaa_chat_template_render(t, &null_content, 1, NULL, out, sizeof out, &len),
              KAA_ERR_INVALID_ARGUMENT, "kaa_chat_template_render");
    kaa_chat_render_params rp = kaa_chat_render_default_params();
    rp.add_generation_prompt = false;
    CHECK_OK(kaa_chat_template_render(t, msgs, 2, &rp, out, sizeof out, &len));
    CHECK(strstr(out, "assistant") == NULL);
    rp.struct_size = 3;
    CHECK_ERR(kaa_chat_template_render(t, msgs, 2, &rp, out, sizeof out, &len), KAA_ERR_INVALID_ARGUMENT,
              "kaa_chat_template_render");
    kaa_chat_template_free(t);

    /* Samplers need only a vocabulary size. */
    kaa_sampler_params sp = kaa_sampler_default_params();
    sp.top_p = -1.0f;
    kaa_sampler* smp = NULL;
    CHECK_ERR(kaa_sampler_create(&sp, 8, &smp), KAA_ERR_INVALID_ARGUMENT, "kaa_sampler_create");
    sp = kaa_sampler_default_params();
    kaa_logit_bias bias = {99, 1.0f};
    sp.logit_bias = &bias;
    sp.n_logit_bias = 1;
    CHECK_ERR(kaa_sampler_create(&sp, 8, &smp), KAA_ERR_INVALID_TOKEN, "kaa_sampler_create");
    sp = kaa_sampler_default_params();
    sp.temperature = 0.0f;
    CHECK_OK(kaa_sampler_create(&sp, 4, &smp));
    const float logits[4] = {0.5f, 2.0f, -1.0f, 1.0f};
    kaa_token tok = -1;
    CHECK_OK(kaa_sampler_sample(smp, logits, 4, &tok));
    CHECK(tok == 1);
    CHECK_ERR(kaa_sampler_sample(smp, logits, 5, &tok), KAA_ERR_INVALID_ARGUMENT, "kaa_sampler_sample");
    CHECK_ERR(kaa_sampler_sample(smp, NULL, 4, &tok), KAA_ERR_INVALID_ARGUMENT, "kaa_sampler_sample");
    CHECK_ERR(kaa_sampler_accept(smp, 4), KAA_ERR_INVALID_TOKEN, "kaa_sampler_accept");
    CHECK_OK(kaa_sampler_accept(smp, 1));
    kaa_sampler_free(smp);

    /* Corrupt state blobs. */
    kaa_state* st = NULL;
    const unsigned char junk[64] = {'K', 'A', 'A', 'S', 'T', 'A', 'T', 'E', 1};
    CHECK_ERR(kaa_state_deserialize(junk, sizeof junk, &st), KAA_ERR_INVALID_STATE, "kaa_state_deserialize");
    CHECK_ERR(kaa_state_deserialize(junk, 0, &st), KAA_ERR_INVALID_STATE, "kaa_state_deserialize");
    CHECK_ERR(kaa_state_deserialize(NULL, 10, &st), KAA_ERR_INVALID_ARGUMENT, "kaa_state_deserialize");
    CHECK_ERR(kaa_state_load("/nonexistent/x.kaastate", &st), KAA_ERR_IO, "kaa_state_load");
    CHECK(st == NULL);
}

/* ---- the model flow --------------------------------------------------------------------- */

static int g_progress_calls = 0;
static bool on_progress(float f, void* user_data) {
    (void)user_data;
    CHECK(f >= 0.0f && f <= 1.0f);
    ++g_progress_calls;
    return true;
}
static bool cancel_progress(float f, void* user_data) {
    (void)f;
    (void)user_data;
    return false;
}

typedef struct {
    char text[4096];
    size_t len;
    int pieces;
    int stop_after; /* return false after this many pieces (0: never) */
} collector;

static bool collect(const char* piece, size_t length, void* user_data) {
    collector* c = (collector*)user_data;
    CHECK(piece[length] == '\0');
    if (c->len + length < sizeof c->text) {
        memcpy(c->text + c->len, piece, length);
        c->len += length;
        c->text[c->len] = '\0';
    }
    ++c->pieces;
    return c->stop_after == 0 || c->pieces < c->stop_after;
}

static int32_t argmax(const float* v, int32_t n) {
    int32_t best = 0;
    for (int32_t i = 1; i < n; ++i)
        if (v[i] > v[best]) best = i;
    return best;
}

static const kaa_token kHello[5] = {9856, 672, 362, 299, 42}; /* "Hello how are you?" */

static void test_model_flow(const char* path, const char* other_model_path) {
    /* The basic flow from the issue, as written. */
    kaa_model_params mp = kaa_model_default_params();
    mp.progress = on_progress;
    kaa_model *m = NULL; if (kaa_model_load(path, &mp, &m) != KAA_OK) puts(kaa_last_error_message());
    if (!m) {
        ++g_failures;
        return;
    }
    CHECK(g_progress_calls >= 2);

    /* Metadata. */
    kaa_hparams hp;
    hp.struct_size = sizeof hp;
    CHECK_OK(kaa_model_hparams(m, &hp));
    CHECK(hp.n_vocab == 65024 && hp.d_model == 64 && hp.n_layer == 2 && hp.d_inner == 128);
    CHECK(hp.d_state == 16 && hp.d_conv == 4 && hp.dt_rank == 4 && hp.dt_b_c_rms && !hp.tied_embeddings);
    CHECK(fabsf(hp.rms_eps - 1e-5f) < 1e-9f);
    int32_t n_vocab = 0;
    CHECK_OK(kaa_model_n_vocab(m, &n_vocab));
    CHECK(n_vocab == 65024);
    const char* s = NULL;
    CHECK_OK(kaa_model_architecture(m, &s));
    CHECK(strcmp(s, "mamba") == 0);
    CHECK_OK(kaa_model_name(m, &s));
    CHECK(strcmp(s, "tiny-falcon-mamba-q8_0") == 0);
    CHECK_OK(kaa_model_file_type(m, &s));
    CHECK(strcmp(s, "Q8_0") == 0);
    CHECK_OK(kaa_model_backend(m, &s));
    CHECK(strlen(s) > 0);
    CHECK_OK(kaa_model_chat_template(m, &s));
    CHECK(strstr(s, "<|im_start|>") != NULL);
    uint64_t state_size = 0, fp = 0;
    CHECK_OK(kaa_model_state_size(m, &state_size));
    CHECK(state_size == 2u * (128u * 3u + 128u * 16u) * 4u);
    CHECK_OK(kaa_model_fingerprint(m, &fp));
    char buf[512];
    size_t len = 0;
    CHECK_OK(kaa_model_meta(m, "general.architecture", buf, sizeof buf, &len));
    CHECK(strcmp(buf, "mamba") == 0 && len == 5);
    CHECK_ERR(kaa_model_meta(m, "no.such.key", buf, sizeof buf, &len), KAA_ERR_INVALID_ARGUMENT, "kaa_model_meta");
    size_t n_keys = 0;
    CHECK_OK(kaa_model_meta_count(m, &n_keys));
    CHECK(n_keys > 10);
    const char* key = NULL;
    CHECK_OK(kaa_model_meta_key(m, 0, &key));
    CHECK(key && strlen(key) > 0);
    CHECK_ERR(kaa_model_meta_key(m, n_keys, &key), KAA_ERR_INVALID_ARGUMENT, "kaa_model_meta_key");
    hp.struct_size = 8;
    CHECK_ERR(kaa_model_hparams(m, &hp), KAA_ERR_INVALID_ARGUMENT, "kaa_model_hparams");

    /* Tokenizer. */
    kaa_tokenizer* tk = NULL;
    CHECK_OK(kaa_tokenizer_from_model(m, &tk));
    const char* hello = "Hello how are you?";
    kaa_token ids[64];
    size_t n_ids = 0;
    CHECK_OK(kaa_tokenize(tk, hello, strlen(hello), 0, NULL, 0, &n_ids));
    CHECK(n_ids == 5);
    CHECK_ERR(kaa_tokenize(tk, hello, strlen(hello), 0, ids, 3, &n_ids), KAA_ERR_BUFFER_TOO_SMALL, "kaa_tokenize");
    CHECK(n_ids == 5);
    CHECK_OK(kaa_tokenize(tk, hello, strlen(hello), 0, ids, 64, &n_ids));
    CHECK(n_ids == 5 && memcmp(ids, kHello, sizeof kHello) == 0);
    CHECK_ERR(kaa_tokenize(tk, hello, strlen(hello), 0x80, ids, 64, &n_ids), KAA_ERR_INVALID_ARGUMENT, "kaa_tokenize");
    CHECK_ERR(kaa_tokenize(tk, NULL, 3, 0, ids, 64, &n_ids), KAA_ERR_INVALID_ARGUMENT, "kaa_tokenize");
    CHECK_ERR(kaa_tokenize(NULL, hello, 3, 0, ids, 64, &n_ids), KAA_ERR_INVALID_ARGUMENT, "kaa_tokenize");
    kaa_special_tokens sp;
    sp.struct_size = sizeof sp;
    CHECK_OK(kaa_tokenizer_special_tokens(tk, &sp));
    CHECK(sp.eos == 11 && !sp.add_bos);
    CHECK_OK(kaa_tokenize(tk, hello, strlen(hello), KAA_TOKENIZE_ADD_BOS, ids, 64, &n_ids));
    CHECK(n_ids == 6 && ids[0] == sp.bos);
    bool eog = false;
    CHECK_OK(kaa_tokenizer_is_end_of_generation(tk, sp.eos, &eog));
    CHECK(eog);
    CHECK_ERR(kaa_tokenizer_is_end_of_generation(tk, -3, &eog), KAA_ERR_INVALID_TOKEN,
              "kaa_tokenizer_is_end_of_generation");
    CHECK_OK(kaa_detokenize(tk, kHello, 5, 0, buf, sizeof buf, &len));
    CHECK(len == strlen(hello) && strcmp(buf, hello) == 0);
    CHECK_ERR(kaa_detokenize(tk, kHello, 5, 0, buf, len, &len), KAA_ERR_BUFFER_TOO_SMALL, "kaa_detokenize");
    CHECK(buf[0] == '\0' && len == strlen(hello));
    const kaa_token bad_ids[2] = {9856, 65024};
    CHECK_ERR(kaa_detokenize(tk, bad_ids, 2, 0, buf, sizeof buf, &len), KAA_ERR_INVALID_TOKEN, "kaa_detokenize");
    CHECK_OK(kaa_token_to_piece(tk, 9856, 0, buf, sizeof buf, &len));
    CHECK(strcmp(buf, "Hello") == 0);
    CHECK_ERR(kaa_token_to_piece(tk, -1, 0, buf, sizeof buf, &len), KAA_ERR_INVALID_TOKEN, "kaa_token_to_piece");

    /* Stream decoding: a size query or a too-small buffer does not consume the token. */
    const char* uni = "caf\xc3\xa9 \xe6\x9d\xb1\xe4\xba\xac";
    kaa_token uni_ids[32];
    size_t n_uni = 0;
    CHECK_OK(kaa_tokenize(tk, uni, strlen(uni), 0, uni_ids, 32, &n_uni));
    kaa_stream_decoder* dec = NULL;
    CHECK_OK(kaa_stream_decoder_create(tk, 0, &dec));
    char joined[128] = "";
    for (size_t i = 0; i < n_uni; ++i) {
        size_t need = 0;
        CHECK_OK(kaa_stream_decoder_push(dec, uni_ids[i], NULL, 0, &need));
        if (need > 0) CHECK_ERR(kaa_stream_decoder_push(dec, uni_ids[i], buf, need, &len), KAA_ERR_BUFFER_TOO_SMALL,
                                "kaa_stream_decoder_push");
        CHECK_OK(kaa_stream_decoder_push(dec, uni_ids[i], buf, sizeof buf, &len));
        CHECK(len == need);
        strcat(joined, buf);
    }
    CHECK_OK(kaa_stream_decoder_flush(dec, buf, sizeof buf, &len));
    strcat(joined, buf);
    CHECK(strcmp(joined, uni) == 0);
    kaa_stream_decoder_free(dec);

    /* The model's chat template. */
    kaa_chat_template* tmpl = NULL;
    CHECK_OK(kaa_chat_template_from_model(m, &tmpl));
    kaa_chat_message msgs[1] = {{"user", "Hi"}};
    CHECK_OK(kaa_chat_template_render(tmpl, msgs, 1, NULL, buf, sizeof buf, &len));
    CHECK(strstr(buf, "<|im_start|>user\nHi<|im_end|>\n") == buf);

    /* Eval: the golden's top logit after the prompt (0.1: the CPU backend may quantize
     * activations for Q8_0). */
    kaa_session_params sprm = kaa_session_default_params();
    sprm.n_threads = 2;
    kaa_session* sess = NULL;
    CHECK_OK(kaa_session_create(m, &sprm, &sess));
    const float* lg = NULL;
    size_t n_floats = 99;
    CHECK_OK(kaa_session_logits(sess, &lg, &n_floats));
    CHECK(n_floats == 0);
    CHECK_OK(kaa_session_eval(sess, kHello, 5, 0));
    CHECK_OK(kaa_session_logits(sess, &lg, &n_floats));
    CHECK(n_floats == 65024);
    CHECK(argmax(lg, 65024) == 21905);
    CHECK(fabsf(lg[21905] - 4.56912f) < 0.1f);
    int64_t pos = 0;
    CHECK_OK(kaa_session_position(sess, &pos));
    CHECK(pos == 5);
    float* copy = (float*)malloc(65024 * 5 * sizeof(float));
    CHECK_OK(kaa_session_copy_logits(sess, copy, 65024, &n_floats));
    CHECK(memcmp(copy, lg, 65024 * sizeof(float)) == 0);
    CHECK_ERR(kaa_session_copy_logits(sess, copy, 100, &n_floats), KAA_ERR_BUFFER_TOO_SMALL,
              "kaa_session_copy_logits");
    CHECK(n_floats == 65024);

    /* Misuse of eval: bad ids leave the state alone. */
    const kaa_token oob[2] = {42, 65024};
    CHECK_ERR(kaa_session_eval(sess, oob, 2, 0), KAA_ERR_INVALID_TOKEN, "kaa_session_eval");
    const kaa_token neg = -1;
    CHECK_ERR(kaa_session_eval(sess, &neg, 1, 0), KAA_ERR_INVALID_TOKEN, "kaa_session_eval");
    CHECK_ERR(kaa_session_eval(sess, kHello, 0, 0), KAA_ERR_INVALID_ARGUMENT, "kaa_session_eval");
    CHECK_ERR(kaa_session_eval(sess, kHello, 1, 0x10), KAA_ERR_INVALID_ARGUMENT, "kaa_session_eval");
    CHECK_OK(kaa_session_position(sess, &pos));
    CHECK(pos == 5);

    /* All logits: the last row is the last-token logits. */
    kaa_session* all = NULL;
    CHECK_OK(kaa_session_create(m, &sprm, &all));
    CHECK_OK(kaa_session_eval(all, kHello, 5, KAA_EVAL_ALL_LOGITS));
    CHECK_OK(kaa_session_copy_logits(all, copy, 65024 * 5, &n_floats));
    CHECK(n_floats == 65024 * 5);
    CHECK(fabsf(copy[4 * 65024 + 21905] - lg[21905]) < 1e-4f);

    /* State: snapshot, serialize, restore elsewhere, continue identically. */
    kaa_state* st = NULL;
    CHECK_OK(kaa_session_get_state(sess, &st));
    int64_t st_pos = 0;
    CHECK_OK(kaa_state_position(st, &st_pos));
    CHECK(st_pos == 5);
    CHECK_OK(kaa_state_set_user_data(st, "chat:1", 6));
    size_t blob_size = 0;
    CHECK_OK(kaa_state_serialize(st, NULL, 0, &blob_size));
    CHECK(blob_size > state_size);
    uint8_t* blob = (uint8_t*)malloc(blob_size);
    CHECK_ERR(kaa_state_serialize(st, blob, blob_size - 1, &len), KAA_ERR_BUFFER_TOO_SMALL, "kaa_state_serialize");
    CHECK_OK(kaa_state_serialize(st, blob, blob_size, &len));
    kaa_state* st2 = NULL;
    CHECK_OK(kaa_state_deserialize(blob, blob_size, &st2));
    const void* ud = NULL;
    size_t ud_size = 0;
    CHECK_OK(kaa_state_user_data(st2, &ud, &ud_size));
    CHECK(ud_size == 6 && memcmp(ud, "chat:1", 6) == 0);
    blob[blob_size / 2] ^= 0x40; /* corrupt a payload byte: the checksum catches it */
    kaa_state* bad_state = NULL;
    CHECK_ERR(kaa_state_deserialize(blob, blob_size, &bad_state), KAA_ERR_INVALID_STATE, "kaa_state_deserialize");
    blob[blob_size / 2] ^= 0x40;
    CHECK_ERR(kaa_state_deserialize(blob, blob_size - 9, &bad_state), KAA_ERR_INVALID_STATE, "kaa_state_deserialize");
    CHECK(bad_state == NULL);
    char state_path[512];
    const char* tmp = getenv("TMPDIR");
    snprintf(state_path, sizeof state_path, "%s/test_c_api.%ld.kaastate", tmp && *tmp ? tmp : "/tmp", (long)getpid());
    CHECK_OK(kaa_state_save(st2, state_path));
    kaa_state* st3 = NULL;
    CHECK_OK(kaa_state_load(state_path, &st3));
    remove(state_path);

    const kaa_token next = 21905;
    CHECK_OK(kaa_session_eval(sess, &next, 1, 0));
    CHECK_OK(kaa_session_copy_logits(sess, copy, 65024, &n_floats));
    kaa_session* restored = NULL;
    CHECK_OK(kaa_session_create(m, &sprm, &restored));
    CHECK_OK(kaa_session_set_state(restored, st3));
    CHECK_OK(kaa_session_position(restored, &pos));
    CHECK(pos == 5);
    CHECK_OK(kaa_session_eval(restored, &next, 1, 0));
    CHECK_OK(kaa_session_logits(restored, &lg, &n_floats));
    CHECK(n_floats == 65024 && memcmp(lg, copy, 65024 * sizeof(float)) == 0);

    /* A state of another model is refused. */
    if (other_model_path) {
        kaa_model* other = NULL;
        CHECK_OK(kaa_model_load(other_model_path, NULL, &other));
        kaa_session* os = NULL;
        if (other) CHECK_OK(kaa_session_create(other, NULL, &os));
        if (os) CHECK_ERR(kaa_session_set_state(os, st), KAA_ERR_STATE_MISMATCH, "kaa_session_set_state");
        /* Sessions of different models cannot be batched. */
        if (os) {
            kaa_session* pair[2] = {sess, os};
            const kaa_token* toks[2] = {&next, &next};
            const size_t counts[2] = {1, 1};
            CHECK_ERR(kaa_eval_batch(pair, toks, counts, 2), KAA_ERR_INVALID_ARGUMENT, "kaa_eval_batch");
        }
        kaa_session_free(os);
        kaa_model_free(other);
    }

    /* Fork: independent copies. */
    kaa_session* fork = NULL;
    CHECK_OK(kaa_session_fork(restored, &fork));
    CHECK_OK(kaa_session_eval(restored, kHello, 2, 0));
    CHECK_OK(kaa_session_position(fork, &pos));
    CHECK(pos == 6);
    CHECK_OK(kaa_session_eval(fork, kHello, 2, 0));
    CHECK_OK(kaa_session_copy_logits(fork, copy, 65024, &n_floats));
    CHECK_OK(kaa_session_logits(restored, &lg, &n_floats));
    CHECK(memcmp(lg, copy, 65024 * sizeof(float)) == 0);

    /* Batch evaluation equals separate evaluation. */
    CHECK_OK(kaa_session_reset(sess));
    CHECK_OK(kaa_session_reset(all));
    {
        kaa_session* pair[2] = {sess, all};
        const kaa_token* toks[2] = {kHello, kHello + 2};
        const size_t counts[2] = {5, 3};
        CHECK_OK(kaa_eval_batch(pair, toks, counts, 2));
        CHECK_OK(kaa_session_logits(sess, &lg, &n_floats));
        CHECK(argmax(lg, 65024) == 21905);
        CHECK_OK(kaa_session_copy_logits(all, copy, 65024, &n_floats));
        CHECK_OK(kaa_session_reset(restored));
        CHECK_OK(kaa_session_eval(restored, kHello + 2, 3, 0));
        CHECK_OK(kaa_session_logits(restored, &lg, &n_floats));
        CHECK(memcmp(lg, copy, 65024 * sizeof(float)) == 0);
        kaa_session* twice[2] = {sess, sess};
        CHECK_ERR(kaa_eval_batch(twice, toks, counts, 2), KAA_ERR_INVALID_ARGUMENT, "kaa_eval_batch");
        const kaa_token* bad_toks[2] = {kHello, oob};
        const size_t bad_counts[2] = {5, 2};
        CHECK_ERR(kaa_eval_batch(pair, bad_toks, bad_counts, 2), KAA_ERR_INVALID_TOKEN, "kaa_eval_batch");
        const size_t zero_counts[2] = {5, 0};
        CHECK_ERR(kaa_eval_batch(pair, toks, zero_counts, 2), KAA_ERR_INVALID_ARGUMENT, "kaa_eval_batch");
        kaa_session* with_null[2] = {sess, NULL};
        CHECK_ERR(kaa_eval_batch(with_null, toks, counts, 2), KAA_ERR_INVALID_ARGUMENT, "kaa_eval_batch");
    }

    /* Greedy generation equals a hand-written eval + argmax loop. */
    kaa_sampler_params greedy = kaa_sampler_default_params();
    greedy.temperature = 0.0f;
    kaa_generate_params gp = kaa_generate_default_params();
    gp.max_tokens = 8;
    gp.sampler = &greedy;
    gp.ignore_eos = true;
    collector col;
    memset(&col, 0, sizeof col);
    gp.on_text = collect;
    gp.user_data = &col;
    kaa_session* gen = NULL;
    CHECK_OK(kaa_session_create(m, &sprm, &gen));
    kaa_generation* res = NULL;
    CHECK_OK(kaa_session_generate(gen, hello, &gp, &res));
    const char* text = NULL;
    size_t text_len = 0;
    const kaa_token* gen_ids = NULL;
    size_t n_gen = 0;
    kaa_stop_reason why = KAA_STOP_CALLBACK;
    CHECK_OK(kaa_generation_text(res, &text, &text_len));
    CHECK_OK(kaa_generation_tokens(res, &gen_ids, &n_gen));
    CHECK_OK(kaa_generation_stop_reason(res, &why));
    CHECK(n_gen == 8 && why == KAA_STOP_MAX_TOKENS);
    CHECK(text_len == col.len && strcmp(text, col.text) == 0);
    kaa_generation_timings tm;
    tm.struct_size = sizeof tm;
    CHECK_OK(kaa_generation_timings_get(res, &tm));
    CHECK(tm.n_prompt == 5 && tm.n_generated == 8);
    CHECK_OK(kaa_session_reset(sess));
    CHECK_OK(kaa_session_eval(sess, kHello, 5, 0));
    for (size_t i = 0; i < n_gen; ++i) {
        CHECK_OK(kaa_session_logits(sess, &lg, &n_floats));
        const kaa_token t = argmax(lg, 65024);
        CHECK(t == gen_ids[i]);
        CHECK_OK(kaa_session_eval(sess, &t, 1, 0));
    }
    CHECK_OK(kaa_session_position(gen, &pos));
    CHECK(pos == 13);

    /* The callback stops generation; the session stays usable. */
    kaa_session* stopper = NULL;
    CHECK_OK(kaa_session_create(m, &sprm, &stopper));
    memset(&col, 0, sizeof col);
    col.stop_after = 1;
    kaa_generation* res2 = NULL;
    CHECK_OK(kaa_session_generate(stopper, hello, &gp, &res2));
    CHECK_OK(kaa_generation_stop_reason(res2, &why));
    CHECK(why == KAA_STOP_CALLBACK && col.pieces == 1);
    CHECK_OK(kaa_session_eval(stopper, kHello, 1, 0));
    kaa_generation_free(res2);

    /* A stop string cuts the text before it. */
    if (text_len > 4) {
        char stop_str[8];
        memcpy(stop_str, text + text_len - 3, 3);
        stop_str[3] = '\0';
        const char* stops[1] = {stop_str};
        kaa_generate_params gs = gp;
        gs.on_text = NULL;
        gs.stop = stops;
        gs.n_stop = 1;
        CHECK_OK(kaa_session_reset(stopper));
        CHECK_OK(kaa_session_generate(stopper, hello, &gs, &res2));
        const char* t2 = NULL;
        size_t l2 = 0;
        CHECK_OK(kaa_generation_text(res2, &t2, &l2));
        CHECK_OK(kaa_generation_stop_reason(res2, &why));
        CHECK(why == KAA_STOP_STOP_STRING);
        CHECK(strstr(text, stop_str) == text + l2 && strncmp(t2, text, l2) == 0);
        kaa_generation_free(res2);
    }
    kaa_generation_free(res);

    /* Generation misuse. */
    kaa_generate_params badg = kaa_generate_default_params();
    badg.add_bos = 5;
    CHECK_ERR(kaa_session_generate(gen, "x", &badg, NULL), KAA_ERR_INVALID_ARGUMENT, "kaa_session_generate");
    badg = kaa_generate_default_params();
    badg.max_tokens = -1;
    CHECK_ERR(kaa_session_generate(gen, "x", &badg, NULL), KAA_ERR_INVALID_ARGUMENT, "kaa_session_generate");
    badg = kaa_generate_default_params();
    badg.n_stop = 2;
    CHECK_ERR(kaa_session_generate(gen, "x", &badg, NULL), KAA_ERR_INVALID_ARGUMENT, "kaa_session_generate");
    badg = kaa_generate_default_params();
    badg.struct_size = 8;
    CHECK_ERR(kaa_session_generate(gen, "x", &badg, NULL), KAA_ERR_INVALID_ARGUMENT, "kaa_session_generate");
    CHECK_ERR(kaa_session_generate(gen, NULL, NULL, NULL), KAA_ERR_INVALID_ARGUMENT, "kaa_session_generate");
    CHECK_ERR(kaa_session_generate_tokens(gen, oob, 2, NULL, NULL), KAA_ERR_INVALID_TOKEN,
              "kaa_session_generate_tokens");

    /* Generation from token ids with a newer (bigger) params struct: extra fields ignored. */
    struct {
        kaa_generate_params p;
        uint64_t future_field;
    } newer;
    newer.p = gp;
    newer.p.on_text = NULL;
    newer.p.max_tokens = 3;
    newer.p.struct_size = sizeof newer;
    newer.future_field = 7;
    CHECK_OK(kaa_session_reset(gen));
    CHECK_OK(kaa_session_generate_tokens(gen, kHello, 5, &newer.p, &res));
    CHECK_OK(kaa_generation_tokens(res, &gen_ids, &n_gen));
    CHECK(n_gen == 3);
    kaa_generation_free(res);

    /* Conversation. */
    kaa_session* chat = NULL;
    CHECK_OK(kaa_session_create(m, &sprm, &chat));
    kaa_conversation* conv = NULL;
    CHECK_OK(kaa_conversation_create(chat, NULL, &conv));
    CHECK_OK(kaa_conversation_add(conv, "system", "You are terse."));
    gp.on_text = NULL;
    gp.max_tokens = 6;
    CHECK_OK(kaa_conversation_reply(conv, "Hi", &gp, NULL));
    size_t n_msgs = 0;
    CHECK_OK(kaa_conversation_n_messages(conv, &n_msgs));
    CHECK(n_msgs == 3);
    const char* role = NULL;
    const char* content = NULL;
    CHECK_OK(kaa_conversation_message(conv, 2, &role, &content));
    CHECK(strcmp(role, "assistant") == 0 && content != NULL);
    CHECK_ERR(kaa_conversation_message(conv, 3, &role, &content), KAA_ERR_INVALID_ARGUMENT, "kaa_conversation_message");
    size_t conv_len = 0;
    CHECK_OK(kaa_conversation_serialize(conv, NULL, 0, &conv_len));
    char* conv_blob = (char*)malloc(conv_len + 1);
    CHECK_OK(kaa_conversation_serialize(conv, conv_blob, conv_len + 1, &conv_len));
    kaa_conversation* conv2 = NULL;
    CHECK_OK(kaa_conversation_create(restored, tmpl, &conv2));
    CHECK_OK(kaa_conversation_restore(conv2, conv_blob, conv_len));
    CHECK_OK(kaa_conversation_n_messages(conv2, &n_msgs));
    CHECK(n_msgs == 3);
    CHECK_ERR(kaa_conversation_restore(conv2, "junk", 4), KAA_ERR_INVALID_STATE, "kaa_conversation_restore");
    CHECK_ERR(kaa_conversation_add(conv2, NULL, "x"), KAA_ERR_INVALID_ARGUMENT, "kaa_conversation_add");
    free(conv_blob);
    kaa_conversation_free(conv2);
    kaa_conversation_free(conv);

    /* Sampler over real logits: seeded runs reproduce, copies continue the same stream. */
    kaa_sampler_params sprm2 = kaa_sampler_default_params();
    sprm2.seed = 1234;
    sprm2.temperature = 1.5f;
    kaa_sampler* s1 = NULL;
    kaa_sampler* s2 = NULL;
    CHECK_OK(kaa_sampler_create(&sprm2, n_vocab, &s1));
    CHECK_OK(kaa_session_logits(fork, &lg, &n_floats));
    kaa_token a[4], b[4];
    for (int i = 0; i < 2; ++i) {
        CHECK_OK(kaa_sampler_sample(s1, lg, n_vocab, &a[i]));
        CHECK_OK(kaa_sampler_accept(s1, a[i]));
    }
    CHECK_OK(kaa_sampler_copy(s1, &s2));
    for (int i = 2; i < 4; ++i) {
        CHECK_OK(kaa_sampler_sample(s1, lg, n_vocab, &a[i]));
        CHECK_OK(kaa_sampler_sample(s2, lg, n_vocab, &b[i]));
        CHECK(a[i] == b[i]);
    }
    CHECK_OK(kaa_sampler_reset(s2));
    CHECK_OK(kaa_sampler_sample(s2, lg, n_vocab, &b[0]));
    CHECK(b[0] == a[0]);
    uint64_t seed = 0;
    CHECK_OK(kaa_sampler_seed(s2, &seed));
    CHECK(seed == 1234);
    kaa_sampler_free(s1);
    kaa_sampler_free(s2);

    /* Exact precision: logits within 1e-3 of the float64 golden; a bad value is refused. */
    {
        kaa_model_params ep = kaa_model_default_params();
        CHECK(ep.precision == KAA_PRECISION_FAST);
        ep.precision = 7;
        kaa_model* em = NULL;
        CHECK_ERR(kaa_model_load(path, &ep, &em), KAA_ERR_INVALID_ARGUMENT, "kaa_model_load");
        ep.precision = KAA_PRECISION_EXACT;
        CHECK_OK(kaa_model_load(path, &ep, &em));
        kaa_session* es = NULL;
        if (em) CHECK_OK(kaa_session_create(em, NULL, &es));
        if (es) {
            CHECK_OK(kaa_session_eval(es, kHello, 5, 0));
            CHECK_OK(kaa_session_logits(es, &lg, &n_floats));
            CHECK(fabsf(lg[21905] - 4.56912f) < 1e-3f);
        }
        kaa_session_free(es);
        kaa_model_free(em);
    }

    /* Loading: cancel through the progress callback. */
    kaa_model* m2 = NULL;
    mp.progress = cancel_progress;
    CHECK_ERR(kaa_model_load(path, &mp, &m2), KAA_ERR_CANCELLED, "kaa_model_load");
    CHECK(m2 == NULL);

    /* The model may be freed before what was made from it. */
    kaa_model_free(m);
    CHECK_OK(kaa_session_eval(fork, kHello, 1, 0));
    CHECK_OK(kaa_tokenize(tk, hello, strlen(hello), 0, ids, 64, &n_ids));

    free(copy);
    free(blob);
    kaa_chat_template_free(tmpl);
    kaa_tokenizer_free(tk);
    kaa_state_free(st);
    kaa_state_free(st2);
    kaa_state_free(st3);
    kaa_session_free(sess);
    kaa_session_free(all);
    kaa_session_free(restored);
    kaa_session_free(fork);
    kaa_session_free(gen);
    kaa_session_free(stopper);
    kaa_session_free(chat);
}

/* ---- limits, and params structs from an older kaa.h ----------------------------------- */


static void test_limits(const char* path) {
    /* max_metadata_bytes: the tiny Falcon-Mamba's header (its 65k-token vocabulary) is
     * about 2.2 MB, so a 1 MB limit refuses the file and names the limit. */
    kaa_model_params mp = kaa_model_default_params();
    CHECK(mp.max_metadata_bytes == 256u * 1024u * 1024u);
    mp.max_metadata_bytes = 1u << 20;
    kaa_model* m = NULL;
    CHECK_ERR(kaa_model_load(path, &mp, &m), KAA_ERR_UNSUPPORTED, "kaa_model_load");
    CHECK(strstr(kaa_last_error_message(), "max_metadata_bytes") != NULL);
    mp.max_metadata_bytes = 0;
    CHECK_ERR(kaa_model_load(path, &mp, &m), KAA_ERR_INVALID_ARGUMENT, "kaa_model_load");
    CHECK(strstr(kaa_last_error_message(), "max_metadata_bytes") != NULL);
    /* The same limit in the bytes after an older struct's end is not read. */
    struct {
        old_model_params p;
        uint64_t beyond; /* where max_metadata_bytes would be */
    } old_mp;
    memset(&old_mp, 0, sizeof old_mp);
    old_mp.p.struct_size = sizeof(old_model_params);
    old_mp.p.use_mmap = true;
    old_mp.p.precision = KAA_PRECISION_FAST;
    old_mp.beyond = 1;
    CHECK(offsetof(kaa_model_params, max_metadata_bytes) >= sizeof(old_model_params));
    CHECK_OK(kaa_model_load(path, (const kaa_model_params*)&old_mp.p, &m));
    if (!m) return;

    /* max_tokens_per_call and max_generation_tokens. */
    kaa_session_params sp = kaa_session_default_params();
    CHECK(sp.max_tokens_per_call == (int64_t)1 << 20 && sp.max_generation_tokens == 1 << 24);
    sp.max_tokens_per_call = 3;
    sp.max_generation_tokens = 4;
    kaa_session* s = NULL;
    CHECK_OK(kaa_session_create(m, &sp, &s));
    if (s) {
        int64_t pos = -1;
        CHECK_ERR(kaa_session_eval(s, kHello, 4, 0), KAA_ERR_INVALID_ARGUMENT, "kaa_session_eval");
        CHECK(strstr(kaa_last_error_message(), "max_tokens_per_call (3)") != NULL);
        CHECK_OK(kaa_session_position(s, &pos));
        CHECK(pos == 0);
        CHECK_OK(kaa_session_eval(s, kHello, 3, 0));
        kaa_session* batch[1] = {s};
        const kaa_token* toks[1] = {kHello};
        const size_t four[1] = {4};
        CHECK_ERR(kaa_eval_batch(batch, toks, four, 1), KAA_ERR_INVALID_ARGUMENT, "kaa_eval_batch");
        CHECK_ERR(kaa_session_generate_tokens(s, kHello, 5, NULL, NULL), KAA_ERR_INVALID_ARGUMENT,
                  "kaa_session_generate_tokens");
        CHECK_ERR(kaa_session_generate(s, "Hello how are you?", NULL, NULL), KAA_ERR_INVALID_ARGUMENT,
                  "kaa_session_generate"); /* 5 tokens */
        kaa_generate_params gp = kaa_generate_default_params(); /* max_tokens 256 > 4 */
        CHECK_ERR(kaa_session_generate(s, "", &gp, NULL), KAA_ERR_INVALID_ARGUMENT, "kaa_session_generate");
        CHECK(strstr(kaa_last_error_message(), "max_generation_tokens (4)") != NULL);
        CHECK_OK(kaa_session_position(s, &pos));
        CHECK(pos == 3); /* nothing was evaluated by the refused calls */
        gp.max_tokens = 4;
        gp.ignore_eos = true;
        kaa_generation* g = NULL;
        CHECK_OK(kaa_session_generate(s, "", &gp, &g));
        const kaa_token* ids = NULL;
        size_t n_ids = 0;
        CHECK_OK(kaa_generation_tokens(g, &ids, &n_ids));
        CHECK(n_ids == 4);
        kaa_generation_free(g);
    }
    kaa_session_free(s);
    s = NULL;
    sp = kaa_session_default_params();
    sp.max_tokens_per_call = 0;
    CHECK_ERR(kaa_session_create(m, &sp, &s), KAA_ERR_INVALID_ARGUMENT, "kaa_session_create");
    sp = kaa_session_default_params();
    sp.max_generation_tokens = -1;
    CHECK_ERR(kaa_session_create(m, &sp, &s), KAA_ERR_INVALID_ARGUMENT, "kaa_session_create");

    /* An older kaa_session_params: the limits are the defaults whatever lies beyond it. */
    struct {
        old_session_params p;
        unsigned char beyond[32]; /* where the new fields would be */
    } old_sp;
    memset(&old_sp, 0, sizeof old_sp); /* 0 is an invalid value of both new fields */
    old_sp.p.struct_size = sizeof(old_session_params);
    old_sp.p.n_threads = 1;
    old_sp.p.n_batch = 2;
    CHECK(offsetof(kaa_session_params, max_tokens_per_call) >= sizeof(old_session_params));
    CHECK_OK(kaa_session_create(m, (const kaa_session_params*)&old_sp.p, &s));
    if (s) {
        CHECK_OK(kaa_session_eval(s, kHello, 5, 0));
        kaa_generate_params gp = kaa_generate_default_params();
        gp.max_tokens = 2;
        CHECK_OK(kaa_session_generate(s, "", &gp, NULL));
    }
    kaa_session_free(s);
    s = NULL;
    /* A struct_size ending after max_tokens_per_call but before max_generation_tokens:
     * the first is read, the second is its default. */
    sp = kaa_session_default_params();
    sp.max_tokens_per_call = 2;
    sp.max_generation_tokens = 0; /* outside struct_size: must not be read */
    sp.struct_size = (uint32_t)offsetof(kaa_session_params, max_generation_tokens);
    CHECK_OK(kaa_session_create(m, &sp, &s));
    if (s) {
        CHECK_ERR(kaa_session_eval(s, kHello, 3, 0), KAA_ERR_INVALID_ARGUMENT, "kaa_session_eval");
        kaa_generate_params gp = kaa_generate_default_params();
        gp.max_tokens = 2;
        CHECK_OK(kaa_session_generate_tokens(s, kHello, 2, &gp, NULL));
    }
    kaa_session_free(s);
    kaa_model_free(m);
}

static bool file_exists(const char* p) {
    FILE* f = fopen(p, "rb");
    if (!f) return false;
    fclose(f);
    return true;
}

int main(int argc, char** argv) {
    CHECK_OK(kaa_set_log_callback(on_log, NULL));
    test_without_model();
    CHECK(g_logged_errors > 10);

    const char* dir = argc > 1 ? argv[1] : getenv("KAA_SHARED_DIR");
    char path[4096] = "", other[4096] = "", junk[4096] = "";
    if (dir && *dir) {
        snprintf(path, sizeof path, "%s/models/tiny-falcon-mamba-q8_0.gguf", dir);
        snprintf(other, sizeof other, "%s/models/tiny-mamba-q8_0.gguf", dir);
        snprintf(junk, sizeof junk, "%s/models/falcon-vocab-only.gguf", dir);
    }
    if (!*path || !file_exists(path)) {
        if (g_failures) {
            fprintf(stderr, "%d check(s) failed\n", g_failures);
            return 1;
        }
        printf("KAA_SKIP: %s not found (pass the shared folder as argv[1] or KAA_SHARED_DIR)\n",
               *path ? path : "the shared test models");
        return 0;
    }
    test_model_flow(path, file_exists(other) ? other : NULL);
    test_limits(path);
    if (file_exists(junk)) {
        kaa_model* m = NULL;
        CHECK_ERR(kaa_model_load(junk, NULL, &m), KAA_ERR_UNSUPPORTED, "kaa_model_load"); /* arch "falcon" */
        kaa_tokenizer* t = NULL; /* ... but it has a tokenizer */
        CHECK_OK(kaa_tokenizer_load(junk, &t));
        kaa_tokenizer_free(t);
    }
    CHECK_OK(kaa_set_log_callback(NULL, NULL));

    if (g_failures) {
        fprintf(stderr, "%d check(s) failed\n", g_failures);
        return 1;
    }
    printf("test_c_api: all checks passed\n");
    return 0;
}
