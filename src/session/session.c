/* The registry's front: picks the backend from the URL, checks every
 * argument once, draws ids and tokens, hashes and compares tokens, then
 * hands each call to the backend's table of operations. */
#include "session/session.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "session/session_backend.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"
#include "util/timeutil.h"

#define SESSION_DEFAULT_MAX_SESSIONS 64
#define SESSION_DEFAULT_MAX_LISTENERS 500
#define SESSION_ID_ATTEMPTS 8
#define SESSION_TOKEN_BYTES (SESSION_TOKEN_LEN / 2)
#define SHA256_BYTES (SESSION_TOKEN_HASH_LEN / 2)

#define REDIS_SCHEME "redis://"
#define SQLITE_SCHEME "sqlite://"
#define SCHEME_MARK "://"

/* No 0/o, 1/l/i: ids are read out loud and typed from screens. */
static const char id_alphabet[] = "abcdefghjkmnpqrstuvwxyz23456789";
#define ID_ALPHABET_LEN (sizeof id_alphabet - 1)
/* Bytes at or above this are rejected so every letter is equally likely. */
#define ID_BYTE_LIMIT (256 - 256 % ID_ALPHABET_LEN)

static const char hex_digits[] = "0123456789abcdef";

void session_default_limits(struct session_limits *limits)
{
    limits->max_sessions = SESSION_DEFAULT_MAX_SESSIONS;
    limits->max_listeners_per_session = SESSION_DEFAULT_MAX_LISTENERS;
    limits->retention_ms = 0;
}

/* ---- Shared helpers ---- */

int session_valid_lang(const char *code)
{
    return code && code[0] && strlen(code) < SESSION_LANG_LEN && !strchr(code, ',');
}

int session_valid_id(const char *id)
{
    /* Ids become Redis key names and hash tags: letters and digits only. */
    if (!id || strnlen(id, SESSION_ID_LEN + 1) != SESSION_ID_LEN)
        return 0;
    for (size_t i = 0; i < SESSION_ID_LEN; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
            return 0;
    }
    return 1;
}

static void to_hex(const unsigned char *bytes, size_t len, char *out)
{
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = hex_digits[bytes[i] >> 4];
        out[2 * i + 1] = hex_digits[bytes[i] & 0xf];
    }
    out[2 * len] = '\0';
}

