/*
 * auth.h — bearer tokens: reading a token file and checking an
 * Authorization header against it in constant time.
 */
#ifndef DRORCH_AUTH_H
#define DRORCH_AUTH_H

#include <stdbool.h>
#include <stddef.h>

/* Reads the first line of path (trailing space trimmed); at least 8 bytes. */
int auth_read_token(const char *path, char *out, size_t len, char *err, size_t errlen);
/* true when header is "Bearer TOKEN" for this token; time independent of
 * where the first difference is. */
bool auth_bearer_ok(const char *header, const char *token);

#endif
