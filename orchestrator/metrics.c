/*
 * metrics.c — drorchd's /metrics (see metrics.h).
 *
 * Families, in the order a scrape shows them: the state machine (state,
 * epoch, primary, transitions and failovers), the last failover's measured
 * RPO and RTO, what the monitor sees of each site (label site=...), the
 * webhook senders (label url=...), and the HTTP API's latency.  Times are
 * in seconds, Prometheus's base unit.
 */
#include "metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "histo.h"
#include "httpstats.h"
#include "log.h"
#include "procmetrics.h"
#include "store.h"
#include "timeutil.h"
#include "webhook.h"

/* The audit is verified at a scrape at most this often (it reads it all). */
#define AUDIT_CHECK_MS 60000u

static const char *const outcomes[] = { "succeeded", "held", "failed" };
#define NOUTCOMES (sizeof(outcomes) / sizeof(outcomes[0]))

struct orch_metrics {
	_Atomic uint64_t transitions[FSM_NROWS];  /* by index in fsm_rows */
	_Atomic uint64_t failovers[NOUTCOMES];
	struct httpstats *http;    /* every API request, by route and code */
	pthread_mutex_t audit_mu;  /* the last verification of the audit: */
	uint64_t audit_at_ms;      /* when (wall), 0 never */
	int audit_rc;              /* store_verify's answer */
};

struct orch_metrics *metrics_new(void)
{
	struct orch_metrics *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	for (size_t i = 0; i < FSM_NROWS; i++)
		atomic_init(&m->transitions[i], 0);
	for (size_t i = 0; i < NOUTCOMES; i++)
		atomic_init(&m->failovers[i], 0);
	if (!(m->http = httpstats_new())) {
		free(m);
		return NULL;
	}
	pthread_mutex_init(&m->audit_mu, NULL);
	return m;
}

void metrics_free(struct orch_metrics *m)
{
	if (m) {
		pthread_mutex_destroy(&m->audit_mu);
		httpstats_free(m->http);
	}
	free(m);
}

void metrics_transition(struct orch_metrics *m, const struct fsm_row *row)
{
	size_t i = (size_t)(row - fsm_rows);
	if (m && i < fsm_nrows)
		atomic_fetch_add(&m->transitions[i], 1);
}

void metrics_failover(struct orch_metrics *m, const char *outcome)
{
	for (size_t i = 0; m && i < NOUTCOMES; i++)
		if (strcmp(outcome, outcomes[i]) == 0)
			atomic_fetch_add(&m->failovers[i], 1);
}

struct httpstats *metrics_http_stats(struct orch *o)
{
	return o->metrics->http;
}

/* ---- rendering ------------------------------------------------------------------ */

static void render_fsm(struct orch *o, json_t *status, struct prom *p)
{
	const char *state = json_string_value(json_object_get(status, "state"));
	char labels[256], esc[160];
	prom_family(p, "drorch_fsm_state", "gauge", "1 for the state the cluster is in, 0 for the others.");
	for (int s = 0; s < FSM_NSTATES; s++) {
		snprintf(labels, sizeof(labels), "state=\"%s\"", fsm_state_names[s]);
		prom_value(p, "drorch_fsm_state", labels, state && !strcmp(state, fsm_state_names[s]));
	}
	prom_family(p, "drorch_epoch", "gauge", "The cluster's epoch (bumped by every fence).");
	prom_value(p, "drorch_epoch", "", (double)json_integer_value(json_object_get(status, "epoch")));
	prom_family(p, "drorch_primary", "gauge", "1 for the site the cluster row names primary.");
	prom_label_escape(json_string_value(json_object_get(status, "primary")), esc, sizeof(esc));
	snprintf(labels, sizeof(labels), "site=\"%s\"", esc);
	prom_value(p, "drorch_primary", labels, 1);
	prom_family(p, "drorch_run_in_progress", "gauge", "1 while a failover run is in progress.");
	prom_value(p, "drorch_run_in_progress", "",
		   json_integer_value(json_object_get(status, "run")) != 0);
	prom_family(p, "drorch_transitions_total", "counter",
		    "Transitions committed since start, by FSM table row.");
	for (size_t i = 0; i < fsm_nrows; i++) {
		const struct fsm_row *r = &fsm_rows[i];
		if (r->kind != FSM_TRANSITION)
			continue;
		snprintf(labels, sizeof(labels), "row=\"%s\",from=\"%s\",event=\"%s\",to=\"%s\"",
			 r->id, fsm_state_names[r->from], fsm_event_names[r->event],
			 fsm_state_names[r->to]);
		prom_value(p, "drorch_transitions_total", labels,
			   (double)atomic_load(&o->metrics->transitions[i]));
	}
	prom_family(p, "drorch_failovers_total", "counter", "Failover runs ended since start, by outcome.");
	for (size_t i = 0; i < NOUTCOMES; i++) {
		snprintf(labels, sizeof(labels), "outcome=\"%s\"", outcomes[i]);
		prom_value(p, "drorch_failovers_total", labels,
			   (double)atomic_load(&o->metrics->failovers[i]));
	}
}

