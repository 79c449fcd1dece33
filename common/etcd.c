/*
 * etcd.c — the client of etcd's v3 JSON gateway (see etcd.h).  In order:
 * the gateway's format, the transport and its failover, JSON helpers, then
 * the calls as the header lists them (key-value, transactions, leases,
 * watch).
 *
 * THE GATEWAY (etcd 3.4's grpc-gateway, http://HOST:PORT/v3/...)
 * Every call is a POST of one JSON object, the gRPC request in proto3's
 * JSON mapping, answered by one:
 *   - keys, range ends and values are base64 strings: "key":"Zm9v";
 *   - int64 fields are decimal strings: "revision":"12", "ID":"7587...";
 *   - a field at its zero value is left out: a range of no keys is
 *     {"header":{...}} alone, a transaction whose compares failed has no
 *     "succeeded", an empty value no "value", a PUT event no "type";
 *   - "header":{"revision":"N",...} carries the store's revision;
 *   - "\0" as a range_end means every key from key on;
 *   - etcd refusing a request answers HTTP 4xx or 5xx with
 *     {"error":"TEXT","message":"TEXT","code":GRPC_CODE}, e.g. 400 code 3
 *     "etcdserver: duplicate key given in txn request", 404 code 5
 *     "etcdserver: requested lease not found".  A member that lost its
 *     quorum holds a request for 5 s + 2 election timeouts, then answers a
 *     write with 500 code 2 "context deadline exceeded" (a read: 503 code
 *     14 "etcdserver: request timed out"): whether a write was applied, it
 *     cannot know;
 *   - lease keepalive is a stream endpoint: the one request {"ID":"N"}
 *     answers one line {"result":{"ID":"N","TTL":"S"}}; no TTL: the lease
 *     is gone.
 *
 * WATCH FRAMING
 * POST /v3/watch {"create_request":{"key","range_end","start_revision"}}
 * answers HTTP 200, then one JSON object per line ("\n") for as long as
 * the connection lasts, each a WatchResponse under "result":
 *   {"result":{"header":{..},"created":true}}                     first
 *   {"result":{"header":{"revision":"H"},"events":[EVENT,..]}}    changes
 *   {"result":{"header":{..},"canceled":true,"compact_revision":"C"}}
 * EVENT is {"type":"DELETE","kv":{"key","mod_revision"}} or {"kv":{...}}
 * (a put).  A line holds whole revisions; catching up from an old
 * start_revision, etcd stamps each batch with its current revision H,
 * past the batch's last event: the revision to resume from is the last
 * event's + 1, never H + 1.  A compacted start_revision answers "created"
 * and then the cancel, C the oldest revision left.  An error inside the
 * stream is a line {"error":{"grpc_code":..,"message":..}}.
 */
#include "etcd.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "base64.h"
#include "timeutil.h"

struct etcd {
	char **endpoints;          /* n URLs, owned */
	int n;
	int cur;                   /* the endpoint that answered last: tried first */
	long timeout_ms;
	CURL *curl;
	CURLM *multi;              /* runs curl so that a watch can look at *stop */
	struct curl_slist *headers;
};

/* ---- the transport ------------------------------------------------------ */

/* One POST: the answer's bytes, and for a stream the handler of its lines. */
struct xfer {
	CURL *curl;
	char *buf;
	size_t len, cap;
	bool oom;
	int (*on_line)(void *ctx, const char *line, size_t len);  /* nonzero: end */
	void *line_ctx;
	size_t lines;              /* delivered to on_line */
	bool ended;                /* on_line, *stop or until ended it */
	uint64_t until;            /* stream: end (no error) at this time */
	uint64_t first_line_by;    /* stream: no line by this time is a failure */
};

/* How one attempt on one endpoint ended. */
enum outcome {
	ANSWERED,      /* an HTTP answer, in the xfer */
	UNDELIVERED,   /* the request never reached the endpoint */
	LOST,          /* sent, but no whole answer came: it may have acted on it */
	ENDED,         /* a stream ended by its handler, *stop or its time */
	NOMEM,
};

static void __attribute__((format(printf, 3, 4)))
add_err(char *err, size_t errlen, const char *fmt, ...)
{
	size_t used = strnlen(err, errlen);
	if (used && used + 2 < errlen) {
		memcpy(err + used, "; ", 3);
		used += 2;
	}
	va_list ap;
	va_start(ap, fmt);
	if (used < errlen)
		vsnprintf(err + used, errlen - used, fmt, ap);
	va_end(ap);
}

