/*
 * fsmgen.c — the FSM generator.  Owns the reading and checking of the state
 * machine spec (fsm/dr.fsm.yaml, whose header comment defines the format) and
 * everything derived from it:
 *
 *	fsmgen SPEC OUTDIR DOCDIR
 *
 * writes OUTDIR/fsm_table.h and OUTDIR/fsm_table.c (the C table fsm.c runs)
 * and DOCDIR/fsm.dot and DOCDIR/fsm.md (the same table for people), and
 * DOCDIR/fsm-commands.md (the operator commands by state, from the spec's
 * `commands` section: docs/reliability.md carries a copy).  Each
 * file is written beside its target and renamed into place, and nothing is
 * written unless the whole spec is accepted, so make never sees a half table.
 *
 * The story, in order: load the YAML; read the declarations (states, events,
 * guards, actions); read the rows; expand them into one row per (state,
 * event); check the machine; write the outputs.  Every refusal is reported as
 * SPEC:LINE:COLUMN: what is wrong (libyaml marks, 1-based), as many as can be
 * found in one run; the exit status is then 1 (2 for a usage error).
 *
 * Expanded row ids (stable, named by the audit log):
 *	ID		`from` is one state and `on` one event;
 *	ID@STATE	`from` is a list or "*", `on` one event;
 *	ID@STATE/EVENT	`on` is a list.
 * The shape follows how the row is written, not how many states it happens
 * to cover, so an id does not change when another row is edited.
 *
 * "*" in `from` stands for every state that has no row of its own (a row not
 * using "*") for that event, in declaration order.
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <yaml.h>

/* The event that a state's timeout raises. */
#define TIMEOUT_EVENT "TIMEOUT"

/* ======================================================================== */
/* The model of a spec                                                      */
/* ======================================================================== */

/* A declared state, event, guard or action. */
struct decl {
	const char *name;	/* points into the YAML document */
	const char *doc;
	long timeout_ms;	/* states only: 0 for a stable state */
	bool renews_lease;	/* states only: drorchd renews the primary's lease */
	bool reconciles;	/* states only: drorchd keeps sites in their roles */
	bool resting;		/* states only: no recovery runs (exactly: no timeout) */
	bool run_open;		/* states only: a failover or switchover run is open */
	bool awaits_operator;	/* states only: automation waits for an operator */
	yaml_mark_t at;		/* where the name is declared */
	bool reserved;		/* the "none" entry of guards and actions */
};

struct decls {
	struct decl *v;
	size_t n;
};

enum kind { KIND_TRANSITION, KIND_IGNORE, KIND_REJECT };

static const char *const kind_enum[] = { "FSM_TRANSITION", "FSM_IGNORE", "FSM_REJECT" };
static const char *const kind_word[] = { "to", "ignore", "reject" };

/* One row as written in the spec. */
struct row {
	const char *id;
	yaml_mark_t at;		/* the row itself */
	yaml_mark_t id_at;
	yaml_mark_t guard_at;
	size_t *from;		/* state indexes (empty for "*") */
	size_t nfrom;
	bool from_star;
	bool from_list;
	size_t *on;		/* event indexes */
	size_t non;
	bool on_list;
	size_t guard;		/* index in guards; 0 is "none" */
	size_t action;		/* index in actions; 0 is "none" */
	size_t to;		/* for an ignore or a reject: unused */
	enum kind kind;
	const char *reason;
	const char *opens_run;	/* the kind of run it opens (where it enters a run), or NULL */
	const char *ends_run;	/* the outcome of the run it ends (where it leaves one), or NULL */
	yaml_mark_t run_at;
};

/* One expanded row: one row of the spec for one (state, event). */
struct xrow {
	const struct row *row;
	size_t from;
	size_t event;
	char *id;
	const char *opens_run;	/* row->opens_run where it enters a run, else NULL */
	const char *ends_run;	/* row->ends_run where it leaves one, else NULL */
};

/* An operator command (the optional `commands` section): it raises an
 * event, or (no event) it is refused in every transient state. */
struct command {
	const char *name;
	const char *request;	/* e.g. "POST /v1/failover" */
	long event;		/* index in events, or -1 */
	const char *transient;	/* no event: the refusal in a transient state */
};

struct spec {
	const char *path;	/* as given: it prefixes every message */
	const char *base;	/* its file name, for the generated comments */
	yaml_document_t doc;
	bool loaded;
	struct decls states, events, guards, actions;
	struct command *cmds;
	size_t ncmds;
	size_t steady;
	struct row *rows;
	size_t nrows;
	struct xrow *x;
	size_t nx;
	int errors;
};

/* ======================================================================== */
/* Reporting                                                                */
/* ======================================================================== */

__attribute__((format(printf, 3, 4)))
static void refuse(struct spec *sp, yaml_mark_t at, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s:%zu:%zu: ", sp->path, at.line + 1, at.column + 1);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	sp->errors++;
}

