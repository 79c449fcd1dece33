/*
 * benchload.c — the lab benches' client write load (see benchload.h).
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "benchload.h"
#include "httpc.h"
#include "timeutil.h"

/* ---- the writers ------------------------------------------------------------ */

/* A writer's acknowledgement: the time since its previous one (counted from
 * when gaps were turned on) is a gap that writer saw. */
static void note_ack(struct bench_load *l, struct bench_writer *w)
{
	uint64_t now = time_mono_ms();
	pthread_mutex_lock(&l->mu);
	if (l->gaps_on) {
		uint64_t since = w->last_ack_ms > l->gaps_from_ms ? w->last_ack_ms : l->gaps_from_ms;
		if (now - since > l->gap_ms)
			l->gap_ms = now - since;
	}
	w->last_ack_ms = now;
	pthread_mutex_unlock(&l->mu);
}

static void *writer_main(void *arg)
{
	struct bench_writer *w = arg;
	char key[64];
	while (!atomic_load(&w->l->stop)) {
		snprintf(key, sizeof(key), "w%d-%llu", w->id, (unsigned long long)w->n);
		if (w->l->write(w->l, w->id, key)) {
			w->n++;
			note_ack(w->l, w);
		} else {
			w->failed++;
			time_sleep_ms(5);
		}
	}
	return NULL;
}

void bench_load_start(struct bench_load *l, int nw, bench_write_fn write)
{
	sigset_t block, was;
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	l->write = write;
	l->nw = nw;
	atomic_store(&l->stop, false);
	pthread_mutex_init(&l->mu, NULL);
	pthread_sigmask(SIG_BLOCK, &block, &was);  /* inherited by the writers */
	for (int i = 0; i < nw; i++) {
		l->w[i] = (struct bench_writer){ .l = l, .id = i, .fd = -1 };
		pthread_create(&l->w[i].th, NULL, writer_main, &l->w[i]);
	}
	pthread_sigmask(SIG_SETMASK, &was, NULL);
}

void bench_load_gaps(struct bench_load *l, bool on)
{
	pthread_mutex_lock(&l->mu);
	uint64_t now = time_mono_ms();
	if (on) {
		l->gap_ms = 0;
		l->gaps_from_ms = now;
	} else {
		for (int i = 0; i < l->nw; i++) {
			uint64_t since = l->w[i].last_ack_ms > l->gaps_from_ms ? l->w[i].last_ack_ms
									       : l->gaps_from_ms;
			if (now - since > l->gap_ms)
				l->gap_ms = now - since;
		}
	}
	l->gaps_on = on;
	pthread_mutex_unlock(&l->mu);
}

void bench_load_stop(struct bench_load *l, struct bench_load_figures *out)
{
	atomic_store(&l->stop, true);
	*out = (struct bench_load_figures){ .gap_ms = 0 };
	for (int i = 0; i < l->nw; i++) {
		pthread_join(l->w[i].th, NULL);
		out->acked += l->w[i].n;
		out->failed += l->w[i].failed;
	}
	out->gap_ms = l->gap_ms;
}

void bench_load_free(struct bench_load *l)
{
	for (int i = 0; i < l->nw; i++) {
		httpc_free(l->w[i].http);
		l->w[i].http = NULL;
	}
	pthread_mutex_destroy(&l->mu);
}

void bench_load_target_get(struct bench_load *l, char *out, size_t len)
{
	pthread_mutex_lock(&l->mu);
	snprintf(out, len, "%s", l->target);
	pthread_mutex_unlock(&l->mu);
}

void bench_load_target_set(struct bench_load *l, const char *target)
{
	pthread_mutex_lock(&l->mu);
	snprintf(l->target, sizeof(l->target), "%s", target);
	pthread_mutex_unlock(&l->mu);
}

/* ---- drorch ----------------------------------------------------------------- */

json_t *bench_orch_json(const char *token, const char *method, const char *url,
			const char *body, long *status)
{
	struct httpc *c = httpc_new();
	struct httpc_resp r;
	char err[256];
	json_t *j = NULL;
	*status = 0;
	if (c && httpc_request(c, method, url, token, body, body ? strlen(body) : 0, 5000, &r,
			       err, sizeof(err)) == 0) {
		*status = r.status;
		j = json_loadb(r.body, r.body_len, 0, NULL);
		httpc_resp_free(&r);
	}
	httpc_free(c);
	return j;
}

bool bench_drorch_write(struct bench_load *l, int wi, const char *key)
{
	struct bench_writer *w = &l->w[wi];
	char base[128], url[256], err[256];
	bench_load_target_get(l, base, sizeof(base));
	if (!base[0])
		return false;
	if (!w->http && !(w->http = httpc_new()))
		return false;
	snprintf(url, sizeof(url), "%s/v1/kv/%s", base, key);
	struct httpc_resp r;
	if (httpc_request(w->http, "PUT", url, NULL, key, strlen(key), 3000, &r, err,
			  sizeof(err)) != 0)
		return false;
	bool ok = r.status == 200;
	httpc_resp_free(&r);
	return ok;
}

void bench_drorch_follow(const struct lab *lab, const char *orch_url, const char *token,
			 struct bench_load *l)
{
	char url[256];
	long st;
	if (!orch_url)
		return;
	snprintf(url, sizeof(url), "%s/v1/status", orch_url);
	json_t *j = bench_orch_json(token, "GET", url, NULL, &st);
	const char *p = json_string_value(json_object_get(j, "primary"));
	for (int i = 0; p && i < lab->nsites; i++)
		if (!strcmp(lab->sites[i].name, p))
			bench_load_target_set(l, lab->sites[i].url);
	json_decref(j);
}

uint64_t bench_drorch_lost(struct bench_load *l)
{
	char base[128], url[256], err[256], key[64];
	bench_load_target_get(l, base, sizeof(base));
	struct httpc *c = httpc_new();
	uint64_t lost = 0;
	for (int i = 0; i < l->nw; i++)
		for (uint64_t k = 0; k < l->w[i].n; k++) {
			struct httpc_resp r;
			snprintf(key, sizeof(key), "w%d-%llu", i, (unsigned long long)k);
			snprintf(url, sizeof(url), "%s/v1/kv/%s", base, key);
			bool ok = c && httpc_request(c, "GET", url, NULL, NULL, 0, 5000, &r, err,
						     sizeof(err)) == 0;
			if (!ok || r.status != 200 || r.body_len != strlen(key) ||
			    memcmp(r.body, key, r.body_len))
				lost++;
			if (ok)
				httpc_resp_free(&r);
		}
	httpc_free(c);
	return lost;
}
