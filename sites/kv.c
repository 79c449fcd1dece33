/*
 * kv.c — the in-memory map: chained hash table, doubled when the load
 * factor passes 1, protected by one rwlock.
 *
 * Each entry stores key then value in one allocation with a CRC-32C over
 * both; kv_get recomputes it before copying the value out.
 */
#include "kv.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"

struct kv_entry {
	struct kv_entry *next;
	uint64_t hash;
	uint64_t lsn;
	uint32_t key_len;
	uint32_t value_len;
	uint32_t crc;          /* crc32c(key || value) */
	char data[];           /* key bytes, then value bytes */
};

struct kv {
	pthread_rwlock_t lock;
	struct kv_entry **buckets;
	size_t nbuckets;       /* power of two */
	struct kv_info info;
};

static uint64_t hash_key(const char *key, uint32_t len)
{
	uint64_t h = 1469598103934665603ull;  /* FNV-1a 64 */
	for (uint32_t i = 0; i < len; i++) {
		h ^= (unsigned char)key[i];
		h *= 1099511628211ull;
	}
	return h;
}

struct kv *kv_new(void)
{
	struct kv *kv = calloc(1, sizeof(*kv));
	if (!kv)
		return NULL;
	kv->nbuckets = 1024;
	kv->buckets = calloc(kv->nbuckets, sizeof(*kv->buckets));
	if (!kv->buckets) {
		free(kv);
		return NULL;
	}
	pthread_rwlock_init(&kv->lock, NULL);
	return kv;
}

void kv_free(struct kv *kv)
{
	if (!kv)
		return;
	for (size_t i = 0; i < kv->nbuckets; i++) {
		struct kv_entry *e = kv->buckets[i];
		while (e) {
			struct kv_entry *next = e->next;
			free(e);
			e = next;
		}
	}
	free(kv->buckets);
	pthread_rwlock_destroy(&kv->lock);
	free(kv);
}

static struct kv_entry **find_slot(struct kv *kv, const char *key, uint32_t len, uint64_t h)
{
	struct kv_entry **pp = &kv->buckets[h & (kv->nbuckets - 1)];
	while (*pp && ((*pp)->hash != h || (*pp)->key_len != len ||
		       memcmp((*pp)->data, key, len) != 0))
		pp = &(*pp)->next;
	return pp;
}

/* Doubles the table; on allocation failure keeps the old one (still correct). */
static void maybe_grow(struct kv *kv)
{
	if (kv->info.keys <= kv->nbuckets)
		return;
	size_t n = kv->nbuckets * 2;
	struct kv_entry **nb = calloc(n, sizeof(*nb));
	if (!nb)
		return;
	for (size_t i = 0; i < kv->nbuckets; i++) {
		struct kv_entry *e = kv->buckets[i];
		while (e) {
			struct kv_entry *next = e->next;
			e->next = nb[e->hash & (n - 1)];
			nb[e->hash & (n - 1)] = e;
			e = next;
		}
	}
	free(kv->buckets);
	kv->buckets = nb;
	kv->nbuckets = n;
}

static struct kv_entry *entry_new(const struct wal_record *rec, uint64_t h)
{
	struct kv_entry *e = malloc(sizeof(*e) + rec->key_len + rec->value_len);
	if (!e)
		return NULL;
	e->next = NULL;
	e->hash = h;
	e->lsn = rec->lsn;
	e->key_len = rec->key_len;
	e->value_len = rec->value_len;
	memcpy(e->data, rec->key, rec->key_len);
	if (rec->value_len)
		memcpy(e->data + rec->key_len, rec->value, rec->value_len);
	e->crc = crc32c(0, e->data, (size_t)rec->key_len + rec->value_len);
	return e;
}