/* Out of memory or an I/O failure: not the spec's fault, reported plainly. */
static void die_errno(const char *what)
{
	fprintf(stderr, "fsmgen: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);
	if (!p)
		die_errno("calloc");
	return p;
}

/* ======================================================================== */
/* YAML helpers                                                             */
/* ======================================================================== */

static yaml_node_t *node_at(struct spec *sp, yaml_node_item_t id)
{
	return yaml_document_get_node(&sp->doc, id);
}

/* A scalar's text, or NULL when the node is not a scalar. */
static const char *scalar(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static size_t map_size(const yaml_node_t *n)
{
	return (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
}

#define FOR_PAIRS(p, map) \
	for (yaml_node_pair_t *p = (map)->data.mapping.pairs.start; p < (map)->data.mapping.pairs.top; p++)

static bool want_map(struct spec *sp, const yaml_node_t *n, const char *what)
{
	if (n->type == YAML_MAPPING_NODE)
		return true;
	refuse(sp, n->start_mark, "%s: expected a mapping", what);
	return false;
}

/* The value of key in map, or NULL. */
static yaml_node_t *map_get(struct spec *sp, const yaml_node_t *map, const char *key)
{
	FOR_PAIRS(p, map) {
		const char *k = scalar(node_at(sp, p->key));
		if (k && strcmp(k, key) == 0)
			return node_at(sp, p->value);
	}
	return NULL;
}

static bool in_list(const char *s, const char *const list[])
{
	for (size_t i = 0; list[i]; i++)
		if (strcmp(s, list[i]) == 0)
			return true;
	return false;
}

/* Refuses keys that are not scalars, not in allowed, or given twice. */
static void check_keys(struct spec *sp, const yaml_node_t *map, const char *const allowed[],
		       const char *what)
{
	FOR_PAIRS(p, map) {
		yaml_node_t *kn = node_at(sp, p->key);
		const char *k = scalar(kn);
		if (!k) {
			refuse(sp, kn->start_mark, "%s: keys must be plain names", what);
			continue;
		}
		if (!in_list(k, allowed))
			refuse(sp, kn->start_mark, "%s: unknown key '%s'", what, k);
		for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
			const char *prev = scalar(node_at(sp, q->key));
			if (prev && strcmp(prev, k) == 0) {
				refuse(sp, kn->start_mark, "%s: key '%s' given twice", what, k);
				break;
			}
		}
	}
}

/* ======================================================================== */
/* Declarations: states, events, guards, actions                           */
/* ======================================================================== */

/* Names become C enumerators (FSM_S_<NAME>): letters, digits, underscores. */
static bool is_ident(const char *s)
{
	if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z')))
		return false;
	for (s++; *s; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		      (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	return true;
}

static long decl_find(const struct decls *d, const char *name)
{
	for (size_t i = 0; i < d->n; i++)
		if (strcmp(d->v[i].name, name) == 0)
			return (long)i;
	return -1;
}

/* Two names that differ only in case would make the same enumerator. */
static bool decl_name_ok(struct spec *sp, const struct decls *d, const yaml_node_t *kn,
			 const char *what)
{
	const char *name = scalar(kn);
	if (!name || !is_ident(name)) {
		refuse(sp, kn->start_mark, "%s name '%s' must be letters, digits and '_'", what,
		       name ? name : "?");
		return false;
	}
	for (size_t i = 0; i < d->n; i++) {
		if (strcasecmp(d->v[i].name, name) != 0)
			continue;
		if (d->v[i].reserved)
			refuse(sp, kn->start_mark, "%s name '%s' is reserved", what, name);
		else
			refuse(sp, kn->start_mark, "%s '%s' already declared at line %zu", what, name,
			       d->v[i].at.line + 1);
		return false;
	}
	return true;
}

static const char *doc_text(struct spec *sp, const yaml_node_t *n, const char *what,
			    const char *name)
{
	const char *doc = scalar(n);
	if (!doc || !*doc) {
		refuse(sp, n->start_mark, "%s %s: expected its description (a string)", what, name);
		return NULL;
	}
	return doc;
}

static long timeout_value(struct spec *sp, const yaml_node_t *n, const char *name)
{
	const char *s = scalar(n);
	char *end = NULL;
	long v = 0;

	if (s) {
		errno = 0;
		v = strtol(s, &end, 10);
	}
	if (!s || end == s || *end || errno || v <= 0 || v > INT_MAX) {
		refuse(sp, n->start_mark, "state %s: timeout_ms must be a positive integer", name);
		return 0;
	}
	return v;
}

/* An optional true/false flag of a state (absent: false). */
static bool state_flag(struct spec *sp, const yaml_node_t *body, const char *key,
		       const char *name)
{
	const yaml_node_t *n = map_get(sp, body, key);
	const char *v = n ? scalar(n) : NULL;
	if (!n)
		return false;
	if (v && strcmp(v, "true") == 0)
		return true;
	if (!v || strcmp(v, "false") != 0)
		refuse(sp, n->start_mark, "state %s: %s must be true or false", name, key);
	return false;
}

/* A state's value: {doc: "...", timeout_ms: N, resting: B, renews_lease: B,
 * reconciles: B, run_open: B, awaits_operator: B} (timeout_ms only if
 * transient, resting only if not). */
static void read_state_body(struct spec *sp, struct decl *d, const yaml_node_t *body)
{
	static const char *const keys[] = { "doc", "timeout_ms", "resting", "renews_lease",
					    "reconciles", "run_open", "awaits_operator", NULL };
	char what[128];

	snprintf(what, sizeof(what), "state %s", d->name);
	if (!want_map(sp, body, what))
		return;
	check_keys(sp, body, keys, what);
	const yaml_node_t *doc = map_get(sp, body, "doc");
	if (doc)
		d->doc = doc_text(sp, doc, "state", d->name);
	else
		refuse(sp, body->start_mark, "state %s: missing 'doc'", d->name);
	const yaml_node_t *t = map_get(sp, body, "timeout_ms");
	if (t)
		d->timeout_ms = timeout_value(sp, t, d->name);
	d->renews_lease = state_flag(sp, body, "renews_lease", d->name);
	d->reconciles = state_flag(sp, body, "reconciles", d->name);
	d->resting = state_flag(sp, body, "resting", d->name);
	d->run_open = state_flag(sp, body, "run_open", d->name);
	d->awaits_operator = state_flag(sp, body, "awaits_operator", d->name);
	if (d->reconciles && !d->renews_lease)
		refuse(sp, body->start_mark, "state %s: a state that lets the primary's lease run "
		       "out is replacing the primary: it cannot keep sites in their roles", d->name);
	if (d->resting == (d->timeout_ms != 0))
		refuse(sp, body->start_mark, "state %s: a state is either resting (resting: true) "
		       "or transient (timeout_ms), exactly one", d->name);
	if (d->awaits_operator && !d->resting)
		refuse(sp, body->start_mark, "state %s: only a resting state can wait for an "
		       "operator (a transient one times out)", d->name);
	if (d->awaits_operator && d->run_open)
		refuse(sp, body->start_mark, "state %s: a run is never left open while waiting for "
		       "an operator (end it: held)", d->name);
}

/*
 * Reads one section of declarations.  Guards and actions get a reserved
 * entry 0, "none", so that index i is enumerator i (FSM_G_NONE is 0).
 */
static void read_decls(struct spec *sp, const yaml_node_t *map, const char *what,
		       struct decls *d, bool with_none)
{
	char section[32];

	snprintf(section, sizeof(section), "%ss", what);
	if (map && !want_map(sp, map, section))
		map = NULL;
	d->v = xcalloc((map ? map_size(map) : 0) + 1, sizeof(*d->v));
	if (with_none)
		d->v[d->n++] = (struct decl){ .name = "none", .doc = "", .reserved = true };
	if (!map)
		return;
	FOR_PAIRS(p, map) {
		yaml_node_t *kn = node_at(sp, p->key);
		if (!decl_name_ok(sp, d, kn, what))
			continue;
		struct decl *dd = &d->v[d->n++];
		dd->name = scalar(kn);
		dd->at = kn->start_mark;
		if (d == &sp->states)
			read_state_body(sp, dd, node_at(sp, p->value));
		else
			dd->doc = doc_text(sp, node_at(sp, p->value), what, dd->name);
	}
}

static const char *const top_keys[] = {
	"steady", "states", "events", "guards", "actions", "commands", "rows", NULL
};

/* One command: {request: "METHOD PATH", event: EVENT} or
 * {request: ..., transient: "why it is refused while a recovery runs"}. */
static void read_command(struct spec *sp, struct command *c, const yaml_node_t *kn,
			 const yaml_node_t *body)
{
	static const char *const keys[] = { "request", "event", "transient", NULL };
	char what[96];
	snprintf(what, sizeof(what), "command %s", c->name);
	c->event = -1;
	if (!want_map(sp, body, what))
		return;
	check_keys(sp, body, keys, what);
	const yaml_node_t *rq = map_get(sp, body, "request"), *ev = map_get(sp, body, "event");
	const yaml_node_t *tr = map_get(sp, body, "transient");
	c->request = rq ? scalar(rq) : NULL;
	if (!c->request || !*c->request)
		refuse(sp, body->start_mark, "%s: missing 'request' (METHOD PATH)", what);
	if (!ev == !tr)
		refuse(sp, kn->start_mark, "%s: exactly one of 'event' or 'transient'", what);
	if (ev) {
		const char *name = scalar(ev);
		c->event = name ? decl_find(&sp->events, name) : -1;
		if (c->event < 0)
			refuse(sp, ev->start_mark, "%s: unknown event '%s'", what, name ? name : "?");
	}
	if (tr)
		c->transient = doc_text(sp, tr, "command", c->name);
}

static void read_commands(struct spec *sp, const yaml_node_t *map)
{
	if (!map || !want_map(sp, map, "commands"))
		return;
	sp->cmds = xcalloc(map_size(map), sizeof(*sp->cmds));
	FOR_PAIRS(p, map) {
		yaml_node_t *kn = node_at(sp, p->key);
		struct command *c = &sp->cmds[sp->ncmds++];
		c->name = scalar(kn);
		if (!c->name || !is_ident(c->name)) {
			refuse(sp, kn->start_mark, "command name must be letters, digits and '_'");
			c->name = "?";
		}
		read_command(sp, c, kn, node_at(sp, p->value));
	}
}

static yaml_node_t *required(struct spec *sp, const yaml_node_t *root, const char *key)
{
	yaml_node_t *n = map_get(sp, root, key);
	if (!n)
		refuse(sp, root->start_mark, "missing top-level '%s'", key);
	return n;
}

static void read_steady(struct spec *sp, const yaml_node_t *n)
{
	const char *name = scalar(n);
	long i = name ? decl_find(&sp->states, name) : -1;
	if (!name) {
		refuse(sp, n->start_mark, "steady: expected one state name");
		return;
	}
	if (i < 0) {
		refuse(sp, n->start_mark, "steady: unknown state '%s'", name);
		return;
	}
	sp->steady = (size_t)i;
	if (sp->states.v[i].timeout_ms)
		refuse(sp, n->start_mark, "steady state %s must not have a timeout", name);
}

static void read_declarations(struct spec *sp, const yaml_node_t *root)
{
	const yaml_node_t *states = required(sp, root, "states");
	const yaml_node_t *events = required(sp, root, "events");
	const yaml_node_t *steady = required(sp, root, "steady");

	read_decls(sp, states, "state", &sp->states, false);
	read_decls(sp, events, "event", &sp->events, false);
	read_decls(sp, map_get(sp, root, "guards"), "guard", &sp->guards, true);
	read_decls(sp, map_get(sp, root, "actions"), "action", &sp->actions, true);
	if (states && states->type == YAML_MAPPING_NODE && map_size(states) == 0)
		refuse(sp, states->start_mark, "no states declared");
	if (events && events->type == YAML_MAPPING_NODE && map_size(events) == 0)
		refuse(sp, events->start_mark, "no events declared");
	if (steady)
		read_steady(sp, steady);
	read_commands(sp, map_get(sp, root, "commands"));
}

/* ======================================================================== */
/* Rows                                                                     */
/* ======================================================================== */

/* Row ids: no '@' or '/', which the expansion appends. */
static bool is_row_id(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '-' || *s == '.'))
			return false;
	return true;
}

/* A name that must be declared in d; returns its index or -1 (reported). */
static long resolve(struct spec *sp, const yaml_node_t *n, const struct decls *d, const char *what)
{
	const char *name = scalar(n);
	long i = name ? decl_find(d, name) : -1;
	if (i < 0 || d->v[i].reserved) {
		refuse(sp, n->start_mark, "unknown %s '%s'", what, name ? name : "?");
		return -1;
	}
	return i;
}

static bool seen_before(const size_t *v, size_t n, size_t x)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == x)
			return true;
	return false;
}

