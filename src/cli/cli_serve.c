/* babelcast serve: the broadcast server. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "server/server.h"
#include "util/log.h"
#include "util/web_root.h"

#define SERVE_MAX_PORT 65535
#define SERVE_MAX_FRAME_BYTES (16L * 1024 * 1024)
#define SERVE_MAX_COUNT 1000000
#define SERVE_MAX_QUEUE_BYTES (1024L * 1024 * 1024)
#define SERVE_MAX_LAG_MS (3600L * 1000)
#define SERVE_MAX_ALLOW_ORIGINS 32
#define SERVE_MAX_IDLE_S (366L * 24 * 3600)
#define SERVE_MAX_RETENTION_DAYS 36600
#define SERVE_PATH_MAX 4096
/* Over 100 %: threads may be kept busy beyond their time (when they wait
 * on engines in other processes). */
#define SERVE_MAX_LOAD_PCT 1000

static void usage(FILE *out)
{
    fprintf(out,
            "usage: babelcast serve [OPTIONS]\n"
            "\n"
            "Serves the speaker and listener web pages, the REST API and the WebSockets on\n"
            "one port, and translates every live session. With --redis, gateways and\n"
            "workers can run as separate processes on several machines.\n"
            "\n"
            "  --role all|gateway|worker all: one process does everything (default);\n"
            "                            gateway: sockets and API, no engines; worker:\n"
            "                            recognition, translation, speech, no sockets\n"
            "                            (with --listen it serves /healthz and /metrics)\n"
            "  --redis URL               redis://[:password@]host:port[/db]: registry,\n"
            "                            stream, delivery and work assignment in Redis\n"
            "  --listen HOST:PORT        address to listen on (default 127.0.0.1:8080)\n"
            "  --data-dir DIR            sessions, transcripts, stream log, audio archive\n"
            "                            (default ./babelcast-data)\n"
            "  --web-root DIR            static pages (default: PREFIX/share/babelcast/web\n"
            "                            beside PREFIX/bin/babelcast, else the source tree's)\n"
            "  --stream URL              ingestion stream: mem://, file://DIR, redis://... or\n"
            "                            kinesis://NAME?region=R[&endpoint=URL]\n"
            "                            (default file://DATA_DIR/stream, or the Redis URL)\n"
            "  --archive URL             where translated speech and, at session end,\n"
            "                            transcripts go: file://DIR or\n"
            "                            s3://BUCKET/PREFIX?region=R[&endpoint=URL]\n"
            "                            (default file://DATA_DIR/audio)\n"
            "  --public-url URL          base of shared links (default http://HOST:PORT)\n"
            "  --workers N               pipeline threads (default: one per processor)\n"
            "  --max-sessions N          live sessions at once (default 64); for a worker,\n"
            "                            the most sessions it processes at once\n"
            "  --capacity-load-pct N     share of the worker threads' time live sessions\n"
            "                            may keep busy, in percent (default 80): a worker\n"
            "                            takes sessions while their measured load fits\n"
            "  --latency-budget-ms N     end of speech to first audio goal (default 1000):\n"
            "                            a worker whose records wait over half of it takes\n"
            "                            no more sessions, and a session whose records do\n"
            "                            sheds partial captions until it catches up\n"
            "  --lease-ttl-ms N          a worker's hold on a session; another worker takes\n"
            "                            over this long after it dies (default 2000)\n"
            "  --max-listeners N         listeners per session (default 500)\n"
            "  --max-frame-bytes N       largest speaker frame (default 65536)\n"
            "  --utterance-silence-ms N  silence that ends an utterance (default 300)\n"
            "  --utterance-max-ms N      longest utterance before a cut (default 12000)\n"
            "  --listener-lag-ms N       drop a listener whose oldest unsent message\n"
            "                            is N ms old (default 10000; close 4408)\n"
            "  --listener-queue-bytes N  or that has N bytes unsent (default 4 MiB)\n"
            "  --allow-origin ORIGIN     also accept sockets and POST/DELETE from pages of\n"
            "                            ORIGIN (https://host[:port]; repeatable); others\n"
            "                            than the server's own get 403 bad_origin\n"
            "  --session-rate N          sessions one client address may create per\n"
            "                            minute (default 10; 0: no limit; 429 beyond)\n"
            "  --idle-session-s N        a live session with no speaker connected for N s\n"
            "                            ends by itself (default 1800; 0: never)\n"
            "  --retention-days N        delete the transcripts and archived speech of\n"
            "                            sessions N days after they end (default 30;\n"
            "                            0: keep them)\n"
            "  --tls-cert FILE           serve https and wss with this PEM certificate\n"
            "  --tls-key FILE            and this PEM private key\n"
            "  --tls-self-signed         serve https and wss with a self-signed certificate\n"
            "                            for the listen host, localhost and 127.0.0.1,\n"
            "                            made once in DATA_DIR/tls and reused\n"
            "  --recognizers process|thread\n"
            "                            process (default): each session's recognizer is\n"
            "                            a process forked from one that loaded the model\n"
            "                            (about 20 MB each); thread: in this process\n"
            "                            (about 80 MB each)\n"
            "  --no-speech               captions only\n"
            "  --port-file FILE          write the port once listening\n"
            "  --log-format text|json    json: one object per line with ts, level, msg,\n"
            "                            pid and role (default text)\n"
            "  -v, --verbose             debug logging\n");
}

