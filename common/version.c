/*
 * version.c — release versions X.Y.Z (see version.h).
 */
#include "version.h"

#include <stdio.h>


/* One field: 1 to 9 decimal digits, no sign or space; *p moves past it. */
static bool field(const char **p, unsigned *out)
{
	unsigned v = 0;
	int n = 0;
	while (**p >= '0' && **p <= '9' && n < 10) {
		v = v * 10 + (unsigned)(**p - '0');
		(*p)++;
		n++;
	}
	*out = v;
	return n >= 1 && n <= 9;
}

bool version_parse(const char *text, struct version *v)
{
	const char *p = text;
	return p && field(&p, &v->major) && *p++ == '.' && field(&p, &v->minor) &&
	       *p++ == '.' && field(&p, &v->patch) && *p == '\0';
}

static int cmp_u(unsigned a, unsigned b)
{
	return (a > b) - (a < b);
}

int version_cmp(const struct version *a, const struct version *b)
{
	int c = cmp_u(a->major, b->major);
	if (!c)
		c = cmp_u(a->minor, b->minor);
	return c ? c : cmp_u(a->patch, b->patch);
}

const char *version_text(const struct version *v, char *buf, size_t len)
{
	snprintf(buf, len, "%u.%u.%u", v->major, v->minor, v->patch);
	return buf;
}

int version_cmp_text(const char *a, const char *b)
{
	struct version va, vb;
	bool oka = version_parse(a, &va), okb = version_parse(b, &vb);
	if (!oka || !okb)
		return (int)oka - (int)okb;
	return version_cmp(&va, &vb);
}