/*
 * `from` or `on`: a name or a non-empty list of names, each once; `from`
 * may also be "*" (star is then set and the list left empty).
 */
static bool read_names(struct spec *sp, const yaml_node_t *n, const struct decls *d,
		       const char *what, size_t **out, size_t *nout, bool *is_list, bool *star)
{
	bool ok = true;

	*is_list = n->type == YAML_SEQUENCE_NODE;
	if (star && scalar(n) && strcmp(scalar(n), "*") == 0) {
		*star = true;
		return true;
	}
	if (!*is_list && !scalar(n)) {
		refuse(sp, n->start_mark, "expected one %s name or a list of them", what);
		return false;
	}
	yaml_node_item_t *items = *is_list ? n->data.sequence.items.start : NULL;
	size_t count = *is_list ? (size_t)(n->data.sequence.items.top - items) : 1;
	if (count == 0) {
		refuse(sp, n->start_mark, "empty list of %ss", what);
		return false;
	}
	*out = xcalloc(count, sizeof(**out));
	for (size_t i = 0; i < count; i++) {
		const yaml_node_t *item = *is_list ? node_at(sp, items[i]) : n;
		long idx = resolve(sp, item, d, what);
		if (idx < 0) {
			ok = false;
		} else if (seen_before(*out, *nout, (size_t)idx)) {
			refuse(sp, item->start_mark, "%s %s listed twice", what, scalar(item));
			ok = false;
		} else {
			(*out)[(*nout)++] = (size_t)idx;
		}
	}
	return ok;
}

static void check_unique_id(struct spec *sp, const struct row *r)
{
	for (const struct row *prev = sp->rows; prev < r; prev++)
		if (prev->id && strcmp(prev->id, r->id) == 0) {
			refuse(sp, r->id_at, "duplicate row id %s (first at line %zu)", r->id,
			       prev->id_at.line + 1);
			return;
		}
}

static bool read_row_id(struct spec *sp, const yaml_node_t *row, struct row *r)
{
	const yaml_node_t *n = map_get(sp, row, "id");
	if (!n) {
		refuse(sp, row->start_mark, "row without an 'id'");
		return false;
	}
	r->id_at = n->start_mark;
	if (!scalar(n) || !is_row_id(scalar(n))) {
		refuse(sp, n->start_mark, "row id must be letters, digits, '_', '-' or '.'");
		return false;
	}
	r->id = scalar(n);
	check_unique_id(sp, r);
	return true;
}

/* Exactly one of to / ignore / reject; sets r->kind.  Returns its node. */
static const yaml_node_t *read_outcome(struct spec *sp, const yaml_node_t *row, struct row *r)
{
	const yaml_node_t *found = NULL;
	char seen[64] = "";
	int count = 0;

	for (int k = KIND_TRANSITION; k <= KIND_REJECT; k++) {
		const yaml_node_t *n = map_get(sp, row, kind_word[k]);
		if (!n)
			continue;
		snprintf(seen + strlen(seen), sizeof(seen) - strlen(seen), "%s%s",
			 count ? ", " : "", kind_word[k]);
		count++;
		found = n;
		r->kind = (enum kind)k;
	}
	if (count != 1) {
		refuse(sp, row->start_mark, "row %s: needs exactly one of to, ignore or reject (%s%s)",
		       r->id, count ? "has " : "has none", seen);
		return NULL;
	}
	return found;
}

/* A transition names its action and reason; an ignore or reject is its reason. */
static bool read_effect(struct spec *sp, const yaml_node_t *row, struct row *r,
			const yaml_node_t *outcome)
{
	const yaml_node_t *action = map_get(sp, row, "action");
	const yaml_node_t *reason = map_get(sp, row, "reason");

	if (r->kind != KIND_TRANSITION) {
		if (r->opens_run || r->ends_run) {
			refuse(sp, r->run_at, "row %s: an %s row opens or ends no run", r->id,
			       kind_word[r->kind]);
			return false;
		}
		if (action || reason) {
			refuse(sp, (action ? action : reason)->start_mark,
			       "row %s: an %s row takes no '%s' (its text is the reason)", r->id,
			       kind_word[r->kind], action ? "action" : "reason");
			return false;
		}
		r->reason = scalar(outcome);
		if (r->reason && *r->reason)
			return true;
		refuse(sp, outcome->start_mark, "row %s: %s needs its reason (a string)", r->id,
		       kind_word[r->kind]);
		return false;
	}
	long to = resolve(sp, outcome, &sp->states, "state");
	r->to = to < 0 ? 0 : (size_t)to;
	long act = action ? resolve(sp, action, &sp->actions, "action") : -1;
	r->action = act < 0 ? 0 : (size_t)act;
	r->reason = reason ? scalar(reason) : NULL;
	if (!action)
		refuse(sp, row->start_mark, "row %s: a transition needs an 'action'", r->id);
	if (!r->reason || !*r->reason)
		refuse(sp, (reason ? reason : row)->start_mark, "row %s: a transition needs a 'reason'",
		       r->id);
	return to >= 0 && act >= 0 && r->reason && *r->reason;
}

static bool read_guard(struct spec *sp, const yaml_node_t *row, struct row *r)
{
	const yaml_node_t *n = map_get(sp, row, "guard");
	if (!n)
		return true;
	r->guard_at = n->start_mark;
	long g = resolve(sp, n, &sp->guards, "guard");
	r->guard = g < 0 ? 0 : (size_t)g;
	return g >= 0;
}

/* A run's kind and outcome are plain words: they name runs in the store. */
static const char *const run_outcomes[] = { "succeeded", "failed", "held", NULL };

/* opens_run: KIND and ends_run: OUTCOME, transitions only. */
static bool read_run(struct spec *sp, const yaml_node_t *row, struct row *r)
{
	const yaml_node_t *op = map_get(sp, row, "opens_run"), *en = map_get(sp, row, "ends_run");
	bool ok = true;
	if (op) {
		r->opens_run = scalar(op);
		r->run_at = op->start_mark;
		if (!r->opens_run || !is_ident(r->opens_run)) {
			refuse(sp, op->start_mark, "row %s: opens_run names the kind of run (a word)",
			       r->id);
			ok = false;
		}
	}
	if (en) {
		r->ends_run = scalar(en);
		r->run_at = en->start_mark;
		if (!r->ends_run || !in_list(r->ends_run, run_outcomes)) {
			refuse(sp, en->start_mark, "row %s: ends_run must be succeeded, failed or held",
			       r->id);
			ok = false;
		}
	}
	return ok;
}

