/*
 * report.c — post-mortem reports of a run (see report.h).
 *
 * The story, in order: the formats; the verdict; the state diagram's
 * layout; the model (one JSON object built from the RunDetail, the targets
 * and the audit); a small string builder with escaping; the Markdown
 * rendering; the HTML rendering with its two SVG pictures.  Both renderings
 * read the model only, so the three formats cannot say different things.
 */
#include "report.h"

#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "decide.h"

/* ---- formats ------------------------------------------------------------------ */

static const char *const format_names[] = { "md", "html", "json" };
static const char *const content_types[] = { "text/markdown; charset=utf-8",
	"text/html; charset=utf-8", "application/json" };

int report_format_by_name(const char *name, enum report_format *out)
{
	for (int f = REPORT_MD; f <= REPORT_JSON; f++)
		if (name && !strcmp(name, format_names[f])) {
			*out = (enum report_format)f;
			return 0;
		}
	return -1;
}

const char *report_content_type(enum report_format f)
{
	return content_types[f];
}

/* ---- the verdict ---------------------------------------------------------------- */

const char *report_verdict_name(enum report_verdict v)
{
	return v == REPORT_MET ? "met" : v == REPORT_MISSED ? "missed" : "unknown";
}

static enum report_verdict from_decide(enum target_verdict v)
{
	return v == TARGET_MET ? REPORT_MET : v == TARGET_MISSED ? REPORT_MISSED : REPORT_UNKNOWN;
}

/* decide_verdict's judgement (the one finish_run records), for a run that
 * recorded none: no target (< 0) is never missed; no RTO target, no RTO
 * verdict. */
void report_judge(const struct report_measured *m, const struct report_targets *t,
		  const char *slowest_phase, struct report_judgement *out)
{
	struct run_measure rm = { .rto_ms = m->rto_ms, .slowest = -1 };
	struct verdict_in in = {
		.measure = &rm, .unmeasured_ms = -1, .rpo_ms = m->rpo_ms,
		.rpo_records = m->rpo_records,
		.rpo_ms_max = t->rpo_ms < 0 ? (uint64_t)INT64_MAX : (uint64_t)t->rpo_ms,
		.rpo_records_max = t->rpo_records > 0 ? (uint64_t)t->rpo_records : 0,
		.rto_ms_max = t->rto_ms < 0 ? (uint64_t)INT64_MAX : (uint64_t)t->rto_ms,
	};
	struct run_verdict v;
	decide_verdict(&in, &v);
	out->rpo = from_decide(v.rpo);
	out->rto = t->rto_ms < 0 ? REPORT_UNKNOWN : from_decide(v.rto);
	out->rto_overrun_phase = out->rto == REPORT_MISSED ? slowest_phase : NULL;
}

/* ---- the state diagram's layout ------------------------------------------------------ */

/* BFS distance of each state from the steady state; -1: unreachable. */
static void fsm_distances(int dist[FSM_NSTATES])
{
	int queue[FSM_NSTATES], head = 0, tail = 0;
	for (int s = 0; s < FSM_NSTATES; s++)
		dist[s] = -1;
	dist[FSM_STEADY] = 0;
	queue[tail++] = FSM_STEADY;
	while (head < tail) {
		int s = queue[head++];
		for (size_t i = 0; i < fsm_nrows; i++) {
			const struct fsm_row *r = &fsm_rows[i];
			if (r->kind == FSM_TRANSITION && (int)r->from == s && dist[r->to] < 0) {
				dist[r->to] = dist[s] + 1;
				queue[tail++] = (int)r->to;
			}
		}
	}
}

/* Mean row (x1000) of s's predecessors in the column before its own;
 * INT_MAX without one. */
static int barycenter(const struct report_layout *l, int s)
{
	long sum = 0, n = 0;
	for (size_t i = 0; i < fsm_nrows; i++) {
		const struct fsm_row *r = &fsm_rows[i];
		if (r->kind == FSM_TRANSITION && (int)r->to == s && l->col[r->from] == l->col[s] - 1) {
			sum += l->row[r->from];
			n++;
		}
	}
	return n ? (int)(sum * 1000 / n) : INT_MAX;
}

/* Orders column c (its rows already set in enum order) by barycenter. */
static void order_column(struct report_layout *l, int c)
{
	int member[FSM_NSTATES], key[FSM_NSTATES], n = 0;
	for (int s = 0; s < FSM_NSTATES; s++)
		if (l->col[s] == c) {
			key[n] = barycenter(l, s);
			member[n++] = s;
		}
	for (int i = 1; i < n; i++)  /* insertion sort: stable, enum order on ties */
		for (int j = i; j > 0 && key[j - 1] > key[j]; j--) {
			int k = key[j], m = member[j];
			key[j] = key[j - 1], member[j] = member[j - 1];
			key[j - 1] = k, member[j - 1] = m;
		}
	for (int i = 0; i < n; i++)
		l->row[member[i]] = i;
}

void report_fsm_layout(struct report_layout *out)
{
	int dist[FSM_NSTATES], last = 0;
	fsm_distances(dist);
	for (int s = 0; s < FSM_NSTATES; s++)
		last = dist[s] > last ? dist[s] : last;
	memset(out, 0, sizeof(*out));
	for (int s = 0; s < FSM_NSTATES; s++) {
		int c = dist[s] >= 0 ? dist[s] : last + 1;
		out->col[s] = c;
		out->row[s] = out->height[c]++;
		out->ncols = c + 1 > out->ncols ? c + 1 : out->ncols;
		out->nrows = out->height[c] > out->nrows ? out->height[c] : out->nrows;
	}
	for (int c = 1; c < out->ncols; c++)
		order_column(out, c);
}

