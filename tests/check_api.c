/*
 * check_api.c — docs/openapi.yaml against a live drorchd.
 *
 * The spec is read with libyaml (common/ydoc.h) and every operation in it is
 * called on a real 3-site lab: the answer's status must be documented for
 * that operation (and be its first success status, for a valid request),
 * its Content-Type must be one documented for that status, and a JSON body
 * must hold the schema's required fields with the documented types, checked
 * recursively through $ref, allOf, objects and arrays.  Each POST is also
 * sent without its token (401), with bad JSON (400) and with a body over
 * drorchd's 64 KiB limit (413), each of which must be documented too.
 *
 * How to make a valid request for an operation is in ops[] below: the spec
 * and that table must list the same operations, so a route added to one and
 * not the other fails here.
 *
 * The action bodies' parsers (api.h) are also tested alone, with a table of
 * bodies and a deterministic fuzz, and against the live lab: a refused body
 * leaves the cluster as it was.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <jansson.h>

#include "api.h"
#include "testhelp.h"
#include "testlab.h"
#include "timeutil.h"
#include "ydoc.h"

#define NSITES 3
#define OP_TOKEN "operator-token-for-api-tests"
#define MAX_BODY (64 * 1024)

/* How the test calls one documented operation with a valid request.  body
 * NULL: the spec's requestBody example.  Then, for an accepted action, what
 * to wait for before the next call (wait_state NULL: STEADY or DEGRADED). */
struct op_call {
	const char *method, *path;     /* as in the spec */
	const char *url;               /* path parameters and query filled in */
	const char *wait_state, *wait_primary;
	const char *body;              /* NULL: the spec's example */
	long expect;                   /* 0: the operation's lowest 2xx/3xx */
	bool gate;                     /* then wait until this run waits at a gate */
};

/* A real playbook run that waits at an approval gate (run 7: see ops[]). */
#define GATED_PLAYBOOK "{\"playbook\":\"name: api-check\\nsteps:\\n" \
	"  - approve: {message: go?, timeout_s: 60}\\n  - check: {state: STEADY}\\n\"}"

/* In the order they are called; run 1 exists when the walk starts. */
static const struct op_call ops[] = {
	{ "GET", "/healthz", "/healthz", NULL, NULL, NULL, 0, false },
	{ "GET", "/healthz/leader", "/healthz/leader", NULL, NULL, NULL, 0, false },
	{ "GET", "/metrics", "/metrics", NULL, NULL, NULL, 0, false },
	{ "GET", "/", "/", NULL, NULL, NULL, 0, false },
	{ "GET", "/v1/status", "/v1/status", NULL, NULL, NULL, 0, false },
	{ "GET", "/v1/sites", "/v1/sites", NULL, NULL, NULL, 0, false },
	{ "GET", "/v1/primary", "/v1/primary", NULL, NULL, NULL, 0, false },
	{ "GET", "/v1/transitions", "/v1/transitions", NULL, NULL, NULL, 0, false },
	{ "GET", "/v1/transitions", "/v1/transitions?since=1&run=1", NULL, NULL, NULL, 0, false },
	{ "GET", "/v1/runs", "/v1/runs", NULL, NULL, NULL, 0, false },
	{ "GET", "/v1/runs/{id}", "/v1/runs/1", NULL, NULL, NULL, 0, false },
	{ "GET", "/v1/runs/{id}/report", "/v1/runs/1/report", NULL, NULL, NULL, 0, false },
	{ "GET", "/v1/runs/{id}/report", "/v1/runs/1/report?format=html", NULL, NULL, NULL, 0, false },
	{ "GET", "/v1/runs/{id}/report", "/v1/runs/1/report?format=json", NULL, NULL, NULL, 0, false },
	{ "POST", "/v1/runs/{id}/ack", "/v1/runs/1/ack", NULL, NULL, NULL, 0, false },
	{ "GET", "/v1/fsm", "/v1/fsm", NULL, NULL, NULL, 0, false },
	{ "GET", "/v1/fsm", "/v1/fsm?format=dot", NULL, NULL, NULL, 0, false },
	{ "GET", "/v1/policy", "/v1/policy", NULL, NULL, NULL, 0, false },
	{ "GET", "/v1/wan", "/v1/wan", NULL, NULL, NULL, 0, false },
	/* The spec's example fails over to eu-west; the lab's primary is then ap-south. */
	{ "POST", "/v1/failover", "/v1/failover", NULL, "eu-west", NULL, 0, false },
	/* Back to ap-south, which that failover moved away from; then the
	 * spec's example switches over to us-east. */
	{ "POST", "/v1/failback", "/v1/failback", NULL, "ap-south", NULL, 0, false },
	{ "POST", "/v1/switchover", "/v1/switchover", NULL, "us-east", NULL, 0, false },
	{ "POST", "/v1/pause", "/v1/pause", "PAUSED", NULL, NULL, 0, false },
	{ "POST", "/v1/resume", "/v1/resume", "STEADY", NULL, NULL, 0, false },
	{ "PUT", "/v1/policy", "/v1/policy", NULL, NULL, NULL, 0, false },
	/* Run 5: the example, a rolling upgrade's dry run. */
	{ "POST", "/v1/upgrades", "/v1/upgrades", NULL, NULL, NULL, 0, false },
	/* Runs 6 (the example: a dry run) and 7 (waits at its gate), then run
	 * 7 approved. */
	{ "POST", "/v1/playbooks/{name}/runs", "/v1/playbooks/api-check/runs", NULL, NULL, NULL, 0, false },
	{ "POST", "/v1/playbooks/{name}/runs", "/v1/playbooks/api-check/runs", NULL, NULL,
	  GATED_PLAYBOOK, 202, true },
	{ "POST", "/v1/runs/{id}/approve", "/v1/runs/7/approve", NULL, NULL, NULL, 0, false },
};
#define NOPS (sizeof(ops) / sizeof(ops[0]))

/* ---- the lab ------------------------------------------------------------------ */

static struct tl_lab L;

static void setup(void)
{
	tl_lab_init(&L, "check_api", NSITES, OP_TOKEN,
		    "name: api-test\nfailover: {anti_flap_s: 0}\n");
}

static void teardown(void)
{
	tl_lab_free(&L);
}

