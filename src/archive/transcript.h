/* A transcript: the final captions of one language, rendered as WebVTT,
 * SubRip, plain text or JSON. Not thread-safe; the owner serializes use. */
#ifndef BC_TRANSCRIPT_H
#define BC_TRANSCRIPT_H

#include <stddef.h>
#include <stdint.h>

enum transcript_format { TRANSCRIPT_VTT, TRANSCRIPT_SRT, TRANSCRIPT_TXT, TRANSCRIPT_JSON };

struct transcript_cue {
    int utterance;
    int64_t start_ms;  /* in the speaker's audio timeline */
    int64_t end_ms;
    char *text;        /* translated (or source) text, owned by the transcript */
    char *source_text; /* recognized English text, owned by the transcript */
};

struct transcript;

/* lang is copied ("en" for the source transcript). Never fails. */
struct transcript *transcript_new(const char *lang);
void transcript_free(struct transcript *t);

/* Copies the strings. Cues are kept in the order they are added. */
void transcript_add(struct transcript *t, int utterance, int64_t start_ms, int64_t end_ms,
                    const char *text, const char *source_text);
size_t transcript_count(const struct transcript *t);
const struct transcript_cue *transcript_cue_at(const struct transcript *t, size_t index);

/* Parses "vtt", "srt", "txt" or "json". Returns 0 or BC_EINVAL. */
int transcript_format_parse(const char *name, enum transcript_format *out);
/* File extension / MIME type of a format (static strings). */
const char *transcript_format_ext(enum transcript_format format);
const char *transcript_format_mime(enum transcript_format format);

/* Renders into a new heap string (*out, caller frees; *out_len bytes
 * without the NUL). Never fails. */
void transcript_render(const struct transcript *t, enum transcript_format format, char **out,
                       size_t *out_len);
/* Renders to path. Returns 0 or BC_EIO. */
int transcript_write_file(const struct transcript *t, enum transcript_format format,
                          const char *path);

#endif
