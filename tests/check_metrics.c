/*
 * check_metrics.c — end-to-end: /metrics of real drsite and drorchd
 * processes, read back and checked line by line against the Prometheus text
 * exposition format 0.0.4; transition webhooks received by a small HTTP
 * server inside the test, including after it was down for a while.
 */
#include <check.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "http.h"
#include "testhelp.h"
#include "testlab.h"
#include "timeutil.h"

#define OP_TOKEN "operator-token-for-metrics"

/* ---- the exposition format ------------------------------------------------------ */

/* What the checker knows of the metric family being read. */
struct family {
	char name[160];
	char type[16];
	int samples;
	/* histogram series being read (labels without le) */
	char series[512];
	double last_le, last_bucket, inf_count;
	bool saw_inf, saw_sum, saw_count;
};

struct checker {
	struct family cur;
	char seen[512][160];     /* every family name so far */
	int nseen;
	int line;
	char err[600];
};

static bool bad(struct checker *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static bool bad(struct checker *c, const char *fmt, ...)
{
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(c->err, sizeof(c->err), "line %d: %s", c->line, msg);
	return false;
}

/* drorch's own families start with drorch_; process_* are the standard
 * names of the Prometheus client libraries (procmetrics.h). */
static bool name_ok(const char *s, size_t n)
{
	if ((n < 8 || strncmp(s, "drorch_", 7) != 0) && (n < 9 || strncmp(s, "process_", 8) != 0))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || s[i] == '_' ||
		      s[i] == ':' || (i && s[i] >= '0' && s[i] <= '9')))
			return false;
	return true;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n > m && strcmp(s + n - m, suffix) == 0;
}

/* A family closes: a histogram's last series must be complete. */
static bool family_close(struct checker *c)
{
	struct family *f = &c->cur;
	if (strcmp(f->type, "histogram") == 0 && f->series[0] != '\x01' && f->samples &&
	    !(f->saw_inf && f->saw_sum && f->saw_count))
		return bad(c, "histogram %s {%s}: missing +Inf bucket, _sum or _count", f->name,
			    f->series);
	return true;
}

static bool on_help(struct checker *c, const char *rest)
{
	size_t n = strcspn(rest, " ");
	char name[160];
	snprintf(name, sizeof(name), "%.*s", (int)n, rest);
	if (!name_ok(rest, n) || !rest[n])
		return bad(c, "bad HELP line for '%s'", name);
	if (!family_close(c))
		return false;
	for (int i = 0; i < c->nseen; i++)
		if (strcmp(c->seen[i], name) == 0)
			return bad(c, "family %s declared twice", name);
	if (c->nseen < 512)
		snprintf(c->seen[c->nseen++], sizeof(c->seen[0]), "%s", name);
	memset(&c->cur, 0, sizeof(c->cur));
	snprintf(c->cur.name, sizeof(c->cur.name), "%s", name);
	c->cur.series[0] = '\x01';  /* no series yet */
	return true;
}

static bool on_type(struct checker *c, const char *rest)
{
	size_t n = strcspn(rest, " ");
	const char *type = rest + n + (rest[n] ? 1 : 0);
	if (strlen(c->cur.name) != n || strncmp(rest, c->cur.name, n) != 0)
		return bad(c, "TYPE %s does not follow its HELP", rest);
	if (c->cur.type[0] || c->cur.samples)
		return bad(c, "TYPE of %s after its samples or twice", c->cur.name);
	if (strcmp(type, "counter") && strcmp(type, "gauge") && strcmp(type, "histogram"))
		return bad(c, "unknown type '%s'", type);
	if (!strcmp(type, "counter") && !ends_with(c->cur.name, "_total"))
		return bad(c, "counter %s does not end in _total", c->cur.name);
	snprintf(c->cur.type, sizeof(c->cur.type), "%s", type);
	return true;
}

