/* host_app.c — the C ABI in a host-application pattern (a game, say): one model, loaded
 * once and shared, and several characters, each a session with its own conversation.
 * Every character is saved to disk (state + chat history in one file) and restored, and
 * the program shows that a restored character continues exactly as if it had never
 * been unloaded.
 *
 * Usage: host_app MODEL.gguf [SAVE_DIR]     (SAVE_DIR default: the current folder)
 *
 * The save file is the session's state (constant size, whatever the length of the
 * conversation) with the conversation's bookkeeping stored as the state's user data:
 * restoring needs no re-evaluation of earlier turns. Exits 1 if a restored character
 * does not continue identically. */
#include <kaa/kaa.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct character {
    const char* name;
    const char* persona; /* the system prompt */
    kaa_session* session;
    kaa_conversation* chat;
} character;

#define N_CHARACTERS 3

static int check(kaa_status st, const char* what) {
    if (st == KAA_OK) return 1;
    fprintf(stderr, "%s failed (%s): %s\n", what, kaa_status_name(st), kaa_last_error_message());
    return 0;
}

/* Streams a reply to stdout as it is generated. */
static bool print_piece(const char* piece, size_t length, void* user_data) {
    (void)user_data;
    fwrite(piece, 1, length, stdout);
    fflush(stdout);
    return true;
}

/* Fixed sampling for every reply: same state + same seed gives the same words. */
static kaa_sampler_params g_sampler;

static kaa_generate_params reply_params(bool stream) {
    kaa_generate_params gp = kaa_generate_default_params();
    gp.max_tokens = 20;
    gp.sampler = &g_sampler;
    gp.on_text = stream ? print_piece : NULL;
    return gp;
}

/* Appends the player's line and generates the character's reply; *text receives a
 * malloc'ed copy of it (NULL on failure). */
static int say(character* c, const char* line, bool stream, char** text) {
    kaa_generate_params gp = reply_params(stream);
    kaa_generation* gen = NULL;
    const char* reply = NULL;
    size_t len = 0;
    *text = NULL;
    if (stream) printf("[player -> %s] %s\n[%s] ", c->name, line, c->name);
    if (!check(kaa_conversation_reply(c->chat, line, &gp, &gen), "kaa_conversation_reply")) return 0;
    if (check(kaa_generation_text(gen, &reply, &len), "kaa_generation_text")) {
        *text = (char*)malloc(len + 1);
        if (*text) memcpy(*text, reply, len + 1);
    }
    kaa_generation_free(gen);
    if (stream) printf("\n");
    return *text != NULL;
}

/* Creates a character's session and conversation (no messages yet). */
static int spawn(const kaa_model* model, character* c) {
    return check(kaa_session_create(model, NULL, &c->session), "kaa_session_create") &&
           check(kaa_conversation_create(c->session, NULL, &c->chat), "kaa_conversation_create");
}

static void despawn(character* c) {
    kaa_conversation_free(c->chat); /* before its session */
    kaa_session_free(c->session);
    c->chat = NULL;
    c->session = NULL;
}

/* The conversation's bookkeeping as bytes (buffer protocol: size query, then fill). */
static char* serialize_chat(const kaa_conversation* chat, size_t* len) {
    char* buf;
    if (!check(kaa_conversation_serialize(chat, NULL, 0, len), "kaa_conversation_serialize")) return NULL;
    buf = (char*)malloc(*len + 1);
    if (buf && !check(kaa_conversation_serialize(chat, buf, *len + 1, len), "kaa_conversation_serialize")) {
        free(buf);
        buf = NULL;
    }
    return buf;
}

/* Saves state + history into one file (written atomically: temporary file + rename). */
static int save_character(const character* c, const char* path) {
    kaa_state* state = NULL;
    size_t len = 0;
    char* history = serialize_chat(c->chat, &len);
    int ok = history != NULL && check(kaa_session_get_state(c->session, &state), "kaa_session_get_state") &&
             check(kaa_state_set_user_data(state, history, len), "kaa_state_set_user_data") &&
             check(kaa_state_save(state, path), "kaa_state_save");
    kaa_state_free(state);
    free(history);
    return ok;
}

