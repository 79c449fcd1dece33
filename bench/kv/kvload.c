/*
 * kvload.c — closed-loop durable-write load generator for bench/kv.
 *
 * One invocation drives one target at one concurrency and prints one line:
 *
 *   kvload --target drsite|redis --port P --clients N [--duration S | --count N]
 *
 * N threads, each with its own TCP connection, each with one write in flight
 * at a time (send, wait for the acknowledgement, send the next).  The threads,
 * the timing and the statistics are the same code for both targets, so the
 * only difference between them is the wire protocol:
 *
 *   drsite  HTTP/1.1 keep-alive "PUT /v1/kv/{key}" with the raw value as the
 *           body; a 2xx answer is an acknowledged write (drsite answers only
 *           once the WAL record is fsync'd).
 *   redis   RESP "SET key value"; "+OK" is an acknowledged write (with
 *           appendfsync always, Redis replies only after the AOF fsync).
 *
 * HTTP client.  The default (--http raw) is a minimal hand-rolled HTTP/1.1
 * writer and reader over a socket, about as cheap per request as the RESP
 * path.  --http curl sends the same request through common/httpc (libcurl),
 * which resets and re-arms its easy handle per request; on this 2-CPU
 * machine the load generator shares the CPUs with the server, so the
 * client's own cost shows up in the server's throughput.  See README.md for
 * the measurement behind the choice.
 *
 * Timeline of a run.  Connections open first (in main); then the threads
 * start and run a warm-up that is not recorded (--warmup); a request is
 * recorded when it starts inside the measured window, which ends after
 * --duration seconds (or once each client has recorded --count writes).
 * Throughput is recorded writes divided by the time from the window's start
 * to the last recorded acknowledgement.
 *
 * fsyncs per write.  For drsite, main reads "wal":{"writes","fsyncs"} from
 * GET /v1/status at the window's start and after the last thread ends, and
 * reports the ratio of the deltas (NA when the fields are missing).
 *
 * Output: one line of key=value fields on stdout (run.sh parses it):
 *   target=redis clients=8 value_size=128 ops=... errors=0 secs=...
 *   ops_per_sec=... p50_us=... p99_us=... max_us=... site_writes=...
 *   site_fsyncs=... fsyncs_per_write=...
 * Exit status: 0 on success, 1 if any write failed or the target could not
 * be reached (the first error goes to stderr), 2 on bad usage.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <jansson.h>

#include "../benchutil.h"
#include "httpc.h"
#include "timeutil.h"

#define RBUF_SIZE 4096
#define KEY_MAX 128
#define ERR_MAX 256
#define LAT_INITIAL_CAP 4096

enum target { TARGET_DRSITE, TARGET_REDIS };
enum http_client { HTTP_RAW, HTTP_CURL };

struct config {
	enum target target;
	enum http_client http;
	const char *host;
	const char *port;
	int clients;
	uint64_t warmup_ns;
	uint64_t duration_ns;      /* measured window; ignored when count > 0 */
	uint64_t count;            /* recorded writes per client, or 0 */
	size_t value_size;
	const char *key_prefix;
	long timeout_ms;
};

/* Read-only once the threads start, except stop, which any client may set. */
struct run {
	const struct config *cfg;
	const char *value;         /* value_size bytes */
	uint64_t record_from_ns;
	uint64_t stop_at_ns;       /* UINT64_MAX in --count mode */
	atomic_bool stop;          /* set on the first failed write */
};

struct client;

/* One wire protocol: open a connection, send one write and wait for its ack. */
struct transport {
	int (*open)(struct client *c);
	int (*put)(struct client *c, const char *key, size_t key_len);
	void (*close)(struct client *c);
};

struct client {
	struct run *run;
	const struct transport *tp;
	int id;
	pthread_t thread;
	int fd;                    /* raw transports */
	struct httpc *httpc;       /* curl transport */
	bool reopen;               /* the server asked to close the connection */
	char *sbuf;                /* one encoded request */
	size_t sbuf_cap;
	char rbuf[RBUF_SIZE];      /* unconsumed answer bytes */
	size_t rlen;
	uint64_t *lat_ns;          /* latency of each recorded write */
	size_t nlat, lat_cap;
	uint64_t last_ack_ns;
	bool failed;
	char err[ERR_MAX];
};

