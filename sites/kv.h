/*
 * kv.h — drsite's in-memory key-value map.
 *
 * Owns the map from key to (value, lsn).  Every entry carries a CRC-32C of
 * its key and value, checked on every read, so bytes that changed in memory
 * are reported, never served.  The map also tracks the LSN and epoch of the
 * last record applied: the WAL applies records in LSN order, so a reader that
 * holds the read lock sees a state that is exactly "all records through
 * applied_lsn" (what a checkpoint needs).
 *
 * Threads: a rwlock inside; all functions may be called concurrently.
 */
#ifndef DRORCH_KV_H
#define DRORCH_KV_H

#include <stddef.h>
#include <stdint.h>

#include "wal.h"

struct kv;

struct kv *kv_new(void);
void kv_free(struct kv *kv);

/* Applies one WAL record (put or delete).  0, or -1 on allocation failure. */
int kv_apply(struct kv *kv, const struct wal_record *rec);

enum kv_get_result { KV_FOUND = 0, KV_NOT_FOUND = 1, KV_CORRUPT = -1, KV_NOMEM = -2 };
/* Copies the value out (caller frees *value). */
enum kv_get_result kv_get(struct kv *kv, const char *key, uint32_t key_len,
			  char **value, uint32_t *value_len, uint64_t *lsn);

struct kv_info {
	uint64_t applied_lsn;
	uint64_t epoch;
	uint64_t applied_commit_ms;  /* commit time of that record (0: format 1, unknown) */
	uint64_t keys;
	uint64_t bytes;  /* key + value bytes held */
};
void kv_get_info(struct kv *kv, struct kv_info *info);
/* Sets the applied position after a snapshot load (before any apply). */
void kv_set_position(struct kv *kv, uint64_t applied_lsn, uint64_t epoch, uint64_t commit_ms);

/* Exchanges the contents of a and b (a replica installing a snapshot builds
 * the new map aside, then swaps it in). */
void kv_swap(struct kv *a, struct kv *b);

/*
 * Visits every entry under the read lock, so the set visited is exactly the
 * state at info->applied_lsn.  fn returns 0 to go on, -1 to stop (the error
 * is passed back).  Entries whose CRC fails are not visited: kv_foreach
 * returns -1 with *corrupt set.
 */
typedef int (*kv_visit_fn)(void *ctx, const char *key, uint32_t key_len,
			   const char *value, uint32_t value_len, uint64_t lsn);
int kv_foreach(struct kv *kv, kv_visit_fn fn, void *ctx, struct kv_info *info, int *corrupt);

#endif
