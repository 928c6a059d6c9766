/* Where the static pages are when --web-root is not given. */
#ifndef BC_WEB_ROOT_H
#define BC_WEB_ROOT_H

#include <stddef.h>

/* The first of these that holds index.html, into out (len bytes):
 *   1. PREFIX/share/babelcast/web when the running binary is PREFIX/bin/NAME
 *      (an installed or unpacked package, wherever it was put);
 *   2. the source tree's web/ (a binary run from its build tree);
 *   3. the web root of the configured install prefix.
 * The last is given even when it holds nothing. Returns 0, or BC_ELIMIT
 * when a path does not fit. */
int bc_web_root_default(char *out, size_t len);

#endif
