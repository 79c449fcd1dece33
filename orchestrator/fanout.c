/*
 * fanout.c — kept per-site clients and parallel requests (see fanout.h).
 */
#include "fanout.h"

#include <pthread.h>

#include "orch.h"

struct httpc *orch_act_client(struct orch *o, int i)
{
	if (i < 0 || i >= o->cfg.nsites)
		return NULL;
	if (!o->act_clients[i])
		o->act_clients[i] = orch_site_client(o);
	return o->act_clients[i];
}

void orch_act_clients_free(struct orch *o)
{
	for (int i = 0; i < CONFIG_MAX_SITES; i++) {
		httpc_free(o->act_clients[i]);
		o->act_clients[i] = NULL;
	}
}

struct worker {
	struct orch *o;
	struct httpc *h;
	int i;
	fanout_fn fn;
	void *arg;
	pthread_t tid;
	bool started;
};

static void *worker_main(void *p)
{
	struct worker *w = p;
	w->fn(w->o, w->h, w->i, w->arg);
	return NULL;
}

void orch_fanout(struct orch *o, const bool which[], fanout_fn fn, void *arg)
{
	struct worker w[CONFIG_MAX_SITES];
	int n = 0;
	/* Clients are created here, in the driver thread, never in a worker. */
	for (int i = 0; i < o->cfg.nsites; i++)
		if (which[i])
			w[n++] = (struct worker){ .o = o, .h = orch_act_client(o, i), .i = i,
						  .fn = fn, .arg = arg };
	for (int k = 1; k < n; k++)
		w[k].started = pthread_create(&w[k].tid, NULL, worker_main, &w[k]) == 0;
	for (int k = 0; k < n; k++)
		if (k == 0 || !w[k].started)
			worker_main(&w[k]);
	for (int k = 1; k < n; k++)
		if (w[k].started)
			pthread_join(w[k].tid, NULL);
}
