/*
 * testhelp.h — helpers for end-to-end tests that run real processes.
 *
 * Every spawned process is registered; th_cleanup() (also run at exit and
 * through PR_SET_PDEATHSIG if the test process dies) kills each by PID, so a
 * failing test leaves nothing behind.  Every wait has a deadline.  Loopback
 * only: addresses are always 127.0.0.1.
 */
#ifndef DRORCH_TESTHELP_H
#define DRORCH_TESTHELP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <check.h>

#include "httpc.h"

/* A TCP port on 127.0.0.1 that was free a moment ago, below the kernel's
 * ephemeral range (freeport.h). */
int th_free_port(void);

/* Path of a built binary: $DRORCH_BUILDDIR/NAME (static buffer per call slot). */
const char *th_bin(const char *name);
/* The built drsite program for version X.Y.Z, as the lab maps it
 * (lab_drsite_program): drsite-VERSION when it is built, else drsite when
 * version is its own (DRSITE_VERSION); NULL or "" version: drsite.  NULL
 * when there is none (a message on stderr names what there is). */
const char *th_drsite_bin(const char *version);
/* Path under the source tree: $DRORCH_SRCDIR/REL. */
const char *th_src(const char *rel);

/* A fresh private directory under $TMPDIR; removed by th_rmrf. Caller frees. */
char *th_mkdtemp(const char *prefix);
void th_rmrf(const char *dir);

/*
 * Starts argv[0] with argv, stdout+stderr appended to logfile (or inherited if
 * NULL).  Registered for cleanup.  Returns the pid, or -1.
 */
pid_t th_spawn(char *const argv[], const char *logfile);

/*
 * Runs this test program again once per value of values (NULL-ended), all
 * at once, with environment variable name set to that value in each copy
 * (CK_RUN_CASE=CASE: one Check test case), and waits for every copy.  For
 * the end-to-end programs whose cases mostly wait: each copy sets up its
 * own labs (ports picked free) and prints its own Check summary.  0 when
 * every copy exited 0.
 */
int th_run_copies(const char *name, const char *const values[]);
/*
 * A Check case of s named name (a string literal: it is kept), with a timeout
 * of timeout_s seconds (0: Check's default) and, when setup is not NULL,
 * setup and teardown as a checked fixture.  Returns it, for tcase_add_test.
 * The name is kept for th_run_case_copies, in wave `wave`.
 */
TCase *th_tcase(Suite *s, const char *name, int wave, int timeout_s, SFun setup, SFun teardown);
/*
 * For a program whose cases mostly wait: runs every case th_tcase made as a
 * copy of this program (th_run_copies, CK_RUN_CASE=NAME), the cases of wave 0
 * at once, then those of wave 1, and so on (a later wave runs even when an
 * earlier one failed).  Frees s, which it does not run.  0 when every copy
 * passed.
 */
int th_run_case_copies(Suite *s);
/* Sends sig and, for SIGKILL/SIGTERM, waits (up to timeout_ms) for the exit.
 * Returns the wait status, or -1 if it did not exit in time. */
int th_kill(pid_t pid, int sig, long timeout_ms);
/* Waits for pid to exit by itself; returns the wait status or -1 on timeout. */
int th_wait_exit(pid_t pid, long timeout_ms);
/* Kills every registered process still running. */
void th_cleanup(void);
/* true when pid is gone or a zombie (exited, not yet reaped by its parent). */
bool th_pid_gone(pid_t pid);
/* The pids DIR/lab.json names (at most max); -1 when unreadable. */
int th_lab_pids(const char *dir, pid_t *pids, int max);

/* ---- headless Chromium ---- */

