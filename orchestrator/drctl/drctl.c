/*
 * drctl.c — the operator's command line: drorchd's REST surface (libcurl,
 * through common/httpc), drlink's WAN conditions, and the local lab (lab.c).
 *
 *   drctl [--url URL --token-file F | --lab DIR] COMMAND [ARGS] [--json] [--yes]
 *
 * Exit status: 0 done, 1 the operation failed (drorchd refused it, a
 * process could not be reached, a wait ran out), 2 usage or bad input
 * (including drorchd's 400).  Messages go to stderr, results to stdout:
 * tables for people, with --json the API's JSON (or the object the command
 * documents in drctl(1)).  Progress lines go to stdout, or to stderr with
 * --json so stdout stays one JSON document.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "decimal.h"
#include "format.h"
#include "httpc.h"
#include "lab.h"
#include "operators.h"
#include "playbook.h"
#include "policy.h"
#include "timeutil.h"

enum { EXIT_DONE = 0, EXIT_FAILED = 1, EXIT_USAGE = 2 };

#define HTTP_TIMEOUT_MS 5000
#define MAX_POS 4

struct ctl {
	const char *url;           /* drorchd base URL */
	const char *token_file;
	const char *lab_dir;
	char url_buf[96];
	char token[256];
	bool json, yes, help, version;
	struct lab *lab;
	struct httpc *http;
	FILE *progress;            /* stdout, or stderr with --json */
};

/* A command's options: filled by parse_args. */
struct opt {
	const char *name;          /* "--to" */
	bool has_arg;
	const char *value;
	bool set;
};

struct args {
	const char *pos[MAX_POS];
	int npos;
};

static int fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("drctl: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

/* ==== help ================================================================== */

struct command {
	const char *name;
	int (*run)(struct ctl *c, int argc, char **argv);
	const char *usage;
	const char *help;
};

static const char *const global_help =
	"usage: drctl [--url URL --token-file F | --lab DIR] COMMAND [ARGS] [--json] [--yes]\n"
	"\n"
	"  --url URL         drorchd's base URL (or $DRCTL_URL)\n"
	"  --token-file F    the operators' bearer token (or $DRCTL_TOKEN_FILE)\n"
	"  --lab DIR         a lab made by 'drctl lab up': URL, token and drlink from DIR/lab.json\n"
	"                    (or $DRCTL_LAB)\n"
	"  --json            print JSON for scripts instead of tables\n"
	"  --yes, -y         do not ask for confirmation\n"
	"  --help, -h        this text; 'drctl COMMAND --help' for one command\n"
	"  --version         drctl's version\n"
	"\n"
	"exit status: 0 done, 1 the operation failed, 2 usage or bad input\n"
	"\ncommands:\n";

static void print_commands(FILE *f);

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("drctl: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n(drctl --help for usage)\n", stderr);
	return EXIT_USAGE;
}

/* ==== arguments ============================================================= */

/* --name VALUE or --name=VALUE; returns how many argv slots it used (0: no). */
static int match_opt(const char *name, bool has_arg, int argc, char **argv, int i,
		     const char **value)
{
	size_t n = strlen(name);
	if (strncmp(argv[i], name, n) != 0)
		return 0;
	if (argv[i][n] == '\0') {
		if (!has_arg)
			return 1;
		if (i + 1 >= argc)
			return -1;
		*value = argv[i + 1];
		return 2;
	}
	if (argv[i][n] == '=' && has_arg) {
		*value = argv[i] + n + 1;
		return 1;
	}
	return 0;
}

/* Global options, allowed before and after the command. */
static int global_opt(struct ctl *c, int argc, char **argv, int i)
{
	const char *v = NULL;
	int used;
	if (!strcmp(argv[i], "--json")) {
		c->json = true;
		c->progress = stderr;  /* stdout holds nothing but the JSON */
		return 1;
	}
	if (!strcmp(argv[i], "--yes") || !strcmp(argv[i], "-y"))
		return c->yes = true, 1;
	if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
		return c->help = true, 1;
	if (!strcmp(argv[i], "--version"))
		return c->version = true, 1;
	if ((used = match_opt("--url", true, argc, argv, i, &v)))
		return used > 0 ? (c->url = v, used) : -1;
	if ((used = match_opt("--token-file", true, argc, argv, i, &v)))
		return used > 0 ? (c->token_file = v, used) : -1;
	if ((used = match_opt("--lab", true, argc, argv, i, &v)))
		return used > 0 ? (c->lab_dir = v, used) : -1;
	return 0;
}

/* Parses argv[0..argc) (after the command words) into opts and positionals. */
static int parse_args(struct ctl *c, int argc, char **argv, struct opt *opts, int maxpos,
		      struct args *a)
{
	memset(a, 0, sizeof(*a));
	for (int i = 0; i < argc;) {
		int used = global_opt(c, argc, argv, i);
		for (struct opt *o = opts; !used && o && o->name; o++)
			if ((used = match_opt(o->name, o->has_arg, argc, argv, i, &o->value)) > 0)
				o->set = true;
		if (used < 0)
			return usage_error("%s: needs a value", argv[i]);
		if (used) {
			i += used;
			continue;
		}
		if (argv[i][0] == '-' && argv[i][1])
			return usage_error("unknown option %s", argv[i]);
		if (a->npos == maxpos || a->npos == MAX_POS)
			return usage_error("unexpected argument '%s'", argv[i]);
		a->pos[a->npos++] = argv[i++];
	}
	return 0;
}

static const char *opt_value(const struct opt *opts, const char *name)
{
	for (; opts->name; opts++)
		if (!strcmp(opts->name, name))
			return opts->set ? opts->value : NULL;
	return NULL;
}

static bool opt_on(const struct opt *opts, const char *name)
{
	for (; opts->name; opts++)
		if (!strcmp(opts->name, name))
			return opts->set;
	return false;
}

/* A positive number of seconds -> ms. */
static int opt_seconds(const struct opt *opts, const char *name, long dflt_s, long *ms)
{
	const char *v = opt_value(opts, name);
	uint64_t s = (uint64_t)dflt_s;
	if (v && decimal_u64_in(v, 1, 86400, &s) != DECIMAL_OK)
		return usage_error("%s: expected a number of seconds, got '%s'", name, v);
	*ms = (long)s * 1000;
	return 0;
}

/* ==== connecting ============================================================ */

static int read_token(struct ctl *c)
{
	FILE *f = fopen(c->token_file, "r");
	if (!f)
		return fail(EXIT_USAGE, "token file %s: %s", c->token_file, strerror(errno));
	char *ok = fgets(c->token, sizeof(c->token), f);
	fclose(f);
	size_t n = ok ? strlen(c->token) : 0;
	while (n && (c->token[n - 1] == '\n' || c->token[n - 1] == '\r' || c->token[n - 1] == ' '))
		c->token[--n] = '\0';
	if (!n)
		return fail(EXIT_USAGE, "token file %s: empty", c->token_file);
	return 0;
}

static int need_lab(struct ctl *c)
{
	char err[512];
	if (c->lab)
		return 0;
	if (!c->lab_dir)
		return usage_error("this command needs a lab: --lab DIR (or $DRCTL_LAB)");
	if (lab_load(c->lab_dir, &c->lab, err, sizeof(err)))
		return fail(EXIT_USAGE, "%s", err);
	return 0;
}

/* drorchd's URL and token, from --url/--token-file or the lab (its url, or
 * in an HA lab whose first instance is down, the first that runs). */
static int need_api(struct ctl *c)
{
	if (!c->url && c->lab_dir) {
		int rc = need_lab(c);
		if (rc)
			return rc;
		if (!c->lab->url[0])
			return fail(EXIT_FAILED, "%s: this lab has no drorchd (state %s)", c->lab->dir,
				    c->lab->state);
		const char *live = lab_orch_url(c->lab);
		snprintf(c->url_buf, sizeof(c->url_buf), "%s", live ? live : c->lab->url);
		c->url = c->url_buf;
		if (!c->token_file)
			c->token_file = c->lab->token_file;
	}
	if (!c->url)
		return usage_error("no cluster: give --url URL --token-file F, or --lab DIR");
	if (strncmp(c->url, "http://", 7) && strncmp(c->url, "https://", 8))
		return usage_error("--url: expected http://HOST:PORT, got '%s'", c->url);
	return c->token_file && !c->token[0] ? read_token(c) : 0;
}

/* A non-2xx answer: prints "METHOD PATH: HTTP N: error" (the body's
 * {"error"}, else the body) and returns 1 (2 for a 400). */
static int refused(const char *method, const char *path, const struct httpc_resp *r)
{
	json_t *j = json_loadb(r->body, r->body_len, 0, NULL);
	const char *msg = json_string_value(json_object_get(j, "error"));
	int code = r->status == 400 ? EXIT_USAGE : EXIT_FAILED;
	fail(code, "%s %s: HTTP %ld: %s", method, path, r->status, msg ? msg : r->body);
	json_decref(j);
	return code;
}

/*
 * Sends the request, and again where a 307 or 308 points (an HA follower
 * names its leader: docs/ha.md), with the same method, body and token, up
 * to 3 times; url[len] ends as the URL that answered.  httpc_request's
 * return.
 */
static int send_following(struct ctl *c, const char *method, char *url, size_t len,
			  const char *text, struct httpc_resp *r, char *err, size_t errlen)
{
	for (int hop = 0; ; hop++) {
		int rc = httpc_request(c->http, method, url, c->token[0] ? c->token : NULL, text,
				       text ? strlen(text) : 0, HTTP_TIMEOUT_MS, r, err, errlen);
		char next[512];
		if (rc || (r->status != 307 && r->status != 308) || hop == 3 ||
		    !httpc_resp_header(r, "Location", next, sizeof(next)) ||
		    strncmp(next, "http://", 7) != 0)
			return rc;
		httpc_resp_free(r);
		snprintf(url, len, "%s", next);
	}
}

/* One request; 2xx fills *out (JSON, may be NULL).  Otherwise prints
 * "METHOD PATH: HTTP N: error" and returns 1 (2 for a 400). */
static int call(struct ctl *c, const char *base, const char *method, const char *path,
		json_t *body, json_t **out)
{
	char url[512], err[256];
	struct httpc_resp r;
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	if (out)
		*out = NULL;
	if (body && !text)
		return fail(EXIT_FAILED, "%s %s: out of memory", method, path);
	snprintf(url, sizeof(url), "%s%s", base, path);
	int rc = send_following(c, method, url, sizeof(url), text, &r, err, sizeof(err));
	free(text);
	if (rc && httpc_not_delivered(c->http)) {
		char hint[LAB_PATH + 64];
		snprintf(hint, sizeof(hint), c->lab_dir ? "is the lab up? (drctl lab status --dir %s)" :
			 "is it running, and is --url right?", c->lab_dir);
		return fail(EXIT_FAILED, "%s %s: nothing listens at %s (%s): %s", method, path, base,
			    base == c->url ? "drorchd" : "drlink", hint);
	}
	if (rc)
		return fail(EXIT_FAILED, "%s", err);  /* names the method and URL */
	json_t *j = json_loadb(r.body, r.body_len, JSON_DECODE_ANY, NULL);
	if (r.status >= 200 && r.status < 300) {
		if (out)
			*out = j;
		else
			json_decref(j);
		httpc_resp_free(&r);
		return EXIT_DONE;
	}
	json_decref(j);
	int code = refused(method, path, &r);
	httpc_resp_free(&r);
	return code;
}

static int api(struct ctl *c, const char *method, const char *path, json_t *body, json_t **out)
{
	return call(c, c->url, method, path, body, out);
}

static void print_json(const json_t *j)
{
	char *text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	if (text)
		printf("%s\n", text);
	free(text);
}

/* ==== small formatting helpers ============================================== */

static const char *jstr(const json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));
	return v ? v : "-";
}

