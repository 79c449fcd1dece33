/*
 * api.c — drorchd's REST routes (see api.h).
 */
#include "api.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "decimal.h"
#include "fileio.h"
#include "ha.h"
#include "httpc.h"
#include "httpstats.h"
#include "metrics.h"
#include "page.h"
#include "pbrun.h"
#include "report.h"
#include "upgrade.h"
#include "version.h"

/* Reads a non-negative integer query argument; false (400 set) if bad. */
static bool query_int(const struct http_req *req, const char *name, int64_t *out,
		      struct http_resp *resp)
{
	const char *v = http_req_query(req, name);
	*out = 0;
	if (!v)
		return true;
	uint64_t n;
	if (decimal_u64_in(v, 0, INT64_MAX, &n) != DECIMAL_OK) {
		http_resp_error(resp, 400, "%s: must be a non-negative integer (at most %" PRId64 ")",
				name, INT64_MAX);
		return false;
	}
	*out = (int64_t)n;
	return true;
}

static void get_transitions(struct api *a, const struct http_req *req, struct http_resp *resp)
{
	int64_t since, run;
	if (!query_int(req, "since", &since, resp) || !query_int(req, "run", &run, resp))
		return;
	json_t *t = store_transitions_json(a->orch->store, since, run, 0);
	if (!t)
		http_resp_error(resp, 500, "store: cannot read transitions");
	else
		http_resp_json(resp, 200, json_pack("{s:o}", "transitions", t));
}

/* The run id at the start of s: digits only, > 0, no overflow; *rest is
 * what follows it.  false if s does not start with one. */
static bool parse_run_id(const char *s, int64_t *id, const char **rest)
{
	int64_t n = 0;
	const char *p = s;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (n > (INT64_MAX - (*p - '0')) / 10)
			return false;
		n = n * 10 + (*p - '0');
	}
	*id = n;
	*rest = p;
	return p != s && n > 0;
}

static void get_run(struct api *a, const char *id, struct http_resp *resp)
{
	int64_t n;
	const char *rest;
	json_t *r = parse_run_id(id, &n, &rest) && !*rest ? store_run_json(a->orch->store, n) : NULL;
	if (!r)
		http_resp_error(resp, 404, "no run %s", id);
	else
		http_resp_json(resp, 200, r);
}

/* The policy in force as a report's targets (report.h: rpo_records 0 is no limit). */
static struct report_targets policy_targets(const struct policy *p)
{
	return (struct report_targets){ .rpo_records = (int64_t)p->rpo_records,
					.rpo_ms = (int64_t)p->rpo_ms, .rto_ms = (int64_t)p->rto_ms };
}

/* GET /v1/runs/{id}/report?format=md|html|json (default md): the run, the
 * policy's targets and the audit verified now, rendered by report.c. */
static void get_run_report(struct api *a, const struct http_req *req, int64_t id,
			   struct http_resp *resp)
{
	const char *fmt = http_req_query(req, "format");
	enum report_format f = REPORT_MD;
	if (fmt && report_format_by_name(fmt, &f) != 0) {
		http_resp_error(resp, 400, "format: expected md, html or json");
		return;
	}
	json_t *run = store_run_json(a->orch->store, id);
	if (!run) {
		http_resp_error(resp, 404, "no run %" PRId64, id);
		return;
	}
	struct store_audit_report audit;
	char err[600] = "";
	struct report_input in = { .run = run, .policy_targets = policy_targets(orch_policy(a->orch)),
				   .audit = &audit, .audit_error = err };
	in.audit_rc = store_verify_path(a->orch->cfg.db, a->orch->cfg.audit_key_file, &audit, err,
					sizeof(err));
	size_t len;
	char *text = report_render(&in, f, &len);
	if (text)
		http_resp_bytes(resp, 200, report_content_type(f), text, len);
	else
		http_resp_error(resp, 503, "out of memory");
	free(text);
	json_decref(run);
}

/* GET /v1/runs/{id} or /v1/runs/{id}/report. */
static void get_run_any(struct api *a, const struct http_req *req, struct http_resp *resp)
{
	int64_t n;
	const char *id = req->path + strlen("/v1/runs/"), *rest = "";
	bool numbered = parse_run_id(id, &n, &rest);
	if (numbered && !strcmp(rest, "/report"))
		get_run_report(a, req, n, resp);
	else if (!strchr(id, '/'))
		get_run(a, id, resp);
	else if (numbered && (!strcmp(rest, "/ack") || !strcmp(rest, "/approve")))
		http_resp_error(resp, 405, "method GET not allowed on %s", req->path);
	else
		http_resp_error(resp, 404, "no route for GET %s", req->path);
}

