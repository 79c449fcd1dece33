/*
 * auth.c — bearer tokens (see auth.h).
 */
#include "auth.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int auth_read_token(const char *path, char *out, size_t len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (!f || !fgets(out, (int)len, f)) {
		snprintf(err, errlen, "token file %s: %s", path, f ? "empty" : strerror(errno));
		if (f)
			fclose(f);
		return -1;
	}
	fclose(f);
	size_t n = strcspn(out, "\r\n");
	while (n && (out[n - 1] == ' ' || out[n - 1] == '\t'))
		n--;
	out[n] = '\0';
	if (n < 8) {
		snprintf(err, errlen, "token file %s: the token must be at least 8 characters", path);
		return -1;
	}
	return 0;
}

bool auth_bearer_ok(const char *header, const char *token)
{
	if (!header || strncmp(header, "Bearer ", 7) != 0)
		return false;
	const char *a = header + 7;
	size_t la = strlen(a), lb = strlen(token);
	unsigned char diff = (unsigned char)(la != lb);
	for (size_t i = 0; i < lb; i++)
		diff |= (unsigned char)(a[i < la ? i : 0] ^ token[i]);
	return diff == 0;
}