/* ---- the model ------------------------------------------------------------------ */

/* An integer field; -1 when null, missing or not an integer. */
static int64_t int_or_none(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);
	return json_is_integer(v) ? (int64_t)json_integer_value(v) : -1;
}

/* o[key] as a new reference, JSON null when missing. */
static json_t *field(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return v ? json_incref(v) : json_null();
}

/* A figure for JSON: an integer, or null when < 0 (not measured, no target). */
static json_t *figure(int64_t v)
{
	return v >= 0 ? json_integer((json_int_t)v) : json_null();
}

static json_t *model_run(const json_t *run)
{
	return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "id", field(run, "id"),
			 "kind", field(run, "kind"), "actor", field(run, "actor"),
			 "outcome", field(run, "outcome"), "from_site", field(run, "from_site"),
			 "target", field(run, "target"), "epoch", field(run, "epoch"),
			 "started_ms", field(run, "started_ms"), "ended_ms", field(run, "ended_ms"));
}

/* The run's own targets (detail.targets) when it has them, else the policy's. */
static void resolve_targets(const struct report_input *in, struct report_targets *t,
			    const char **source)
{
	const json_t *rt = json_object_get(json_object_get(in->run, "detail"), "targets");
	*t = in->policy_targets;
	*source = "policy";
	if (json_is_object(rt)) {
		*t = (struct report_targets){ int_or_none(rt, "rpo_records"), int_or_none(rt, "rpo_ms"),
					      int_or_none(rt, "rto_ms") };
		*source = "run";
	}
}

/* detail.verdict when the run recorded one, else report_judge's. */
static json_t *model_verdict(const json_t *run, const struct report_targets *t)
{
	const json_t *detail = json_object_get(run, "detail");
	const json_t *rv = json_object_get(detail, "verdict");
	if (json_is_object(rv) && json_is_string(json_object_get(rv, "rpo")) &&
	    json_is_string(json_object_get(rv, "rto")))
		return json_pack("{s:o, s:o, s:o, s:s}", "rpo", field(rv, "rpo"), "rto",
				 field(rv, "rto"), "rto_overrun_phase",
				 field(rv, "rto_overrun_phase"), "source", "run");
	struct report_measured m = { int_or_none(run, "rpo_records"), int_or_none(run, "rpo_ms"),
				     int_or_none(run, "rto_ms") };
	struct report_judgement j;
	report_judge(&m, t, json_string_value(json_object_get(detail, "slowest_phase")), &j);
	return json_pack("{s:s, s:s, s:s?, s:s}", "rpo", report_verdict_name(j.rpo), "rto",
			 report_verdict_name(j.rto), "rto_overrun_phase", j.rto_overrun_phase,
			 "source", "computed");
}

struct mark {
	const char *name;
	int64_t ms;
};

static int mark_cmp(const void *a, const void *b)
{
	const struct mark *x = a, *y = b;
	return x->ms != y->ms ? (x->ms > y->ms) - (x->ms < y->ms) : strcmp(x->name, y->name);
}

/* Where unavailability began: the failed primary's last good heartbeat, a
 * switchover's pause, else the run's start. */
static int64_t timeline_origin(const json_t *run)
{
	const json_t *ts = json_object_get(run, "timestamps");
	int64_t t0 = int_or_none(ts, "last_good_heartbeat");
	if (t0 <= 0)
		t0 = int_or_none(ts, "writes_paused");
	return t0 > 0 ? t0 : int_or_none(run, "started_ms");
}

/* The run's instants in time order, each with its offset from the origin. */
static json_t *model_timeline(const json_t *run)
{
	const json_t *ts = json_object_get(run, "timestamps");
	size_t n = 0, cap = json_object_size(ts);
	struct mark *m = calloc(cap ? cap : 1, sizeof(*m));
	json_t *out = json_array(), *v;
	const char *key;
	if (!m || !out)
		goto fail;
	json_object_foreach((json_t *)ts, key, v)
		if (json_is_integer(v))
			m[n++] = (struct mark){ key, (int64_t)json_integer_value(v) };
	qsort(m, n, sizeof(*m), mark_cmp);
	int64_t t0 = timeline_origin(run);
	for (size_t i = 0; i < n; i++)
		if (json_array_append_new(out, json_pack("{s:s, s:I, s:I}", "name", m[i].name, "ts_ms",
							 (json_int_t)m[i].ms, "offset_ms",
							 (json_int_t)(m[i].ms - t0))))
			goto fail;
	free(m);
	return out;
fail:
	free(m);
	json_decref(out);
	return NULL;
}

static json_t *model_path(const json_t *run)
{
	json_t *out = json_array(), *t;
	size_t i;
	json_array_foreach(json_object_get(run, "transitions"), i, t)
		if (!out || json_array_append_new(out, json_pack(
			    "{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "seq", field(t, "seq"),
			    "from", field(t, "from_state"), "to", field(t, "to_state"),
			    "row", field(t, "row_id"), "event", field(t, "event"),
			    "ts_ms", field(t, "ts_ms"), "epoch", field(t, "epoch"),
			    "actor", field(t, "actor"), "reason", field(t, "reason")))) {
			json_decref(out);
			return NULL;
		}
	return out;
}

/* The numeric keys of detail.write_load, or null when it has none. */
static json_t *model_write_load(const json_t *detail)
{
	const json_t *wl = json_object_get(detail, "write_load");
	json_t *out = json_object(), *v;
	const char *key;
	if (!out)
		return NULL;
	json_object_foreach((json_t *)wl, key, v)
		if (json_is_number(v) && json_object_set(out, key, v)) {
			json_decref(out);
			return NULL;
		}
	if (json_object_size(out))
		return out;
	json_decref(out);
	return json_null();
}