static void get_fsm(struct http_resp *resp)
{
	json_t *rows = json_array();
	for (size_t i = 0; i < fsm_nrows; i++) {
		const struct fsm_row *r = &fsm_rows[i];
		static const char *const kinds[] = { "transition", "ignore", "reject" };
		json_array_append_new(rows, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
			"id", r->id, "from", fsm_state_names[r->from], "event", fsm_event_names[r->event],
			"kind", kinds[r->kind], "guard", fsm_guard_names[r->guard],
			"action", fsm_action_names[r->action], "to", fsm_state_names[r->to],
			"reason", r->reason));
	}
	http_resp_json(resp, 200, json_pack("{s:s, s:o}", "steady", fsm_state_names[FSM_STEADY],
					    "rows", rows));
}

/* The table as Graphviz dot, built from the same rows as fsm/fsm.dot. */
static void get_fsm_dot(struct http_resp *resp)
{
	size_t cap = 64 * 1024, len = 0;
	char *dot = malloc(cap);
	if (!dot) {
		http_resp_error(resp, 503, "out of memory");
		return;
	}
	len += (size_t)snprintf(dot + len, cap - len, "digraph drorch {\n  rankdir=LR;\n");
	for (int s = 0; s < FSM_NSTATES && len < cap; s++)
		len += (size_t)snprintf(dot + len, cap - len, "  %s [shape=%s];\n", fsm_state_names[s],
					fsm_state_timeout_ms[s] ? "ellipse" : "box");
	for (size_t i = 0; i < fsm_nrows && len < cap; i++) {
		const struct fsm_row *r = &fsm_rows[i];
		if (r->kind == FSM_TRANSITION)
			len += (size_t)snprintf(dot + len, cap - len, "  %s -> %s [label=\"%s %s\"];\n",
						fsm_state_names[r->from], fsm_state_names[r->to],
						r->id, fsm_event_names[r->event]);
	}
	if (len < cap)
		len += (size_t)snprintf(dot + len, cap - len, "}\n");
	http_resp_bytes(resp, 200, "text/vnd.graphviz", dot, len < cap ? len : cap);
	free(dot);
}

static json_t *policy_answer(struct api *a)
{
	json_t *j = policy_json(orch_policy(a->orch));
	json_object_set_new(j, "source", json_string(orch_policy_source(a->orch)));
	return j;
}

static void get_policy(struct api *a, struct http_resp *resp)
{
	http_resp_json(resp, 200, policy_answer(a));
}

/* PUT /v1/policy: a whole policy document (YAML, or JSON as GET prints it,
 * "source" aside); absent keys take the built-in defaults. */
static void put_policy(struct api *a, const char *actor, const struct http_req *req,
		       struct http_resp *resp)
{
	enum { POLICY_MAX_BYTES = 32 * 1024 };
	struct policy p;
	char err[400], state[32];
	if (!orch_accepts(a->orch, FSM_C_POLICY, state, sizeof(state))) {
		http_resp_error(resp, 409, "state %s: %s", state, fsm_command_refusals[FSM_C_POLICY]);
	} else if (!req->body_len) {
		http_resp_error(resp, 400, "request body: a policy document (YAML or JSON) is required");
	} else if (req->body_len >= POLICY_MAX_BYTES) {
		http_resp_error(resp, 413, "a policy document is at most %d bytes", POLICY_MAX_BYTES - 1);
	} else {
		/* "source" is what GET adds: a document read back can be put again. */
		json_t *j = json_loadb(req->body, req->body_len, 0, NULL);
		char *text = json_is_object(j) && json_object_del(j, "source") == 0
			     ? json_dumps(j, JSON_COMPACT) : NULL;
		const char *doc = text ? text : req->body;
		size_t len = text ? strlen(text) : req->body_len;
		struct policy_cluster cl = config_policy_cluster(&a->orch->cfg);
		if (policy_parse("request body", doc, len, &cl, &p, err, sizeof(err)) != 0)
			http_resp_error(resp, 400, "%s", err);
		else if (orch_set_policy(a->orch, &p, actor, "api", err, sizeof(err)) != 0)
			http_resp_error(resp, 500, "%s", err);
		else
			http_resp_json(resp, 200, policy_answer(a));
		free(text);
		json_decref(j);
	}
}

static void get_sites(struct api *a, struct http_resp *resp)
{
	json_t *st = orch_status_json(a->orch);
	http_resp_json(resp, 200, json_pack("{s:O}", "sites", json_object_get(st, "sites")));
	json_decref(st);
}

