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

#endif
