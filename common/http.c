/*
 * http.c — the HTTP server wrapper (see http.h for the contract).
 *
 * libmicrohttpd calls on_request several times per request: once when the
 * headers are in (we allocate the per-request state, and mark it too large
 * when Content-Length exceeds max_body), once per body chunk (we accumulate
 * up to max_body, then only count and discard), and once more with no data,
 * when we run the handler (or answer 413) and queue the response.
 * on_completed frees the per-request state.
 *
 * An oversized body is drained, not refused early: a reply queued from the
 * headers callback makes libmicrohttpd close the connection with the body
 * still unread, and the client, still sending, may then see a connection
 * reset instead of the 413.
 */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "histo.h"
#include "log.h"
#include "timeutil.h"

struct http_server {
	struct MHD_Daemon *daemon;
	struct http_server_opts opts;
	uint16_t port;
};

struct req_state {
	char *body;
	size_t len;
	size_t cap;
	bool too_large;
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
	char *end = NULL;
	errno = 0;
	unsigned long p = strtoul(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || p > 65535)
		return -1;
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

json_t *http_req_json(const struct http_req *req, struct http_resp *resp)
{
	if (!req->body || req->body_len == 0) {
		http_resp_error(resp, 400, "request body must be a JSON object");
		return NULL;
	}
	json_error_t jerr;
	json_t *j = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
	if (!j) {
		http_resp_error(resp, 400, "invalid JSON at line %d column %d: %s",
				jerr.line, jerr.column, jerr.text);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		http_resp_error(resp, 400, "request body must be a JSON object");
		return NULL;
	}
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

static bool content_length_exceeds(struct MHD_Connection *conn, size_t max)
{
	const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_CONTENT_LENGTH);
	return cl && strtoull(cl, NULL, 10) > max;
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

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
				  const char *url, const char *method,
				  const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct http_server *srv = cls;
	struct req_state *st = *con_cls;
	(void)version;

	if (!st) {
		st = calloc(1, sizeof(*st));
		if (!st)
			return MHD_NO;
		*con_cls = st;
		if (content_length_exceeds(conn, srv->opts.max_body))
			mark_too_large(st);
		return MHD_YES;
	}
	if (*upload_data_size) {
		body_append(st, upload_data, *upload_data_size, srv->opts.max_body);
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (st->too_large)
		return reply_now(conn, 413, "request body too large");

	struct http_req req = { .method = method, .path = url, .body = st->body,
				.body_len = st->len, .conn = conn };
	struct http_resp resp = { .status = 500 };
	uint64_t started_ns = time_mono_ns();
	srv->opts.handler(srv->opts.ctx, &req, &resp);
	if (srv->opts.request_seconds)
		histo_observe_since(srv->opts.request_seconds, started_ns);
	if (!resp.content_type && !resp.body)
		http_resp_error(&resp, 500, "handler produced no response");
	enum MHD_Result ret = queue_resp(conn, &resp);
	resp_release(&resp);
	return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	(void)cls; (void)conn; (void)toe;
	struct req_state *st = *con_cls;
	if (st) {
		free(st->body);
		free(st);
		*con_cls = NULL;
	}
}

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
	unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
			 MHD_USE_POLL | MHD_USE_ERROR_LOG;
	srv->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, srv,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
		MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, srv,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
		MHD_OPTION_END);
	if (!srv->daemon) {
		snprintf(err, errlen, "cannot listen on %s:%u: %s", opts->host,
			 (unsigned)opts->port, errno ? strerror(errno) : "address in use?");
		free(srv);
		return -1;
	}
	const union MHD_DaemonInfo *info =
		MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
	srv->port = info ? info->port : opts->port;
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
	free(srv);
}