/* ---- HTTP: libcurl directly, for the Content-Type and Location headers -------- */

struct reply {
	long status;
	char content_type[128];   /* media type only, lower case, no parameters */
	char location[256];
	char *body;
	size_t len;
};

static size_t on_body(char *data, size_t size, size_t n, void *p)
{
	struct reply *r = p;
	char *nb = realloc(r->body, r->len + size * n + 1);
	if (!nb)
		return 0;
	memcpy(nb + r->len, data, size * n);
	r->body = nb;
	r->len += size * n;
	r->body[r->len] = '\0';
	return size * n;
}

/* Keeps the Location header as sent (CURLINFO_REDIRECT_URL normalizes it). */
static size_t on_header(char *data, size_t size, size_t n, void *p)
{
	struct reply *r = p;
	size_t len = size * n;
	if (len > 9 && !strncasecmp(data, "Location:", 9)) {
		const char *v = data + 9;
		size_t vlen = len - 9;
		while (vlen && (*v == ' ' || *v == '\t'))
			v++, vlen--;
		while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n'))
			vlen--;
		snprintf(r->location, sizeof(r->location), "%.*s", (int)vlen, v);
	}
	return len;
}

/* One request to drorchd; fails the test on a transport error. */
static void request(const char *method, const char *path, const char *token, const char *body,
		    size_t len, struct reply *r)
{
	memset(r, 0, sizeof(*r));
	char url[512], auth[256];
	snprintf(url, sizeof(url), "%s%s", L.url, path);
	CURL *c = curl_easy_init();
	ck_assert_ptr_nonnull(c);
	struct curl_slist *h = curl_slist_append(NULL, "Expect:");
	if (token) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
		h = curl_slist_append(h, auth);
	}
	if (body)
		h = curl_slist_append(h, "Content-Type: application/json");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	if (!strcmp(method, "POST") || !strcmp(method, "PUT")) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)(body ? len : 0));
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
	}
	CURLcode rc = curl_easy_perform(c);
	ck_assert_msg(rc == CURLE_OK, "%s %s: %s", method, path, curl_easy_strerror(rc));
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	const char *ct = NULL;
	curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
	size_t i = 0;
	for (; ct && ct[i] && ct[i] != ';' && ct[i] != ' ' && i + 1 < sizeof(r->content_type); i++)
		r->content_type[i] = (char)(ct[i] >= 'A' && ct[i] <= 'Z' ? ct[i] + 32 : ct[i]);
	r->content_type[i] = '\0';
	if (!r->body)
		r->body = calloc(1, 1);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
}

/* Polls drorchd until state (NULL: STEADY or DEGRADED) and primary (NULL:
 * any) hold; false after timeout_ms. */
static bool wait_cluster(const char *state, const char *primary, long timeout_ms)
{
	json_t *st = tl_wait_cluster(&L, state, primary, NULL, timeout_ms);
	json_decref(st);
	return st != NULL;
}

/* ---- the spec ----------------------------------------------------------------- */

static struct ydoc Y;

static void load_spec(void)
{
	char err[600];
	ck_assert_msg(ydoc_load(&Y, th_src("docs/openapi.yaml"), err, sizeof(err)) == 0, "%s", err);
	ck_assert_ptr_nonnull(ydoc_root(&Y));
}

static yaml_node_t *key_node(yaml_node_pair_t *p) { return ydoc_node(&Y, p->key); }
static yaml_node_t *value_node(yaml_node_pair_t *p) { return ydoc_node(&Y, p->value); }

#define FOR_PAIRS(pair, map) \
	for (yaml_node_pair_t *pair = (map) && (map)->type == YAML_MAPPING_NODE ? \
		(map)->data.mapping.pairs.start : NULL; \
	     pair && pair < (map)->data.mapping.pairs.top; pair++)

/* Follows a local $ref ("#/components/schemas/Site") until a node has none. */
static yaml_node_t *deref(yaml_node_t *n)
{
	for (int hops = 0; n && hops < 16; hops++) {
		const char *ref = ydoc_scalar(ydoc_get(&Y, n, "$ref"));
		if (!ref)
			return n;
		ck_assert_msg(!strncmp(ref, "#/", 2), "only local $ref are supported: %s", ref);
		char buf[256];
		snprintf(buf, sizeof(buf), "%s", ref + 2);
		n = ydoc_root(&Y);
		for (char *save = NULL, *part = strtok_r(buf, "/", &save); part && n;
		     part = strtok_r(NULL, "/", &save))
			n = ydoc_get(&Y, n, part);
		ck_assert_msg(n, "unresolved $ref %s", ref);
	}
	return n;
}

static yaml_node_t *operation(const char *method, const char *path)
{
	char m[8];
	size_t i = 0;
	for (; method[i] && i + 1 < sizeof(m); i++)
		m[i] = (char)(method[i] >= 'A' && method[i] <= 'Z' ? method[i] + 32 : method[i]);
	m[i] = '\0';
	return ydoc_get(&Y, ydoc_get(&Y, ydoc_get(&Y, ydoc_root(&Y), "paths"), path), m);
}

static bool is_method(const char *k)
{
	static const char *const methods[] = { "get", "put", "post", "delete", "patch", "head",
					       "options", "trace" };
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (!strcmp(k, methods[i]))
			return true;
	return false;
}

/* The documented response for status, or NULL. */
static yaml_node_t *documented(yaml_node_t *op, long status)
{
	char code[8];
	snprintf(code, sizeof(code), "%ld", status);
	return deref(ydoc_get(&Y, ydoc_get(&Y, op, "responses"), code));
}

/* The first documented 2xx or 3xx (a valid request's answer). */
static long success_status(yaml_node_t *op)
{
	long best = 0;
	FOR_PAIRS(p, ydoc_get(&Y, op, "responses")) {
		long code = atol(ydoc_scalar(key_node(p)) ?: "0");
		if (code >= 200 && code < 400 && (!best || code < best))
			best = code;
	}
	return best;
}

/* ---- a JSON value against a schema --------------------------------------------- */

static bool scalar_is(yaml_node_t *n, const char *v)
{
	const char *s = ydoc_scalar(n);
	return s && !strcmp(s, v);
}