/* Loads a save file into a fresh session and conversation. */
static int load_character(const kaa_model* model, character* c, const char* path) {
    kaa_state* state = NULL;
    const void* history = NULL;
    size_t len = 0;
    int ok = check(kaa_state_load(path, &state), "kaa_state_load") && spawn(model, c) &&
             /* KAA_ERR_STATE_MISMATCH here if the file was saved with another model */
             check(kaa_session_set_state(c->session, state), "kaa_session_set_state") &&
             check(kaa_state_user_data(state, &history, &len), "kaa_state_user_data") &&
             check(kaa_conversation_restore(c->chat, history, len), "kaa_conversation_restore");
    kaa_state_free(state);
    return ok;
}

/* A second character continuing from exactly where c is, kept in memory: the reference
 * for "never unloaded". */
static int fork_character(const character* c, character* out) {
    size_t len = 0;
    char* history = serialize_chat(c->chat, &len);
    int ok = history != NULL && check(kaa_session_fork(c->session, &out->session), "kaa_session_fork") &&
             check(kaa_conversation_create(out->session, NULL, &out->chat), "kaa_conversation_create") &&
             check(kaa_conversation_restore(out->chat, history, len), "kaa_conversation_restore");
    free(history);
    out->name = c->name;
    out->persona = c->persona;
    return ok;
}

int main(int argc, char** argv) {
    character cast[N_CHARACTERS] = {
        {"guard", "You are Brom, a gruff city guard. Answer in one sentence.", NULL, NULL},
        {"merchant", "You are Ilsa, a cheerful spice merchant. Answer in one sentence.", NULL, NULL},
        {"wizard", "You are Oren, an absent-minded wizard. Answer in one sentence.", NULL, NULL},
    };
    character memory[N_CHARACTERS] = {{0}};
    const char* dir = argc > 2 ? argv[2] : ".";
    kaa_model_params mp = kaa_model_default_params();
    kaa_model* model = NULL;
    char path[1024];
    uint64_t state_bytes = 0;
    int i, ok = 1, same = 0;

    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s MODEL.gguf [SAVE_DIR]\n", argv[0]);
        return 2;
    }
    g_sampler = kaa_sampler_default_params();
    g_sampler.temperature = 0.7f;
    g_sampler.seed = 42;

    /* One model for the whole game; every session shares its (memory-mapped) weights. */
    mp.n_threads = 2;
    if (!check(kaa_model_load(argv[1], &mp, &model), "kaa_model_load")) return 1;
    kaa_model_state_size(model, &state_bytes);
    printf("model loaded; each character's state takes %llu bytes\n\n", (unsigned long long)state_bytes);

    /* ---- play: each character meets the player ------------------------------------- */
    for (i = 0; i < N_CHARACTERS && ok; ++i) {
        char* reply = NULL;
        ok = spawn(model, &cast[i]) &&
             check(kaa_conversation_add(cast[i].chat, "system", cast[i].persona), "kaa_conversation_add") &&
             say(&cast[i], "Good evening. What news?", true, &reply);
        free(reply);
    }

    /* ---- save: one file per character, then unload them all ------------------------- */
    for (i = 0; i < N_CHARACTERS && ok; ++i) {
        snprintf(path, sizeof path, "%s/%s.kaastate", dir, cast[i].name);
        ok = fork_character(&cast[i], &memory[i]) && save_character(&cast[i], path);
        if (ok) printf("saved %s to %s\n", cast[i].name, path);
        despawn(&cast[i]);
    }

    /* ---- later: load each one back and continue the conversation -------------------- */
    printf("\n");
    for (i = 0; i < N_CHARACTERS && ok; ++i) {
        char *restored = NULL, *reference = NULL;
        snprintf(path, sizeof path, "%s/%s.kaastate", dir, cast[i].name);
        ok = load_character(model, &cast[i], path) &&
             say(&cast[i], "And what do you think of me?", true, &restored) &&
             say(&memory[i], "And what do you think of me?", false, &reference);
        if (ok) {
            const int equal = strcmp(restored, reference) == 0;
            same += equal;
            printf("  %s restored from disk continues identically: %s\n", cast[i].name, equal ? "yes" : "NO");
        }
        free(restored);
        free(reference);
    }

    for (i = 0; i < N_CHARACTERS; ++i) {
        despawn(&cast[i]);
        despawn(&memory[i]);
    }
    kaa_model_free(model);
    if (!ok) return 1;
    printf("\n%d of %d characters continue identically after save and restore\n", same, N_CHARACTERS);
    return same == N_CHARACTERS ? 0 : 1;
}
