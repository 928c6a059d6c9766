/* Internal to src/glossary: the representation glossary.c builds and
 * glossary_match.c reads. */
#ifndef BC_GLOSSARY_INTERNAL_H
#define BC_GLOSSARY_INTERNAL_H

#include "glossary/glossary.h"

struct glossary_translation {
    char lang[LANG_CODE_MAX];
    char *text;
};

struct glossary_entry {
    char *term;           /* as written, blanks squeezed */
    char *words[GLOSSARY_WORDS_MAX]; /* the term's words in ASCII lower case */
    size_t n_words;
    int keep;
    char *sounds_like;    /* "" when none */
    struct glossary_translation tr[GLOSSARY_LANGS_MAX];
    size_t n_tr;
};

struct glossary {
    struct glossary_entry *entries;
    size_t n;
};

#endif