static bool type_ok(const char *type, json_t *v)
{
	if (!strcmp(type, "object"))
		return json_is_object(v);
	if (!strcmp(type, "array"))
		return json_is_array(v);
	if (!strcmp(type, "string"))
		return json_is_string(v);
	if (!strcmp(type, "integer"))
		return json_is_integer(v);
	if (!strcmp(type, "number"))
		return json_is_number(v);
	if (!strcmp(type, "boolean"))
		return json_is_boolean(v);
	return false;
}

/* Appends the first mismatch of v against schema to why; true if none. */
static bool conforms(json_t *v, yaml_node_t *schema, const char *where, char *why, size_t len)
{
	schema = deref(schema);
	if (!schema)
		return true;
	yaml_node_t *all = ydoc_get(&Y, schema, "allOf");
	for (yaml_node_item_t *it = all && all->type == YAML_SEQUENCE_NODE ?
		all->data.sequence.items.start : NULL; it && it < all->data.sequence.items.top; it++)
		if (!conforms(v, ydoc_node(&Y, *it), where, why, len))
			return false;
	const char *type = ydoc_scalar(ydoc_get(&Y, schema, "type"));
	if (json_is_null(v)) {
		if (!type || scalar_is(ydoc_get(&Y, schema, "nullable"), "true"))
			return true;
		snprintf(why, len, "%s: null, but the schema is a non-nullable %s", where, type);
		return false;
	}
	if (type && !type_ok(type, v)) {
		snprintf(why, len, "%s: not of type %s", where, type);
		return false;
	}
	yaml_node_t *en = ydoc_get(&Y, schema, "enum");
	if (en && en->type == YAML_SEQUENCE_NODE && json_is_string(v)) {
		bool found = false;
		for (yaml_node_item_t *it = en->data.sequence.items.start;
		     it < en->data.sequence.items.top; it++)
			found = found || scalar_is(ydoc_node(&Y, *it), json_string_value(v));
		if (!found) {
			snprintf(why, len, "%s: '%s' is not in the documented enum", where,
				 json_string_value(v));
			return false;
		}
	}
	char sub[512];
	yaml_node_t *req = ydoc_get(&Y, schema, "required");
	for (yaml_node_item_t *it = req && req->type == YAML_SEQUENCE_NODE ?
		req->data.sequence.items.start : NULL; it && it < req->data.sequence.items.top; it++) {
		const char *field = ydoc_scalar(ydoc_node(&Y, *it));
		if (json_is_object(v) && !json_object_get(v, field)) {
			snprintf(why, len, "%s: the required field '%s' is missing", where, field);
			return false;
		}
	}
	FOR_PAIRS(p, ydoc_get(&Y, schema, "properties")) {
		const char *field = ydoc_scalar(key_node(p));
		json_t *fv = json_is_object(v) ? json_object_get(v, field) : NULL;
		snprintf(sub, sizeof(sub), "%s.%s", where, field);
		if (fv && !conforms(fv, value_node(p), sub, why, len))
			return false;
	}
	yaml_node_t *items = ydoc_get(&Y, schema, "items");
	size_t i;
	json_t *el;
	if (items && json_is_array(v))
		json_array_foreach(v, i, el) {
			snprintf(sub, sizeof(sub), "%s[%zu]", where, i);
			if (!conforms(el, items, sub, why, len))
				return false;
		}
	return true;
}

/*
 * The reply r to METHOD path, for the spec's operation op: its status is
 * documented (and is `expect` unless 0), its media type is documented for
 * that status, a JSON body conforms to the documented schema.
 */
static void assert_documented(const char *method, const char *path, yaml_node_t *op,
			      const struct reply *r, long expect)
{
	const char *what = method;
	ck_assert_msg(!expect || r->status == expect, "%s %s: answered %ld, expected %ld: %s", what,
		      path, r->status, expect, r->body);
	yaml_node_t *resp = documented(op, r->status);
	ck_assert_msg(resp, "%s %s: status %ld is not documented in docs/openapi.yaml (body: %s)",
		      what, path, r->status, r->body);
	yaml_node_t *content = ydoc_get(&Y, resp, "content");
	if (!content) {
		ck_assert_msg(r->len == 0, "%s %s: %ld has a body, none documented", what, path,
			      r->status);
		return;
	}
	yaml_node_t *media = ydoc_get(&Y, content, r->content_type);
	ck_assert_msg(media, "%s %s: %ld answered Content-Type '%s', not documented", what, path,
		      r->status, r->content_type);
	if (strcmp(r->content_type, "application/json") != 0)
		return;
	json_error_t jerr;
	json_t *j = json_loads(r->body, JSON_DECODE_ANY, &jerr);
	ck_assert_msg(j, "%s %s: invalid JSON: %s", what, path, jerr.text);
	char why[700] = "";
	bool ok = conforms(j, ydoc_get(&Y, media, "schema"), "body", why, sizeof(why));
	json_decref(j);
	ck_assert_msg(ok, "%s %s (%ld): %s; body: %.600s", what, path, r->status, why, r->body);
}

/* The spec's requestBody example of op as compact JSON (malloc'd), or NULL. */
static char *example_body(yaml_node_t *op)
{
	yaml_node_t *media = ydoc_get(&Y, ydoc_get(&Y, deref(ydoc_get(&Y, op, "requestBody")),
						       "content"), "application/json");
	yaml_node_t *ex = ydoc_get(&Y, media, "example");
	if (!ex)
		return NULL;
	/* Examples are flat maps of scalars (or empty): enough for ours; a
	 * plain true or false is a boolean. */
	json_t *j = json_object();
	FOR_PAIRS(p, ex) {
		yaml_node_t *v = value_node(p);
		const char *t = ydoc_scalar(v) ?: "";
		bool plain = v->type == YAML_SCALAR_NODE && v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
		json_object_set_new(j, ydoc_scalar(key_node(p)),
				    plain && (!strcmp(t, "true") || !strcmp(t, "false"))
				    ? json_boolean(!strcmp(t, "true")) : json_string(t));
	}
	char *s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	return s;
}

/* true when op's security requirements name the bearer scheme. */
static bool needs_bearer(yaml_node_t *op)
{
	yaml_node_t *sec = ydoc_get(&Y, op, "security");
	for (yaml_node_item_t *it = sec && sec->type == YAML_SEQUENCE_NODE ?
		sec->data.sequence.items.start : NULL; it && it < sec->data.sequence.items.top; it++)
		if (ydoc_get(&Y, ydoc_node(&Y, *it), "bearer"))
			return true;
	return false;
}

