/*
 * http.c — the HTTP server wrapper (see http.h for the contract).
 *
 * A request.  libmicrohttpd (MHD) calls uri_logged when the request line
 * is in, with the target still raw: we allocate the per-request state
 * there and note a NUL the target would decode to.  It calls on_request
 * once the headers are in (we refuse a NUL, or a body that can never fit,
 * or note one to drain), once per body chunk (we accumulate up to
 * max_body, then count and discard), and once more with no data, when we
 * run the handler (or answer 413) and queue the response.  on_completed
 * frees the per-request state.
 *
 * An oversized body is drained when it is only somewhat over: a reply
 * queued from the headers callback makes MHD close the connection with the
 * body unread, and the client, still sending, may then see a connection
 * reset instead of the 413.  A body far over (HTTP_DRAIN_FACTOR) is not
 * worth reading: it may never come.
 *
 * A connection.  on_connection tracks each open connection: its peer (for
 * the per-peer cap that accept_policy checks) and its head deadline, by
 * which a complete request head must be in.  The reaper thread shuts down
 * the socket of a connection past its deadline; MHD then closes it.  MHD's
 * own timeout is one of inactivity, which a slowloris client, sending a
 * byte a second, never trips.
 */
#include "http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <search.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "decimal.h"
#include "httpstats.h"
#include "log.h"
#include "nofile.h"
#include "timeutil.h"

#define REAPER_PERIOD_MS 500

/* One open connection, from MHD's "started" to its "closed" notice. */
struct conn {
	struct conn *prev, *next;
	int fd;
	uint32_t peer;             /* IPv4, network order; 0: not counted */
	uint64_t head_deadline_ms; /* monotonic; 0: not waiting for a head */
};

/* Open connections of one counted peer (a node of http_server.peers). */
struct peer {
	uint32_t addr;
	unsigned conns;
};

struct http_server {
	struct MHD_Daemon *daemon;
	struct http_server_opts opts;
	unsigned max_conns, max_per_peer;

	pthread_mutex_t mu;        /* guards the fields below */
	uint16_t port;             /* set once, after the daemon starts */
	pthread_cond_t cv;
	struct conn *conns;
	void *peers;               /* tsearch tree of struct peer */
	unsigned refused, reaped;  /* since the reaper last logged them */
	bool stopping;
	pthread_t reaper;
};

struct req_state {
	char *body;
	size_t len;
	size_t cap;
	uint64_t received;         /* body bytes, kept or not */
	bool too_large;
	bool headers_seen;         /* on_request has run once */
	uintptr_t target;          /* where MHD holds the raw target ... */
	size_t target_len;         /* ... and its length as a C string */
	const char *nul_where;     /* "path" or "query" when a %00 is in it */
	size_t nul_at;             /* its offset there, after decoding */
};

static int resolve_ipv4(const char *host, struct in_addr *out)
{
	if (inet_pton(AF_INET, host, out) == 1)
		return 0;
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res)
		return -1;
	*out = ((struct sockaddr_in *)res->ai_addr)->sin_addr;
	freeaddrinfo(res);
	return 0;
}

int http_parse_hostport(const char *s, char *host, size_t hostlen, uint16_t *port)
{
	const char *colon = s ? strrchr(s, ':') : NULL;
	if (!colon || colon == s || (size_t)(colon - s) >= hostlen)
		return -1;
	uint64_t p = 0;
	if (decimal_u64_in(colon + 1, 0, 65535, &p) != DECIMAL_OK)
		return -1;  /* digits alone: "h:+80" and "h: 80" are not ports */
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	*port = (uint16_t)p;
	return 0;
}

/* ---- responses ------------------------------------------------------------ */

static void resp_set_body(struct http_resp *resp, int status, const char *type,
			  char *body, size_t len)
{
	free(resp->body);
	resp->status = status;
	resp->content_type = type;
	resp->body = body;
	resp->body_len = len;
}

void http_resp_json(struct http_resp *resp, int status, json_t *body)
{
	char *text = body ? json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(body);
	if (!text) {
		resp_set_body(resp, 500, "application/json", NULL, 0);
		static const char oom[] = "{\"error\":\"out of memory building response\"}";
		http_resp_bytes(resp, 500, "application/json", oom, sizeof(oom) - 1);
		return;
	}
	resp_set_body(resp, status, "application/json", text, strlen(text));
}

