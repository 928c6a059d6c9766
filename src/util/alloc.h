/* Allocation wrappers that abort on out-of-memory, so error codes elsewhere
 * only mean bad input, lost peers or engine failures. Free with free(). */
#ifndef BC_ALLOC_H
#define BC_ALLOC_H

#include <stddef.h>

void *bc_malloc(size_t size);
void *bc_calloc(size_t count, size_t size);
void *bc_realloc(void *ptr, size_t size);
char *bc_strdup(const char *s);
char *bc_strndup(const char *s, size_t n);
/* printf into a new heap string. */
char *bc_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