static bool read_row(struct spec *sp, const yaml_node_t *row, struct row *r)
{
	static const char *const keys[] = {
		"id", "from", "on", "guard", "to", "ignore", "reject", "action", "reason",
		"opens_run", "ends_run", NULL
	};
	const yaml_node_t *from, *on, *outcome;
	bool ok;

	char what[128];

	r->at = row->start_mark;
	if (!want_map(sp, row, "row"))
		return false;
	ok = read_row_id(sp, row, r);
	if (!r->id)
		r->id = "?";
	snprintf(what, sizeof(what), "row %s", r->id);
	check_keys(sp, row, keys, what);
	from = map_get(sp, row, "from");
	on = map_get(sp, row, "on");
	if (!from || !on) {
		refuse(sp, row->start_mark, "row %s: needs 'from' and 'on'", r->id);
		return false;
	}
	ok &= read_names(sp, from, &sp->states, "state", &r->from, &r->nfrom, &r->from_list,
			 &r->from_star);
	ok &= read_names(sp, on, &sp->events, "event", &r->on, &r->non, &r->on_list, NULL);
	ok &= read_guard(sp, row, r);
	outcome = read_outcome(sp, row, r);
	ok &= read_run(sp, row, r);
	return outcome && read_effect(sp, row, r, outcome) && ok;
}

static void read_rows(struct spec *sp, const yaml_node_t *rows)
{
	if (rows->type != YAML_SEQUENCE_NODE) {
		refuse(sp, rows->start_mark, "rows: expected a list");
		return;
	}
	yaml_node_item_t *items = rows->data.sequence.items.start;
	size_t count = (size_t)(rows->data.sequence.items.top - items);
	sp->rows = xcalloc(count, sizeof(*sp->rows));
	for (size_t i = 0; i < count; i++)
		read_row(sp, node_at(sp, items[i]), &sp->rows[sp->nrows++]);
	if (count == 0)
		refuse(sp, rows->start_mark, "no rows");
}

/* ======================================================================== */
/* Expansion: one row per (state, event)                                    */
/* ======================================================================== */

static bool *explicit_pairs(const struct spec *sp)
{
	bool *has = xcalloc(sp->states.n * sp->events.n, sizeof(*has));
	for (const struct row *r = sp->rows; r < sp->rows + sp->nrows; r++)
		for (size_t i = 0; !r->from_star && i < r->nfrom; i++)
			for (size_t j = 0; j < r->non; j++)
				has[r->from[i] * sp->events.n + r->on[j]] = true;
	return has;
}

static char *expanded_id(const struct spec *sp, const struct row *r, size_t s, size_t e)
{
	char *id = NULL;
	int n;

	if (r->on_list)
		n = asprintf(&id, "%s@%s/%s", r->id, sp->states.v[s].name, sp->events.v[e].name);
	else if (r->from_list || r->from_star)
		n = asprintf(&id, "%s@%s", r->id, sp->states.v[s].name);
	else
		n = asprintf(&id, "%s", r->id);
	if (n < 0)
		die_errno("asprintf");
	return id;
}

/* Appends the (state, event) pairs of r; returns how many. */
static size_t expand_row(struct spec *sp, const struct row *r, const bool *has)
{
	size_t added = 0;
	size_t nstates = r->from_star ? sp->states.n : r->nfrom;

	for (size_t i = 0; i < nstates; i++) {
		size_t s = r->from_star ? i : r->from[i];
		for (size_t j = 0; j < r->non; j++) {
			size_t e = r->on[j];
			if (r->from_star && has[s * sp->events.n + e])
				continue;
			sp->x[sp->nx++] = (struct xrow){ .row = r, .from = s, .event = e,
						  .id = expanded_id(sp, r, s, e) };
			added++;
		}
	}
	return added;
}

static void expand(struct spec *sp)
{
	bool *has = explicit_pairs(sp);
	size_t cap = 0;

	for (const struct row *r = sp->rows; r < sp->rows + sp->nrows; r++)
		cap += (r->from_star ? sp->states.n : r->nfrom) * r->non;
	sp->x = xcalloc(cap, sizeof(*sp->x));
	for (const struct row *r = sp->rows; r < sp->rows + sp->nrows; r++)
		if (expand_row(sp, r, has) == 0)
			refuse(sp, r->at, "row %s: \"*\" matches no state (each has its own row)", r->id);
	free(has);
}

/* ======================================================================== */
/* Checks                                                                   */
/* ======================================================================== */

/*
 * Per (state, event): some row must exist, no row may follow an unguarded
 * one (it could never fire), and the last one must be unguarded (a fallback).
 */
static void check_pair(struct spec *sp, size_t s, size_t e)
{
	const struct xrow *last = NULL, *fallback = NULL;
	const char *sn = sp->states.v[s].name, *en = sp->events.v[e].name;

	for (const struct xrow *x = sp->x; x < sp->x + sp->nx; x++) {
		if (x->from != s || x->event != e)
			continue;
		if (fallback)
			refuse(sp, x->row->at, "row %s is unreachable: row %s (line %zu) already handles "
			       "(%s, %s) without a guard", x->id, fallback->id, fallback->row->at.line + 1,
			       sn, en);
		else if (!x->row->guard)
			fallback = x;
		last = x;
	}
	if (!last)
		refuse(sp, sp->states.v[s].at, "state %s declares no behaviour for event %s "
		       "(add a transition, ignore or reject row)", sn, en);
	else if (!fallback)
		refuse(sp, last->row->guard_at, "row %s: guard %s has no fallback: the last row of "
		       "(%s, %s) must carry no guard", last->id, sp->guards.v[last->row->guard].name,
		       sn, en);
}

/* A transient state must leave on TIMEOUT; a stable one never sees it. */
static void check_timeout(struct spec *sp, size_t s, long timeout_event)
{
	const struct decl *st = &sp->states.v[s];
	const struct xrow *last = NULL;

	for (const struct xrow *x = sp->x; x < sp->x + sp->nx; x++)
		if ((long)x->event == timeout_event && x->from == s) {
			if (!st->timeout_ms && x->row->kind == KIND_TRANSITION)
				refuse(sp, x->row->at, "row %s: state %s has no timeout_ms, so its "
				       TIMEOUT_EVENT " transition can never fire", x->id, st->name);
			last = x;
		}
	if (st->timeout_ms && (!last || last->row->kind != KIND_TRANSITION))
		refuse(sp, st->at, "transient state %s (timeout_ms %ld) has no " TIMEOUT_EVENT
		       " transition row", st->name, st->timeout_ms);
}

static void check_timeouts(struct spec *sp)
{
	long timeout_event = decl_find(&sp->events, TIMEOUT_EVENT);

	for (size_t s = 0; s < sp->states.n; s++) {
		if (timeout_event >= 0)
			check_timeout(sp, s, timeout_event);
		else if (sp->states.v[s].timeout_ms)
			refuse(sp, sp->states.v[s].at, "transient state %s: no event " TIMEOUT_EVENT
			       " declared", sp->states.v[s].name);
	}
}

/* Marks every state reachable from steady, forwards or (backwards) towards it. */
static void closure(const struct spec *sp, bool *mark, bool backwards)
{
	bool changed = true;

	mark[sp->steady] = true;
	while (changed) {
		changed = false;
		for (const struct xrow *x = sp->x; x < sp->x + sp->nx; x++) {
			if (x->row->kind != KIND_TRANSITION)
				continue;
			size_t src = backwards ? x->row->to : x->from;
			size_t dst = backwards ? x->from : x->row->to;
			if (mark[src] && !mark[dst])
				mark[dst] = changed = true;
		}
	}
}