/* GET /v1/wan: the WAN links' conditions as drlink reports them (the
 * config's drlink), for the status page and scripts: {"drlink": URL or
 * null, "links": [...]}; 502 when drlink does not answer. */
static void get_wan(struct api *a, struct http_resp *resp)
{
	const char *base = a->orch->cfg.drlink;
	if (!base[0]) {
		http_resp_json(resp, 200, json_pack("{s:n, s:[]}", "drlink", "links"));
		return;
	}
	char url[CONFIG_URL_MAX + 16], err[300];
	snprintf(url, sizeof(url), "%s/v1/links", base);
	struct httpc *c = httpc_new();
	struct httpc_resp r;
	if (!c || httpc_request(c, "GET", url, NULL, NULL, 0, 2000, &r, err, sizeof(err)) != 0) {
		http_resp_error(resp, 502, "drlink %s: %s", base, c ? err : "out of memory");
		httpc_free(c);
		return;
	}
	json_t *j = r.status == 200 ? json_loadb(r.body, r.body_len, 0, NULL) : NULL;
	json_t *links = json_object_get(j, "links");
	if (json_is_array(links))
		http_resp_json(resp, 200, json_pack("{s:s, s:O}", "drlink", base, "links", links));
	else
		http_resp_error(resp, 502, "drlink %s: HTTP %ld", base, r.status);
	json_decref(j);
	httpc_resp_free(&r);
	httpc_free(c);
}

static void get_primary(struct api *a, struct http_resp *resp)
{
	json_t *st = orch_status_json(a->orch);
	const char *name = json_string_value(json_object_get(st, "primary"));
	int i = name ? orch_site_index(a->orch, name) : -1;
	if (i < 0) {
		http_resp_error(resp, 503, "no primary");
	} else {
		http_resp_json(resp, 307, json_pack("{s:s, s:s}", "primary", name,
						    "url", a->orch->cfg.sites[i].url));
		http_resp_header(resp, "Location", a->orch->cfg.sites[i].url);
	}
	json_decref(st);
}

/* ---- actions ------------------------------------------------------------------------ */

/* The body as JSON into *out: NULL when there is none.  false, with a 400
 * set, when there is one and it is not a JSON object. */
static bool body_json(const struct http_req *req, struct http_resp *resp, json_t **out)
{
	*out = req->body_len ? http_req_json(req, resp) : NULL;
	return !req->body_len || *out;
}

/* true when name (if given) is a site of the config; else a 400 is set. */
static bool site_known(struct api *a, const char *field, const char *name,
		       struct http_resp *resp)
{
	if (!name || orch_site_index(a->orch, name) >= 0)
		return true;
	http_resp_error(resp, 400, "%s: no site named '%s'", field, name);
	return false;
}

static void queue_event(struct api *a, const char *actor, enum fsm_event ev, const char *to, bool force,
			struct http_resp *resp)
{
	char why[400];
	int rc = orch_request(a->orch, ev, actor, to, force, why, sizeof(why));
	if (rc)
		http_resp_error(resp, rc, "%s", why);
	else
		http_resp_json(resp, 202, json_pack("{s:s, s:s}", "accepted", fsm_event_names[ev],
						    "reason", why));
}

/* POST /v1/failover {"to": SITE, "force": bool} */
static void post_failover(struct api *a, const char *actor, const struct http_req *req,
			  struct http_resp *resp)
{
	json_t *j;
	struct api_failover f;
	char err[300];
	if (!body_json(req, resp, &j))
		return;
	if (api_parse_failover(j, &f, err, sizeof(err)) != 0)
		http_resp_error(resp, 400, "%s", err);
	else if (site_known(a, "to", f.to, resp))
		queue_event(a, actor, FSM_E_OP_FAILOVER, f.to, f.force, resp);
	json_decref(j);
}

/* POST /v1/pause, /v1/resume (no fields). */
static void post_event(struct api *a, const char *actor, const struct http_req *req,
		       enum fsm_event ev,
		       struct http_resp *resp)
{
	json_t *j;
	char err[300];
	if (!body_json(req, resp, &j))
		return;
	if (api_parse_empty(j, err, sizeof(err)) != 0)
		http_resp_error(resp, 400, "%s", err);
	else
		queue_event(a, actor, ev, NULL, false, resp);
	json_decref(j);
}

