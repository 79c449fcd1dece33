/*
 * linkconf.c — loads drlink's --config YAML (format in linkconf.h).
 *
 * The file is loaded whole as a libyaml document, so every node carries its
 * position and each error can point at the offending node.  The walk goes
 * root → links → link → conditions; each level checks its keys and reports
 * the first problem.
 */
#include "linkconf.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "decimal.h"

struct walk {
	const char *path;
	yaml_document_t *doc;
	char *err;
	size_t errlen;
};

static int fail_at(struct walk *w, const yaml_node_t *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail_at(struct walk *w, const yaml_node_t *n, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(w->err, w->errlen, "%s:%zu:%zu: %s", w->path, n->start_mark.line + 1,
		 n->start_mark.column + 1, msg);
	return -1;
}

static const char *scalar(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int parse_uint(const char *s, uint64_t max, uint64_t *out)
{
	return decimal_u64_in(s, 0, max, out) == DECIMAL_OK ? 0 : -1;
}

static int parse_pct(const char *s, double *out)
{
	if (!s || !*s)
		return -1;
	char *end = NULL;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || *end || !isfinite(v) || v < 0.0 || v > 100.0)
		return -1;
	*out = v;
	return 0;
}

/* One key of a conditions mapping. */
static int cond_set(struct walk *w, struct link_cond_update *u, const char *key,
		    const yaml_node_t *val)
{
	const char *s = scalar(val);
	struct link_conditions *v = &u->values;
	uint64_t n = 0;
	char msg[200];
	if (strcmp(key, "latency_ms") == 0 || strcmp(key, "jitter_ms") == 0) {
		if (parse_uint(s, LINK_MAX_LATENCY_MS, &n) != 0)
			return fail_at(w, val, "%s: expected an integer from 0 to %u",
				       key, LINK_MAX_LATENCY_MS);
		bool latency = key[0] == 'l';
		*(latency ? &v->latency_ms : &v->jitter_ms) = (uint32_t)n;
		u->fields |= latency ? LINK_SET_LATENCY : LINK_SET_JITTER;
	} else if (strcmp(key, "bandwidth_kbps") == 0) {
		if (parse_uint(s, LINK_MAX_BANDWIDTH_KBPS, &n) != 0)
			return fail_at(w, val, "bandwidth_kbps: expected an integer from 0 (no cap) to %u",
				       LINK_MAX_BANDWIDTH_KBPS);
		v->bandwidth_kbps = n;
		u->fields |= LINK_SET_BANDWIDTH;
	} else if (strcmp(key, "loss_pct") == 0) {
		if (parse_pct(s, &v->loss_pct) != 0)
			return fail_at(w, val, "loss_pct: expected a number from 0 to 100");
		u->fields |= LINK_SET_LOSS;
	} else if (strcmp(key, "partition") == 0) {
		if (link_partition_parse(s, &v->partition, msg, sizeof(msg)) != 0)
			return fail_at(w, val, "%s", msg);
		u->fields |= LINK_SET_PARTITION;
	} else if (strcmp(key, "direction") == 0) {
		if (link_direction_parse(s, &u->directions, msg, sizeof(msg)) != 0)
			return fail_at(w, val, "%s", msg);
	} else {
		return fail_at(w, val, "unknown condition '%s'; expected latency_ms, jitter_ms, "
			       "loss_pct, bandwidth_kbps, partition or direction", key);
	}
	return 0;
}

static int parse_cond(struct walk *w, yaml_node_t *n, struct linkconf_cond *out)
{
	if (n->type != YAML_MAPPING_NODE)
		return fail_at(w, n, "conditions: expected a mapping");
	out->line = (int)n->start_mark.line + 1;
	out->column = (int)n->start_mark.column + 1;
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(w->doc, p->key);
		const char *key = scalar(k);
		if (!key)
			return fail_at(w, k, "expected a condition name");
		if (cond_set(w, &out->update, key, yaml_document_get_node(w->doc, p->value)) != 0)
			return -1;
	}
	return 0;
}

static int parse_conds(struct walk *w, yaml_node_t *n, struct linkconf_link *l)
{
	size_t count = 1;
	if (n->type == YAML_SEQUENCE_NODE)
		count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	l->conds = calloc(count ? count : 1, sizeof(*l->conds));
	if (!l->conds)
		return fail_at(w, n, "out of memory");
	if (n->type != YAML_SEQUENCE_NODE) {
		l->nconds = 1;
		return parse_cond(w, n, &l->conds[0]);
	}
	for (size_t i = 0; i < count; i++) {
		yaml_node_t *item = yaml_document_get_node(w->doc, n->data.sequence.items.start[i]);
		l->nconds = i + 1;
		if (parse_cond(w, item, &l->conds[i]) != 0)
			return -1;
	}
	return 0;
}

