/*
 * chttp.h — drchaos's own HTTP client: one libcurl easy handle per thread.
 *
 * drchaos judges the code under test, so it talks to it with nothing of
 * that code (common/httpc is drorch's client, not this one).  A handle is
 * used by one thread at a time; chttp_global_init() once before any thread.
 * An answer is a status and a body; no answer at all (refused, reset, timed
 * out) is a transport error with its text.
 *
 * A 307 or 308 with an http:// Location (an HA drorchd follower pointing at
 * its leader) is followed: the same method, body and bearer token are sent
 * there, at most CHTTP_MAX_REDIRECTS times, each hop with the whole
 * timeout; the answer is the last one, and `url` says where it came from.
 * No other redirect is followed.
 */
#ifndef DRCHAOS_CHTTP_H
#define DRCHAOS_CHTTP_H

#include <stddef.h>
#include <stdint.h>

struct chttp;

struct chttp_ans {
	long status;               /* 0: no answer (transport error) */
	char *body;                /* NUL-terminated, malloc'd; NULL when empty */
	size_t len;
	char primary_hint[64];     /* X-Drorch-Primary, "" if absent */
	int64_t lsn_header;        /* X-Drorch-Lsn, -1 if absent */
	char err[160];             /* transport error text */
	int not_sent;              /* a transport error before the request left: the
				    * connection was refused (safe to send elsewhere) */
	char url[200];             /* where the answer came from (after redirects) */
	int redirects;             /* 307/308 followed */
};

#define CHTTP_MAX_REDIRECTS 3

int chttp_global_init(void);
struct chttp *chttp_new(void);
void chttp_free(struct chttp *c);

/* One request, following 307/308 as above; bearer and body may be NULL.
 * Returns 0 when the server answered (any status), -1 on a transport error
 * (a->err says which).  a->body is the caller's to free with chttp_ans_free. */
int chttp_do(struct chttp *c, const char *method, const char *url, const char *bearer,
	     const void *body, size_t len, long timeout_ms, struct chttp_ans *a);
void chttp_ans_free(struct chttp_ans *a);

#endif
