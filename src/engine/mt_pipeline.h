/* Internal to the MT engine: one persistent null-flush Apertium pipeline.
 * A pipeline is parsed from a .mode file once and spawned on demand (each
 * stage fork()+execv()ed without a shell, stage i stdout -> stage i+1 stdin).
 * Not thread-safe by itself: the caller holds mt_pipeline_lock() around
 * every call except mt_pipeline_new/free and mt_pipeline_mode. */
#ifndef BC_MT_PIPELINE_H
#define BC_MT_PIPELINE_H

#include <stddef.h>
#include <sys/types.h>

struct mt_pipeline;

/* Parses <modes_dir>/<mode>.mode. Returns 0 and *out, BC_ENOTFOUND (no file
 * or a stage program not on PATH), BC_EFORMAT (a stage we cannot run with
 * null-flush, or shell syntax we do not handle) or BC_EIO. Spawns nothing. */
int mt_pipeline_new(const char *modes_dir, const char *mode, struct mt_pipeline **out);
/* Kills and reaps the stages. Accepts NULL. */
void mt_pipeline_free(struct mt_pipeline *pl);

const char *mt_pipeline_mode(const struct mt_pipeline *pl);
void mt_pipeline_lock(struct mt_pipeline *pl);
void mt_pipeline_unlock(struct mt_pipeline *pl);

int mt_pipeline_running(const struct mt_pipeline *pl);
/* Spawns the stages (no warm-up). Returns 0 or BC_EIO. */
int mt_pipeline_spawn(struct mt_pipeline *pl);
/* SIGKILLs and reaps every stage and closes the pipes; no-op when stopped. */
void mt_pipeline_kill(struct mt_pipeline *pl);

/* One null-flush exchange on a running pipeline: writes the escaped input
 * (one sentence, no trailing blank) with a numbered sentinel, a blank and a
 * NUL, reads up to the NUL that ends the answer and checks the sentinel.
 * The answer is raw Apertium output (still escaped, sentinel removed), heap,
 * caller frees. timeout_ms bounds the whole exchange. Returns 0, BC_ETIMEDOUT, or BC_EENGINE (a
 * stage died or the stream broke); on any error the caller must mt_pipeline_kill(). */
int mt_pipeline_exchange(struct mt_pipeline *pl, const char *input, int timeout_ms, char **out);

/* Copies up to max stage pids (0 when stopped). Returns the stage count
 * written. */
size_t mt_pipeline_pids(const struct mt_pipeline *pl, pid_t *pids, size_t max);

#endif