void http_resp_bytes(struct http_resp *resp, int status, const char *content_type,
		     const void *data, size_t len)
{
	char *copy = malloc(len ? len : 1);
	if (!copy) {
		resp_set_body(resp, 503, "application/json", NULL, 0);
		return;
	}
	if (len)
		memcpy(copy, data, len);
	resp_set_body(resp, status, content_type, copy, len);
}

void http_resp_error(struct http_resp *resp, int status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	http_resp_json(resp, status, json_pack("{s:s}", "error", msg));
}

int http_resp_header(struct http_resp *resp, const char *name, const char *value)
{
	if (resp->nheaders >= HTTP_MAX_RESP_HEADERS)
		return -1;
	struct http_header *h = &resp->headers[resp->nheaders];
	h->name = strdup(name);
	h->value = strdup(value);
	if (!h->name || !h->value) {
		free(h->name);
		free(h->value);
		return -1;
	}
	resp->nheaders++;
	return 0;
}

static void resp_release(struct http_resp *resp)
{
	free(resp->body);
	for (int i = 0; i < resp->nheaders; i++) {
		free(resp->headers[i].name);
		free(resp->headers[i].value);
	}
}

/* ---- requests ------------------------------------------------------------- */

const char *http_req_header(const struct http_req *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *http_req_query(const struct http_req *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

json_t *http_body_json(const char *body, size_t len, char *err, size_t errlen)
{
	if (!body || len == 0) {
		snprintf(err, errlen, "request body must be a JSON object");
		return NULL;
	}
	json_error_t jerr;
	json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!j) {
		snprintf(err, errlen, "invalid JSON at line %d column %d: %s", jerr.line,
			 jerr.column, jerr.text);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		snprintf(err, errlen, "request body must be a JSON object");
		return NULL;
	}
	return j;
}

json_t *http_req_json(const struct http_req *req, struct http_resp *resp)
{
	char err[512];
	json_t *j = http_body_json(req->body, req->body_len, err, sizeof(err));
	if (!j)
		http_resp_error(resp, 400, "%s", err);
	return j;
}

static enum MHD_Result queue_resp(struct MHD_Connection *conn, struct http_resp *resp)
{
	struct MHD_Response *r;
	if (resp->body && resp->body_len) {
		r = MHD_create_response_from_buffer(resp->body_len, resp->body,
						    MHD_RESPMEM_MUST_FREE);
		if (r)
			resp->body = NULL;  /* now owned by libmicrohttpd */
	} else {
		r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	}
	if (!r)
		return MHD_NO;
	if (resp->content_type)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, resp->content_type);
	for (int i = 0; i < resp->nheaders; i++)
		MHD_add_response_header(r, resp->headers[i].name, resp->headers[i].value);
	enum MHD_Result ret = MHD_queue_response(conn, (unsigned)resp->status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result reply_now(struct MHD_Connection *conn, int status,
				 const char *msg)
{
	struct http_resp resp = { 0 };
	http_resp_error(&resp, status, "%s", msg);
	enum MHD_Result ret = queue_resp(conn, &resp);
	resp_release(&resp);
	return ret;
}

/* ---- the request target: NUL bytes -------------------------------------- */

static bool is_escape(const char *p)
{
	return p[0] == '%' && isxdigit((unsigned char)p[1]) && isxdigit((unsigned char)p[2]);
}

/* Bytes that raw[0..n) decodes to, as MHD decodes a target: %HH is one. */
static size_t decoded_len(const char *raw, size_t n)
{
	size_t out = 0;
	for (size_t i = 0; i < n; out++)
		i += i + 3 <= n && is_escape(raw + i) ? 3 : 1;
	return out;
}

/* Notes the first %00 of the raw target: in the path or in the query. */
static void find_escaped_nul(struct req_state *st, const char *raw)
{
	const char *query = strchr(raw, '?');
	for (const char *p = raw; *p; p++) {
		if (p[0] != '%' || p[1] != '0' || p[2] != '0')
			continue;
		bool in_query = query && p > query;
		const char *from = in_query ? query + 1 : raw;
		st->nul_where = in_query ? "query" : "path";
		st->nul_at = decoded_len(from, (size_t)(p - from));
		return;
	}
}

/*
 * MHD_OPTION_URI_LOG_CALLBACK: the first call of a request, with the target
 * before MHD splits off the query and decodes it in place.  Its return
 * value is the request's state (con_cls).
 */
static void *uri_logged(void *cls, const char *uri, struct MHD_Connection *conn)
{
	(void)cls; (void)conn;
	struct req_state *st = calloc(1, sizeof(*st));
	if (!st)
		return NULL;
	st->target = (uintptr_t)uri;
	st->target_len = strlen(uri);
	find_escaped_nul(st, uri);
	return st;
}

/*
 * A raw 0x00 in the target.  MHD 0.9.x hands us the target as a C string,
 * cut at the first NUL, and has replaced the space before the HTTP version
 * with one: so the version starts right after the target's end unless the
 * target held a NUL of its own.  (check_drsite sends one, so an MHD that
 * lays its buffer out otherwise fails a test rather than serving a cut
 * path.)
 */
static bool raw_nul_in_target(const struct req_state *st, const char *version)
{
	uintptr_t v = (uintptr_t)version, end = st->target + st->target_len + 1;
	return version[0] && v > end && v - st->target < 64 * 1024;
}

/* ---- the request body -------------------------------------------------- */

/* The Content-Length header; false if absent. */
static bool content_length(struct MHD_Connection *conn, uint64_t *len)
{
	const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (!cl)
		return false;
	errno = 0;
	unsigned long long n = strtoull(cl, NULL, 10);
	*len = errno == ERANGE ? UINT64_MAX : n;
	return true;
}

static bool expects_continue(struct MHD_Connection *conn)
{
	const char *e = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						    MHD_HTTP_HEADER_EXPECT);
	return e && strcasecmp(e, "100-continue") == 0;
}

/* From now on the body is only discarded; the request answers 413. */
static void mark_too_large(struct req_state *st)
{
	st->too_large = true;
	free(st->body);
	st->body = NULL;
	st->len = st->cap = 0;
}

static void body_append(struct req_state *st, const char *data, size_t n, size_t max)
{
	st->received += n;
	if (st->too_large)
		return;
	if (st->len + n > max) {
		mark_too_large(st);
		return;
	}
	if (st->len + n + 1 > st->cap) {
		size_t cap = st->cap ? st->cap : 4096;
		while (cap < st->len + n + 1)
			cap *= 2;
		char *nb = realloc(st->body, cap);
		if (!nb) {
			mark_too_large(st);  /* answered as 413: we cannot hold it */
			return;
		}
		st->body = nb;
		st->cap = cap;
	}
	memcpy(st->body + st->len, data, n);
	st->len += n;
	st->body[st->len] = '\0';
}

/* The most body bytes read for a request before it is cut off. */
static uint64_t drain_limit(const struct http_server *srv)
{
	return (uint64_t)srv->opts.max_body * HTTP_DRAIN_FACTOR;
}

/* ---- connections: caps and deadlines ----------------------------------- */

static int peer_cmp(const void *a, const void *b)
{
	uint32_t x = ((const struct peer *)a)->addr, y = ((const struct peer *)b)->addr;
	return x < y ? -1 : x > y;
}

/* The peer's address if the per-peer cap counts it, else 0. */
static uint32_t counted_peer(const struct http_server *srv, const struct sockaddr *sa)
{
	if (!sa || sa->sa_family != AF_INET)
		return 0;
	uint32_t addr = ((const struct sockaddr_in *)(const void *)sa)->sin_addr.s_addr;
	bool loopback = (ntohl(addr) >> 24) == 127;
	return loopback && !srv->opts.count_loopback_peers ? 0 : addr;
}

/* The peer's count of open connections, 0 if none.  Under srv->mu. */
static unsigned peer_conns_locked(struct http_server *srv, uint32_t addr)
{
	struct peer key = { .addr = addr };
	void *node = tfind(&key, &srv->peers, peer_cmp);
	return node ? (*(struct peer **)node)->conns : 0;
}

/* Counts one more connection of addr; false if out of memory.  Under srv->mu. */
static bool peer_add_locked(struct http_server *srv, uint32_t addr)
{
	struct peer *p = malloc(sizeof(*p));
	if (!p)
		return false;
	*p = (struct peer){ .addr = addr };
	void *node = tsearch(p, &srv->peers, peer_cmp);
	if (!node) {
		free(p);
		return false;
	}
	if (*(struct peer **)node != p)
		free(p);
	(*(struct peer **)node)->conns++;
	return true;
}

static void peer_del_locked(struct http_server *srv, uint32_t addr)
{
	struct peer key = { .addr = addr };
	void *node = tfind(&key, &srv->peers, peer_cmp);
	if (!node)
		return;
	struct peer *p = *(struct peer **)node;
	if (--p->conns == 0) {
		tdelete(&key, &srv->peers, peer_cmp);
		free(p);
	}
}

/* MHD's accept policy: a peer at its cap gets no more connections.  MHD
 * accepts on one thread, and on_connection counts a connection on that same
 * thread before the next accept, so the check cannot be raced past. */
static enum MHD_Result accept_policy(void *cls, const struct sockaddr *addr, socklen_t len)
{
	struct http_server *srv = cls;
	(void)len;
	uint32_t peer = counted_peer(srv, addr);
	if (!peer)
		return MHD_YES;
	pthread_mutex_lock(&srv->mu);
	bool ok = peer_conns_locked(srv, peer) < srv->max_per_peer;
	if (!ok)
		srv->refused++;
	pthread_mutex_unlock(&srv->mu);
	return ok ? MHD_YES : MHD_NO;
}

static void conn_opened(struct http_server *srv, struct MHD_Connection *mc, void **socket_context)
{
	struct conn *c = calloc(1, sizeof(*c));
	if (!c)
		return;  /* untracked: neither counted nor reaped */
	const union MHD_ConnectionInfo *fd = MHD_get_connection_info(mc,
		MHD_CONNECTION_INFO_CONNECTION_FD);
	const union MHD_ConnectionInfo *addr = MHD_get_connection_info(mc,
		MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	c->fd = fd ? fd->connect_fd : -1;
	c->head_deadline_ms = time_mono_ms() + HTTP_HEAD_TIMEOUT_S * 1000u;
	uint32_t peer = counted_peer(srv, addr ? addr->client_addr : NULL);
	pthread_mutex_lock(&srv->mu);
	if (peer && peer_add_locked(srv, peer))
		c->peer = peer;
	c->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = c;
	srv->conns = c;
	pthread_mutex_unlock(&srv->mu);
	*socket_context = c;
}

static void conn_closed(struct http_server *srv, struct conn *c)
{
	pthread_mutex_lock(&srv->mu);
	if (c->peer)
		peer_del_locked(srv, c->peer);
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	pthread_mutex_unlock(&srv->mu);
	free(c);
}

/* MHD_OPTION_NOTIFY_CONNECTION.  MHD closes the socket only after the
 * "closed" notice, so while c is listed its fd is this connection's. */
static void on_connection(void *cls, struct MHD_Connection *mc, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	if (code == MHD_CONNECTION_NOTIFY_STARTED)
		conn_opened(cls, mc, socket_context);
	else if (code == MHD_CONNECTION_NOTIFY_CLOSED && *socket_context)
		conn_closed(cls, *socket_context);
}

/* Sets (0: clears) the head deadline of the connection of mc. */
static void set_head_deadline(struct http_server *srv, struct MHD_Connection *mc,
			      uint64_t deadline_ms)
{
	const union MHD_ConnectionInfo *i = MHD_get_connection_info(mc,
		MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct conn *c = i ? i->socket_context : NULL;
	if (!c)
		return;
	pthread_mutex_lock(&srv->mu);
	c->head_deadline_ms = deadline_ms;
	pthread_mutex_unlock(&srv->mu);
}

/* Shuts down connections past their head deadline; logs what the limits
 * refused since its last pass.  Under srv->mu. */
static void reap_locked(struct http_server *srv, unsigned *refused, unsigned *reaped)
{
	uint64_t now = time_mono_ms();
	for (struct conn *c = srv->conns; c; c = c->next) {
		if (!c->head_deadline_ms || now < c->head_deadline_ms || c->fd < 0)
			continue;
		shutdown(c->fd, SHUT_RDWR);
		c->head_deadline_ms = 0;
		srv->reaped++;
	}
	*refused = srv->refused;
	*reaped = srv->reaped;
	srv->refused = srv->reaped = 0;
}

static void *reaper_main(void *arg)
{
	struct http_server *srv = arg;
	pthread_mutex_lock(&srv->mu);
	while (!srv->stopping) {
		struct timespec ts;
		time_deadline(&ts, REAPER_PERIOD_MS);
		pthread_cond_timedwait(&srv->cv, &srv->mu, &ts);
		unsigned refused, reaped;
		reap_locked(srv, &refused, &reaped);
		if (!refused && !reaped)
			continue;
		int port = srv->port;
		pthread_mutex_unlock(&srv->mu);
		log_event(LOG_WARN, "http.limits_enforced", "{s:i, s:i, s:i}", "port", port,
			  "refused_peer_cap", (int)refused, "closed_head_timeout", (int)reaped);
		pthread_mutex_lock(&srv->mu);
	}
	pthread_mutex_unlock(&srv->mu);
	return NULL;
}

/* ---- the request callbacks ---------------------------------------------- */

/* The headers are in: refuse what no handler should see, else go on. */
static enum MHD_Result begin_request(struct http_server *srv, struct MHD_Connection *conn,
				     struct req_state *st, const char *version)
{
	char why[200];
	set_head_deadline(srv, conn, 0);
	if (raw_nul_in_target(st, version)) {
		snprintf(why, sizeof(why), "request target: a NUL byte (0x00) at offset %zu; "
			 "targets may not hold one", st->target_len);
		return reply_now(conn, 400, why);
	}
	if (st->nul_where) {
		snprintf(why, sizeof(why), "%s: %%00 decodes to a NUL byte (0x00) at offset %zu; "
			 "paths and queries may not hold one", st->nul_where, st->nul_at);
		return reply_now(conn, 400, why);
	}
	uint64_t len;
	if (!content_length(conn, &len) || len <= srv->opts.max_body)
		return MHD_YES;
	if (len <= drain_limit(srv) && !expects_continue(conn)) {
		mark_too_large(st);  /* read it, then answer */
		return MHD_YES;
	}
	snprintf(why, sizeof(why), "request body of %llu bytes is over the limit of %zu bytes",
		 (unsigned long long)len, srv->opts.max_body);
	return reply_now(conn, 413, why);
}

static enum MHD_Result run_handler(struct http_server *srv, struct MHD_Connection *conn,
				   struct req_state *st, const char *url, const char *method)
{
	struct http_req req = { .method = method, .path = url, .body = st->body,
				.body_len = st->len, .conn = conn };
	struct http_resp resp = { .status = 500 };
	uint64_t started_ns = time_mono_ns();
	srv->opts.handler(srv->opts.ctx, &req, &resp);
	if (!resp.content_type && !resp.body)
		http_resp_error(&resp, 500, "handler produced no response");
	if (srv->opts.stats)
		httpstats_observe(srv->opts.stats, httpstats_route(srv->opts.routes, url), method,
				  resp.status, started_ns);
	enum MHD_Result ret = queue_resp(conn, &resp);
	resp_release(&resp);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
				  const char *url, const char *method,
				  const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct http_server *srv = cls;
	struct req_state *st = *con_cls;
	if (!st)
		return MHD_NO;  /* uri_logged ran out of memory */
	if (!st->headers_seen) {
		st->headers_seen = true;
		return begin_request(srv, conn, st, version);
	}
	if (*upload_data_size) {
		body_append(st, upload_data, *upload_data_size, srv->opts.max_body);
		*upload_data_size = 0;
		/* A body with no Content-Length (chunked) that runs far over is cut off. */
		return st->received > drain_limit(srv) ? MHD_NO : MHD_YES;
	}
	if (st->too_large) {
		char why[160];
		snprintf(why, sizeof(why), "request body of %llu bytes is over the limit of %zu "
			 "bytes", (unsigned long long)st->received, srv->opts.max_body);
		return reply_now(conn, 413, why);
	}
	return run_handler(srv, conn, st, url, method);
}

/* The request is over (answered, or the connection is closing); the next
 * one on this connection has HTTP_HEAD_TIMEOUT_S to arrive. */
static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	(void)toe;
	struct req_state *st = *con_cls;
	if (st) {
		free(st->body);
		free(st);
		*con_cls = NULL;
	}
	set_head_deadline(cls, conn, time_mono_ms() + HTTP_HEAD_TIMEOUT_S * 1000u);
}

/* libmicrohttpd's own messages; fmt is its printf format (the attribute
 * tells the compiler so: clang's -Wformat-nonliteral). */
__attribute__((format(printf, 2, 0)))
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	char msg[512];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	size_t n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	log_event(LOG_DEBUG, "http.mhd", "{s:s}", "message", msg);
}

/* ---- the server ---------------------------------------------------------- */

/* The connection caps: the asked ones, within what RLIMIT_NOFILE allows. */
static void size_caps(struct http_server *srv)
{
	uint64_t nofile = nofile_soft();
	uint64_t fit = nofile > 2u * HTTP_FD_RESERVE ? nofile - HTTP_FD_RESERVE : nofile / 2;
	unsigned want = srv->opts.max_connections ? srv->opts.max_connections
						  : HTTP_MAX_CONNECTIONS;
	srv->max_conns = want < fit ? want : (unsigned)fit;
	if (srv->max_conns < 1)
		srv->max_conns = 1;
	srv->max_per_peer = srv->opts.max_connections_per_peer ? srv->opts.max_connections_per_peer
							       : srv->max_conns / 4;
	if (srv->max_per_peer < 1)
		srv->max_per_peer = 1;
}

static struct MHD_Daemon *start_daemon(struct http_server *srv, struct sockaddr_in *addr)
{
	unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
			 MHD_USE_POLL | MHD_USE_ERROR_LOG;
	return MHD_start_daemon(flags, 0, accept_policy, srv, on_request, srv,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)addr,
		MHD_OPTION_URI_LOG_CALLBACK, uri_logged, srv,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
		MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv,
		MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, srv,
		MHD_OPTION_CONNECTION_LIMIT, srv->max_conns,
		MHD_OPTION_CONNECTION_TIMEOUT, HTTP_IDLE_TIMEOUT_S,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONN_MEMORY,
		MHD_OPTION_THREAD_STACK_SIZE, (size_t)HTTP_THREAD_STACK,
		MHD_OPTION_END);
}