static int take_string(struct walk *w, yaml_node_t *v, const char *key, char **out)
{
	const char *s = scalar(v);
	if (!s || !*s)
		return fail_at(w, v, "%s: expected a string", key);
	free(*out);
	*out = strdup(s);
	return *out ? 0 : fail_at(w, v, "out of memory");
}

static int parse_link(struct walk *w, yaml_node_t *n, struct linkconf_link *l)
{
	if (n->type != YAML_MAPPING_NODE)
		return fail_at(w, n, "expected a link: a mapping with name, listen, upstream");
	l->line = (int)n->start_mark.line + 1;
	l->column = (int)n->start_mark.column + 1;
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(w->doc, p->key);
		yaml_node_t *v = yaml_document_get_node(w->doc, p->value);
		const char *key = scalar(k);
		int rc;
		if (key && strcmp(key, "name") == 0)
			rc = take_string(w, v, key, &l->name);
		else if (key && strcmp(key, "listen") == 0)
			rc = take_string(w, v, key, &l->listen);
		else if (key && strcmp(key, "upstream") == 0)
			rc = take_string(w, v, key, &l->upstream);
		else if (key && strcmp(key, "conditions") == 0 && !l->conds)
			rc = parse_conds(w, v, l);
		else
			rc = fail_at(w, k, "unexpected key '%s'; expected name, listen, upstream "
				     "or conditions (once)", key ? key : "?");
		if (rc != 0)
			return -1;
	}
	char msg[200];
	if (!l->name || !l->listen || !l->upstream)
		return fail_at(w, n, "link: name, listen and upstream are required");
	if (link_name_check(l->name, msg, sizeof(msg)) != 0)
		return fail_at(w, n, "%s", msg);
	return 0;
}

static int parse_links(struct walk *w, yaml_node_t *n, struct linkconf *conf)
{
	if (n->type != YAML_SEQUENCE_NODE)
		return fail_at(w, n, "links: expected a list of links");
	size_t count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	conf->links = calloc(count ? count : 1, sizeof(*conf->links));
	if (!conf->links)
		return fail_at(w, n, "out of memory");
	for (size_t i = 0; i < count; i++) {
		yaml_node_t *item = yaml_document_get_node(w->doc, n->data.sequence.items.start[i]);
		conf->nlinks = i + 1;
		if (parse_link(w, item, &conf->links[i]) != 0)
			return -1;
	}
	return 0;
}

static int parse_root(struct walk *w, struct linkconf *conf)
{
	yaml_node_t *root = yaml_document_get_root_node(w->doc);
	if (!root) {
		snprintf(w->err, w->errlen, "%s:1:1: empty file; expected a mapping with 'links'",
			 w->path);
		return -1;
	}
	if (root->type != YAML_MAPPING_NODE)
		return fail_at(w, root, "expected a mapping with 'links'");
	for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
	     p < root->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(w->doc, p->key);
		const char *key = scalar(k);
		if (!key || strcmp(key, "links") != 0 || conf->links)
			return fail_at(w, k, "unexpected key '%s'; expected 'links' (once)",
				       key ? key : "?");
		if (parse_links(w, yaml_document_get_node(w->doc, p->value), conf) != 0)
			return -1;
	}
	return 0;
}

static int load_document(const char *path, yaml_document_t *doc, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	yaml_parser_t parser;
	if (!yaml_parser_initialize(&parser)) {
		fclose(f);
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	yaml_parser_set_input_file(&parser, f);
	int rc = 0;
	if (!yaml_parser_load(&parser, doc)) {
		snprintf(err, errlen, "%s:%zu:%zu: %s%s%s", path, parser.problem_mark.line + 1,
			 parser.problem_mark.column + 1,
			 parser.problem ? parser.problem : "invalid YAML",
			 parser.context ? " " : "", parser.context ? parser.context : "");
		rc = -1;
	}
	yaml_parser_delete(&parser);
	fclose(f);
	return rc;
}

int linkconf_load(const char *path, struct linkconf **out, char *err, size_t errlen)
{
	yaml_document_t doc;
	if (load_document(path, &doc, err, errlen) != 0)
		return -1;
	struct linkconf *conf = calloc(1, sizeof(*conf));
	struct walk w = { .path = path, .doc = &doc, .err = err, .errlen = errlen };
	int rc = conf ? parse_root(&w, conf) : -1;
	if (!conf)
		snprintf(err, errlen, "%s: out of memory", path);
	yaml_document_delete(&doc);
	if (rc != 0) {
		linkconf_free(conf);
		return -1;
	}
	*out = conf;
	return 0;
}

void linkconf_free(struct linkconf *conf)
{
	if (!conf)
		return;
	for (size_t i = 0; i < conf->nlinks; i++) {
		free(conf->links[i].name);
		free(conf->links[i].listen);
		free(conf->links[i].upstream);
		free(conf->links[i].conds);
	}
	free(conf->links);
	free(conf);
}
