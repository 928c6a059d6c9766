/* babelcast languages: what can be translated and spoken here. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "engine/mt.h"
#include "engine/tts.h"
#include "util/log.h"

int cli_languages(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: babelcast languages\n\nLists the source language and every installed "
               "target language,\nwith its voice (or text-only) and the pivot it goes through.\n");
        return CLI_EXIT_OK;
    }
    if (argc > 1)
        return cli_fail(CLI_EXIT_USAGE, "languages takes no arguments (see --help)");
    bc_log_set_level(BC_LOG_ERROR);
    struct mt_params mt_params;
    mt_default_params(&mt_params);
    struct mt *mt = NULL;
    struct tts *tts = NULL;
    struct tts_params tts_params;
    tts_default_params(&tts_params);
    if (mt_new(&mt_params, &mt) < 0)
        return cli_fail(CLI_EXIT_FAILURE, "no Apertium translation from English is installed");
    if (tts_new(&tts_params, &tts) < 0)
        fprintf(stderr, "babelcast: speech synthesis unavailable; every language is text-only\n");
    printf("source: en (English)\n\n%-12s %-22s %-16s %-12s %s\n", "target", "name", "voice",
           "translation", "modes");
    for (size_t i = 0; i < mt_language_count(mt); i++) {
        const struct mt_language *l = mt_language_at(mt, i);
        const char *voice = NULL;
        bool stand_in = false;
        char voice_text[48] = "text-only";
        if (tts && tts_voice_for(tts, l->code, &voice, &stand_in) == 0)
            snprintf(voice_text, sizeof voice_text, "%s%s", voice, stand_in ? " (stand-in)" : "");
        char modes[2 * MT_MODE_NAME_MAX + 4];
        snprintf(modes, sizeof modes, "%s%s%s", l->mode, l->pivot_mode[0] ? " + " : "",
                 l->pivot_mode);
        printf("%-12s %-22s %-16s %-12s %s\n", l->code, l->name, voice_text,
               l->pivot_mode[0] ? "via es" : "direct", modes);
    }
    tts_free(tts);
    mt_free(mt);
    return CLI_EXIT_OK;
}