static void stop_reaper(struct http_server *srv)
{
	pthread_mutex_lock(&srv->mu);
	srv->stopping = true;
	pthread_cond_signal(&srv->cv);
	pthread_mutex_unlock(&srv->mu);
	pthread_join(srv->reaper, NULL);
}

static void server_free(struct http_server *srv)
{
	pthread_cond_destroy(&srv->cv);
	pthread_mutex_destroy(&srv->mu);
	free(srv);
}

int http_server_start(struct http_server **out, const struct http_server_opts *opts,
		      char *err, size_t errlen)
{
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(opts->port) };
	if (resolve_ipv4(opts->host, &addr.sin_addr) != 0) {
		snprintf(err, errlen, "cannot resolve listen host '%s'", opts->host);
		return -1;
	}
	struct http_server *srv = calloc(1, sizeof(*srv));
	if (!srv) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	srv->opts = *opts;
	size_caps(srv);
	pthread_mutex_init(&srv->mu, NULL);
	pthread_cond_init(&srv->cv, NULL);
	int rc = pthread_create(&srv->reaper, NULL, reaper_main, srv);
	if (rc != 0) {
		snprintf(err, errlen, "start the connection reaper: %s", strerror(rc));
		server_free(srv);
		return -1;
	}
	errno = 0;
	srv->daemon = start_daemon(srv, &addr);
	if (!srv->daemon) {
		snprintf(err, errlen, "cannot listen on %s:%u: %s", opts->host,
			 (unsigned)opts->port, errno ? strerror(errno) : "address in use?");
		stop_reaper(srv);
		server_free(srv);
		return -1;
	}
	const union MHD_DaemonInfo *info =
		MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
	pthread_mutex_lock(&srv->mu);  /* the reaper logs it */
	srv->port = info ? info->port : opts->port;
	pthread_mutex_unlock(&srv->mu);
	log_event(LOG_INFO, "http.limits", "{s:i, s:i, s:i, s:i, s:i, s:i, s:I}",
		  "port", (int)srv->port, "max_connections", (int)srv->max_conns,
		  "max_connections_per_peer", (int)srv->max_per_peer,
		  "head_timeout_s", (int)HTTP_HEAD_TIMEOUT_S,
		  "idle_timeout_s", (int)HTTP_IDLE_TIMEOUT_S,
		  "thread_stack_kib", (int)(HTTP_THREAD_STACK / 1024),
		  "nofile", (json_int_t)(nofile_soft() > INT64_MAX ? INT64_MAX : nofile_soft()));
	*out = srv;
	return 0;
}

uint16_t http_server_port(const struct http_server *srv)
{
	return srv->port;
}

void http_server_stop(struct http_server *srv)
{
	if (!srv)
		return;
	MHD_stop_daemon(srv->daemon);
	stop_reaper(srv);
	server_free(srv);
}