static void check_graph(struct spec *sp)
{
	bool *reached = xcalloc(sp->states.n, sizeof(bool));
	bool *returns = xcalloc(sp->states.n, sizeof(bool));
	const char *steady = sp->states.v[sp->steady].name;

	closure(sp, reached, false);
	closure(sp, returns, true);
	for (size_t s = 0; s < sp->states.n; s++) {
		const struct decl *st = &sp->states.v[s];
		if (!reached[s])
			refuse(sp, st->at, "state %s is unreachable: no chain of transitions leads "
			       "to it from %s", st->name, steady);
		else if (!returns[s])
			refuse(sp, st->at, "state %s has no way back: no chain of transitions leads "
			       "from it to %s", st->name, steady);
	}
	free(reached);
	free(returns);
}

/*
 * The run lifecycle: a transition from a state without an open run into
 * one with (run_open) opens a run, and must say its kind (opens_run); one
 * that leaves the run states ends it, and must say how (ends_run).  Where a
 * row's expansion neither enters nor leaves, the words do not apply there
 * (R01 "*" ends a run only from a state that has one); a word that applies
 * nowhere is refused.
 */
static void check_runs(struct spec *sp)
{
	bool *opens_used = xcalloc(sp->nrows, sizeof(bool)), *ends_used = xcalloc(sp->nrows, sizeof(bool));
	for (struct xrow *x = sp->x; x < sp->x + sp->nx; x++) {
		const struct row *r = x->row;
		if (r->kind != KIND_TRANSITION)
			continue;
		const struct decl *from = &sp->states.v[x->from], *to = &sp->states.v[r->to];
		size_t i = (size_t)(r - sp->rows);
		if (!from->run_open && to->run_open) {
			if (!r->opens_run)
				refuse(sp, r->at, "row %s: enters %s (run_open) from %s, which has no run "
				       "open: it needs opens_run: KIND", x->id, to->name, from->name);
			x->opens_run = r->opens_run;
			opens_used[i] = true;
		}
		if (from->run_open && !to->run_open) {
			if (!r->ends_run)
				refuse(sp, r->at, "row %s: leaves the run of %s for %s: it needs "
				       "ends_run: succeeded | failed | held", x->id, from->name, to->name);
			x->ends_run = r->ends_run;
			ends_used[i] = true;
		}
	}
	for (size_t i = 0; i < sp->nrows; i++) {
		const struct row *r = &sp->rows[i];
		if ((r->opens_run && !opens_used[i]) || (r->ends_run && !ends_used[i]))
			refuse(sp, r->run_at, "row %s: %s applies to none of its transitions (none %s "
			       "a run_open state)", r->id, r->opens_run && !opens_used[i] ?
			       "opens_run" : "ends_run", r->opens_run && !opens_used[i] ?
			       "enters" : "leaves");
	}
	free(opens_used);
	free(ends_used);
}

static void check_machine(struct spec *sp)
{
	for (size_t s = 0; s < sp->states.n; s++)
		for (size_t e = 0; e < sp->events.n; e++)
			check_pair(sp, s, e);
	check_timeouts(sp);
	check_graph(sp);
	check_runs(sp);
}

/* ======================================================================== */
/* Loading                                                                  */
/* ======================================================================== */

static bool load_yaml(struct spec *sp)
{
	yaml_parser_t parser;
	FILE *f = fopen(sp->path, "rb");
	bool ok;

	if (!f) {
		fprintf(stderr, "%s: %s\n", sp->path, strerror(errno));
		return false;
	}
	if (!yaml_parser_initialize(&parser))
		die_errno("yaml_parser_initialize");
	yaml_parser_set_input_file(&parser, f);
	ok = yaml_parser_load(&parser, &sp->doc);
	if (!ok)
		refuse(sp, parser.problem_mark, "YAML: %s%s%s", parser.problem ? parser.problem : "error",
		       parser.context ? " " : "", parser.context ? parser.context : "");
	sp->loaded = ok;
	yaml_parser_delete(&parser);
	fclose(f);
	return ok;
}

/* Reads and checks the whole spec; false if anything was refused. */
static bool read_spec(struct spec *sp)
{
	if (!load_yaml(sp))
		return false;
	yaml_node_t *root = yaml_document_get_root_node(&sp->doc);
	if (!root) {
		refuse(sp, (yaml_mark_t){ 0 }, "empty spec");
		return false;
	}
	if (!want_map(sp, root, "spec"))
		return false;
	check_keys(sp, root, top_keys, "spec");
	read_declarations(sp, root);
	yaml_node_t *rows = required(sp, root, "rows");
	if (sp->errors || !rows)
		return false;
	read_rows(sp, rows);
	if (sp->errors)
		return false;
	expand(sp);
	check_machine(sp);
	return sp->errors == 0;
}

static void free_spec(struct spec *sp)
{
	for (size_t i = 0; i < sp->nrows; i++) {
		free(sp->rows[i].from);
		free(sp->rows[i].on);
	}
	for (size_t i = 0; i < sp->nx; i++)
		free(sp->x[i].id);
	free(sp->rows);
	free(sp->x);
	free(sp->states.v);
	free(sp->events.v);
	free(sp->guards.v);
	free(sp->actions.v);
	free(sp->cmds);
	if (sp->loaded)
		yaml_document_delete(&sp->doc);
}

/* ======================================================================== */
/* Output files: written beside the target, renamed into place when whole   */
/* ======================================================================== */

struct out {
	FILE *f;
	char *path;
	char *tmp;
};

static void out_open(struct out *o, const char *dir, const char *name)
{
	if (asprintf(&o->path, "%s/%s", dir, name) < 0 ||
	    asprintf(&o->tmp, "%s/.%s.tmp", dir, name) < 0)
		die_errno("asprintf");
	o->f = fopen(o->tmp, "w");
	if (!o->f)
		die_errno(o->tmp);
}

static void out_close(struct out *o)
{
	bool bad = ferror(o->f) != 0;
	if (fclose(o->f) != 0 || bad || rename(o->tmp, o->path) != 0) {
		int saved = errno;
		unlink(o->tmp);
		errno = saved;
		die_errno(o->path);
	}
	free(o->path);
	free(o->tmp);
}

static void put_upper(FILE *f, const char *s)
{
	for (; *s; s++)
		fputc(*s >= 'a' && *s <= 'z' ? *s - 'a' + 'A' : *s, f);
}

/* A C string literal.  '?' is escaped so no trigraph can form. */
static void put_c_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\' || *p == '?')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(f, "\\%03o", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

/* ======================================================================== */
/* fsm_table.h and fsm_table.c                                              */
/* ======================================================================== */

static void emit_enum(FILE *f, const char *tag, const char *prefix, const struct decls *d,
		      const char *count)
{
	fprintf(f, "enum %s {\n", tag);
	for (size_t i = 0; i < d->n; i++) {
		fprintf(f, "\t%s", prefix);
		put_upper(f, d->v[i].name);
		fprintf(f, ",\n");
	}
	fprintf(f, "\t%s\n};\n\n", count);
}

