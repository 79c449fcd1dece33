/*
 * testlab.c — the drsite + drorchd lab shared by end-to-end tests (see
 * testlab.h).
 */
#include "testlab.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "timeutil.h"

static const char *const tl_names[TL_MAX_SITES] = { "us-east", "eu-west", "ap-south" };

void tl_write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	ck_assert_msg(f != NULL, "cannot write %s", path);
	fputs(text, f);
	ck_assert_msg(fclose(f) == 0, "cannot write %s", path);
}

void tl_lab_init(struct tl_lab *L, const char *prefix, int nsites, const char *op_token,
		 const char *policy)
{
	ck_assert(nsites >= 1 && nsites <= TL_MAX_SITES);
	memset(L, 0, sizeof(*L));
	L->root = th_mkdtemp(prefix);
	ck_assert_ptr_nonnull(L->root);
	L->nsites = nsites;
	for (int i = 0; i < nsites; i++) {
		L->names[i] = tl_names[i];
		th_site_init(&L->site[i], L->root, tl_names[i]);
	}
	for (int i = 0; i < nsites; i++) {
		snprintf(L->orch_url[i], sizeof(L->orch_url[i]), "%s", L->site[i].base);
		for (int j = 0; j < nsites; j++)
			snprintf(L->peer_addr[i][j], sizeof(L->peer_addr[i][j]), "%s",
				 L->site[j].listen);
	}
	snprintf(L->op_token, sizeof(L->op_token), "%s", op_token);
	snprintf(L->cfg, sizeof(L->cfg), "%s/drorchd.yaml", L->root);
	snprintf(L->db, sizeof(L->db), "%s/drorch.db", L->root);
	snprintf(L->optok, sizeof(L->optok), "%s/operator.token", L->root);
	snprintf(L->policy, sizeof(L->policy), "%s/policy.yaml", L->root);
	snprintf(L->log, sizeof(L->log), "%s/drorchd.log", L->root);
	snprintf(L->listen, sizeof(L->listen), "127.0.0.1:%d", th_free_port());
	snprintf(L->url, sizeof(L->url), "http://%s", L->listen);
	char tok[160];
	snprintf(tok, sizeof(tok), "%s\n", op_token);
	tl_write_file(L->optok, tok);
	tl_write_file(L->policy, policy);
}

void tl_lab_free(struct tl_lab *L)
{
	th_cleanup();
	if (L->root && !getenv("DRORCH_KEEP_LABS"))  /* kept: to read a failed test's logs */
		th_rmrf(L->root);
	free(L->root);
	L->root = NULL;
}

/* ---- drorchd ------------------------------------------------------------------ */

void tl_write_config(const struct tl_lab *L)
{
	char text[8192];
	int n = snprintf(text, sizeof(text),
		"listen: %s\ndb: %s\ntoken_file: %s\nsite_token_file: %s\npolicy: %s\n"
		"initial_primary: %s\nsites:\n", L->listen, L->db, L->optok,
		L->site[0].token_file, L->policy, L->names[0]);
	for (int i = 0; i < L->nsites; i++) {
		n += snprintf(text + n, sizeof(text) - (size_t)n,
			      "  - name: %s\n    url: \"%s\"\n    region: %s-1\n",
			      L->names[i], L->orch_url[i], L->names[i]);
		if (!L->peers)
			continue;
		n += snprintf(text + n, sizeof(text) - (size_t)n, "    peers: {");
		for (int j = 0, first = 1; j < L->nsites; j++)
			if (j != i) {
				n += snprintf(text + n, sizeof(text) - (size_t)n, "%s%s: \"%s\"",
					      first ? "" : ", ", L->names[j], L->peer_addr[i][j]);
				first = 0;
			}
		n += snprintf(text + n, sizeof(text) - (size_t)n, "}\n");
	}
	n += snprintf(text + n, sizeof(text) - (size_t)n, "%s", L->extra_config);
	ck_assert((size_t)n < sizeof(text));
	tl_write_file(L->cfg, text);
}

bool tl_start_orch_or_exit(struct tl_lab *L, const char *crash_at)
{
	char *argv[] = { (char *)th_bin("drorchd"), "--config", L->cfg, NULL };
	if (crash_at)
		setenv("DRORCH_TEST_CRASH_AT", crash_at, 1);
	L->orch = th_spawn(argv, L->log);
	unsetenv("DRORCH_TEST_CRASH_AT");
	ck_assert_msg(L->orch > 0, "drorchd did not start");
	char url[128];
	snprintf(url, sizeof(url), "%s/healthz", L->url);
	for (uint64_t end = time_mono_ms() + 10000; time_mono_ms() < end; time_sleep_ms(20)) {
		if (th_http("GET", url, NULL, NULL, 0, NULL, NULL) == 200)
			return true;
		if (th_pid_gone(L->orch))
			return false;
	}
	ck_abort_msg("drorchd did not come up; see %s", L->log);
	return false;
}