/* Chromium: $DRORCH_CHROMIUM, else /usr/bin/chromium. */
const char *th_chromium_path(void);
/*
 * Runs headless Chromium with extra arguments (NULL-terminated, e.g.
 * "--dump-dom" or "--screenshot=FILE") on url; its profile is
 * DIR/chromium-profile-TAG, its stdout DIR/chromium-TAG.out, its stderr
 * DIR/chromium-TAG.log.  It runs in a process group of its own, killed by
 * that group's id once it exits, after timeout_ms, or when the test dies
 * (PDEATHSIG): no browser process outlives the call.  Returns its wait
 * status, or -1 when it did not finish in time or could not start (why in
 * err).
 */
int th_chromium(const char *dir, const char *tag, const char *const extra[], const char *url,
		long timeout_ms, char *err, size_t errlen);

/* Polls GET url until it answers `status` or timeout_ms passes. true if it did. */
bool th_wait_http(const char *url, long status, long timeout_ms);

/* One request with the calling thread's client (kept between calls, so a
 * kept-alive connection is reused); returns status (0 on transport error).
 * If body_out is given, *body_out receives a malloc'd NUL-terminated body. */
long th_http(const char *method, const char *url, const char *bearer,
	     const void *body, size_t len, char **body_out, size_t *len_out);

/* ---- drlink: links to cut or slow ---- */

/* Starts a drlink (its log DIR/drlink.log) with its admin API on a free
 * port; its base URL ("http://127.0.0.1:PORT") into admin.  false if it
 * did not answer within 10 s. */
bool th_drlink_start(const char *dir, char *admin, size_t len);
/* Creates link name, listening on listen, to upstream (HOST:PORT each);
 * the HTTP status (201 created). */
long th_link_add(const char *admin, const char *name, const char *listen,
		 const char *upstream);
/* Sets link name's conditions (JSON, e.g. {"partition":"blackhole"}); the
 * HTTP status. */
long th_link_set(const char *admin, const char *name, const char *conditions);

/* Reads a whole file; NULL on error; *len set. Caller frees. */
char *th_read_file(const char *path, size_t *len);
/* Every file under dir as "PATH SIZE SHA256" lines, sorted (the contents
 * of a data dir, to compare before and after), but for DIR/LOCK: the pid
 * of the last drsite that tried it.  NULL on error; caller frees. */
char *th_dir_digest(const char *dir);

/* The magic of each WAL segment under DATADIR/wal, oldest first, each
 * followed by a space ("DRWAL001 DRWAL002 "): which formats are on disk.
 * NULL on error; caller frees. */
char *th_wal_magics(const char *datadir);

/* A deterministic, binary, variable-length (16..215 bytes) value for key. */
size_t th_value_for(const char *key, char *buf, size_t cap);

/* ---- real drsite processes ---- */

#define TH_TOKEN "test-site-token-0123456789"

struct th_site {
	char name[32];
	char data[512];       /* data dir */
	char log[600];        /* stdout+stderr of every run, appended */
	char listen[64];      /* 127.0.0.1:PORT */
	char base[80];        /* http://127.0.0.1:PORT */
	char token_file[600]; /* holds TH_TOKEN */
	char version[16];     /* the drsite version it starts on (th_drsite_bin);
			       * "" (th_site_init's): the plain drsite */
	pid_t pid;
};

/* Lays out a site under root (data dir, log, token file) on a free port. */
void th_site_init(struct th_site *s, const char *root, const char *name);
/* Starts th_drsite_bin(s->version) with --token-file and extra args
 * (NULL-terminated, may be NULL); waits up to 10 s for /healthz.  false if
 * it did not come up. */
bool th_site_start(struct th_site *s, const char *const extra[]);
/* A rolling upgrade's swap, as the lab does it: SIGTERM (a clean stop,
 * up to 10 s), then th_site_start on the drsite of version (kept in
 * s->version).  false if it did not come up. */
bool th_site_swap(struct th_site *s, const char *version, const char *const extra[]);
/* Request to the site; bearer is TH_TOKEN when admin is true. */
long th_site_req(const struct th_site *s, const char *method, const char *path, bool admin,
		 const void *body, size_t len, char **out, size_t *outlen);