static json_t *model_steps(const json_t *run)
{
	json_t *out = json_array(), *s;
	size_t i;
	json_array_foreach(json_object_get(run, "steps"), i, s)
		if (!out || json_array_append_new(out, json_pack("{s:o, s:o, s:o, s:o, s:o}",
			    "seq", field(s, "seq"), "ts_ms", field(s, "ts_ms"), "name", field(s, "name"),
			    "status", field(s, "status"), "detail", field(s, "detail")))) {
			json_decref(out);
			return NULL;
		}
	return out;
}

static json_t *model_audit(const struct report_input *in)
{
	const struct store_audit_report *r = in->audit;
	if (in->audit_rc < 0 || !r)
		return json_pack("{s:s, s:b, s:s}", "state", "unknown", "verified", 0, "error",
				 in->audit_error ? in->audit_error : "the audit could not be checked");
	json_t *rows = json_pack("{s:o, s:o, s:o, s:o, s:o}", "transitions", figure(r->transitions),
				 "audit_events", figure(r->audit_events), "runs", figure(r->runs),
				 "run_steps", figure(r->run_steps), "policies", figure(r->policies));
	if (in->audit_rc == 0)
		return json_pack("{s:s, s:b, s:o, s:b, s:s}", "state", "ok", "verified", 1, "rows", rows,
				 "macs", r->macs, "head", store_head_state_name(r->head.state));
	return json_pack("{s:s, s:b, s:o, s:{s:s, s:I, s:s}}", "state", "broken", "verified", 0,
			 "rows", rows, "where", "table", r->bad_table, "seq", (json_int_t)r->bad_seq,
			 "what", r->first_bad);
}

json_t *report_json(const struct report_input *in)
{
	const json_t *run = in->run, *detail = json_object_get(run, "detail");
	if (!json_is_object(run))
		return NULL;
	struct report_targets t;
	const char *source;
	resolve_targets(in, &t, &source);
	json_t *phases = json_object_get(detail, "phases_ms");
	return json_pack("{s:o, s:{s:o, s:o, s:o, s:s}, s:{s:o, s:o, s:o}, s:o, s:o, s:o, s:O?,"
			 " s:o, s:o, s:o, s:o}",
			 "run", model_run(run),
			 "targets", "rpo_records", figure(t.rpo_records), "rpo_ms", figure(t.rpo_ms),
			 "rto_ms", figure(t.rto_ms), "source", source,
			 "measured", "rpo_records", field(run, "rpo_records"), "rpo_ms",
			 field(run, "rpo_ms"), "rto_ms", field(run, "rto_ms"),
			 "verdict", model_verdict(run, &t), "timeline", model_timeline(run),
			 "path", model_path(run), "phases_ms", json_is_object(phases) ? phases : NULL,
			 "slowest_phase", field(detail, "slowest_phase"),
			 "write_load", model_write_load(detail), "steps", model_steps(run),
			 "audit", model_audit(in));
}

/* ---- a string builder --------------------------------------------------------------- */

struct sb {
	char *buf;
	size_t len, cap;
	bool oom;
};

static void sb_grow(struct sb *b, size_t more)
{
	if (b->oom || b->len + more < b->cap)
		return;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap <= b->len + more)
		cap *= 2;
	char *nb = realloc(b->buf, cap);
	if (!nb) {
		b->oom = true;
		return;
	}
	b->buf = nb;
	b->cap = cap;
}

static void sb_printf(struct sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(struct sb *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	sb_grow(b, n > 0 ? (size_t)n + 1 : 1);
	if (b->oom || n <= 0)
		return;
	va_start(ap, fmt);
	vsnprintf(b->buf + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* s with & < > " ' as entities (HTML text and attributes); in a Markdown
 * cell & < > as entities (no markup gets through), | escaped and line
 * breaks as spaces (either would end the cell). */
static void sb_escaped(struct sb *b, const char *s, bool md_cell)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&': sb_printf(b, "&amp;"); break;
		case '<': sb_printf(b, "&lt;"); break;
		case '>': sb_printf(b, "&gt;"); break;
		case '"': sb_printf(b, md_cell ? "\"" : "&quot;"); break;
		case '\'': sb_printf(b, md_cell ? "'" : "&#39;"); break;
		case '|': sb_printf(b, md_cell ? "\\|" : "|"); break;
		case '\n': case '\r': sb_printf(b, "%c", md_cell ? ' ' : *s); break;
		default: sb_printf(b, "%c", *s);
		}
	}
}

/* The caller's string, or NULL (freed) when memory ran out. */
static char *sb_finish(struct sb *b)
{
	if (b->oom || !b->buf) {
		free(b->buf);
		return NULL;
	}
	return b->buf;
}

/* Any JSON value as text: a string as is, null as "-", others compact. */
static void sb_value(struct sb *b, const json_t *v, bool md_cell)
{
	if (json_is_string(v)) {
		sb_escaped(b, json_string_value(v), md_cell);
	} else if (!v || json_is_null(v)) {
		sb_printf(b, "-");
	} else {
		char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(6));
		if (!text)
			b->oom = true;
		sb_escaped(b, text, md_cell);
		free(text);
	}
}

static void sb_field(struct sb *b, const json_t *o, const char *key, bool md_cell)
{
	sb_value(b, json_object_get(o, key), md_cell);
}

