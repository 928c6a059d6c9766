/* The gateway: one libwebsockets service thread serving the REST API, the
 * speaker and listener WebSockets, static web pages and /healthz, on one
 * port. It appends speaker audio to the ingestion stream and fans pipeline
 * results out to listeners. */
#ifndef BC_GATEWAY_H
#define BC_GATEWAY_H

#include <stddef.h>

#include "engine/asr.h"

struct gateway_config {
    const char *listen_host;          /* default 127.0.0.1 */
    int port;                         /* default 8080; 0 picks a free port */
    const char *web_root;             /* static files */
    const char *data_dir;             /* sessions.db, stream log, archive; created if missing */
    const char *stream_url;           /* default file://<data_dir>/stream */
    const char *public_url;           /* base of listen links; default http://host:port */
    int workers;                      /* pipeline threads; 0: one per processor */
    size_t max_frame_bytes;           /* largest speaker frame; default 65536 */
    int max_sessions;                 /* live sessions; default 64 */
    int max_listeners_per_session;    /* default 500 */
    int listener_max_lag_ms;          /* a listener whose oldest unsent message is older is
                                         dropped; default 10000 */
    size_t listener_queue_max_bytes;  /* and one with this much unsent; default 4 MiB */
    int recent_captions;              /* finals replayed to a late joiner; default 20 */
    int with_speech;                  /* synthesize translated speech; default 1 */
    int shutdown_timeout_ms;          /* graceful drain limit; default 20000 */
    struct asr_params asr;
};

void gateway_default_config(struct gateway_config *config);

/* Runs until SIGINT or SIGTERM, then drains gracefully. When ready_fd >= 0,
 * writes "PORT\n" to it once listening (for tests that ask for port 0).
 * Returns 0 after a clean shutdown or a negative code when start-up failed
 * (the reason is logged). */
int gateway_run(const struct gateway_config *config, int ready_fd);

#endif