static void emit_header(const struct spec *sp, FILE *f)
{
	fprintf(f, "/*\n * fsm_table.h — generated by fsmgen from %s: do not edit.\n"
		" * The states, events, guards, actions and expanded rows of the DR state\n"
		" * machine; fsm.h is the interface to use.\n */\n", sp->base);
	fprintf(f, "#ifndef DRORCH_FSM_TABLE_H\n#define DRORCH_FSM_TABLE_H\n\n#include <stdbool.h>\n#include <stddef.h>\n\n");
	emit_enum(f, "fsm_state", "FSM_S_", &sp->states, "FSM_NSTATES");
	emit_enum(f, "fsm_event", "FSM_E_", &sp->events, "FSM_NEVENTS");
	emit_enum(f, "fsm_guard", "FSM_G_", &sp->guards, "FSM_NGUARDS");
	emit_enum(f, "fsm_action", "FSM_A_", &sp->actions, "FSM_NACTIONS");
	fprintf(f, "/* The operator commands (the spec's `commands`). */\nenum fsm_command {\n");
	for (size_t i = 0; i < sp->ncmds; i++) {
		fprintf(f, "\tFSM_C_");
		put_upper(f, sp->cmds[i].name);
		fprintf(f, ",\n");
	}
	fprintf(f, "\tFSM_NCOMMANDS\n};\n\n");
	fprintf(f, "enum fsm_kind { FSM_TRANSITION, FSM_IGNORE, FSM_REJECT };\n\n");
	fprintf(f, "/* The steady state: where the machine starts and must always be able to return. */\n"
		"#define FSM_STEADY FSM_S_");
	put_upper(f, sp->states.v[sp->steady].name);
	fprintf(f, "\n#define FSM_NROWS %zu\n\n", sp->nx);
	fprintf(f, "/* One row per (state, event); an ignore or reject row has to == from. */\n"
		"struct fsm_row {\n\tconst char *id;\n\tenum fsm_state from;\n\tenum fsm_event event;\n"
		"\tenum fsm_guard guard;\n\tenum fsm_action action;\n\tenum fsm_state to;\n"
		"\tenum fsm_kind kind;\n\tconst char *reason;\n"
		"\t/* entering a run_open state: the kind of run it opens; leaving one:\n"
		"\t * the outcome of the run it ends (succeeded, failed, held); else NULL */\n"
		"\tconst char *opens_run;\n\tconst char *ends_run;\n};\n\n");
	fprintf(f, "/* In spec order: the rows of one (state, event) are tried in this order. */\n"
		"extern const struct fsm_row fsm_rows[FSM_NROWS];\n"
		"extern const size_t fsm_nrows;\n\n"
		"extern const char *const fsm_state_names[FSM_NSTATES];\n"
		"extern const char *const fsm_event_names[FSM_NEVENTS];\n"
		"extern const char *const fsm_guard_names[FSM_NGUARDS];\n"
		"extern const char *const fsm_action_names[FSM_NACTIONS];\n\n"
		"/* 0 for a stable state; a transient state's TIMEOUT fires after this long. */\n"
		"extern const unsigned fsm_state_timeout_ms[FSM_NSTATES];\n"
		"/* true: drorchd heartbeats the cluster's primary, renewing its write lease. */\n"
		"extern const bool fsm_state_renews_lease[FSM_NSTATES];\n"
		"/* true: drorchd keeps every site in the role the cluster row says. */\n"
		"extern const bool fsm_state_reconciles[FSM_NSTATES];\n"
		"/* true: no recovery runs (the state has no timeout). */\n"
		"extern const bool fsm_state_resting[FSM_NSTATES];\n"
		"/* true: a failover or switchover run is open in this state. */\n"
		"extern const bool fsm_state_run_open[FSM_NSTATES];\n"
		"/* true: automation waits for an operator's command. */\n"
		"extern const bool fsm_state_awaits_operator[FSM_NSTATES];\n"
		"/* true: state s accepts command c (some row of (s, its event) is a\n"
		" * transition; a command without an event: s is resting). */\n"
		"extern const bool fsm_state_accepts[FSM_NSTATES][FSM_NCOMMANDS + 1];\n"
		"/* Each list ends with NULL (-1 for events). */\n"
		"extern const char *const fsm_command_names[FSM_NCOMMANDS + 1];\n"
		"/* e.g. \"POST /v1/failover\" */\n"
		"extern const char *const fsm_command_requests[FSM_NCOMMANDS + 1];\n"
		"/* the event the command raises, or -1 */\n"
		"extern const int fsm_command_events[FSM_NCOMMANDS + 1];\n"
		"/* a command without an event: why it is refused while a recovery runs */\n"
		"extern const char *const fsm_command_refusals[FSM_NCOMMANDS + 1];\n"
		"extern const char *const fsm_state_docs[FSM_NSTATES];\n"
		"extern const char *const fsm_event_docs[FSM_NEVENTS];\n"
		"extern const char *const fsm_guard_docs[FSM_NGUARDS];\n"
		"extern const char *const fsm_action_docs[FSM_NACTIONS];\n\n"
		"#endif\n");
}

static void emit_strings(FILE *f, const char *decl, const struct decls *d, bool docs)
{
	fprintf(f, "const char *const %s = {\n", decl);
	for (size_t i = 0; i < d->n; i++) {
		fputc('\t', f);
		put_c_string(f, docs ? (d->v[i].doc ? d->v[i].doc : "") : d->v[i].name);
		fprintf(f, ",\n");
	}
	fprintf(f, "};\n\n");
}

static void put_c_opt(FILE *f, const char *s)
{
	if (s)
		put_c_string(f, s);
	else
		fprintf(f, "NULL");
}

static void emit_bools(FILE *f, const char *name, const struct decls *d, size_t field_off)
{
	fprintf(f, "const bool %s[FSM_NSTATES] = {\n", name);
	for (size_t i = 0; i < d->n; i++)
		fprintf(f, "\t%s, /* %s */\n", *(const bool *)((const char *)&d->v[i] + field_off) ?
			"true" : "false", d->v[i].name);
	fprintf(f, "};\n\n");
}

/* Does state s accept command c: a transition row of (s, c's event), or,
 * for a command that raises none, s resting. */
static bool accepts(const struct spec *sp, size_t s, const struct command *c)
{
	if (c->event < 0)
		return sp->states.v[s].resting;
	for (const struct xrow *x = sp->x; x < sp->x + sp->nx; x++)
		if (x->from == s && x->event == (size_t)c->event && x->row->kind == KIND_TRANSITION)
			return true;
	return false;
}

/* const char *const NAME[FSM_NCOMMANDS + 1]: one string field of each
 * command (NULL where it has none), then NULL. */
static void emit_command_strings(const struct spec *sp, FILE *f, const char *name, size_t off)
{
	fprintf(f, "const char *const %s[FSM_NCOMMANDS + 1] = {\n", name);
	for (size_t i = 0; i < sp->ncmds; i++) {
		fputc('\t', f);
		put_c_opt(f, *(const char *const *)((const char *)&sp->cmds[i] + off));
		fprintf(f, ",\n");
	}
	fprintf(f, "\tNULL\n};\n\n");
}

static void emit_commands_c(const struct spec *sp, FILE *f)
{
	fprintf(f, "const bool fsm_state_accepts[FSM_NSTATES][FSM_NCOMMANDS + 1] = {\n");
	for (size_t s = 0; s < sp->states.n; s++) {
		fprintf(f, "\t{");
		for (size_t i = 0; i < sp->ncmds; i++)
			fprintf(f, " %s,", accepts(sp, s, &sp->cmds[i]) ? "true" : "false");
		fprintf(f, " false }, /* %s */\n", sp->states.v[s].name);
	}
	fprintf(f, "};\n\n");
	emit_command_strings(sp, f, "fsm_command_names", offsetof(struct command, name));
	emit_command_strings(sp, f, "fsm_command_requests", offsetof(struct command, request));
	emit_command_strings(sp, f, "fsm_command_refusals", offsetof(struct command, transient));
	fprintf(f, "const int fsm_command_events[FSM_NCOMMANDS + 1] = {\n");
	for (size_t i = 0; i < sp->ncmds; i++) {
		if (sp->cmds[i].event < 0) {
			fprintf(f, "\t-1,\n");
			continue;
		}
		fprintf(f, "\tFSM_E_");
		put_upper(f, sp->events.v[sp->cmds[i].event].name);
		fprintf(f, ",\n");
	}
	fprintf(f, "\t-1\n};\n\n");
}