/* A moment (ms since the Unix epoch) as ISO 8601 UTC; "-" for none. */
static const char *utc(const json_t *ms_value, char *buf, size_t len)
{
	if (!json_is_integer(ms_value) || json_integer_value(ms_value) <= 0)
		return "-";
	json_int_t ms = json_integer_value(ms_value);
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;
	char day[32];
	if (!gmtime_r(&secs, &tm) || !strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm))
		return "-";
	snprintf(buf, len, "%s.%03dZ", day, (int)(ms % 1000));
	return buf;
}

/* ---- Markdown -------------------------------------------------------------------- */

static const char *const header_keys[] = { "id", "kind", "actor", "outcome", "from_site",
	"target", "epoch", "started_ms", "ended_ms", NULL };

static void md_header(struct sb *b, const json_t *run)
{
	char t[40];
	sb_printf(b, "# Run %" JSON_INTEGER_FORMAT ": ", json_integer_value(json_object_get(run, "id")));
	sb_field(b, run, "kind", true);
	sb_printf(b, " (");
	sb_field(b, run, "outcome", true);
	sb_printf(b, ")\n\n| field | value |\n|---|---|\n");
	for (int i = 0; header_keys[i]; i++) {
		const json_t *v = json_object_get(run, header_keys[i]);
		sb_printf(b, "| %s | ", header_keys[i]);
		if (strstr(header_keys[i], "_ms"))
			sb_printf(b, "%s", utc(v, t, sizeof(t)));
		else
			sb_value(b, v, true);
		sb_printf(b, " |\n");
	}
}

static void md_verdict(struct sb *b, const json_t *m)
{
	const json_t *t = json_object_get(m, "targets"), *me = json_object_get(m, "measured");
	const json_t *v = json_object_get(m, "verdict");
	sb_printf(b, "\n## Verdict\n\n| | measured | target | verdict |\n|---|---|---|---|\n");
	sb_printf(b, "| RPO records | ");
	sb_field(b, me, "rpo_records", true);
	sb_printf(b, " | ");
	sb_field(b, t, "rpo_records", true);
	sb_printf(b, " | ");
	sb_field(b, v, "rpo", true);
	sb_printf(b, " |\n| RPO ms | ");
	sb_field(b, me, "rpo_ms", true);
	sb_printf(b, " | ");
	sb_field(b, t, "rpo_ms", true);
	sb_printf(b, " | ");
	sb_field(b, v, "rpo", true);
	sb_printf(b, " |\n| RTO ms | ");
	sb_field(b, me, "rto_ms", true);
	sb_printf(b, " | ");
	sb_field(b, t, "rto_ms", true);
	sb_printf(b, " | ");
	sb_field(b, v, "rto", true);
	sb_printf(b, " |\n\nTargets from the %s; verdict %s.\n",
		  json_string_value(json_object_get(t, "source")),
		  !strcmp(json_string_value(json_object_get(v, "source")) ?: "", "run")
		  ? "as the run recorded it" : "computed by the report");
	if (json_is_string(json_object_get(v, "rto_overrun_phase"))) {
		sb_printf(b, "The RTO was missed; the phase that used the budget: **");
		sb_field(b, v, "rto_overrun_phase", false);
		sb_printf(b, "**.\n");
	}
}

static void md_timeline(struct sb *b, const json_t *m)
{
	const json_t *tl = json_object_get(m, "timeline"), *e, *phases = json_object_get(m, "phases_ms");
	char t[40];
	size_t i;
	const char *key;
	json_t *v;
	sb_printf(b, "\n## Timeline\n\n| instant | time (UTC) | offset ms |\n|---|---|---|\n");
	json_array_foreach(tl, i, e) {
		sb_printf(b, "| ");
		sb_field(b, e, "name", true);
		sb_printf(b, " | %s | +%" JSON_INTEGER_FORMAT " |\n", utc(json_object_get(e, "ts_ms"), t,
			  sizeof(t)), json_integer_value(json_object_get(e, "offset_ms")));
	}
	if (!json_object_size(phases))
		return;
	sb_printf(b, "\n| phase | ms |\n|---|---|\n");
	json_object_foreach((json_t *)phases, key, v) {
		bool slowest = !strcmp(key, json_string_value(json_object_get(m, "slowest_phase")) ?: "");
		sb_printf(b, "| %s", slowest ? "**" : "");
		sb_escaped(b, key, true);
		sb_printf(b, "%s | ", slowest ? "** (slowest)" : "");
		sb_value(b, v, true);
		sb_printf(b, " |\n");
	}
}

static void md_path(struct sb *b, const json_t *path, const char *steady)
{
	const json_t *t;
	size_t i;
	sb_printf(b, "\n## Path\n\n");
	if (!json_array_size(path)) {
		sb_printf(b, "No transition.\n");
		return;
	}
	sb_field(b, json_array_get(path, 0), "from", true);
	json_array_foreach(path, i, t) {
		sb_printf(b, " → ");
		sb_field(b, t, "to", true);
	}
	sb_printf(b, " (rows");
	json_array_foreach(path, i, t) {
		sb_printf(b, "%s", i ? ", " : " ");
		sb_field(b, t, "row", true);
	}
	sb_printf(b, ")\n\nThe state diagram's steady state is %s.\n", steady);
}

static void md_transitions(struct sb *b, const json_t *path)
{
	static const char *const keys[] = { "event", "row", "actor", "reason", NULL };
	const json_t *t;
	size_t i;
	char ts[40];
	sb_printf(b, "\n## Transitions\n\n| # | time (UTC) | from → to | event | row | actor | reason |\n"
		     "|---|---|---|---|---|---|---|\n");
	json_array_foreach(path, i, t) {
		sb_printf(b, "| %zu | %s | ", i + 1, utc(json_object_get(t, "ts_ms"), ts, sizeof(ts)));
		sb_field(b, t, "from", true);
		sb_printf(b, " → ");
		sb_field(b, t, "to", true);
		for (int k = 0; keys[k]; k++) {
			sb_printf(b, " | ");
			sb_field(b, t, keys[k], true);
		}
		sb_printf(b, " |\n");
	}
}

