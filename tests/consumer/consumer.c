/* consumer.c — a C program built against an installed kaa (scripts/consumer-check.sh).
 *
 * Usage: kaa-consumer-c MODEL.gguf
 * Loads the model with exact precision, tokenizes a fixed prompt, evaluates it and
 * decodes 8 tokens greedily with an argmax loop over the logits. consumer.cpp prints the
 * same lines through the C++ API; the script compares both with the shared goldens. */
#include <kaa/kaa.h>

#include <stdio.h>
#include <string.h>

#define N_NEW 8

static const char* const kPrompt = "Hello how are you?";

static int fail(const char* what, kaa_status st) {
    fprintf(stderr, "%s failed: %s: %s\n", what, kaa_status_name(st), kaa_last_error_message());
    return 1;
}

static kaa_token argmax(const float* logits, size_t n) {
    size_t best = 0;
    for (size_t i = 1; i < n; ++i)
        if (logits[i] > logits[best]) best = i;
    return (kaa_token)best;
}

int main(int argc, char** argv) {
    kaa_model_params mp = kaa_model_default_params();
    kaa_model* model = NULL;
    kaa_tokenizer* tok = NULL;
    kaa_session* session = NULL;
    kaa_token prompt[64];
    kaa_token out[N_NEW];
    char text[512];
    const float* logits = NULL;
    size_t n_prompt = 0, n_floats = 0, len = 0, i;
    int32_t n_vocab = 0;
    kaa_status st;
    int rc = 1;

    if (argc != 2) {
        fprintf(stderr, "usage: %s MODEL.gguf\n", argv[0]);
        return 2;
    }
    /* The header this program was compiled with against the library it runs with. */
    if (kaa_version_number() != KAA_VERSION_NUMBER) {
        fprintf(stderr, "built with kaa.h %d.%d.%d but running libkaa %s\n", KAA_VERSION_MAJOR,
                KAA_VERSION_MINOR, KAA_VERSION_PATCH, kaa_version_string());
        return 1;
    }

    mp.n_threads = 2;
    mp.precision = KAA_PRECISION_EXACT;  /* logits within 1e-3 of the goldens */
    if ((st = kaa_model_load(argv[1], &mp, &model)) != KAA_OK) return fail("kaa_model_load", st);
    if ((st = kaa_tokenizer_from_model(model, &tok)) != KAA_OK) { fail("kaa_tokenizer_from_model", st); goto done; }
    if ((st = kaa_model_n_vocab(model, &n_vocab)) != KAA_OK) { fail("kaa_model_n_vocab", st); goto done; }
    printf("n_vocab: %d\n", (int)n_vocab);

    st = kaa_tokenize(tok, kPrompt, strlen(kPrompt), 0, prompt, sizeof prompt / sizeof prompt[0], &n_prompt);
    if (st != KAA_OK) { fail("kaa_tokenize", st); goto done; }
    printf("tokens:");
    for (i = 0; i < n_prompt; ++i) printf(" %d", (int)prompt[i]);
    printf("\n");

    if ((st = kaa_session_create(model, NULL, &session)) != KAA_OK) { fail("kaa_session_create", st); goto done; }
    if ((st = kaa_session_eval(session, prompt, n_prompt, 0)) != KAA_OK) { fail("kaa_session_eval", st); goto done; }
    for (i = 0; i < N_NEW; ++i) {
        if ((st = kaa_session_logits(session, &logits, &n_floats)) != KAA_OK) { fail("kaa_session_logits", st); goto done; }
        out[i] = argmax(logits, n_floats);
        if ((st = kaa_session_eval(session, &out[i], 1, 0)) != KAA_OK) { fail("kaa_session_eval", st); goto done; }
    }
    printf("greedy:");
    for (i = 0; i < N_NEW; ++i) printf(" %d", (int)out[i]);
    printf("\n");

    st = kaa_detokenize(tok, out, N_NEW, 0, text, sizeof text, &len);
    if (st != KAA_OK) { fail("kaa_detokenize", st); goto done; }
    printf("bytes: %u\n", (unsigned)len);
    rc = 0;

done:
    kaa_session_free(session);
    kaa_tokenizer_free(tok);
    kaa_model_free(model);
    return rc;
}
