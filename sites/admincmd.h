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
 * "lease_replicas"}.  primary points into doc: json_decref(c->doc) when
 * done with it (NULL after a failure). */
struct admin_role_cmd {
	enum role_kind role;
	uint64_t epoch;
	const char *primary;
	enum repl_mode mode;
	int quorum;
	int lease_replicas;
	bool writes_paused;
	struct admin_grant grant;
	json_t *doc;
};
int admin_parse_role(const char *body, size_t len, const struct admin_clock *k,
		     struct admin_role_cmd *c, char *err, size_t errlen);

/* A faults body applied on top of *f (every field optional; "clear": true
 * resets what came before it).  *f may be changed on failure: pass a copy. */
int admin_parse_faults(const char *body, size_t len, struct faults *f, char *err,
		       size_t errlen);

#endif
