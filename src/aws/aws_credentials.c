#include "aws/aws_credentials.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"

#define CREDENTIALS_FILE_MAX_BYTES (1024 * 1024)
#define DEFAULT_PROFILE "default"
#define DEFAULT_CREDENTIALS_FILE "/.aws/credentials" /* under $HOME */
#define CREDENTIAL_CHAR_MIN '!'
#define CREDENTIAL_CHAR_MAX '~'

void aws_credentials_wipe(struct aws_credentials *c)
{
    if (c)
        explicit_bzero(c, sizeof *c);
}

/* Copies a value that fits and is printable ASCII without blanks: values
 * go into request headers, where a CR or LF would start another one. */
static int copy_value(char *dst, size_t cap, const char *src, size_t len)
{
    if (len >= cap)
        return BC_EFORMAT;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)src[i] < CREDENTIAL_CHAR_MIN || (unsigned char)src[i] > CREDENTIAL_CHAR_MAX)
            return BC_EFORMAT;
    memcpy(dst, src, len);
    dst[len] = '\0';
    return 0;
}

/* [start, end) without surrounding blanks. */
static void trim(const char **start, const char **end)
{
    while (*start < *end && isspace((unsigned char)**start))
        (*start)++;
    while (*end > *start && isspace((unsigned char)(*end)[-1]))
        (*end)--;
}

static bool span_equals(const char *start, const char *end, const char *word)
{
    size_t n = strlen(word);
    return (size_t)(end - start) == n && strncmp(start, word, n) == 0;
}

/* Stores key = value when it is one of the credential keys of a profile. */
static int take_pair(struct aws_credentials *c, const char *key, const char *key_end,
                     const char *value, const char *value_end)
{
    size_t len = (size_t)(value_end - value);
    if (span_equals(key, key_end, "aws_access_key_id"))
        return copy_value(c->access_key_id, sizeof c->access_key_id, value, len);
    if (span_equals(key, key_end, "aws_secret_access_key"))
        return copy_value(c->secret_access_key, sizeof c->secret_access_key, value, len);
    if (span_equals(key, key_end, "aws_session_token"))
        return copy_value(c->session_token, sizeof c->session_token, value, len);
    return 0;
}

int aws_credentials_parse(const char *text, const char *profile, struct aws_credentials *out)
{
    if (!text || !profile || !out)
        return BC_EINVAL;
    struct aws_credentials c = {0};
    bool in_profile = false, found = false;
    int rc = 0;
    for (const char *line = text; *line && rc == 0;) {
        const char *eol = strchr(line, '\n');
        const char *end = eol ? eol : line + strlen(line);
        const char *start = line;
        line = eol ? eol + 1 : end;
        trim(&start, &end);
        if (start == end || *start == '#' || *start == ';')
            continue;
        if (*start == '[') {
            const char *close = memchr(start, ']', (size_t)(end - start));
            if (!close)
                continue;
            const char *name = start + 1, *name_end = close;
            trim(&name, &name_end);
            in_profile = span_equals(name, name_end, profile);
            found = found || in_profile;
            continue;
        }
        const char *eq = memchr(start, '=', (size_t)(end - start));
        if (!in_profile || !eq)
            continue;
        const char *key_end = eq, *value = eq + 1;
        trim(&start, &key_end);
        trim(&value, &end);
        rc = take_pair(&c, start, key_end, value, end);
    }
    if (rc == 0 && (!found || !c.access_key_id[0] || !c.secret_access_key[0]))
        rc = BC_ENOTFOUND;
    if (rc == 0)
        *out = c;
    aws_credentials_wipe(&c);
    return rc;
}

static int from_environment(struct aws_credentials *out)
{
    const char *id = getenv("AWS_ACCESS_KEY_ID");
    const char *secret = getenv("AWS_SECRET_ACCESS_KEY");
    const char *token = getenv("AWS_SESSION_TOKEN");
    if (!id || !*id || !secret || !*secret)
        return BC_ENOTFOUND;
    int rc = copy_value(out->access_key_id, sizeof out->access_key_id, id, strlen(id));
    if (rc == 0)
        rc = copy_value(out->secret_access_key, sizeof out->secret_access_key, secret,
                        strlen(secret));
    if (rc == 0 && token)
        rc = copy_value(out->session_token, sizeof out->session_token, token, strlen(token));
    return rc;
}

/* The whole file in a heap string, or NULL when it cannot be read. */
static char *read_small_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *text = bc_malloc(CREDENTIALS_FILE_MAX_BYTES + 1);
    size_t n = fread(text, 1, CREDENTIALS_FILE_MAX_BYTES, f);
    fclose(f);
    text[n] = '\0';
    return text;
}

int aws_credentials_load(struct aws_credentials *out)
{
    if (!out)
        return BC_EINVAL;
    struct aws_credentials c = {0};
    int rc = from_environment(&c);
    if (rc == BC_ENOTFOUND) {
        const char *profile = getenv("AWS_PROFILE");
        if (!profile || !*profile)
            profile = DEFAULT_PROFILE;
        const char *file = getenv("AWS_SHARED_CREDENTIALS_FILE");
        const char *home = getenv("HOME");
        char *path = file && *file ? bc_strdup(file)
                                   : bc_asprintf("%s%s", home ? home : "", DEFAULT_CREDENTIALS_FILE);
        char *text = read_small_file(path);
        rc = text ? aws_credentials_parse(text, profile, &c) : BC_ENOTFOUND;
        if (text) {
            explicit_bzero(text, strlen(text));
            free(text);
        }
        if (rc == BC_ENOTFOUND)
            bc_error("aws: no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                     "or profile '%s' in %s",
                     profile, path);
        free(path);
    }
    if (rc == BC_ENOTFOUND)
        rc = BC_EAUTH;
    else if (rc == BC_EFORMAT)
        bc_error("aws: a credential value is too long or not printable ASCII");
    if (rc == 0)
        *out = c;
    aws_credentials_wipe(&c);
    return rc;
}