/* POST /v1/switchover {"to": SITE}; POST /v1/failback (no fields). */
static void post_switchover(struct api *a, const char *actor, const struct http_req *req,
			    bool failback,
			    struct http_resp *resp)
{
	json_t *j;
	struct api_switchover s = { 0 };
	char err[300];
	if (!body_json(req, resp, &j))
		return;
	int rc = failback ? api_parse_empty(j, err, sizeof(err))
			  : api_parse_switchover(j, &s, err, sizeof(err));
	if (rc != 0) {
		http_resp_error(resp, 400, "%s", err);
	} else if (site_known(a, "to", s.to, resp)) {
		char why[400];
		rc = orch_switchover(a->orch, actor, s.to, why, sizeof(why));
		if (rc)
			http_resp_error(resp, rc, "%s", why);
		else
			http_resp_json(resp, 202, json_pack("{s:s, s:s}", "accepted",
							    failback ? "failback" : "switchover",
							    "reason", why));
	}
	json_decref(j);
}

/* Paths that exist, for 405 against 404: the routes served. */
static bool known_path(const char *path)
{
	return strcmp(httpstats_route(api_routes, path), "other") != 0;
}

/* ---- playbooks --------------------------------------------------------------------- */

static bool name_ok(const char *n, size_t len)
{
	if (len == 0 || len >= PB_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)n[i]) && n[i] != '-' && n[i] != '_')
			return false;
	return true;
}

/* The playbook: the body's text, else PLAYBOOKS_DIR/NAME.yaml, whose text
 * *source receives (malloc'd; the caller frees).  0 or an HTTP status with
 * why. */
static int find_playbook(struct api *a, const char *name, const char *text, struct playbook *pb,
			 char **source, char *why, size_t len)
{
	const struct config *c = &a->orch->cfg;
	const char *sites[CONFIG_MAX_SITES];
	for (int i = 0; i < c->nsites; i++)
		sites[i] = c->sites[i].name;
	char path[700];
	if (text && playbook_parse(name, text, strlen(text), sites, c->nsites, pb, why, len) != 0)
		return 400;
	if (!text && !c->playbooks_dir[0]) {
		snprintf(why, len, "no playbook '%s': drorchd's config names no playbooks directory; "
			 "send the document as \"playbook\"", name);
		return 404;
	}
	if (!text) {
		snprintf(path, sizeof(path), "%s/%s.yaml", c->playbooks_dir, name);
		if (access(path, R_OK) != 0) {
			snprintf(why, len, "no playbook '%s' (%.400s)", name, path);
			return 404;
		}
		size_t n;
		*source = read_text_file(path, 1 << 20, &n);
		if (!*source) {
			snprintf(why, len, "%.400s: %s", path, strerror(errno));
			return 400;
		}
		if (playbook_parse(path, *source, n, sites, c->nsites, pb, why, len) != 0)
			return 400;
	}
	if (strcmp(pb->name, name) != 0) {
		snprintf(why, len, "the document is playbook '%s', the URL names '%s'", pb->name, name);
		playbook_free(pb);
		return 400;
	}
	for (int i = 0; i < pb->nsteps + pb->nrollback; i++)
		if (pb->steps[i].state[0] && fsm_state_by_name(pb->steps[i].state) < 0) {
			snprintf(why, len, "%s:%d: step %s: state '%s' is not a state of drorchd's "
				 "FSM (GET /v1/fsm)", name, pb->steps[i].line, pb->steps[i].name,
				 pb->steps[i].state);
			playbook_free(pb);
			return 400;
		}
	return 0;
}

/* POST /v1/playbooks/{name}/runs {"dry_run": bool, "playbook": "YAML"} */
static void post_playbook_run(struct api *a, const char *actor, const struct http_req *req,
			      struct http_resp *resp)
{
	const char *name = req->path + strlen("/v1/playbooks/");
	const char *slash = strchr(name, '/');
	if (!slash || strcmp(slash, "/runs") || !name_ok(name, (size_t)(slash - name))) {
		http_resp_error(resp, 404, "no route for POST %s", req->path);
		return;
	}
	char pname[PB_NAME_MAX], why[700];
	snprintf(pname, sizeof(pname), "%.*s", (int)(slash - name), name);
	json_t *j;
	struct api_playbook_run body;
	if (!body_json(req, resp, &j))
		return;
	if (api_parse_playbook_run(j, &body, why, sizeof(why)) != 0) {
		http_resp_error(resp, 400, "%s", why);
		json_decref(j);
		return;
	}
	struct playbook pb;
	int64_t run = 0;
	json_t *plan = NULL;
	char *file_text = NULL;
	int rc = find_playbook(a, pname, body.playbook, &pb, &file_text, why, sizeof(why));
	if (rc == 0)
		rc = pbrun_start(a->pbrun, &pb, &(struct pbrun_opts){ .actor = actor,
				 .dry_run = body.dry_run, .source = file_text ? file_text : body.playbook },
				 &run, &plan, why, sizeof(why));
	free(file_text);
	if (rc)
		http_resp_error(resp, rc, "%s", why);
	else if (plan)
		http_resp_json(resp, 200, plan);
	else
		http_resp_json(resp, 202, json_pack("{s:I, s:s, s:b}", "run", (json_int_t)run,
						    "playbook", pname, "dry_run", 0));
	json_decref(j);
}

