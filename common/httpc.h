/*
 * httpc.h — drorch's HTTP client wrapper over libcurl.
 *
 * One struct httpc holds one curl easy handle, so consecutive requests reuse a
 * kept-alive connection.  An httpc is not thread-safe: use one per thread.
 * Used by drctl, drorchd (talking to sites), tests and benchmarks.
 */
#ifndef DRORCH_HTTPC_H
#define DRORCH_HTTPC_H

#include <stdbool.h>
#include <stddef.h>

struct httpc;

struct httpc_resp {
	long status;               /* HTTP status, 0 if no response */
	char *body;                /* NUL-terminated, owned by the resp */
	size_t body_len;
	char *headers;             /* the final answer's header lines, or NULL */
};

/* Once per process, before threads start. 0 or -1. */
int httpc_global_init(void);

/* NULL on allocation failure. */
struct httpc *httpc_new(void);
void httpc_free(struct httpc *c);

/*
 * Sends one request and waits up to timeout_ms for the whole answer.
 * bearer may be NULL (no Authorization header); body may be NULL.
 * Returns 0 when an HTTP answer arrived (any status), -1 on a transport
 * failure or timeout with a message in err[].  On 0 the caller frees out
 * with httpc_resp_free().
 */
int httpc_request(struct httpc *c, const char *method, const char *url,
		  const char *bearer, const void *body, size_t body_len,
		  long timeout_ms, struct httpc_resp *out, char *err, size_t errlen);
void httpc_resp_free(struct httpc_resp *r);

/*
 * From now on, every request of c asks give_up(ctx) before it starts (true:
 * it is not sent, and fails) and while it waits (libcurl asks often while
 * bytes flow, about once a second while none do), and ends at once, as a
 * transport failure, when it answers true: a long poll that a change of plan
 * made pointless need not run to its timeout, and a deposed orchestrator
 * sends nothing.  NULL: never.
 */
void httpc_set_give_up(struct httpc *c, bool (*give_up)(void *ctx), void *ctx);
/* From now on, every request of c that carries a bearer token asks
 * header(ctx, line, len) for one more header line ("Name: value", without
 * CRLF) and sends it when that answers true: drorchd's term with HA, which
 * is read as each command leaves.  NULL: none. */
void httpc_set_header(struct httpc *c, bool (*header)(void *ctx, char *line, size_t len),
		      void *ctx);
/* The value of header `name` (case-insensitive) of r, without surrounding
 * space, into out[len]; false when r has no such header or it does not fit. */
bool httpc_resp_header(const struct httpc_resp *r, const char *name, char *out, size_t len);

/*
 * After a failed httpc_request: true when the request certainly never
 * reached the server (the connection was refused or the host unknown), as
 * opposed to a timeout or a broken connection, after which the server may
 * have received and acted on it.
 */
bool httpc_not_delivered(const struct httpc *c);

#endif
