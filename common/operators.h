/*
 * operators.h — who is calling drorchd's API: operators named by their
 * bearer tokens (prefix operators_).
 *
 * Owns the table of operators and the check of a request's Authorization
 * header against it.  The operators file (config: operators_file) holds one
 * operator per line, never a token itself:
 *
 *     # NAME  sha256:HEX   (HEX: the SHA-256 of the operator's token)
 *     alice   sha256:e706f2008f191924f4f6d6107fa56e8677a25a416815975bb848eb48e9694416
 *
 * `drctl hash-token NAME < token-file` prints such a line.  Blank lines and
 * '#' comments are ignored; a name is 1-47 of [a-z0-9._-]; a name or a hash
 * given twice is an error (PATH:LINE).  The config's token_file stays valid:
 * its token is the operator "api".  A request's token is hashed and compared
 * with every entry in constant time; the match names the actor
 * "operator:NAME", recorded with every transition, run, step and policy.
 * Pure but for reading the file; unit tests in tests/check_common.c.
 */
#ifndef DRORCH_OPERATORS_H
#define DRORCH_OPERATORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OPERATORS_MAX 64
#define OPERATORS_NAME_MAX 48

struct operators {
	int n;
	struct {
		char name[OPERATORS_NAME_MAX];
		uint8_t digest[32];       /* SHA-256 of the token */
	} op[OPERATORS_MAX];
};

/* An empty table: nobody is let in. */
void operators_init(struct operators *o);
/* Adds name with its token (hashed; the token is not kept).  0, or -1
 * with err (a bad or taken name, the same token as another, table full). */
int operators_add(struct operators *o, const char *name, const char *token, char *err,
		  size_t errlen);
/* Adds every operator of the file at path.  0, or -1 with "PATH:LINE: ..."
 * in err (the table is then as it was). */
int operators_load(struct operators *o, const char *path, char *err, size_t errlen);
/* The actor of an Authorization header, "operator:NAME", into actor[len];
 * false when it names no operator ("Bearer TOKEN" with an unknown token, or
 * anything else). */
bool operators_actor(const struct operators *o, const char *header, char *actor, size_t len);
/* The file's line for name and token ("NAME sha256:HEX"), into out. */
int operators_line(const char *name, const char *token, char *out, size_t len, char *err,
		   size_t errlen);

#endif
