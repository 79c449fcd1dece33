/*
 * sha256.h — SHA-256 (FIPS 180-4) for the hash-chained audit, and
 * HMAC-SHA256 (RFC 2104, FIPS 198-1) for the MACs that anchor it to a key the
 * database does not hold.
 *
 * Incremental (init, update..., final) or one-shot.  No allocation, no global
 * state; a context belongs to one thread at a time.  Not constant-time with
 * respect to anything but the data length: fine for integrity digests and
 * for MACs checked offline against stored values, which is all drorch does.
 */
#ifndef DRORCH_SHA256_H
#define DRORCH_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_SIZE 32
#define SHA256_BLOCK_SIZE  64
#define SHA256_HEX_SIZE    65 /* 64 lowercase hex digits and a NUL */

struct sha256_ctx {
	uint32_t state[8];
	uint64_t total_bytes;                 /* message length so far */
	uint8_t block[SHA256_BLOCK_SIZE];     /* pending partial block */
	size_t block_len;
};

void sha256_init(struct sha256_ctx *ctx);
void sha256_update(struct sha256_ctx *ctx, const void *data, size_t len);
/* Pads, writes the digest and wipes the context. */
void sha256_final(struct sha256_ctx *ctx, uint8_t digest[SHA256_DIGEST_SIZE]);

void sha256(const void *data, size_t len, uint8_t digest[SHA256_DIGEST_SIZE]);
/* Lowercase hex of a digest, NUL-terminated. */
void sha256_hex(const uint8_t digest[SHA256_DIGEST_SIZE], char hex[SHA256_HEX_SIZE]);

/* HMAC-SHA256: SHA-256((K ^ opad) || SHA-256((K ^ ipad) || message)), where
 * K is the key zero-padded to 64 bytes, or its SHA-256 when longer. */
struct hmac_sha256_ctx {
	struct sha256_ctx inner;
	struct sha256_ctx outer; /* already fed K ^ opad */
};

void hmac_sha256_init(struct hmac_sha256_ctx *ctx, const void *key, size_t keylen);
void hmac_sha256_update(struct hmac_sha256_ctx *ctx, const void *data, size_t len);
/* Writes the MAC and wipes the context. */
void hmac_sha256_final(struct hmac_sha256_ctx *ctx, uint8_t mac[SHA256_DIGEST_SIZE]);
void hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
		 uint8_t mac[SHA256_DIGEST_SIZE]);

#endif
