/*
 * ydoc.c — YAML documents with positioned errors (see ydoc.h).
 */
#include "ydoc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void parse_error(const yaml_parser_t *p, const char *name, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s:%zu:%zu: %s%s%s", name, p->problem_mark.line + 1,
		 p->problem_mark.column + 1, p->problem ? p->problem : "invalid YAML",
		 p->context ? " " : "", p->context ? p->context : "");
}

/* A file holds one document: a second one is an error at its start. */
static int one_document(yaml_parser_t *p, const char *name, char *err, size_t errlen)
{
	yaml_document_t next;
	if (!yaml_parser_load(p, &next)) {
		parse_error(p, name, err, errlen);
		return -1;
	}
	yaml_node_t *root = yaml_document_get_root_node(&next);
	int rc = 0;
	if (root) {
		snprintf(err, errlen, "%s:%zu:%zu: a second YAML document: one document per file",
			 name, next.start_mark.line + 1, next.start_mark.column + 1);
		rc = -1;
	}
	yaml_document_delete(&next);
	return rc;
}

/* The first key repeated in a mapping of the document, if any: an error
 * naming both places (YAML says keys are unique; libyaml does not check). */
static int unique_keys(struct ydoc *d)
{
	for (yaml_node_t *n = d->doc.nodes.start; n < d->doc.nodes.top; n++) {
		if (n->type != YAML_MAPPING_NODE)
			continue;
		for (yaml_node_pair_t *a = n->data.mapping.pairs.start;
		     a < n->data.mapping.pairs.top; a++) {
			const char *ka = ydoc_scalar(ydoc_node(d, a->key));
			for (yaml_node_pair_t *b = a + 1; ka && b < n->data.mapping.pairs.top; b++) {
				const char *kb = ydoc_scalar(ydoc_node(d, b->key));
				yaml_node_t *first = ydoc_node(d, a->key);
				if (kb && strcmp(ka, kb) == 0)
					return ydoc_fail(d, ydoc_node(d, b->key),
							 "duplicate key '%s' (first at line %zu, "
							 "column %zu)", kb, first->start_mark.line + 1,
							 first->start_mark.column + 1);
			}
		}
	}
	return 0;
}

/* Loads the document p was set up to read; name stands for it in errors. */
static int load(struct ydoc *d, yaml_parser_t *p, const char *name, char *err, size_t errlen)
{
	int ok = yaml_parser_load(p, &d->doc);
	if (!ok)
		parse_error(p, name, err, errlen);
	int rc = ok ? 0 : -1;
	if (ok) {
		d->loaded = true;
		if (!yaml_document_get_root_node(&d->doc)) {
			snprintf(err, errlen, "%s:1:1: the document is empty", name);
			rc = -1;
		}
	}
	if (rc == 0)
		rc = one_document(p, name, err, errlen);
	yaml_parser_delete(p);
	return rc == 0 ? unique_keys(d) : rc;
}

static void init(struct ydoc *d, const char *name, char *err, size_t errlen)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->path, sizeof(d->path), "%s", name);
	d->err = err;
	d->errlen = errlen;
}

int ydoc_load(struct ydoc *d, const char *path, char *err, size_t errlen)
{
	init(d, path, err, errlen);
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	yaml_parser_t p;
	yaml_parser_initialize(&p);
	yaml_parser_set_input_file(&p, f);
	int rc = load(d, &p, path, err, errlen);
	fclose(f);
	return rc;
}

int ydoc_load_mem(struct ydoc *d, const char *name, const char *buf, size_t len, char *err,
		  size_t errlen)
{
	init(d, name, err, errlen);
	yaml_parser_t p;
	yaml_parser_initialize(&p);
	yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
	return load(d, &p, name, err, errlen);
}

void ydoc_free(struct ydoc *d)
{
	if (d->loaded)
		yaml_document_delete(&d->doc);
	d->loaded = false;
}

yaml_node_t *ydoc_root(struct ydoc *d)
{
	return yaml_document_get_root_node(&d->doc);
}

yaml_node_t *ydoc_node(struct ydoc *d, int index)
{
	return yaml_document_get_node(&d->doc, index);
}