void tl_start_orch(struct tl_lab *L, const char *crash_at)
{
	ck_assert_msg(tl_start_orch_or_exit(L, crash_at), "drorchd exited at its start; see %s",
		      L->log);
}

void tl_lab_version(struct tl_lab *L, const char *version)
{
	for (int i = 0; i < L->nsites; i++)
		snprintf(L->site[i].version, sizeof(L->site[i].version), "%s", version ? version : "");
}

void tl_lab_up(struct tl_lab *L, const char *const site_extra[])
{
	tl_write_config(L);
	for (int i = 0; i < L->nsites; i++)
		ck_assert_msg(th_site_start(&L->site[i], site_extra), "%s did not start; see %s",
			      L->names[i], L->site[i].log);
	tl_start_orch(L, NULL);
	uint64_t deadline = time_mono_ms() + 15000;
	bool ready = false;
	while (!ready && time_mono_ms() < deadline) {
		json_t *st = tl_wait_cluster(L, "STEADY", L->names[0], NULL, 1000);
		ready = st && tl_all_in_role(st, L->names[0]);
		json_decref(st);
		if (!ready)
			time_sleep_ms(50);
	}
	ck_assert_msg(ready, "cluster never reached STEADY with every role in place; see %s",
		      L->log);
}

/* ---- asking drorchd ------------------------------------------------------------ */

json_t *tl_orch_get(const struct tl_lab *L, const char *path)
{
	char url[256], *body = NULL;
	snprintf(url, sizeof(url), "%s%s", L->url, path);
	long st = th_http("GET", url, NULL, NULL, 0, &body, NULL);
	json_t *j = st == 200 ? json_loads(body, 0, NULL) : NULL;
	free(body);
	return j;
}

long tl_orch_post(const struct tl_lab *L, const char *path, const char *body)
{
	char url[256];
	snprintf(url, sizeof(url), "%s%s", L->url, path);
	return th_http("POST", url, L->op_token, body, body ? strlen(body) : 0, NULL, NULL);
}

json_t *tl_wait_cluster(const struct tl_lab *L, const char *state, const char *primary,
			const char *not_primary, long timeout_ms)
{
	uint64_t deadline = time_mono_ms() + (uint64_t)timeout_ms;
	while (time_mono_ms() < deadline) {
		json_t *st = tl_orch_get(L, "/v1/status");
		const char *s = json_string_value(json_object_get(st, "state"));
		const char *p = json_string_value(json_object_get(st, "primary"));
		bool resting = json_is_true(json_object_get(st, "resting")) &&
			       !json_is_true(json_object_get(st, "awaits_operator"));
		bool ok = s && (state ? !strcmp(s, state) : resting) &&
			  p && *p && (!primary || !strcmp(p, primary)) &&
			  (!not_primary || strcmp(p, not_primary) != 0);
		if (ok)
			return st;
		json_decref(st);
		time_sleep_ms(50);
	}
	return NULL;
}

bool tl_all_in_role(json_t *st, const char *primary)
{
	json_t *sites = json_object_get(st, "sites");
	for (size_t i = 0; i < json_array_size(sites); i++) {
		json_t *s = json_array_get(sites, i);
		const char *name = json_string_value(json_object_get(s, "name"));
		const char *role = json_string_value(json_object_get(s, "role"));
		const char *repl = json_string_value(json_object_get(s, "replication"));
		bool ok = name && role &&
			  (!strcmp(name, primary) ? !strcmp(role, "primary")
						  : !strcmp(role, "replica") && repl &&
						    !strcmp(repl, "streaming"));
		if (!ok)
			return false;
	}
	return true;
}

const struct th_site *tl_site_named(const struct tl_lab *L, const char *name)
{
	for (int i = 0; i < L->nsites; i++)
		if (!strcmp(L->names[i], name))
			return &L->site[i];
	return NULL;
}

long long tl_status_epoch(const struct tl_lab *L)
{
	json_t *st = tl_orch_get(L, "/v1/status");
	long long e = json_integer_value(json_object_get(st, "epoch"));
	json_decref(st);
	return e;
}

/* ---- runs, failovers, audit ------------------------------------------------------ */

json_t *tl_newest_run(const struct tl_lab *L)
{
	json_t *runs = tl_orch_get(L, "/v1/runs");
	json_t *r = json_incref(json_array_get(json_object_get(runs, "runs"), 0));
	json_decref(runs);
	return r;
}

json_t *tl_newest_run_of(const struct tl_lab *L, const char *kind)
{
	json_t *runs = tl_orch_get(L, "/v1/runs"), *r, *found = NULL;
	size_t i;
	json_array_foreach(json_object_get(runs, "runs"), i, r)
		if (!found && !strcmp(json_string_value(json_object_get(r, "kind")) ?: "", kind))
			found = json_incref(r);
	json_decref(runs);
	return found;
}