/* One figure of the last run: no sample when it was not measured. */
static void run_figure(struct prom *p, json_t *run, const char *key, const char *name,
		       const char *help, double scale)
{
	json_t *v = json_object_get(run, key);
	prom_family(p, name, "gauge", help);
	if (json_is_integer(v))
		prom_value(p, name, "", (double)json_integer_value(v) * scale);
}

/* The newest failover run that has ended, from the store. */
static void render_last_run(struct orch *o, struct prom *p)
{
	json_t *runs = store_runs_json(o->store, 20), *run, *last = NULL;
	size_t i;
	json_array_foreach(runs, i, run) {
		const char *kind = json_string_value(json_object_get(run, "kind"));
		const char *outcome = json_string_value(json_object_get(run, "outcome"));
		if (kind && !strcmp(kind, "failover") && outcome && strcmp(outcome, "running")) {
			last = run;
			break;
		}
	}
	run_figure(p, last, "rpo_records", "drorch_last_failover_rpo_records",
		   "Records the last failover's new primary lacked (measured RPO).", 1);
	run_figure(p, last, "rpo_ms", "drorch_last_failover_rpo_seconds",
		   "Time span of writes the last failover's new primary lacked (measured RPO).", 1e-3);
	run_figure(p, last, "rto_ms", "drorch_last_failover_rto_seconds",
		   "Last failover: last good heartbeat to first acknowledged write (measured RTO).",
		   1e-3);
	run_figure(p, last, "ended_ms", "drorch_last_failover_end_timestamp_seconds",
		   "When the last failover run ended (Unix time).", 1e-3);
	json_decref(runs);
}

struct site_family {
	const char *name, *key, *help;
	double scale;
};

static const struct site_family site_families[] = {
	{ "drorch_monitor_site_up", "healthy", "1 while the site answers the monitor.", 1 },
	{ "drorch_monitor_site_epoch", "epoch", "The epoch the site reported.", 1 },
	{ "drorch_monitor_site_lsn", "lsn", "The site's last LSN, as last seen.", 1 },
	{ "drorch_monitor_site_flushed_lsn", "flushed_lsn", "The site's flushed LSN, as last seen.", 1 },
	{ "drorch_monitor_site_replication_lag_seconds", "lag_ms",
	  "A replica's replication lag, as it reported it.", 1e-3 },
	{ "drorch_monitor_site_last_seen_seconds", "last_seen_ms_ago",
	  "Time since the site last answered the monitor.", 1e-3 },
	{ "drorch_monitor_site_replication_lag_records", "lag_records",
	  "A replica's replication lag in records, as it reported it.", 1 },
	{ "drorch_monitor_site_rpo_breached", "rpo_breached",
	  "1 while a replica lags past the policy's RPO (in ms, or in records).", 1 },
	{ "drorch_monitor_site_canary_failures", "canary_failures",
	  "Consecutive canary writes to the primary that failed or were slow (2 fail it over).",
	  1 },
};

static double jnum(json_t *v)
{
	return json_is_boolean(v) ? json_is_true(v) : (double)json_integer_value(v);
}