/* Parses {k="v",...} at *p; labels without le go to rest, le's value to le. */
static bool parse_labels(struct checker *c, const char **p, char *rest, size_t restlen,
			 char *le, size_t lelen)
{
	const char *s = *p;
	rest[0] = le[0] = '\0';
	if (*s != '{')
		return true;
	s++;
	while (*s && *s != '}') {
		const char *k = s;
		while ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_' ||
		       (s > k && *s >= '0' && *s <= '9'))
			s++;
		size_t klen = (size_t)(s - k);
		if (!klen || s[0] != '=' || s[1] != '"')
			return bad(c, "bad label near '%s'", k);
		s += 2;
		char val[400];
		size_t vn = 0;
		for (; *s && *s != '"'; s++) {
			if (*s == '\\' && (s[1] == '\\' || s[1] == '"' || s[1] == 'n'))
				s++;
			else if (*s == '\\' || *s == '\n')
				return bad(c, "bad escape in label value near '%s'", s);
			if (vn + 1 < sizeof(val))
				val[vn++] = *s;
		}
		val[vn] = '\0';
		if (*s != '"')
			return bad(c, "unterminated label value");
		s++;
		if (klen == 2 && !strncmp(k, "le", 2) && strlen(val) < lelen)
			memcpy(le, val, strlen(val) + 1);
		else
			snprintf(rest + strlen(rest), restlen - strlen(rest), "%s%.*s=\"%s\"",
				 rest[0] ? "," : "", (int)klen, k, val);
		if (*s == ',')
			s++;
		else if (*s != '}')
			return bad(c, "expected , or } after a label");
	}
	if (*s != '}')
		return bad(c, "unterminated label set");
	*p = s + 1;
	return true;
}

static bool on_bucket(struct checker *c, const char *labels, const char *le, double v)
{
	struct family *f = &c->cur;
	if (strcmp(f->series, labels) != 0) {
		if (!family_close(c))
			return false;
		snprintf(f->series, sizeof(f->series), "%s", labels);
		f->last_le = -INFINITY;
		f->last_bucket = 0;
		f->saw_inf = f->saw_sum = f->saw_count = false;
	}
	if (f->saw_inf || !le[0])
		return bad(c, "bucket after +Inf, or without le, in %s", f->name);
	double bound = strcmp(le, "+Inf") == 0 ? INFINITY : strtod(le, NULL);
	if (bound <= f->last_le || v < f->last_bucket)
		return bad(c, "%s: buckets not ascending or not cumulative at le=%s", f->name, le);
	f->last_le = bound;
	f->last_bucket = v;
	if (isinf(bound)) {
		f->saw_inf = true;
		f->inf_count = v;
	}
	return true;
}

static bool on_histo_sample(struct checker *c, const char *name, const char *labels,
			    const char *le, double v)
{
	struct family *f = &c->cur;
	size_t n = strlen(f->name);
	if (strncmp(name, f->name, n) != 0)
		return bad(c, "sample %s outside its family %s", name, f->name);
	const char *suffix = name + n;
	if (!strcmp(suffix, "_bucket"))
		return on_bucket(c, labels, le, v);
	if (strcmp(f->series, labels) != 0 || !f->saw_inf)
		return bad(c, "%s before the +Inf bucket of its series {%s}", name, labels);
	if (!strcmp(suffix, "_sum")) {
		f->saw_sum = true;
		return true;
	}
	if (!strcmp(suffix, "_count")) {
		f->saw_count = true;
		if (v != f->inf_count)
			return bad(c, "%s differs from its +Inf bucket {%s}", name, labels);
		return true;
	}
	return bad(c, "sample %s outside its family %s", name, f->name);
}

static bool on_sample(struct checker *c, const char *line)
{
	size_t n = strcspn(line, "{ ");
	char name[160], labels[512], le[64];
	snprintf(name, sizeof(name), "%.*s", (int)n, line);
	if (!name_ok(line, n))
		return bad(c, "bad metric name '%s'", name);
	if (!c->cur.type[0])
		return bad(c, "sample %s before its HELP and TYPE", name);
	const char *p = line + n;
	if (!parse_labels(c, &p, labels, sizeof(labels), le, sizeof(le)))
		return false;
	if (*p != ' ')
		return bad(c, "no value after %s", name);
	char *end = NULL;
	double v = strtod(p + 1, &end);
	if (end == p + 1 || *end)
		return bad(c, "bad value '%s' of %s", p + 1, name);
	c->cur.samples++;
	if (strcmp(c->cur.type, "histogram") == 0)
		return on_histo_sample(c, name, labels, le, v);
	if (strcmp(name, c->cur.name) != 0 || le[0])
		return bad(c, "sample %s outside its family %s", name, c->cur.name);
	return true;
}