int session_token_hash(const char *token, char hash[SESSION_TOKEN_HASH_LEN + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    const char *text = token ? token : "";
    if (!EVP_Digest(text, strlen(text), md, &md_len, EVP_sha256(), NULL) ||
        md_len != SHA256_BYTES) {
        bc_error("session: SHA-256 failed");
        return BC_EIO;
    }
    to_hex(md, md_len, hash);
    return 0;
}

int session_is_token_hash(const char *text)
{
    return text && strlen(text) == SESSION_TOKEN_HASH_LEN &&
           strspn(text, hex_digits) == SESSION_TOKEN_HASH_LEN;
}

void session_parse_targets(const char *text, struct session_info *info)
{
    info->n_targets = 0;
    while (text && *text && info->n_targets < SESSION_TARGETS_MAX) {
        size_t len = strcspn(text, ",");
        if (len > 0 && len < SESSION_LANG_LEN) {
            memcpy(info->targets[info->n_targets], text, len);
            info->targets[info->n_targets++][len] = '\0';
        }
        text += len + (text[len] == ',');
    }
}

static int fill_random(void *buf, size_t len)
{
    unsigned char *p = buf;
    while (len > 0) {
        ssize_t n = getrandom(p, len, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            bc_error("session: getrandom: %s", strerror(errno));
            return BC_EIO;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int make_id(char id[SESSION_ID_LEN + 1])
{
    size_t filled = 0;
    while (filled < SESSION_ID_LEN) {
        unsigned char bytes[SESSION_ID_LEN * 2];
        if (fill_random(bytes, sizeof bytes) < 0)
            return BC_EIO;
        for (size_t i = 0; i < sizeof bytes && filled < SESSION_ID_LEN; i++)
            if (bytes[i] < ID_BYTE_LIMIT)
                id[filled++] = id_alphabet[bytes[i] % ID_ALPHABET_LEN];
    }
    id[SESSION_ID_LEN] = '\0';
    return 0;
}

static int make_token(char token[SESSION_TOKEN_LEN + 1])
{
    unsigned char bytes[SESSION_TOKEN_BYTES];
    if (fill_random(bytes, sizeof bytes) < 0)
        return BC_EIO;
    to_hex(bytes, sizeof bytes, token);
    return 0;
}

/* ---- Opening ---- */

static int registry_wrap(int rc, const struct session_ops *ops, void *impl,
                         struct session_registry **out)
{
    if (rc < 0)
        return rc;
    struct session_registry *reg = bc_calloc(1, sizeof *reg);
    reg->ops = ops;
    reg->impl = impl;
    *out = reg;
    return 0;
}

static void limits_or_default(const struct session_limits *given, struct session_limits *out)
{
    if (given)
        *out = *given;
    else
        session_default_limits(out);
}

int session_registry_open(const char *db_path, const struct session_limits *limits,
                          struct session_registry **out)
{
    *out = NULL;
    struct session_limits l;
    limits_or_default(limits, &l);
    const struct session_ops *ops = NULL;
    void *impl = NULL;
    int rc = session_sqlite_open(db_path, &l, &ops, &impl);
    return registry_wrap(rc, ops, impl, out);
}

int session_registry_open_url(const char *url, const struct session_limits *limits,
                              struct session_registry **out)
{
    *out = NULL;
    if (!url)
        return session_registry_open(NULL, limits, out);
    if (strncmp(url, REDIS_SCHEME, strlen(REDIS_SCHEME)) == 0) {
        struct session_limits l;
        limits_or_default(limits, &l);
        const struct session_ops *ops = NULL;
        void *impl = NULL;
        int rc = session_redis_open(url, &l, &ops, &impl);
        return registry_wrap(rc, ops, impl, out);
    }
    const char *path = url;
    if (strncmp(url, SQLITE_SCHEME, strlen(SQLITE_SCHEME)) == 0)
        path += strlen(SQLITE_SCHEME);
    else if (strstr(url, SCHEME_MARK))
        path = ""; /* a scheme nobody serves */
    if (!*path) {
        bc_error("session: unsupported registry url '%s' (want redis://HOST:PORT, "
                 "sqlite://PATH or a path)", url);
        return BC_EINVAL;
    }
    return session_registry_open(path, limits, out);
}

void session_registry_close(struct session_registry *reg)
{
    if (!reg)
        return;
    reg->ops->close(reg->impl);
    free(reg);
}

/* ---- Sessions and tokens ---- */

static int create(struct session_registry *reg, const char *source, const char *const *targets,
                  size_t n_targets, struct session_info *info, char token[SESSION_TOKEN_LEN + 1],
                  char *key)
{
    if (!session_valid_lang(source) || n_targets > SESSION_TARGETS_MAX || (n_targets && !targets))
        return BC_EINVAL;
    char joined[SESSION_TARGETS_TEXT_MAX] = "";
    size_t used = 0;
    for (size_t i = 0; i < n_targets; i++) {
        if (!session_valid_lang(targets[i]))
            return BC_EINVAL;
        used += (size_t)snprintf(joined + used, sizeof joined - used, "%s%s", i ? "," : "",
                                 targets[i]);
    }
    char hash[SESSION_TOKEN_HASH_LEN + 1], key_hash[SESSION_TOKEN_HASH_LEN + 1] = "";
    if (make_token(token) < 0 || session_token_hash(token, hash) < 0)
        return BC_EIO;
    if (key && (make_token(key) < 0 || session_token_hash(key, key_hash) < 0))
        return BC_EIO;
    char id[SESSION_ID_LEN + 1];
    struct session_new s = {
        .id = id, .token_hash = hash, .key_hash = key_hash, .source = source,
        .targets = joined, .created_ms = bc_wall_ms(),
    };
    int rc = BC_EIO;
    for (int attempt = 0; attempt < SESSION_ID_ATTEMPTS; attempt++) {
        if (make_id(id) < 0)
            return BC_EIO;
        rc = reg->ops->create(reg->impl, &s);
        if (rc != SESSION_ID_TAKEN)
            break;
        bc_warn("session: id collision on %s, drawing another", id);
        rc = BC_EIO;
    }
    if (rc < 0)
        return rc;
    memset(info, 0, sizeof *info);
    memcpy(info->id, id, sizeof info->id);
    snprintf(info->source, sizeof info->source, "%s", source);
    session_parse_targets(joined, info);
    info->state = SESSION_LIVE;
    info->created_ms = s.created_ms;
    info->active_ms = s.created_ms;
    info->is_private = key != NULL;
    return 0;
}

int session_create(struct session_registry *reg, const char *source, const char *const *targets,
                   size_t n_targets, struct session_info *info, char token[SESSION_TOKEN_LEN + 1])
{
    return create(reg, source, targets, n_targets, info, token, NULL);
}

int session_create_private(struct session_registry *reg, const char *source,
                           const char *const *targets, size_t n_targets,
                           struct session_info *info, char token[SESSION_TOKEN_LEN + 1],
                           char key[SESSION_KEY_LEN + 1])
{
    return create(reg, source, targets, n_targets, info, token, key);
}

int session_get(struct session_registry *reg, const char *id, struct session_info *info)
{
    if (!session_valid_id(id))
        return BC_ENOTFOUND;
    return reg->ops->get(reg->impl, id, info);
}

/* Runs through every byte whatever the input, so the time taken does not
 * tell an attacker how much of a guess was right. */
static int hash_equal(const char *stored, const char *given)
{
    volatile unsigned char diff = 0;
    for (size_t i = 0; i < SESSION_TOKEN_HASH_LEN; i++)
        diff |= (unsigned char)((unsigned char)given[i] ^ (unsigned char)stored[i]);
    return diff == 0;
}

int session_check_token(struct session_registry *reg, const char *id, const char *token)
{
    if (!session_valid_id(id))
        return BC_ENOTFOUND;
    char stored[SESSION_TOKEN_HASH_LEN + 1] = "";
    int rc = reg->ops->token_hash(reg->impl, id, stored);
    if (rc < 0)
        return rc;
    char given[SESSION_TOKEN_HASH_LEN + 1];
    if (session_token_hash(token, given) < 0)
        return BC_EIO;
    int length_ok = token && strnlen(token, SESSION_TOKEN_LEN + 1) == SESSION_TOKEN_LEN;
    int equal = session_is_token_hash(stored) && hash_equal(stored, given);
    return length_ok && equal ? 0 : BC_EAUTH;
}

int session_check_listener_key(struct session_registry *reg, const char *id, const char *key)
{
    if (!session_valid_id(id))
        return BC_ENOTFOUND;
    char stored[SESSION_TOKEN_HASH_LEN + 1] = "";
    int rc = reg->ops->key_hash(reg->impl, id, stored);
    if (rc < 0)
        return rc;
    if (!stored[0])
        return 0;
    char given[SESSION_TOKEN_HASH_LEN + 1];
    if (session_token_hash(key, given) < 0)
        return BC_EIO;
    int length_ok = key && strnlen(key, SESSION_KEY_LEN + 1) == SESSION_KEY_LEN;
    int equal = session_is_token_hash(stored) && hash_equal(stored, given);
    return length_ok && equal ? 0 : BC_EAUTH;
}

int session_end(struct session_registry *reg, const char *id, const char *token)
{
    if (!session_valid_id(id))
        return BC_ENOTFOUND;
    /* No token: the server itself ends the session. */
    int rc = token ? session_check_token(reg, id, token) : 0;
    if (rc < 0)
        return rc;
    return reg->ops->end(reg->impl, id, bc_wall_ms());
}

int session_touch(struct session_registry *reg, const char *id)
{
    if (!session_valid_id(id))
        return BC_ENOTFOUND;
    return reg->ops->touch(reg->impl, id, bc_wall_ms());
}

int session_set_mode(struct session_registry *reg, const char *id, enum session_mode mode)
{
    if (!session_valid_id(id))
        return BC_ENOTFOUND;
    if (mode != SESSION_MODE_SENTENCE && mode != SESSION_MODE_SIMULTANEOUS)
        return BC_EINVAL;
    return reg->ops->set_mode(reg->impl, id, mode);
}

static const char *const mode_names[] = {
    [SESSION_MODE_SENTENCE] = "sentence",
    [SESSION_MODE_SIMULTANEOUS] = "simultaneous",
};

int session_mode_parse(const char *name, enum session_mode *mode)
{
    for (size_t i = 0; name && i < sizeof mode_names / sizeof mode_names[0]; i++) {
        if (strcmp(name, mode_names[i]) == 0) {
            *mode = (enum session_mode)i;
            return 0;
        }
    }
    return BC_EINVAL;
}

const char *session_mode_name(enum session_mode mode)
{
    return mode == SESSION_MODE_SIMULTANEOUS ? mode_names[mode] : mode_names[SESSION_MODE_SENTENCE];
}

size_t session_list_live(struct session_registry *reg, char (*ids)[SESSION_ID_LEN + 1], size_t max)
{
    if (!ids || max == 0)
        return 0;
    return reg->ops->list_live(reg->impl, ids, max);
}

/* ---- Listeners ---- */

int session_listener_join(struct session_registry *reg, const char *id, const char *lang)
{
    if (!session_valid_id(id))
        return BC_ENOTFOUND;
    if (!session_valid_lang(lang))
        return BC_EINVAL;
    return reg->ops->listener_join(reg->impl, id, lang);
}

void session_listener_leave(struct session_registry *reg, const char *id, const char *lang)
{
    if (session_valid_id(id) && session_valid_lang(lang))
        reg->ops->listener_leave(reg->impl, id, lang);
}

size_t session_listener_counts(struct session_registry *reg, const char *id,
                               char (*langs)[SESSION_LANG_LEN], int *counts, size_t max)
{
    if (!session_valid_id(id) || !langs || !counts || max == 0)
        return 0;
    return reg->ops->listener_counts(reg->impl, id, langs, counts, max);
}

/* ---- Captions ---- */

int session_add_caption_fenced(struct session_registry *reg, const char *id, const char *lang,
                               int utterance, int64_t start_ms, int64_t end_ms,
                               const char *text, const char *source_text, uint64_t fence)
{
    if (!session_valid_id(id))
        return BC_ENOTFOUND;
    if (!session_valid_lang(lang) || !text)
        return BC_EINVAL;
    return reg->ops->add_caption(reg->impl, id, lang, utterance, start_ms, end_ms, text,
                                 source_text ? source_text : "", fence);
}

int session_add_caption(struct session_registry *reg, const char *id, const char *lang,
                        int utterance, int64_t start_ms, int64_t end_ms, const char *text,
                        const char *source_text)
{
    return session_add_caption_fenced(reg, id, lang, utterance, start_ms, end_ms, text,
                                      source_text, 0);
}

static int read_captions(struct session_registry *reg, const char *id, const char *lang,
                         int64_t limit, struct transcript **out)
{
    if (!out)
        return BC_EINVAL;
    *out = NULL;
    if (!session_valid_id(id))
        return BC_ENOTFOUND;
    if (!session_valid_lang(lang))
        return BC_EINVAL;
    return reg->ops->read_captions(reg->impl, id, lang, limit, out);
}

int session_transcript(struct session_registry *reg, const char *id, const char *lang,
                       struct transcript **out)
{
    return read_captions(reg, id, lang, -1, out);
}

int session_recent_captions(struct session_registry *reg, const char *id, const char *lang,
                            size_t n, struct transcript **out)
{
    int64_t limit = n > INT64_MAX ? INT64_MAX : (int64_t)n;
    return read_captions(reg, id, lang, limit, out);
}

int session_delete_transcript(struct session_registry *reg, const char *id, const char *token)
{
    if (!session_valid_id(id))
        return BC_ENOTFOUND;
    int rc = token ? session_check_token(reg, id, token) : 0;
    if (rc < 0)
        return rc;
    return reg->ops->delete_transcript(reg->impl, id);
}

int session_purge_ended(struct session_registry *reg, int64_t ended_before_ms)
{
    size_t n = 0;
    int rc = reg->ops->purge_ended(reg->impl, ended_before_ms, &n);
    return rc < 0 ? rc : (int)n;
}

/* ---- Catalog ---- */

int session_catalog_set(struct session_registry *reg, const char *json)
{
    if (!json)
        return BC_EINVAL;
    return reg->ops->catalog_set(reg->impl, json);
}

int session_catalog_get(struct session_registry *reg, char **json)
{
    if (!json)
        return BC_EINVAL;
    *json = NULL;
    return reg->ops->catalog_get(reg->impl, json);
}

int session_glossary_set(struct session_registry *reg, const char *id, const char *json,
                         uint64_t *version)
{
    uint64_t ignored;
    if (!json || strlen(json) > SESSION_GLOSSARY_MAX)
        return BC_EINVAL;
    if (!session_valid_id(id))
        return BC_ENOTFOUND;
    return reg->ops->glossary_set(reg->impl, id, json, version ? version : &ignored);
}

int session_glossary_get(struct session_registry *reg, const char *id, uint64_t known_version,
                         char **json, uint64_t *version)
{
    if (!json || !version)
        return BC_EINVAL;
    *json = NULL;
    *version = 0;
    if (!session_valid_id(id))
        return BC_ENOTFOUND;
    return reg->ops->glossary_get(reg->impl, id, known_version, json, version);
}

size_t session_languages(struct session_registry *reg, const struct session_info *info,
                         char (*langs)[SESSION_LANG_LEN], size_t max)
{
    size_t n = 0;
    int counts[SESSION_TARGETS_MAX];
    char listened[SESSION_TARGETS_MAX][SESSION_LANG_LEN];
    size_t n_listened =
        session_listener_counts(reg, info->id, listened, counts, SESSION_TARGETS_MAX);
    for (size_t i = 0; i < info->n_targets + n_listened && n < max; i++) {
        const char *lang = i < info->n_targets ? info->targets[i] : listened[i - info->n_targets];
        int seen = 0;
        for (size_t j = 0; j < n; j++)
            seen |= strcmp(langs[j], lang) == 0;
        if (!seen)
            snprintf(langs[n++], SESSION_LANG_LEN, "%s", lang);
    }
    return n;
}
