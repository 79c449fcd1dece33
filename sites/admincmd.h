/*
 * admincmd.h — the bodies of drsite's admin commands (admin.c), parsed
 * without a site: pure functions of the body's bytes and, for a lease
 * nonce, of this start's boot id and the clock, so admin.c and the fuzz
 * targets run the same code.  Each returns 0, or -1 with err naming the
 * field (the command then answers 400 with err and changes nothing).  A
 * body is a JSON object holding only the fields its command takes
 * (STRICT BODIES in admin.c).
 */
#ifndef DRORCH_ADMINCMD_H
#define DRORCH_ADMINCMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "site_internal.h"

/* What checks a lease nonce: this start's id, and now (monotonic ms). */
struct admin_clock {
	uint64_t boot_id;
	uint64_t now_ms;
};

/* A lease renewal a command brings: from its nonce, or from its arrival. */
struct admin_grant {
	bool has_nonce;
	int nonce;                 /* NONCE_OURS or NONCE_FOREIGN, when has_nonce */
	uint64_t at;               /* the nonce's instant, when NONCE_OURS */
};

/* Reads a nonce "BOOT-MS" (see LEASE NONCES in admin.c): NONCE_OURS (of
 * boot_id, at *at <= now), NONCE_FOREIGN or NONCE_BAD. */
int admin_nonce_parse(uint64_t boot_id, const char *text, uint64_t now, uint64_t *at);

/* {"epoch": E >= 1}: fence and rewind. */
int admin_parse_epoch_body(const char *body, size_t len, uint64_t *epoch, char *err,
			   size_t errlen);

/* {"epoch", "lease_nonce"?}: heartbeat. */
int admin_parse_heartbeat(const char *body, size_t len, const struct admin_clock *k,
			  uint64_t *epoch, struct admin_grant *g, char *err, size_t errlen);

/* {"epoch", "fcv": "X.Y.Z", "lease_nonce"?}. */
int admin_parse_fcv(const char *body, size_t len, const struct admin_clock *k,
		    uint64_t *epoch, struct version *fcv, struct admin_grant *g,
		    char *err, size_t errlen);

/* {"role", "epoch", "primary", "mode", "quorum", "writes", "lease_nonce",
 * "lease_replicas", "lease_ms"}.  primary points into doc: json_decref(c->doc)
 * when done with it (NULL after a failure). */
struct admin_role_cmd {
	enum role_kind role;
	uint64_t epoch;
	const char *primary;
	enum repl_mode mode;
	int quorum;
	int lease_replicas;
	uint64_t lease_ms;         /* the lease asked for; 0: not asked (the site's --lease-ms) */
	bool writes_paused;
	struct admin_grant grant;
	json_t *doc;
};
int admin_parse_role(const char *body, size_t len, const struct admin_clock *k,
		     struct admin_role_cmd *c, char *err, size_t errlen);

/* A role command's lease_ms bounds. */
#define ADMIN_LEASE_MIN_MS 10
#define ADMIN_LEASE_MAX_MS 86400000

/* A site's write lease and the instant of the command that last set it. */
struct admin_lease {
	uint64_t ms;               /* the lease in force */
	uint64_t set_at;           /* the grant instant of the command that set it */
};

/*
 * The write lease after a role command asking for req ms (0: not asked),
 * granted at `at` (its nonce's instant, or its arrival; 0 for a nonce of
 * another start), the site's own --lease-ms being max (WRITE LEASE in
 * admin.c).  A fresh role (a new epoch, or another role) takes the
 * request, capped at max, or max when it asks for none.  Within a role a
 * request may always shorten the lease; it lengthens it only when granted
 * no earlier than the command that set it, so a command a partition held
 * back can never lengthen a lease a newer command set.  Pure.
 */
struct admin_lease admin_lease_after(struct admin_lease cur, uint64_t max, uint64_t req,
				     uint64_t at, bool fresh);

/*
 * An orchestrator's term (X-Drorch-Term, ORCHESTRATOR TERM in admin.c)
 * against the newest this site has seen (*seen, 0: none): ADMIN_TERM_OK
 * (no header, or a term no older; *seen becomes the newer), ADMIN_TERM_BAD
 * (not a decimal number: 400) or ADMIN_TERM_STALE (older than *seen: a
 * deposed leader's, 409).  err says why when not OK.  Pure.
 */
enum { ADMIN_TERM_OK = 0, ADMIN_TERM_BAD, ADMIN_TERM_STALE };
int admin_term_check(const char *header, uint64_t *seen, char *err, size_t errlen);

/* A faults body applied on top of *f (every field optional; "clear": true
 * resets what came before it).  *f may be changed on failure: pass a copy. */
int admin_parse_faults(const char *body, size_t len, struct faults *f, char *err,
		       size_t errlen);

#endif