static void md_write_load(struct sb *b, const json_t *wl)
{
	const char *key;
	json_t *v;
	if (!json_object_size(wl))
		return;
	sb_printf(b, "\n## Write load\n\n| figure | value |\n|---|---|\n");
	json_object_foreach((json_t *)wl, key, v) {
		sb_printf(b, "| ");
		sb_escaped(b, key, true);
		sb_printf(b, " | ");
		sb_value(b, v, true);
		sb_printf(b, " |\n");
	}
}

static void md_steps(struct sb *b, const json_t *steps)
{
	const json_t *s;
	size_t i;
	if (!json_array_size(steps))
		return;
	sb_printf(b, "\n## Steps\n\n| # | step | status | detail |\n|---|---|---|---|\n");
	json_array_foreach(steps, i, s) {
		sb_printf(b, "| ");
		sb_field(b, s, "seq", true);
		sb_printf(b, " | ");
		sb_field(b, s, "name", true);
		sb_printf(b, " | ");
		sb_field(b, s, "status", true);
		sb_printf(b, " | ");
		sb_field(b, s, "detail", true);
		sb_printf(b, " |\n");
	}
}

/* One sentence: verified with the rows checked, broken where, or unknown why. */
static void audit_sentence(struct sb *b, const json_t *audit, bool html)
{
	const char *state = json_string_value(json_object_get(audit, "state")) ?: "unknown";
	const json_t *rows = json_object_get(audit, "rows"), *where = json_object_get(audit, "where");
	const char *key;
	json_t *v;
	if (!strcmp(state, "unknown")) {
		sb_printf(b, "The audit could not be verified: ");
		sb_field(b, audit, "error", !html);
		sb_printf(b, ".");
		return;
	}
	sb_printf(b, "%s", !strcmp(state, "ok") ? "The audit is verified intact (rows checked:"
					       : "The audit is BROKEN (rows checked:");
	json_object_foreach((json_t *)rows, key, v) {
		sb_printf(b, " %s ", key);
		sb_value(b, v, !html);
	}
	sb_printf(b, ")");
	if (where) {
		sb_printf(b, "; first bad: ");
		sb_field(b, where, "table", !html);
		sb_printf(b, " row ");
		sb_field(b, where, "seq", !html);
		sb_printf(b, ": ");
		sb_field(b, where, "what", !html);
	}
	sb_printf(b, ".");
}

char *report_markdown(const json_t *m)
{
	struct sb b = { 0 };
	const json_t *audit = json_object_get(m, "audit");
	md_header(&b, json_object_get(m, "run"));
	md_verdict(&b, m);
	md_timeline(&b, m);
	md_path(&b, json_object_get(m, "path"), fsm_state_names[FSM_STEADY]);
	md_transitions(&b, json_object_get(m, "path"));
	md_write_load(&b, json_object_get(m, "write_load"));
	md_steps(&b, json_object_get(m, "steps"));
	sb_printf(&b, "\n## Audit\n\n");
	audit_sentence(&b, audit, false);
	sb_printf(&b, "\n");
	return sb_finish(&b);
}

/* ---- HTML: the page ------------------------------------------------------------------ */

static const char page_style[] =
	"body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#222}"
	"h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ccc}"
	"table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;"
	"text-align:left;vertical-align:top}th{background:#f2f2f2}"
	".met{color:#17692f;font-weight:bold}.missed{color:#b00020;font-weight:bold}"
	".unknown{color:#777;font-weight:bold}.ok{color:#17692f}.broken{color:#b00020}"
	"svg text{font:11px system-ui,sans-serif}code{font-size:12px}"
	"#transitions td:nth-child(2){white-space:nowrap}";

static void html_header(struct sb *b, const json_t *run)
{
	char t[40];
	sb_printf(b, "<h1>Run ");
	sb_field(b, run, "id", false);
	sb_printf(b, ": ");
	sb_field(b, run, "kind", false);
	sb_printf(b, " (");
	sb_field(b, run, "outcome", false);
	sb_printf(b, ")</h1>\n<table id=\"run\">\n");
	for (int i = 0; header_keys[i]; i++) {
		const json_t *v = json_object_get(run, header_keys[i]);
		sb_printf(b, "<tr><th>%s</th><td>", header_keys[i]);
		if (strstr(header_keys[i], "_ms"))
			sb_printf(b, "%s", utc(v, t, sizeof(t)));
		else
			sb_value(b, v, false);
		sb_printf(b, "</td></tr>\n");
	}
	sb_printf(b, "</table>\n");
}

static void html_verdict_cell(struct sb *b, const json_t *v, const char *key)
{
	const char *s = json_string_value(json_object_get(v, key)) ?: "unknown";
	const char *cls = !strcmp(s, "met") ? "met" : !strcmp(s, "missed") ? "missed" : "unknown";
	sb_printf(b, "<td class=\"%s\">", cls);
	sb_escaped(b, s, false);
	sb_printf(b, "</td>");
}

static void html_figure_row(struct sb *b, const char *label, const json_t *m, const char *key,
			    const char *verdict_key)
{
	sb_printf(b, "<tr><th>%s</th><td>", label);
	sb_field(b, json_object_get(m, "measured"), key, false);
	sb_printf(b, "</td><td>");
	sb_field(b, json_object_get(m, "targets"), key, false);
	sb_printf(b, "</td>");
	html_verdict_cell(b, json_object_get(m, "verdict"), verdict_key);
	sb_printf(b, "</tr>\n");
}

