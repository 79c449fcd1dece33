/*
 * version.h — release versions X.Y.Z (three non-negative integers), as
 * drsite's binary version and the cluster's feature-compatibility version
 * (FCV) are written, compared number by number (1.10.0 > 1.9.0).
 */
#ifndef DRORCH_VERSION_H
#define DRORCH_VERSION_H

#include <stdbool.h>
#include <stddef.h>

struct version {
	unsigned major, minor, patch;
};

/* true when text is exactly X.Y.Z; fills *v. */
bool version_parse(const char *text, struct version *v);
/* <0, 0, >0 as a is older than, equal to, newer than b. */
int version_cmp(const struct version *a, const struct version *b);
/* v as X.Y.Z into buf; returns buf. */
const char *version_text(const struct version *v, char *buf, size_t len);
/* The same on text; a malformed version sorts before every valid one. */
int version_cmp_text(const char *a, const char *b);

#endif