int ydoc_fail(struct ydoc *d, const yaml_node_t *n, const char *fmt, ...)
{
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	size_t line = n ? n->start_mark.line + 1 : 1, col = n ? n->start_mark.column + 1 : 1;
	snprintf(d->err, d->errlen, "%s:%zu:%zu: %s", d->path, line, col, msg);
	return -1;
}

const char *ydoc_scalar(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

yaml_node_t *ydoc_get(struct ydoc *d, yaml_node_t *map, const char *key)
{
	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
	     p < map->data.mapping.pairs.top; p++) {
		const char *k = ydoc_scalar(ydoc_node(d, p->key));
		if (k && strcmp(k, key) == 0)
			return ydoc_node(d, p->value);
	}
	return NULL;
}

int ydoc_check_keys(struct ydoc *d, yaml_node_t *map, const char *what,
		    const char *const allowed[])
{
	if (!map || map->type != YAML_MAPPING_NODE)
		return ydoc_fail(d, map, "%s: expected a mapping", what);
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
	     p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *kn = ydoc_node(d, p->key);
		const char *k = ydoc_scalar(kn);
		bool known = false;
		for (int i = 0; k && allowed[i] && !known; i++)
			known = strcmp(k, allowed[i]) == 0;
		if (!known) {
			char list[300] = "";
			for (int i = 0; allowed[i]; i++)
				snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
					 i ? ", " : "", allowed[i]);
			return ydoc_fail(d, kn, "%s: unknown key '%s' (expected one of: %s)", what,
					 k ? k : "?", list);
		}
	}
	return 0;
}

/* The value node of key, or an error when it is required and absent. */
static int field(struct ydoc *d, yaml_node_t *map, const char *key, bool required,
		 yaml_node_t **v)
{
	*v = ydoc_get(d, map, key);
	if (!*v && required)
		return ydoc_fail(d, map, "missing required key '%s'", key);
	return 0;
}

int ydoc_string(struct ydoc *d, yaml_node_t *map, const char *key, bool required,
		char *out, size_t outlen)
{
	yaml_node_t *v;
	if (field(d, map, key, required, &v) || !v)
		return v || !required ? 0 : -1;
	const char *s = ydoc_scalar(v);
	if (!s || !*s)
		return ydoc_fail(d, v, "%s: expected a non-empty string", key);
	if (strlen(s) >= outlen)
		return ydoc_fail(d, v, "%s: longer than %zu bytes", key, outlen - 1);
	snprintf(out, outlen, "%s", s);
	return 0;
}

int ydoc_uint(struct ydoc *d, yaml_node_t *map, const char *key, bool required,
	      uint64_t min, uint64_t max, uint64_t *out)
{
	yaml_node_t *v;
	if (field(d, map, key, required, &v) || !v)
		return v || !required ? 0 : -1;
	const char *s = ydoc_scalar(v);
	char *end = NULL;
	errno = 0;
	unsigned long long n = s && *s >= '0' && *s <= '9' ? strtoull(s, &end, 10) : 0;
	if (!s || !end || *end || errno || n < min || n > max)
		return ydoc_fail(d, v, "%s: expected an integer from %llu to %llu, got '%s'", key,
				 (unsigned long long)min, (unsigned long long)max, s ? s : "(not a scalar)");
	*out = n;
	return 0;
}

int ydoc_bool(struct ydoc *d, yaml_node_t *map, const char *key, bool *out)
{
	yaml_node_t *v = ydoc_get(d, map, key);
	if (!v)
		return 0;
	const char *s = ydoc_scalar(v);
	if (s && (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on")))
		*out = true;
	else if (s && (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "off")))
		*out = false;
	else
		return ydoc_fail(d, v, "%s: expected true or false", key);
	return 0;
}

int ydoc_seq(struct ydoc *d, yaml_node_t *map, const char *key, bool required,
	     yaml_node_t **seq)
{
	if (field(d, map, key, required, seq))
		return -1;
	if (*seq && (*seq)->type != YAML_SEQUENCE_NODE)
		return ydoc_fail(d, *seq, "%s: expected a list", key);
	return 0;
}
