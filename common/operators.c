/*
 * operators.c — operators named by their bearer tokens (see operators.h).
 */
#include "operators.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sha256.h"

void operators_init(struct operators *o)
{
	memset(o, 0, sizeof(*o));
}

static bool name_ok(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n >= OPERATORS_NAME_MAX)
		return false;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '.' ||
		      *p == '_' || *p == '-'))
			return false;
	return true;
}

/* Adds name with digest; NULL, or why not. */
static const char *add_digest(struct operators *o, const char *name, const uint8_t digest[32])
{
	if (!name_ok(name))
		return "a name is 1-47 of a-z, 0-9, '.', '_', '-'";
	for (int i = 0; i < o->n; i++) {
		if (!strcmp(o->op[i].name, name))
			return "this operator is named twice";
		if (!memcmp(o->op[i].digest, digest, 32))
			return "this token is another operator's too";
	}
	if (o->n == OPERATORS_MAX)
		return "too many operators (at most 64)";
	snprintf(o->op[o->n].name, OPERATORS_NAME_MAX, "%s", name);
	memcpy(o->op[o->n].digest, digest, 32);
	o->n++;
	return NULL;
}

int operators_add(struct operators *o, const char *name, const char *token, char *err,
		  size_t errlen)
{
	uint8_t d[32];
	sha256(token, strlen(token), d);
	const char *why = add_digest(o, name, d);
	if (why)
		snprintf(err, errlen, "operator %s: %s", name, why);
	return why ? -1 : 0;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* "sha256:" and 64 lowercase hex digits into d; false otherwise. */
static bool parse_hash(const char *s, uint8_t d[32])
{
	if (strncmp(s, "sha256:", 7) != 0 || strlen(s + 7) != 64)
		return false;
	for (int i = 0; i < 32; i++) {
		int hi = hexval(s[7 + 2 * i]), lo = hexval(s[8 + 2 * i]);
		if (hi < 0 || lo < 0)
			return false;
		d[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

/* One line of the file: nothing, or NAME HASH.  NULL, or why not. */
static const char *parse_line(struct operators *o, char *line)
{
	char *hash_mark = strchr(line, '#');
	if (hash_mark)
		*hash_mark = '\0';
	char name[128], hash[128], extra[2];
	int n = sscanf(line, "%127s %127s %1s", name, hash, extra);
	uint8_t d[32];
	if (n <= 0)
		return NULL;
	if (n != 2)
		return "expected NAME sha256:HEX (drctl hash-token NAME prints one)";
	if (!parse_hash(hash, d))
		return "expected sha256: and 64 lowercase hex digits, the SHA-256 of the token";
	return add_digest(o, name, d);
}

int operators_load(struct operators *o, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	struct operators next = *o;  /* installed only when the whole file is good */
	char line[512];
	const char *why = NULL;
	int lineno = 0;
	while (!why && fgets(line, sizeof(line), f)) {
		lineno++;
		why = strchr(line, '\n') || feof(f) ? parse_line(&next, line) : "line too long";
	}
	fclose(f);
	if (why) {
		snprintf(err, errlen, "%s:%d: %s", path, lineno, why);
		return -1;
	}
	*o = next;
	return 0;
}

bool operators_actor(const struct operators *o, const char *header, char *actor, size_t len)
{
	if (!header || strncmp(header, "Bearer ", 7) != 0 || !header[7])
		return false;
	uint8_t d[32];
	sha256(header + 7, strlen(header + 7), d);
	int found = -1;
	for (int i = 0; i < o->n; i++) {  /* every entry, whatever matches */
		uint8_t diff = 0;
		for (int k = 0; k < 32; k++)
			diff |= (uint8_t)(d[k] ^ o->op[i].digest[k]);
		if (diff == 0)
			found = i;
	}
	if (found >= 0)
		snprintf(actor, len, "operator:%s", o->op[found].name);
	return found >= 0;
}

int operators_line(const char *name, const char *token, char *out, size_t len, char *err,
		   size_t errlen)
{
	uint8_t d[32];
	char hex[SHA256_HEX_SIZE];
	if (!name_ok(name)) {
		snprintf(err, errlen, "operator %s: a name is 1-47 of a-z, 0-9, '.', '_', '-'", name);
		return -1;
	}
	sha256(token, strlen(token), d);
	sha256_hex(d, hex);
	snprintf(out, len, "%s sha256:%s", name, hex);
	return 0;
}
