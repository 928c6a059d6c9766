#include "pipeline/pacer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/err.h"

#define PACER_NORMAL_SPEED 100
#define PACER_SPEED_CEILING 200 /* espeak-ng stays intelligible up to about twice its rate */
#define PACER_LANG_MAX 16
/* The per-language correction of ms_per_byte, in percent: each
 * measurement moves it a quarter of the way, within these bounds. */
#define PACER_SCALE_UNIT 100
#define PACER_SCALE_MIN 25
#define PACER_SCALE_MAX 400
#define PACER_SCALE_WEIGHT 4

struct pacer_track {
    char lang[PACER_LANG_MAX];
    int64_t play_end_ms;
    int64_t scale_pct; /* measured length against the ms_per_byte estimate */
};

struct pacer {
    struct pacer_params params;
    struct pacer_track tracks[PACER_TRACKS_MAX];
    size_t n_tracks;
};

void pacer_default_params(struct pacer_params *params)
{
    params->target_lag_ms = PACER_DEFAULT_TARGET_LAG_MS;
    params->max_speed = PACER_DEFAULT_MAX_SPEED;
    params->ms_per_byte = PACER_DEFAULT_MS_PER_BYTE;
}

int pacer_new(const struct pacer_params *params, struct pacer **out)
{
    *out = NULL;
    if (params->target_lag_ms <= 0 || params->max_speed < PACER_NORMAL_SPEED ||
        params->max_speed > PACER_SPEED_CEILING || params->ms_per_byte <= 0)
        return BC_EINVAL;
    struct pacer *p = bc_calloc(1, sizeof *p);
    p->params = *params;
    *out = p;
    return 0;
}

void pacer_free(struct pacer *p)
{
    free(p);
}

/* The index of lang's track, or -1. */
static int find(const struct pacer *p, const char *lang)
{
    for (size_t i = 0; i < p->n_tracks; i++) {
        if (strncmp(p->tracks[i].lang, lang, sizeof p->tracks[i].lang - 1) == 0)
            return (int)i;
    }
    return -1;
}

/* lang's track; a new one, or the one idle longest when all are taken. */
static struct pacer_track *track_for(struct pacer *p, const char *lang)
{
    int i = find(p, lang);
    if (i >= 0)
        return &p->tracks[i];
    struct pacer_track *t;
    if (p->n_tracks < PACER_TRACKS_MAX) {
        t = &p->tracks[p->n_tracks++];
    } else {
        t = &p->tracks[0];
        for (size_t j = 1; j < p->n_tracks; j++)
            if (p->tracks[j].play_end_ms < t->play_end_ms)
                t = &p->tracks[j];
    }
    snprintf(t->lang, sizeof t->lang, "%s", lang);
    t->play_end_ms = 0;
    t->scale_pct = PACER_SCALE_UNIT;
    return t;
}

/* Estimated length of text_bytes of text at the normal speed. */
static int64_t estimate_ms(const struct pacer *p, int i, size_t text_bytes)
{
    int64_t scale = i >= 0 ? p->tracks[i].scale_pct : PACER_SCALE_UNIT;
    return (int64_t)text_bytes * p->params.ms_per_byte * scale / PACER_SCALE_UNIT;
}

int64_t pacer_lag_ms(const struct pacer *p, const char *lang, int64_t now_ms)
{
    int i = find(p, lang);
    if (i < 0 || p->tracks[i].play_end_ms <= now_ms)
        return 0;
    return p->tracks[i].play_end_ms - now_ms;
}

int pacer_speed(const struct pacer *p, const char *lang, int64_t now_ms, size_t text_bytes)
{
    int i = find(p, lang);
    int64_t start_ms = now_ms + pacer_lag_ms(p, lang, now_ms);
    int64_t length_ms = estimate_ms(p, i, text_bytes);
    int64_t room_ms = now_ms + p->params.target_lag_ms - start_ms;
    if (length_ms <= room_ms)
        return PACER_NORMAL_SPEED;
    if (room_ms <= 0 || length_ms * PACER_NORMAL_SPEED >= room_ms * p->params.max_speed)
        return p->params.max_speed;
    /* Rounded up: the piece should fit. */
    return (int)((length_ms * PACER_NORMAL_SPEED + room_ms - 1) / room_ms);
}

int64_t pacer_queue(struct pacer *p, const char *lang, int64_t now_ms, size_t text_bytes,
                    int speed)
{
    struct pacer_track *t = track_for(p, lang);
    if (speed < PACER_NORMAL_SPEED)
        speed = PACER_NORMAL_SPEED;
    int64_t length_ms =
        estimate_ms(p, (int)(t - p->tracks), text_bytes) * PACER_NORMAL_SPEED / speed;
    int64_t start_ms = t->play_end_ms > now_ms ? t->play_end_ms : now_ms;
    t->play_end_ms = start_ms + length_ms;
    return length_ms;
}

void pacer_measured(struct pacer *p, const char *lang, int64_t estimate_ms, int64_t actual_ms)
{
    int i = find(p, lang);
    if (i < 0)
        return;
    struct pacer_track *t = &p->tracks[i];
    t->play_end_ms += actual_ms - estimate_ms;
    if (estimate_ms <= 0 || actual_ms <= 0)
        return; /* nothing spoken: nothing learned */
    int64_t seen = t->scale_pct * actual_ms / estimate_ms;
    seen = seen < PACER_SCALE_MIN ? PACER_SCALE_MIN : seen > PACER_SCALE_MAX ? PACER_SCALE_MAX : seen;
    t->scale_pct += (seen - t->scale_pct) / PACER_SCALE_WEIGHT;
}