/* ---- rolling upgrades ----------------------------------------------------------------- */

/* Names from the status's sites, kept alive by st (the caller's reference). */
static int cluster_sites(json_t *st, struct pb_site_state *out, int cap)
{
	const char *primary = json_string_value(json_object_get(st, "primary")) ?: "";
	size_t i;
	json_t *site;
	int n = 0;
	json_array_foreach(json_object_get(st, "sites"), i, site) {
		if (n == cap)
			break;
		const char *name = json_string_value(json_object_get(site, "name")) ?: "";
		out[n++] = (struct pb_site_state){
			.name = name, .primary = !strcmp(name, primary),
			.version = json_string_value(json_object_get(site, "version")) ?: "",
			.fcv = json_string_value(json_object_get(site, "fcv")) ?: "",
		};
	}
	return n;
}

/* The sites the newest upgrade run swapped, in order, into order[] (names
 * owned by *keep, which the caller frees); how many. */
static int upgrade_order(struct api *a, const char *order[], int cap, json_t **keep)
{
	json_t *runs = store_runs_json(a->orch->store, 50), *r, *run = NULL, *step;
	size_t i;
	int n = 0;
	json_array_foreach(runs, i, r)
		if (!strcmp(json_string_value(json_object_get(r, "kind")) ?: "", "upgrade") &&
		    !json_is_true(json_object_get(json_object_get(r, "detail"), "rollback"))) {
			run = store_run_json(a->orch->store, json_integer_value(json_object_get(r, "id")));
			break;
		}
	json_decref(runs);
	json_array_foreach(json_object_get(run, "steps"), i, step) {
		json_t *d = json_object_get(step, "detail");
		const char *site = json_string_value(json_object_get(d, "site"));
		const char *name = json_string_value(json_object_get(step, "name")) ?: "";
		bool swapped = !strcmp(name, "swapped") ||  /* the state machine's swap */
			       !strcmp(json_string_value(json_object_get(d, "kind")) ?: "",
				       "upgrade_site");  /* an upgrade_site playbook step */
		if (n < cap && site && swapped &&
		    !strcmp(json_string_value(json_object_get(step, "status")) ?: "", "ok"))
			order[n++] = site;
	}
	*keep = run;
	return n;
}

/*
 * The plan of POST /v1/upgrades (playbooks/upgrade.c decides it from the
 * sites as drorchd sees them): 0 with *pb, or an HTTP status with why
 * (200: nothing to do; 409: refused).
 */
static int upgrade_plan(struct api *a, const struct api_upgrade *u, struct playbook *pb,
			char *why, size_t len)
{
	struct pb_site_state sites[CONFIG_MAX_SITES];
	const char *order[CONFIG_MAX_SITES * 4];
	json_t *st = orch_status_json(a->orch), *keep = NULL;
	int n = cluster_sites(st, sites, CONFIG_MAX_SITES);
	const char *steady = fsm_state_names[FSM_STEADY];
	enum pb_plan_result r;
	if (u->rollback) {
		int norder = upgrade_order(a, order, (int)(sizeof(order) / sizeof(order[0])), &keep);
		r = pb_rollback_plan(sites, n, order, norder, steady, pb, why, len);
	} else {
		r = pb_upgrade_plan(sites, n, u->to, u->finalize, steady, pb, why, len);
	}
	json_decref(keep);
	json_decref(st);
	if (r == PB_PLAN_NOMEM)
		snprintf(why, len, "out of memory");
	return r == PB_PLAN_OK ? 0 : r == PB_PLAN_NOOP ? 200 : r == PB_PLAN_REFUSED ? 409 : 503;
}

/* The plan the state machine follows (orch_upgrade): the version, whether
 * to finalize, the order of the swaps and the switchover's target. */