/* Checks a whole /metrics body; false with c->err set at the first fault. */
static bool expo_check(struct checker *c, const char *text)
{
	memset(c, 0, sizeof(*c));
	c->cur.series[0] = '\x01';
	size_t len = strlen(text);
	if (!len || text[len - 1] != '\n')
		return bad(c, "body is empty or does not end with a newline");
	for (const char *s = text; *s;) {
		size_t n = strcspn(s, "\n");
		char line[2048];
		snprintf(line, sizeof(line), "%.*s", (int)n, s);
		s += n + 1;
		c->line++;
		bool ok = !strncmp(line, "# HELP ", 7) ? on_help(c, line + 7)
			: !strncmp(line, "# TYPE ", 7) ? on_type(c, line + 7)
			: line[0] == '#' ? true : on_sample(c, line);
		if (!ok)
			return false;
	}
	return family_close(c);
}

/* The value of one exact series ("name{labels}" or "name"); NAN if absent. */
static double expo_value(const char *text, const char *series)
{
	size_t n = strlen(series);
	for (const char *s = text; s && *s; s = strchr(s, '\n'), s = s ? s + 1 : NULL)
		if (strncmp(s, series, n) == 0 && s[n] == ' ')
			return strtod(s + n + 1, NULL);
	return NAN;
}

/* Sum of every sample of name (any labels). */
static double expo_sum(const char *text, const char *name)
{
	size_t n = strlen(name);
	double sum = 0;
	for (const char *s = text; s && *s; s = strchr(s, '\n'), s = s ? s + 1 : NULL)
		if (strncmp(s, name, n) == 0 && (s[n] == ' ' || s[n] == '{')) {
			const char *sp = strchr(s, ' ');
			sum += sp ? strtod(sp + 1, NULL) : 0;
		}
	return sum;
}

static char *scrape(const char *base)
{
	char url[256], *body = NULL;
	snprintf(url, sizeof(url), "%s/metrics", base);
	long st = th_http("GET", url, NULL, NULL, 0, &body, NULL);
	ck_assert_int_eq(st, 200);
	ck_assert_ptr_nonnull(body);
	struct checker *c = calloc(1, sizeof(*c));
	ck_assert_ptr_nonnull(c);
	ck_assert_msg(expo_check(c, body), "%s/metrics: %s", base, c->err);
	free(c);
	return body;
}

START_TEST(test_checker_refuses_bad_exposition)
{
	static const char *const bad[] = {
		"drorch_x 1\n",
		"# HELP drorch_x_total x\n# TYPE drorch_x_total counter\ndrorch_x_total 1",
		"# HELP drorch_x x\n# TYPE drorch_x counter\ndrorch_x 1\n",
		"# HELP other x\n# TYPE other gauge\nother 1\n",
		"# HELP drorch_h h\n# TYPE drorch_h histogram\ndrorch_h_bucket{le=\"1\"} 2\n"
		"drorch_h_bucket{le=\"2\"} 1\ndrorch_h_bucket{le=\"+Inf\"} 2\ndrorch_h_sum 1\ndrorch_h_count 2\n",
		"# HELP drorch_h h\n# TYPE drorch_h histogram\ndrorch_h_bucket{le=\"1\"} 1\n"
		"drorch_h_bucket{le=\"+Inf\"} 2\ndrorch_h_sum 1\ndrorch_h_count 3\n",
		"# HELP drorch_h h\n# TYPE drorch_h histogram\ndrorch_h_bucket{le=\"1\"} 1\ndrorch_h_sum 1\n",
		"# HELP drorch_g g\n# TYPE drorch_g gauge\ndrorch_g{a=\"x} 1\n",
	};
	struct checker *c = calloc(1, sizeof(*c));
	ck_assert_ptr_nonnull(c);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(!expo_check(c, bad[i]), "accepted bad text %zu", i);
	ck_assert_msg(expo_check(c, "# HELP drorch_h h\n# TYPE drorch_h histogram\n"
				    "drorch_h_bucket{m=\"a\",le=\"1\"} 1\ndrorch_h_bucket{m=\"a\",le=\"+Inf\"} 2\n"
				    "drorch_h_sum{m=\"a\"} 1.5\ndrorch_h_count{m=\"a\"} 2\n"), "%s", c->err);
	free(c);
}
END_TEST

/* ---- drsite ------------------------------------------------------------------- */

static char *root;

static void setup(void)
{
	root = th_mkdtemp("check_metrics");
	ck_assert_ptr_nonnull(root);
}

static void teardown(void)
{
	th_cleanup();
	th_rmrf(root);
	free(root);
}

