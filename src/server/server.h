/* babelcast serve: the composition root. Opens the shared parts a role
 * needs (registry, ingestion stream, delivery bus; engines and workers only
 * where recognition runs), wires them together, serves until SIGINT or
 * SIGTERM, then shuts down gracefully.
 *
 *   all      gateway and workers in one process (embedded default)
 *   gateway  sockets -> stream; delivery -> listeners; never opens an engine
 *   worker   stream -> pipeline -> delivery and archive; serves /healthz
 *            only, and only when a listen address is given
 *
 * Gateways and workers meet only through the stream, the bus and the
 * registry; with a Redis URL all three live in Redis, so the roles can run
 * in separate processes on separate machines. */
#ifndef BC_SERVER_H
#define BC_SERVER_H

#include "engine/asr.h"
#include "gateway/gateway.h"

enum server_role { SERVER_ROLE_ALL = 0, SERVER_ROLE_GATEWAY, SERVER_ROLE_WORKER };

struct server_config {
    enum server_role role;
    const char *redis_url;        /* NULL: SQLite registry, file stream, in-process bus */
    const char *data_dir;         /* default ./babelcast-data */
    const char *stream_url;       /* default: the Redis URL, else file://DATA_DIR/stream */
    const char *archive_url;      /* worker: file://DIR or s3://BUCKET/PREFIX?region=R;
                                     default file://DATA_DIR/audio */
    int serve_http;               /* worker: serve /healthz on gateway.listen_host:port */
    struct gateway_config gateway;
    int worker_threads;           /* 0: one per processor */
    int max_sessions;             /* gateway: live sessions in the registry; worker: sessions
                                     it processes at once; default 64 */
    int max_listeners_per_session; /* default 500 */
    int lease_ttl_ms;             /* a worker's hold on a session; default 2000 */
    int capacity_load_pct;        /* worker: share of its threads' time sessions may use;
                                     0: the default (pipeline/capacity.h) */
    int latency_budget_ms;        /* worker: end of speech -> first audio goal; 0: default */
    int with_speech;              /* synthesize translated speech; default 1 */
    int shutdown_timeout_ms;      /* graceful drain limit; default 20000 */
    struct asr_params asr;
};

void server_default_config(struct server_config *config);
/* Parses "all", "gateway" or "worker". Returns 0 or BC_EINVAL. */
int server_role_parse(const char *name, enum server_role *out);
const char *server_role_name(enum server_role role);

/* Runs until SIGINT or SIGTERM. When ready_fd >= 0, writes "PORT\n" to it
 * once serving (for tests that ask for port 0; a worker without a port
 * writes "0\n"). Returns 0 after a clean shutdown or a negative code when
 * start-up failed (the reason is logged). */
int server_run(const struct server_config *config, int ready_fd);

#endif