static long long jint(const json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

/* An integer field, or "-" when null or missing, into buf. */
static const char *jnum(const json_t *o, const char *key, char *buf, size_t len)
{
	json_t *v = json_object_get(o, key);
	if (!json_is_integer(v))
		return "-";
	snprintf(buf, len, "%lld", (long long)json_integer_value(v));
	return buf;
}

static const char *wall(long long ms, char *buf, size_t len)
{
	if (ms <= 0)
		return "-";
	time_format_rfc3339((uint64_t)ms, buf, len);
	return buf;
}

/* ==== status, sites ========================================================= */

static void print_sites_table(const json_t *sites)
{
	printf("%-10s %-12s %-8s %-7s %8s %8s %5s %7s %7s %-11s %-8s %-8s %-6s %s\n", "SITE",
	       "REGION", "ROLE", "HEALTHY", "LSN", "FLUSHED", "EPOCH", "LAG_MS", "LAG_REC",
	       "REPLICATION", "VERSION", "FCV", "FORMAT", "URL");
	size_t i;
	json_t *s;
	json_array_foreach(sites, i, s) {
		/* The primary lags nobody: "-" rather than 0. */
		bool replica = strcmp(jstr(s, "role"), "primary") != 0;
		char b1[32], b2[32];
		const char *ms = replica ? jnum(s, "lag_ms", b1, sizeof(b1)) : "-";
		const char *rec = replica ? jnum(s, "lag_records", b2, sizeof(b2)) : "-";
		printf("%-10s %-12s %-8s %-7s %8lld %8lld %5lld %7s %7s %-11s %-8s %-8s %-6lld %s\n",
		       jstr(s, "name"), jstr(s, "region"), jstr(s, "role"),
		       json_is_true(json_object_get(s, "healthy")) ? "yes" : "no", jint(s, "lsn"),
		       jint(s, "flushed_lsn"), jint(s, "epoch"), ms, rec,
		       jstr(s, "replication"), jstr(s, "version"),
		       jstr(s, "fcv"), jint(s, "format"), jstr(s, "url"));
	}
}

/* A state that awaits an operator: why, and the commands to give, in
 * order (GET /v1/status: awaiting_operator). */
static void print_guidance(FILE *f, const json_t *st)
{
	const json_t *g = json_object_get(st, "awaiting_operator");
	if (!g)
		return;
	fprintf(f, "%s: %s (row %s)\n", jstr(st, "state"), jstr(g, "why"), jstr(g, "row"));
	if (json_is_string(json_object_get(g, "found")))
		fprintf(f, "  found: %s\n", jstr(g, "found"));
	size_t i;
	json_t *n;
	json_array_foreach(json_object_get(g, "next"), i, n)
		fprintf(f, "  %s %s\n", i ? "then:" : "next:", json_string_value(n));
}

/* With HA (docs/ha.md): which instance leads, and each instance's role. */
static void print_ha(const json_t *ha)
{
	if (!json_is_true(json_object_get(ha, "enabled")))
		return;
	const json_t *leader = json_object_get(ha, "leader");
	printf("\norchestrator: %s leads (term %lld); this answer from %s (%s), its copy at log"
	       " index %lld%s%s\n", json_is_object(leader) ? jstr(leader, "name") : "no instance",
	       jint(ha, "term"), jstr(ha, "name"), jstr(ha, "role"), jint(ha, "applied"),
	       strcmp(jstr(ha, "mirror"), "ok") ? ", mirror: " : "",
	       strcmp(jstr(ha, "mirror"), "ok") ? jstr(ha, "mirror") : "");
	size_t i;
	const json_t *m;
	json_array_foreach(json_object_get(ha, "instances"), i, m)
		printf("  %-12s %-9s %s\n", jstr(m, "name"), jstr(m, "role"), jstr(m, "url"));
}

static void print_status(const json_t *st)
{
	char run[32];
	printf("cluster %s  epoch %lld  primary %s  policy %s  run %s\n\n", jstr(st, "state"),
	       jint(st, "epoch"), jstr(st, "primary"), jstr(st, "policy"),
	       jint(st, "run") > 0 ? jnum(st, "run", run, sizeof(run)) : "-");
	print_sites_table(json_object_get(st, "sites"));
	print_ha(json_object_get(st, "ha"));
	if (json_object_get(st, "awaiting_operator"))
		putchar('\n');
	print_guidance(stdout, st);
}

static void print_link_row(const json_t *k);
static void print_links_header(void);

/* The run in progress: its kind, what it is doing and its steps so far. */
static void print_run_in_progress(struct ctl *c, const json_t *st)
{
	char path[64];
	json_t *run = NULL;
	if (jint(st, "run") <= 0)
		return;
	snprintf(path, sizeof(path), "/v1/runs/%lld", jint(st, "run"));
	if (api(c, "GET", path, NULL, &run))
		return;
	printf("\nrun %lld: %s from %s", jint(run, "id"), jstr(run, "kind"), jstr(run, "from_site"));
	if (json_is_string(json_object_get(run, "target")))
		printf(" to %s", jstr(run, "target"));
	printf(" (%s, epoch %lld)\n", jstr(run, "outcome"), jint(run, "epoch"));
	size_t i;
	json_t *step;
	json_array_foreach(json_object_get(run, "steps"), i, step)
		printf("  %-12s %s\n", jstr(step, "step"), jstr(step, "status"));
	json_decref(run);
}

/* With --lab: every drlink link's conditions (as 'wan show'). */
static void print_lab_links(struct ctl *c)
{
	json_t *links = NULL;
	if (!c->lab || call(c, c->lab->drlink, "GET", "/v1/links", NULL, &links))
		return;
	printf("\n");
	print_links_header();
	size_t i;
	json_t *k;
	json_array_foreach(json_object_get(links, "links"), i, k)
		print_link_row(k);
	json_decref(links);
}

/* One screen of 'status --watch': on a terminal the screen is cleared
 * first; --json prints one compact object per line (JSON Lines). */
static void watch_once(struct ctl *c, long every_ms, int tick)
{
	json_t *st = NULL;
	char now[40];
	time_format_rfc3339(time_wall_ms(), now, sizeof(now));
	if (!c->json && isatty(STDOUT_FILENO))
		printf("\033[H\033[2J");
	int rc = api(c, "GET", "/v1/status", NULL, &st);
	if (c->json) {
		json_t *line = json_pack("{s:s, s:i, s:O?}", "at", now, "tick", tick, "status", st);
		char *text = line ? json_dumps(line, JSON_COMPACT) : NULL;
		if (text)
			printf("%s\n", text);
		free(text);
		json_decref(line);
	} else {
		printf("%s  every %lds  drctl status --watch (Ctrl-C to stop)\n\n", now,
		       every_ms / 1000);
		if (rc == 0) {
			print_status(st);
			print_run_in_progress(c, st);
			print_lab_links(c);
		}
	}
	fflush(stdout);
	json_decref(st);
}

/* status --watch [S] [--count N]: every S seconds (default 2) until
 * interrupted, or N times; a failed request is shown and watching goes on,
 * as patronictl list -W does. */
static int watch_status(struct ctl *c, const char *every, const char *count)
{
	uint64_t s = 2, n = 0;
	if (every && decimal_u64_in(every, 1, 3600, &s) != DECIMAL_OK)
		return usage_error("status --watch: expected a number of seconds, got '%s'", every);
	if (count && decimal_u64_in(count, 1, INT_MAX, &n) != DECIMAL_OK)
		return usage_error("--count: expected a positive number, got '%s'", count);
	for (uint64_t tick = 1; !n || tick <= n; tick++) {
		watch_once(c, (long)s * 1000, (int)tick);
		if (!n || tick < n)
			time_sleep_ms((uint64_t)s * 1000);
	}
	return EXIT_DONE;
}

static int cmd_status(struct ctl *c, int argc, char **argv)
{
	struct opt opts[] = { { "--watch", false, NULL, false }, { "-w", false, NULL, false },
			      { "--count", true, NULL, false }, { NULL, false, NULL, false } };
	struct args a;
	json_t *st = NULL;
	int rc = parse_args(c, argc, argv, opts, 1, &a);
	bool watch = opt_on(opts, "--watch") || opt_on(opts, "-w");
	if (rc)
		return rc;
	if (!watch && (a.npos || opt_on(opts, "--count")))
		return usage_error("status: SECONDS and --count go with --watch");
	if ((rc = need_api(c)))
		return rc;
	if (c->lab_dir && (rc = need_lab(c)))
		return rc;
	if (watch)
		return watch_status(c, a.npos ? a.pos[0] : NULL, opt_value(opts, "--count"));
	if ((rc = api(c, "GET", "/v1/status", NULL, &st)))
		return rc;
	c->json ? print_json(st) : print_status(st);
	json_decref(st);
	return EXIT_DONE;
}

static int cmd_sites(struct ctl *c, int argc, char **argv)
{
	struct args a;
	json_t *st = NULL;
	int rc = parse_args(c, argc, argv, NULL, 0, &a);
	if (rc || (rc = need_api(c)) || (rc = api(c, "GET", "/v1/sites", NULL, &st)))
		return rc;
	if (c->json)
		print_json(st);
	else
		print_sites_table(json_object_get(st, "sites"));
	json_decref(st);
	return EXIT_DONE;
}

/* ==== watching a failover =================================================== */

struct watch {
	char from[64];             /* primary before */
	long long epoch;           /* epoch before */
	json_t *final;             /* the last status seen */
	uint64_t start_ms;
	long long runs_before;     /* the newest run before the request */
	bool until_run_ends;       /* a switchover: also done when its run ended */
};

/* Whether the first run after w->runs_before has ended; *failed if it failed. */
static bool run_ended(struct ctl *c, const struct watch *w, bool *failed)
{
	json_t *runs = NULL;
	if (call(c, c->url, "GET", "/v1/runs", NULL, &runs) != EXIT_DONE)
		return false;
	const json_t *r = json_array_get(json_object_get(runs, "runs"), 0);
	bool ended = r && jint(r, "id") > w->runs_before && strcmp(jstr(r, "outcome"), "running");
	*failed = ended && strcmp(jstr(r, "outcome"), "succeeded");
	json_decref(runs);
	return ended;
}

/* A resting state whose automation runs (not one awaiting an operator):
 * what the status's spec-derived fields say, no state names. */
static bool automation_resting(const json_t *st)
{
	return json_is_true(json_object_get(st, "resting")) &&
	       !json_is_true(json_object_get(st, "awaits_operator"));
}

/* true when st shows the failover over: a state awaiting an operator
 * (HELD), or a resting one with a new primary (or a new epoch, for a
 * failover onto the same site). */
static bool watch_done(const struct watch *w, const json_t *st)
{
	const char *primary = jstr(st, "primary");
	if (json_is_true(json_object_get(st, "awaits_operator")))
		return true;
	return automation_resting(st) && strcmp(primary, "-") &&
	       (strcmp(primary, w->from) || jint(st, "epoch") > w->epoch);
}

/* Polls /v1/status, printing a line per change, until watch_done or the
 * timeout.  0 done, 1 timeout or HELD. */
static int watch_failover(struct ctl *c, struct watch *w, long timeout_ms)
{
	char last[160] = "";
	uint64_t deadline = time_mono_ms() + (uint64_t)timeout_ms;
	for (;;) {
		json_t *st = NULL;
		if (call(c, c->url, "GET", "/v1/status", NULL, &st) == EXIT_DONE && st) {
			char line[160];
			snprintf(line, sizeof(line), "%-12s epoch %-3lld primary %s", jstr(st, "state"),
				 jint(st, "epoch"), jstr(st, "primary"));
			if (strcmp(line, last)) {
				fprintf(c->progress, "  [+%5.2fs] %s\n",
					(double)(time_mono_ms() - w->start_ms) / 1000.0, line);
				fflush(c->progress);
				snprintf(last, sizeof(last), "%s", line);
			}
			json_decref(w->final);
			w->final = st;
			if (watch_done(w, st))
				return json_is_true(json_object_get(st, "awaits_operator")) ?
				       EXIT_FAILED : EXIT_DONE;
			bool failed = false;
			if (w->until_run_ends && automation_resting(st) && run_ended(c, w, &failed))
				return failed ? EXIT_FAILED : EXIT_DONE;
		}
		if (time_mono_ms() >= deadline)
			return fail(EXIT_FAILED, "no new primary after %ld s (last: %s)", timeout_ms / 1000,
				    last[0] ? last : "no answer");
		time_sleep_ms(50);
	}
}

/* The id of the newest run (0: none). */
static long long newest_run(struct ctl *c)
{
	json_t *runs = NULL;
	if (api(c, "GET", "/v1/runs", NULL, &runs))
		return -1;
	long long id = jint(json_array_get(json_object_get(runs, "runs"), 0), "id");
	json_decref(runs);
	return id;
}

/* Prints the outcome of run id after a watch; fills *run_out (caller frees). */
static void report_run(struct ctl *c, long long id, json_t **run_out)
{
	char path[64], n1[32], n2[32];
	json_t *run = NULL;
	*run_out = NULL;
	if (id <= 0)
		return;
	snprintf(path, sizeof(path), "/v1/runs/%lld", id);
	/* The machine rests a moment before its run is closed (drorchd commits
	 * the transition, then ends the run): wait up to 5 s for the outcome. */
	for (uint64_t end = time_mono_ms() + 5000;; time_sleep_ms(50)) {
		if (api(c, "GET", path, NULL, &run))
			return;
		if (strcmp(jstr(run, "outcome"), "running") || time_mono_ms() >= end)
			break;
		json_decref(run);
		run = NULL;
	}
	*run_out = run;
	if (c->json)
		return;
	printf("run %lld: %s %s, %s -> %s, RPO %s records, RTO %s ms  (drctl audit %lld)\n", id,
	       jstr(run, "kind"), jstr(run, "outcome"), jstr(run, "from_site"), jstr(run, "target"),
	       jnum(run, "rpo_records", n1, sizeof(n1)), jnum(run, "rto_ms", n2, sizeof(n2)), id);
}

/* Watches, then reports: the shared tail of failover and watch. */
static int watch_and_report(struct ctl *c, struct watch *w, long long runs_before,
			    long timeout_ms, json_t *accepted)
{
	int rc = watch_failover(c, w, timeout_ms);
	long long id = newest_run(c);
	json_t *run = NULL;
	report_run(c, id > runs_before ? id : 0, &run);
	if (rc == EXIT_FAILED && w->final &&
	    json_is_true(json_object_get(w->final, "awaits_operator"))) {
		fail(EXIT_FAILED, "failover %s: automation refused; see drctl audit%s",
		     jstr(w->final, "state"), run ? "" : " (no run)");
		print_guidance(stderr, w->final);
	}
	else if (rc == EXIT_FAILED && run && strcmp(jstr(run, "outcome"), "running"))
		fail(EXIT_FAILED, "%s %s; see drctl audit %lld", jstr(run, "kind"),
		     jstr(run, "outcome"), jint(run, "id"));
	if (c->json) {
		json_t *o = json_pack("{s:O?, s:O?, s:O?}", "accepted", accepted, "run", run,
				      "status", w->final);
		print_json(o);
		json_decref(o);
	} else if (rc == EXIT_DONE) {
		printf("primary %s, epoch %lld, cluster %s\n", jstr(w->final, "primary"),
		       jint(w->final, "epoch"), jstr(w->final, "state"));
	}
	json_decref(run);
	json_decref(w->final);
	return rc;
}

/*
 * With HA, a command that changes something reads its outcome from the
 * leader: a follower's copy can trail the leader's by a moment (docs/ha.md,
 * "Followers: the mirror"), and a watch that compares before with after must see both in
 * one copy.  *st is the status read at c->url; when it names another
 * instance as the leader, c->url moves there and *st is read again.
 */
static int at_leader(struct ctl *c, json_t **st)
{
	const json_t *ha = json_object_get(*st, "ha");
	const char *url = jstr(json_object_get(ha, "leader"), "url");
	if (!json_is_true(json_object_get(ha, "enabled")) || !strcmp(jstr(ha, "role"), "leader") ||
	    strncmp(url, "http://", 7) || strlen(url) >= sizeof(c->url_buf))
		return EXIT_DONE;
	snprintf(c->url_buf, sizeof(c->url_buf), "%s", url);
	c->url = c->url_buf;
	json_decref(*st);
	*st = NULL;
	return api(c, "GET", "/v1/status", NULL, st);
}

/* The status, read at the leader (at_leader). */
static int leader_status(struct ctl *c, json_t **st)
{
	int rc = api(c, "GET", "/v1/status", NULL, st);
	return rc ? rc : at_leader(c, st);
}

static int watch_begin(struct ctl *c, struct watch *w, long long *runs_before)
{
	json_t *st = NULL;
	memset(w, 0, sizeof(*w));
	int rc = leader_status(c, &st);
	if (rc) {
		json_decref(st);
		return rc;
	}
	snprintf(w->from, sizeof(w->from), "%s", jstr(st, "primary"));
	w->epoch = jint(st, "epoch");
	w->start_ms = time_mono_ms();
	json_decref(st);
	*runs_before = newest_run(c);
	w->runs_before = *runs_before;
	return *runs_before < 0 ? EXIT_FAILED : EXIT_DONE;
}

/* ==== failover, watch, pause, resume ======================================= */

/* "proceed? [y/N]" on a terminal; refuses without one. */
static int confirm(struct ctl *c, const char *what)
{
	if (c->yes)
		return EXIT_DONE;
	if (!isatty(STDIN_FILENO))
		return fail(EXIT_USAGE, "%s: needs confirmation and stdin is not a terminal; "
			    "pass --yes", what);
	fprintf(stderr, "%s: proceed? [y/N] ", what);
	fflush(stderr);
	char line[16];
	if (!fgets(line, sizeof(line), stdin) || (line[0] != 'y' && line[0] != 'Y'))
		return fail(EXIT_FAILED, "%s: not confirmed", what);
	return EXIT_DONE;
}

/* POSTs body (taken over) to path, then, unless no_wait, watches the
 * recovery it started: the shared tail of failover, switchover, failback. */
static int post_and_watch(struct ctl *c, const char *path, json_t *body, const char *what,
			  struct watch *w, long long runs_before, long timeout_ms, bool no_wait)
{
	json_t *accepted = NULL;
	int rc = api(c, "POST", path, body, &accepted);
	json_decref(body);
	if (rc)
		return rc;
	if (no_wait) {
		c->json ? print_json(accepted) : (void)printf("accepted: %s\n", jstr(accepted, "reason"));
		json_decref(accepted);
		return EXIT_DONE;
	}
	fprintf(c->progress, "%s: accepted (%s)\n", what, jstr(accepted, "reason"));
	rc = watch_and_report(c, w, runs_before, timeout_ms, accepted);
	json_decref(accepted);
	return rc;
}

static int cmd_failover(struct ctl *c, int argc, char **argv)
{
	struct opt opts[] = { { "--to", true, NULL, false }, { "--force", false, NULL, false },
			      { "--no-wait", false, NULL, false }, { "--timeout", true, NULL, false },
			      { NULL, false, NULL, false } };
	struct args a;
	struct watch w;
	long timeout_ms;
	long long runs_before;
	int rc = parse_args(c, argc, argv, opts, 0, &a);
	if (rc || (rc = opt_seconds(opts, "--timeout", 60, &timeout_ms)) || (rc = need_api(c)) ||
	    (rc = watch_begin(c, &w, &runs_before)))
		return rc;
	const char *to = opt_value(opts, "--to");
	char what[200];
	snprintf(what, sizeof(what), "fail over from %s (epoch %lld) to %s%s", w.from, w.epoch,
		 to ? to : "the best candidate", opt_on(opts, "--force") ? ", forced past the RPO" : "");
	if ((rc = confirm(c, what)))
		return rc;
	json_t *body = json_object();
	if (!body || (to && json_object_set_new(body, "to", json_string(to))) ||
	    (opt_on(opts, "--force") && json_object_set_new(body, "force", json_true()))) {
		json_decref(body);
		return fail(EXIT_FAILED, "failover: out of memory");
	}
	return post_and_watch(c, "/v1/failover", body, what, &w, runs_before, timeout_ms,
			      opt_on(opts, "--no-wait"));
}

/* switchover --to SITE and failback: planned, zero loss, or aborted. */
static int planned(struct ctl *c, int argc, char **argv, const char *kind)
{
	bool failback = !strcmp(kind, "failback");
	struct opt opts[] = { { "--no-wait", false, NULL, false }, { "--timeout", true, NULL, false },
			      { failback ? NULL : "--to", true, NULL, false },
			      { NULL, false, NULL, false } };
	struct args a;
	struct watch w;
	long timeout_ms;
	long long runs_before;
	int rc = parse_args(c, argc, argv, opts, 0, &a);
	if (rc || (rc = opt_seconds(opts, "--timeout", 60, &timeout_ms)))
		return rc;
	const char *to = failback ? NULL : opt_value(opts, "--to");
	if (!failback && !to)
		return usage_error("switchover: --to SITE is required");
	if ((rc = need_api(c)) || (rc = watch_begin(c, &w, &runs_before)))
		return rc;
	w.until_run_ends = true;
	char what[200];
	snprintf(what, sizeof(what), "%s from %s (epoch %lld) to %s, writes paused until it has "
		 "caught up", kind, w.from, w.epoch, to ? to : "the previous primary");
	if ((rc = confirm(c, what)))
		return rc;
	char path[32];
	snprintf(path, sizeof(path), "/v1/%s", kind);
	return post_and_watch(c, path, to ? json_pack("{s:s}", "to", to) : NULL, what, &w,
			      runs_before, timeout_ms, opt_on(opts, "--no-wait"));
}

static int cmd_switchover(struct ctl *c, int argc, char **argv)
{
	return planned(c, argc, argv, "switchover");
}

static int cmd_failback(struct ctl *c, int argc, char **argv)
{
	return planned(c, argc, argv, "failback");
}

static int cmd_watch(struct ctl *c, int argc, char **argv)
{
	struct opt opts[] = { { "--from", true, NULL, false }, { "--timeout", true, NULL, false },
			      { NULL, false, NULL, false } };
	struct args a;
	struct watch w;
	long timeout_ms;
	long long runs_before;
	int rc = parse_args(c, argc, argv, opts, 0, &a);
	if (rc || (rc = opt_seconds(opts, "--timeout", 60, &timeout_ms)) || (rc = need_api(c)) ||
	    (rc = watch_begin(c, &w, &runs_before)))
		return rc;
	if (opt_value(opts, "--from")) {
		snprintf(w.from, sizeof(w.from), "%s", opt_value(opts, "--from"));
		runs_before = 0;  /* the run may have started before we looked */
	}
	if (!c->json)
		fprintf(c->progress, "watching for a failover away from %s (epoch %lld)\n", w.from, w.epoch);
	if (opt_value(opts, "--from"))
		w.epoch = LLONG_MAX;  /* only a new primary ends the watch */
	return watch_and_report(c, &w, runs_before, timeout_ms, NULL);
}

static int simple_post(struct ctl *c, int argc, char **argv, const char *path)
{
	struct args a;
	json_t *out = NULL;
	int rc = parse_args(c, argc, argv, NULL, 0, &a);
	if (rc || (rc = need_api(c)) || (rc = api(c, "POST", path, NULL, &out)))
		return rc;
	c->json ? print_json(out) : (void)printf("accepted: %s\n", jstr(out, "reason"));
	json_decref(out);
	return EXIT_DONE;
}

static int cmd_pause(struct ctl *c, int argc, char **argv)
{
	return simple_post(c, argc, argv, "/v1/pause");
}

static int cmd_resume(struct ctl *c, int argc, char **argv)
{
	return simple_post(c, argc, argv, "/v1/resume");
}

/* ==== runs, audit, ack ====================================================== */

/* A run's KIND and OUTCOME cells: a playbook's dry run says so, and
 * what its plan found (detail.would). */
static void run_cells(const json_t *r, const char **kind, char *outcome, size_t len)
{
	*kind = jstr(r, "kind");
	snprintf(outcome, len, "%s", jstr(r, "outcome"));
	if (!strcmp(outcome, "dry_run")) {
		*kind = "dry-run";
		snprintf(outcome, len, "would-%s", jstr(json_object_get(r, "detail"), "would"));
	}
}

/* EPOCH: where the run began, and where it ended when that differs. */
static const char *epoch_cell(const json_t *r, char *buf, size_t len)
{
	long long from = jint(r, "epoch"), to = jint(r, "end_epoch");
	if (json_is_integer(json_object_get(r, "end_epoch")) && to != from)
		snprintf(buf, len, "%lld->%lld", from, to);
	else
		snprintf(buf, len, "%lld", from);
	return buf;
}

static void print_runs_table(const json_t *runs)
{
	char a[32], b[32], d[32], t[40], e[48], outcome[48];
	const char *kind;
	printf("%4s %-10s %-13s %-10s %-10s %7s %11s %8s %8s %-24s %s\n", "RUN", "KIND", "OUTCOME",
	       "FROM", "TARGET", "EPOCH", "RPO_RECORDS", "RPO_MS", "RTO_MS", "STARTED", "ACTOR");
	size_t i;
	json_t *r;
	json_array_foreach(runs, i, r) {
		run_cells(r, &kind, outcome, sizeof(outcome));
		printf("%4lld %-10s %-13s %-10s %-10s %7s %11s %8s %8s %-24s %s\n", jint(r, "id"),
		       kind, outcome, jstr(r, "from_site"), jstr(r, "target"),
		       epoch_cell(r, e, sizeof(e)), jnum(r, "rpo_records", a, sizeof(a)),
		       jnum(r, "rpo_ms", b, sizeof(b)), jnum(r, "rto_ms", d, sizeof(d)),
		       wall(jint(r, "started_ms"), t, sizeof(t)), jstr(r, "actor"));
	}
}

static int cmd_runs(struct ctl *c, int argc, char **argv)
{
	struct args a;
	json_t *runs = NULL;
	int rc = parse_args(c, argc, argv, NULL, 0, &a);
	if (rc || (rc = need_api(c)) || (rc = api(c, "GET", "/v1/runs", NULL, &runs)))
		return rc;
	c->json ? print_json(runs) : print_runs_table(json_object_get(runs, "runs"));
	json_decref(runs);
	return EXIT_DONE;
}

/* "met" / "MISSED" / "no target" for a measured value against a target. */
static const char *verdict(const json_t *run, const char *key, long long target)
{
	json_t *v = json_object_get(run, key);
	if (!json_is_integer(v))
		return "not measured";
	if (target <= 0)
		return "no target";
	return json_integer_value(v) <= target ? "met" : "MISSED";
}

/* What drorchd recorded in the run's detail: the verdict against the
 * targets in force then, and the election's choice and why. */
static void print_recorded(const json_t *detail)
{
	const json_t *v = json_object_get(detail, "verdict");
	const json_t *t = json_object_get(detail, "targets");
	const json_t *e = json_object_get(detail, "election");
	char overrun[96] = "";
	if (json_object_get(v, "rto_overrun_phase"))
		snprintf(overrun, sizeof(overrun), " (most of it in %s)", jstr(v, "rto_overrun_phase"));
	if (v)
		printf("  verdict (targets of the run: RPO %lld ms, %lld records; RTO %lld ms): "
		       "RPO %s, RTO %s%s\n", jint(t, "rpo_ms"), jint(t, "rpo_records"),
		       jint(t, "rto_ms"), jstr(v, "rpo"), jstr(v, "rto"), overrun);
	if (e)
		printf("  election: %s (prefer %s, waited %lld ms): %s\n", jstr(e, "choice"),
		       jstr(e, "prefer"), jint(e, "waited_ms"), jstr(e, "why"));
}

static void print_targets(const json_t *run, const json_t *policy)
{
	long long rpo_ms = jint(json_object_get(policy, "rpo"), "max_ms");
	long long rpo_rec = jint(json_object_get(policy, "rpo"), "max_records");
	long long rto_ms = jint(policy, "rto_ms");
	char a[32], b[32], d[32];
	printf("  RPO  %s records, %s ms      target <= %lld ms%s%s   %s\n",
	       jnum(run, "rpo_records", a, sizeof(a)), jnum(run, "rpo_ms", b, sizeof(b)), rpo_ms,
	       rpo_rec > 0 ? " and records <= " : "", rpo_rec > 0 ? jnum(json_object_get(policy, "rpo"),
	       "max_records", d, sizeof(d)) : "", verdict(run, "rpo_ms", rpo_ms));
	printf("  RTO  %s ms                   target <= %lld ms            %s\n",
	       jnum(run, "rto_ms", a, sizeof(a)), rto_ms, verdict(run, "rto_ms", rto_ms));
	const json_t *detail = json_object_get(run, "detail");
	print_recorded(detail);
	const json_t *phases = json_object_get(detail, "phases_ms");
	const char *key;
	json_t *v;
	if (!json_object_size(phases))
		return;
	printf("  phases:");
	json_object_foreach((json_t *)phases, key, v)
		printf(" %s %lld ms", key, (long long)json_integer_value(v));
	printf("   (the most time: %s)\n", jstr(detail, "slowest_phase"));
}

struct mark {
	const char *name;
	long long ms;
};

static int mark_cmp(const void *a, const void *b)
{
	long long x = ((const struct mark *)a)->ms, y = ((const struct mark *)b)->ms;
	return (x > y) - (x < y);
}

/* The run's timestamps in time order, relative to when unavailability began:
 * the last good heartbeat of a failed primary, or a switchover's pause. */
static void print_timestamps(const json_t *run)
{
	json_t *ts = json_object_get(run, "timestamps");
	long long t0 = jint(ts, "last_good_heartbeat");
	t0 = t0 ? t0 : jint(ts, "writes_paused");
	struct mark m[16];
	size_t n = 0;
	const char *key;
	json_t *v;
	json_object_foreach(ts, key, v)
		if (n < sizeof(m) / sizeof(m[0]))
			m[n++] = (struct mark){ key, (long long)json_integer_value(v) };
	if (!n)
		return;
	qsort(m, n, sizeof(m[0]), mark_cmp);
	printf("  timeline:");
	for (size_t i = 0; i < n; i++)
		printf(" %s +%lldms", m[i].name, t0 ? m[i].ms - t0 : 0);
	printf("\n");
}

static void print_steps(const json_t *steps)
{
	char t[40];
	size_t i;
	json_t *s;
	printf("\nsteps:\n  %3s %-24s %-7s %-20s %s\n", "SEQ", "TIME", "STATUS", "STEP", "DETAIL");
	json_array_foreach(steps, i, s) {
		json_t *d = json_object_get(s, "detail");
		char *detail = json_is_null(d) || !d ? NULL : json_dumps(d, JSON_COMPACT);
		printf("  %3lld %-24s %-7s %-20s %s\n", jint(s, "seq"), wall(jint(s, "ts_ms"), t, sizeof(t)),
		       jstr(s, "status"), jstr(s, "name"), detail ? detail : "");
		free(detail);
	}
}

static void print_transitions(const json_t *trs)
{
	char t[40];
	size_t i;
	json_t *r;
	printf("\ntransitions:\n  %4s %-24s %-11s %-12s %-20s %-12s %5s %-14s %s\n", "SEQ", "TIME",
	       "ROW", "FROM", "EVENT", "TO", "EPOCH", "ACTOR", "REASON");
	json_array_foreach(trs, i, r)
		printf("  %4lld %-24s %-11s %-12s %-20s %-12s %5lld %-14s %s\n", jint(r, "seq"),
		       wall(jint(r, "ts_ms"), t, sizeof(t)), jstr(r, "row_id"), jstr(r, "from_state"),
		       jstr(r, "event"), jstr(r, "to_state"), jint(r, "epoch"), jstr(r, "actor"),
		       jstr(r, "reason"));
}

static void print_audit(const json_t *run, const json_t *policy, const json_t *trs)
{
	char a[40], b[40];
	long long started = jint(run, "started_ms"), ended = jint(run, "ended_ms");
	printf("run %lld  %s  %s  actor %s  %s -> %s  epoch %lld\n", jint(run, "id"), jstr(run, "kind"),
	       jstr(run, "outcome"), jstr(run, "actor"), jstr(run, "from_site"), jstr(run, "target"),
	       jint(run, "epoch"));
	printf("  started %s  ended %s", wall(started, a, sizeof(a)), wall(ended, b, sizeof(b)));
	if (ended > 0)
		printf("  (%lld ms)", ended - started);
	printf("\n");
	print_targets(run, policy);
	print_timestamps(run);
	print_steps(json_object_get(run, "steps"));
	print_transitions(json_object_get(trs, "transitions"));
}

/* The audit object of drctl(1): {run, targets, verdict, transitions}. */
static json_t *audit_json(json_t *run, json_t *policy, json_t *trs)
{
	long long rpo_ms = jint(json_object_get(policy, "rpo"), "max_ms");
	long long rto_ms = jint(policy, "rto_ms");
	return json_pack("{s:O, s:{s:O?, s:O?, s:O?, s:s}, s:{s:s, s:s}, s:O?}", "run", run,
			 "targets", "rpo_ms", json_object_get(json_object_get(policy, "rpo"), "max_ms"),
			 "rpo_records", json_object_get(json_object_get(policy, "rpo"), "max_records"),
			 "rto_ms", json_object_get(policy, "rto_ms"), "policy", jstr(policy, "name"),
			 "verdict", "rpo", verdict(run, "rpo_ms", rpo_ms), "rto",
			 verdict(run, "rto_ms", rto_ms), "transitions",
			 json_object_get(trs, "transitions"));
}

static int parse_run_id(const char *text, long long *id)
{
	char *end = NULL;
	*id = text ? strtoll(text, &end, 10) : 0;
	if (text && (!*text || *end || *id <= 0))
		return usage_error("RUN: expected a run id (a positive number), got '%s'", text);
	return 0;
}

static int cmd_audit(struct ctl *c, int argc, char **argv)
{
	struct args a;
	long long id;
	json_t *run = NULL, *policy = NULL, *trs = NULL;
	char path[80];
	int rc = parse_args(c, argc, argv, NULL, 1, &a);
	if (rc || (rc = parse_run_id(a.npos ? a.pos[0] : NULL, &id)) || (rc = need_api(c)))
		return rc;
	if (!id && (id = newest_run(c)) <= 0)
		return id < 0 ? EXIT_FAILED : fail(EXIT_FAILED, "no runs yet");
	snprintf(path, sizeof(path), "/v1/runs/%lld", id);
	if (!(rc = api(c, "GET", path, NULL, &run)) && !(rc = api(c, "GET", "/v1/policy", NULL, &policy))) {
		snprintf(path, sizeof(path), "/v1/transitions?run=%lld", id);
		rc = api(c, "GET", path, NULL, &trs);
	}
	if (!rc && c->json) {
		json_t *o = audit_json(run, policy, trs);
		o ? print_json(o) : (void)(rc = fail(EXIT_FAILED, "audit: out of memory"));
		json_decref(o);
	} else if (!rc) {
		print_audit(run, policy, trs);
	}
	json_decref(run);
	json_decref(policy);
	json_decref(trs);
	return rc;
}

/* RUN [--comment TEXT], POSTed to /v1/runs/RUN/ACTION ("ack", "approve"). */
/* Writes text to path ("-": standard output).  0, or 1 with why. */
static int write_out(const char *path, const char *text, size_t len)
{
	bool std = !strcmp(path, "-");
	FILE *f = std ? stdout : fopen(path, "w");
	if (!f)
		return fail(EXIT_FAILED, "%s: %s", path, strerror(errno));
	bool ok = fwrite(text, 1, len, f) == len;
	ok = (std ? fflush(f) : fclose(f)) == 0 && ok;
	return ok ? EXIT_DONE : fail(EXIT_FAILED, "%s: %s", path, strerror(errno));
}

/* drctl report [RUN] [--format md|html|json] [-o FILE]: the post-mortem
 * report drorchd renders (GET /v1/runs/{id}/report), as it comes. */
static int cmd_report(struct ctl *c, int argc, char **argv)
{
	struct opt opts[] = { { "--format", true, NULL, false }, { "-o", true, NULL, false },
			      { NULL, false, NULL, false } };
	struct args a;
	long long id;
	int rc = parse_args(c, argc, argv, opts, 1, &a);
	const char *fmt = opt_value(opts, "--format") ?: "md", *out = opt_value(opts, "-o") ?: "-";
	if (rc || (rc = parse_run_id(a.npos ? a.pos[0] : NULL, &id)))
		return rc;
	if (strcmp(fmt, "md") && strcmp(fmt, "html") && strcmp(fmt, "json"))
		return usage_error("--format: expected md, html or json, got '%s'", fmt);
	if (!*out)
		return usage_error("-o: expected a file name");
	if ((rc = need_api(c)))
		return rc;
	if (!id && (id = newest_run(c)) <= 0)
		return id < 0 ? EXIT_FAILED : fail(EXIT_FAILED, "no runs yet");
	char url[600], path[96], err[256];
	struct httpc_resp r;
	snprintf(path, sizeof(path), "/v1/runs/%lld/report?format=%s", id, fmt);
	snprintf(url, sizeof(url), "%s%s", c->url, path);
	if (httpc_request(c->http, "GET", url, NULL, NULL, 0, HTTP_TIMEOUT_MS, &r, err, sizeof(err)))
		return fail(EXIT_FAILED, "%s", err);
	rc = r.status == 200 ? write_out(out, r.body, r.body_len) : refused("GET", path, &r);
	httpc_resp_free(&r);
	return rc;
}

static int run_comment(struct ctl *c, int argc, char **argv, const char *action,
		       bool need_comment)
{
	struct opt opts[] = { { "--comment", true, NULL, false }, { NULL, false, NULL, false } };
	struct args a;
	long long id;
	char path[80];
	json_t *out = NULL;
	int rc = parse_args(c, argc, argv, opts, 1, &a);
	if (rc)
		return rc;
	const char *comment = opt_value(opts, "--comment");
	if (a.npos != 1 || (need_comment && (!comment || !*comment)))
		return usage_error("usage: drctl %s RUN %s", action,
				   need_comment ? "--comment TEXT" : "[--comment TEXT]");
	if ((rc = parse_run_id(a.pos[0], &id)) || (rc = need_api(c)))
		return rc;
	json_t *body = comment ? json_pack("{s:s}", "comment", comment) : json_object();
	snprintf(path, sizeof(path), "/v1/runs/%lld/%s", id, action);
	rc = body ? api(c, "POST", path, body, &out) : fail(EXIT_FAILED, "%s: out of memory", action);
	json_decref(body);
	if (!rc)
		c->json ? print_json(out) : (void)printf("run %lld %s\n", id,
			strcmp(action, "ack") ? "approved" : "acknowledged");
	json_decref(out);
	return rc;
}

static int cmd_ack(struct ctl *c, int argc, char **argv)
{
	return run_comment(c, argc, argv, "ack", true);
}

/* ==== playbooks: run, approve =============================================== */

#define PB_MAX_SITES_CLI 8

/* Reads a file of at most max bytes into *text (NUL-terminated; caller frees). */
static int read_small_file(const char *path, size_t max, char **text, size_t *len, char *err,
			   size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char *buf = f ? malloc(max + 1) : NULL;
	size_t n = buf ? fread(buf, 1, max + 1, f) : 0;
	bool ok = buf && !ferror(f) && n <= max;
	if (!f)
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
	else if (!ok)
		snprintf(err, errlen, "%s: %s", path, !buf ? "out of memory" : n > max ?
			 "larger than 64 KiB" : strerror(errno));
	if (f)
		fclose(f);
	if (!ok) {
		free(buf);
		return -1;
	}
	buf[n] = '\0';
	*text = buf;
	*len = n;
	return 0;
}

/* The site names drorchd serves, for checking a playbook locally. */
static int site_names(struct ctl *c, json_t **st, const char *names[], int *n)
{
	int rc = api(c, "GET", "/v1/status", NULL, st);
	size_t i;
	json_t *s;
	*n = 0;
	if (rc)
		return rc;
	json_array_foreach(json_object_get(*st, "sites"), i, s)
		if (*n < PB_MAX_SITES_CLI)
			names[(*n)++] = jstr(s, "name");
	return EXIT_DONE;
}

/* Reads and checks FILE as drorchd will (errors FILE:LINE:COLUMN, exit 2);
 * *text receives its bytes (caller frees). */
static int read_playbook(struct ctl *c, const char *path, struct playbook *pb, char **text)
{
	json_t *st = NULL;
	const char *names[PB_MAX_SITES_CLI];
	int n, rc;
	char err[600];
	size_t len = 0;
	*text = NULL;
	if (read_small_file(path, 64 * 1024, text, &len, err, sizeof(err)) != 0)
		return usage_error("%s", err);
	if ((rc = site_names(c, &st, names, &n))) {
		free(*text);
		*text = NULL;
		return rc;
	}
	rc = playbook_parse(path, *text, len, names, n, pb, err, sizeof(err)) ? usage_error("%s", err) : 0;
	json_decref(st);
	if (rc) {
		free(*text);
		*text = NULL;
	}
	return rc;
}

static void print_plan(const json_t *plan)
{
	size_t i;
	json_t *e;
	printf("dry run %lld: %s\n", jint(plan, "run"), jstr(plan, "outcome"));
	json_array_foreach(json_object_get(plan, "plan"), i, e) {
		json_t *rest = json_deep_copy(e);
		json_object_del(rest, "name");
		json_object_del(rest, "kind");
		json_object_del(rest, "line");
		char *d = rest ? json_dumps(rest, JSON_COMPACT) : NULL;
		printf("  %2zu %-20s %-10s %s\n", i + 1, jstr(e, "name"), jstr(e, "kind"), d ? d : "");
		free(d);
		json_decref(rest);
	}
}

/* Prints the run's steps after the first `seen`; returns how many there are. */
static size_t print_new_steps(struct ctl *c, const json_t *run, size_t seen, uint64_t t0)
{
	json_t *steps = json_object_get(run, "steps");
	for (size_t i = seen; i < json_array_size(steps); i++) {
		json_t *s = json_array_get(steps, i);
		char *r = json_dumps(json_object_get(json_object_get(s, "detail"), "result"), JSON_COMPACT);
		fprintf(c->progress, "  [+%6.2fs] %-20s %-7s %s\n", (double)(time_mono_ms() - t0) / 1000.0,
			jstr(s, "name"), jstr(s, "status"), r ? r : "");
		free(r);
	}
	fflush(c->progress);
	return json_array_size(steps);
}

/* A rolling upgrade waits for a site's new binary: in a lab drctl swaps it
 * (lab_upgrade_site), elsewhere it says what to do.  Once per site. */
static void upgrade_agent(struct ctl *c, const json_t *want, char *done, size_t len)
{
	const char *site = jstr(want, "site"), *version = jstr(want, "version");
	char key[160], err[400];
	snprintf(key, sizeof(key), "%s@%s", site, version);
	if (!strcmp(done, key))
		return;
	snprintf(done, len, "%s", key);
	if (!c->lab) {
		fprintf(c->progress, "  waiting for %s to run drsite %s: install it there and restart "
			"drsite (drorchd goes on once it streams again)\n", site, version);
		return;
	}
	char prog[LAB_PATH];
	if (lab_drsite_program(version, prog, sizeof(prog), err, sizeof(err)) != 0) {
		fprintf(stderr, "drctl: lab: %s: %s\n", site, err);
		return;
	}
	const char *base = strrchr(prog, '/');
	fprintf(c->progress, "  lab: restarting %s on %s (%s)\n", site, base ? base + 1 : prog,
		version);
	fflush(c->progress);
	if (lab_upgrade_site(c->lab, site, version, 20000, err, sizeof(err)) != 0)
		fprintf(stderr, "drctl: lab: %s\n", err);
	fflush(c->progress);
}

/* Follows run id until it ends (or timeout_ms): its steps as they are
 * recorded, an approval gate when it waits at one, and a rolling upgrade's
 * binary swaps. */
static int follow_run(struct ctl *c, long long id, long timeout_ms, json_t **final)
{
	char upgraded[160] = "";
	char path[64];
	uint64_t t0 = time_mono_ms(), end = t0 + (uint64_t)timeout_ms;
	size_t seen = 0;
	bool gate_shown = false;
	snprintf(path, sizeof(path), "/v1/runs/%lld", id);
	for (;;) {
		json_t *run = NULL;
		if (call(c, c->url, "GET", path, NULL, &run) == EXIT_DONE && run) {
			seen = print_new_steps(c, run, seen, t0);
			json_t *gate = json_object_get(json_object_get(run, "detail"), "waiting_for_approval");
			if (gate && !gate_shown)
				fprintf(c->progress, "  waiting for approval at %s: %s\n  -> drctl approve %lld\n",
					jstr(gate, "step"), jstr(gate, "message"), id);
			gate_shown = gate != NULL;
			json_t *want = json_object_get(json_object_get(run, "detail"),
						       "waiting_for_site_upgrade");
			if (want)
				upgrade_agent(c, want, upgraded, sizeof(upgraded));
			if (strcmp(jstr(run, "outcome"), "running")) {
				*final = run;
				return strcmp(jstr(run, "outcome"), "succeeded") ? EXIT_FAILED : EXIT_DONE;
			}
			json_decref(run);
		}
		if (time_mono_ms() >= end)
			return fail(EXIT_FAILED, "run %lld still running after %ld s", id, timeout_ms / 1000);
		time_sleep_ms(200);
	}
}

/* POSTs body (taken over; NULL: out of memory) to path, which starts a
 * playbook run: a dry run's plan is printed (exit 1 when a check would
 * fail now); a real run is followed to its end, *run receiving it (caller
 * frees) for the command's last line. */
static int start_and_follow(struct ctl *c, const char *path, json_t *body, bool dry,
			    const char *what, long timeout_ms, json_t **run)
{
	json_t *out = NULL;
	*run = NULL;
	int rc = body ? leader_status(c, &out) : fail(EXIT_FAILED, "out of memory");
	json_decref(out);
	out = NULL;
	rc = rc ? rc : api(c, "POST", path, body, &out);
	json_decref(body);
	if (!rc && json_is_true(json_object_get(out, "noop"))) {  /* nothing to do: no run */
		c->json ? print_json(out) : (void)printf("nothing to do: %s\n", jstr(out, "reason"));
	} else if (!rc && dry) {
		c->json ? print_json(out) : print_plan(out);
		rc = strcmp(jstr(out, "outcome"), "succeeded") ? EXIT_FAILED : EXIT_DONE;
	} else if (!rc) {
		fprintf(c->progress, "%s: run %lld\n", what, jint(out, "run"));
		rc = follow_run(c, jint(out, "run"), timeout_ms, run);
	}
	json_decref(out);
	return rc;
}

static int cmd_run(struct ctl *c, int argc, char **argv)
{
	struct opt opts[] = { { "--dry-run", false, NULL, false }, { "--timeout", true, NULL, false },
			      { NULL, false, NULL, false } };
	struct args a;
	struct playbook pb;
	char *text = NULL, path[PB_NAME_MAX + 32], what[200];
	long timeout_ms;
	int rc = parse_args(c, argc, argv, opts, 1, &a);
	if (rc || (rc = opt_seconds(opts, "--timeout", 600, &timeout_ms)))
		return rc;
	if (a.npos != 1)
		return usage_error("usage: drctl run FILE [--dry-run] [--timeout S] [--yes] [--json]");
	if ((rc = need_api(c)) || (rc = read_playbook(c, a.pos[0], &pb, &text)))
		return rc;
	bool dry = opt_on(opts, "--dry-run");
	snprintf(path, sizeof(path), "/v1/playbooks/%s/runs", pb.name);
	snprintf(what, sizeof(what), "run playbook %s (%d steps)", pb.name, pb.nsteps);
	playbook_free(&pb);
	if (!dry && (rc = confirm(c, what))) {
		free(text);
		return rc;
	}
	json_t *body = json_pack("{s:b, s:s}", "dry_run", dry, "playbook", text), *run = NULL;
	free(text);
	rc = start_and_follow(c, path, body, dry, what, timeout_ms, &run);
	if (run && c->json) {
		json_t *o = json_pack("{s:I, s:O}", "run", (json_int_t)jint(run, "id"), "detail", run);
		print_json(o);
		json_decref(o);
	} else if (run) {
		printf("run %lld: playbook %s %s  (drctl audit %lld)\n", jint(run, "id"),
		       jstr(json_object_get(run, "detail"), "playbook"), jstr(run, "outcome"),
		       jint(run, "id"));
	}
	json_decref(run);
	return rc;
}

/* ==== operators ============================================================= */

/* hash-token NAME: the operators_file line for the token on stdin. */
static int cmd_hash_token(struct ctl *c, int argc, char **argv)
{
	struct opt opts[] = { { NULL, false, NULL, false } };
	struct args a;
	char token[512], line[OPERATORS_NAME_MAX + 80], err[200];
	int rc = parse_args(c, argc, argv, opts, 1, &a);
	if (rc)
		return rc;
	if (a.npos != 1)
		return usage_error("usage: drctl hash-token NAME < TOKEN-FILE");
	if (!fgets(token, sizeof(token), stdin))
		return usage_error("hash-token: no token on standard input");
	token[strcspn(token, "\r\n")] = '\0';
	size_t n = strlen(token);
	while (n && (token[n - 1] == ' ' || token[n - 1] == '\t'))
		token[--n] = '\0';
	if (n < 8)
		return usage_error("hash-token: a token is at least 8 bytes");
	rc = operators_line(a.pos[0], token, line, sizeof(line), err, sizeof(err));
	explicit_bzero(token, sizeof(token));
	if (rc)
		return usage_error("%s", err);
	printf("%s\n", line);
	return EXIT_DONE;
}

/* ==== policy ================================================================ */

/* FILE checked as drorchd will check it, against the lab's sites (errors
 * FILE:LINE:COLUMN, exit 2); its JSON form into *out. */
static int read_policy(struct ctl *c, const char *path, json_t **out)
{
	json_t *st = NULL;
	struct policy_cluster cl = { .nsites = 0 };
	struct policy p;
	char err[600];
	*out = NULL;
	int rc = site_names(c, &st, cl.sites, &cl.nsites);
	if (rc == EXIT_DONE && policy_load(path, &cl, &p, err, sizeof(err)) != 0)
		rc = usage_error("%s", err);
	json_decref(st);
	if (rc == EXIT_DONE && !(*out = policy_json(&p)))
		rc = fail(EXIT_FAILED, "out of memory");
	return rc;
}

/* The policy in force (GET /v1/policy) without what GET adds ("source"). */
static int policy_now(struct ctl *c, json_t **out)
{
	int rc = api(c, "GET", "/v1/policy", NULL, out);
	if (rc == EXIT_DONE)
		json_object_del(*out, "source");
	return rc;
}

static int policy_diff_cmd(struct ctl *c, const char *path)
{
	json_t *now = NULL, *then = NULL;
	int rc = read_policy(c, path, &then);
	if (rc == EXIT_DONE)
		rc = policy_now(c, &now);
	char *d = rc == EXIT_DONE ? policy_diff(now, then) : NULL;
	if (rc == EXIT_DONE && !d)
		rc = fail(EXIT_FAILED, "out of memory");
	if (d && c->json) {
		json_t *o = json_pack("{s:b, s:s}", "changes", *d != '\0', "diff", d);
		print_json(o);
		json_decref(o);
	} else if (d) {
		fputs(*d ? d : "no change: the policy in force is the same\n", stdout);
	}
	if (d && *d)
		rc = EXIT_FAILED;  /* as diff(1): 1 when they differ */
	free(d);
	json_decref(now);
	json_decref(then);
	return rc;
}

static int policy_apply_cmd(struct ctl *c, const char *path)
{
	json_t *then = NULL, *now = NULL;
	char what[700];
	int rc = read_policy(c, path, &then);
	snprintf(what, sizeof(what), "put policy %s (%s) in force", jstr(then, "name"), path);
	if (rc == EXIT_DONE && (rc = confirm(c, what)) == EXIT_DONE &&
	    (rc = api(c, "PUT", "/v1/policy", then, &now)) == EXIT_DONE) {
		if (c->json)
			print_json(now);
		else
			printf("policy %s in force (source %s)\n", jstr(now, "name"), jstr(now, "source"));
	}
	json_decref(then);
	json_decref(now);
	return rc;
}

static int cmd_policy(struct ctl *c, int argc, char **argv)
{
	struct opt opts[] = { { NULL, false, NULL, false } };
	struct args a;
	int rc = parse_args(c, argc, argv, opts, 2, &a);
	if (rc)
		return rc;
	const char *sub = a.npos ? a.pos[0] : "";
	bool show = !strcmp(sub, "show") && a.npos == 1;
	bool file = (!strcmp(sub, "diff") || !strcmp(sub, "apply")) && a.npos == 2;
	if (!show && !file)
		return usage_error("usage: drctl policy show | policy diff FILE | policy apply FILE");
	if ((rc = need_api(c)))
		return rc;
	if (file)
		return !strcmp(sub, "diff") ? policy_diff_cmd(c, a.pos[1]) :
					      policy_apply_cmd(c, a.pos[1]);
	json_t *now = NULL;
	if ((rc = api(c, "GET", "/v1/policy", NULL, &now)) == EXIT_DONE)
		print_json(now);
	json_decref(now);
	return rc;
}

static int cmd_upgrade(struct ctl *c, int argc, char **argv)
{
	struct opt opts[] = { { "--to", true, NULL, false }, { "--no-finalize", false, NULL, false },
			      { "--dry-run", false, NULL, false }, { "--timeout", true, NULL, false },
			      { "--rollback", false, NULL, false }, { NULL, false, NULL, false } };
	struct args a;
	long timeout_ms;
	char what[200];
	int rc = parse_args(c, argc, argv, opts, 0, &a);
	if (rc || (rc = opt_seconds(opts, "--timeout", 1800, &timeout_ms)))
		return rc;
	const char *to = opt_value(opts, "--to");
	bool dry = opt_on(opts, "--dry-run"), fin = !opt_on(opts, "--no-finalize");
	bool back = opt_on(opts, "--rollback");
	if (back && (to || !fin))
		return usage_error("upgrade: --rollback takes no --to or --no-finalize (it returns "
				   "every site to the cluster's fcv)");
	if (!back && !to)
		return usage_error("upgrade: --to VERSION (or --rollback) is required");
	if ((rc = need_api(c)))
		return rc;
	if (back)
		snprintf(what, sizeof(what), "rollback of the upgrade: every site back to the "
			 "cluster's fcv, in reverse order, the primary switched over");
	else
		snprintf(what, sizeof(what), "rolling upgrade to %s%s: each site restarted in turn, "
			 "the primary switched over", to, fin ? ", then finalized (no way back)" : "");
	if (!dry && (rc = confirm(c, what)))
		return rc;
	json_t *body = back ? json_pack("{s:b, s:b}", "rollback", true, "dry_run", dry)
			    : json_pack("{s:s, s:b, s:b}", "to", to, "finalize", fin, "dry_run", dry);
	json_t *run = NULL;
	rc = start_and_follow(c, "/v1/upgrades", body, dry, what, timeout_ms, &run);
	if (run)
		c->json ? print_json(run) : (void)printf("run %lld: %s %s  (drctl audit %lld)\n",
			jint(run, "id"), back ? "rollback" : "upgrade", jstr(run, "outcome"),
			jint(run, "id"));
	json_decref(run);
	return rc;
}

static int cmd_approve(struct ctl *c, int argc, char **argv)
{
	return run_comment(c, argc, argv, "approve", false);
}

/* ==== wan =================================================================== */

static bool lab_has_end(const struct lab *l, const char *name)
{
	if (!strcmp(name, LAB_ORCH))
		return true;
	for (int i = 0; i < l->nsites; i++)
		if (!strcmp(l->sites[i].name, name))
			return true;
	return false;
}

static void print_link_row(const json_t *k)
{
	json_t *cond = json_object_get(k, "conditions");
	json_t *up = json_object_get(cond, "upstream"), *down = json_object_get(cond, "downstream");
	printf("%-20s %-21s %-21s %5lld", jstr(k, "name"), jstr(k, "listen"), jstr(k, "upstream"),
	       jint(k, "connections"));
	const json_t *dirs[2] = { up, down };
	for (int i = 0; i < 2; i++)
		printf("  %s%lldms±%lld %.4g%% %lldkbit %s", i ? "| " : "", jint(dirs[i], "latency_ms"),
		       jint(dirs[i], "jitter_ms"), json_number_value(json_object_get(dirs[i], "loss_pct")),
		       jint(dirs[i], "bandwidth_kbps"), jstr(dirs[i], "partition"));
	printf("\n");
}

static void print_links_header(void)
{
	printf("%-20s %-21s %-21s %5s  %s\n", "LINK", "LISTEN", "UPSTREAM", "CONNS",
	       "UPSTREAM: LATENCY±JITTER LOSS BW PARTITION | DOWNSTREAM (0kbit: no cap)");
}

static int wan_cond(const struct opt *opts, struct lab_cond *cond)
{
	const char *v;
	memset(cond, 0, sizeof(*cond));
	const char *flag = opt_value(opts, "--latency") ? "--latency" : "--delay";
	if (opt_value(opts, "--latency") && opt_value(opts, "--delay"))
		return usage_error("wan set: --latency and --delay are the same option; give one");
	if ((v = opt_value(opts, flag)) && (cond->has_latency = true) && lab_parse_ms(v, &cond->latency_ms))
		return usage_error("%s: expected a duration such as 80ms, got '%s'", flag, v);
	if ((v = opt_value(opts, "--jitter")) && (cond->has_jitter = true) && lab_parse_ms(v, &cond->jitter_ms))
		return usage_error("--jitter: expected a duration such as 10ms, got '%s'", v);
	if ((v = opt_value(opts, "--loss")) && (cond->has_loss = true) && lab_parse_pct(v, &cond->loss_pct))
		return usage_error("--loss: expected a percentage such as 1%%, got '%s'", v);
	if ((v = opt_value(opts, "--bandwidth")) && (cond->has_bandwidth = true) &&
	    lab_parse_kbps(v, &cond->bandwidth_kbps))
		return usage_error("--bandwidth: expected a rate such as 1mbit, got '%s'", v);
	if ((v = opt_value(opts, "--partition"))) {
		if (strcmp(v, "none") && strcmp(v, "blackhole") && strcmp(v, "reset"))
			return usage_error("--partition: expected blackhole, reset or none, got '%s'", v);
		snprintf(cond->partition, sizeof(cond->partition), "%s", v);
		cond->has_partition = true;
	}
	if (!cond->has_latency && !cond->has_jitter && !cond->has_loss && !cond->has_bandwidth &&
	    !cond->has_partition)
		return usage_error("wan set: give at least one of --latency --jitter --loss --bandwidth --partition");
	return 0;
}

/* The links carrying traffic between A and B and the direction of each
 * (a link X.Y carries X's requests upstream and the answers downstream):
 * both directions of both links, or with one_way only what flows from A
 * to B (A.B upstream, B.A downstream).  The number of links. */
static int wan_links(const struct lab *l, const char *a, const char *b, bool one_way,
		     const struct lab_link *links[2], const char *dirs[2])
{
	int n = 0;
	const struct lab_link *ab = lab_link_between(l, a, b), *ba = lab_link_between(l, b, a);
	if (ab) {
		links[n] = ab;
		dirs[n++] = one_way ? "upstream" : "";
	}
	if (ba) {
		links[n] = ba;
		dirs[n++] = one_way ? "downstream" : "";
	}
	return n;
}

/* Sets cond on the links between A and B; prints or collects the answers. */
static int wan_apply(struct ctl *c, const char *a, const char *b, bool one_way,
		     const struct lab_cond *cond)
{
	const struct lab_link *links[2];
	const char *dirs[2];
	int n = wan_links(c->lab, a, b, one_way, links, dirs);
	json_t *all = json_array();
	char err[512];
	int rc = all ? EXIT_DONE : fail(EXIT_FAILED, "wan set: out of memory");
	if (!c->json && !rc)
		print_links_header();
	for (int i = 0; i < n && !rc; i++) {
		char *answer = NULL;
		struct lab_cond one = *cond;
		snprintf(one.direction, sizeof(one.direction), "%s", dirs[i]);
		if (lab_link_set(c->lab, links[i]->name, &one, &answer, err, sizeof(err))) {
			rc = fail(EXIT_FAILED, "%s", err);
			break;
		}
		json_t *k = json_loads(answer, 0, NULL);
		free(answer);
		c->json ? (void)json_array_append(all, k) : print_link_row(k);
		json_decref(k);
	}
	if (!rc && c->json) {
		json_t *o = json_pack("{s:O}", "links", all);
		print_json(o);
		json_decref(o);
	}
	json_decref(all);
	return rc;
}

/* A and B, two different ends of the lab (sites or drorchd). */
static int wan_ends(struct ctl *c, const char *cmd, const struct args *a)
{
	for (int i = 0; i < 2; i++)
		if (!lab_has_end(c->lab, a->pos[i]))
			return usage_error("wan %s: '%s' is not a site of this lab (or drorchd)", cmd,
					   a->pos[i]);
	if (!strcmp(a->pos[0], a->pos[1]))
		return usage_error("wan %s: A and B must differ", cmd);
	return 0;
}

static int wan_set(struct ctl *c, int argc, char **argv)
{
	struct opt opts[] = { { "--latency", true, NULL, false }, { "--delay", true, NULL, false },
			      { "--jitter", true, NULL, false }, { "--loss", true, NULL, false },
			      { "--bandwidth", true, NULL, false }, { "--partition", true, NULL, false },
			      { "--one-way", false, NULL, false }, { NULL, false, NULL, false } };
	struct args a;
	struct lab_cond cond;
	int rc = parse_args(c, argc, argv, opts, 2, &a);
	if (rc || (rc = wan_cond(opts, &cond)))
		return rc;
	if (a.npos != 2)
		return usage_error("usage: drctl --lab DIR wan set A B [--latency D] [--jitter D] "
				   "[--loss P] [--bandwidth R] [--partition blackhole|reset|none] "
				   "[--one-way]");
	if ((rc = need_lab(c)) || (rc = wan_ends(c, "set", &a)))
		return rc;
	return wan_apply(c, a.pos[0], a.pos[1], opt_on(opts, "--one-way"), &cond);
}

/* wan reset [A B]: no latency, jitter, loss, cap or partition, on the
 * links between A and B, or on every link of the lab. */
static int wan_reset(struct ctl *c, int argc, char **argv)
{
	struct args a;
	struct lab_cond none = { .has_latency = true, .has_jitter = true, .has_loss = true,
				 .has_bandwidth = true, .has_partition = true, .partition = "none" };
	int rc = parse_args(c, argc, argv, NULL, 2, &a);
	if (rc)
		return rc;
	if (a.npos != 0 && a.npos != 2)
		return usage_error("usage: drctl --lab DIR wan reset [A B]");
	if ((rc = need_lab(c)))
		return rc;
	if (a.npos == 2 && (rc = wan_ends(c, "reset", &a)))
		return rc;
	if (a.npos == 2)
		return wan_apply(c, a.pos[0], a.pos[1], false, &none);
	char err[512];
	for (int i = 0; i < c->lab->nlinks; i++)
		if (lab_link_set(c->lab, c->lab->links[i].name, &none, NULL, err, sizeof(err)))
			return fail(EXIT_FAILED, "%s", err);
	if (!c->json)
		printf("wan reset: %d links without conditions\n", c->lab->nlinks);
	else
		printf("{\"reset\": %d}\n", c->lab->nlinks);
	return EXIT_DONE;
}

static int wan_show(struct ctl *c, int argc, char **argv)
{
	struct args a;
	json_t *links = NULL;
	int rc = parse_args(c, argc, argv, NULL, 0, &a);
	if (rc || (rc = need_lab(c)) || (rc = call(c, c->lab->drlink, "GET", "/v1/links", NULL, &links)))
		return rc;
	if (c->json) {
		print_json(links);
	} else {
		size_t i;
		json_t *k;
		print_links_header();
		json_array_foreach(json_object_get(links, "links"), i, k)
			print_link_row(k);
	}
	json_decref(links);
	return EXIT_DONE;
}

static int cmd_wan(struct ctl *c, int argc, char **argv)
{
	if (argc >= 1 && !strcmp(argv[0], "set"))
		return wan_set(c, argc - 1, argv + 1);
	if (argc >= 1 && !strcmp(argv[0], "show"))
		return wan_show(c, argc - 1, argv + 1);
	if (argc >= 1 && !strcmp(argv[0], "reset"))
		return wan_reset(c, argc - 1, argv + 1);
	return usage_error("usage: drctl --lab DIR wan set A B ... | wan show | wan reset [A B]");
}

/* ==== lab =================================================================== */

static const char *lab_dir_of(struct ctl *c, const struct opt *opts)
{
	const char *d = opt_value(opts, "--dir");
	return d ? d : c->lab_dir;
}

/* A fresh DIR under $TMPDIR when none is given; static storage. */
static const char *temp_lab_dir(void)
{
	static char path[LAB_PATH];
	const char *tmp = getenv("TMPDIR");
	snprintf(path, sizeof(path), "%s/drorch-lab.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	return mkdtemp(path);
}

static int lab_up_cmd(struct ctl *c, int argc, char **argv)
{
	struct opt opts[] = { { "--dir", true, NULL, false }, { "--sites", true, NULL, false },
			      { "--timeout", true, NULL, false }, { "--enable-faults", false, NULL, false },
			      { "--ha", false, NULL, false }, { NULL, false, NULL, false } };
	struct args a;
	long timeout_ms;
	char err[1024];
	int rc = parse_args(c, argc, argv, opts, 1, &a);
	if (rc || (rc = opt_seconds(opts, "--timeout", 60, &timeout_ms)))
		return rc;
	const char *n = opt_value(opts, "--sites");
	if (n && strcmp(n, "2") && strcmp(n, "3"))
		return usage_error("--sites: expected 2 or 3, got '%s'", n);
	const char *dir = lab_dir_of(c, opts);
	if (!dir && !(dir = temp_lab_dir()))
		return fail(EXIT_FAILED, "lab up: cannot make a directory under $TMPDIR: %s", strerror(errno));
	struct lab_up_opts o = { .dir = dir, .spec = a.npos ? a.pos[0] : NULL, .nsites = n ? atoi(n) : 0,
				 .timeout_ms = timeout_ms, .progress = c->progress,
				 .enable_faults = opt_on(opts, "--enable-faults"), .ha = opt_on(opts, "--ha") };
	fprintf(c->progress, "lab up in %s\n", dir);
	if (lab_up(&o, &c->lab, err, sizeof(err))) {
		/* A lab running in DIR is not bad input: the refusal is exit 1. */
		bool bad_input = strstr(err, ".yaml:") || strstr(err, "--sites");
		return fail(bad_input ? EXIT_USAGE : EXIT_FAILED, "lab up: %s", err);
	}
	if (c->json) {
		json_t *j = NULL;
		char path[LAB_PATH + 16];
		snprintf(path, sizeof(path), "%s/lab.json", c->lab->dir);
		print_json(j = json_load_file(path, 0, NULL));
		json_decref(j);
	} else if (c->lab->norchs > 1) {
		printf("lab up: STEADY, %d drorchd instances through %d etcd members (url %s); "
		       "lab.json in %s\n  try: drctl --lab %s lab status\n", c->lab->norchs,
		       c->lab->netcd, c->lab->url, c->lab->dir, c->lab->dir);
	} else {
		printf("lab up: drorchd %s is STEADY; lab.json in %s\n"
		       "  try: drctl --lab %s status\n", c->lab->url, c->lab->dir, c->lab->dir);
	}
	return EXIT_DONE;
}

static int lab_down_cmd(struct ctl *c, int argc, char **argv)
{
	struct opt opts[] = { { "--dir", true, NULL, false }, { "--purge", false, NULL, false },
			      { NULL, false, NULL, false } };
	struct args a;
	char err[512];
	int rc = parse_args(c, argc, argv, opts, 0, &a);
	if (rc)
		return rc;
	c->lab_dir = lab_dir_of(c, opts);
	if ((rc = need_lab(c)))
		return rc;
	rc = lab_down(c->lab, 5000, opt_on(opts, "--purge"), err, sizeof(err));
	char serr[512];
	if (lab_save(c->lab, serr, sizeof(serr)))
		fail(EXIT_FAILED, "%s", serr);
	if (rc)
		return fail(EXIT_FAILED, "lab down: %s", err);
	if (c->json) {
		json_t *o = json_pack("{s:s, s:b}", "dir", c->lab->dir, "purged", opt_on(opts, "--purge"));
		print_json(o);
		json_decref(o);
	} else {
		for (int i = c->lab->nprocs - 1; i >= 0; i--)
			printf("stopped %-9s pid %d\n", c->lab->procs[i].name, (int)c->lab->procs[i].pid);
		printf("lab down: %s kept%s\n", c->lab->dir,
		       opt_on(opts, "--purge") ? " (data and store removed)" : " (logs, data, store)");
	}
	return EXIT_DONE;
}

/* The drorchd instances of the lab, each with the role its /healthz names
 * ("leader", "follower", "candidate"; "-" when it names none, null when it
 * does not answer), printed unless --json; the JSON array returned. */
static json_t *lab_instances(struct ctl *c)
{
	json_t *all = json_array();
	for (int i = 0; all && i < c->lab->norchs; i++) {
		const struct lab_proc *p = lab_orch_proc(c->lab, i);
		char url[160], err[256];
		struct httpc_resp r;
		json_t *h = NULL;
		snprintf(url, sizeof(url), "%s/healthz", c->lab->urls[i]);
		if (p && lab_proc_alive(p) &&
		    !httpc_request(c->http, "GET", url, NULL, NULL, 0, HTTP_TIMEOUT_MS, &r, err, sizeof(err))) {
			h = r.status == 200 ? json_loadb(r.body, r.body_len, 0, NULL) : NULL;
			httpc_resp_free(&r);
		}
		const char *role = h ? jstr(h, "role") : NULL;
		if (!c->json)
			printf("%-9s %-22s  %s\n", p ? p->name : "-", c->lab->urls[i],
			       role ? role : "not answering");
		json_array_append_new(all, json_pack("{s:s, s:s, s:s?}", "name", p ? p->name : "",
						     "url", c->lab->urls[i], "role", role));
		json_decref(h);
	}
	return all;
}

static int lab_status_cmd(struct ctl *c, int argc, char **argv)
{
	struct opt opts[] = { { "--dir", true, NULL, false }, { NULL, false, NULL, false } };
	struct args a;
	int rc = parse_args(c, argc, argv, opts, 0, &a);
	if (rc)
		return rc;
	c->lab_dir = lab_dir_of(c, opts);
	if ((rc = need_lab(c)) || (rc = need_api(c)))
		return rc;
	json_t *procs = json_array(), *st = NULL, *instances = NULL;
	if (lab_orch_url(c->lab))
		call(c, c->url, "GET", "/v1/status", NULL, &st);
	if (!c->json)
		printf("lab %s (%s)\n%-9s %-8s %8s %-5s %s\n", c->lab->dir, c->lab->state, "PROCESS", "KIND",
		       "PID", "ALIVE", "LOG");
	for (int i = 0; i < c->lab->nprocs; i++) {
		const struct lab_proc *p = &c->lab->procs[i];
		bool alive = lab_proc_alive(p);
		if (c->json)
			json_array_append_new(procs, json_pack("{s:s, s:s, s:i, s:b}", "name", p->name,
							       "kind", p->kind, "pid", (int)p->pid, "alive", alive));
		else
			printf("%-9s %-8s %8d %-5s %s\n", p->name, p->kind, (int)p->pid, alive ? "yes" : "DEAD",
			       p->log);
	}
	if (!c->json && c->lab->norchs > 1)
		printf("\n%-9s %-22s  ROLE\n", "INSTANCE", "URL");
	if (c->lab->norchs > 1)
		instances = lab_instances(c);
	if (c->json) {
		json_t *o = json_pack("{s:s, s:s, s:o, s:O?, s:O?}", "dir", c->lab->dir, "state",
				      c->lab->state, "procs", procs, "instances", instances, "drorchd", st);
		print_json(o);
		json_decref(o);
	} else {
		json_decref(procs);
		printf("\ndrorchd: %s", st ? "" : "not answering\n");
		if (st)
			printf("%s, epoch %lld, primary %s (asked %s)\n", jstr(st, "state"),
			       jint(st, "epoch"), jstr(st, "primary"), c->url);
	}
	json_decref(instances);
	json_decref(st);
	return EXIT_DONE;
}

static int lab_one(struct ctl *c, int argc, char **argv, bool start)
{
	struct opt opts[] = { { "--dir", true, NULL, false }, { NULL, false, NULL, false } };
	struct args a;
	char err[1024];
	int rc = parse_args(c, argc, argv, opts, 1, &a);
	if (rc)
		return rc;
	if (a.npos != 1)
		return usage_error("usage: drctl --lab DIR lab %s NAME", start ? "start" : "kill");
	c->lab_dir = lab_dir_of(c, opts);
	if ((rc = need_lab(c)))
		return rc;
	if (!lab_proc_named(c->lab, a.pos[0]))
		return usage_error("lab %s: no process '%s' in %s/lab.json", start ? "start" : "kill",
				   a.pos[0], c->lab->dir);
	const struct lab_proc *p = lab_proc_named(c->lab, a.pos[0]);
	pid_t killed = p->pid;
	rc = start ? lab_start(c->lab, a.pos[0], 15000, err, sizeof(err))
		   : lab_kill(c->lab, a.pos[0], err, sizeof(err));
	/* lab.json follows every pid change, also after a start that failed
	 * (its process is gone, or still recorded for lab down). */
	char serr[512];
	if (lab_save(c->lab, serr, sizeof(serr)))
		fail(EXIT_FAILED, "%s", serr);
	if (rc)
		return fail(EXIT_FAILED, "lab %s: %s", start ? "start" : "kill", err);
	int pid = (int)(start ? p->pid : killed);
	if (c->json) {
		json_t *o = json_pack("{s:s, s:s, s:i}", "name", p->name, "action", start ? "started" : "killed",
				      "pid", pid);
		print_json(o);
		json_decref(o);
	} else {
		printf("%s %s (pid %d)\n", start ? "started" : "killed -9", p->name, pid);
	}
	return EXIT_DONE;
}

static int cmd_lab(struct ctl *c, int argc, char **argv)
{
	const char *sub = argc ? argv[0] : "";
	if (!strcmp(sub, "up"))
		return lab_up_cmd(c, argc - 1, argv + 1);
	if (!strcmp(sub, "down"))
		return lab_down_cmd(c, argc - 1, argv + 1);
	if (!strcmp(sub, "status"))
		return lab_status_cmd(c, argc - 1, argv + 1);
	if (!strcmp(sub, "kill") || !strcmp(sub, "start"))
		return lab_one(c, argc - 1, argv + 1, !strcmp(sub, "start"));
	return usage_error("usage: drctl lab up|down|status|kill|start ... (drctl lab --help)");
}

/* ==== the command table ===================================================== */

static const struct command commands[] = {
	{ "status", cmd_status, "status [--json] | status --watch|-w [SECONDS] [--count N] [--json]",
	  "the cluster: FSM state, epoch, primary, and every site's role, health, LSN, lag in ms\n"
	  "      and records, and replication.  --watch redraws it every SECONDS (default 2)\n"
	  "      with the run in progress and, with --lab, every link's WAN conditions, until\n"
	  "      Ctrl-C or N times; --json prints one {\"at\",\"tick\",\"status\"} per line" },
	{ "sites", cmd_sites, "sites [--json]", "every site as drorchd sees it (GET /v1/sites)" },
	{ "failover", cmd_failover, "failover [--to SITE] [--force] [--no-wait] [--timeout S] [--yes] [--json]",
	  "fail over to SITE (default: the best candidate); --force past the RPO.  Asks\n"
	  "      'proceed? [y/N]' on a terminal; without one, refuses unless --yes.  Then prints\n"
	  "      each state change until a new primary is STEADY/DEGRADED, or HELD (exit 1).\n"
	  "      --json: {\"accepted\", \"run\", \"status\"}" },
	{ "switchover", cmd_switchover, "switchover --to SITE [--no-wait] [--timeout S] [--yes] [--json]",
	  "planned move of the primary role to the replica SITE with zero loss: the primary's\n"
	  "      writes pause until SITE has flushed its last record, then the usual fence and\n"
	  "      promotion; aborts (exit 1, writes reopened, nothing lost) if SITE cannot catch up" },
	{ "failback", cmd_failback, "failback [--no-wait] [--timeout S] [--yes] [--json]",
	  "a switchover back to the site the last successful failover or switchover took\n"
	  "      the primary role from, once it has rejoined as a replica (rewound if its log\n"
	  "      had diverged)" },
	{ "watch", cmd_watch, "watch [--from SITE] [--timeout S] [--json]",
	  "print each state change until the cluster has a primary other than SITE (default:\n"
	  "      the current one), e.g. after 'lab kill'; exit 1 when HELD or out of time" },
	{ "pause", cmd_pause, "pause [--json]", "stop automation (maintenance): the cluster goes PAUSED" },
	{ "resume", cmd_resume, "resume [--json]", "resume automation after pause, or after HELD and ack" },
	{ "runs", cmd_runs, "runs [--json]", "recent runs (failovers, switchovers, failbacks, playbooks, upgrades)\n"
	  "      with measured RPO and RTO" },
	{ "audit", cmd_audit, "audit [RUN] [--json]",
	  "one run (default: the newest): steps, measured RPO/RTO against the policy's targets,\n"
	  "      and its transitions with the FSM row and reason of each.\n"
	  "      --json: {\"run\", \"targets\", \"verdict\", \"transitions\"}" },
	{ "report", cmd_report, "report [RUN] [--format md|html|json] [-o FILE]",
	  "the post-mortem report of a run (default: the newest; GET /v1/runs/{id}/report):\n"
	  "      header, timeline against the RTO target, RPO and RTO verdicts, the path through\n"
	  "      the state diagram, every transition, write load, steps and the audit's\n"
	  "      verification.  md (default) for post-mortems, html one self-contained page\n"
	  "      (inline SVG), json for scripts; -o FILE writes it there instead of stdout" },
	{ "run", cmd_run, "run FILE [--dry-run] [--timeout S] [--yes] [--json]",
	  "run the playbook in FILE (checked here first: errors FILE:LINE:COLUMN, exit 2);\n"
	  "      prints each step as it ends and the approval gates it waits at; exit 0 when\n"
	  "      every step passed.  --dry-run plans without acting (checks evaluated now).\n"
	  "      --json: {\"run\": ID, ...}" },
	{ "upgrade", cmd_upgrade,
	  "upgrade --to VERSION [--no-finalize] [--dry-run] [--timeout S] [--yes] [--json]\n"
	  "       | upgrade --rollback [--dry-run] [--timeout S] [--yes] [--json]",
	  "rolling upgrade (POST /v1/upgrades): each replica's drsite swapped in turn, a\n"
	  "      zero-loss switchover, the old primary swapped, then the new FCV on every site\n"
	  "      (after which the old binary cannot come back; --no-finalize keeps the way back\n"
	  "      open).  Sites already at VERSION are left alone: an upgrade to the version\n"
	  "      the cluster runs does nothing.  --rollback (before a finalize) swaps every\n"
	  "      site back to the cluster's FCV in reverse order, the primary last after a\n"
	  "      switchover; refused (exit 1) once finalized.  With --lab, drctl swaps the\n"
	  "      binaries: it restarts each site on the program for VERSION, drsite-VERSION\n"
	  "      beside drsite, or drsite itself for its own version (" DRSITE_VERSION "); otherwise\n"
	  "      it says which site drorchd waits for" },
	{ "approve", cmd_approve, "approve RUN [--comment TEXT] [--json]",
	  "let a playbook run past the approval gate it waits at" },
	{ "policy", cmd_policy, "policy show | policy diff FILE | policy apply FILE [--yes] [--json]",
	  "the policy in force (GET /v1/policy); what FILE would change, one line per key\n"
	  "      'KEY: NOW -> THEN' (exit 0: nothing, 1: something); put FILE in force\n"
	  "      (PUT /v1/policy).  FILE is checked here first against the cluster's sites\n"
	  "      (errors FILE:LINE:COLUMN, exit 2); docs/policy.md documents every key" },
	{ "hash-token", cmd_hash_token, "hash-token NAME < TOKEN-FILE",
	  "the operators_file line (NAME sha256:HEX) naming the token on standard input:\n"
	  "      drorchd then records that token's actions as operator:NAME; the token itself\n"
	  "      is never written anywhere (needs no lab)" },
	{ "ack", cmd_ack, "ack RUN --comment TEXT [--json]",
	  "acknowledge a failover run (lifts anti-flapping; then 'resume' a HELD cluster)" },
	{ "wan", cmd_wan,
	  "wan set A B [--latency 80ms] [--jitter 10ms] [--loss 1%] [--bandwidth 1mbit]\n"
	  "          [--partition blackhole|reset|none] [--one-way] | wan show\n"
	  "          | wan reset [A B]   (needs --lab)",
	  "WAN conditions on both drlink links between A and B (sites, or drorchd); --latency\n"
	  "      (or --delay) is one-way, per direction; --one-way sets only what flows from A\n"
	  "      to B; 'wan show' lists every link; 'wan reset' clears A-B's links, or all" },
	{ "lab", cmd_lab,
	  "lab up [--dir DIR] [LAB.yaml] [--sites 2|3] [--timeout S] [--enable-faults] [--ha]\n"
	  "          | lab down [--dir DIR] [--purge] | lab status [--dir DIR]\n"
	  "          | --lab DIR lab kill NAME | --lab DIR lab start NAME",
	  "a local lab on 127.0.0.1: sites, drlink and drorchd, described by DIR/lab.json.\n"
	  "      --ha (or LAB.yaml ha: true) runs drorchd-1..3 through etcd-1..3 instead of one\n"
	  "      drorchd; up waits for exactly one leader (/healthz/leader).\n"
	  "      'up' refuses (exit 1, nothing changed) a DIR whose lab.json names a live process;\n"
	  "      --enable-faults starts every drsite with --enable-faults (POST /v1/admin/faults).\n"
	  "      LAB.yaml's drsite_version: X.Y.Z starts every site on that version's drsite\n"
	  "      (default " DRSITE_VERSION "; e.g. 0.1.0: drsite-0.1.0, to rehearse an upgrade).\n"
	  "      'down' exits 1 unless every recorded process is verified gone.\n"
	  "      'kill' is kill -9; 'start' restarts with the same arguments; NAME is a site,\n"
	  "      drlink, drorchd, or drorchd-N and etcd-N in an HA lab" },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void print_commands(FILE *f)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %s\n      %s\n", commands[i].usage, commands[i].help);
	fprintf(f, "\nsee drctl(1) for examples\n");
}

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

/* Reads globals before the command; returns the command's index in argv. */
static int parse_globals(struct ctl *c, int argc, char **argv, int *rc)
{
	int i = 1;
	*rc = 0;
	while (i < argc) {
		int used = global_opt(c, argc, argv, i);
		if (used < 0) {
			*rc = usage_error("%s: needs a value", argv[i]);
			return argc;
		}
		if (!used)
			break;
		i += used;
	}
	return i;
}

static void env_defaults(struct ctl *c)
{
	if (!c->url && !c->lab_dir && getenv("DRCTL_URL") && *getenv("DRCTL_URL"))
		c->url = getenv("DRCTL_URL");
	if (!c->token_file && getenv("DRCTL_TOKEN_FILE") && *getenv("DRCTL_TOKEN_FILE"))
		c->token_file = getenv("DRCTL_TOKEN_FILE");
	if (!c->url && !c->lab_dir && getenv("DRCTL_LAB") && *getenv("DRCTL_LAB"))
		c->lab_dir = getenv("DRCTL_LAB");
}

/* Examples for 'drctl COMMAND --help', each a command line that works on
 * the lab 'drctl lab up --dir /tmp/lab' makes. */
static const struct {
	const char *name, *examples;
} command_examples[] = {
	{ "status", "drctl --lab /tmp/lab status\n"
		    "  drctl --lab /tmp/lab status --watch 1\n"
		    "  drctl --lab /tmp/lab status --json | jq .primary" },
	{ "sites", "drctl --lab /tmp/lab sites --json" },
	{ "failover", "drctl --lab /tmp/lab failover --to eu-west --yes\n"
		      "  drctl --lab /tmp/lab failover --to ap-south --force --yes   # past the RPO" },
	{ "switchover", "drctl --lab /tmp/lab switchover --to eu-west --yes" },
	{ "failback", "drctl --lab /tmp/lab failback --yes" },
	{ "watch", "drctl --lab /tmp/lab lab kill us-east && drctl --lab /tmp/lab watch --from us-east" },
	{ "pause", "drctl --lab /tmp/lab pause" },
	{ "resume", "drctl --lab /tmp/lab resume" },
	{ "runs", "drctl --lab /tmp/lab runs\n"
		  "  drctl --lab /tmp/lab runs --json | jq '.runs[0].rto_ms'" },
	{ "audit", "drctl --lab /tmp/lab audit        # the newest run\n"
		   "  drctl --lab /tmp/lab audit 2 --json" },
	{ "report", "drctl --lab /tmp/lab report 1 --format html -o run1.html" },
	{ "run", "drctl --lab /tmp/lab run playbooks/examples/switchover-drill.yaml --dry-run --yes\n"
		 "  drctl --lab /tmp/lab run playbooks/examples/switchover-drill.yaml --yes" },
	{ "upgrade", "drctl --lab /tmp/lab upgrade --to 0.2.0 --no-finalize --yes\n"
		     "  drctl --lab /tmp/lab upgrade --rollback --yes" },
	{ "approve", "drctl --lab /tmp/lab approve 3 --comment 'change 4711 approved'" },
	{ "policy", "drctl --lab /tmp/lab policy show\n"
		    "  drctl --lab /tmp/lab policy diff policies/examples/async-5s-rpo.yaml\n"
		    "  drctl --lab /tmp/lab policy apply policies/examples/async-5s-rpo.yaml --yes" },
	{ "hash-token", "drctl hash-token alice < alice.token >> operators" },
	{ "ack", "drctl --lab /tmp/lab ack 1 --comment 'checked: the old primary disk failed'" },
	{ "wan", "drctl --lab /tmp/lab wan set us-east eu-west --latency 40ms --jitter 5ms --loss 1%\n"
		 "  drctl --lab /tmp/lab wan set us-east drorchd --partition blackhole --one-way\n"
		 "  drctl --lab /tmp/lab wan show\n"
		 "  drctl --lab /tmp/lab wan reset" },
	{ "lab", "drctl lab up --dir /tmp/lab\n"
		 "  drctl --lab /tmp/lab lab kill us-east; drctl --lab /tmp/lab lab start us-east\n"
		 "  drctl lab down --dir /tmp/lab --purge" },
};

static const char *examples_of(const char *name)
{
	for (size_t i = 0; i < sizeof(command_examples) / sizeof(command_examples[0]); i++)
		if (!strcmp(command_examples[i].name, name))
			return command_examples[i].examples;
	return NULL;
}

/* --help anywhere after a command: that command's help, exit 0. */
static bool wants_help(int argc, char **argv)
{
	for (int i = 0; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return true;
	return false;
}

static int run(struct ctl *c, int argc, char **argv)
{
	int rc, at = parse_globals(c, argc, argv, &rc);
	if (rc)
		return rc;
	if (c->version) {
		printf("drctl %s\n", PACKAGE_VERSION);
		return EXIT_DONE;
	}
	if (at >= argc) {
		fputs(global_help, c->help ? stdout : stderr);
		print_commands(c->help ? stdout : stderr);
		return c->help ? EXIT_DONE : EXIT_USAGE;
	}
	const struct command *cmd = find_command(argv[at]);
	if (!cmd) {
		return usage_error("unknown command '%s'", argv[at]);
	}
	if (c->help || wants_help(argc - at - 1, argv + at + 1)) {
		printf("usage: drctl [--url URL --token-file F | --lab DIR] %s\n  %s\n", cmd->usage, cmd->help);
		if (examples_of(cmd->name))
			printf("examples:\n  %s\n", examples_of(cmd->name));
		return EXIT_DONE;
	}
	env_defaults(c);
	c->progress = c->json ? stderr : stdout;  /* --json after the command moves it too */
	return cmd->run(c, argc - at - 1, argv + at + 1);
}

int main(int argc, char **argv)
{
	struct ctl c = { 0 };
	signal(SIGPIPE, SIG_IGN);
	if (httpc_global_init() || !(c.http = httpc_new()))
		return fail(EXIT_FAILED, "cannot initialise libcurl");
	int rc = run(&c, argc, argv);
	httpc_free(c.http);
	lab_free(c.lab);
	fflush(stdout);
	return rc;
}