static void html_verdict(struct sb *b, const json_t *m)
{
	const json_t *v = json_object_get(m, "verdict"), *t = json_object_get(m, "targets");
	sb_printf(b, "<h2>Verdict</h2>\n<table id=\"verdict\"><tr><th></th><th>measured</th>"
		     "<th>target</th><th>verdict</th></tr>\n");
	html_figure_row(b, "RPO records", m, "rpo_records", "rpo");
	html_figure_row(b, "RPO ms", m, "rpo_ms", "rpo");
	html_figure_row(b, "RTO ms", m, "rto_ms", "rto");
	sb_printf(b, "</table>\n<p>Targets from the ");
	sb_field(b, t, "source", false);
	sb_printf(b, "; verdict %s.",
		  !strcmp(json_string_value(json_object_get(v, "source")) ?: "", "run")
		  ? "as the run recorded it" : "computed by the report");
	if (json_is_string(json_object_get(v, "rto_overrun_phase"))) {
		sb_printf(b, " The RTO was missed; the phase that used the budget: <b>");
		sb_field(b, v, "rto_overrun_phase", false);
		sb_printf(b, "</b>.");
	}
	sb_printf(b, "</p>\n");
}

/* ---- HTML: the timeline against the RTO target ------------------------------------------ */

enum { TL_LEFT = 160, TL_PLOT = 620, TL_ROW = 20, TL_TOP = 24 };

/* ms per pixel's inverse: the span drawn covers the last instant, the
 * phases and the RTO target, with a margin. */
static double tl_scale(const json_t *m)
{
	const json_t *tl = json_object_get(m, "timeline"), *v;
	double span = 1;
	int64_t sum = 0, last = int_or_none(json_array_get(tl, json_array_size(tl) - 1), "offset_ms");
	int64_t rto = int_or_none(json_object_get(m, "targets"), "rto_ms");
	const char *key;
	json_object_foreach(json_object_get(m, "phases_ms"), key, v)
		sum += json_integer_value(v);
	span = last > span ? (double)last : span;
	span = sum > span ? (double)sum : span;
	span = rto > span ? (double)rto : span;
	return TL_PLOT / (span * 1.1);
}

static void tl_marks(struct sb *b, const json_t *tl, double k)
{
	const json_t *e;
	size_t i;
	double prev = TL_LEFT;
	json_array_foreach(tl, i, e) {
		int64_t off = int_or_none(e, "offset_ms");
		double x = TL_LEFT + (off > 0 ? (double)off * k : 0), y = TL_TOP + (double)i * TL_ROW;
		sb_printf(b, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">", TL_LEFT - 8, y + 4);
		sb_field(b, e, "name", false);
		sb_printf(b, "</text><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"8\" "
			     "fill=\"#9cc3e6\"/><circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"#1f5f99\"/>"
			     "<text x=\"%.1f\" y=\"%.1f\">+%" PRId64 " ms</text>\n", prev, y - 4,
			  x - prev, x, y, x + 8, y + 4, off);
		prev = x;
	}
}

/* The phases end to end, the slowest in orange. */
static void tl_phases(struct sb *b, const json_t *m, double k, double y)
{
	const char *key, *slowest = json_string_value(json_object_get(m, "slowest_phase")) ?: "";
	json_t *v;
	double x = TL_LEFT;
	sb_printf(b, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">phases</text>\n", TL_LEFT - 8,
		  y + 13);
	json_object_foreach(json_object_get(m, "phases_ms"), key, v) {
		double w = (double)json_integer_value(v) * k;
		sb_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"18\" fill=\"%s\" "
			     "stroke=\"#fff\"><title>", x, y, w, strcmp(key, slowest) ? "#9cc3e6" : "#e8833a");
		sb_escaped(b, key, false);
		sb_printf(b, " %" JSON_INTEGER_FORMAT " ms</title></rect>", json_integer_value(v));
		if (w > 6.5 * (double)strlen(key) + 8) {  /* the label fits */
			sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\">", x + 4, y + 13);
			sb_escaped(b, key, false);
			sb_printf(b, "</text>");
		}
		sb_printf(b, "\n");
		x += w;
	}
}

static void svg_timeline(struct sb *b, const json_t *m)
{
	const json_t *tl = json_object_get(m, "timeline");
	double k = tl_scale(m), n = (double)json_array_size(tl);
	bool phases = json_object_size(json_object_get(m, "phases_ms")) > 0;
	double phases_y = TL_TOP + n * TL_ROW, axis_y = phases_y + (phases ? 30 : 0) + 6;
	int64_t rto = int_or_none(json_object_get(m, "targets"), "rto_ms");
	sb_printf(b, "<svg id=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
		     "height=\"%.0f\" role=\"img\" aria-label=\"timeline\">\n", TL_LEFT + TL_PLOT + 90,
		  axis_y + 30);
	tl_marks(b, tl, k);
	if (phases)
		tl_phases(b, m, k, phases_y);
	sb_printf(b, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#444\"/>"
		     "<text x=\"%d\" y=\"%.1f\">0 ms</text><text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">"
		     "%.0f ms</text>\n", TL_LEFT, axis_y, TL_LEFT + TL_PLOT, axis_y, TL_LEFT,
		  axis_y + 14, TL_LEFT + TL_PLOT, axis_y + 14, TL_PLOT / k);
	if (rto >= 0)
		sb_printf(b, "<line id=\"rto-target\" x1=\"%.1f\" y1=\"6\" x2=\"%.1f\" y2=\"%.1f\" "
			     "stroke=\"#b00020\" stroke-width=\"2\" stroke-dasharray=\"6 4\"/>"
			     "<text x=\"%.1f\" y=\"%.1f\" fill=\"#b00020\">RTO target %" PRId64
			     " ms</text>\n", TL_LEFT + (double)rto * k, TL_LEFT + (double)rto * k,
			  axis_y, TL_LEFT + (double)rto * k + 4, axis_y + 26, rto);
	sb_printf(b, "</svg>\n");
}