json_t *tl_ended_run(const struct tl_lab *L, long timeout_ms)
{
	uint64_t deadline = time_mono_ms() + (uint64_t)timeout_ms;
	for (;;) {
		json_t *run = tl_newest_run(L);
		const char *outcome = json_string_value(json_object_get(run, "outcome"));
		if (outcome && strcmp(outcome, "running"))
			return run;
		json_decref(run);
		ck_assert_msg(time_mono_ms() < deadline, "the newest run did not end; see %s",
			      L->log);
		time_sleep_ms(50);
	}
}

const char *tl_wait_failover_from(const struct tl_lab *L, const char *from, long timeout_ms)
{
	static char name[64];
	uint64_t deadline = time_mono_ms() + (uint64_t)timeout_ms;
	while (time_mono_ms() < deadline) {
		json_t *st = tl_wait_cluster(L, NULL, NULL, NULL, 200);
		const char *p = json_string_value(json_object_get(st, "primary"));
		bool moved = p && strcmp(p, from) != 0;
		if (moved)
			snprintf(name, sizeof(name), "%s", p);
		json_decref(st);
		if (moved)
			return name;
	}
	return NULL;
}

void tl_rows(const struct tl_lab *L, char *out, size_t len)
{
	json_t *tr = tl_orch_get(L, "/v1/transitions");
	json_t *rows = json_object_get(tr, "transitions");
	out[0] = '\0';
	for (size_t i = 0; i < json_array_size(rows); i++)
		snprintf(out + strlen(out), len - strlen(out), "%s ",
			 json_string_value(json_object_get(json_array_get(rows, i), "row_id")) ?: "-");
	json_decref(tr);
}

int tl_verify_audit(const struct tl_lab *L)
{
	char *argv[] = { (char *)th_bin("drorchd"), "--config", (char *)L->cfg, "--verify-audit",
			 NULL };
	pid_t pid = th_spawn(argv, L->log);
	int st = th_wait_exit(pid, 10000);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* ---- writers that follow the primary ------------------------------------------ */

static const struct th_site *current_primary(const struct tl_lab *L)
{
	json_t *st = tl_orch_get(L, "/v1/status");
	const struct th_site *s = tl_site_named(L, json_string_value(json_object_get(st,
										    "primary")) ?: "");
	json_decref(st);
	return s;
}

static void *writer_main(void *p)
{
	struct tl_writer *w = p;
	const struct th_site *s = current_primary(w->lab);
	char key[64];
	while (!atomic_load(w->stop) && w->nacked < TL_MAX_KEYS) {
		snprintf(key, sizeof(key), "w%d-%d", w->id, w->next);
		if (s && th_site_put(s, key) == 200) {
			w->acked[w->nacked++] = w->next;
			if (w->pace_ms > 0)
				time_sleep_ms((uint64_t)w->pace_ms);
		} else {
			time_sleep_ms(20);
			s = current_primary(w->lab);
		}
		w->next++;
	}
	return NULL;
}

void tl_writers_start(const struct tl_lab *L, struct tl_writers *ws)
{
	tl_writers_start_paced(L, ws, TL_WRITERS, TL_PACE_MS);
}

void tl_writers_start_paced(const struct tl_lab *L, struct tl_writers *ws, int n, int pace_ms)
{
	atomic_store(&ws->stop, false);
	ws->n = n > 0 && n <= TL_WRITERS ? n : TL_WRITERS;
	for (int i = 0; i < ws->n; i++) {
		ws->w[i] = (struct tl_writer){ .lab = L, .id = i, .stop = &ws->stop,
					       .pace_ms = pace_ms,
					       .acked = calloc(TL_MAX_KEYS, sizeof(int)) };
		ck_assert_ptr_nonnull(ws->w[i].acked);
		pthread_create(&ws->t[i], NULL, writer_main, &ws->w[i]);
	}
}

int tl_writers_stop(struct tl_writers *ws)
{
	atomic_store(&ws->stop, true);
	int total = 0;
	for (int i = 0; i < ws->n; i++) {
		pthread_join(ws->t[i], NULL);
		total += ws->w[i].nacked;
	}
	return total;
}

void tl_writers_assert_on(const struct tl_writers *ws, const struct th_site *s)
{
	char key[64];
	for (int i = 0; i < ws->n; i++)
		for (int k = 0; k < ws->w[i].nacked; k++) {
			snprintf(key, sizeof(key), "w%d-%d", i, ws->w[i].acked[k]);
			ck_assert_msg(th_site_has(s, key), "acknowledged %s lost on %s", key, s->name);
		}
}

void tl_writers_check_on(struct tl_writers *ws, const struct th_site *s)
{
	tl_writers_assert_on(ws, s);
	for (int i = 0; i < ws->n; i++) {
		free(ws->w[i].acked);
		ws->w[i].acked = NULL;
	}
}
