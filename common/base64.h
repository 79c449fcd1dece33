/*
 * base64.h — standard base64 (RFC 4648, with padding), for binary values in
 * JSON framing.
 */
#ifndef DRORCH_BASE64_H
#define DRORCH_BASE64_H

#include <stddef.h>

/* Returns a malloc'd NUL-terminated encoding, or NULL. */
char *base64_encode(const void *data, size_t len);
/* Decodes into a malloc'd buffer; NULL on bad input or allocation failure. */
unsigned char *base64_decode(const char *text, size_t *len);

#endif
