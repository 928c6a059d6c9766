#include "server/server.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive/archive.h"
#include "archive/retention.h"
#include "catalog/catalog.h"
#include "delivery/delivery.h"
#include "metrics/metrics.h"
#include "metrics/probes.h"
#include "pipeline/engines.h"
#include "pipeline/worker.h"
#include "session/session.h"
#include "stream/stream.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"
#include "util/timeutil.h"

#define SERVER_DEFAULT_DATA_DIR "babelcast-data"
#define SERVER_DEFAULT_MAX_SESSIONS 64
#define SERVER_DEFAULT_MAX_LISTENERS 500
#define SERVER_DEFAULT_LEASE_TTL_MS 2000
#define SERVER_DEFAULT_SHUTDOWN_TIMEOUT_MS 20000
#define SERVER_DELIVERY_QUEUE_MAX 65536
/* After the drain, listeners get this long to receive what is queued. */
#define SERVER_FLUSH_TIMEOUT_MS 2000
/* Then archive uploads get this long; what remains is uploaded after the
 * next start. */
#define SERVER_ARCHIVE_FLUSH_MS 5000
#define SERVER_CATALOG_PUBLISH_US (10 * 1000 * 1000)
/* How often a process without sockets looks for the stop signal. */
#define SERVER_IDLE_SLICE_US 100000
#define MS_PER_DAY (24LL * 3600 * 1000)
#define PERCENT 100.0
#define SERVER_RETENTION_SWEEP_US (3600LL * 1000 * 1000)

static volatile sig_atomic_t stop_requested;
static struct gateway *signal_gateway;

static void on_signal(int signo)
{
    (void)signo;
    stop_requested = 1;
    gateway_wake(signal_gateway);
}

struct server {
    struct server_config config;
    struct session_registry *registry;
    struct stream *stream;
    struct delivery *bus;
    struct pipeline_engines engines;
    char *catalog_json; /* what this process's engines offer */
    struct worker_pool *workers;
    struct gateway *gateway;
    struct archive *archive;
};

void server_default_config(struct server_config *c)
{
    memset(c, 0, sizeof *c);
    c->role = SERVER_ROLE_ALL;
    c->data_dir = SERVER_DEFAULT_DATA_DIR;
    gateway_default_config(&c->gateway);
    c->max_sessions = SERVER_DEFAULT_MAX_SESSIONS;
    c->max_listeners_per_session = SERVER_DEFAULT_MAX_LISTENERS;
    c->lease_ttl_ms = SERVER_DEFAULT_LEASE_TTL_MS;
    c->with_speech = 1;
    c->shutdown_timeout_ms = SERVER_DEFAULT_SHUTDOWN_TIMEOUT_MS;
    asr_default_params(&c->asr);
}

static const char *const role_names[] = {"all", "gateway", "worker"};

int server_role_parse(const char *name, enum server_role *out)
{
    for (size_t i = 0; i < sizeof role_names / sizeof role_names[0]; i++) {
        if (strcmp(name, role_names[i]) == 0) {
            *out = (enum server_role)i;
            return 0;
        }
    }
    return BC_EINVAL;
}

const char *server_role_name(enum server_role role)
{
    return role_names[role];
}

static int runs_workers(const struct server *srv)
{
    return srv->config.role != SERVER_ROLE_GATEWAY;
}

static int runs_gateway(const struct server *srv)
{
    return srv->config.role != SERVER_ROLE_WORKER;
}

static int make_dir(const char *path)
{
    if (mkdir(path, 0700) == 0 || errno == EEXIST)
        return 0;
    bc_error("cannot create directory %s: %s", path, strerror(errno));
    return BC_EIO;
}

static int open_registry(struct server *srv)
{
    const struct server_config *cfg = &srv->config;
    struct session_limits limits = {cfg->max_sessions, cfg->max_listeners_per_session,
                                    (int64_t)cfg->gateway.retention_days * MS_PER_DAY};
    char *db = bc_asprintf("%s/sessions.db", cfg->data_dir);
    int rc = session_registry_open_url(cfg->redis_url ? cfg->redis_url : db, &limits,
                                       &srv->registry);
    if (rc < 0)
        bc_error("cannot open the session registry %s", cfg->redis_url ? cfg->redis_url : db);
    free(db);
    return rc;
}