/* The monitor's views, as /v1/status shows them. */
static void render_sites(json_t *status, struct prom *p)
{
	json_t *sites = json_object_get(status, "sites"), *site;
	char labels[512], esc[160];
	size_t i;
	for (size_t f = 0; f < sizeof(site_families) / sizeof(site_families[0]); f++) {
		const struct site_family *sf = &site_families[f];
		prom_family(p, sf->name, "gauge", sf->help);
		json_array_foreach(sites, i, site) {
			prom_label_escape(json_string_value(json_object_get(site, "name")), esc, sizeof(esc));
			snprintf(labels, sizeof(labels), "site=\"%s\"", esc);
			prom_value(p, sf->name, labels, jnum(json_object_get(site, sf->key)) * sf->scale);
		}
	}
	prom_family(p, "drorch_monitor_site_info", "gauge",
		    "1 per site, labelled with the binary version, the feature-compatibility "
		    "version and the format it writes, as it reports them.");
	json_array_foreach(sites, i, site) {
		char v[64], f[64];
		prom_label_escape(json_string_value(json_object_get(site, "name")), esc, sizeof(esc));
		prom_label_escape(json_string_value(json_object_get(site, "version")) ?: "", v, sizeof(v));
		prom_label_escape(json_string_value(json_object_get(site, "fcv")) ?: "", f, sizeof(f));
		snprintf(labels, sizeof(labels), "site=\"%s\",version=\"%s\",fcv=\"%s\",format=\"%lld\"",
			 esc, v, f, (long long)json_integer_value(json_object_get(site, "format")));
		prom_value(p, "drorch_monitor_site_info", labels, 1);
	}
	static const char *const roles[] = { "primary", "replica", "fenced", "down" };
	prom_family(p, "drorch_monitor_site_role", "gauge",
		    "1 for the role the site is in (primary, replica, fenced, down).");
	json_array_foreach(sites, i, site) {
		const char *role = json_string_value(json_object_get(site, "role"));
		prom_label_escape(json_string_value(json_object_get(site, "name")), esc, sizeof(esc));
		for (size_t r = 0; r < sizeof(roles) / sizeof(roles[0]); r++) {
			snprintf(labels, sizeof(labels), "site=\"%s\",role=\"%s\"", esc, roles[r]);
			prom_value(p, "drorch_monitor_site_role", labels, role && !strcmp(role, roles[r]));
		}
	}
}

static void render_webhooks(struct orch *o, struct prom *p)
{
	struct webhook_stats st[CONFIG_MAX_WEBHOOKS];
	int n = webhook_stats(o->webhooks, st, CONFIG_MAX_WEBHOOKS);
	static const struct { const char *name, *type, *help; size_t off; } fams[] = {
		{ "drorch_webhook_deliveries_total", "counter", "Webhook bodies delivered (2xx).",
		  offsetof(struct webhook_stats, delivered) },
		{ "drorch_webhook_failures_total", "counter", "Webhook attempts that failed.",
		  offsetof(struct webhook_stats, failures) },
		{ "drorch_webhook_gave_up_total", "counter", "Webhook bodies dropped after every retry.",
		  offsetof(struct webhook_stats, gave_up) },
		{ "drorch_webhook_dropped_total", "counter", "Webhook bodies dropped from a full queue.",
		  offsetof(struct webhook_stats, dropped) },
		{ "drorch_webhook_queue_length", "gauge", "Webhook bodies waiting to be sent.",
		  offsetof(struct webhook_stats, queued) },
	};
	char labels[CONFIG_URL_MAX * 2 + 16], esc[CONFIG_URL_MAX * 2];
	for (size_t f = 0; f < sizeof(fams) / sizeof(fams[0]); f++) {
		prom_family(p, fams[f].name, fams[f].type, fams[f].help);
		for (int i = 0; i < n; i++) {
			uint64_t v;
			memcpy(&v, (const char *)&st[i] + fams[f].off, sizeof(v));
			prom_label_escape(st[i].url, esc, sizeof(esc));
			snprintf(labels, sizeof(labels), "url=\"%s\"", esc);
			prom_value(p, fams[f].name, labels, (double)v);
		}
	}
}