static json_t *plan_for_fsm(const struct playbook *pb, const char *to, bool rollback)
{
	json_t *order = json_array(), *plan;
	const char *switch_to = "";
	bool finalize = false;
	for (int i = 0; i < pb->nsteps; i++) {
		const struct pb_step *s = &pb->steps[i];
		if (s->kind == PB_UPGRADE_SITE)
			json_array_append_new(order, json_string(s->site));
		else if (s->kind == PB_SWITCHOVER)
			switch_to = s->to;
		else if (s->kind == PB_FINALIZE)
			finalize = true;
	}
	plan = json_pack("{s:s, s:b, s:b, s:o, s:s}", "to", to, "finalize", finalize, "rollback",
			 rollback, "order", order, "switch_to", switch_to);
	return plan;
}

/* POST /v1/upgrades {"to": "X.Y.Z", "finalize": true, "dry_run": false} or
 * {"rollback": true}: a run of kind upgrade driven by the state machine
 * (202: UPGRADING, FINALIZING), its plan (dry run: 200), nothing to do
 * (200, "noop"), or refused (409, e.g. not STEADY). */
static void post_upgrade(struct api *a, const char *actor, const struct http_req *req,
			 struct http_resp *resp)
{
	json_t *j;
	struct api_upgrade u;
	char why[400];
	if (!body_json(req, resp, &j))
		return;
	if (api_parse_upgrade(j, &u, why, sizeof(why)) != 0) {
		http_resp_error(resp, 400, "%s", why);
		json_decref(j);
		return;
	}
	struct playbook pb;
	int64_t run = 0;
	json_t *plan = NULL;
	int rc = upgrade_plan(a, &u, &pb, why, sizeof(why));
	char to[32];  /* a rollback goes back to the fcv: the version its swaps take */
	snprintf(to, sizeof(to), "%s", u.rollback ? (rc == 0 ? pb.steps[pb.nsteps - 1].version : "")
						  : u.to);
	json_t *detail = json_pack("{s:s, s:b, s:b}", "to", to, "finalize", u.finalize && !u.rollback,
				   "rollback", u.rollback);
	if (rc == 0 && u.dry_run) {
		rc = pbrun_start(a->pbrun, &pb, &(struct pbrun_opts){ .kind = "upgrade",
				 .actor = actor, .dry_run = true, .detail = detail },
				 &run, &plan, why, sizeof(why));
	} else if (rc == 0) {
		json_t *fsm_plan = plan_for_fsm(&pb, to, u.rollback);
		playbook_free(&pb);
		rc = fsm_plan ? orch_upgrade(a->orch, actor, fsm_plan, &run, why,
					     sizeof(why)) : 503;
		json_decref(fsm_plan);
	}
	if (rc == 200)
		http_resp_json(resp, 200, json_pack("{s:s?, s:b, s:b, s:s}", "to", u.to, "rollback",
						    u.rollback, "noop", true, "reason", why));
	else if (rc)
		http_resp_error(resp, rc, "%s", why);
	else if (plan)
		http_resp_json(resp, 200, plan);
	else
		http_resp_json(resp, 202, json_pack("{s:I, s:s, s:b, s:b}", "run", (json_int_t)run,
						    "to", to, "finalize", u.finalize && !u.rollback,
						    "rollback", u.rollback));
	json_decref(detail);
	json_decref(j);
}

/* POST /v1/runs/{id}/approve {"comment"} (optional), /ack {"comment"} (required). */
static void post_comment(struct api *a, const char *actor, const struct http_req *req,
			 int64_t run, bool ack,
			 struct http_resp *resp)
{
	json_t *j;
	struct api_comment c;
	char why[300];
	if (!body_json(req, resp, &j))
		return;
	int rc = ack ? api_parse_ack(j, &c, why, sizeof(why))
		     : api_parse_approve(j, &c, why, sizeof(why));
	if (rc != 0) {
		http_resp_error(resp, 400, "%s", why);
		json_decref(j);
		return;
	}
	rc = ack ? orch_ack_run(a->orch, run, actor, c.comment, why, sizeof(why))
		 : pbrun_approve(a->pbrun, run, actor, c.comment, why, sizeof(why));
	if (rc)
		http_resp_error(resp, rc, "%s", why);
	else
		http_resp_json(resp, 200, json_pack("{s:I, s:b}", "run", (json_int_t)run,
						    ack ? "acknowledged" : "approved", 1));
	json_decref(j);
}

