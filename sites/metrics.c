/*
 * metrics.c — drsite's /metrics (see metrics.h).
 *
 * A scrape reads: the WAL's counters and positions (wal_get_stats), the map's
 * applied position, the role state and replication figures under s->mu (the
 * same peer and follower views /v1/status shows, so the two never disagree),
 * then the histograms.  Lags are exported in base units: records, bytes and
 * seconds.
 */
#include "metrics.h"
#include "format.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "histo.h"
#include "httpstats.h"
#include "procmetrics.h"
#include "site_internal.h"
#include "timeutil.h"

#define NMODES 3  /* enum repl_mode: async, sync, remote_apply */

struct site_metrics {
	struct httpstats *http;    /* every request, by route and code */
	struct histo put_seconds[NMODES];  /* by enum repl_mode */
};

struct site_metrics *site_metrics_new(void)
{
	struct site_metrics *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	if (!(m->http = httpstats_new())) {
		free(m);
		return NULL;
	}
	for (int i = 0; i < NMODES; i++)
		histo_init(&m->put_seconds[i]);
	return m;
}

void site_metrics_free(struct site_metrics *m)
{
	if (m)
		httpstats_free(m->http);
	free(m);
}

struct httpstats *site_metrics_http_stats(struct site *s)
{
	return s->metrics->http;
}

void site_metrics_put_acked(struct site *s, uint64_t start_ns)
{
	pthread_mutex_lock(&s->mu);
	enum repl_mode mode = s->role.mode;
	pthread_mutex_unlock(&s->mu);
	if ((int)mode >= 0 && (int)mode < NMODES)
		histo_observe_since(&s->metrics->put_seconds[mode], start_ns);
}

/* ---- rendering ------------------------------------------------------------- */

static void one(struct prom *p, const char *name, const char *type, const char *help,
		double v)
{
	prom_family(p, name, type, help);
	prom_value(p, name, "", v);
}

static void render_wal(struct site *s, struct prom *p)
{
	struct wal_stats ws;
	struct kv_info ki;
	wal_get_stats(s->wal, &ws);
	kv_get_info(s->kv, &ki);
	one(p, "drorch_site_writes_total", "counter",
	    "WAL records written since start (client writes and shipped records).",
	    (double)ws.records);
	one(p, "drorch_site_fsyncs_total", "counter",
	    "WAL fdatasync calls since start (one per group commit).", (double)ws.fsyncs);
	one(p, "drorch_site_wal_gather_waits_total", "counter",
	    "Group commits that waited for the writers the last one released.",
	    (double)ws.gather_waits);
	one(p, "drorch_site_wal_gather_wait_seconds_total", "counter",
	    "Time those group commits waited, in all.", (double)ws.gather_wait_ns / 1e9);
	one(p, "drorch_site_wal_bytes_total", "counter", "WAL bytes written since start.",
	    (double)ws.bytes);
	one(p, "drorch_site_lsn", "gauge", "Highest LSN handed out.", (double)ws.last_lsn);
	one(p, "drorch_site_flushed_lsn", "gauge", "Highest LSN durable here.",
	    (double)ws.flushed_lsn);
	one(p, "drorch_site_applied_lsn", "gauge", "Highest LSN applied to the map.",
	    (double)ki.applied_lsn);
	one(p, "drorch_site_keys", "gauge", "Keys held.", (double)ki.keys);
	one(p, "drorch_site_wal_segments", "gauge", "WAL segment files on disk.",
	    (double)ws.segments);
	one(p, "drorch_site_wal_failed", "gauge",
	    "1 once a WAL write or fsync failed (no more writes).", ws.failed ? 1 : 0);
	struct histo_snapshot hs;
	wal_fsync_histogram(s->wal, &hs);
	prom_family(p, "drorch_site_wal_fsync_seconds", "histogram",
		    "Duration of the WAL's fdatasync per group commit.");
	prom_histo(p, "drorch_site_wal_fsync_seconds", "", &hs);
}

static void render_checkpoints(struct site *s, struct prom *p)
{
	pthread_mutex_lock(&s->cp_mu);
	uint64_t count = s->cp_count, lsn = s->cp_lsn;
	pthread_mutex_unlock(&s->cp_mu);
	one(p, "drorch_site_checkpoints_total", "counter", "Checkpoints taken since start.",
	    (double)count);
	one(p, "drorch_site_checkpoint_lsn", "gauge", "LSN of the newest checkpoint.",
	    (double)lsn);
}

/* Under s->mu. */
static void render_role_locked(struct site *s, struct prom *p)
{
	static const enum role_kind roles[] = { ROLE_STANDALONE, ROLE_PRIMARY, ROLE_REPLICA,
						ROLE_FENCED };
	char labels[64], why[300];
	prom_family(p, "drorch_site_role", "gauge", "1 for the role this site is in, 0 for the others.");
	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
		snprintf(labels, sizeof(labels), "role=\"%s\"", role_name(roles[i]));
		prom_value(p, "drorch_site_role", labels, s->role.role == roles[i]);
	}
	one(p, "drorch_site_epoch", "gauge", "The site's epoch.", (double)s->role.epoch);
	one(p, "drorch_site_writable", "gauge", "1 while this site takes client writes.",
	    site_admits_writes_locked(s, time_mono_ms(), why, sizeof(why)));
	one(p, "drorch_site_writes_paused", "gauge",
	    "1 while a primary's client writes are paused for a switchover.", s->writes_paused);
	prom_family(p, "drorch_site_mode", "gauge",
		    "1 for the replication mode writes are acknowledged under.");
	for (int m = 0; m < NMODES; m++) {
		snprintf(labels, sizeof(labels), "mode=\"%s\"", role_mode_name((enum repl_mode)m));
		prom_value(p, "drorch_site_mode", labels, (int)s->role.mode == m);
	}
}