START_TEST(test_site_metrics_after_puts)
{
	struct th_site s;
	th_site_init(&s, root, "us-east");
	ck_assert(th_site_start(&s, NULL));
	for (int i = 0; i < 7; i++) {
		char key[16];
		snprintf(key, sizeof(key), "k%d", i);
		ck_assert_int_eq(th_site_put(&s, key), 200);
	}
	char *m = scrape(s.base);
	ck_assert(expo_value(m, "drorch_site_writes_total") == 7);
	ck_assert(expo_value(m, "drorch_site_lsn") == 7);
	ck_assert(expo_value(m, "drorch_site_flushed_lsn") == 7);
	ck_assert(expo_value(m, "drorch_site_fsyncs_total") >= 1);
	ck_assert(expo_value(m, "drorch_site_role{role=\"standalone\"}") == 1);
	ck_assert(expo_value(m, "drorch_site_put_ack_seconds_count{mode=\"async\"}") == 7);
	ck_assert(expo_value(m, "drorch_site_put_ack_seconds_count{mode=\"sync\"}") == 0);
	ck_assert(expo_value(m, "drorch_site_wal_fsync_seconds_count") ==
		  expo_value(m, "drorch_site_fsyncs_total"));
	ck_assert(expo_sum(m, "drorch_http_request_duration_seconds_count") >= 7);
	/* by route template, method and code: the 7 PUTs */
	ck_assert(expo_value(m, "drorch_http_request_duration_seconds_count{route=\"/v1/kv/{key}\","
			     "method=\"PUT\",code=\"200\"}") == 7);
	free(m);
}
END_TEST

START_TEST(test_site_metrics_primary_and_replica)
{
	struct th_site p, r;
	th_site_init(&p, root, "us-east");
	th_site_init(&r, root, "eu-west");
	ck_assert(th_site_start(&p, NULL) && th_site_start(&r, NULL));
	ck_assert_int_eq(th_site_role(&p, "primary", 2, NULL, "sync", 1), 200);
	ck_assert_int_eq(th_site_role(&r, "replica", 2, &p, "sync", 1), 200);
	uint64_t deadline = time_mono_ms() + 10000;
	while (th_site_put(&p, "a") != 200 && time_mono_ms() < deadline)
		time_sleep_ms(50);
	ck_assert_int_eq(th_site_put(&p, "b"), 200);
	char *m = scrape(p.base);
	ck_assert(expo_value(m, "drorch_site_role{role=\"primary\"}") == 1);
	ck_assert(expo_value(m, "drorch_site_epoch") == 2);
	ck_assert(expo_value(m, "drorch_site_put_ack_seconds_count{mode=\"sync\"}") >= 2);
	ck_assert_msg(!isnan(expo_value(m, "drorch_site_peer_lag_records{peer=\"eu-west\"}")), "%s", m);
	ck_assert(!isnan(expo_value(m, "drorch_site_peer_lag_seconds{peer=\"eu-west\"}")));
	free(m);
	deadline = time_mono_ms() + 10000;
	double streaming = 0;
	while (streaming != 1 && time_mono_ms() < deadline) {
		m = scrape(r.base);
		streaming = expo_value(m, "drorch_site_replication_streaming");
		ck_assert(expo_value(m, "drorch_site_role{role=\"replica\"}") == 1);
		ck_assert(!isnan(expo_value(m, "drorch_site_replication_lag_records")));
		free(m);
		time_sleep_ms(50);
	}
	ck_assert(streaming == 1);
}
END_TEST

/* ---- a webhook receiver ---------------------------------------------------------- */

struct receiver {
	pthread_mutex_t mu;
	json_t *events;            /* every body received, in order */
	struct http_server *srv;
	uint16_t port;
};

static void receiver_handler(void *ctx, const struct http_req *req, struct http_resp *resp)
{
	struct receiver *r = ctx;
	json_t *j = req->body ? json_loadb(req->body, req->body_len, 0, NULL) : NULL;
	if (strcmp(req->method, "POST") || strcmp(req->path, "/hook") || !json_is_object(j)) {
		json_decref(j);
		http_resp_error(resp, 400, "want a JSON object POSTed to /hook");
		return;
	}
	pthread_mutex_lock(&r->mu);
	json_array_append_new(r->events, j);
	pthread_mutex_unlock(&r->mu);
	http_resp_json(resp, 200, json_pack("{s:b}", "ok", 1));
}

static void receiver_start(struct receiver *r, uint16_t port)
{
	char err[256];
	struct http_server_opts o = { .host = "127.0.0.1", .port = port, .max_body = 1 << 20,
				      .handler = receiver_handler, .ctx = r };
	ck_assert_msg(http_server_start(&r->srv, &o, err, sizeof(err)) == 0, "%s", err);
	r->port = http_server_port(r->srv);
}