/* POST /v1/runs/{id}/ack or /approve. */
static void post_run(struct api *a, const char *actor, const struct http_req *req,
		     struct http_resp *resp)
{
	int64_t run;
	const char *rest;
	bool id_ok = parse_run_id(req->path + strlen("/v1/runs/"), &run, &rest);
	if (id_ok && strcmp(rest, "/approve") == 0)
		post_comment(a, actor, req, run, false, resp);
	else if (id_ok && strcmp(rest, "/ack") == 0)
		post_comment(a, actor, req, run, true, resp);
	else
		http_resp_error(resp, 404, "no route for POST %s", req->path);
}

/* The operator a request's bearer token names ("operator:NAME"), or false
 * with a 401 set. */
static bool authorized(struct api *a, const struct http_req *req, char *actor, size_t len,
		       struct http_resp *resp)
{
	pthread_rwlock_rdlock(&a->ops_lock);
	bool known = operators_actor(&a->ops, http_req_header(req, "Authorization"), actor, len);
	pthread_rwlock_unlock(&a->ops_lock);
	if (known)
		return true;
	http_resp_header(resp, "WWW-Authenticate", "Bearer");
	http_resp_error(resp, 401, "missing or wrong bearer token");
	return false;
}

void api_set_operators(struct api *a, const struct operators *ops)
{
	pthread_rwlock_wrlock(&a->ops_lock);
	a->ops = *ops;
	pthread_rwlock_unlock(&a->ops_lock);
}

static void route_post(struct api *a, const struct http_req *req, struct http_resp *resp)
{
	char actor[OPERATORS_NAME_MAX + 16];
	if (!authorized(a, req, actor, sizeof(actor), resp))
		return;
	if (strcmp(req->path, "/v1/failover") == 0) {
		post_failover(a, actor, req, resp);
	} else if (strcmp(req->path, "/v1/switchover") == 0) {
		post_switchover(a, actor, req, false, resp);
	} else if (strcmp(req->path, "/v1/failback") == 0) {
		post_switchover(a, actor, req, true, resp);
	} else if (strcmp(req->path, "/v1/pause") == 0) {
		post_event(a, actor, req, FSM_E_OP_PAUSE, resp);
	} else if (strcmp(req->path, "/v1/resume") == 0) {
		post_event(a, actor, req, FSM_E_OP_RESUME, resp);
	} else if (strncmp(req->path, "/v1/runs/", 9) == 0) {
		post_run(a, actor, req, resp);
	} else if (strcmp(req->path, "/v1/upgrades") == 0) {
		post_upgrade(a, actor, req, resp);
	} else if (strncmp(req->path, "/v1/playbooks/", 14) == 0) {
		post_playbook_run(a, actor, req, resp);
	} else if (known_path(req->path)) {
		http_resp_error(resp, 405, "method POST not allowed on %s", req->path);
	} else {
		http_resp_error(resp, 404, "no route for POST %s", req->path);
	}
}

static void route_put_policy(struct api *a, const struct http_req *req, struct http_resp *resp)
{
	char actor[OPERATORS_NAME_MAX + 16];
	if (authorized(a, req, actor, sizeof(actor), resp))
		put_policy(a, actor, req, resp);
}

static void get_fsm_any(const struct http_req *req, struct http_resp *resp)
{
	const char *fmt = http_req_query(req, "format");
	if (!fmt || !strcmp(fmt, "json"))
		get_fsm(resp);
	else if (!strcmp(fmt, "dot"))
		get_fsm_dot(resp);
	else
		http_resp_error(resp, 400, "format: expected json or dot");
}

static void get_runs(struct api *a, struct http_resp *resp)
{
	json_t *runs = store_runs_json(a->orch->store, 100);
	if (!runs)
		http_resp_error(resp, 500, "store: cannot read runs");
	else
		http_resp_json(resp, 200, json_pack("{s:o}", "runs", runs));
}

/* GET /healthz: 200 from every instance, with its role; GET /healthz/leader:
 * 200 only from the one that leads (a load balancer's check), else 503. */
static void get_healthz(struct api *a, bool leader_only, struct http_resp *resp)
{
	const char *role = a->orch->ha ? ha_role(a->orch->ha) : "leader";
	bool leads = orch_may_act(a->orch);
	if (leader_only && !leads)
		http_resp_json(resp, 503, json_pack("{s:s, s:s}", "status", "not the leader",
						    "role", role));
	else
		http_resp_json(resp, 200, json_pack("{s:s, s:s}", "status", "ok", "role", role));
}