static void emit_row(const struct spec *sp, FILE *f, const struct xrow *x)
{
	const struct row *r = x->row;
	size_t to = r->kind == KIND_TRANSITION ? r->to : x->from;

	fprintf(f, "\t/* %s:%zu */\n\t{ ", sp->base, r->at.line + 1);
	put_c_string(f, x->id);
	fprintf(f, ", FSM_S_");
	put_upper(f, sp->states.v[x->from].name);
	fprintf(f, ", FSM_E_");
	put_upper(f, sp->events.v[x->event].name);
	fprintf(f, ", FSM_G_");
	put_upper(f, sp->guards.v[r->guard].name);
	fprintf(f, ", FSM_A_");
	put_upper(f, sp->actions.v[r->action].name);
	fprintf(f, ", FSM_S_");
	put_upper(f, sp->states.v[to].name);
	fprintf(f, ", %s,\n\t  ", kind_enum[r->kind]);
	put_c_string(f, r->reason);
	fprintf(f, ",\n\t  ");
	put_c_opt(f, x->opens_run);
	fprintf(f, ", ");
	put_c_opt(f, x->ends_run);
	fprintf(f, " },\n");
}

static void emit_source(const struct spec *sp, FILE *f)
{
	fprintf(f, "/* fsm_table.c — generated by fsmgen from %s: do not edit. */\n"
		"#include \"fsm_table.h\"\n\n", sp->base);
	fprintf(f, "const struct fsm_row fsm_rows[FSM_NROWS] = {\n");
	for (const struct xrow *x = sp->x; x < sp->x + sp->nx; x++)
		emit_row(sp, f, x);
	fprintf(f, "};\n\nconst size_t fsm_nrows = FSM_NROWS;\n\n");
	emit_strings(f, "fsm_state_names[FSM_NSTATES]", &sp->states, false);
	emit_strings(f, "fsm_event_names[FSM_NEVENTS]", &sp->events, false);
	emit_strings(f, "fsm_guard_names[FSM_NGUARDS]", &sp->guards, false);
	emit_strings(f, "fsm_action_names[FSM_NACTIONS]", &sp->actions, false);
	fprintf(f, "const unsigned fsm_state_timeout_ms[FSM_NSTATES] = {\n");
	for (size_t i = 0; i < sp->states.n; i++)
		fprintf(f, "\t%ld, /* %s */\n", sp->states.v[i].timeout_ms, sp->states.v[i].name);
	fprintf(f, "};\n\n");
	emit_bools(f, "fsm_state_renews_lease", &sp->states, offsetof(struct decl, renews_lease));
	emit_bools(f, "fsm_state_reconciles", &sp->states, offsetof(struct decl, reconciles));
	emit_bools(f, "fsm_state_resting", &sp->states, offsetof(struct decl, resting));
	emit_bools(f, "fsm_state_run_open", &sp->states, offsetof(struct decl, run_open));
	emit_bools(f, "fsm_state_awaits_operator", &sp->states,
		   offsetof(struct decl, awaits_operator));
	emit_commands_c(sp, f);
	emit_strings(f, "fsm_state_docs[FSM_NSTATES]", &sp->states, true);
	emit_strings(f, "fsm_event_docs[FSM_NEVENTS]", &sp->events, true);
	emit_strings(f, "fsm_guard_docs[FSM_NGUARDS]", &sp->guards, true);
	emit_strings(f, "fsm_action_docs[FSM_NACTIONS]", &sp->actions, true);
}

/* ======================================================================== */
/* fsm.dot                                                                  */
/* ======================================================================== */

static void put_dot_string(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		fputc(*s == '\n' ? ' ' : *s, f);
	}
}

static void emit_dot_state(const struct spec *sp, FILE *f, size_t s)
{
	const struct decl *st = &sp->states.v[s];

	fprintf(f, "\t\"%s\" [", st->name);
	if (st->timeout_ms)
		fprintf(f, "label=\"%s\\n%ld ms\", style=\"rounded,dashed\", ", st->name,
			st->timeout_ms);
	else if (s == sp->steady)
		fprintf(f, "peripheries=2, style=\"rounded,bold\", ");
	fprintf(f, "tooltip=\"");
	put_dot_string(f, st->doc);
	fprintf(f, "\"];\n");
}

static void emit_dot(const struct spec *sp, FILE *f)
{
	fprintf(f, "// fsm.dot — generated by fsmgen from %s: do not edit.\n"
		"// Transient states (with a timeout) are dashed; the steady state is doubled.\n"
		"// Ignore and reject rows do not move the machine and are not drawn.\n"
		"digraph drorch_fsm {\n\trankdir=LR;\n"
		"\tnode [shape=box, style=rounded, fontname=\"Helvetica\"];\n"
		"\tedge [fontname=\"Helvetica\", fontsize=10];\n", sp->base);
	for (size_t s = 0; s < sp->states.n; s++)
		emit_dot_state(sp, f, s);
	for (const struct xrow *x = sp->x; x < sp->x + sp->nx; x++) {
		const struct row *r = x->row;
		if (r->kind != KIND_TRANSITION)
			continue;
		fprintf(f, "\t\"%s\" -> \"%s\" [label=\"%s", sp->states.v[x->from].name,
			sp->states.v[r->to].name, sp->events.v[x->event].name);
		if (r->guard)
			fprintf(f, " [%s]", sp->guards.v[r->guard].name);
		fprintf(f, "\\n%s\", tooltip=\"", x->id);
		put_dot_string(f, r->reason);
		fprintf(f, "\"%s];\n", r->guard ? ", style=dashed" : "");
	}
	fprintf(f, "}\n");
}

/* ======================================================================== */
/* fsm.md                                                                   */
/* ======================================================================== */

/* Table cell text: '|' would end the cell, '<' could open HTML. */
static void put_md(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '|')
			fputs("\\|", f);
		else if (*s == '<')
			fputs("&lt;", f);
		else
			fputc(*s == '\n' ? ' ' : *s, f);
	}
}

static void emit_md_states(const struct spec *sp, FILE *f)
{
	fprintf(f, "## States\n\nKind: resting (no recovery runs; `waits` when automation waits for "
		"an operator) or transient (a recovery runs, with its timeout).  Lease: drorchd "
		"renews the primary's write lease (heartbeats) in this state.  Roles: drorchd keeps "
		"every site in the role the cluster row says (reconciles).  Run: a failover or "
		"switchover run is open.  `GET /v1/status` reports the state's `resting`, "
		"`run_open`, `awaits_operator` and the commands it `accepts`.\n\n"
		"| State | Kind | Timeout | Lease | Roles | Run | Description |\n"
		"|---|---|---|---|---|---|---|\n");
	for (size_t s = 0; s < sp->states.n; s++) {
		const struct decl *st = &sp->states.v[s];
		fprintf(f, "| `%s`%s | %s | ", st->name, s == sp->steady ? " (steady)" : "",
			st->awaits_operator ? "resting, waits" : st->resting ? "resting" : "transient");
		if (st->timeout_ms)
			fprintf(f, "%ld ms", st->timeout_ms);
		else
			fprintf(f, "—");
		fprintf(f, " | %s | %s | %s | ", st->renews_lease ? "renewed" : "—",
			st->reconciles ? "kept" : "—", st->run_open ? "open" : "—");
		put_md(f, st->doc);
		fprintf(f, " |\n");
	}
	fprintf(f, "\n");
}

static void emit_md_names(FILE *f, const size_t *v, size_t n, const struct decls *d)
{
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s`%s`", i ? ", " : "", d->v[v[i]].name);
}

static void emit_md_outcome(const struct spec *sp, FILE *f, const struct row *r)
{
	if (r->kind == KIND_TRANSITION)
		fprintf(f, "→ `%s`", sp->states.v[r->to].name);
	else
		fprintf(f, "%s", kind_word[r->kind]);
}