int kv_apply(struct kv *kv, const struct wal_record *rec)
{
	uint64_t h = hash_key(rec->key, rec->key_len);
	struct kv_entry *fresh = NULL;
	if (rec->type == WAL_PUT && !(fresh = entry_new(rec, h)))
		return -1;
	pthread_rwlock_wrlock(&kv->lock);
	struct kv_entry **pp = find_slot(kv, rec->key, rec->key_len, h);
	struct kv_entry *old = *pp;
	if (old) {
		*pp = old->next;
		kv->info.keys--;
		kv->info.bytes -= old->key_len + old->value_len;
	}
	if (fresh) {
		fresh->next = *pp;
		*pp = fresh;
		kv->info.keys++;
		kv->info.bytes += fresh->key_len + fresh->value_len;
		maybe_grow(kv);
	}
	kv->info.applied_lsn = rec->lsn;
	kv->info.epoch = rec->epoch;
	kv->info.applied_commit_ms = rec->commit_ms;
	pthread_rwlock_unlock(&kv->lock);
	free(old);
	return 0;
}

static bool entry_intact(const struct kv_entry *e)
{
	return crc32c(0, e->data, (size_t)e->key_len + e->value_len) == e->crc;
}

enum kv_get_result kv_get(struct kv *kv, const char *key, uint32_t key_len,
			  char **value, uint32_t *value_len, uint64_t *lsn)
{
	uint64_t h = hash_key(key, key_len);
	enum kv_get_result res = KV_NOT_FOUND;
	pthread_rwlock_rdlock(&kv->lock);
	struct kv_entry *e = *find_slot(kv, key, key_len, h);
	if (e && !entry_intact(e)) {
		res = KV_CORRUPT;
	} else if (e) {
		*value = malloc(e->value_len ? e->value_len : 1);
		res = *value ? KV_FOUND : KV_NOMEM;
		if (*value) {
			memcpy(*value, e->data + e->key_len, e->value_len);
			*value_len = e->value_len;
			*lsn = e->lsn;
		}
	}
	pthread_rwlock_unlock(&kv->lock);
	return res;
}

void kv_get_info(struct kv *kv, struct kv_info *info)
{
	pthread_rwlock_rdlock(&kv->lock);
	*info = kv->info;
	pthread_rwlock_unlock(&kv->lock);
}

void kv_set_position(struct kv *kv, uint64_t applied_lsn, uint64_t epoch, uint64_t commit_ms)
{
	pthread_rwlock_wrlock(&kv->lock);
	kv->info.applied_lsn = applied_lsn;
	kv->info.epoch = epoch;
	kv->info.applied_commit_ms = commit_ms;
	pthread_rwlock_unlock(&kv->lock);
}

int kv_foreach(struct kv *kv, kv_visit_fn fn, void *ctx, struct kv_info *info, int *corrupt)
{
	int rc = 0;
	*corrupt = 0;
	pthread_rwlock_rdlock(&kv->lock);
	*info = kv->info;
	for (size_t i = 0; i < kv->nbuckets && rc == 0; i++)
		for (struct kv_entry *e = kv->buckets[i]; e && rc == 0; e = e->next) {
			if (!entry_intact(e)) {
				*corrupt = 1;
				rc = -1;
				break;
			}
			rc = fn(ctx, e->data, e->key_len, e->data + e->key_len,
				e->value_len, e->lsn);
		}
	pthread_rwlock_unlock(&kv->lock);
	return rc;
}

void kv_swap(struct kv *a, struct kv *b)
{
	pthread_rwlock_wrlock(&a->lock);
	pthread_rwlock_wrlock(&b->lock);
	struct kv_entry **buckets = a->buckets;
	size_t nbuckets = a->nbuckets;
	struct kv_info info = a->info;
	a->buckets = b->buckets;
	a->nbuckets = b->nbuckets;
	a->info = b->info;
	b->buckets = buckets;
	b->nbuckets = nbuckets;
	b->info = info;
	pthread_rwlock_unlock(&b->lock);
	pthread_rwlock_unlock(&a->lock);
}
