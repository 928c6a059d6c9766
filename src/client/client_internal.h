/* Shared by the client's files (client.c, client_http.c); not part of its
 * interface. */
#ifndef BC_CLIENT_INTERNAL_H
#define BC_CLIENT_INTERNAL_H

#include <stddef.h>

/* Returns buf grown (contents kept) to hold at least need bytes, doubling
 * from first_cap, and updates *cap; buf itself when it is big enough. */
void *client_buf_reserve(void *buf, size_t *cap, size_t need, size_t first_cap);

#endif
