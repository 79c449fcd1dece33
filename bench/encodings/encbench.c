/*
 * encbench.c — bytes per record and encode+decode CPU cost of drsite's two
 * WAL shipping framings, in one process, no I/O.  For bench/encodings.
 *
 *   encbench [--value-size B]... [--batch N] [--reps R] [--min-ms MS]
 *
 * A batch of N records (keys like kvload's, "r1-12-345678"; values of B
 * bytes, kvload's a..z pattern) is framed and unframed the two ways a
 * primary and a replica do it in sites/repl.c:
 *
 *   binary  encode: wal_encode() each record into one frame buffer (with the
 *           32-byte shipping header); decode: wal_decode() each record, which
 *           checks its CRC-32C.
 *   json    encode: wal_encode() for the CRC, base64 of the value, one
 *           json_pack() object {"lsn","epoch","type","key","value","crc"}
 *           per record in a "records" array under {"epoch","last_lsn",
 *           "flushed_lsn"}, json_dumps(JSON_COMPACT|JSON_PRESERVE_ORDER) as
 *           http_resp_json() sends it; decode: json_loadb(), json_unpack()
 *           each record, base64-decode the value, wal_encode() it again and
 *           compare the CRC, as json_records_to_wal() does.
 *
 * bytes/record is the whole frame over N (header amortised).  Cost is
 * wall-clock ns per record, encode and decode separately, averaged over as
 * many batches as fit in --min-ms (at least one); each rep is one such run,
 * and every rep prints one line:
 *
 *   value_size=128 rep=1 batch=64 bin_bytes=... json_bytes=...
 *   bin_enc_ns=... bin_dec_ns=... json_enc_ns=... json_dec_ns=...
 *
 * Exit 0, 1 if a frame does not decode to what was encoded, 2 on bad usage.
 */
#include "config.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base64.h"
#include "../benchutil.h"
#include "timeutil.h"
#include "wal.h"

#define MAX_SIZES 16
#define SHIP_HEADER 32u
#define KEY_LEN_MAX 32

struct batch {
	size_t n;
	struct wal_record *recs;
	char (*keys)[KEY_LEN_MAX];
	unsigned char *value;
	unsigned char *frame;      /* binary frame: header + records */
	size_t frame_len;
	unsigned char *scratch;    /* one re-encoded record (json decode) */
};

static volatile uint64_t sink;  /* keeps the decoders' results alive */

/* ---- the batch -------------------------------------------------------------- */

static int batch_init(struct batch *b, size_t n, uint32_t value_size)
{
	*b = (struct batch){ .n = n };
	b->recs = calloc(n, sizeof(*b->recs));
	b->keys = calloc(n, sizeof(*b->keys));
	b->value = malloc(value_size ? value_size : 1);
	size_t cap = SHIP_HEADER;
	for (size_t i = 0; i < n; i++)
		cap += wal_record_size(1, KEY_LEN_MAX, value_size);
	b->frame = malloc(cap);
	b->scratch = malloc(wal_record_size(1, WAL_MAX_KEY, value_size));
	if (!b->recs || !b->keys || !b->value || !b->frame || !b->scratch)
		return -1;
	for (uint32_t i = 0; i < value_size; i++)
		b->value[i] = (unsigned char)('a' + i % 26);
	for (size_t i = 0; i < n; i++) {
		int klen = snprintf(b->keys[i], KEY_LEN_MAX, "r1-%zu-%zu", i % 64, 100000 + i);
		b->recs[i] = (struct wal_record){ .lsn = 1000000 + i, .epoch = 3, .type = WAL_PUT,
			.key = b->keys[i], .key_len = (uint32_t)klen,
			.value = b->value, .value_len = value_size };
	}
	return 0;
}

static void batch_free(struct batch *b)
{
	free(b->recs);
	free(b->keys);
	free(b->value);
	free(b->frame);
	free(b->scratch);
}

/* ---- binary framing --------------------------------------------------------- */

static void bin_encode(struct batch *b)
{
	memset(b->frame, 0, SHIP_HEADER);
	memcpy(b->frame, "DRSHIP01", 8);
	size_t off = SHIP_HEADER;
	for (size_t i = 0; i < b->n; i++) {
		wal_encode(&b->recs[i], b->frame + off);
		off += wal_record_size(1, b->recs[i].key_len, b->recs[i].value_len);
	}
	b->frame_len = off;
}