static void emit_md_rows(const struct spec *sp, FILE *f)
{
	fprintf(f, "## Rows\n\nRun: the run a transition opens (its kind) where it enters a "
		"`run_open` state, or the outcome of the run it ends where it leaves one.\n\n"
		"| Id | From | Event | Guard | Action | To / ignore / reject | Run | Reason |\n"
		"|---|---|---|---|---|---|---|---|\n");
	for (const struct row *r = sp->rows; r < sp->rows + sp->nrows; r++) {
		fprintf(f, "| %s | ", r->id);
		if (r->from_star)
			fprintf(f, "`*`");
		else
			emit_md_names(f, r->from, r->nfrom, &sp->states);
		fprintf(f, " | ");
		emit_md_names(f, r->on, r->non, &sp->events);
		fprintf(f, " | %s%s%s | ", r->guard ? "`" : "", r->guard ? sp->guards.v[r->guard].name : "",
			r->guard ? "`" : "");
		fprintf(f, "%s%s%s | ", r->action ? "`" : "", r->action ? sp->actions.v[r->action].name : "",
			r->action ? "`" : "");
		emit_md_outcome(sp, f, r);
		fprintf(f, " | ");
		if (r->opens_run)
			fprintf(f, "opens `%s`", r->opens_run);
		if (r->ends_run)
			fprintf(f, "ends `%s`", r->ends_run);
		fprintf(f, " | ");
		put_md(f, r->reason);
		fprintf(f, " |\n");
	}
	fprintf(f, "\n");
}

static void emit_md_docs(FILE *f, const char *title, const struct decls *d, size_t first)
{
	fprintf(f, "## %s\n\n| Name | Description |\n|---|---|\n", title);
	for (size_t i = first; i < d->n; i++) {
		fprintf(f, "| `%s` | ", d->v[i].name);
		put_md(f, d->v[i].doc);
		fprintf(f, " |\n");
	}
	fprintf(f, "\n");
}

/* What drorchd answers to command c in state s: the rows of (s, event)
 * in the order they are tried, or the transient refusal. */
static void emit_cmd_cell(const struct spec *sp, FILE *f, const struct command *c, size_t s)
{
	if (c->event < 0) {
		fprintf(f, "%s", sp->states.v[s].resting ? "200" : "409 (a recovery runs)");
		return;
	}
	const char *sep = "";
	for (const struct xrow *x = sp->x; x < sp->x + sp->nx; x++) {
		if (x->from != s || x->event != (size_t)c->event)
			continue;
		const struct row *r = x->row;
		fprintf(f, "%s", sep);
		if (r->guard)
			fprintf(f, "if `%s`: ", sp->guards.v[r->guard].name);
		if (r->kind == KIND_TRANSITION)
			fprintf(f, "202 → `%s` (%s)", sp->states.v[r->to].name, x->id);
		else
			fprintf(f, "409 (%s)", x->id);
		sep = "; else ";
	}
}

/*
 * The operator commands by state: what drorchd answers and where the
 * machine goes, generated from the rows, with every refusal's reason
 * listed under the table.  docs/reliability.md holds a copy that
 * tests/check_fsm keeps equal to this.
 */
static void emit_commands(const struct spec *sp, FILE *f)
{
	fprintf(f, "| State |");
	for (size_t i = 0; i < sp->ncmds; i++)
		fprintf(f, " %s<br>`%s` |", sp->cmds[i].name, sp->cmds[i].request);
	fprintf(f, "\n|---|");
	for (size_t i = 0; i < sp->ncmds; i++)
		fprintf(f, "---|");
	fprintf(f, "\n");
	for (size_t s = 0; s < sp->states.n; s++) {
		fprintf(f, "| `%s` |", sp->states.v[s].name);
		for (size_t i = 0; i < sp->ncmds; i++) {
			fputc(' ', f);
			emit_cmd_cell(sp, f, &sp->cmds[i], s);
			fprintf(f, " |");
		}
		fprintf(f, "\n");
	}
	fprintf(f, "\nRefusals (409, with this reason in the answer; nothing changes):\n\n");
	for (const struct row *r = sp->rows; r < sp->rows + sp->nrows; r++) {
		bool used = false;
		for (size_t i = 0; i < sp->ncmds && !used; i++)
			for (size_t e = 0; e < r->non && !used; e++)
				used = sp->cmds[i].event >= 0 && r->on[e] == (size_t)sp->cmds[i].event &&
				       r->kind != KIND_TRANSITION;
		if (!used)
			continue;
		fprintf(f, "- %s: ", r->id);
		put_md(f, r->reason);
		fprintf(f, "\n");
	}
	for (size_t i = 0; i < sp->ncmds; i++)
		if (sp->cmds[i].event < 0) {
			fprintf(f, "- %s in a transient state: ", sp->cmds[i].name);
			put_md(f, sp->cmds[i].transient);
			fprintf(f, "\n");
		}
}

/* Per state, per event, the expanded rows in the order they are tried. */
static void emit_md_by_state(const struct spec *sp, FILE *f)
{
	fprintf(f, "## By state\n\nThe expanded rows of each (state, event), tried in order.\n\n");
	for (size_t s = 0; s < sp->states.n; s++) {
		fprintf(f, "### %s\n\n| Event | Rows |\n|---|---|\n", sp->states.v[s].name);
		for (size_t e = 0; e < sp->events.n; e++) {
			fprintf(f, "| `%s` |", sp->events.v[e].name);
			const char *sep = " ";
			for (const struct xrow *x = sp->x; x < sp->x + sp->nx; x++) {
				if (x->from != s || x->event != e)
					continue;
				fprintf(f, "%s%s", sep, x->id);
				if (x->row->guard)
					fprintf(f, " [`%s`]", sp->guards.v[x->row->guard].name);
				fputc(' ', f);
				emit_md_outcome(sp, f, x->row);
				sep = "; else ";
			}
			fprintf(f, " |\n");
		}
		fprintf(f, "\n");
	}
}

static void emit_md(const struct spec *sp, FILE *f)
{
	fprintf(f, "# The DR state machine\n\n"
		"<!-- Generated by fsmgen from %s: edit the spec, not this file. -->\n\n"
		"The steady state is `%s`.  Rows of one (state, event) are tried in order; the first "
		"whose guard holds fires.  Audit ids: `ID` for a row with one state and one event, "
		"`ID@STATE` when its `from` is a list or `*`, `ID@STATE/EVENT` when its `on` is a list.  "
		"`*` stands for every state without a row of its own for that event.\n\n",
		sp->base, sp->states.v[sp->steady].name);
	emit_md_states(sp, f);
	emit_md_rows(sp, f);
	emit_md_docs(f, "Events", &sp->events, 0);
	emit_md_docs(f, "Guards", &sp->guards, 1);
	emit_md_docs(f, "Actions", &sp->actions, 1);
	emit_md_by_state(sp, f);
	if (sp->ncmds) {
		fprintf(f, "## Operator commands by state\n\n");
		emit_commands(sp, f);
	}
}

/* ======================================================================== */
/* main                                                                     */
/* ======================================================================== */

static void write_file(const struct spec *sp, const char *dir, const char *name,
		       void (*emit)(const struct spec *, FILE *))
{
	struct out o;

	out_open(&o, dir, name);
	emit(sp, o.f);
	out_close(&o);
}

int main(int argc, char **argv)
{
	struct spec sp = { 0 };

	if (argc != 4) {
		fprintf(stderr, "usage: fsmgen SPEC OUTDIR DOCDIR\n"
			"  writes OUTDIR/fsm_table.h, OUTDIR/fsm_table.c, DOCDIR/fsm.dot, DOCDIR/fsm.md,\n"
			"  DOCDIR/fsm-commands.md\n");
		return 2;
	}
	sp.path = argv[1];
	sp.base = strrchr(sp.path, '/') ? strrchr(sp.path, '/') + 1 : sp.path;
	bool ok = read_spec(&sp);
	if (ok) {
		write_file(&sp, argv[2], "fsm_table.h", emit_header);
		write_file(&sp, argv[2], "fsm_table.c", emit_source);
		write_file(&sp, argv[3], "fsm.dot", emit_dot);
		write_file(&sp, argv[3], "fsm.md", emit_md);
		write_file(&sp, argv[3], "fsm-commands.md", emit_commands);
	} else {
		fprintf(stderr, "%s: spec refused (%d error%s)\n", sp.path, sp.errors,
			sp.errors == 1 ? "" : "s");
	}
	free_spec(&sp);
	return ok ? 0 : 1;
}