static int open_stream(struct server *srv)
{
    const struct server_config *cfg = &srv->config;
    char *default_url = bc_asprintf("file://%s/stream", cfg->data_dir);
    const char *url = cfg->stream_url ? cfg->stream_url : cfg->redis_url ? cfg->redis_url : default_url;
    struct stream_params params;
    stream_default_params(&params);
    params.redis_url = cfg->redis_url;
    params.state_dir = cfg->data_dir;
    int rc = stream_open(url, &params, &srv->stream);
    if (rc < 0)
        bc_error("cannot open the ingestion stream %s: %s", url, bc_strerror(rc));
    free(default_url);
    return rc;
}

static void wake_gateway(void *user_data)
{
    struct server *srv = user_data;
    gateway_wake(srv->gateway);
}

static void on_stream_append(void *user_data, const char *session_id)
{
    struct server *srv = user_data;
    worker_pool_notify(srv->workers, session_id);
}

/* Workers publish what their engines offer; gateways read it back. A
 * worker publishes again now and then, so the catalog returns after Redis
 * lost it. */
static void publish_catalog(struct server *srv)
{
    int rc = session_catalog_set(srv->registry, srv->catalog_json);
    if (rc < 0)
        bc_debug("language catalog not published: %s", bc_strerror(rc));
}

static int fetch_catalog(void *user_data, char **json)
{
    struct server *srv = user_data;
    if (srv->catalog_json) {
        *json = bc_strdup(srv->catalog_json);
        return 0;
    }
    return session_catalog_get(srv->registry, json);
}

static void add_health(void *user_data, cJSON *json)
{
    struct server *srv = user_data;
    cJSON_AddStringToObject(json, "role", server_role_name(srv->config.role));
    if (!srv->workers)
        return;
    struct worker_capacity cap;
    worker_pool_capacity(srv->workers, &cap);
    cJSON_AddNumberToObject(json, "worker_sessions", (double)cap.sessions);
    cJSON *c = cJSON_AddObjectToObject(json, "worker_capacity");
    cJSON_AddNumberToObject(c, "room", cap.room);
    cJSON_AddNumberToObject(c, "estimate", cap.estimate);
    cJSON_AddNumberToObject(c, "busy_per_audio_s", cap.busy_per_audio_s);
    cJSON_AddNumberToObject(c, "queue_delay_p95_ms", (double)cap.delay_p95_ms);
}

static void collect_worker_metrics(void *user_data)
{
    struct server *srv = user_data;
    struct worker_capacity cap;
    worker_pool_capacity(srv->workers, &cap);
    probe_set_worker_sessions(cap.sessions);
    probe_set_worker_room(cap.room);
    for (int level = SESSION_SHED_NONE; level <= SESSION_SHED_PARTIALS; level++)
        probe_set_shedding(session_shedding_name((enum session_shedding)level),
                           cap.shedding[level]);
}

static int start_workers(struct server *srv)
{
    const struct server_config *cfg = &srv->config;
    struct catalog *catalog = engines_catalog(&srv->engines);
    srv->catalog_json = catalog_json(catalog);
    catalog_free(catalog);
    publish_catalog(srv);
    int rc = archive_open(cfg->archive_url, cfg->data_dir, &srv->archive);
    if (rc < 0) {
        bc_error("cannot open the archive %s: %s",
                 cfg->archive_url ? cfg->archive_url : "in the data directory", bc_strerror(rc));
        return rc;
    }
    struct worker_config wc;
    worker_default_config(&wc);
    if (cfg->worker_threads > 0)
        wc.threads = cfg->worker_threads;
    wc.archive = srv->archive;
    wc.max_sessions = cfg->max_sessions;
    wc.lease_ttl_ms = cfg->lease_ttl_ms;
    if (cfg->capacity_load_pct > 0)
        wc.target_load = cfg->capacity_load_pct / PERCENT;
    if (cfg->latency_budget_ms > 0)
        wc.latency_budget_ms = cfg->latency_budget_ms;
    rc = worker_pool_new(&wc, &srv->engines, srv->stream, srv->registry, srv->bus, &srv->workers);
    if (rc < 0)
        return rc;
    stream_set_notify(srv->stream, on_stream_append, srv);
    if (metrics_collector_add(collect_worker_metrics, srv) < 0)
        bc_warn("the worker's session count is not in the metrics");
    return 0;
}

static int start_gateway(struct server *srv)
{
    struct gateway_config gc = srv->config.gateway;
    gc.health_only = !runs_gateway(srv);
    struct gateway_deps deps = {srv->registry, srv->stream, srv->bus, fetch_catalog, add_health,
                                srv};
    return gateway_new(&gc, &deps, &srv->gateway);
}

