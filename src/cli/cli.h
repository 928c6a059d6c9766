/* Subcommands of the babelcast binary. Each takes the arguments after its
 * name (argv[0] is the subcommand) and returns the process exit code. */
#ifndef BC_CLI_H
#define BC_CLI_H

#include <stddef.h>

enum cli_exit { CLI_EXIT_OK = 0, CLI_EXIT_FAILURE = 1, CLI_EXIT_USAGE = 2 };

#define CLI_LANGS_MAX 16
#define CLI_LANG_LEN 16

int cli_translate(int argc, char **argv);
int cli_languages(int argc, char **argv);
int cli_serve(int argc, char **argv);
int cli_speak(int argc, char **argv);
int cli_listen(int argc, char **argv);

/* Prints "babelcast: <message>" to stderr (one line) and returns code. */
int cli_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Reports an unknown option or one missing its value; returns CLI_EXIT_USAGE. */
int cli_bad_option(const char *command, const char *arg);
/* Splits "es,ca,fr" into langs. Returns the count, or -1 when empty, too many
 * or a code is malformed. */
int cli_parse_langs(const char *list, char langs[][CLI_LANG_LEN], size_t max);
/* Parses a whole non-negative decimal number within [min, max]; 0 or -1. */
int cli_parse_int(const char *text, long min, long max, long *out);

/* ---- Shared by speak and listen, the WebSocket clients ---- */

#include <pthread.h>

#define CLI_CLOSE_REASON_MAX 128

struct cJSON;

/* What a client's socket callbacks share with its main thread: the first
 * member of the command's state, so the callbacks' user is both. mu guards
 * the whole state. */
struct cli_conn {
    pthread_mutex_t mu;
    int closed, close_code;
    char close_reason[CLI_CLOSE_REASON_MAX];
    /* Runs under mu for each JSON text message with a string "type". */
    void (*on_message)(struct cli_conn *conn, const char *type, const struct cJSON *msg);
};

/* client_ws callbacks whose user is a struct cli_conn: on_text hands
 * messages to conn->on_message; on_close records the code and reason. */
void cli_conn_on_text(const char *text, size_t len, void *user);
void cli_conn_on_close(int code, const char *reason, void *user);

/* An option that takes the next argument as its value. */
struct cli_value_opt {
    const char *name;
    const char **value;
};

/* Takes argv[*i] of a speak/listen command line: --help or -h (returns 1),
 * an option of opts (ended by a NULL name; the value must not be empty
 * unless allow_empty), or the first unset slot of positionals (NULL-ended).
 * Returns 0, 1, or -CLI_EXIT_USAGE after printing "<command>: <problem>". */
int cli_parse_arg(const char *command, int argc, char **argv, int *i,
                  const struct cli_value_opt *opts, int allow_empty,
                  const char **const *positionals);
/* 0 for an http:// or ws:// URL, else -CLI_EXIT_USAGE after saying so. */
int cli_check_url(const char *command, const char *url);

#endif