/* ---- HTML: the state diagram with the run's path ------------------------------------------ */

enum { FSM_COL_W = 175, FSM_ROW_H = 54, FSM_NODE_W = 130, FSM_NODE_H = 28, FSM_PAD = 30 };

/* Columns are centred vertically on the tallest. */
static void node_center(const struct report_layout *l, int s, double *x, double *y)
{
	double shift = (l->nrows - l->height[l->col[s]]) * FSM_ROW_H / 2.0;
	*x = FSM_PAD + FSM_NODE_W / 2.0 + l->col[s] * FSM_COL_W;
	*y = FSM_PAD + FSM_NODE_H / 2.0 + l->row[s] * FSM_ROW_H + shift;
}

/* The 1-based position in the path of the first transition of row id; 0: none. */
static size_t path_step(const json_t *path, const char *id)
{
	const json_t *t;
	size_t i;
	json_array_foreach(path, i, t)
		if (!strcmp(json_string_value(json_object_get(t, "row")) ?: "", id))
			return i + 1;
	return 0;
}

/* How many transition rows before row i join the same two states. */
static int earlier_twins(size_t i)
{
	int n = 0;
	for (size_t j = 0; j < i; j++)
		n += fsm_rows[j].kind == FSM_TRANSITION && fsm_rows[j].from == fsm_rows[i].from &&
		     fsm_rows[j].to == fsm_rows[i].to;
	return n;
}

/* Row i as a curve (a loop when it stays); on the path: red, numbered. */
static void svg_edge(struct sb *b, const struct report_layout *l, size_t i, size_t step)
{
	const struct fsm_row *r = &fsm_rows[i];
	double x1, y1, x2, y2, cx, cy, bend = 14.0 * (1 + earlier_twins(i));
	node_center(l, (int)r->from, &x1, &y1);
	node_center(l, (int)r->to, &x2, &y2);
	if (r->from == r->to) {
		y1 -= FSM_NODE_H / 2.0;
		sb_printf(b, "<path d=\"M%.1f %.1fC%.1f %.1f %.1f %.1f %.1f %.1f\"", x1 - 12, y1,
			  x1 - 30, y1 - bend * 2, x1 + 30, y1 - bend * 2, x1 + 12, y1);
		cx = x1;
		cy = y1 - bend * 1.5;
	} else {
		double dx = x2 - x1, dy = y2 - y1, len = sqrt(dx * dx + dy * dy);
		cx = (x1 + x2) / 2 - dy / len * bend;
		cy = (y1 + y2) / 2 + dx / len * bend;
		sb_printf(b, "<path d=\"M%.1f %.1fQ%.1f %.1f %.1f %.1f\"", x1, y1, cx, cy, x2, y2);
	}
	sb_printf(b, " class=\"%s\" marker-end=\"url(#%s)\"><title>%s %s: %s → %s</title></path>\n",
		  step ? "onpath" : "edge", step ? "arrow-path" : "arrow", r->id,
		  fsm_event_names[r->event], fsm_state_names[r->from], fsm_state_names[r->to]);
	if (step)
		sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" class=\"step\">%zu</text>\n", cx, cy, step);
}

static void svg_nodes(struct sb *b, const struct report_layout *l, const bool visited[])
{
	for (int s = 0; s < FSM_NSTATES; s++) {
		double x, y;
		node_center(l, s, &x, &y);
		sb_printf(b, "<g id=\"state-%s\"><rect x=\"%.1f\" y=\"%.1f\" width=\"%d\" height=\"%d\" "
			     "rx=\"%d\" class=\"%s\"/><text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">"
			     "%s</text></g>\n", fsm_state_names[s], x - FSM_NODE_W / 2.0,
			  y - FSM_NODE_H / 2.0, FSM_NODE_W, FSM_NODE_H, s == FSM_STEADY ? 14 : 4,
			  visited[s] ? "visited" : "state", x, y + 4, fsm_state_names[s]);
	}
}

static void svg_fsm(struct sb *b, const json_t *path)
{
	struct report_layout l;
	bool visited[FSM_NSTATES] = { false };
	const json_t *t;
	size_t i;
	report_fsm_layout(&l);
	json_array_foreach(path, i, t) {
		int from = fsm_state_by_name(json_string_value(json_object_get(t, "from")) ?: "");
		int to = fsm_state_by_name(json_string_value(json_object_get(t, "to")) ?: "");
		if (from >= 0)
			visited[from] = true;
		if (to >= 0)
			visited[to] = true;
	}
	sb_printf(b, "<svg id=\"fsm\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
		     "role=\"img\" aria-label=\"state diagram\">\n<defs>"
		     "<marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"6\" "
		     "markerHeight=\"6\" orient=\"auto\"><path d=\"M0 0L10 5L0 10z\" fill=\"#bbb\"/></marker>"
		     "<marker id=\"arrow-path\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" "
		     "markerWidth=\"6\" markerHeight=\"6\" orient=\"auto\"><path d=\"M0 0L10 5L0 10z\" "
		     "fill=\"#d2401c\"/></marker></defs>\n<style>.edge{fill:none;stroke:#ccc}"
		     ".onpath{fill:none;stroke:#d2401c;stroke-width:2.5}.state{fill:#f4f7fb;stroke:#557}"
		     ".visited{fill:#ffe3c2;stroke:#d2401c;stroke-width:2}.step{fill:#d2401c;"
		     "font-weight:bold}</style>\n",
		  2 * FSM_PAD + (l.ncols - 1) * FSM_COL_W + FSM_NODE_W,
		  2 * FSM_PAD + (l.nrows - 1) * FSM_ROW_H + FSM_NODE_H);
	for (int pass = 0; pass < 2; pass++)  /* the path's edges drawn last, on top */
		for (i = 0; i < fsm_nrows; i++) {
			size_t step = path_step(path, fsm_rows[i].id);
			if (fsm_rows[i].kind == FSM_TRANSITION && (step > 0) == (pass == 1))
				svg_edge(b, &l, i, step);
		}
	svg_nodes(b, &l, visited);
	sb_printf(b, "</svg>\n");
}