static int bin_decode(const struct batch *b)
{
	size_t off = SHIP_HEADER;
	uint64_t sum = 0;
	for (size_t i = 0; i < b->n; i++) {
		struct wal_record r;
		size_t n = wal_decode(b->frame + off, b->frame_len - off, &r);
		if (n == 0 || r.lsn != b->recs[i].lsn)
			return -1;
		sum += r.value_len;
		off += n;
	}
	sink += sum;
	return off == b->frame_len ? 0 : -1;
}

/* ---- JSON framing ----------------------------------------------------------- */

static uint32_t crc_of(const unsigned char *rec)
{
	return (uint32_t)rec[0] | (uint32_t)rec[1] << 8 | (uint32_t)rec[2] << 16 |
	       (uint32_t)rec[3] << 24;
}

/* The serialised frame (malloc'd), or NULL. */
static char *json_encode(struct batch *b)
{
	json_t *arr = json_array();
	for (size_t i = 0; arr && i < b->n; i++) {
		const struct wal_record *r = &b->recs[i];
		wal_encode(r, b->scratch);
		char *b64 = base64_encode(r->value, r->value_len);
		json_array_append_new(arr, json_pack("{s:I, s:I, s:s, s:s%, s:s, s:I}",
			"lsn", (json_int_t)r->lsn, "epoch", (json_int_t)r->epoch,
			"type", r->type == WAL_PUT ? "put" : "delete", "key", r->key, (size_t)r->key_len,
			"value", b64 ? b64 : "", "crc", (json_int_t)crc_of(b->scratch)));
		free(b64);
	}
	json_t *frame = json_pack("{s:I, s:I, s:I, s:o}", "epoch", (json_int_t)3,
				  "last_lsn", (json_int_t)(1000000 + b->n), "flushed_lsn",
				  (json_int_t)(1000000 + b->n), "records", arr);
	char *text = frame ? json_dumps(frame, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(frame);
	return text;
}

static int json_decode(struct batch *b, const char *text, size_t len)
{
	json_t *frame = json_loadb(text, len, 0, NULL);
	json_t *recs = json_object_get(frame, "records"), *e;
	size_t i;
	int rc = json_is_array(recs) && json_array_size(recs) == b->n ? 0 : -1;
	json_array_foreach(recs, i, e) {
		const char *type = NULL, *key = NULL, *value = NULL;
		json_int_t lsn = 0, epoch = 0, crc = 0;
		size_t klen = 0, vlen = 0;
		unsigned char *v = NULL;
		if (rc != 0 || json_unpack(e, "{s:I, s:I, s:s, s:s%, s:s, s:I}", "lsn", &lsn,
					   "epoch", &epoch, "type", &type, "key", &key, &klen,
					   "value", &value, "crc", &crc) != 0 ||
		    !(v = base64_decode(value, &vlen))) {
			rc = -1;
			break;
		}
		struct wal_record r = { .lsn = (uint64_t)lsn, .epoch = (uint64_t)epoch,
			.type = strcmp(type, "put") == 0 ? WAL_PUT : WAL_DELETE,
			.key = key, .key_len = (uint32_t)klen, .value = v, .value_len = (uint32_t)vlen };
		wal_encode(&r, b->scratch);
		free(v);
		if (crc_of(b->scratch) != (uint32_t)crc)
			rc = -1;
	}
	json_decref(frame);
	return rc;
}

/* ---- measuring -------------------------------------------------------------- */

struct result {
	double bin_bytes, json_bytes;
	double bin_enc_ns, bin_dec_ns, json_enc_ns, json_dec_ns;
};

/* One rep: repeats batches until min_ms of binary and of JSON work is done. */
static int measure(struct batch *b, uint64_t min_ms, struct result *res)
{
	uint64_t enc = 0, dec = 0, rounds = 0, budget = min_ms * 1000000u / 2;
	while (rounds == 0 || enc + dec < budget) {
		uint64_t t0 = time_mono_ns();
		bin_encode(b);
		uint64_t t1 = time_mono_ns();
		if (bin_decode(b) != 0)
			return fprintf(stderr, "encbench: binary frame does not decode\n"), -1;
		enc += t1 - t0;
		dec += time_mono_ns() - t1;
		rounds++;
	}
	res->bin_bytes = (double)b->frame_len / (double)b->n;
	res->bin_enc_ns = (double)enc / (double)(rounds * b->n);
	res->bin_dec_ns = (double)dec / (double)(rounds * b->n);
	enc = dec = rounds = 0;
	while (rounds == 0 || enc + dec < budget) {
		uint64_t t0 = time_mono_ns();
		char *text = json_encode(b);
		uint64_t t1 = time_mono_ns();
		size_t len = text ? strlen(text) : 0;
		int rc = text ? json_decode(b, text, len) : -1;
		dec += time_mono_ns() - t1;
		enc += t1 - t0;
		free(text);
		if (rc != 0)
			return fprintf(stderr, "encbench: JSON frame does not decode\n"), -1;
		res->json_bytes = (double)len / (double)b->n;
		rounds++;
	}
	res->json_enc_ns = (double)enc / (double)(rounds * b->n);
	res->json_dec_ns = (double)dec / (double)(rounds * b->n);
	return 0;
}

/* ---- command line ----------------------------------------------------------- */

static void usage(FILE *to)
{
	fprintf(to,
		"usage: encbench [options]\n"
		"  --value-size B   value bytes (repeat; default 16, 128, 1024, 8192)\n"
		"  --batch N        records per frame (default 64)\n"
		"  --reps R         repetitions per size (default 5)\n"
		"  --min-ms MS      time per rep, split binary/JSON (default 200)\n"
		"Prints one key=value line per size and rep; see bench/encodings/README.md.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "value-size", required_argument, NULL, 'v' },
		{ "batch", required_argument, NULL, 'b' },
		{ "reps", required_argument, NULL, 'r' },
		{ "min-ms", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t sizes[MAX_SIZES], batch = 64, reps = 5, min_ms = 200;
	int nsizes = 0, opt, idx;
	while ((opt = getopt_long(argc, argv, "", opts, &idx)) != -1) {
		int bad = 0;
		switch (opt) {
		case 'h': usage(stdout); return 0;
		case 'v':
			bad = nsizes == MAX_SIZES || bench_parse_u64(optarg, 0, 1u << 20, &sizes[nsizes++]);
			break;
		case 'b': bad = bench_parse_u64(optarg, 1, 100000, &batch); break;
		case 'r': bad = bench_parse_u64(optarg, 1, 1000, &reps); break;
		case 'm': bad = bench_parse_u64(optarg, 1, 600000, &min_ms); break;
		default: bad = 1;
		}
		if (bad) {
			if (opt != '?')
				fprintf(stderr, "encbench: bad value for --%s: %s\n", opts[idx].name, optarg);
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (nsizes == 0) {
		const uint64_t dflt[] = { 16, 128, 1024, 8192 };
		memcpy(sizes, dflt, sizeof(dflt));
		nsizes = 4;
	}
	for (int s = 0; s < nsizes; s++) {
		struct batch b;
		if (batch_init(&b, batch, (uint32_t)sizes[s]) != 0) {
			fprintf(stderr, "encbench: out of memory\n");
			batch_free(&b);
			return 1;
		}
		for (uint64_t rep = 1; rep <= reps; rep++) {
			struct result res;
			if (measure(&b, min_ms, &res) != 0) {
				batch_free(&b);
				return 1;
			}
			printf("value_size=%" PRIu64 " rep=%" PRIu64 " batch=%" PRIu64 " bin_bytes=%.1f "
			       "json_bytes=%.1f bin_enc_ns=%.1f bin_dec_ns=%.1f json_enc_ns=%.1f "
			       "json_dec_ns=%.1f\n", sizes[s], rep, batch, res.bin_bytes, res.json_bytes,
			       res.bin_enc_ns, res.bin_dec_ns, res.json_enc_ns, res.json_dec_ns);
			fflush(stdout);
		}
		batch_free(&b);
	}
	return 0;
}
