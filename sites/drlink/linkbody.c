/*
 * linkbody.c — the bodies of drlink's admin API (see linkbody.h), checked
 * field by field.
 */
#include "linkbody.h"

#include <stdio.h>
#include <string.h>

static int json_uint(json_t *v, const char *key, uint64_t max, uint64_t *out,
		     char *err, size_t errlen)
{
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    (uint64_t)json_integer_value(v) > max) {
		snprintf(err, errlen, "%s: expected an integer from 0 to %llu", key,
			 (unsigned long long)max);
		return -1;
	}
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

static int json_text(json_t *v, const char *key, const char **out, char *err, size_t errlen)
{
	if (!json_is_string(v)) {
		snprintf(err, errlen, "%s: expected a string", key);
		return -1;
	}
	*out = json_string_value(v);
	return 0;
}

/* One field of a conditions body into u. */
static int cond_field(struct link_cond_update *u, const char *key, json_t *v,
		      char *err, size_t errlen)
{
	struct link_conditions *c = &u->values;
	uint64_t n = 0;
	const char *s = NULL;
	if (strcmp(key, "latency_ms") == 0 || strcmp(key, "jitter_ms") == 0) {
		if (json_uint(v, key, LINK_MAX_LATENCY_MS, &n, err, errlen) != 0)
			return -1;
		bool latency = key[0] == 'l';
		*(latency ? &c->latency_ms : &c->jitter_ms) = (uint32_t)n;
		u->fields |= latency ? LINK_SET_LATENCY : LINK_SET_JITTER;
	} else if (strcmp(key, "bandwidth_kbps") == 0) {
		if (json_uint(v, key, LINK_MAX_BANDWIDTH_KBPS, &n, err, errlen) != 0)
			return -1;
		c->bandwidth_kbps = n;
		u->fields |= LINK_SET_BANDWIDTH;
	} else if (strcmp(key, "loss_pct") == 0) {
		if (!json_is_number(v) || !(json_number_value(v) >= 0.0 &&
					    json_number_value(v) <= 100.0)) {
			snprintf(err, errlen, "loss_pct: expected a number from 0 to 100");
			return -1;
		}
		c->loss_pct = json_number_value(v);
		u->fields |= LINK_SET_LOSS;
	} else if (strcmp(key, "partition") == 0) {
		if (json_text(v, key, &s, err, errlen) != 0 ||
		    link_partition_parse(s, &c->partition, err, errlen) != 0)
			return -1;
		u->fields |= LINK_SET_PARTITION;
	} else if (strcmp(key, "direction") == 0) {
		if (json_text(v, key, &s, err, errlen) != 0 ||
		    link_direction_parse(s, &u->directions, err, errlen) != 0)
			return -1;
	} else {
		snprintf(err, errlen, "%s: unknown field; expected latency_ms, jitter_ms, "
			 "loss_pct, bandwidth_kbps, partition or direction", key);
		return -1;
	}
	return 0;
}

/* A conditions body (any subset of the fields) into *u; 0, or -1 with err
 * naming the field. */
int linkbody_conditions(json_t *body, struct link_cond_update *u, char *err, size_t errlen)
{
	*u = (struct link_cond_update){ 0 };
	const char *key;
	json_t *v;
	json_object_foreach(body, key, v) {
		if (cond_field(u, key, v, err, errlen) != 0)
			return -1;
	}
	return 0;
}

/* A POST /v1/links body: name, listen and upstream, each a string, and
 * nothing else; 0, or -1 with err naming the field. */
int linkbody_link(json_t *body, const char *val[3], char *err, size_t errlen)
{
	static const char *const fields[] = { "name", "listen", "upstream" };
	const char *key;
	json_t *v;
	json_object_foreach(body, key, v) {
		int i = 0;
		while (i < 3 && strcmp(key, fields[i]) != 0)
			i++;
		if (i == 3) {
			snprintf(err, errlen, "%.64s: unknown field; expected name, listen and upstream",
				 key);
			return -1;
		}
		if (json_text(v, key, &val[i], err, errlen) != 0)
			return -1;
	}
	for (int i = 0; i < 3; i++)
		if (!val[i]) {
			snprintf(err, errlen, "%s: required", fields[i]);
			return -1;
		}
	return 0;
}