/* ---- HTML: the tables ---------------------------------------------------------------- */

static void html_transitions(struct sb *b, const json_t *path)
{
	static const char *const keys[] = { "event", "row", "actor", "reason", NULL };
	const json_t *t;
	size_t i;
	char ts[40];
	sb_printf(b, "<h2>Transitions</h2>\n<table id=\"transitions\"><tr><th>#</th><th>time (UTC)"
		     "</th><th>from → to</th><th>event</th><th>row</th><th>actor</th><th>reason</th>"
		     "</tr>\n");
	json_array_foreach(path, i, t) {
		sb_printf(b, "<tr><td>%zu</td><td>%s</td><td>", i + 1,
			  utc(json_object_get(t, "ts_ms"), ts, sizeof(ts)));
		sb_field(b, t, "from", false);
		sb_printf(b, " → ");
		sb_field(b, t, "to", false);
		for (int k = 0; keys[k]; k++) {
			sb_printf(b, "</td><td>");
			sb_field(b, t, keys[k], false);
		}
		sb_printf(b, "</td></tr>\n");
	}
	sb_printf(b, "</table>\n");
}

/* The path as a sentence: STEADY → SUSPECT → ... (rows D01@STEADY, ...). */
static void html_path(struct sb *b, const json_t *path)
{
	const json_t *t;
	size_t i;
	sb_printf(b, "<h2>Path through the state diagram</h2>\n<p id=\"path\">");
	if (!json_array_size(path))
		sb_printf(b, "No transition.");
	else
		sb_field(b, json_array_get(path, 0), "from", false);
	json_array_foreach(path, i, t) {
		sb_printf(b, " → ");
		sb_field(b, t, "to", false);
	}
	sb_printf(b, "</p>\n");
	svg_fsm(b, path);
}

static void html_write_load(struct sb *b, const json_t *wl)
{
	const char *key;
	json_t *v;
	if (!json_object_size(wl))
		return;
	sb_printf(b, "<h2>Write load</h2>\n<table id=\"write-load\">\n");
	json_object_foreach((json_t *)wl, key, v) {
		sb_printf(b, "<tr><th>");
		sb_escaped(b, key, false);
		sb_printf(b, "</th><td>");
		sb_value(b, v, false);
		sb_printf(b, "</td></tr>\n");
	}
	sb_printf(b, "</table>\n");
}

static void html_steps(struct sb *b, const json_t *steps)
{
	static const char *const keys[] = { "seq", "name", "status", "detail", NULL };
	const json_t *s;
	size_t i;
	if (!json_array_size(steps))
		return;
	sb_printf(b, "<h2>Steps</h2>\n<table id=\"steps\"><tr><th>#</th><th>step</th><th>status</th>"
		     "<th>detail</th></tr>\n");
	json_array_foreach(steps, i, s) {
		sb_printf(b, "<tr>");
		for (int k = 0; keys[k]; k++) {
			sb_printf(b, "<td>%s", !strcmp(keys[k], "detail") ? "<code>" : "");
			sb_field(b, s, keys[k], false);
			sb_printf(b, "%s</td>", !strcmp(keys[k], "detail") ? "</code>" : "");
		}
		sb_printf(b, "</tr>\n");
	}
	sb_printf(b, "</table>\n");
}

static void html_audit(struct sb *b, const json_t *audit)
{
	const char *state = json_string_value(json_object_get(audit, "state")) ?: "unknown";
	sb_printf(b, "<h2>Audit</h2>\n<p id=\"audit\" class=\"%s\">",
		  !strcmp(state, "ok") ? "ok" : "broken");
	audit_sentence(b, audit, true);
	sb_printf(b, "</p>\n");
}

char *report_html(const json_t *m)
{
	struct sb b = { 0 };
	const json_t *run = json_object_get(m, "run");
	sb_printf(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
		      "<title>drorch run ");
	sb_field(&b, run, "id", false);
	sb_printf(&b, " report</title><style>%s</style></head>\n<body>\n", page_style);
	html_header(&b, run);
	html_verdict(&b, m);
	sb_printf(&b, "<h2>Timeline</h2>\n");
	svg_timeline(&b, m);
	html_path(&b, json_object_get(m, "path"));
	html_transitions(&b, json_object_get(m, "path"));
	html_write_load(&b, json_object_get(m, "write_load"));
	html_steps(&b, json_object_get(m, "steps"));
	html_audit(&b, json_object_get(m, "audit"));
	sb_printf(&b, "</body></html>\n");
	return sb_finish(&b);
}

char *report_render(const struct report_input *in, enum report_format f, size_t *len)
{
	json_t *m = report_json(in);
	char *text = !m ? NULL : f == REPORT_MD ? report_markdown(m) : f == REPORT_HTML
		     ? report_html(m) : json_dumps(m, JSON_INDENT(2));
	json_decref(m);
	*len = text ? strlen(text) : 0;
	return text;
}
