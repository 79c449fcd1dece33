/*
 * testlab.h — a real-process lab for end-to-end tests: two or three drsite
 * processes and a drorchd that watches them, on loopback.
 *
 * Built on testhelp.h: every process is started with th_spawn, so
 * th_cleanup() (run by tl_lab_free, at exit, and when the test process dies)
 * kills each by PID.  Every wait has a deadline.  Helpers that can fail a
 * test do so with a Check assertion that names the log to read.
 */
#ifndef DRORCH_TESTLAB_H
#define DRORCH_TESTLAB_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

#include "testhelp.h"

#define TL_MAX_SITES 3

struct tl_lab {
	char *root;                        /* private dir; tl_lab_free removes it */
	int nsites;
	const char *names[TL_MAX_SITES];   /* us-east (initial primary), eu-west, ap-south */
	struct th_site site[TL_MAX_SITES];
	char op_token[128];                /* drorchd's operator bearer token */
	char cfg[600], db[600], optok[600], policy[600], log[600];
	char listen[64];                   /* drorchd: 127.0.0.1:PORT */
	char url[80];                      /* drorchd: http://127.0.0.1:PORT */
	pid_t orch;
	/* How drorchd reaches each site (default: the site's own URL); tests
	 * that put a drlink in between change these before tl_lab_up. */
	char orch_url[TL_MAX_SITES][80];
	/* With peers set, each site's peers: [from][to] is how `from` reaches
	 * `to` (default: the site's own address). */
	bool peers;
	char peer_addr[TL_MAX_SITES][TL_MAX_SITES][64];
	char extra_config[256];            /* appended to drorchd.yaml, e.g. webhooks */
};

/* Writes text to path; fails the test if it cannot. */
void tl_write_file(const char *path, const char *text);

/* Lays out a lab of nsites sites under a fresh directory named after prefix:
 * the operator token file (op_token) and the policy file (policy text), a
 * free port for drorchd.  Nothing is started. */
void tl_lab_init(struct tl_lab *L, const char *prefix, int nsites, const char *op_token,
		 const char *policy);
/* Kills every process the test started and removes the lab's directory. */
void tl_lab_free(struct tl_lab *L);

/* Writes drorchd.yaml: the sites (with peers if L->peers), names[0] as the
 * initial primary, then L->extra_config. */
void tl_write_config(const struct tl_lab *L);
/* Starts drorchd (DRORCH_TEST_CRASH_AT=crash_at when not NULL) and waits up
 * to 10 s for /healthz. */
void tl_start_orch(struct tl_lab *L, const char *crash_at);
/* The same, but drorchd may exit before it answers (a crash point it
 * reaches at its start): false then (its exit status is the caller's to
 * read). */
bool tl_start_orch_or_exit(struct tl_lab *L, const char *crash_at);
/* Every site of L starts on the drsite of version (th_site.version; NULL:
 * the plain drsite), e.g. "0.1.0" before tl_lab_up to rehearse an upgrade. */
void tl_lab_version(struct tl_lab *L, const char *version);
/* Config, sites (with extra drsite args, may be NULL; each on the drsite
 * of its th_site.version, set before this for an upgrade), drorchd, and a
 * STEADY cluster with names[0] primary and every replica streaming from it. */
void tl_lab_up(struct tl_lab *L, const char *const site_extra[]);

/* GET path from drorchd; the parsed JSON of a 200 answer, else NULL. */
json_t *tl_orch_get(const struct tl_lab *L, const char *path);
/* POST path to drorchd with the operator token; returns the HTTP status. */
long tl_orch_post(const struct tl_lab *L, const char *path, const char *body);
/* Polls /v1/status until the state is `state` (NULL: a resting state not
 * awaiting an operator: STEADY or DEGRADED) and
 * a primary is named that is `primary` (NULL: any) and not `not_primary`
 * (NULL: no such condition).  Returns that status, or NULL after timeout_ms. */
json_t *tl_wait_cluster(const struct tl_lab *L, const char *state, const char *primary,
			const char *not_primary, long timeout_ms);
/* true when status st shows primary in its role and every other site a
 * streaming replica. */
bool tl_all_in_role(json_t *st, const char *primary);
/* The site called name, or NULL. */
const struct th_site *tl_site_named(const struct tl_lab *L, const char *name);
/* The epoch drorchd reports (0 if it did not answer). */
long long tl_status_epoch(const struct tl_lab *L);

/* The newest run of /v1/runs (new ref) or NULL. */
json_t *tl_newest_run(const struct tl_lab *L);
/* The newest run of that kind (new ref), or NULL: a store that lost its
 * history records a rewind it sees again as a run of its own, which may be
 * newer than the failover a test looks at. */
json_t *tl_newest_run_of(const struct tl_lab *L, const char *kind);
/* The newest run once it has ended (its outcome no longer "running"): the
 * machine rests a moment before the run's figures are written. */
json_t *tl_ended_run(const struct tl_lab *L, long timeout_ms);
/* Waits for a failover away from `from`; the new primary's name (static
 * storage) or NULL after timeout_ms. */
const char *tl_wait_failover_from(const struct tl_lab *L, const char *from, long timeout_ms);
/* The row ids of drorchd's transitions (GET /v1/transitions), in order, as
 * "ROW ROW ..." into out. */
void tl_rows(const struct tl_lab *L, char *out, size_t len);
/* Runs `drorchd --config CFG --verify-audit`; its exit status (-1: none). */
int tl_verify_audit(const struct tl_lab *L);

/* ---- writers that follow the primary ---- */

#define TL_WRITERS 4
#define TL_MAX_KEYS 200000

/* Each writer PUTs keys wN-SEQ to whichever site drorchd names primary,
 * and records the sequence numbers acknowledged with 200. */
struct tl_writer {
	const struct tl_lab *lab;
	int id;
	int next;                 /* next sequence number to try */
	int nacked;
	int *acked;               /* sequence numbers acknowledged */
	int pace_ms;              /* pause after each acknowledged write */
	atomic_bool *stop;
};

struct tl_writers {
	struct tl_writer w[TL_WRITERS];
	pthread_t t[TL_WRITERS];
	int n;                    /* writers running */
	atomic_bool stop;
};

/* TL_WRITERS writers, each pausing TL_PACE_MS after every acknowledged write:
 * a steady load that leaves the CPU to the processes under test (unpaced, the
 * four writers' requests took a quarter to a third of a sanitizer build's
 * lifecycle walk). */
#define TL_PACE_MS 2
void tl_writers_start(const struct tl_lab *L, struct tl_writers *ws);
/* n writers (1..TL_WRITERS), each pausing pace_ms after every acknowledged
 * write. */
void tl_writers_start_paced(const struct tl_lab *L, struct tl_writers *ws, int n, int pace_ms);
/* Stops and joins them; the number of acknowledged writes. */
int tl_writers_stop(struct tl_writers *ws);
/* Fails the test unless every acknowledged write is on site s; frees the
 * writers' memory. */
void tl_writers_check_on(struct tl_writers *ws, const struct th_site *s);
/* The same check, keeping the memory for another site's check. */
void tl_writers_assert_on(const struct tl_writers *ws, const struct th_site *s);

#endif
