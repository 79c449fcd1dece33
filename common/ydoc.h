/*
 * ydoc.h — reading a YAML file as a whole libyaml document, with errors that
 * point at the node: "FILE:LINE:COLUMN: what was expected".
 *
 * Owns nothing but the loaded document.  Loaders of drorch's YAML (drorchd
 * config, policies, playbooks) walk it with these helpers so that every bad
 * input is reported the same way and nothing is applied half-way (callers
 * fill a fresh struct and install it only when the whole walk succeeded).
 */
#ifndef DRORCH_YDOC_H
#define DRORCH_YDOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <yaml.h>

struct ydoc {
	yaml_document_t doc;
	bool loaded;
	char path[512];
	char *err;
	size_t errlen;
};

/* Loads path; on a syntax error, a second document in the file, or a key
 * repeated in a mapping, fills err with FILE:LINE:COLUMN. 0 or -1. */
int ydoc_load(struct ydoc *d, const char *path, char *err, size_t errlen);
/* The same from memory (a request body); name stands for it in errors. */
int ydoc_load_mem(struct ydoc *d, const char *name, const char *buf, size_t len, char *err,
		  size_t errlen);
void ydoc_free(struct ydoc *d);
yaml_node_t *ydoc_root(struct ydoc *d);
yaml_node_t *ydoc_node(struct ydoc *d, int index);

/* Reports "FILE:LINE:COLUMN: message" for node n into d->err; returns -1. */
int ydoc_fail(struct ydoc *d, const yaml_node_t *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

const char *ydoc_scalar(const yaml_node_t *n);
/* The value of key in mapping map, or NULL. */
yaml_node_t *ydoc_get(struct ydoc *d, yaml_node_t *map, const char *key);
/* Fails on a key of map not in allowed (NULL-terminated) or a non-mapping. */
int ydoc_check_keys(struct ydoc *d, yaml_node_t *map, const char *what,
		    const char *const allowed[]);

/* Typed fields of a mapping; a missing optional field leaves *out as is. */
int ydoc_string(struct ydoc *d, yaml_node_t *map, const char *key, bool required,
		char *out, size_t outlen);
int ydoc_uint(struct ydoc *d, yaml_node_t *map, const char *key, bool required,
	      uint64_t min, uint64_t max, uint64_t *out);
int ydoc_bool(struct ydoc *d, yaml_node_t *map, const char *key, bool *out);
/* A sequence field: *seq set (NULL when absent and optional). */
int ydoc_seq(struct ydoc *d, yaml_node_t *map, const char *key, bool required,
	     yaml_node_t **seq);

#endif