/* Polls GET /v1/runs/{id} until its detail shows an approval gate. */
static bool wait_gate(int id, long timeout_ms)
{
	char path[64];
	snprintf(path, sizeof(path), "/v1/runs/%d", id);
	uint64_t end = time_mono_ms() + (uint64_t)timeout_ms;
	while (time_mono_ms() < end) {
		json_t *r = tl_orch_get(&L, path);
		bool gate = json_object_get(json_object_get(r, "detail"), "waiting_for_approval");
		json_decref(r);
		if (gate)
			return true;
		time_sleep_ms(50);
	}
	return false;
}

/* ---- tests ------------------------------------------------------------------- */

/* The spec and ops[] name the same operations; POSTs need the bearer token. */
START_TEST(test_spec_lists_exactly_the_served_routes)
{
	load_spec();
	int nspec = 0;
	FOR_PAIRS(pp, ydoc_get(&Y, ydoc_root(&Y), "paths")) {
		const char *path = ydoc_scalar(key_node(pp));
		FOR_PAIRS(mp, value_node(pp)) {
			const char *m = ydoc_scalar(key_node(mp));
			if (!is_method(m))
				continue;
			nspec++;
			bool known = false;
			for (size_t i = 0; i < NOPS; i++)
				known = known || (!strcasecmp(ops[i].method, m) && !strcmp(ops[i].path, path));
			ck_assert_msg(known, "%s %s is documented but check_api.c's ops[] does not call it",
				      m, path);
			ck_assert_msg(success_status(value_node(mp)), "%s %s documents no 2xx/3xx", m, path);
			if (strcmp(m, "get"))
				ck_assert_msg(needs_bearer(value_node(mp)), "%s %s: no bearer security",
					      m, path);
		}
	}
	for (size_t i = 0; i < NOPS; i++)
		ck_assert_msg(operation(ops[i].method, ops[i].path), "%s %s is served but not documented",
			      ops[i].method, ops[i].path);
	ck_assert_int_ge(nspec, 15);
	ck_assert_ptr_nonnull(deref(ydoc_get(&Y, ydoc_get(&Y, ydoc_get(&Y, ydoc_root(&Y), "components"),
							"securitySchemes"), "bearer")));
	ydoc_free(&Y);
}
END_TEST

START_TEST(test_every_documented_route_answers_as_documented)
{
	load_spec();
	tl_lab_up(&L, NULL);
	/* Run 1: a finished operator failover, for /v1/runs/{id} and its ack. */
	const char *first = "{\"to\":\"ap-south\"}";
	struct reply r;
	request("POST", "/v1/failover", OP_TOKEN, first, strlen(first), &r);
	ck_assert_msg(r.status == 202, "seed failover: %ld %s", r.status, r.body);
	free(r.body);
	ck_assert_msg(wait_cluster("STEADY", "ap-south", 20000), "seed failover did not finish; see %s",
		      L.log);

	for (size_t i = 0; i < NOPS; i++) {
		const struct op_call *c = &ops[i];
		yaml_node_t *op = operation(c->method, c->path);
		ck_assert_msg(op, "%s %s: not in the spec", c->method, c->path);
		bool acts = strcmp(c->method, "GET") != 0;
		char *body = c->body ? strdup(c->body) : acts ? example_body(op) : NULL;
		uint64_t t0 = time_mono_ms();
		request(c->method, c->url, acts ? OP_TOKEN : NULL, body,
			body ? strlen(body) : 0, &r);
		fprintf(stderr, "check_api: %-4s %-30s %ld %-18s %4llu ms\n", c->method, c->url,
			r.status, r.content_type, (unsigned long long)(time_mono_ms() - t0));
		assert_documented(c->method, c->url, op, &r, c->expect ? c->expect : success_status(op));
		if (r.status == 307) {
			json_t *j = json_loads(r.body, 0, NULL);
			ck_assert_str_eq(r.location, json_string_value(json_object_get(j, "url")));
			json_decref(j);
		}
		free(r.body);
		free(body);
		if (c->gate)
			ck_assert_msg(wait_gate(7, 10000), "run 7 never waited at its gate; see %s", L.log);
		if (c->wait_state || c->wait_primary)
			ck_assert_msg(wait_cluster(c->wait_state, c->wait_primary, 20000),
				      "%s %s: the cluster did not reach %s/%s; see %s", c->method, c->url,
				      c->wait_state ?: "rest", c->wait_primary ?: "any", L.log);
	}
	/* Every route walked is a label of the request histogram, by its
	 * template (no path with an id of its own, no "other"). */
	request("GET", "/metrics", NULL, NULL, 0, &r);
	FOR_PAIRS(p, ydoc_get(&Y, ydoc_root(&Y), "paths")) {
		char label[200];
		snprintf(label, sizeof(label), "drorch_http_request_duration_seconds_count{route=\"%s\"",
			 ydoc_scalar(key_node(p)));
		ck_assert_msg(strstr(r.body, label), "/metrics has no %s", label);
	}
	ck_assert_msg(!strstr(r.body, "route=\"other\""), "a documented route fell in \"other\"");
	free(r.body);
	ydoc_free(&Y);
}
END_TEST

