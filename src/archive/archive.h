/* The archive: where the outputs of a session are kept. Per utterance and
 * language the translated speech (a WAV file, as synthesized) and, when the
 * session ends, the transcript of every language in every format (vtt,
 * srt, txt, json). Backends behind one table of operations, chosen by URL:
 *
 *   file://DIR   files DIR/SESSION/LANG/NNNNNN.wav and
 *                DIR/SESSION/transcript.LANG.FMT (the default: DATA/audio)
 *   s3://BUCKET[/PREFIX]?region=R[&endpoint=URL]
 *                objects PREFIX/SESSION/LANG/NNNNNN.wav and
 *                PREFIX/SESSION/transcript.LANG.FMT. Each is written to
 *                a spool under DATA/spool/s3 first and PUT by background
 *                threads, retried with backoff while S3 is unreachable, and
 *                deleted from the spool only once S3 has it; a restart
 *                resumes the spool. Keys are fixed by (session, language,
 *                utterance), so an object written again after a crash
 *                replaces itself: each exists once. Credentials: see
 *                src/aws/aws_credentials.h.
 *
 * Writing never waits on the network: a worker thread writes a local file
 * and renames it. All functions are thread-safe; one archive_speech is
 * used by one thread at a time. */
#ifndef BC_ARCHIVE_H
#define BC_ARCHIVE_H

#include <stddef.h>
#include <stdint.h>

struct session_registry;
struct archive;
struct archive_speech;

/* url NULL or "": file://DATA_DIR/audio. data_dir holds the spool of
 * remote backends. Returns 0 and *out (close with archive_close),
 * BC_EINVAL (bad URL, logged), BC_EAUTH (no AWS credentials) or BC_EIO. */
int archive_open(const char *url, const char *data_dir, struct archive **out);
/* Stops background uploads (what is left stays spooled for the next
 * start). NULL is a no-op. */
void archive_close(struct archive *a);

/* The directory of a file:// archive (for retention), else NULL. */
const char *archive_local_dir(const struct archive *a);

/* Starts the speech of one utterance. Returns 0 and *out, BC_EINVAL (bad
 * session id or language) or BC_EIO (logged). */
int archive_speech_open(struct archive *a, const char *session, const char *lang, int utterance,
                        int sample_rate_hz, struct archive_speech **out);
void archive_speech_append(struct archive_speech *w, const int16_t *pcm, size_t n);
/* Completes the file and hands it to the backend. NULL is a no-op. */
void archive_speech_close(struct archive_speech *w);

/* Archives the transcripts of a session that ended: every language among
 * its targets, its listeners' languages, its source and langs (n_langs;
 * e.g. the languages a worker produced), that has captions; none when the
 * speaker deleted the transcript. Blocking on the registry and the local
 * disk only. Returns the number of languages archived or a BC_E* code. */
int archive_transcripts(struct archive *a, struct session_registry *reg, const char *session,
                        const char *const *langs, size_t n_langs);

/* Objects written but not yet in the store (0 for file://). */
size_t archive_pending(struct archive *a);
/* Blocks until nothing is pending or timeout_ms passed. Returns 0 or
 * BC_ETIMEDOUT. */
int archive_wait(struct archive *a, int timeout_ms);

#endif