/* High availability (ha.h): this instance's role, term and log position. */
static void render_ha(json_t *status, struct prom *p)
{
	json_t *ha = json_object_get(status, "ha");
	bool on = json_is_true(json_object_get(ha, "enabled"));
	const char *role = on ? json_string_value(json_object_get(ha, "role")) : "leader";
	char labels[96];
	prom_family(p, "drorch_ha_role", "gauge",
		    "1 for this instance's role (leader, follower, candidate; a single drorchd leads).");
	static const char *const roles[] = { "leader", "follower", "candidate" };
	for (int i = 0; i < 3; i++) {
		snprintf(labels, sizeof(labels), "role=\"%s\"", roles[i]);
		prom_value(p, "drorch_ha_role", labels, role && !strcmp(role, roles[i]));
	}
	prom_family(p, "drorch_ha_acting", "gauge",
		    "1 while this instance may act on the sites (it leads and its lease holds).");
	prom_value(p, "drorch_ha_acting", "", !on || json_is_true(json_object_get(ha, "ready")));
	if (!on)
		return;
	prom_family(p, "drorch_ha_applied_index", "gauge",
		    "The last operation of the cluster's log in etcd this instance's store holds.");
	prom_value(p, "drorch_ha_applied_index", "",
		   (double)json_integer_value(json_object_get(ha, "applied")));
	prom_family(p, "drorch_ha_mirror_ok", "gauge",
		    "0 once this instance's store could not apply the log (it no longer campaigns).");
	prom_value(p, "drorch_ha_mirror_ok", "",
		   !strcmp(json_string_value(json_object_get(ha, "mirror")) ?: "", "ok"));
}

/* drorch_audit_ok and when it was found: the whole audit verified as
 * --verify-audit does, at most every AUDIT_CHECK_MS (one scrape at a time
 * does it; the others show the last answer). */
static void render_audit(struct orch *o, struct prom *p)
{
	struct orch_metrics *m = o->metrics;
	pthread_mutex_lock(&m->audit_mu);
	uint64_t now = time_wall_ms();
	if (!m->audit_at_ms || now - m->audit_at_ms >= AUDIT_CHECK_MS) {
		struct store_audit_report r;
		char err[600];
		m->audit_rc = store_verify_path(o->cfg.db, o->cfg.audit_key_file, &r, err,
						sizeof(err));
		m->audit_at_ms = now;
		if (m->audit_rc != 0)
			log_event(LOG_ERROR, "metrics.audit_not_intact", "{s:i, s:s}", "rc",
				  m->audit_rc, "error", m->audit_rc == 1 ? r.first_bad : err);
	}
	int rc = m->audit_rc;
	uint64_t at = m->audit_at_ms;
	pthread_mutex_unlock(&m->audit_mu);
	prom_family(p, "drorch_audit_ok", "gauge",
		    "1 when the audit (transition chain, events, runs, policies, head file) "
		    "verified intact, 0 when broken or unverifiable (drorchd --verify-audit says why).");
	prom_value(p, "drorch_audit_ok", "", rc == 0);
	prom_family(p, "drorch_audit_verified_timestamp_seconds", "gauge",
		    "When drorch_audit_ok was last found.");
	prom_value(p, "drorch_audit_verified_timestamp_seconds", "", (double)at / 1000.0);
}

void metrics_orch(struct orch *o, struct http_resp *resp)
{
	struct prom p;
	prom_init(&p);
	json_t *status = orch_status_json(o);
	render_fsm(o, status, &p);
	render_last_run(o, &p);
	render_sites(status, &p);
	render_ha(status, &p);
	json_decref(status);
	render_webhooks(o, &p);
	render_audit(o, &p);
	httpstats_render(o->metrics->http, &p, "drorch_http_request_duration_seconds",
			 "Time drorchd's REST handlers took per HTTP request, by route, method and "
			 "code.");
	prom_build_info(&p, "drorchd", PACKAGE_VERSION);
	prom_process(&p);
	prom_respond(&p, resp);
}