/* ---- sockets -------------------------------------------------------------- */

static int socket_set_opts(int fd, long timeout_ms)
{
	int one = 1;
	struct timeval tv = { .tv_sec = timeout_ms / 1000,
			      .tv_usec = (timeout_ms % 1000) * 1000 };
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0)
		return -1;
	return 0;
}

/* Connects to the target; the fd, or -1 with c->err set. */
static int tcp_connect(struct client *c)
{
	const struct config *cfg = c->run->cfg;
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res;
	int rc = getaddrinfo(cfg->host, cfg->port, &hints, &res);
	if (rc != 0) {
		snprintf(c->err, ERR_MAX, "resolve %s:%s: %s", cfg->host, cfg->port,
			 gai_strerror(rc));
		return -1;
	}
	int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || socket_set_opts(fd, cfg->timeout_ms) != 0 ||
	    connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
		snprintf(c->err, ERR_MAX, "connect %s:%s: %s", cfg->host, cfg->port,
			 strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

static int sock_open(struct client *c)
{
	c->rlen = 0;
	c->reopen = false;
	c->fd = tcp_connect(c);
	return c->fd < 0 ? -1 : 0;
}

static void sock_close(struct client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static int write_all(struct client *c, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(c->fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(c->err, ERR_MAX, "send: %s", n < 0 ? strerror(errno) : "closed");
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Appends what the socket has to rbuf; -1 on EOF, error, timeout or overflow. */
static int rbuf_fill(struct client *c)
{
	if (c->rlen == RBUF_SIZE) {
		snprintf(c->err, ERR_MAX, "answer larger than %d bytes", RBUF_SIZE);
		return -1;
	}
	for (;;) {
		ssize_t n = read(c->fd, c->rbuf + c->rlen, RBUF_SIZE - c->rlen);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(c->err, ERR_MAX, "receive: %s",
				 n < 0 ? strerror(errno) : "connection closed by server");
			return -1;
		}
		c->rlen += (size_t)n;
		return 0;
	}
}

/* Drops the first n bytes of rbuf (one answer). */
static void rbuf_consume(struct client *c, size_t n)
{
	memmove(c->rbuf, c->rbuf + n, c->rlen - n);
	c->rlen -= n;
}

/* Reads until rbuf holds delim; the offset just past it. */
static int rbuf_until(struct client *c, const char *delim, size_t *end)
{
	size_t dlen = strlen(delim);
	for (;;) {
		const char *p = memmem(c->rbuf, c->rlen, delim, dlen);
		if (p) {
			*end = (size_t)(p - c->rbuf) + dlen;
			return 0;
		}
		if (rbuf_fill(c) != 0)
			return -1;
	}
}

/* Makes sbuf hold at least need bytes. */
static int sbuf_reserve(struct client *c, size_t need)
{
	if (need <= c->sbuf_cap)
		return 0;
	char *nb = realloc(c->sbuf, need);
	if (!nb) {
		snprintf(c->err, ERR_MAX, "out of memory");
		return -1;
	}
	c->sbuf = nb;
	c->sbuf_cap = need;
	return 0;
}

/* Sends head (already in sbuf, head_len bytes) + value + tail as one write. */
static int send_with_value(struct client *c, size_t head_len, const char *tail)
{
	size_t vlen = c->run->cfg->value_size, tlen = strlen(tail);
	if (sbuf_reserve(c, head_len + vlen + tlen) != 0)
		return -1;
	memcpy(c->sbuf + head_len, c->run->value, vlen);
	memcpy(c->sbuf + head_len + vlen, tail, tlen);
	return write_all(c, c->sbuf, head_len + vlen + tlen);
}

/* snprintf into sbuf, growing it once if needed; the length or -1. */
static int sbuf_printf(struct client *c, size_t *len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int sbuf_printf(struct client *c, size_t *len, const char *fmt, ...)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(c->sbuf, c->sbuf_cap, fmt, ap);
		va_end(ap);
		if (n < 0) {
			snprintf(c->err, ERR_MAX, "encode request: %s", strerror(errno));
			return -1;
		}
		if ((size_t)n < c->sbuf_cap) {
			*len = (size_t)n;
			return 0;
		}
		if (sbuf_reserve(c, (size_t)n + 1) != 0)
			return -1;
	}
	snprintf(c->err, ERR_MAX, "encode request: buffer");
	return -1;
}

/* ---- redis: RESP SET ---------------------------------------------------- */

static int redis_put(struct client *c, const char *key, size_t key_len)
{
	size_t head_len, end;
	if (sbuf_printf(c, &head_len, "*3\r\n$3\r\nSET\r\n$%zu\r\n%s\r\n$%zu\r\n",
			key_len, key, c->run->cfg->value_size) != 0 ||
	    send_with_value(c, head_len, "\r\n") != 0 ||
	    rbuf_until(c, "\r\n", &end) != 0)
		return -1;
	if (end != 5 || memcmp(c->rbuf, "+OK", 3) != 0) {
		snprintf(c->err, ERR_MAX, "SET %s: %.*s", key, (int)end - 2, c->rbuf);
		return -1;
	}
	rbuf_consume(c, end);
	return 0;
}

static const struct transport redis_transport = {
	.open = sock_open, .put = redis_put, .close = sock_close,
};

/* ---- drsite: hand-rolled HTTP/1.1 PUT ----------------------------------- */

/* What the answer's header block says; all the fields the client acts on. */
struct http_head {
	int status;
	long content_length;       /* -1 when absent */
	bool chunked;
	bool close;
};

static bool header_is(const char *line, const char *name, const char **value)
{
	size_t n = strlen(name);
	if (strncasecmp(line, name, n) != 0 || line[n] != ':')
		return false;
	*value = line + n + 1;
	while (**value == ' ' || **value == '\t')
		(*value)++;
	return true;
}

/* Parses the status line and headers in rbuf[0..len), which ends in CRLFCRLF. */
static int http_parse_head(struct client *c, size_t len, struct http_head *h)
{
	*h = (struct http_head){ .status = 0, .content_length = -1 };
	c->rbuf[len - 1] = '\0';   /* the final LF: turns the block into a string */
	if (sscanf(c->rbuf, "HTTP/1.%*d %d", &h->status) != 1) {
		snprintf(c->err, ERR_MAX, "bad HTTP status line: %.40s", c->rbuf);
		return -1;
	}
	for (char *line = strstr(c->rbuf, "\r\n"); line; line = strstr(line, "\r\n")) {
		line += 2;
		const char *v;
		if (header_is(line, "Content-Length", &v))
			h->content_length = strtol(v, NULL, 10);
		else if (header_is(line, "Transfer-Encoding", &v))
			h->chunked = strncasecmp(v, "chunked", 7) == 0;
		else if (header_is(line, "Connection", &v))
			h->close = strncasecmp(v, "close", 5) == 0;
	}
	if (h->chunked || h->content_length < 0) {
		snprintf(c->err, ERR_MAX, "HTTP %d answer without Content-Length", h->status);
		return -1;
	}
	return 0;
}

/* Reads one whole answer; *status set, rbuf consumed past it. */
static int http_read_answer(struct client *c, const char *key, int *status)
{
	size_t head_end;
	struct http_head h;
	if (rbuf_until(c, "\r\n\r\n", &head_end) != 0 ||
	    http_parse_head(c, head_end, &h) != 0)
		return -1;
	size_t total = head_end + (size_t)h.content_length;
	if (total > RBUF_SIZE) {
		snprintf(c->err, ERR_MAX, "PUT %s: answer of %zu bytes", key, total);
		return -1;
	}
	while (c->rlen < total)
		if (rbuf_fill(c) != 0)
			return -1;
	*status = h.status;
	c->reopen = h.close;
	if (h.status < 200 || h.status > 299)
		snprintf(c->err, ERR_MAX, "PUT %s: HTTP %d %.*s", key, h.status,
			 (int)h.content_length, c->rbuf + head_end);
	rbuf_consume(c, total);
	return 0;
}

static int http_raw_put(struct client *c, const char *key, size_t key_len)
{
	const struct config *cfg = c->run->cfg;
	size_t head_len;
	int status;
	(void)key_len;
	if (c->reopen) {
		sock_close(c);
		if (sock_open(c) != 0)
			return -1;
	}
	if (sbuf_printf(c, &head_len,
			"PUT /v1/kv/%s HTTP/1.1\r\nHost: %s:%s\r\n"
			"Content-Type: application/octet-stream\r\n"
			"Content-Length: %zu\r\n\r\n",
			key, cfg->host, cfg->port, cfg->value_size) != 0 ||
	    send_with_value(c, head_len, "") != 0 ||
	    http_read_answer(c, key, &status) != 0)
		return -1;
	return status >= 200 && status <= 299 ? 0 : -1;
}

static const struct transport http_raw_transport = {
	.open = sock_open, .put = http_raw_put, .close = sock_close,
};

/* ---- drsite: the same PUT through common/httpc (libcurl) ---------------- */

static int curl_open(struct client *c)
{
	c->httpc = httpc_new();
	if (!c->httpc) {
		snprintf(c->err, ERR_MAX, "httpc_new: out of memory");
		return -1;
	}
	return 0;
}

static int curl_put(struct client *c, const char *key, size_t key_len)
{
	const struct config *cfg = c->run->cfg;
	char url[KEY_MAX + 256];
	struct httpc_resp resp;
	(void)key_len;
	snprintf(url, sizeof(url), "http://%s:%s/v1/kv/%s", cfg->host, cfg->port, key);
	if (httpc_request(c->httpc, "PUT", url, NULL, c->run->value, cfg->value_size,
			  cfg->timeout_ms, &resp, c->err, ERR_MAX) != 0)
		return -1;
	int rc = resp.status >= 200 && resp.status <= 299 ? 0 : -1;
	if (rc != 0)
		snprintf(c->err, ERR_MAX, "PUT %s: HTTP %ld %.100s", key, resp.status,
			 resp.body);
	httpc_resp_free(&resp);
	return rc;
}

static void curl_close(struct client *c)
{
	httpc_free(c->httpc);
	c->httpc = NULL;
}

static const struct transport http_curl_transport = {
	.open = curl_open, .put = curl_put, .close = curl_close,
};

/* ---- the client threads ------------------------------------------------- */

static int lat_push(struct client *c, uint64_t ns)
{
	if (c->nlat == c->lat_cap) {
		size_t cap = c->lat_cap ? c->lat_cap * 2 : LAT_INITIAL_CAP;
		uint64_t *nl = reallocarray(c->lat_ns, cap, sizeof(*nl));
		if (!nl) {
			snprintf(c->err, ERR_MAX, "out of memory for latencies");
			return -1;
		}
		c->lat_ns = nl;
		c->lat_cap = cap;
	}
	c->lat_ns[c->nlat++] = ns;
	return 0;
}

static bool client_done(const struct client *c, uint64_t now)
{
	const struct run *run = c->run;
	if (atomic_load_explicit(&run->stop, memory_order_relaxed))
		return true;
	if (run->cfg->count > 0)
		return c->nlat >= run->cfg->count;
	return now >= run->stop_at_ns;
}

/* Closed loop: one write in flight; the first failure stops every client. */
static void *client_main(void *arg)
{
	struct client *c = arg;
	struct run *run = c->run;
	char key[KEY_MAX];
	for (uint64_t seq = 0;; seq++) {
		uint64_t start = time_mono_ns();
		if (client_done(c, start))
			break;
		int klen = snprintf(key, sizeof(key), "%s%d-%" PRIu64,
				    run->cfg->key_prefix, c->id, seq);
		int rc = c->tp->put(c, key, (size_t)klen);
		uint64_t ack = time_mono_ns();
		if (rc == 0 && start >= run->record_from_ns) {
			rc = lat_push(c, ack - start);
			c->last_ack_ns = ack;
		}
		if (rc != 0) {
			c->failed = true;
			atomic_store(&run->stop, true);
			break;
		}
	}
	return NULL;
}

/* ---- drsite's WAL counters ---------------------------------------------- */

struct wal_counters {
	json_int_t writes;
	json_int_t fsyncs;
};

/* GET /v1/status and pick "wal":{"writes","fsyncs"}; 0 or -1 with err. */
static int site_wal_counters(const struct config *cfg, struct wal_counters *wc,
			     char *err, size_t errlen)
{
	char url[256];
	struct httpc_resp resp = { 0 };
	struct httpc *hc = httpc_new();
	int rc = -1;
	snprintf(url, sizeof(url), "http://%s:%s/v1/status", cfg->host, cfg->port);
	if (!hc) {
		snprintf(err, errlen, "httpc_new: out of memory");
		return -1;
	}
	if (httpc_request(hc, "GET", url, NULL, NULL, 0, cfg->timeout_ms, &resp,
			  err, errlen) != 0)
		goto out;
	json_error_t jerr;
	json_t *st = json_loadb(resp.body, resp.body_len, 0, &jerr);
	if (!st || json_unpack(st, "{s:{s:I, s:I}}", "wal", "writes", &wc->writes,
			       "fsyncs", &wc->fsyncs) != 0)
		snprintf(err, errlen, "GET /v1/status: HTTP %ld, no wal.writes/wal.fsyncs in body",
			 resp.status);
	else
		rc = 0;
	json_decref(st);
out:
	httpc_resp_free(&resp);
	httpc_free(hc);
	return rc;
}

/* ---- statistics and output ---------------------------------------------- */

struct summary {
	uint64_t ops;
	int errors;
	double secs;
	uint64_t p50_ns, p99_ns, max_ns;
};

/* Merges every client's latencies; 0, or -1 when out of memory. */
static int summarize(const struct run *run, const struct client *cl, int n,
		     struct summary *s)
{
	uint64_t last_ack = run->record_from_ns;
	*s = (struct summary){ 0 };
	for (int i = 0; i < n; i++) {
		s->ops += cl[i].nlat;
		s->errors += cl[i].failed;
		if (cl[i].last_ack_ns > last_ack)
			last_ack = cl[i].last_ack_ns;
	}
	s->secs = (double)(last_ack - run->record_from_ns) / 1e9;
	if (s->ops == 0)
		return 0;
	uint64_t *all = malloc(s->ops * sizeof(*all));
	if (!all)
		return -1;
	size_t at = 0;
	for (int i = 0; i < n; i++) {
		memcpy(all + at, cl[i].lat_ns, cl[i].nlat * sizeof(*all));
		at += cl[i].nlat;
	}
	qsort(all, s->ops, sizeof(*all), bench_cmp_u64);
	s->p50_ns = bench_percentile(all, s->ops, 0.50);
	s->p99_ns = bench_percentile(all, s->ops, 0.99);
	s->max_ns = all[s->ops - 1];
	free(all);
	return 0;
}

static void print_summary(const struct config *cfg, const struct summary *s,
			  const struct wal_counters *before,
			  const struct wal_counters *after, bool have_wal)
{
	printf("target=%s clients=%d value_size=%zu ops=%" PRIu64 " errors=%d "
	       "secs=%.3f ops_per_sec=%.1f p50_us=%.1f p99_us=%.1f max_us=%.1f",
	       cfg->target == TARGET_REDIS ? "redis" : "drsite", cfg->clients,
	       cfg->value_size, s->ops, s->errors, s->secs,
	       s->secs > 0 ? (double)s->ops / s->secs : 0.0,
	       (double)s->p50_ns / 1e3, (double)s->p99_ns / 1e3,
	       (double)s->max_ns / 1e3);
	if (have_wal && after->writes > before->writes) {
		json_int_t w = after->writes - before->writes;
		json_int_t f = after->fsyncs - before->fsyncs;
		printf(" site_writes=%" JSON_INTEGER_FORMAT " site_fsyncs=%"
		       JSON_INTEGER_FORMAT " fsyncs_per_write=%.4f",
		       w, f, (double)f / (double)w);
	} else {
		printf(" site_writes=NA site_fsyncs=NA fsyncs_per_write=NA");
	}
	printf("\n");
	fflush(stdout);
}

/* ---- command line ------------------------------------------------------- */

static void usage(FILE *to)
{
	fprintf(to,
		"usage: kvload --target drsite|redis --port PORT [options]\n"
		"  --host H          target address (default 127.0.0.1)\n"
		"  --clients N       concurrent connections, one thread each (default 1)\n"
		"  --duration S      measured seconds per run (default 5)\n"
		"  --count N         instead of --duration: recorded writes per client\n"
		"  --warmup S        unrecorded seconds before measuring (default 1)\n"
		"  --value-size B    bytes per value (default 128)\n"
		"  --key-prefix P    key prefix (default kvbench-)\n"
		"  --http raw|curl   drsite client: hand-rolled HTTP/1.1 or libcurl (default raw)\n"
		"  --timeout-ms MS   per-request timeout (default 10000)\n"
		"Prints one key=value line; see bench/kv/README.md.\n");
}

static int parse_seconds(const char *s, uint64_t *ns)
{
	char *end;
	double v = strtod(s, &end);
	if (*s == '\0' || *end != '\0' || v < 0 || v > 86400)
		return -1;
	*ns = (uint64_t)(v * 1e9);
	return 0;
}

/* Sets *out to 0 for first, 1 for second; -1 for anything else. */
static int parse_choice(const char *s, const char *first, const char *second, int *out)
{
	if (strcmp(s, first) == 0)
		*out = 0;
	else if (strcmp(s, second) == 0)
		*out = 1;
	else
		return -1;
	return 0;
}

static int parse_option(struct config *cfg, int opt, const char *arg)
{
	uint64_t v = 0;
	int choice = 0, rc = 0;
	switch (opt) {
	case 't':
		rc = parse_choice(arg, "drsite", "redis", &choice);
		cfg->target = choice ? TARGET_REDIS : TARGET_DRSITE;
		break;
	case 'h':
		rc = parse_choice(arg, "raw", "curl", &choice);
		cfg->http = choice ? HTTP_CURL : HTTP_RAW;
		break;
	case 'H': cfg->host = arg; break;
	case 'p': rc = bench_parse_u64(arg, 1, 65535, &v); cfg->port = arg; break;
	case 'c': rc = bench_parse_u64(arg, 1, 4096, &v); cfg->clients = (int)v; break;
	case 'd': rc = parse_seconds(arg, &cfg->duration_ns); break;
	case 'n': rc = bench_parse_u64(arg, 1, UINT32_MAX, &cfg->count); break;
	case 'w': rc = parse_seconds(arg, &cfg->warmup_ns); break;
	case 'v': rc = bench_parse_u64(arg, 1, 64u << 20, &v); cfg->value_size = (size_t)v; break;
	case 'k': rc = strlen(arg) < KEY_MAX / 2 ? 0 : -1; cfg->key_prefix = arg; break;
	case 'T': rc = bench_parse_u64(arg, 1, 3600000, &v); cfg->timeout_ms = (long)v; break;
	default: rc = -1;
	}
	return rc;
}

/* 0 to run, 1 after --help, 2 on bad usage (message printed). */
static int parse_args(int argc, char **argv, struct config *cfg)
{
	static const struct option opts[] = {
		{ "target", required_argument, NULL, 't' },
		{ "host", required_argument, NULL, 'H' },
		{ "port", required_argument, NULL, 'p' },
		{ "clients", required_argument, NULL, 'c' },
		{ "duration", required_argument, NULL, 'd' },
		{ "count", required_argument, NULL, 'n' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "value-size", required_argument, NULL, 'v' },
		{ "key-prefix", required_argument, NULL, 'k' },
		{ "http", required_argument, NULL, 'h' },
		{ "timeout-ms", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'u' },
		{ NULL, 0, NULL, 0 },
	};
	int opt, idx;
	bool have_target = false;
	while ((opt = getopt_long(argc, argv, "", opts, &idx)) != -1) {
		if (opt == 'u') {
			usage(stdout);
			return 1;
		}
		if (opt == '?' || parse_option(cfg, opt, optarg) != 0) {
			if (opt != '?')
				fprintf(stderr, "kvload: bad value for --%s: %s\n",
					opts[idx].name, optarg);
			usage(stderr);
			return 2;
		}
		have_target |= opt == 't';
	}
	if (optind != argc) {
		fprintf(stderr, "kvload: unexpected argument: %s\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (!have_target || !cfg->port) {
		fprintf(stderr, "kvload: --target and --port are required\n");
		usage(stderr);
		return 2;
	}
	return 0;
}

/* ---- main --------------------------------------------------------------- */

static const struct transport *pick_transport(const struct config *cfg)
{
	if (cfg->target == TARGET_REDIS)
		return &redis_transport;
	return cfg->http == HTTP_CURL ? &http_curl_transport : &http_raw_transport;
}

static char *make_value(size_t len)
{
	char *v = malloc(len);
	if (v)
		for (size_t i = 0; i < len; i++)
			v[i] = (char)('a' + i % 26);
	return v;
}

static void clients_free(struct client *cl, int n)
{
	for (int i = 0; i < n; i++) {
		cl[i].tp->close(&cl[i]);
		free(cl[i].sbuf);
		free(cl[i].lat_ns);
	}
	free(cl);
}

/* Allocates and connects every client; NULL with the reason printed. */
static struct client *clients_open(struct run *run)
{
	const struct config *cfg = run->cfg;
	struct client *cl = calloc((size_t)cfg->clients, sizeof(*cl));
	if (!cl) {
		fprintf(stderr, "kvload: out of memory\n");
		return NULL;
	}
	for (int i = 0; i < cfg->clients; i++) {
		cl[i] = (struct client){ .run = run, .tp = pick_transport(cfg),
					 .id = i, .fd = -1 };
		if (sbuf_reserve(&cl[i], 256 + KEY_MAX + cfg->value_size) != 0 ||
		    cl[i].tp->open(&cl[i]) != 0) {
			fprintf(stderr, "kvload: client %d: %s\n", i, cl[i].err);
			clients_free(cl, i + 1);
			return NULL;
		}
	}
	return cl;
}

/* Starts every thread; on failure stops and joins those started. */
static int clients_start(struct run *run, struct client *cl, int n)
{
	for (int i = 0; i < n; i++) {
		int rc = pthread_create(&cl[i].thread, NULL, client_main, &cl[i]);
		if (rc != 0) {
			fprintf(stderr, "kvload: pthread_create: %s\n", strerror(rc));
			atomic_store(&run->stop, true);
			for (int j = 0; j < i; j++)
				pthread_join(cl[j].thread, NULL);
			return -1;
		}
	}
	return 0;
}

/* Reads the WAL counters when drsite is the target; false if unavailable. */
static bool wal_sample(const struct config *cfg, struct wal_counters *wc)
{
	char err[ERR_MAX];
	if (cfg->target != TARGET_DRSITE)
		return false;
	if (site_wal_counters(cfg, wc, err, sizeof(err)) != 0) {
		fprintf(stderr, "kvload: fsyncs_per_write unavailable: %s\n", err);
		return false;
	}
	return true;
}

/* Runs the threads and measures; the exit status. */
static int measure(struct run *run, struct client *cl)
{
	const struct config *cfg = run->cfg;
	struct wal_counters before = { 0 }, after = { 0 };
	struct summary s;
	uint64_t now = time_mono_ns();
	run->record_from_ns = now + cfg->warmup_ns;
	run->stop_at_ns = cfg->count > 0 ? UINT64_MAX : run->record_from_ns + cfg->duration_ns;
	if (clients_start(run, cl, cfg->clients) != 0)
		return 1;
	now = time_mono_ns();
	if (now < run->record_from_ns)
		time_sleep_ms((run->record_from_ns - now) / 1000000u);
	bool have_wal = wal_sample(cfg, &before);
	for (int i = 0; i < cfg->clients; i++)
		pthread_join(cl[i].thread, NULL);
	have_wal = have_wal && wal_sample(cfg, &after);
	if (summarize(run, cl, cfg->clients, &s) != 0) {
		fprintf(stderr, "kvload: out of memory\n");
		return 1;
	}
	print_summary(cfg, &s, &before, &after, have_wal);
	for (int i = 0; i < cfg->clients; i++)
		if (cl[i].failed) {
			fprintf(stderr, "kvload: client %d: %s\n", i, cl[i].err);
			return 1;
		}
	return s.ops > 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct config cfg = {
		.target = TARGET_DRSITE, .http = HTTP_RAW, .host = "127.0.0.1",
		.clients = 1, .warmup_ns = 1000000000u, .duration_ns = 5000000000u,
		.value_size = 128, .key_prefix = "kvbench-", .timeout_ms = 10000,
	};
	int rc = parse_args(argc, argv, &cfg);
	if (rc != 0)
		return rc == 1 ? 0 : 2;
	if (httpc_global_init() != 0) {
		fprintf(stderr, "kvload: libcurl initialisation failed\n");
		return 1;
	}
	struct run run = { .cfg = &cfg };
	atomic_init(&run.stop, false);
	char *value = make_value(cfg.value_size);
	run.value = value;
	if (!value) {
		fprintf(stderr, "kvload: out of memory\n");
		return 1;
	}
	struct client *cl = clients_open(&run);
	rc = cl ? measure(&run, cl) : 1;
	if (cl)
		clients_free(cl, cfg.clients);
	free(value);
	return rc;
}