static int parse_listen(const char *text, struct gateway_config *cfg, char *host, size_t len)
{
    const char *colon = strrchr(text, ':');
    long port;
    if (!colon || (size_t)(colon - text) >= len || cli_parse_int(colon + 1, 0, SERVE_MAX_PORT, &port))
        return -1;
    memcpy(host, text, (size_t)(colon - text));
    host[colon - text] = '\0';
    cfg->listen_host = host[0] ? host : "127.0.0.1";
    cfg->port = (int)port;
    return 0;
}

static const char *option_name(const struct option *options, int val)
{
    for (; options->name; options++) {
        if (options->val == val)
            return options->name;
    }
    return "?";
}

int cli_serve(int argc, char **argv)
{
    enum {
        OPT_DATA = 256, OPT_WEB, OPT_STREAM, OPT_PUBLIC, OPT_WORKERS, OPT_SESSIONS,
        OPT_LISTENERS, OPT_FRAME, OPT_SILENCE, OPT_MAX_UTT, OPT_QUEUE, OPT_LAG, OPT_NO_SPEECH,
        OPT_PORT_FILE, OPT_ROLE, OPT_REDIS, OPT_LEASE_TTL, OPT_ALLOW_ORIGIN,
        OPT_SESSION_RATE, OPT_IDLE_SESSION, OPT_RETENTION, OPT_TLS_CERT, OPT_TLS_KEY,
        OPT_TLS_SELF_SIGNED, OPT_LOG_FORMAT, OPT_ARCHIVE, OPT_CAPACITY_LOAD, OPT_LATENCY_BUDGET,
        OPT_RECOGNIZERS,
    };
    static const struct option options[] = {
        {"listen", required_argument, NULL, 'l'},
        {"data-dir", required_argument, NULL, OPT_DATA},
        {"web-root", required_argument, NULL, OPT_WEB},
        {"stream", required_argument, NULL, OPT_STREAM},
        {"archive", required_argument, NULL, OPT_ARCHIVE},
        {"public-url", required_argument, NULL, OPT_PUBLIC},
        {"workers", required_argument, NULL, OPT_WORKERS},
        {"max-sessions", required_argument, NULL, OPT_SESSIONS},
        {"max-listeners", required_argument, NULL, OPT_LISTENERS},
        {"max-frame-bytes", required_argument, NULL, OPT_FRAME},
        {"utterance-silence-ms", required_argument, NULL, OPT_SILENCE},
        {"utterance-max-ms", required_argument, NULL, OPT_MAX_UTT},
        {"listener-queue-bytes", required_argument, NULL, OPT_QUEUE},
        {"listener-lag-ms", required_argument, NULL, OPT_LAG},
        {"no-speech", no_argument, NULL, OPT_NO_SPEECH},
        {"port-file", required_argument, NULL, OPT_PORT_FILE},
        {"role", required_argument, NULL, OPT_ROLE},
        {"redis", required_argument, NULL, OPT_REDIS},
        {"lease-ttl-ms", required_argument, NULL, OPT_LEASE_TTL},
        {"allow-origin", required_argument, NULL, OPT_ALLOW_ORIGIN},
        {"session-rate", required_argument, NULL, OPT_SESSION_RATE},
        {"idle-session-s", required_argument, NULL, OPT_IDLE_SESSION},
        {"retention-days", required_argument, NULL, OPT_RETENTION},
        {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
        {"tls-key", required_argument, NULL, OPT_TLS_KEY},
        {"tls-self-signed", no_argument, NULL, OPT_TLS_SELF_SIGNED},
        {"log-format", required_argument, NULL, OPT_LOG_FORMAT},
        {"capacity-load-pct", required_argument, NULL, OPT_CAPACITY_LOAD},
        {"latency-budget-ms", required_argument, NULL, OPT_LATENCY_BUDGET},
        {"recognizers", required_argument, NULL, OPT_RECOGNIZERS},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct server_config cfg;
    server_default_config(&cfg);
    char web_root[PATH_MAX];
    if (bc_web_root_default(web_root, sizeof web_root) < 0)
        return cli_fail(CLI_EXIT_FAILURE, "the default web root does not fit a path; give --web-root");
    cfg.gateway.web_root = web_root;
    char host[256];
    const char *allow_origins[SERVE_MAX_ALLOW_ORIGINS];
    char tls_dir[SERVE_PATH_MAX];
    int self_signed = 0;
    cfg.gateway.allow_origins = allow_origins;
    const char *port_file = NULL;
    long value;
    int opt;
    optind = 1;
    opterr = 0; /* one-line errors of our own below */
    while ((opt = getopt_long(argc, argv, "l:vh", options, NULL)) != -1) {
        switch (opt) {
        case 'l':
            if (parse_listen(optarg, &cfg.gateway, host, sizeof host) < 0)
                return cli_fail(CLI_EXIT_USAGE, "--listen wants HOST:PORT, got '%s'", optarg);
            cfg.serve_http = 1;
            break;
        case OPT_ROLE:
            if (server_role_parse(optarg, &cfg.role) < 0)
                return cli_fail(CLI_EXIT_USAGE, "--role wants all, gateway or worker, got '%s'",
                                optarg);
            break;
        case OPT_REDIS: cfg.redis_url = optarg; break;
        case OPT_LOG_FORMAT: {
            enum bc_log_format format;
            if (bc_log_format_parse(optarg, &format) < 0)
                return cli_fail(CLI_EXIT_USAGE, "--log-format wants text or json, got '%s'", optarg);
            bc_log_set_format(format);
            break;
        }
        case OPT_RECOGNIZERS:
            if (strcmp(optarg, "process") == 0)
                cfg.asr.isolation = ASR_ISOLATION_FORK;
            else if (strcmp(optarg, "thread") == 0)
                cfg.asr.isolation = ASR_ISOLATION_IN_PROCESS;
            else
                return cli_fail(CLI_EXIT_USAGE, "--recognizers wants process or thread, got '%s'",
                                optarg);
            break;
        case OPT_DATA: cfg.data_dir = optarg; break;
        case OPT_WEB: cfg.gateway.web_root = optarg; break;
        case OPT_STREAM: cfg.stream_url = optarg; break;
        case OPT_ARCHIVE: cfg.archive_url = optarg; break;
        case OPT_PUBLIC: cfg.gateway.public_url = optarg; break;
        case OPT_NO_SPEECH: cfg.with_speech = 0; break;
        case OPT_PORT_FILE: port_file = optarg; break;
        case OPT_TLS_CERT: cfg.gateway.tls_cert = optarg; break;
        case OPT_TLS_KEY: cfg.gateway.tls_key = optarg; break;
        case OPT_TLS_SELF_SIGNED: self_signed = 1; break;
        case OPT_ALLOW_ORIGIN:
            if (cfg.gateway.n_allow_origins == SERVE_MAX_ALLOW_ORIGINS)
                return cli_fail(CLI_EXIT_USAGE, "at most %d --allow-origin options",
                                SERVE_MAX_ALLOW_ORIGINS);
            allow_origins[cfg.gateway.n_allow_origins++] = optarg;
            break;
        case OPT_SESSION_RATE:
        case OPT_IDLE_SESSION:
        case OPT_RETENTION: {
            long max = opt == OPT_IDLE_SESSION ? SERVE_MAX_IDLE_S
                       : opt == OPT_RETENTION  ? SERVE_MAX_RETENTION_DAYS
                                               : SERVE_MAX_COUNT;
            if (cli_parse_int(optarg, 0, max, &value) < 0)
                return cli_fail(CLI_EXIT_USAGE, "--%s wants a number from 0 to %ld, got '%s'",
                                option_name(options, opt), max, optarg);
            if (opt == OPT_SESSION_RATE) cfg.gateway.session_rate_per_min = (int)value;
            if (opt == OPT_IDLE_SESSION) cfg.gateway.idle_session_s = (int)value;
            if (opt == OPT_RETENTION) cfg.gateway.retention_days = (int)value;
            break;
        }
        case 'v': bc_log_set_level(BC_LOG_DEBUG); break;
        case 'h': usage(stdout); return CLI_EXIT_OK;
        case OPT_WORKERS:
        case OPT_SESSIONS:
        case OPT_LISTENERS:
        case OPT_FRAME:
        case OPT_SILENCE:
        case OPT_MAX_UTT:
        case OPT_QUEUE:
        case OPT_LEASE_TTL:
        case OPT_CAPACITY_LOAD:
        case OPT_LATENCY_BUDGET:
        case OPT_LAG: {
            long max = opt == OPT_FRAME   ? SERVE_MAX_FRAME_BYTES
                       : opt == OPT_QUEUE ? SERVE_MAX_QUEUE_BYTES
                       : opt == OPT_CAPACITY_LOAD ? SERVE_MAX_LOAD_PCT
                       : opt == OPT_LAG || opt == OPT_LEASE_TTL || opt == OPT_LATENCY_BUDGET
                           ? SERVE_MAX_LAG_MS
                           : SERVE_MAX_COUNT;
            if (cli_parse_int(optarg, 1, max, &value) < 0)
                return cli_fail(CLI_EXIT_USAGE, "--%s wants a number from 1 to %ld, got '%s'",
                                option_name(options, opt), max, optarg);
            if (opt == OPT_WORKERS) cfg.worker_threads = (int)value;
            if (opt == OPT_LEASE_TTL) cfg.lease_ttl_ms = (int)value;
            if (opt == OPT_SESSIONS) cfg.max_sessions = (int)value;
            if (opt == OPT_LISTENERS) cfg.max_listeners_per_session = (int)value;
            if (opt == OPT_FRAME) cfg.gateway.max_frame_bytes = (size_t)value;
            if (opt == OPT_SILENCE) cfg.asr.utterance_silence_ms = (int)value;
            if (opt == OPT_MAX_UTT) cfg.asr.utterance_max_ms = (int)value;
            if (opt == OPT_QUEUE) cfg.gateway.listener_queue_max_bytes = (size_t)value;
            if (opt == OPT_LAG) cfg.gateway.listener_max_lag_ms = (int)value;
            if (opt == OPT_CAPACITY_LOAD) cfg.capacity_load_pct = (int)value;
            if (opt == OPT_LATENCY_BUDGET) cfg.latency_budget_ms = (int)value;
            break;
        }
        default: return cli_bad_option("serve", argv[optind - 1]);
        }
    }
    if (optind != argc)
        return cli_fail(CLI_EXIT_USAGE, "serve takes no positional arguments (see --help)");
    if (cfg.role != SERVER_ROLE_ALL && !cfg.redis_url)
        return cli_fail(CLI_EXIT_USAGE, "--role %s needs --redis URL: gateways and workers meet "
                        "in Redis", server_role_name(cfg.role));
    if (cfg.role == SERVER_ROLE_ALL)
        cfg.serve_http = 1;
    if (!cfg.gateway.tls_cert != !cfg.gateway.tls_key)
        return cli_fail(CLI_EXIT_USAGE, "--tls-cert and --tls-key go together");
    if (self_signed && cfg.gateway.tls_cert)
        return cli_fail(CLI_EXIT_USAGE, "--tls-self-signed or --tls-cert/--tls-key, not both");
    if (self_signed) {
        snprintf(tls_dir, sizeof tls_dir, "%s/tls", cfg.data_dir);
        cfg.gateway.tls_self_signed_dir = tls_dir;
    }
    bc_log_set_role(server_role_name(cfg.role));
    FILE *port_out = NULL;
    if (port_file && !(port_out = fopen(port_file, "w")))
        return cli_fail(CLI_EXIT_USAGE, "cannot write --port-file %s", port_file);
    int rc = server_run(&cfg, port_out ? fileno(port_out) : -1);
    if (port_out)
        fclose(port_out);
    return rc < 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}