static void report_port(struct server *srv, int ready_fd)
{
    int port = srv->gateway ? gateway_port(srv->gateway) : 0;
    if (srv->gateway)
        bc_info("%s listening on %s (web root %s)", server_role_name(srv->config.role),
                gateway_public_url(srv->gateway), srv->config.gateway.web_root);
    else
        bc_info("worker running (no port)");
    if (ready_fd >= 0) {
        char line[32];
        int n = snprintf(line, sizeof line, "%d\n", port);
        if (write(ready_fd, line, (size_t)n) != n)
            bc_warn("could not report the port");
    }
}

static int start(struct server *srv, int ready_fd)
{
    probe_init(server_role_name(srv->config.role), runs_gateway(srv), runs_workers(srv));
    /* First, while this process has one thread: forked recognizers (asr.h). */
    int rc = runs_workers(srv) ? engines_open(&srv->config.asr, srv->config.with_speech,
                                              &srv->engines)
                               : 0;
    if (rc == 0)
        rc = make_dir(srv->config.data_dir);
    if (rc == 0)
        rc = open_registry(srv);
    if (rc == 0)
        rc = open_stream(srv);
    if (rc < 0)
        return rc;
    const char *bus_url = srv->config.redis_url ? srv->config.redis_url : "mem://";
    if ((rc = delivery_open(bus_url, SERVER_DELIVERY_QUEUE_MAX, wake_gateway, srv, &srv->bus)) < 0) {
        bc_error("cannot open the delivery bus %s: %s", bus_url, bc_strerror(rc));
        return rc;
    }
    if (runs_workers(srv) && (rc = start_workers(srv)) < 0)
        return rc;
    if ((runs_gateway(srv) || srv->config.serve_http) && (rc = start_gateway(srv)) < 0)
        return rc;
    report_port(srv, ready_fd);
    return 0;
}

/* Ends utterances in flight, lets local workers finish them, then gives
 * listeners a moment to receive what is queued. */
static void drain(struct server *srv)
{
    if (srv->gateway && runs_gateway(srv))
        gateway_begin_drain(srv->gateway);
    if (srv->workers && worker_pool_drain(srv->workers, srv->config.shutdown_timeout_ms) < 0)
        bc_warn("shutdown: some audio is still unprocessed; it stays in the stream");
    if (srv->gateway)
        gateway_flush(srv->gateway, SERVER_FLUSH_TIMEOUT_MS);
    if (archive_pending(srv->archive) > 0 && archive_wait(srv->archive, SERVER_ARCHIVE_FLUSH_MS) < 0)
        bc_warn("shutdown: %zu archive objects stay spooled until the next start",
                archive_pending(srv->archive));
}

static void stop(struct server *srv)
{
    signal_gateway = NULL;
    metrics_collector_remove(collect_worker_metrics, srv);
    if (srv->workers)
        stream_set_notify(srv->stream, NULL, NULL); /* no call into a freed pool */
    worker_pool_free(srv->workers);
    gateway_free(srv->gateway);
    delivery_free(srv->bus);
    engines_close(&srv->engines);
    stream_close(srv->stream);
    session_registry_close(srv->registry);
    free(srv->catalog_json);
    archive_close(srv->archive); /* after the workers: they write to it */
}

int server_run(const struct server_config *config, int ready_fd)
{
    struct server srv;
    memset(&srv, 0, sizeof srv);
    srv.config = *config;
    stop_requested = 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    int rc = start(&srv, ready_fd);
    if (rc == 0) {
        signal_gateway = srv.gateway;
        int64_t published_us = bc_now_us(), swept_us = 0;
        while (!stop_requested) {
            /* Workers hold the archive: they sweep, at start and hourly. */
            if (srv.workers && (!swept_us || bc_now_us() - swept_us > SERVER_RETENTION_SWEEP_US)) {
                retention_sweep(srv.registry, archive_local_dir(srv.archive),
                                srv.config.gateway.retention_days,
                                bc_wall_ms());
                swept_us = bc_now_us();
            }
            if (srv.gateway)
                gateway_service(srv.gateway);
            else
                bc_sleep_us(SERVER_IDLE_SLICE_US);
            if (srv.catalog_json && bc_now_us() - published_us > SERVER_CATALOG_PUBLISH_US) {
                publish_catalog(&srv);
                published_us = bc_now_us();
            }
        }
        bc_info("shutting down: finishing utterances in flight");
        drain(&srv);
    }
    stop(&srv);
    if (rc == 0)
        bc_info("stopped");
    return rc;
}
