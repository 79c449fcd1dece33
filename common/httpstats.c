/*
 * httpstats.c — request durations by route, method and code (see
 * httpstats.h).
 *
 * SLOTS.  A fixed table; a slot is empty, being claimed, or ready.  A new
 * (route, method, code) claims the first empty slot by compare-and-swap and
 * publishes it ready with a release store; readers only use ready slots.
 * Two threads that claim the same new key at once get two slots: the render
 * adds them up.  When the table is full, requests are counted in `dropped`
 * (rendered as a counter) rather than mislabelled.
 */
#include "httpstats.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "histo.h"

#define SLOTS 256
enum { EMPTY, CLAIMED, READY };

struct slot {
	_Atomic int state;
	const char *route;
	const char *method;        /* one of methods[] */
	int code;
	struct histo h;
};

struct httpstats {
	struct slot slot[SLOTS];
	_Atomic uint64_t dropped;
};

static const char *const methods[] = { "GET", "HEAD", "PUT", "POST", "DELETE", "PATCH",
				       "OPTIONS" };

/* The method as a string that outlives the request. */
static const char *method_name(const char *m)
{
	for (size_t i = 0; m && i < sizeof(methods) / sizeof(methods[0]); i++)
		if (!strcmp(m, methods[i]))
			return methods[i];
	return "OTHER";
}

struct httpstats *httpstats_new(void)
{
	struct httpstats *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	for (int i = 0; i < SLOTS; i++) {
		atomic_init(&s->slot[i].state, EMPTY);
		histo_init(&s->slot[i].h);
	}
	atomic_init(&s->dropped, 0);
	return s;
}

void httpstats_free(struct httpstats *s)
{
	free(s);
}

/* Whether path's segments match the template's ("{...}" matches any one). */
static bool route_matches(const char *t, const char *p)
{
	while (*t && *p) {
		if (*t != '/' || *p != '/')
			return false;
		t++, p++;
		size_t tl = strcspn(t, "/"), pl = strcspn(p, "/?");
		bool any = tl >= 2 && t[0] == '{' && t[tl - 1] == '}';
		if (any ? pl == 0 : (tl != pl || strncmp(t, p, tl)))
			return false;
		t += tl, p += pl;
	}
	return !*t && (!*p || *p == '?');
}

const char *httpstats_route(const char *const *routes, const char *path)
{
	for (; routes && *routes; routes++)
		if (route_matches(*routes, path ? path : ""))
			return *routes;
	return "other";
}

static struct slot *find_or_claim(struct httpstats *s, const char *route, const char *method,
				  int code)
{
	for (int i = 0; i < SLOTS; i++) {
		struct slot *sl = &s->slot[i];
		int st = atomic_load_explicit(&sl->state, memory_order_acquire);
		if (st == READY && sl->route == route && sl->method == method && sl->code == code)
			return sl;
		if (st != EMPTY)
			continue;
		int empty = EMPTY;
		if (!atomic_compare_exchange_strong(&sl->state, &empty, CLAIMED))
			continue;  /* taken meanwhile: it may be ours, look again later */
		sl->route = route;
		sl->method = method;
		sl->code = code;
		atomic_store_explicit(&sl->state, READY, memory_order_release);
		return sl;
	}
	return NULL;
}

void httpstats_observe(struct httpstats *s, const char *route, const char *method, int code,
		       uint64_t started_ns)
{
	struct slot *sl = find_or_claim(s, route, method_name(method), code);
	if (sl)
		histo_observe_since(&sl->h, started_ns);
	else
		atomic_fetch_add_explicit(&s->dropped, 1, memory_order_relaxed);
}

void httpstats_render(struct httpstats *s, struct prom *p, const char *name, const char *help)
{
	bool done[SLOTS] = { false };
	prom_family(p, name, "histogram", help);
	for (int i = 0; i < SLOTS; i++) {
		struct slot *a = &s->slot[i];
		if (done[i] || atomic_load_explicit(&a->state, memory_order_acquire) != READY)
			continue;
		struct histo_snapshot sum, one;
		histo_snapshot(&a->h, &sum);
		for (int j = i + 1; j < SLOTS; j++) {  /* a key claimed twice at once */
			struct slot *b = &s->slot[j];
			if (atomic_load_explicit(&b->state, memory_order_acquire) != READY ||
			    b->route != a->route || b->method != a->method || b->code != a->code)
				continue;
			histo_snapshot(&b->h, &one);
			for (int k = 0; k <= HISTO_NBOUNDS; k++)
				sum.counts[k] += one.counts[k];
			sum.count += one.count;
			sum.sum_us += one.sum_us;
			done[j] = true;
		}
		char route[256], labels[400];
		prom_label_escape(a->route, route, sizeof(route));
		snprintf(labels, sizeof(labels), "route=\"%s\",method=\"%s\",code=\"%d\"", route,
			 a->method, a->code);
		prom_histo(p, name, labels, &sum);
	}
	prom_family(p, "drorch_http_requests_unlabelled_total", "counter",
		    "Requests left out of the request histogram: every route, method and code "
		    "slot was taken.");
	prom_value(p, "drorch_http_requests_unlabelled_total", "", (double)atomic_load(&s->dropped));
}