/* The events received so far with that FSM event (a new reference). */
static json_t *received(struct receiver *r, const char *event)
{
	json_t *out = json_array();
	pthread_mutex_lock(&r->mu);
	size_t i;
	json_t *e;
	json_array_foreach(r->events, i, e) {
		const char *ev = json_string_value(json_object_get(e, "event"));
		if (ev && !strcmp(ev, event))
			json_array_append(out, e);
	}
	pthread_mutex_unlock(&r->mu);
	return out;
}

static bool wait_received(struct receiver *r, const char *event, size_t n, long timeout_ms)
{
	uint64_t deadline = time_mono_ms() + (uint64_t)timeout_ms;
	for (;;) {
		json_t *got = received(r, event);
		size_t have = json_array_size(got);
		json_decref(got);
		if (have >= n)
			return true;
		if (time_mono_ms() > deadline)
			return false;
		time_sleep_ms(50);
	}
}

/* ---- drorchd ------------------------------------------------------------------------ */

struct lab {
	struct tl_lab tl;     /* us-east primary, eu-west replica */
	struct receiver hook; /* drorchd's webhook target */
};

static void lab_up(struct lab *L)
{
	memset(L, 0, sizeof(*L));
	pthread_mutex_init(&L->hook.mu, NULL);
	L->hook.events = json_array();
	receiver_start(&L->hook, 0);
	tl_lab_init(&L->tl, "check_metrics_lab", 2, OP_TOKEN,
		    "name: test\nfailover: {anti_flap_s: 0}\n");
	snprintf(L->tl.extra_config, sizeof(L->tl.extra_config),
		 "webhooks: [\"http://127.0.0.1:%u/hook\"]\n", (unsigned)L->hook.port);
	tl_lab_up(&L->tl, NULL);
}

static void lab_down(struct lab *L)
{
	tl_lab_free(&L->tl);
	http_server_stop(L->hook.srv);
	json_decref(L->hook.events);
	pthread_mutex_destroy(&L->hook.mu);
}

static void pause_resume(struct lab *L)
{
	ck_assert_int_eq(tl_orch_post(&L->tl, "/v1/pause", NULL), 202);
	json_t *st = tl_wait_cluster(&L->tl, "PAUSED", NULL, NULL, 5000);
	ck_assert(st);
	json_decref(st);
	ck_assert_int_eq(tl_orch_post(&L->tl, "/v1/resume", NULL), 202);
	st = tl_wait_cluster(&L->tl, "STEADY", NULL, NULL, 5000);
	ck_assert(st);
	json_decref(st);
}

START_TEST(test_orch_metrics_in_a_lab)
{
	struct lab L;
	lab_up(&L);
	char *m = scrape(L.tl.url);
	ck_assert(expo_value(m, "drorch_fsm_state{state=\"STEADY\"}") == 1);
	ck_assert(expo_value(m, "drorch_fsm_state{state=\"PAUSED\"}") == 0);
	ck_assert(expo_sum(m, "drorch_fsm_state") == 1);
	ck_assert(expo_value(m, "drorch_primary{site=\"us-east\"}") == 1);
	ck_assert(expo_value(m, "drorch_monitor_site_up{site=\"eu-west\"}") == 1);
	ck_assert(expo_value(m, "drorch_monitor_site_role{site=\"us-east\",role=\"primary\"}") == 1);
	ck_assert(expo_value(m, "drorch_monitor_site_role{site=\"eu-west\",role=\"replica\"}") == 1);
	ck_assert(!isnan(expo_value(m, "drorch_monitor_site_replication_lag_seconds{site=\"eu-west\"}")));
	ck_assert(expo_value(m, "drorch_monitor_site_rpo_breached{site=\"eu-west\"}") == 0);
	ck_assert(!isnan(expo_value(m, "drorch_monitor_site_replication_lag_records{site=\"eu-west\"}")));
	double before = expo_sum(m, "drorch_transitions_total");
	free(m);
	pause_resume(&L);
	m = scrape(L.tl.url);
	ck_assert(expo_sum(m, "drorch_transitions_total") >= before + 2);
	ck_assert(expo_value(m, "drorch_epoch") >= 1);
	ck_assert(expo_sum(m, "drorch_http_request_duration_seconds_count") >= 3);
	ck_assert(expo_value(m, "drorch_http_request_duration_seconds_count{route=\"/v1/pause\","
			     "method=\"POST\",code=\"202\"}") == 1);
	ck_assert(expo_sum(m, "drorch_failovers_total") == 0);
	free(m);
	lab_down(&L);
}
END_TEST