/* Hands the complete lines of a 200 answer to on_line, keeping the rest. */
static void deliver_lines(struct xfer *x)
{
	char *start = x->buf, *nl;
	while (!x->ended && (nl = memchr(start, '\n', x->len - (size_t)(start - x->buf)))) {
		x->lines++;
		if (x->on_line(x->line_ctx, start, (size_t)(nl - start)))
			x->ended = true;
		start = nl + 1;
	}
	x->len -= (size_t)(start - x->buf);
	memmove(x->buf, start, x->len);
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct xfer *x = userdata;
	size_t n = size * nmemb;
	if (x->ended)
		return n;
	if (x->len + n + 1 > x->cap) {
		size_t cap = x->cap ? x->cap * 2 : 4096;
		while (cap < x->len + n + 1)
			cap *= 2;
		char *nb = realloc(x->buf, cap);
		if (!nb) {
			x->oom = true;
			return 0;
		}
		x->buf = nb;
		x->cap = cap;
	}
	memcpy(x->buf + x->len, ptr, n);
	x->len += n;
	x->buf[x->len] = '\0';
	long status = 0;
	curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &status);
	if (x->on_line && status == 200)
		deliver_lines(x);
	return n;
}

/* Runs the transfer set up on e->curl; CURLE_OK too when x->ended. */
static CURLcode perform(struct etcd *e, struct xfer *x, const atomic_bool *stop)
{
	if (curl_multi_add_handle(e->multi, e->curl) != CURLM_OK)
		return CURLE_FAILED_INIT;
	CURLcode rc = CURLE_OK;
	int running = 1;
	while (running && !x->ended) {
		if (curl_multi_perform(e->multi, &running) != CURLM_OK) {
			rc = CURLE_FAILED_INIT;
			break;
		}
		uint64_t now = time_mono_ms();
		if ((stop && atomic_load(stop)) || (x->until && now >= x->until))
			x->ended = true;
		else if (x->first_line_by && !x->lines && now >= x->first_line_by) {
			rc = CURLE_OPERATION_TIMEDOUT;
			break;
		}
		if (running && !x->ended)
			curl_multi_poll(e->multi, NULL, 0, 100, NULL);
	}
	CURLMsg *m;
	int left;
	while ((m = curl_multi_info_read(e->multi, &left)))
		if (m->msg == CURLMSG_DONE)
			rc = m->data.result;
	curl_multi_remove_handle(e->multi, e->curl);
	return x->ended ? CURLE_OK : rc;
}

/* What a failed transfer says, and whether it ever reached the endpoint. */
static enum outcome failure(struct etcd *e, CURLcode rc, long total_ms, char *why, size_t len)
{
	long os_errno = 0, sent = 0;
	curl_easy_getinfo(e->curl, CURLINFO_OS_ERRNO, &os_errno);
	curl_easy_getinfo(e->curl, CURLINFO_REQUEST_SIZE, &sent);
	if (rc == CURLE_COULDNT_CONNECT && os_errno)
		snprintf(why, len, "connect: %s", strerror((int)os_errno));
	else if (rc == CURLE_OPERATION_TIMEDOUT)
		snprintf(why, len, "no answer within %ld ms", total_ms);
	else
		snprintf(why, len, "%s", curl_easy_strerror(rc));
	if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST)
		return UNDELIVERED;
	return rc == CURLE_OPERATION_TIMEDOUT && sent == 0 ? UNDELIVERED : LOST;
}

/*
 * POSTs body to endpoint i's path: connected within connect_ms, answered
 * within total_ms (0: no limit, a stream ends by x->until).  Fills x (the
 * caller frees x->buf); why[] says what failed.
 */