static void route_get(struct api *a, const struct http_req *req, struct http_resp *resp)
{
	const char *p = req->path;
	if (!strcmp(p, "/healthz") || !strcmp(p, "/healthz/leader"))
		get_healthz(a, p[8] != '\0', resp);
	else if (!strcmp(p, "/metrics"))
		metrics_orch(a->orch, resp);
	else if (!strcmp(p, "/"))
		page_status(resp);
	else if (!strcmp(p, "/v1/status"))
		http_resp_json(resp, 200, orch_status_json(a->orch));
	else if (!strcmp(p, "/v1/transitions"))
		get_transitions(a, req, resp);
	else if (!strcmp(p, "/v1/runs"))
		get_runs(a, resp);
	else if (!strncmp(p, "/v1/runs/", 9))
		get_run_any(a, req, resp);
	else if (!strcmp(p, "/v1/fsm"))
		get_fsm_any(req, resp);
	else if (!strcmp(p, "/v1/sites"))
		get_sites(a, resp);
	else if (!strcmp(p, "/v1/policy"))
		get_policy(a, resp);
	else if (!strcmp(p, "/v1/primary"))
		get_primary(a, resp);
	else if (!strcmp(p, "/v1/wan"))
		get_wan(a, resp);
	else if (known_path(p))
		http_resp_error(resp, 405, "method GET not allowed on %s", p);
	else
		http_resp_error(resp, 404, "no route for GET %s", p);
}

/*
 * With HA, a request that would change something goes to the leader: a
 * follower answers 307 with the leader's URL (the client sends it again
 * there, body and token included), or 503 while no leader is known.
 * Reads are served from every instance's copy.
 */
static bool sent_to_leader(struct api *a, const struct http_req *req, struct http_resp *resp)
{
	char url[CONFIG_URL_MAX + 1024];
	if (!a->orch->ha || !strcmp(req->method, "GET") || !strcmp(req->method, "HEAD") ||
	    orch_may_act(a->orch))
		return false;
	if (!ha_leader_url(a->orch->ha, url, CONFIG_URL_MAX)) {
		http_resp_error(resp, 503, "no leader: this drorchd (%s) does not lead, and no"
				" instance leads now; try again", ha_role(a->orch->ha));
		return true;
	}
	size_t n = strlen(url);
	snprintf(url + n, sizeof(url) - n, "%s", req->path);
	http_resp_header(resp, "Location", url);
	http_resp_error(resp, 307, "this drorchd is a follower: the leader is at %.*s", (int)n,
			url);
	return true;
}

/*
 * With HA, a leader can stop leading while it handles a change (its lease
 * could not be renewed, or etcd did not confirm the write): the log refuses
 * the write, and the handler's store error would be a 500.  It is the 503
 * of no leader instead, which a client asks again (docs/ha.md, "Writes").
 */
static void no_longer_leader(struct api *a, const struct http_req *req, struct http_resp *resp)
{
	if (!a->orch->ha || resp->status != 500 || !strcmp(req->method, "GET") ||
	    !strcmp(req->method, "HEAD") || orch_may_act(a->orch))
		return;
	json_t *j = resp->body ? json_loadb(resp->body, resp->body_len, 0, NULL) : NULL;
	http_resp_error(resp, 503, "no leader: this drorchd stopped leading while it handled %s %s"
			" (%.200s); ask again", req->method, req->path,
			json_string_value(json_object_get(j, "error")) ?: "its write was refused");
	json_decref(j);
}

const char *const api_routes[] = {
	"/healthz", "/healthz/leader", "/metrics", "/", "/v1/status", "/v1/sites", "/v1/primary",
	"/v1/transitions", "/v1/runs", "/v1/runs/{id}", "/v1/runs/{id}/report",
	"/v1/runs/{id}/approve", "/v1/upgrades", "/v1/playbooks/{name}/runs", "/v1/runs/{id}/ack",
	"/v1/fsm", "/v1/policy", "/v1/failover", "/v1/switchover", "/v1/failback", "/v1/pause",
	"/v1/resume", "/v1/wan", NULL,
};

void api_handler(void *ctx, const struct http_req *req, struct http_resp *resp)
{
	struct api *a = ctx;
	if (sent_to_leader(a, req, resp))
		return;
	if (!strcmp(req->method, "GET") || !strcmp(req->method, "HEAD"))
		route_get(a, req, resp);
	else if (!strcmp(req->method, "POST"))
		route_post(a, req, resp);
	else if (!strcmp(req->method, "PUT") && !strcmp(req->path, "/v1/policy"))
		route_put_policy(a, req, resp);
	else if (known_path(req->path))
		http_resp_error(resp, 405, "method %s not allowed on %s", req->method, req->path);
	else
		http_resp_error(resp, 404, "no route for %s %s", req->method, req->path);
	no_longer_leader(a, req, resp);
}
