/*
 * apibody.c — the bodies of drorchd's actions, checked field by field (see
 * api.h).  Each parser is a table of the fields its body may hold; one walk
 * checks them all, so every body refuses an unknown field, a missing one
 * and a wrong type the same way, with the same messages.
 */
#include "api.h"

#include <stdio.h>
#include <string.h>

#include "config.h"

enum field_type { FIELD_STRING, FIELD_BOOL };

struct field {
	const char *name;
	enum field_type type;
	bool required;
	size_t min_len, max_len;   /* strings: bytes */
	const char **str;          /* where a string goes */
	bool *flag;                /* where a boolean goes */
};

static const char *type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER:
	case JSON_REAL: return "a number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	default: return "null";
	}
}

/* "to, force" into buf, for messages. */
static const char *field_list(const struct field *f, size_t n, char *buf, size_t len)
{
	size_t used = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < n && used < len; i++)
		used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? ", " : "", f[i].name);
	return buf;
}

static int take(const struct field *f, json_t *v, char *err, size_t errlen)
{
	if (f->type == FIELD_BOOL) {
		if (!json_is_boolean(v)) {
			snprintf(err, errlen, "%s: expected true or false, got %s", f->name, type_name(v));
			return -1;
		}
		*f->flag = json_is_true(v);
		return 0;
	}
	if (!json_is_string(v)) {
		snprintf(err, errlen, "%s: expected a string, got %s", f->name, type_name(v));
		return -1;
	}
	size_t len = json_string_length(v);
	if (len < f->min_len || len > f->max_len) {
		snprintf(err, errlen, "%s: expected %zu to %zu bytes, got %zu", f->name, f->min_len,
			 f->max_len, len);
		return -1;
	}
	*f->str = json_string_value(v);
	return 0;
}

/* Checks body against fields[n] and stores what it holds. */
static int parse_fields(json_t *body, const struct field *fields, size_t n, char *err,
			size_t errlen)
{
	char names[200];
	if (body && !json_is_object(body)) {
		snprintf(err, errlen, "body: expected a JSON object, got %s", type_name(body));
		return -1;
	}
	const char *key;
	json_t *v;
	json_object_foreach(body, key, v) {
		size_t i = 0;
		while (i < n && strcmp(fields[i].name, key) != 0)
			i++;
		if (i == n && n == 0) {
			snprintf(err, errlen, "%.64s: unknown field; this body takes none", key);
			return -1;
		}
		if (i == n) {
			snprintf(err, errlen, "%.64s: unknown field; expected %s", key,
				 field_list(fields, n, names, sizeof(names)));
			return -1;
		}
		if (take(&fields[i], v, err, errlen) != 0)
			return -1;
	}
	for (size_t i = 0; i < n; i++)
		if (fields[i].required && !json_object_get(body, fields[i].name)) {
			snprintf(err, errlen, "%s: required", fields[i].name);
			return -1;
		}
	return 0;
}

#define NFIELDS(a) (sizeof(a) / sizeof((a)[0]))

int api_parse_failover(json_t *body, struct api_failover *out, char *err, size_t errlen)
{
	*out = (struct api_failover){ 0 };
	const struct field f[] = {
		{ "to", FIELD_STRING, false, 1, CONFIG_NAME_MAX - 1, &out->to, NULL },
		{ "force", FIELD_BOOL, false, 0, 0, NULL, &out->force },
	};
	return parse_fields(body, f, NFIELDS(f), err, errlen);
}

int api_parse_switchover(json_t *body, struct api_switchover *out, char *err, size_t errlen)
{
	*out = (struct api_switchover){ 0 };
	const struct field f[] = {
		{ "to", FIELD_STRING, true, 1, CONFIG_NAME_MAX - 1, &out->to, NULL },
	};
	return parse_fields(body, f, NFIELDS(f), err, errlen);
}

int api_parse_empty(json_t *body, char *err, size_t errlen)
{
	return parse_fields(body, NULL, 0, err, errlen);
}

int api_parse_upgrade(json_t *body, struct api_upgrade *out, char *err, size_t errlen)
{
	*out = (struct api_upgrade){ .finalize = true };
	const struct field f[] = {
		{ "to", FIELD_STRING, false, 1, 32, &out->to, NULL },
		{ "finalize", FIELD_BOOL, false, 0, 0, NULL, &out->finalize },
		{ "dry_run", FIELD_BOOL, false, 0, 0, NULL, &out->dry_run },
		{ "rollback", FIELD_BOOL, false, 0, 0, NULL, &out->rollback },
	};
	if (parse_fields(body, f, NFIELDS(f), err, errlen) != 0)
		return -1;
	if (out->rollback) {  /* back to the cluster's fcv: no version to name */
		if (out->to || json_object_get(body, "finalize")) {
			snprintf(err, errlen, "%s: a rollback takes no '%s' (it returns every site to "
				 "the cluster's fcv)", out->to ? "to" : "finalize",
				 out->to ? "to" : "finalize");
			return -1;
		}
		return 0;
	}
	if (!out->to) {
		snprintf(err, errlen, "to: required (or \"rollback\": true)");
		return -1;
	}
	if (!version_parse(out->to, &out->version)) {
		snprintf(err, errlen, "to: expected a version X.Y.Z, got '%s'", out->to);
		return -1;
	}
	return 0;
}

int api_parse_playbook_run(json_t *body, struct api_playbook_run *out, char *err,
			   size_t errlen)
{
	*out = (struct api_playbook_run){ 0 };
	const struct field f[] = {
		{ "dry_run", FIELD_BOOL, false, 0, 0, NULL, &out->dry_run },
		{ "playbook", FIELD_STRING, false, 1, API_MAX_BODY, &out->playbook, NULL },
	};
	return parse_fields(body, f, NFIELDS(f), err, errlen);
}

/* An ack must say why; an approval may say nothing. */
static int parse_comment(json_t *body, bool required, struct api_comment *out, char *err,
			 size_t errlen)
{
	*out = (struct api_comment){ 0 };
	const struct field f[] = {
		{ "comment", FIELD_STRING, required, required ? 1u : 0u, API_COMMENT_MAX, &out->comment,
		  NULL },
	};
	return parse_fields(body, f, NFIELDS(f), err, errlen);
}

int api_parse_approve(json_t *body, struct api_comment *out, char *err, size_t errlen)
{
	return parse_comment(body, false, out, err, errlen);
}

int api_parse_ack(json_t *body, struct api_comment *out, char *err, size_t errlen)
{
	return parse_comment(body, true, out, err, errlen);
}