static enum outcome attempt(struct etcd *e, int i, const char *path, const char *body,
			    long connect_ms, long total_ms, const atomic_bool *stop,
			    struct xfer *x, char *why, size_t whylen)
{
	char url[512];
	snprintf(url, sizeof(url), "%s%s", e->endpoints[i], path);
	CURL *k = e->curl;
	x->curl = k;
	curl_easy_reset(k);
	curl_easy_setopt(k, CURLOPT_URL, url);
	curl_easy_setopt(k, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(k, CURLOPT_HTTPHEADER, e->headers);
	curl_easy_setopt(k, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(k, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(k, CURLOPT_CONNECTTIMEOUT_MS, connect_ms > 0 ? connect_ms : 1L);
	curl_easy_setopt(k, CURLOPT_TIMEOUT_MS, total_ms);
	curl_easy_setopt(k, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(k, CURLOPT_WRITEDATA, x);
	CURLcode rc = perform(e, x, stop);
	if (x->oom)
		return NOMEM;
	if (x->ended)
		return ENDED;
	if (rc != CURLE_OK)
		return failure(e, rc, total_ms ? total_ms : connect_ms, why, whylen);
	return ANSWERED;
}

/* gRPC status codes etcd's errors carry ("code", or a stream's "grpc_code"). */
enum { GRPC_DEADLINE_EXCEEDED = 4, GRPC_NOT_FOUND = 5, GRPC_UNAVAILABLE = 14 };

/* The message of an etcd error answer (flat, or a stream's {"error":{}}). */
static const char *error_text(const json_t *j, json_int_t *code)
{
	const json_t *error = json_object_get(j, "error");
	const json_t *holder = json_is_object(error) ? error : j;
	const char *msg = json_string_value(json_object_get(holder, "message"));
	const json_t *c = json_object_get(holder, json_is_object(error) ? "grpc_code" : "code");
	*code = json_is_integer(c) ? json_integer_value(c) : -1;
	if (!msg)
		msg = json_string_value(error);
	return msg && *msg ? msg : NULL;
}

/* One call's request, and what etcd answered. */
struct call {
	const char *op;            /* "txn": named in messages */
	const char *path;          /* "/v3/kv/txn" */
	json_t *req;               /* the caller's */
	bool once;                 /* never sent twice (etcd_txn) */
	json_t *resp;              /* on 0: etcd's answer, the caller's to decref */
	json_int_t code;           /* etcd refused it: its gRPC code, else -1 */
};

/* Reads an HTTP answer: 0 (c->resp set), -1 refused, 1 failed, worth
 * another endpoint: an HTTP 5xx, gRPC UNAVAILABLE or DEADLINE_EXCEEDED (a
 * stream's error comes with HTTP 200), or an answer that is not etcd's. */
static int read_answer(struct etcd *e, int i, struct call *c, const struct xfer *x,
		       char *err, size_t errlen)
{
	long status = 0;
	curl_easy_getinfo(e->curl, CURLINFO_RESPONSE_CODE, &status);
	json_t *j = json_loadb(x->buf ? x->buf : "", x->len, 0, NULL);
	const char *msg = j ? error_text(j, &c->code) : NULL;
	if (status == 200 && j && !msg) {
		c->resp = j;
		return 0;
	}
	add_err(err, errlen, "etcd %s: %s: HTTP %ld: %.200s", e->endpoints[i], c->op, status,
		msg ? msg : x->len ? x->buf : "(no body)");
	json_decref(j);
	return status >= 500 || !msg || c->code == GRPC_UNAVAILABLE ||
	       c->code == GRPC_DEADLINE_EXCEEDED ? 1 : -1;
}

/*
 * Sends c->req to the endpoints in turn, from the one that answered last,
 * within e->timeout_ms (see etcd.h).  0: c->resp holds the answer.  -1:
 * err holds every attempt's failure.  ETCD_UNKNOWN: c->once, and it may
 * have been applied.
 */
static int call(struct etcd *e, struct call *c, char *err, size_t errlen)
{
	char *body = json_dumps(c->req, JSON_COMPACT);
	c->resp = NULL;
	c->code = -1;
	err[0] = '\0';
	if (!body) {
		snprintf(err, errlen, "etcd %s: out of memory", c->op);
		return -1;
	}
	uint64_t deadline = time_mono_ms() + (uint64_t)e->timeout_ms;
	int rc = -1;
	for (int tried = 0; tried < e->n && rc == -1; tried++) {
		uint64_t now = time_mono_ms();
		if (now >= deadline)
			break;
		int i = (e->cur + tried) % e->n;
		long left = (long)(deadline - now), share = left / (e->n - tried);
		struct xfer x = { 0 };
		char why[256];
		enum outcome o = attempt(e, i, c->path, body, share, c->once ? left : share, NULL,
					 &x, why, sizeof(why));
		int answer = o == ANSWERED ? read_answer(e, i, c, &x, err, errlen) : 1;
		free(x.buf);
		if (o == NOMEM) {
			add_err(err, errlen, "etcd %s: out of memory", c->op);
			break;
		}
		if (o != ANSWERED)
			add_err(err, errlen, "etcd %s: %s: %s", e->endpoints[i], c->op, why);
		if (answer <= 0) {  /* etcd answered, accepting or refusing */
			e->cur = i;
			rc = answer;
			break;
		}
		if (c->once && o != UNDELIVERED) {
			rc = ETCD_UNKNOWN;
			e->cur = (i + 1) % e->n;  /* a member that lost it: the next call goes on */
		}
	}
	if (rc == ETCD_UNKNOWN)
		add_err(err, errlen, "it may have been applied");
	free(body);
	return rc;
}

/* ---- the client --------------------------------------------------------- */

static int validate(const char *const *endpoints, int n, long timeout_ms, char *err,
		    size_t errlen)
{
	if (n < 1 || timeout_ms <= 0) {
		snprintf(err, errlen, "etcd: %s", n < 1 ? "no endpoint" : "timeout must be > 0");
		return -1;
	}
	for (int i = 0; i < n; i++)
		if (!endpoints[i] || strncmp(endpoints[i], "http://", 7) != 0 ||
		    strlen(endpoints[i]) > 400) {
			snprintf(err, errlen, "etcd: endpoint %s: expected http://HOST:PORT",
				 endpoints[i] ? endpoints[i] : "(null)");
			return -1;
		}
	return 0;
}

int etcd_open(struct etcd **out, const char *const *endpoints, int n, long timeout_ms,
	      char *err, size_t errlen)
{
	*out = NULL;
	if (validate(endpoints, n, timeout_ms, err, errlen) != 0)
		return -1;
	struct etcd *e = calloc(1, sizeof(*e));
	if (!e || !(e->endpoints = calloc((size_t)n, sizeof(char *))))
		goto nomem;
	e->n = n;
	e->timeout_ms = timeout_ms;
	for (int i = 0; i < n; i++) {
		if (!(e->endpoints[i] = strdup(endpoints[i])))
			goto nomem;
		size_t len = strlen(e->endpoints[i]);
		if (e->endpoints[i][len - 1] == '/')
			e->endpoints[i][len - 1] = '\0';
	}
	struct curl_slist *h = curl_slist_append(NULL, "Expect:");
	e->headers = h ? curl_slist_append(h, "Content-Type: application/json") : NULL;
	if (!e->headers)
		curl_slist_free_all(h);
	e->curl = curl_easy_init();
	e->multi = curl_multi_init();
	if (!e->headers || !e->curl || !e->multi)
		goto nomem;
	*out = e;
	return 0;
nomem:
	etcd_close(e);
	snprintf(err, errlen, "etcd: out of memory");
	return -1;
}

void etcd_close(struct etcd *e)
{
	if (!e)
		return;
	for (int i = 0; e->endpoints && i < e->n; i++)
		free(e->endpoints[i]);
	free(e->endpoints);
	if (e->multi)
		curl_multi_cleanup(e->multi);
	if (e->curl)
		curl_easy_cleanup(e->curl);
	curl_slist_free_all(e->headers);
	free(e);
}

const char *etcd_endpoint(const struct etcd *e)
{
	return e->endpoints[e->cur];
}

int etcd_prefix_end(const char *prefix, char *out, size_t len)
{
	size_t n = strlen(prefix);
	while (n > 0 && (unsigned char)prefix[n - 1] == 0xff)
		n--;
	if (n >= len)
		return -1;
	memcpy(out, prefix, n);
	out[n] = '\0';
	if (n > 0)
		out[n - 1] = (char)((unsigned char)out[n - 1] + 1);
	return 0;
}

/* ---- JSON: requests out, answers in -------------------------------------- */

/* obj[name] = base64 of data[len]; 0 or -1 (out of memory). */
static int set_b64(json_t *obj, const char *name, const void *data, size_t len)
{
	char *text = base64_encode(data, len);
	int rc = text ? json_object_set_new(obj, name, json_string(text)) : -1;
	free(text);
	return rc;
}

/* obj[name] = v as the decimal string the gateway wants for an int64. */
static int set_i64(json_t *obj, const char *name, int64_t v)
{
	char text[24];
	snprintf(text, sizeof(text), "%" PRId64, v);
	return json_object_set_new(obj, name, json_string(text));
}

/* "key", and "range_end" when given: "" is "\0", the end of the keyspace
 * (and a key "" with it, the first key). */
static int set_range(json_t *obj, const char *key, const char *range_end)
{
	static const char zero[1] = { 0 };
	if (!range_end)
		return set_b64(obj, "key", key, strlen(key));
	int rc = set_b64(obj, "key", *key ? key : zero, *key ? strlen(key) : 1);
	return rc | set_b64(obj, "range_end", *range_end ? range_end : zero,
			    *range_end ? strlen(range_end) : 1);
}

/* An int64 field: a decimal string (or a number); absent is 0.  false
 * when it is something else. */
static bool get_i64(const json_t *obj, const char *name, int64_t *out)
{
	const json_t *v = json_object_get(obj, name);
	const char *s = json_string_value(v);
	char *end = NULL;
	*out = 0;
	if (!v || json_is_integer(v)) {
		*out = json_integer_value(v);
		return true;
	}
	errno = 0;
	long long n = s ? strtoll(s, &end, 10) : 0;
	if (!s || !*s || *end || errno)
		return false;
	*out = n;
	return true;
}

static int64_t header_revision(const json_t *answer)
{
	int64_t rev = 0;
	get_i64(json_object_get(answer, "header"), "revision", &rev);
	return rev;
}

/* base64 text (absent: "") decoded, NUL-terminated; NULL if malformed. */
static char *decode(const json_t *field, size_t *len)
{
	const char *text = json_is_null(field) || !field ? "" : json_string_value(field);
	unsigned char *out = text ? base64_decode(text, len) : NULL;
	if (out)
		out[*len] = '\0';  /* base64_decode leaves room for it */
	return (char *)out;
}

static void kv_free(struct etcd_kv *kv)
{
	free(kv->key);
	free(kv->value);
	memset(kv, 0, sizeof(*kv));
}

static int parse_kv(const json_t *j, struct etcd_kv *kv)
{
	size_t key_len;
	memset(kv, 0, sizeof(*kv));
	if (!json_is_string(json_object_get(j, "key")))
		return -1;
	kv->key = decode(json_object_get(j, "key"), &key_len);
	kv->value = decode(json_object_get(j, "value"), &kv->value_len);
	if (kv->key && kv->value && get_i64(j, "create_revision", &kv->create_rev) &&
	    get_i64(j, "mod_revision", &kv->mod_rev) && get_i64(j, "version", &kv->version) &&
	    get_i64(j, "lease", &kv->lease))
		return 0;
	kv_free(kv);
	return -1;
}

void etcd_kvs_free(struct etcd_kvs *k)
{
	for (size_t i = 0; k && i < k->n; i++)
		kv_free(&k->kv[i]);
	if (k) {
		free(k->kv);
		memset(k, 0, sizeof(*k));
	}
}

/* A RangeResponse into *out; -1 when malformed (or out of memory). */
static int parse_kvs(const json_t *answer, struct etcd_kvs *out)
{
	const json_t *kvs = json_object_get(answer, "kvs");
	memset(out, 0, sizeof(*out));
	out->revision = header_revision(answer);
	out->more = json_is_true(json_object_get(answer, "more"));
	if (json_array_size(kvs) == 0)
		return 0;
	if (!(out->kv = calloc(json_array_size(kvs), sizeof(*out->kv))))
		return -1;
	for (; out->n < json_array_size(kvs); out->n++)
		if (parse_kv(json_array_get(kvs, out->n), &out->kv[out->n]) != 0) {
			etcd_kvs_free(out);
			return -1;
		}
	return 0;
}

static int malformed(const struct etcd *e, const struct call *c, char *err, size_t errlen)
{
	snprintf(err, errlen, "etcd %s: %s: malformed answer", e->endpoints[e->cur], c->op);
	json_decref(c->resp);
	return -1;
}

static int nomem(const char *op, char *err, size_t errlen)
{
	snprintf(err, errlen, "etcd %s: out of memory", op);
	return -1;
}

/* ---- key-value ------------------------------------------------------------ */

static json_t *range_request(const char *key, const char *range_end, int64_t limit)
{
	json_t *req = json_object();
	if (req && set_range(req, key, range_end) == 0 &&
	    (limit <= 0 || set_i64(req, "limit", limit) == 0))
		return req;
	json_decref(req);
	return NULL;
}

int etcd_range(struct etcd *e, const char *key, const char *range_end, int64_t limit,
	       struct etcd_kvs *out, char *err, size_t errlen)
{
	struct call c = { .op = "range", .path = "/v3/kv/range",
			  .req = range_request(key, range_end, limit) };
	memset(out, 0, sizeof(*out));
	if (!c.req)
		return nomem(c.op, err, errlen);
	int rc = call(e, &c, err, errlen);
	json_decref(c.req);
	if (rc != 0)
		return rc;
	if (parse_kvs(c.resp, out) != 0)
		return malformed(e, &c, err, errlen);
	json_decref(c.resp);
	return 0;
}

static json_t *put_request(const char *key, const void *value, size_t len, int64_t lease)
{
	json_t *req = json_object();
	if (req && set_b64(req, "key", key, strlen(key)) == 0 &&
	    set_b64(req, "value", value, len) == 0 && (!lease || set_i64(req, "lease", lease) == 0))
		return req;
	json_decref(req);
	return NULL;
}

int etcd_put(struct etcd *e, const char *key, const void *value, size_t len, int64_t lease,
	     int64_t *revision, char *err, size_t errlen)
{
	struct call c = { .op = "put", .path = "/v3/kv/put",
			  .req = put_request(key, value, len, lease) };
	if (!c.req)
		return nomem(c.op, err, errlen);
	int rc = call(e, &c, err, errlen);
	json_decref(c.req);
	if (rc == 0 && revision)
		*revision = header_revision(c.resp);
	json_decref(c.resp);
	return rc;
}

int etcd_delete(struct etcd *e, const char *key, const char *range_end, int64_t *deleted,
		int64_t *revision, char *err, size_t errlen)
{
	struct call c = { .op = "delete", .path = "/v3/kv/deleterange",
			  .req = range_request(key, range_end, 0) };
	if (!c.req)
		return nomem(c.op, err, errlen);
	int rc = call(e, &c, err, errlen);
	json_decref(c.req);
	if (rc != 0)
		return rc;
	int64_t n = 0;
	if (!get_i64(c.resp, "deleted", &n))
		return malformed(e, &c, err, errlen);
	if (deleted)
		*deleted = n;
	if (revision)
		*revision = header_revision(c.resp);
	json_decref(c.resp);
	return 0;
}

/* ---- transactions ------------------------------------------------------------ */

static json_t *compare_json(const struct etcd_cmp *cmp)
{
	static const char *const targets[] = { "CREATE", "MOD", "VERSION", "VALUE", "LEASE" };
	static const char *const fields[] = { "create_revision", "mod_revision", "version",
					      "value", "lease" };
	static const char *const results[] = { "EQUAL", "NOT_EQUAL", "GREATER", "LESS" };
	assert(cmp->target <= ETCD_LEASE && cmp->result <= ETCD_LESS);
	json_t *j = json_pack("{s:s, s:s}", "target", targets[cmp->target],
			      "result", results[cmp->result]);
	if (!j || set_b64(j, "key", cmp->key, strlen(cmp->key)) != 0 ||
	    (cmp->target == ETCD_VALUE
		     ? set_b64(j, "value", cmp->value ? cmp->value : "", cmp->value_len)
		     : set_i64(j, fields[cmp->target], cmp->number)) != 0) {
		json_decref(j);
		return NULL;
	}
	return j;
}

/* {"request_put":{..}}, {"request_range":{..}} or {"request_delete_range":{..}} */
static json_t *op_json(const struct etcd_op *op)
{
	json_t *inner = op->kind == ETCD_OP_PUT
		? put_request(op->key, op->value ? op->value : "", op->value_len, op->lease)
		: range_request(op->key, op->range_end, 0);
	const char *name = op->kind == ETCD_OP_PUT   ? "request_put"
			 : op->kind == ETCD_OP_RANGE ? "request_range"
						     : "request_delete_range";
	return inner ? json_pack("{s:o}", name, inner) : NULL;
}

static json_t *txn_request(const struct etcd_cmp *cmp, size_t ncmp, const struct etcd_op *then,
			   size_t nthen, const struct etcd_op *otherwise, size_t notherwise)
{
	json_t *compare = json_array(), *success = json_array(), *failure = json_array();
	int rc = compare && success && failure ? 0 : -1;
	for (size_t i = 0; i < ncmp && rc == 0; i++)
		rc = json_array_append_new(compare, compare_json(&cmp[i]));
	for (size_t i = 0; i < nthen && rc == 0; i++)
		rc = json_array_append_new(success, op_json(&then[i]));
	for (size_t i = 0; i < notherwise && rc == 0; i++)
		rc = json_array_append_new(failure, op_json(&otherwise[i]));
	if (rc == 0)
		return json_pack("{s:o, s:o, s:o}", "compare", compare, "success", success,
				 "failure", failure);
	json_decref(compare);
	json_decref(success);
	json_decref(failure);
	return NULL;
}

void etcd_txn_result_free(struct etcd_txn_result *r)
{
	for (size_t i = 0; r && i < r->nranges; i++)
		etcd_kvs_free(&r->ranges[i]);
	if (r) {
		free(r->ranges);
		memset(r, 0, sizeof(*r));
	}
}

/* A TxnResponse into *out: one etcd_kvs per response, filled for ranges. */
static int parse_txn(const json_t *answer, struct etcd_txn_result *out)
{
	const json_t *responses = json_object_get(answer, "responses");
	size_t n = json_array_size(responses);
	out->succeeded = json_is_true(json_object_get(answer, "succeeded"));
	out->revision = header_revision(answer);
	if (n && !(out->ranges = calloc(n, sizeof(*out->ranges))))
		return -1;
	for (; out->nranges < n; out->nranges++) {
		const json_t *range = json_object_get(json_array_get(responses, out->nranges),
						      "response_range");
		if (range && parse_kvs(range, &out->ranges[out->nranges]) != 0) {
			etcd_txn_result_free(out);
			return -1;
		}
	}
	return 0;
}

int etcd_txn(struct etcd *e, const struct etcd_cmp *cmp, size_t ncmp,
	     const struct etcd_op *then, size_t nthen,
	     const struct etcd_op *otherwise, size_t notherwise,
	     struct etcd_txn_result *out, char *err, size_t errlen)
{
	struct call c = { .op = "txn", .path = "/v3/kv/txn", .once = true,
			  .req = txn_request(cmp, ncmp, then, nthen, otherwise, notherwise) };
	memset(out, 0, sizeof(*out));
	if (!c.req)
		return nomem(c.op, err, errlen);
	int rc = call(e, &c, err, errlen);
	json_decref(c.req);
	if (rc != 0)
		return rc;
	if (parse_txn(c.resp, out) != 0)
		return malformed(e, &c, err, errlen);
	json_decref(c.resp);
	return 0;
}

/* ---- leases ------------------------------------------------------------------ */

int etcd_lease_grant(struct etcd *e, int64_t ttl_s, int64_t *id, int64_t *granted_ttl_s,
		     char *err, size_t errlen)
{
	struct call c = { .op = "lease grant", .path = "/v3/lease/grant", .req = json_object() };
	int64_t ttl = 0;
	if (!c.req || set_i64(c.req, "TTL", ttl_s) != 0) {
		json_decref(c.req);
		return nomem(c.op, err, errlen);
	}
	int rc = call(e, &c, err, errlen);
	json_decref(c.req);
	if (rc != 0)
		return rc;
	if (!get_i64(c.resp, "ID", id) || !get_i64(c.resp, "TTL", &ttl) || *id == 0)
		return malformed(e, &c, err, errlen);
	if (granted_ttl_s)
		*granted_ttl_s = ttl;
	json_decref(c.resp);
	return 0;
}

/* keepalive and revoke: {"ID":"N"} to path. */
static int lease_call(struct etcd *e, struct call *c, int64_t id, char *err, size_t errlen)
{
	c->req = json_object();
	if (!c->req || set_i64(c->req, "ID", id) != 0) {
		json_decref(c->req);
		return nomem(c->op, err, errlen);
	}
	int rc = call(e, c, err, errlen);
	json_decref(c->req);
	return rc;
}

int etcd_lease_keepalive(struct etcd *e, int64_t id, int64_t *ttl_left_s, char *err,
			 size_t errlen)
{
	struct call c = { .op = "lease keepalive", .path = "/v3/lease/keepalive" };
	int rc = lease_call(e, &c, id, err, errlen);
	if (rc != 0)
		return rc;
	if (!get_i64(json_object_get(c.resp, "result"), "TTL", ttl_left_s) || *ttl_left_s < 0)
		return malformed(e, &c, err, errlen);
	json_decref(c.resp);
	return 0;
}

int etcd_lease_revoke(struct etcd *e, int64_t id, char *err, size_t errlen)
{
	struct call c = { .op = "lease revoke", .path = "/v3/lease/revoke" };
	int rc = lease_call(e, &c, id, err, errlen);
	json_decref(c.resp);
	if (rc != 0 && c.code == GRPC_NOT_FOUND) {  /* "etcdserver: requested lease not found" */
		err[0] = '\0';
		return 0;
	}
	return rc;
}

/* ---- watch --------------------------------------------------------------------- */

/* A watch across its attempts: the caller's callback and where it stands. */
struct watch {
	etcd_watch_fn cb;
	void *ctx;
	int64_t next_rev;          /* 0 until known (a watch from now) */
	bool created;              /* this attempt's watch was confirmed */
	bool delivered;            /* this attempt delivered an event */
	int64_t compact_rev;       /* canceled: compacted before start */
	char why[256];             /* a canceled watch or an error line */
};

static int watch_fail(struct watch *w, const char *what)
{
	snprintf(w->why, sizeof(w->why), "%s", what);
	return 1;
}

/* The events of one line, in order; 1 when the watch should end. */
static int watch_events(struct watch *w, const json_t *events)
{
	size_t n = json_array_size(events);
	for (size_t i = 0; i < n; i++) {
		const json_t *ev = json_array_get(events, i);
		const char *type = json_string_value(json_object_get(ev, "type"));
		struct etcd_event event = { .deleted = type && !strcmp(type, "DELETE") };
		if (parse_kv(json_object_get(ev, "kv"), &event.kv) != 0)
			return watch_fail(w, "malformed event");
		int stop = w->cb(w->ctx, &event);
		int64_t next_in_line = 0;
		if (i + 1 < n)
			get_i64(json_object_get(json_array_get(events, i + 1), "kv"), "mod_revision",
				&next_in_line);
		w->next_rev = stop && next_in_line == event.kv.mod_rev ? event.kv.mod_rev
								      : event.kv.mod_rev + 1;
		w->delivered = true;
		kv_free(&event.kv);
		if (stop)
			return 1;
	}
	return 0;
}

/* One line of the stream (see WATCH FRAMING); nonzero ends the stream. */
static int watch_line(void *ctx, const char *line, size_t len)
{
	struct watch *w = ctx;
	json_t *j = json_loadb(line, len, 0, NULL), *result = json_object_get(j, "result");
	json_int_t code;
	const char *msg = j ? error_text(j, &code) : NULL;
	int end = 0;
	if (!json_is_object(result))
		end = watch_fail(w, msg ? msg : "malformed line");
	else if (json_is_true(json_object_get(result, "canceled"))) {
		const char *reason = json_string_value(json_object_get(result, "cancel_reason"));
		end = get_i64(result, "compact_revision", &w->compact_rev) && w->compact_rev > 0
			      ? 1 : watch_fail(w, reason && *reason ? reason : "watch canceled");
	} else if (json_is_true(json_object_get(result, "created"))) {
		w->created = true;
		if (w->next_rev == 0)
			w->next_rev = header_revision(result) + 1;
	} else
		end = watch_events(w, json_object_get(result, "events"));
	json_decref(j);
	return end;
}

static char *watch_request(const char *key, const char *range_end, int64_t start_revision)
{
	json_t *create = json_object(), *req = NULL;
	if (create && set_range(create, key, range_end) == 0 &&
	    (start_revision <= 0 || set_i64(create, "start_revision", start_revision) == 0))
		req = json_pack("{s:O}", "create_request", create);
	char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
	json_decref(create);
	json_decref(req);
	return body;
}

/*
 * One watch on endpoint e->cur from w->next_rev until deadline.  0: it
 * ended as it should (the callback, a compaction, *stop, the deadline);
 * 1: this endpoint failed (err says how), another may do; -1: etcd
 * refused the watch, or out of memory.
 */
static int watch_attempt(struct etcd *e, struct watch *w, const char *key,
			 const char *range_end, uint64_t deadline, const atomic_bool *stop,
			 char *err, size_t errlen)
{
	char *body = watch_request(key, range_end, w->next_rev), why[256];
	if (!body)
		return nomem("watch", err, errlen);
	uint64_t now = time_mono_ms();
	long left = (long)(deadline - now), wait = left < e->timeout_ms ? left : e->timeout_ms;
	struct xfer x = { .on_line = watch_line, .line_ctx = w, .until = deadline,
			  .first_line_by = now + (uint64_t)wait };
	w->created = w->delivered = false;
	w->why[0] = '\0';
	enum outcome o = attempt(e, e->cur, "/v3/watch", body, wait, 0, stop, &x, why, sizeof(why));
	free(body);
	long status = 0;
	curl_easy_getinfo(e->curl, CURLINFO_RESPONSE_CODE, &status);
	int rc = 1;
	if (o == NOMEM)
		rc = nomem("watch", err, errlen);
	else if (o == ENDED && !w->why[0])
		rc = 0;
	else if (o == ANSWERED && status != 200) {
		struct call c = { .op = "watch" };
		rc = read_answer(e, e->cur, &c, &x, err, errlen);
	} else
		add_err(err, errlen, "etcd %s: watch: %s", e->endpoints[e->cur],
			o == ENDED ? w->why : o == ANSWERED ? "the stream ended"
					    : o == LOST && w->created ? "the stream broke" : why);
	free(x.buf);
	return rc;
}

int etcd_watch(struct etcd *e, const char *key, const char *range_end, int64_t start_revision,
	       long max_ms, const atomic_bool *stop, etcd_watch_fn cb, void *ctx,
	       int64_t *next_rev, char *err, size_t errlen)
{
	struct watch w = { .cb = cb, .ctx = ctx, .next_rev = start_revision > 0 ? start_revision : 0 };
	uint64_t deadline = time_mono_ms() + (uint64_t)(max_ms > 0 ? max_ms : 0);
	int failures = 0, rc = 1;
	err[0] = '\0';
	while (rc == 1 && failures < e->n) {
		if ((stop && atomic_load(stop)) || time_mono_ms() >= deadline) {
			rc = 0;
			break;
		}
		rc = watch_attempt(e, &w, key, range_end, deadline, stop, err, errlen);
		if (rc == 1) {
			failures = w.delivered ? 1 : failures + 1;
			e->cur = (e->cur + 1) % e->n;
		}
	}
	*next_rev = w.compact_rev ? w.compact_rev : w.next_rev;
	if (rc == 0)
		err[0] = '\0';
	return rc == 1 ? -1 : rc == 0 && w.compact_rev ? ETCD_COMPACTED : rc;
}