static double jnum(json_t *o, const char *key)
{
	return (double)json_integer_value(json_object_get(o, key));
}

/* A primary's view of each replica streaming from it; under s->mu. */
static void render_peers_locked(struct site *s, struct prom *p)
{
	static const char *const names[] = { "drorch_site_peer_lag_records",
					     "drorch_site_peer_lag_bytes",
					     "drorch_site_peer_lag_seconds" };
	static const char *const keys[] = { "lag_records", "lag_bytes", "lag_ms" };
	static const char *const helps[] = {
		"Records the replica has not acknowledged as flushed (primary's view).",
		"WAL bytes the replica has not acknowledged as flushed (primary's view).",
		"Age of the oldest record the replica has not acknowledged (primary's view).",
	};
	json_t *peers = repl_peers_json(s);
	for (int k = 0; k < 3; k++) {
		prom_family(p, names[k], "gauge", helps[k]);
		size_t i;
		json_t *peer;
		json_array_foreach(peers, i, peer) {
			char name[160], labels[200];
			prom_label_escape(json_string_value(json_object_get(peer, "name")), name,
					  sizeof(name));
			snprintf(labels, sizeof(labels), "peer=\"%s\"", name);
			double v = jnum(peer, keys[k]);
			prom_value(p, names[k], labels, k == 2 ? v / 1000.0 : v);
		}
	}
	json_decref(peers);
}

/* A replica's own lag behind its primary; under s->mu.  Zero elsewhere. */
static void render_follow_locked(struct site *s, struct prom *p)
{
	json_t *f = s->role.role == ROLE_REPLICA ? repl_follow_json(s) : NULL;
	const char *state = json_string_value(json_object_get(f, "state"));
	one(p, "drorch_site_replication_lag_records", "gauge",
	    "Replica: records its primary has that it has not applied.", jnum(f, "lag_records"));
	one(p, "drorch_site_replication_lag_seconds", "gauge",
	    "Replica: time since it was last caught up with its primary.",
	    jnum(f, "lag_ms") / 1000.0);
	one(p, "drorch_site_replication_streaming", "gauge",
	    "Replica: 1 while it streams from its primary.",
	    state && !strcmp(state, "streaming"));
	one(p, "drorch_site_snapshots_installed_total", "counter",
	    "Replica: snapshot transfers installed since start.", jnum(f, "snapshots"));
	json_decref(f);
}

static void render_latency(struct site *s, struct prom *p)
{
	struct histo_snapshot hs;
	char labels[64];
	prom_family(p, "drorch_site_put_ack_seconds", "histogram",
		    "Client PUT from request to acknowledgement, by replication mode.");
	for (int m = 0; m < NMODES; m++) {
		histo_snapshot(&s->metrics->put_seconds[m], &hs);
		snprintf(labels, sizeof(labels), "mode=\"%s\"", role_mode_name((enum repl_mode)m));
		prom_histo(p, "drorch_site_put_ack_seconds", labels, &hs);
	}
	httpstats_render(s->metrics->http, p, "drorch_http_request_duration_seconds",
			 "Time drsite's handlers took per HTTP request, by route, method and code.");
}

void site_metrics_render(struct site *s, struct http_resp *resp)
{
	struct prom p;
	char name[160], labels[640], bin[32], fcv[32];
	prom_init(&p);
	prom_label_escape(s->name, name, sizeof(name));
	version_text(&s->opts.binary, bin, sizeof(bin));
	pthread_mutex_lock(&s->mu);
	version_text(&s->role.fcv, fcv, sizeof(fcv));
	pthread_mutex_unlock(&s->mu);
	struct wal_stats ws;
	wal_get_stats(s->wal, &ws);
	/* site= as drorchd's families name a site; name= as it always was. */
	snprintf(labels, sizeof(labels), "site=\"%s\",name=\"%s\",version=\"%s\",fcv=\"%s\","
		 "format=\"%u\",formats=\"%s\"", name, name, bin, fcv, (unsigned)ws.write_format,
		 DRSITE_FORMATS);
	prom_family(&p, "drorch_site_info", "gauge",
		    "The site's name, the binary version it runs, its feature-compatibility "
		    "version, the format it writes and the formats it reads.");
	prom_value(&p, "drorch_site_info", labels, 1);
	render_wal(s, &p);
	render_checkpoints(s, &p);
	pthread_mutex_lock(&s->mu);
	render_role_locked(s, &p);
	render_peers_locked(s, &p);
	render_follow_locked(s, &p);
	pthread_mutex_unlock(&s->mu);
	render_latency(s, &p);
	prom_build_info(&p, "drsite", bin);
	prom_process(&p);
	prom_respond(&p, resp);
}
