#include "archive/transcript.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/err.h"

#define TRANSCRIPT_INITIAL_CUES 16

struct transcript {
    char *lang;
    struct transcript_cue *cues;
    size_t count, capacity;
};

struct transcript *transcript_new(const char *lang)
{
    struct transcript *t = bc_calloc(1, sizeof *t);
    t->lang = bc_strdup(lang);
    return t;
}

void transcript_free(struct transcript *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->count; i++) {
        free(t->cues[i].text);
        free(t->cues[i].source_text);
    }
    free(t->cues);
    free(t->lang);
    free(t);
}

void transcript_add(struct transcript *t, int utterance, int64_t start_ms, int64_t end_ms,
                    const char *text, const char *source_text)
{
    if (t->count == t->capacity) {
        t->capacity = t->capacity ? t->capacity * 2 : TRANSCRIPT_INITIAL_CUES;
        t->cues = bc_realloc(t->cues, t->capacity * sizeof *t->cues);
    }
    struct transcript_cue *cue = &t->cues[t->count++];
    cue->utterance = utterance;
    cue->start_ms = start_ms;
    cue->end_ms = end_ms > start_ms ? end_ms : start_ms;
    cue->text = bc_strdup(text ? text : "");
    cue->source_text = bc_strdup(source_text ? source_text : "");
}

size_t transcript_count(const struct transcript *t)
{
    return t->count;
}

const struct transcript_cue *transcript_cue_at(const struct transcript *t, size_t index)
{
    return index < t->count ? &t->cues[index] : NULL;
}

static const struct {
    const char *name, *mime;
} formats[] = {
    [TRANSCRIPT_VTT] = {"vtt", "text/vtt; charset=utf-8"},
    [TRANSCRIPT_SRT] = {"srt", "application/x-subrip; charset=utf-8"},
    [TRANSCRIPT_TXT] = {"txt", "text/plain; charset=utf-8"},
    [TRANSCRIPT_JSON] = {"json", "application/json"},
};

int transcript_format_parse(const char *name, enum transcript_format *out)
{
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        if (name && strcmp(name, formats[i].name) == 0) {
            *out = (enum transcript_format)i;
            return 0;
        }
    }
    return BC_EINVAL;
}

const char *transcript_format_ext(enum transcript_format format)
{
    return formats[format].name;
}

const char *transcript_format_mime(enum transcript_format format)
{
    return formats[format].mime;
}

/* A growing string; aborts on OOM like every allocation here. */
struct strbuf {
    char *data;
    size_t len, cap;
};

static void sb_printf(struct strbuf *sb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void sb_printf(struct strbuf *sb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int need = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (sb->len + (size_t)need + 1 > sb->cap) {
        sb->cap = (sb->len + (size_t)need + 1) * 2;
        sb->data = bc_realloc(sb->data, sb->cap);
    }
    va_start(ap, fmt);
    vsnprintf(sb->data + sb->len, (size_t)need + 1, fmt, ap);
    va_end(ap);
    sb->len += (size_t)need;
}

/* sep is '.' for WebVTT and ',' for SubRip. */
static void sb_timestamp(struct strbuf *sb, int64_t ms, char sep)
{
    sb_printf(sb, "%02d:%02d:%02d%c%03d", (int)(ms / 3600000), (int)(ms / 60000 % 60),
              (int)(ms / 1000 % 60), sep, (int)(ms % 1000));
}

static void render_json(const struct transcript *t, struct strbuf *sb)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "lang", t->lang);
    cJSON *cues = cJSON_AddArrayToObject(root, "cues");
    for (size_t i = 0; i < t->count; i++) {
        const struct transcript_cue *c = &t->cues[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "utterance", c->utterance);
        cJSON_AddNumberToObject(o, "start_ms", (double)c->start_ms);
        cJSON_AddNumberToObject(o, "end_ms", (double)c->end_ms);
        cJSON_AddStringToObject(o, "text", c->text);
        cJSON_AddStringToObject(o, "source_text", c->source_text);
        cJSON_AddItemToArray(cues, o);
    }
    char *json = cJSON_PrintUnformatted(root);
    sb_printf(sb, "%s\n", json);
    cJSON_free(json);
    cJSON_Delete(root);
}

void transcript_render(const struct transcript *t, enum transcript_format format, char **out,
                       size_t *out_len)
{
    struct strbuf sb = {0};
    sb_printf(&sb, "%s", "");
    if (format == TRANSCRIPT_JSON)
        render_json(t, &sb);
    if (format == TRANSCRIPT_VTT)
        sb_printf(&sb, "WEBVTT\n\n");
    for (size_t i = 0; format != TRANSCRIPT_JSON && i < t->count; i++) {
        const struct transcript_cue *c = &t->cues[i];
        if (format == TRANSCRIPT_TXT) {
            sb_printf(&sb, "%s\n", c->text);
            continue;
        }
        char sep = format == TRANSCRIPT_VTT ? '.' : ',';
        sb_printf(&sb, "%zu\n", i + 1);
        sb_timestamp(&sb, c->start_ms, sep);
        sb_printf(&sb, " --> ");
        sb_timestamp(&sb, c->end_ms, sep);
        sb_printf(&sb, "\n%s\n\n", c->text);
    }
    *out = sb.data;
    *out_len = sb.len;
}

int transcript_write_file(const struct transcript *t, enum transcript_format format,
                          const char *path)
{
    char *text;
    size_t len;
    transcript_render(t, format, &text, &len);
    FILE *f = fopen(path, "wb");
    int rc = f && fwrite(text, 1, len, f) == len ? 0 : BC_EIO;
    if (f && fclose(f) != 0)
        rc = BC_EIO;
    free(text);
    return rc;
}
