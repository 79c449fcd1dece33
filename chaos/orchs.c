/*
 * orchs.c — reaching drorchd whichever instance leads or is dead (chaos.h).
 *
 * Without --ha there is one instance and every function here asks it.  With
 * --ha there are three, one of which leads.  drchaos keeps one belief,
 * t->orch_hint: the instance that said it leads, or that another instance's
 * status named as the leader.  Every request goes there first.  An
 * instance that gives no answer (killed, stopped, cut off) is tried last for
 * a while (t->orch_silent_ns), so that a stopped leader costs one timeout,
 * not one per request.
 *
 * Reads go to whichever instance answers: a follower serves them from its
 * copy of the log.  A request that changes something goes to the believed
 * leader; a follower answers it 307 to the leader, which chttp follows with
 * the same method, body and token.  It is sent to another instance only
 * when the connection was refused (it never left), so that an operator's
 * request is never sent twice.
 */
#include "chaos.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define SILENT_NS 2000000000LL     /* an instance that gave no answer: tried last for 2 s */
#define LEADER_TIMEOUT_MS 500      /* one GET /healthz/leader */

const char *chaos_orch_name(struct trial *t, int i)
{
	const struct lab_proc *p = lab_orch_proc(t->lab, i);
	return p ? p->name : "?";
}

int chaos_orch_index(struct trial *t, const char *name)
{
	for (int i = 0; name && i < t->lab->norchs; i++)
		if (!strcmp(chaos_orch_name(t, i), name))
			return i;
	return -1;
}

/* The instances in the order to try them: the believed leader, the others
 * in index order, those that gave no answer lately last.  Their count. */
static int try_order(struct trial *t, int *out)
{
	int n = t->lab->norchs, hint = atomic_load(&t->orch_hint), k = 0;
	long long now = chaos_now_ns();
	for (int pass = 0; pass < 2; pass++)
		for (int j = 0; j < n; j++) {
			int i = (hint + j) % n;
			bool silent = atomic_load(&t->orch_silent_ns[i]) > now;
			if (silent == (pass == 1))
				out[k++] = i;
		}
	return k;
}

static void note_answer(struct trial *t, int i, bool answered)
{
	atomic_store(&t->orch_silent_ns[i], answered ? 0 : chaos_now_ns() + SILENT_NS);
}

/* A status from instance i: the leader it names becomes the belief. */
static void note_status(struct trial *t, int i, json_t *st)
{
	json_t *ha = json_object_get(st, "ha");
	const char *role = json_string_value(json_object_get(ha, "role")) ?: "";
	const char *url = json_string_value(json_object_get(json_object_get(ha, "leader"), "url"));
	if (!strcmp(role, "leader")) {
		atomic_store(&t->orch_hint, i);
		return;
	}
	for (int k = 0; url && k < t->lab->norchs; k++)
		if (!strcmp(t->lab->urls[k], url))
			atomic_store(&t->orch_hint, k);
}

json_t *chaos_orch_get(struct trial *t, struct chttp *c, const char *path, long timeout_ms,
		       int *from)
{
	int order[LAB_HA_NODES], n = try_order(t, order);
	for (int k = 0; k < n; k++) {
		char url[300];
		struct chttp_ans a;
		int i = order[k];
		snprintf(url, sizeof(url), "%s%s", t->lab->urls[i], path);
		int rc = chttp_do(c, "GET", url, NULL, NULL, 0, timeout_ms, &a);
		note_answer(t, i, rc == 0);
		json_t *j = rc == 0 && a.status == 200 && a.body ? json_loads(a.body, 0, NULL) : NULL;
		chttp_ans_free(&a);
		if (!j)
			continue;
		if (!strcmp(path, "/v1/status"))
			note_status(t, i, j);
		if (from)
			*from = i;
		return j;
	}
	return NULL;
}

int chaos_orch_do(struct trial *t, struct chttp *c, const char *method, const char *path,
		  const char *body, long timeout_ms, struct chttp_ans *a, int *from)
{
	int order[LAB_HA_NODES], n = try_order(t, order), rc = -1;
	for (int k = 0; k < n; k++) {
		char url[300];
		int i = order[k];
		snprintf(url, sizeof(url), "%s%s", t->lab->urls[i], path);
		rc = chttp_do(c, method, url, t->op_token, body, body ? strlen(body) : 0, timeout_ms, a);
		note_answer(t, i, rc == 0);
		if (from)
			*from = i;
		if (rc == 0 || !a->not_sent || k + 1 == n)
			return rc;
	}
	return rc;
}

int chaos_leader(struct trial *t, struct chttp *c, unsigned skip, int *nleaders)
{
	int leader = -1, n = 0;
	for (int i = 0; i < t->lab->norchs; i++) {
		char url[200];
		struct chttp_ans a;
		if (skip & (1u << i))
			continue;
		snprintf(url, sizeof(url), "%s/healthz/leader", t->lab->urls[i]);
		if (chttp_do(c, "GET", url, NULL, NULL, 0, LEADER_TIMEOUT_MS, &a) == 0 && a.status == 200) {
			leader = i;
			n++;
		}
		chttp_ans_free(&a);
	}
	if (nleaders)
		*nleaders = n;
	if (n == 1)
		atomic_store(&t->orch_hint, leader);
	return n == 1 ? leader : -1;
}

/* The value of `--config` in instance i's argv. */
static const char *orch_config(struct trial *t, int i)
{
	const struct lab_proc *p = lab_orch_proc(t->lab, i);
	for (int k = 1; p && k + 1 < p->argc; k++)
		if (!strcmp(p->argv[k], "--config"))
			return p->argv[k + 1];
	return NULL;
}

int chaos_verify_audit(struct trial *t, int i, char *out, size_t len)
{
	const struct lab_proc *p = lab_orch_proc(t->lab, i);
	const char *config = orch_config(t, i);
	char cmd[LAB_PATH * 3];
	out[0] = '\0';
	if (!p || !config)
		return -1;
	snprintf(cmd, sizeof(cmd), "'%s' --config '%s' --verify-audit 2>&1", p->argv[0], config);
	FILE *f = popen(cmd, "r");
	size_t n = f ? fread(out, 1, len - 1, f) : 0;
	out[n] = '\0';
	while (n && out[n - 1] == '\n')
		out[--n] = '\0';
	int st = f ? pclose(f) : -1;
	return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}