START_TEST(test_bad_requests_answer_documented_errors)
{
	load_spec();
	tl_lab_up(&L, NULL);
	size_t big_len = MAX_BODY + 1;
	char *big = malloc(big_len);
	ck_assert_ptr_nonnull(big);
	memset(big, ' ', big_len);
	struct reply r;
	for (size_t i = 0; i < NOPS; i++) {
		const struct op_call *c = &ops[i];
		if (strcmp(c->method, "GET") == 0)
			continue;
		yaml_node_t *op = operation(c->method, c->path);
		char *body = example_body(op);
		char what[64];
		snprintf(what, sizeof(what), "%s (no token)", c->method);
		request(c->method, c->url, NULL, body, body ? strlen(body) : 0, &r);
		assert_documented(what, c->url, op, &r, 401);
		free(r.body);
		snprintf(what, sizeof(what), "%s (wrong token)", c->method);
		request(c->method, c->url, "not-the-token", body, body ? strlen(body) : 0, &r);
		assert_documented(what, c->url, op, &r, 401);
		free(r.body);
		snprintf(what, sizeof(what), "%s (bad JSON)", c->method);
		request(c->method, c->url, OP_TOKEN, "{\"to\":", 6, &r);
		assert_documented(what, c->url, op, &r, 400);
		free(r.body);
		snprintf(what, sizeof(what), "%s (65 KiB body)", c->method);
		request(c->method, c->url, OP_TOKEN, big, big_len, &r);
		assert_documented(what, c->url, op, &r, 413);
		free(r.body);
		free(body);
	}
	free(big);
	/* A few GETs with bad input: their errors are documented too. */
	request("GET", "/v1/transitions?since=x", NULL, NULL, 0, &r);
	assert_documented("GET", "/v1/transitions?since=x", operation("GET", "/v1/transitions"), &r, 400);
	free(r.body);
	/* Numbers strtoll would have read: a sign, a space, past INT64_MAX. */
	static const char *const not_numbers[] = { "/v1/transitions?since=%2B1",
		"/v1/transitions?since=%201", "/v1/transitions?run=-1",
		"/v1/transitions?since=9223372036854775808" };
	for (size_t i = 0; i < sizeof(not_numbers) / sizeof(not_numbers[0]); i++) {
		request("GET", not_numbers[i], NULL, NULL, 0, &r);
		assert_documented("GET", not_numbers[i], operation("GET", "/v1/transitions"), &r, 400);
		free(r.body);
	}
	request("GET", "/v1/runs/999", NULL, NULL, 0, &r);
	assert_documented("GET", "/v1/runs/999", operation("GET", "/v1/runs/{id}"), &r, 404);
	free(r.body);
	request("GET", "/v1/runs/999/report", NULL, NULL, 0, &r);
	assert_documented("GET", "/v1/runs/999/report", operation("GET", "/v1/runs/{id}/report"), &r,
			  404);
	free(r.body);
	request("GET", "/v1/runs/1/report?format=pdf", NULL, NULL, 0, &r);
	assert_documented("GET", "/v1/runs/1/report?format=pdf", operation("GET", "/v1/runs/{id}/report"),
			  &r, 400);
	free(r.body);
	request("POST", "/v1/runs/999/ack", OP_TOKEN, "{\"comment\":\"x\"}", 15, &r);
	assert_documented("POST", "/v1/runs/999/ack", operation("POST", "/v1/runs/{id}/ack"), &r, 404);
	free(r.body);
	request("POST", "/v1/failover", OP_TOKEN, "{\"to\":\"mars\"}", 13, &r);
	assert_documented("POST", "/v1/failover", operation("POST", "/v1/failover"), &r, 400);
	free(r.body);
	request("POST", "/v1/switchover", OP_TOKEN, "{\"to\":\"mars\"}", 13, &r);
	assert_documented("POST", "/v1/switchover", operation("POST", "/v1/switchover"), &r, 400);
	free(r.body);
	request("POST", "/v1/switchover", OP_TOKEN, "{}", 2, &r);  /* to is required */
	assert_documented("POST", "/v1/switchover", operation("POST", "/v1/switchover"), &r, 400);
	free(r.body);
	const char *to_primary = "{\"to\":\"us-east\"}";
	request("POST", "/v1/switchover", OP_TOKEN, to_primary, strlen(to_primary), &r);
	assert_documented("POST", "/v1/switchover", operation("POST", "/v1/switchover"), &r, 409);
	free(r.body);
	/* A bad policy names line and column, and changes nothing. */
	const char *bad = "name: x\nreplication: {mode: sink}\n";
	request("PUT", "/v1/policy", OP_TOKEN, bad, strlen(bad), &r);
	assert_documented("PUT", "/v1/policy", operation("PUT", "/v1/policy"), &r, 400);
	ck_assert_msg(strstr(r.body, "request body:2:"), "no position: %s", r.body);
	free(r.body);
	request("GET", "/v1/policy", NULL, NULL, 0, &r);
	ck_assert_msg(strstr(r.body, "\"name\":\"api-test\""), "policy changed: %s", r.body);
	free(r.body);
	request("POST", "/v1/failback", OP_TOKEN, NULL, 0, &r);  /* no failover yet */
	assert_documented("POST", "/v1/failback", operation("POST", "/v1/failback"), &r, 409);
	free(r.body);
	ydoc_free(&Y);
}
END_TEST

/* ---- action bodies: the pure parsers of api.h ------------------------------------ */

enum body_kind { B_FAILOVER, B_SWITCHOVER, B_EMPTY, B_UPGRADE, B_PLAYBOOK, B_APPROVE, B_ACK,
		 B_NKINDS };
static const char *const body_kinds[] = { "failover", "switchover", "empty", "upgrade",
					  "playbook run", "approve", "ack" };

union body_out {
	struct api_failover failover;
	struct api_switchover switchover;
	struct api_upgrade upgrade;
	struct api_playbook_run playbook;
	struct api_comment comment;
};

static int parse_body(enum body_kind k, json_t *body, union body_out *o, char *err, size_t len)
{
	err[0] = '\0';
	switch (k) {
	case B_FAILOVER: return api_parse_failover(body, &o->failover, err, len);
	case B_SWITCHOVER: return api_parse_switchover(body, &o->switchover, err, len);
	case B_EMPTY: return api_parse_empty(body, err, len);
	case B_UPGRADE: return api_parse_upgrade(body, &o->upgrade, err, len);
	case B_PLAYBOOK: return api_parse_playbook_run(body, &o->playbook, err, len);
	case B_APPROVE: return api_parse_approve(body, &o->comment, err, len);
	default: return api_parse_ack(body, &o->comment, err, len);
	}
}

/* A 64-byte site name: one over CONFIG_NAME_MAX - 1. */
#define NAME64 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

