/* Retention: what the server keeps of ended sessions, and for how long.
 * The transcripts live in the session registry, the translated speech in
 * the audio archive of the worker that made it; a sweep deletes both once
 * a session ended more than the retention period ago. */
#ifndef BC_RETENTION_H
#define BC_RETENTION_H

#include <stdint.h>

struct session_registry;

/* Deletes the transcripts (session_purge_ended) of the sessions that ended
 * before now_ms - retention_days, and the archived audio under archive_dir
 * (archive_dir/ID/LANG/N.wav) of those sessions and of sessions the
 * registry no longer knows (expired Redis keys). retention_days 0 keeps
 * everything; archive_dir may be NULL. A session the registry cannot be
 * asked about (Redis down) is left for the next sweep. Returns the number
 * of sessions whose data went, or a negative BC_E* code. Blocking: call it
 * where a few file deletions can wait. */
int retention_sweep(struct session_registry *reg, const char *archive_dir, int retention_days,
                    int64_t now_ms);

#endif
