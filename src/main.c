/* babelcast: real-time speech translation broadcast server. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "config_build.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"serve", cli_serve, "run the broadcast server (HTTP, WebSockets, pipeline)"},
    {"speak", cli_speak, "stream a recording to a server as a speaker"},
    {"listen", cli_listen, "listen to a session: captions and translated audio"},
    {"translate", cli_translate, "translate a recording offline into captions and speech"},
    {"languages", cli_languages, "list source and target languages"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: babelcast COMMAND [OPTIONS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nbabelcast COMMAND --help shows a command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("babelcast %s\n", BC_VERSION);
        return CLI_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    }
    return cli_fail(CLI_EXIT_USAGE, "unknown command '%s' (see babelcast --help)", argv[1]);
}