/* Every field webhook.h promises. */
static void check_event(json_t *e, const char *from, const char *to)
{
	static const char *const keys[] = { "seq", "ts", "from", "event", "to", "row_id", "epoch",
					    "actor", "run_id", "reason", "primary" };
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		ck_assert_msg(json_object_get(e, keys[i]), "webhook body lacks %s", keys[i]);
	ck_assert_str_eq(json_string_value(json_object_get(e, "from")), from);
	ck_assert_str_eq(json_string_value(json_object_get(e, "to")), to);
	ck_assert_str_eq(json_string_value(json_object_get(e, "primary")), "us-east");
	ck_assert_str_eq(json_string_value(json_object_get(e, "actor")), "operator:api");
}

START_TEST(test_webhook_per_transition_and_retry)
{
	struct lab L;
	lab_up(&L);
	pause_resume(&L);
	ck_assert_msg(wait_received(&L.hook, "OP_PAUSE", 1, 5000) &&
		      wait_received(&L.hook, "OP_RESUME", 1, 5000), "no webhook; see %s", L.tl.log);
	json_t *p = received(&L.hook, "OP_PAUSE"), *r = received(&L.hook, "OP_RESUME");
	check_event(json_array_get(p, 0), "STEADY", "PAUSED");
	check_event(json_array_get(r, 0), "PAUSED", "STEADY");
	ck_assert_int_lt(json_integer_value(json_object_get(json_array_get(p, 0), "seq")),
			 json_integer_value(json_object_get(json_array_get(r, 0), "seq")));
	json_decref(p);
	json_decref(r);

	/* The receiver goes away; transitions keep being committed; it comes back. */
	uint16_t port = L.hook.port;
	http_server_stop(L.hook.srv);
	L.hook.srv = NULL;
	pause_resume(&L);
	time_sleep_ms(1500);
	char *m = scrape(L.tl.url);
	ck_assert_msg(expo_sum(m, "drorch_webhook_failures_total") >= 1, "%s", m);
	free(m);
	receiver_start(&L.hook, port);
	ck_assert_msg(wait_received(&L.hook, "OP_PAUSE", 2, 15000) &&
		      wait_received(&L.hook, "OP_RESUME", 2, 15000), "not retried; see %s", L.tl.log);
	m = scrape(L.tl.url);
	ck_assert(expo_sum(m, "drorch_webhook_deliveries_total") >= 4);
	ck_assert(expo_sum(m, "drorch_webhook_dropped_total") == 0);
	free(m);
	lab_down(&L);
}
END_TEST

/* drorchd's transition log lines carry the run id and the epoch. */
START_TEST(test_transition_log_lines_carry_run_and_epoch)
{
	struct lab L;
	lab_up(&L);
	pause_resume(&L);
	/* The status shows a transition as soon as it is committed; its log
	 * line follows a moment later (CI's distcheck once read one of two). */
	int found = 0;
	for (uint64_t end = time_mono_ms() + 5000; found < 2 && time_mono_ms() < end;
	     time_sleep_ms(50)) {
		char *log = th_read_file(L.tl.log, NULL);
		ck_assert_ptr_nonnull(log);
		found = 0;
		for (char *line = strtok(log, "\n"); line; line = strtok(NULL, "\n")) {
			json_t *j = json_loads(line, 0, NULL);
			const char *ev = json_string_value(json_object_get(j, "event"));
			if (ev && !strcmp(ev, "orch.transition")) {
				ck_assert_msg(json_object_get(j, "run") && json_object_get(j, "epoch"),
					      "%s", line);
				found++;
			}
			json_decref(j);
		}
		free(log);
	}
	ck_assert_int_ge(found, 2);
	lab_down(&L);
}
END_TEST

static Suite *metrics_suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("format");
	tcase_add_test(tc, test_checker_refuses_bad_exposition);
	suite_add_tcase(s, tc);
	tc = tcase_create("drsite");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_site_metrics_after_puts);
	tcase_add_test(tc, test_site_metrics_primary_and_replica);
	suite_add_tcase(s, tc);
	tc = tcase_create("drorchd");
	tcase_set_timeout(tc, 90);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_orch_metrics_in_a_lab);
	tcase_add_test(tc, test_webhook_per_transition_and_retry);
	tcase_add_test(tc, test_transition_log_lines_carry_run_and_epoch);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	httpc_global_init();
	SRunner *sr = srunner_create(metrics_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