START_TEST(test_action_bodies_refuse_by_field_name)
{
	static const struct {
		enum body_kind kind;
		const char *body;   /* NULL: no body */
		const char *field;  /* NULL: accepted */
	} cases[] = {
		{ B_FAILOVER, NULL, NULL }, { B_FAILOVER, "{}", NULL },
		{ B_FAILOVER, "{\"to\":\"eu-west\",\"force\":true}", NULL },
		{ B_FAILOVER, "{\"to\":5}", "to: expected a string, got a number" },
		{ B_FAILOVER, "{\"to\":\"\"}", "to: expected 1 to 63 bytes" },
		{ B_FAILOVER, "{\"to\":null}", "to: expected a string, got null" },
		{ B_FAILOVER, "{\"to\":\"" NAME64 "\"}", "to: expected 1 to 63 bytes, got 64" },
		{ B_FAILOVER, "{\"force\":\"yes\"}", "force: expected true or false" },
		{ B_FAILOVER, "{\"force\":1}", "force: expected true or false, got a number" },
		{ B_FAILOVER, "{\"forse\":true}", "forse: unknown field; expected to, force" },
		{ B_FAILOVER, "[]", "body: expected a JSON object" },
		{ B_SWITCHOVER, NULL, "to: required" }, { B_SWITCHOVER, "{}", "to: required" },
		{ B_SWITCHOVER, "{\"to\":\"x\"}", NULL },
		{ B_SWITCHOVER, "{\"to\":\"x\",\"force\":true}", "force: unknown field" },
		{ B_SWITCHOVER, "{\"to\":[\"x\"]}", "to: expected a string, got an array" },
		{ B_EMPTY, NULL, NULL }, { B_EMPTY, "{}", NULL },
		{ B_EMPTY, "{\"reason\":\"x\"}", "reason: unknown field; this body takes none" },
		{ B_UPGRADE, "{\"to\":\"1.2.3\"}", NULL },
		{ B_UPGRADE, NULL, "to: required" },
		{ B_UPGRADE, "{\"to\":\"1.2\"}", "to: expected a version X.Y.Z, got '1.2'" },
		{ B_UPGRADE, "{\"to\":\"1.2.3\",\"finalize\":\"no\"}", "finalize: expected true" },
		{ B_UPGRADE, "{\"to\":\"1.2.3\",\"dry_run\":null}", "dry_run: expected true or false" },
		{ B_UPGRADE, "{\"to\":\"1.2.3\",\"version\":\"1.2.3\"}",
		  "version: unknown field; expected to, finalize, dry_run" },
		{ B_PLAYBOOK, NULL, NULL },
		{ B_PLAYBOOK, "{\"dry_run\":true,\"playbook\":\"name: x\"}", NULL },
		{ B_PLAYBOOK, "{\"playbook\":\"\"}", "playbook: expected 1 to" },
		{ B_PLAYBOOK, "{\"playbook\":{\"name\":\"x\"}}", "playbook: expected a string, got an object" },
		{ B_PLAYBOOK, "{\"name\":\"x\"}", "name: unknown field; expected dry_run, playbook" },
		{ B_APPROVE, NULL, NULL }, { B_APPROVE, "{\"comment\":\"\"}", NULL },
		{ B_APPROVE, "{\"comment\":5}", "comment: expected a string" },
		{ B_APPROVE, "{\"by\":\"me\"}", "by: unknown field; expected comment" },
		{ B_ACK, NULL, "comment: required" },
		{ B_ACK, "{\"comment\":\"\"}", "comment: expected 1 to 1024 bytes, got 0" },
		{ B_ACK, "{\"comment\":\"disk replaced\"}", NULL },
		{ B_ACK, "{\"comment\":\"ok\",\"x\":1}", "x: unknown field" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_error_t jerr;
		json_t *body = cases[i].body ? json_loads(cases[i].body, JSON_DECODE_ANY, &jerr) : NULL;
		ck_assert_msg(!cases[i].body || body, "case %zu: %s", i, jerr.text);
		union body_out o;
		char err[300];
		int rc = parse_body(cases[i].kind, body, &o, err, sizeof(err));
		const char *what = cases[i].body ? cases[i].body : "(no body)";
		if (!cases[i].field)
			ck_assert_msg(rc == 0, "%s %s refused: %s", body_kinds[cases[i].kind], what, err);
		else
			ck_assert_msg(rc == -1 && strstr(err, cases[i].field), "%s %s: rc %d, error '%s', "
				      "want '%s'", body_kinds[cases[i].kind], what, rc, err, cases[i].field);
		json_decref(body);
	}
	/* What an accepted body fills in, defaults included. */
	union body_out o;
	char err[300];
	json_t *b = json_loads("{\"to\":\"2.10.0\",\"dry_run\":true}", 0, NULL);
	ck_assert_int_eq(api_parse_upgrade(b, &o.upgrade, err, sizeof(err)), 0);
	ck_assert(o.upgrade.finalize && o.upgrade.dry_run);
	ck_assert_uint_eq(o.upgrade.version.minor, 10);
	ck_assert_str_eq(o.upgrade.to, "2.10.0");
	ck_assert(!o.upgrade.rollback);
	json_decref(b);
	b = json_loads("{\"rollback\":true,\"dry_run\":true}", 0, NULL);
	ck_assert_int_eq(api_parse_upgrade(b, &o.upgrade, err, sizeof(err)), 0);
	ck_assert(o.upgrade.rollback && !o.upgrade.to);
	json_decref(b);
	ck_assert_int_eq(api_parse_failover(NULL, &o.failover, err, sizeof(err)), 0);
	ck_assert(!o.failover.to && !o.failover.force);
}
END_TEST

/* xorshift64*: the fuzz is the same on every run. */
static uint64_t fuzz_state = 0x9e3779b97f4a7c15ull;
static uint64_t fuzz_next(void)
{
	fuzz_state ^= fuzz_state >> 12;
	fuzz_state ^= fuzz_state << 25;
	fuzz_state ^= fuzz_state >> 27;
	return fuzz_state * 0x2545f4914f6cdd1dull;
}

static json_t *fuzz_value(int depth)
{
	char s[80];
	size_t n;
	switch (fuzz_next() % 9) {
	case 0: return json_null();
	case 1: return json_boolean(fuzz_next() & 1);
	case 2: return json_integer((json_int_t)fuzz_next());
	case 3: return json_real((double)(fuzz_next() % 1000) / 7.0);
	case 4: return depth ? json_array() : json_pack("[o]", fuzz_value(depth + 1));
	case 5: return depth ? json_object() : json_pack("{s:o}", "to", fuzz_value(depth + 1));
	case 6: return json_string(fuzz_next() & 1 ? "1.2.3" : "us-east");
	default:
		n = fuzz_next() % 70;
		for (size_t i = 0; i < n; i++)
			s[i] = (char)(' ' + fuzz_next() % 95);
		s[n] = '\0';
		return json_string(s);
	}
}

/* Random bodies of known and unknown fields with values of every type:
 * each parser accepts or refuses, never crashes, and a refusal names a
 * field of the body (or a required one); an acceptance holds only
 * documented values. */
START_TEST(test_action_bodies_fuzz)
{
	static const char *const keys[] = { "to", "force", "dry_run", "playbook", "finalize",
					    "comment", "x", "", "TO", "to ", "rollback" };
	const uint64_t nkeys = sizeof(keys) / sizeof(keys[0]);
	int accepted = 0, refused = 0;
	for (int iter = 0; iter < 20000; iter++) {
		json_t *body = fuzz_next() % 10 == 0 ? fuzz_value(1) : json_object();
		for (uint64_t k = fuzz_next() % 4; json_is_object(body) && k > 0; k--)
			json_object_set_new(body, keys[fuzz_next() % nkeys], fuzz_value(0));
		for (int kind = 0; kind < B_NKINDS; kind++) {
			union body_out o;
			char err[300];
			int rc = parse_body(kind, body, &o, err, sizeof(err));
			ck_assert(rc == 0 || rc == -1);
			if (rc == -1) {
				refused++;
				ck_assert_msg(err[0] && strchr(err, ':'), "%s: error '%s'", body_kinds[kind], err);
				continue;
			}
			accepted++;
			ck_assert(json_is_object(body));
			if (kind == B_FAILOVER && o.failover.to)
				ck_assert(strlen(o.failover.to) >= 1 && strlen(o.failover.to) <= 63);
			if (kind == B_SWITCHOVER)
				ck_assert(o.switchover.to && strlen(o.switchover.to) <= 63);
			if (kind == B_UPGRADE)
				ck_assert(o.upgrade.rollback ? !o.upgrade.to :
					  version_parse(o.upgrade.to, &o.upgrade.version));
			if (kind == B_ACK)
				ck_assert(o.comment.comment && o.comment.comment[0]);
		}
		json_decref(body);
	}
	fprintf(stderr, "check_api: fuzz: %d bodies accepted, %d refused\n", accepted, refused);
	ck_assert_int_gt(accepted, 1000);
	ck_assert_int_gt(refused, 1000);
}
END_TEST

/* ---- refused requests change nothing ----------------------------------------------- */

struct cluster_mark {
	char state[32];
	long long epoch, version, transitions, runs;
};

static void mark_cluster(struct cluster_mark *m)
{
	json_t *st = tl_orch_get(&L, "/v1/status");
	ck_assert_ptr_nonnull(st);
	snprintf(m->state, sizeof(m->state), "%s", json_string_value(json_object_get(st, "state")));
	m->epoch = json_integer_value(json_object_get(st, "epoch"));
	m->version = json_integer_value(json_object_get(st, "version"));
	json_decref(st);
	json_t *t = tl_orch_get(&L, "/v1/transitions");
	m->transitions = (long long)json_array_size(json_object_get(t, "transitions"));
	json_decref(t);
	json_t *r = tl_orch_get(&L, "/v1/runs");
	m->runs = (long long)json_array_size(json_object_get(r, "runs"));
	json_decref(r);
}

/*
 * Every action body with an unknown field, a wrong type, a value out of
 * range or a missing field is answered 400 naming it, and the cluster is as
 * it was: same state, epoch, cluster-row version, transitions and runs.
 */
START_TEST(test_refused_bodies_change_nothing)
{
	tl_lab_up(&L, NULL);
	struct cluster_mark before, after;
	mark_cluster(&before);
	static const struct { const char *path, *body, *field; long status; } bad[] = {
		{ "/v1/failover", "{\"to\":\"eu-west\",\"now\":true}", "now", 400 },
		{ "/v1/failover", "{\"to\":\"mars\"}", "to", 400 },
		{ "/v1/failover", "{\"to\":7}", "to", 400 },
		{ "/v1/failover", "{\"to\":\"eu-west\",\"force\":\"yes\"}", "force", 400 },
		{ "/v1/failover", "{\"to\":\"" NAME64 "\"}", "to", 400 },
		{ "/v1/switchover", "{\"to\":\"eu-west\",\"force\":true}", "force", 400 },
		{ "/v1/switchover", "{\"to\":null}", "to", 400 },
		{ "/v1/switchover", NULL, "to", 400 },
		{ "/v1/failback", "{\"to\":\"eu-west\"}", "to", 400 },
		{ "/v1/pause", "{\"reason\":\"maintenance\"}", "reason", 400 },
		{ "/v1/resume", "{\"force\":true}", "force", 400 },
		{ "/v1/resume", "[1]", "body", 400 },
		{ "/v1/upgrades", "{\"to\":\"9.9.9\",\"dry\":true}", "dry", 400 },
		{ "/v1/upgrades", "{\"to\":\"9.9\"}", "to", 400 },
		{ "/v1/upgrades", "{\"to\":\"9.9.9\",\"finalize\":1}", "finalize", 400 },
		{ "/v1/upgrades", "{}", "to", 400 },
		{ "/v1/upgrades", "{\"rollback\":true,\"to\":\"0.1.0\"}", "takes no 'to'", 400 },
		{ "/v1/upgrades", "{\"rollback\":true,\"finalize\":false}", "takes no 'finalize'", 400 },
		{ "/v1/upgrades", "{\"rollback\":1}", "rollback", 400 },
		/* Nothing upgraded: nothing to roll back (409), and nothing changes. */
		{ "/v1/upgrades", "{\"rollback\":true}", "nothing to roll back", 409 },
		{ "/v1/playbooks/api-check/runs", "{\"dry_run\":true,\"steps\":[]}", "steps", 400 },
		{ "/v1/playbooks/api-check/runs", "{\"dry_run\":\"true\"}", "dry_run", 400 },
		{ "/v1/playbooks/api-check/runs", "{\"playbook\":42}", "playbook", 400 },
		{ "/v1/runs/1/approve", "{\"comment\":\"ok\",\"as\":\"root\"}", "as", 400 },
		{ "/v1/runs/1/approve", "{\"comment\":false}", "comment", 400 },
		{ "/v1/runs/1/ack", "{\"comment\":\"ok\",\"x\":1}", "x", 400 },
		{ "/v1/runs/1/ack", "{\"comment\":\"\"}", "comment", 400 },
		{ "/v1/runs/1/ack", NULL, "comment", 400 },
		{ "/v1/runs/%201/ack", "{\"comment\":\"ok\"}", "no route", 404 },
		{ "/v1/runs/1%00/ack", "{\"comment\":\"ok\"}", "0x00", 400 },
		{ "/v1/failover%00x", "{}", "0x00", 400 },
		{ "/v1/runs/99999999999999999999/ack", "{\"comment\":\"ok\"}", "no route", 404 },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct reply r;
		request("POST", bad[i].path, OP_TOKEN, bad[i].body, bad[i].body ? strlen(bad[i].body) : 0,
			&r);
		json_t *j = json_loads(r.body, 0, NULL);
		const char *msg = json_string_value(json_object_get(j, "error"));
		ck_assert_msg(r.status == bad[i].status && msg && strstr(msg, bad[i].field),
			      "POST %s %s: %ld %s, want %ld naming %s", bad[i].path,
			      bad[i].body ? bad[i].body : "(no body)", r.status, r.body, bad[i].status,
			      bad[i].field);
		json_decref(j);
		free(r.body);
	}
	time_sleep_ms(300);  /* anything queued would have fired by now */
	mark_cluster(&after);
	ck_assert_str_eq(after.state, before.state);
	ck_assert_int_eq(after.epoch, before.epoch);
	ck_assert_int_eq(after.version, before.version);
	ck_assert_int_eq(after.transitions, before.transitions);
	ck_assert_int_eq(after.runs, before.runs);
}
END_TEST

/* ---- lint: the rules of Spectral's spectral:oas ruleset that apply ---------------
 * (`make lint-openapi` runs Spectral itself where node is installed): the API
 * names a contact; every operation has tags, a summary, a description, an
 * operationId and a security requirement of its own (an empty list: public
 * on purpose); every response is described; every operation answers some
 * 2xx or 3xx. */

static yaml_node_t *lint_deref(struct ydoc *d, yaml_node_t *n)
{
	for (int hops = 0; n && hops < 16; hops++) {
		const char *ref = ydoc_scalar(ydoc_get(d, n, "$ref"));
		if (!ref || strncmp(ref, "#/", 2))
			return n;
		char buf[256];
		snprintf(buf, sizeof(buf), "%s", ref + 2);
		n = ydoc_root(d);
		for (char *save = NULL, *part = strtok_r(buf, "/", &save); part && n;
		     part = strtok_r(NULL, "/", &save))
			n = ydoc_get(d, n, part);
	}
	return n;
}

static bool nonempty(struct ydoc *d, yaml_node_t *op, const char *key)
{
	yaml_node_t *n = ydoc_get(d, op, key);
	const char *v = ydoc_scalar(n);
	return (v && *v) || (n && n->type == YAML_SEQUENCE_NODE &&
			     n->data.sequence.items.top > n->data.sequence.items.start);
}

static void lint_operation(struct ydoc *d, const char *file, const char *path, const char *m,
			   yaml_node_t *op)
{
	static const char *const needed[] = { "tags", "summary", "description", "operationId" };
	for (size_t i = 0; i < sizeof(needed) / sizeof(needed[0]); i++)
		ck_assert_msg(nonempty(d, op, needed[i]), "%s: %s %s: no %s", file, m, path, needed[i]);
	yaml_node_t *sec = ydoc_get(d, op, "security");
	ck_assert_msg(sec && sec->type == YAML_SEQUENCE_NODE,
		      "%s: %s %s: no security (security: [] when public)", file, m, path);
	bool success = false;
	yaml_node_t *responses = ydoc_get(d, op, "responses");
	ck_assert_msg(responses, "%s: %s %s: no responses", file, m, path);
	FOR_PAIRS(r, responses) {
		const char *code = ydoc_scalar(ydoc_node(d, r->key)) ?: "";
		success |= code[0] == '2' || code[0] == '3';
		ck_assert_msg(nonempty(d, lint_deref(d, ydoc_node(d, r->value)), "description"),
			      "%s: %s %s: response %s has no description", file, m, path, code);
	}
	ck_assert_msg(success, "%s: %s %s: no 2xx or 3xx response", file, m, path);
}

static void lint_spec(const char *file)
{
	struct ydoc d;
	char err[600];
	ck_assert_msg(ydoc_load(&d, th_src(file), err, sizeof(err)) == 0, "%s", err);
	yaml_node_t *root = ydoc_root(&d);
	ck_assert_msg(ydoc_get(&d, ydoc_get(&d, root, "info"), "contact"), "%s: info.contact", file);
	int nops = 0;
	FOR_PAIRS(p, ydoc_get(&d, root, "paths")) {
		const char *path = ydoc_scalar(ydoc_node(&d, p->key));
		FOR_PAIRS(o, ydoc_node(&d, p->value)) {
			const char *m = ydoc_scalar(ydoc_node(&d, o->key));
			if (!m || !is_method(m))
				continue;
			lint_operation(&d, file, path, m, ydoc_node(&d, o->value));
			nops++;
		}
	}
	ck_assert_msg(nops > 5, "%s: only %d operations", file, nops);
	ydoc_free(&d);
}

START_TEST(test_openapi_files_pass_the_lint)
{
	lint_spec("docs/openapi.yaml");
	lint_spec("docs/openapi-drsite.yaml");
}
END_TEST

static Suite *api_suite(void)
{
	Suite *s = suite_create("api");
	TCase *tc = tcase_create("openapi");
	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_spec_lists_exactly_the_served_routes);
	tcase_add_test(tc, test_openapi_files_pass_the_lint);
	tcase_add_test(tc, test_every_documented_route_answers_as_documented);
	tcase_add_test(tc, test_bad_requests_answer_documented_errors);
	tcase_add_test(tc, test_refused_bodies_change_nothing);
	suite_add_tcase(s, tc);
	tc = tcase_create("bodies");
	tcase_add_test(tc, test_action_bodies_refuse_by_field_name);
	tcase_add_test(tc, test_action_bodies_fuzz);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	httpc_global_init();
	SRunner *sr = srunner_create(api_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