/* POST /v1/admin/CMD with body as a drorchd of HA term `term` sends it
 * (header X-Drorch-Term: term, sent as given); *out (may be NULL) gets the
 * answer's body.  The HTTP status, 0 on no answer. */
long th_site_admin_at_term(const struct th_site *s, const char *term, const char *cmd,
			   const char *body, char **out);
/* GET /v1/status with bearer token (TH_TOKEN, or another to be refused)
 * and X-Drorch-Term: term, as drorchd's polls with HA send it.  The HTTP
 * status, 0 on no answer. */
long th_site_status_at_term(const struct th_site *s, const char *token, const char *term);
/* POST /v1/admin/role with {"role", "epoch", "primary"?, "mode", "quorum"}. */
long th_site_role(const struct th_site *s, const char *role, int epoch,
		  const struct th_site *primary, const char *mode, int quorum);
/* A status field: top-level when obj is NULL, else inside object obj. */
long long th_site_status_int(const struct th_site *s, const char *obj, const char *field);
/* A top-level string field of /v1/status copied into buf ("" if absent). */
const char *th_site_status_str(const struct th_site *s, const char *field, char *buf, size_t len);
/* Polls /v1/status until its text contains needle; false after timeout_ms. */
bool th_site_wait_status(const struct th_site *s, const char *needle, long timeout_ms);
/* PUT key = th_value_for(key); returns the HTTP status. */
long th_site_put(const struct th_site *s, const char *key);
/* true when GET key answers 200 with th_value_for(key). */
bool th_site_has(const struct th_site *s, const char *key);
/* Damages a stopped site's log: flips bit (a mask) of the byte at `at`
 * (0..1) of the length of its newest WAL segment.  Returns that segment's
 * length, or -1 when it could not. */
long th_site_flip_wal(const struct th_site *s, double at, unsigned char bit);

/* ---- real etcd clusters ---- */

#define TH_ETCD_MAX 5

/* One member: what its command line is made of, so that a killed member
 * restarts on its own data dir with the same arguments. */
struct th_etcd_member {
	char name[16];        /* m0, m1, ... */
	char client[64];      /* http://127.0.0.1:PORT */
	char peer[64];        /* http://127.0.0.1:PORT */
	char data[600];       /* DIR/NAME.etcd */
	char log[600];        /* DIR/NAME.log: stdout+stderr of every run, appended */
	pid_t pid;            /* -1 when not running */
};

struct th_etcd {
	int n;
	char cluster[TH_ETCD_MAX * 96];     /* --initial-cluster NAME=PEER,... */
	char token[64];                     /* --initial-cluster-token */
	struct th_etcd_member m[TH_ETCD_MAX];
	const char *endpoints[TH_ETCD_MAX]; /* m[i].client, as etcd_open takes them */
};

/* etcd: $DRORCH_ETCD, else /usr/bin/etcd. */
const char *th_etcd_path(void);
/*
 * Starts a cluster of `members` (1..TH_ETCD_MAX) etcd processes on free
 * loopback ports, data dirs and logs under dir, elections tuned fast
 * (--heartbeat-interval 50 --election-timeout 500), and waits up to 10 s
 * for every member's GET /health to answer {"health":"true"}.  Members
 * are registered for th_cleanup.  false (why on stderr) if it did not
 * come up.
 */
bool th_etcd_start(const char *dir, int members, struct th_etcd *out);
/* Sends sig to member i; for SIGKILL and SIGTERM waits up to 5 s for its
 * exit, and the member is down after.  false if it was not running or did
 * not exit in time. */
bool th_etcd_kill_member(struct th_etcd *c, int i, int sig);
/* Starts member i, down, again on its data dir and waits up to 10 s for
 * its health.  false if it did not come up. */
bool th_etcd_start_member(struct th_etcd *c, int i);
/* Kills every member still running (the dir is the caller's). */
void th_etcd_stop(struct th_etcd *c);

#endif
