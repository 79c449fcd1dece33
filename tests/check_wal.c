/*
 * check_wal.c — the WAL, the map and snapshots, driven as a library in a
 * private directory: encoding, replay, torn and corrupt tails, group commit,
 * checkpoints.
 */
#include <check.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kv.h"
#include "log.h"
#include "snapshot.h"
#include "testhelp.h"
#include "timeutil.h"
#include "wal.h"
#include "format.h"

static char *dir;

static void setup(void)
{
	dir = th_mkdtemp("check_wal");
	ck_assert_ptr_nonnull(dir);
}

static void teardown(void)
{
	th_rmrf(dir);
	free(dir);
}

static int apply_kv(void *ctx, const struct wal_record *rec)
{
	return kv_apply(ctx, rec);
}

static struct wal *open_wal(struct kv *kv, uint64_t after, uint64_t segbytes)
{
	struct wal *w = NULL;
	char err[256];
	struct wal_opts o = { .dir = dir, .segment_bytes = segbytes, .replay_after_lsn = after,
			      .apply = apply_kv, .apply_ctx = kv };
	ck_assert_msg(wal_open(&w, &o, err, sizeof(err)) == 0, "wal_open: %s", err);
	wal_set_gate(w, true, 1);  /* the tests write as a primary at epoch 1 */
	return w;
}

static uint64_t put(struct wal *w, const char *key, const char *value)
{
	uint64_t lsn;
	char err[256];
	ck_assert_int_eq(wal_append(w, WAL_PUT, 1, key, (uint32_t)strlen(key), value,
				    (uint32_t)strlen(value), &lsn, err, sizeof(err)), 0);
	ck_assert_int_eq(wal_wait(w, lsn, err, sizeof(err)), 0);
	return lsn;
}

static void assert_value(struct kv *kv, const char *key, const char *want)
{
	char *v = NULL;
	uint32_t len = 0;
	uint64_t lsn;
	enum kv_get_result r = kv_get(kv, key, (uint32_t)strlen(key), &v, &len, &lsn);
	if (!want) {
		ck_assert_int_eq(r, KV_NOT_FOUND);
		return;
	}
	ck_assert_int_eq(r, KV_FOUND);
	ck_assert_uint_eq(len, strlen(want));
	ck_assert(memcmp(v, want, len) == 0);
	free(v);
}

static char *newest_segment(void)
{
	char *cmd = NULL, *path = NULL;
	ck_assert_int_ge(asprintf(&cmd, "ls %s/wal/*.wal | tail -n 1", dir), 0);
	FILE *p = popen(cmd, "r");
	char line[1024] = "";
	ck_assert_ptr_nonnull(fgets(line, sizeof(line), p));
	pclose(p);
	free(cmd);
	line[strcspn(line, "\n")] = '\0';
	path = strdup(line);
	return path;
}

START_TEST(test_wal_encode_decode_roundtrip)
{
	struct wal_record in = { .lsn = 42, .epoch = 7, .type = WAL_PUT, .key = "k1",
				 .key_len = 2, .value = "value", .value_len = 5 }, out;
	unsigned char buf[64];
	size_t n = wal_record_size(1, 2, 5);
	wal_encode(&in, buf);
	ck_assert_uint_eq(wal_decode(buf, n, &out), n);
	ck_assert_uint_eq(out.lsn, 42);
	ck_assert_uint_eq(out.epoch, 7);
	ck_assert(memcmp(out.value, "value", 5) == 0);
	ck_assert_uint_eq(wal_decode(buf, n - 1, &out), 0);  /* torn */
	buf[n - 1] ^= 1;
	ck_assert_uint_eq(wal_decode(buf, n, &out), 0);      /* bit flip */
}
END_TEST

START_TEST(test_wal_replays_after_reopen)
{
	struct kv *kv = kv_new();
	struct wal *w = open_wal(kv, 0, 1 << 20);
	put(w, "a", "1");
	put(w, "b", "2");
	put(w, "a", "3");
	uint64_t lsn;
	char err[256];
	ck_assert_int_eq(wal_append(w, WAL_DELETE, 1, "b", 1, NULL, 0, &lsn, err, sizeof(err)), 0);
	ck_assert_int_eq(wal_wait(w, lsn, err, sizeof(err)), 0);
	wal_close(w);
	kv_free(kv);

	kv = kv_new();
	w = open_wal(kv, 0, 1 << 20);
	assert_value(kv, "a", "3");
	assert_value(kv, "b", NULL);
	struct wal_stats st;
	wal_get_stats(w, &st);
	ck_assert_uint_eq(st.last_lsn, 4);
	ck_assert_uint_eq(put(w, "c", "4"), 5);
	wal_close(w);
	kv_free(kv);
}
END_TEST

START_TEST(test_wal_truncates_torn_tail)
{
	struct kv *kv = kv_new();
	struct wal *w = open_wal(kv, 0, 1 << 20);
	put(w, "a", "1");
	put(w, "b", "2");
	wal_close(w);
	kv_free(kv);
	char *seg = newest_segment();
	struct stat sb;
	ck_assert_int_eq(stat(seg, &sb), 0);
	off_t good = sb.st_size;
	int fd = open(seg, O_WRONLY | O_APPEND);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "\x13garbage-that-is-not-a-record", 29), 29);
	close(fd);

	kv = kv_new();
	w = open_wal(kv, 0, 1 << 20);
	assert_value(kv, "a", "1");
	assert_value(kv, "b", "2");
	struct wal_stats st;
	wal_get_stats(w, &st);
	ck_assert_uint_eq(st.truncated_bytes, 29);
	ck_assert_int_eq(stat(seg, &sb), 0);
	ck_assert_int_eq(sb.st_size, good);
	ck_assert_uint_eq(put(w, "c", "3"), 3);  /* appends after the cut */
	wal_close(w);
	kv_free(kv);
	free(seg);
}
END_TEST

START_TEST(test_wal_stops_at_corrupt_record_and_quarantines_rest)
{
	struct kv *kv = kv_new();
	struct wal *w = open_wal(kv, 0, 1 << 20);
	put(w, "a", "AAAAAAAA");
	put(w, "b", "BBBBBBBB");
	put(w, "c", "CCCCCCCC");
	wal_close(w);
	kv_free(kv);
	char *seg = newest_segment();
	size_t len;
	char *data = th_read_file(seg, &len);
	char *hit = memmem(data, len, "BBBBBBBB", 8);
	ck_assert_ptr_nonnull(hit);
	int fd = open(seg, O_WRONLY);
	ck_assert_int_eq(pwrite(fd, "X", 1, hit - data + 3), 1);
	close(fd);
	free(data);

	kv = kv_new();
	w = open_wal(kv, 0, 1 << 20);
	assert_value(kv, "a", "AAAAAAAA");
	assert_value(kv, "b", NULL);   /* never served corrupted */
	assert_value(kv, "c", NULL);   /* nothing past the first bad record */
	char *q = NULL;
	ck_assert_int_ge(asprintf(&q, "%s/wal/quarantine", dir), 0);
	struct stat sb;
	ck_assert_int_eq(stat(q, &sb), 0);  /* dropped bytes kept, not destroyed */
	free(q);
	wal_close(w);
	kv_free(kv);
	free(seg);
}
END_TEST

struct writer_arg {
	struct wal *w;
	int id;
	int n;
};

static void *writer(void *p)
{
	struct writer_arg *a = p;
	for (int i = 0; i < a->n; i++) {
		char key[32];
		snprintf(key, sizeof(key), "w%d-%d", a->id, i);
		put(a->w, key, key);
	}
	return NULL;
}

START_TEST(test_wal_group_commit_shares_fsyncs)
{
	struct kv *kv = kv_new();
	struct wal *w = open_wal(kv, 0, 1 << 20);
	pthread_t t[16];
	struct writer_arg args[16];
	for (int i = 0; i < 16; i++) {
		args[i] = (struct writer_arg){ w, i, 50 };
		pthread_create(&t[i], NULL, writer, &args[i]);
	}
	for (int i = 0; i < 16; i++)
		pthread_join(t[i], NULL);
	struct wal_stats st;
	wal_get_stats(w, &st);
	ck_assert_uint_eq(st.records, 800);
	ck_assert_uint_eq(st.flushed_lsn, 800);
	ck_assert_msg(st.fsyncs < st.records, "fsyncs %" PRIu64 " records %" PRIu64,
		      st.fsyncs, st.records);
	wal_close(w);
	kv_free(kv);
}
END_TEST

/* A writer alone never waits for others (GATHERING in wal.c): one fsync
 * per write, no gathering. */
START_TEST(test_lone_writer_never_waits_to_gather)
{
	struct kv *kv = kv_new();
	struct wal *w = open_wal(kv, 0, 1 << 20);
	struct writer_arg a = { w, 0, 100 };
	writer(&a);
	struct wal_stats st;
	wal_get_stats(w, &st);
	ck_assert_uint_eq(st.fsyncs, 100);
	ck_assert_uint_eq(st.gather_waits, 0);
	wal_close(w);
	kv_free(kv);
}
END_TEST

/* Eight writers released by one flush come back within microseconds; the
 * next flush waits for them rather than start a batch of the first few, so
 * they do not split into cohorts taking turns on the disk (about 4 per
 * fsync, 0.25 fsyncs per write, without it).  Each wait is bounded. */
START_TEST(test_writers_released_together_share_the_next_flush)
{
	struct kv *kv = kv_new();
	struct wal *w = open_wal(kv, 0, 1 << 20);
	wal_set_fsync_delay(w, 5);  /* a slow disk: a gathering window of 1 ms */
	pthread_t t[8];
	struct writer_arg args[8];
	for (int i = 0; i < 8; i++) {
		args[i] = (struct writer_arg){ w, i, 40 };
		pthread_create(&t[i], NULL, writer, &args[i]);
	}
	for (int i = 0; i < 8; i++)
		pthread_join(t[i], NULL);
	struct wal_stats st;
	wal_get_stats(w, &st);
	ck_assert_uint_eq(st.flushed_lsn, 320);
	fprintf(stderr, "check_wal: 8 writers: %" PRIu64 " fsyncs for %" PRIu64 " writes, %"
		PRIu64 " gathers\n", st.fsyncs, st.records, st.gather_waits);
	ck_assert_msg(st.fsyncs * 5 <= st.records, "%" PRIu64 " fsyncs for %" PRIu64 " writes: "
		      "writers released together did not share the next flush", st.fsyncs,
		      st.records);
	ck_assert_uint_gt(st.gather_waits, 0);
	ck_assert_msg(st.gather_wait_ns <= st.gather_waits * 101000000u, "waited %" PRIu64
		      " ns in %" PRIu64 " gathers", st.gather_wait_ns, st.gather_waits);
	wal_close(w);
	kv_free(kv);
}
END_TEST

struct failing_writer {
	struct wal *w;
	int id;
	uint64_t acked_max;        /* the highest LSN wal_wait acknowledged */
	bool refused;              /* a wait (or an append) ended in an error */
};

static void *write_until_refused(void *p)
{
	struct failing_writer *a = p;
	char key[32], err[256];
	for (int i = 0; !a->refused; i++) {
		uint64_t lsn;
		snprintf(key, sizeof(key), "f%d-%d", a->id, i);
		if (wal_append(a->w, WAL_PUT, 1, key, (uint32_t)strlen(key), key,
			       (uint32_t)strlen(key), &lsn, err, sizeof(err)) != 0 ||
		    wal_wait(a->w, lsn, err, sizeof(err)) != 0)
			a->refused = true;
		else if (lsn > a->acked_max)
			a->acked_max = lsn;
	}
	return NULL;
}

/* Writers asleep on their batches while the WAL fails (the disk full mid-
 * load): every one wakes with an error, and none was told a record the
 * failed flush held was durable. */
START_TEST(test_wal_failure_wakes_every_waiting_writer)
{
	struct kv *kv = kv_new();
	struct wal *w = open_wal(kv, 0, 1 << 20);
	wal_set_fsync_delay(w, 20);  /* batches in flight, writers asleep on them */
	pthread_t t[16];
	struct failing_writer a[16];
	for (int i = 0; i < 16; i++) {
		a[i] = (struct failing_writer){ .w = w, .id = i };
		pthread_create(&t[i], NULL, write_until_refused, &a[i]);
	}
	time_sleep_ms(150);
	wal_set_disk_full(w, true);
	for (int i = 0; i < 16; i++)
		pthread_join(t[i], NULL);
	struct wal_stats st;
	wal_get_stats(w, &st);
	ck_assert(st.failed);
	ck_assert_uint_gt(st.flushed_lsn, 0);
	for (int i = 0; i < 16; i++) {
		ck_assert(a[i].refused);
		ck_assert_msg(a[i].acked_max <= st.flushed_lsn, "writer %d was acknowledged lsn %"
			      PRIu64 " past the last flushed, %" PRIu64, i, a[i].acked_max,
			      st.flushed_lsn);
	}
	wal_close(w);
	kv_free(kv);
}
END_TEST

START_TEST(test_wal_rotates_segments_and_replays_across_them)
{
	struct kv *kv = kv_new();
	struct wal *w = open_wal(kv, 0, 4096);
	char value[200];
	memset(value, 'v', sizeof(value) - 1);
	value[sizeof(value) - 1] = '\0';
	for (int i = 0; i < 100; i++) {
		char key[16];
		snprintf(key, sizeof(key), "k%d", i);
		put(w, key, value);
	}
	struct wal_stats st;
	wal_get_stats(w, &st);
	ck_assert_uint_gt(st.segments, 3);
	wal_close(w);
	kv_free(kv);
	kv = kv_new();
	w = open_wal(kv, 0, 4096);
	struct kv_info ki;
	kv_get_info(kv, &ki);
	ck_assert_uint_eq(ki.keys, 100);
	ck_assert_uint_eq(ki.applied_lsn, 100);
	wal_close(w);
	kv_free(kv);
}
END_TEST

START_TEST(test_checkpoint_then_more_writes_replays_both)
{
	struct kv *kv = kv_new();
	struct wal *w = open_wal(kv, 0, 4096);
	char value[300];
	memset(value, 's', sizeof(value) - 1);
	value[sizeof(value) - 1] = '\0';
	for (int i = 0; i < 60; i++) {
		char key[16];
		snprintf(key, sizeof(key), "k%d", i);
		put(w, key, value);
	}
	uint64_t cp = 0;
	char err[256];
	ck_assert_int_eq(snap_write(kv, dir, 1, &cp, err, sizeof(err)), 0);
	ck_assert_uint_eq(cp, 60);
	ck_assert_int_eq(wal_remove_through(w, cp, err, sizeof(err)), 0);
	struct wal_stats st;
	wal_get_stats(w, &st);
	ck_assert_uint_gt(st.oldest_lsn, 1);
	put(w, "after", "checkpoint");
	put(w, "k0", "overwritten");
	wal_close(w);
	kv_free(kv);

	kv = kv_new();
	uint64_t lsn, epoch;
	ck_assert_int_eq(snap_load_latest(kv, dir, &lsn, &epoch, err, sizeof(err)), 0);
	ck_assert_uint_eq(lsn, 60);
	w = open_wal(kv, lsn, 4096);
	assert_value(kv, "after", "checkpoint");
	assert_value(kv, "k0", "overwritten");
	assert_value(kv, "k59", value);
	struct kv_info ki;
	kv_get_info(kv, &ki);
	ck_assert_uint_eq(ki.keys, 61);
	ck_assert_uint_eq(ki.applied_lsn, 62);
	wal_close(w);
	kv_free(kv);
}
END_TEST

START_TEST(test_corrupt_snapshot_is_refused)
{
	struct kv *kv = kv_new();
	struct wal *w = open_wal(kv, 0, 1 << 20);
	put(w, "key", "PRECIOUS-VALUE");
	uint64_t cp;
	char err[256];
	ck_assert_int_eq(snap_write(kv, dir, 1, &cp, err, sizeof(err)), 0);
	wal_close(w);
	kv_free(kv);
	char *path = NULL;
	ck_assert_int_ge(asprintf(&path, "%s/snap/%020" PRIu64 ".snap", dir, cp), 0);
	size_t len;
	char *data = th_read_file(path, &len);
	char *hit = memmem(data, len, "PRECIOUS", 8);
	ck_assert_ptr_nonnull(hit);
	int fd = open(path, O_WRONLY);
	ck_assert_int_eq(pwrite(fd, "p", 1, hit - data), 1);
	close(fd);
	free(data);
	kv = kv_new();
	uint64_t lsn, epoch;
	ck_assert_int_eq(snap_load_latest(kv, dir, &lsn, &epoch, err, sizeof(err)), SNAP_CORRUPT);
	ck_assert_ptr_nonnull(strstr(err, "corrupt"));
	kv_free(kv);
	free(path);
}
END_TEST

START_TEST(test_write_gate_refuses_client_appends_not_shipped_ones)
{
	struct kv *kv = kv_new();
	struct wal *w = open_wal(kv, 0, 1 << 20);
	uint64_t lsn;
	char err[256];
	put(w, "open", "at-1");
	wal_set_gate(w, false, 1);  /* demoted: nothing admitted before may land now */
	ck_assert_int_eq(wal_append(w, WAL_PUT, 1, "late", 4, "x", 1, &lsn, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "closed"));
	wal_set_gate(w, true, 2);   /* promoted again at epoch 2: epoch-1 writes stay out */
	ck_assert_int_eq(wal_append(w, WAL_PUT, 1, "late", 4, "x", 1, &lsn, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "epoch 2"));
	ck_assert_int_eq(wal_append(w, WAL_PUT, 2, "new", 3, "y", 1, &lsn, err, sizeof(err)), 0);
	ck_assert_uint_eq(lsn, 2);
	wal_set_gate(w, false, 2);  /* a replica: shipped records are not gated */
	struct wal_record r = { .lsn = 3, .epoch = 2, .type = WAL_PUT, .key = "shipped",
				.key_len = 7, .value = "z", .value_len = 1 };
	ck_assert_int_eq(wal_append_record(w, &r, err, sizeof(err)), 0);
	ck_assert_int_eq(wal_wait(w, 3, err, sizeof(err)), 0);
	assert_value(kv, "shipped", "z");
	assert_value(kv, "late", NULL);
	wal_close(w);
	kv_free(kv);
}
END_TEST

/* A shipment appends records before its one wal_wait: a record that must
 * wait for room (here: of another format than the filling batch) has the
 * flusher thread flush the records before it, as no writer waits for them
 * yet to lead that flush (wal.c: LEADERS). */
START_TEST(test_appender_waiting_for_room_has_the_flusher_flush)
{
	struct kv *kv = kv_new();
	struct wal *w = open_wal(kv, 0, 1 << 20);
	char err[256];
	wal_set_gate(w, false, 1);
	struct wal_record r1 = { .lsn = 1, .epoch = 1, .type = WAL_PUT, .key = "one",
				 .key_len = 3, .value = "1", .value_len = 1, .format = 1 };
	struct wal_record r2 = { .lsn = 2, .epoch = 1, .type = WAL_PUT, .key = "two",
				 .key_len = 3, .value = "2", .value_len = 1, .format = 2,
				 .commit_ms = 1700000000000 };
	ck_assert_int_eq(wal_append_record(w, &r1, err, sizeof(err)), 0);
	ck_assert_int_eq(wal_append_record(w, &r2, err, sizeof(err)), 0);
	ck_assert_int_eq(wal_wait(w, 2, err, sizeof(err)), 0);
	struct wal_stats st;
	wal_get_stats(w, &st);
	ck_assert_uint_eq(st.flushed_lsn, 2);
	ck_assert_uint_eq(st.fsyncs, 2);  /* one batch per format */
	assert_value(kv, "one", "1");
	assert_value(kv, "two", "2");
	wal_close(w);
	kv_free(kv);
}
END_TEST

/* After a restart the tail cache is empty: a record deep in a long segment
 * (past the first chunk a read scans) is still read, not taken for gone
 * (a rewind's export failed with "the WAL no longer holds lsn N": labs). */
START_TEST(test_read_deep_in_a_long_segment_after_reopen)
{
	struct kv *kv = kv_new();
	struct wal *w = open_wal(kv, 0, 64u << 20);
	char value[600], key[32], err[256];
	memset(value, 'v', sizeof(value) - 1);
	value[sizeof(value) - 1] = '\0';
	uint64_t lsn = 0;
	for (int i = 0; i < 3000; i++) {  /* about 1.9 MB, past one chunk */
		snprintf(key, sizeof(key), "k%d", i);
		ck_assert_int_eq(wal_append(w, WAL_PUT, 1, key, (uint32_t)strlen(key), value,
					    (uint32_t)strlen(value), &lsn, err, sizeof(err)), 0);
	}
	ck_assert_int_eq(wal_wait(w, lsn, err, sizeof(err)), 0);
	wal_close(w);
	kv_free(kv);
	kv = kv_new();
	w = open_wal(kv, 0, 64u << 20);
	unsigned char *buf = NULL;
	size_t len = 0;
	uint64_t last = 0;
	ck_assert_int_eq(wal_read(w, lsn, 4096, 2, &buf, &len, &last, err, sizeof(err)),
			 WAL_READ_OK);
	ck_assert_uint_gt(len, 0);
	ck_assert_uint_eq(last, lsn);
	struct wal_record r;
	ck_assert_uint_eq(wal_decode(buf, len, &r), len);
	ck_assert_uint_eq(r.lsn, lsn);
	free(buf);
	ck_assert_int_eq(wal_read(w, 5, 4096, 2, &buf, &len, &last, err, sizeof(err)),
			 WAL_READ_OK);  /* and one near the start again */
	ck_assert_uint_gt(len, 0);
	ck_assert_uint_ge(last, 5);
	free(buf);
	wal_close(w);
	kv_free(kv);
}
END_TEST

START_TEST(test_record_id_carries_the_crc_across_reopen_not_after_reset)
{
	struct kv *kv = kv_new();
	struct wal *w = open_wal(kv, 0, 1 << 20);
	put(w, "a", "1");
	put(w, "b", "2");
	uint64_t epoch;
	uint32_t crc, crc2;
	bool known;
	ck_assert(wal_record_id_at(w, 2, &epoch, &crc, &known));
	ck_assert(known);
	ck_assert_uint_eq(epoch, 1);
	struct wal_stats st;
	wal_get_stats(w, &st);
	ck_assert(st.last_crc_known);
	ck_assert_uint_eq(st.last_crc, crc);
	wal_close(w);
	kv_free(kv);
	kv = kv_new();
	w = open_wal(kv, 0, 1 << 20);  /* replay knows the last record's CRC */
	ck_assert(wal_record_id_at(w, 2, &epoch, &crc2, &known));
	ck_assert(known);
	ck_assert_uint_eq(crc2, crc);
	char err[256];
	ck_assert_int_eq(wal_reset(w, 10, 3, 0, err, sizeof(err)), 0);
	ck_assert(wal_record_id_at(w, 10, &epoch, &crc2, &known));  /* a snapshot's LSN */
	ck_assert_uint_eq(epoch, 3);
	ck_assert(!known);
	wal_get_stats(w, &st);
	ck_assert(!st.last_crc_known);
	wal_close(w);
	kv_free(kv);
}
END_TEST

START_TEST(test_installed_snapshot_is_the_only_one_left)
{
	struct kv *kv = kv_new();
	struct wal *w = open_wal(kv, 0, 1 << 20);
	put(w, "k", "first");
	uint64_t low;
	char err[256];
	unsigned char *img = NULL;
	size_t len;
	ck_assert_int_eq(snap_serialise(kv, 1, &img, &len, &low, err, sizeof(err)), 0);
	for (int i = 0; i < 5; i++)
		put(w, "k", "diverged-later");
	uint64_t high;
	ck_assert_int_eq(snap_write(kv, dir, 1, &high, err, sizeof(err)), 0);  /* a newer local one */
	ck_assert_uint_gt(high, low);
	wal_close(w);
	kv_free(kv);
	/* A replica installs its primary's snapshot, older than its own. */
	kv = kv_new();
	uint64_t lsn, epoch;
	ck_assert_int_eq(snap_install(kv, dir, img, len, &lsn, &epoch, err, sizeof(err)), 0);
	ck_assert_uint_eq(lsn, low);
	free(img);
	kv_free(kv);
	kv = kv_new();  /* and restarts: it must come back with what it installed */
	ck_assert_int_eq(snap_load_latest(kv, dir, &lsn, &epoch, err, sizeof(err)), 0);
	ck_assert_uint_eq(lsn, low);
	assert_value(kv, "k", "first");
	kv_free(kv);
}
END_TEST

/* ---- format 2 (format.h) ---- */

START_TEST(test_format2_record_carries_its_commit_time)
{
	struct wal_record in = { .lsn = 42, .epoch = 7, .type = WAL_PUT, .key = "k1", .key_len = 2,
				 .value = "value", .value_len = 5, .format = 2,
				 .commit_ms = 1764900000123u }, out;
	unsigned char buf[64];
	size_t n = wal_record_size(2, 2, 5);
	ck_assert_uint_eq(n, wal_record_size(1, 2, 5) + 8);
	wal_encode(&in, buf);
	ck_assert_uint_eq(wal_encoded_format(buf), 2);
	ck_assert_uint_eq(wal_decode(buf, n, &out), n);
	ck_assert_uint_eq(out.format, 2);
	ck_assert_uint_eq(out.commit_ms, 1764900000123u);
	ck_assert(memcmp(out.key, "k1", 2) == 0 && memcmp(out.value, "value", 5) == 0);
	buf[33] ^= 1;  /* the commit time is under the CRC */
	ck_assert_uint_eq(wal_decode(buf, n, &out), 0);
	buf[33] ^= 1;
	buf[13] = 3;   /* a format this build does not know */
	ck_assert_uint_eq(wal_encoded_format(buf), 0);
	ck_assert_uint_eq(wal_decode(buf, n, &out), 0);
	in.format = 1;  /* format 1 has no commit time */
	wal_encode(&in, buf);
	ck_assert_uint_eq(wal_decode(buf, wal_record_size(1, 2, 5), &out), wal_record_size(1, 2, 5));
	ck_assert_uint_eq(out.format, 1);
	ck_assert_uint_eq(out.commit_ms, 0);
}
END_TEST

START_TEST(test_new_format_starts_a_segment_and_replays_with_commit_times)
{
	struct kv *kv = kv_new();
	struct wal *w = open_wal(kv, 0, 1 << 20);
	put(w, "a", "1");
	put(w, "b", "2");
	struct wal_stats st;
	wal_get_stats(w, &st);
	ck_assert_uint_eq(st.write_format, 1);
	ck_assert_uint_eq(st.last_commit_ms, 0);  /* format 1: not recorded */
	wal_set_format(w, 2);
	uint64_t before = time_wall_ms();
	put(w, "c", "3");
	put(w, "d", "4");
	wal_get_stats(w, &st);
	ck_assert_uint_ge(st.last_commit_ms, before);
	uint64_t commit_d = st.last_commit_ms;
	char *magics = th_wal_magics(dir);
	ck_assert_str_eq(magics, "DRWAL001 DRWAL002 ");
	free(magics);
	/* A reader of format 1 only gets the format-1 records, then a refusal. */
	unsigned char *buf = NULL;
	size_t len;
	uint64_t last;
	char err[256];
	ck_assert_int_eq(wal_read(w, 1, 1 << 20, 1, &buf, &len, &last, err, sizeof(err)),
			 WAL_READ_OK);
	ck_assert_uint_eq(last, 2);
	free(buf);
	ck_assert_int_eq(wal_read(w, 3, 1 << 20, 1, &buf, &len, &last, err, sizeof(err)),
			 WAL_READ_FORMAT);
	ck_assert_msg(strstr(err, "lsn 3 is format 2"), "%s", err);
	free(buf);
	ck_assert_int_eq(wal_read(w, 1, 1 << 20, 2, &buf, &len, &last, err, sizeof(err)),
			 WAL_READ_OK);
	ck_assert_uint_eq(last, 4);
	free(buf);
	wal_close(w);
	kv_free(kv);
	kv = kv_new();
	w = open_wal(kv, 0, 1 << 20);  /* replay reads both formats */
	wal_get_stats(w, &st);
	ck_assert_uint_eq(st.last_lsn, 4);
	ck_assert_uint_eq(st.last_commit_ms, commit_d);
	struct kv_info ki;
	kv_get_info(kv, &ki);
	ck_assert_uint_eq(ki.applied_commit_ms, commit_d);
	assert_value(kv, "a", "1");
	assert_value(kv, "d", "4");
	wal_close(w);
	kv_free(kv);
}
END_TEST

START_TEST(test_segment_of_a_newer_format_is_refused_not_quarantined)
{
	struct kv *kv = kv_new();
	struct wal *w = open_wal(kv, 0, 1 << 20);
	put(w, "a", "1");
	wal_close(w);
	kv_free(kv);
	char *seg = newest_segment();
	int fd = open(seg, O_WRONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, "DRWAL009", 8, 0), 8);  /* as a future drsite writes */
	close(fd);
	struct stat before, after;
	ck_assert_int_eq(stat(seg, &before), 0);
	kv = kv_new();
	struct wal *w2 = NULL;
	char err[512], *q = NULL;
	struct wal_opts o = { .dir = dir, .segment_bytes = 1 << 20, .apply = apply_kv,
			      .apply_ctx = kv };
	ck_assert_int_eq(wal_open(&w2, &o, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "is format 9") && strstr(err, "nothing was changed"), "%s", err);
	ck_assert_int_eq(stat(seg, &after), 0);
	ck_assert_int_eq(after.st_size, before.st_size);
	ck_assert_int_ge(asprintf(&q, "%s/wal/quarantine", dir), 0);
	ck_assert_int_ne(access(q, F_OK), 0);
	free(q);
	free(seg);
	kv_free(kv);
}
END_TEST

START_TEST(test_format2_snapshot_keeps_the_commit_time)
{
	struct kv *kv = kv_new();
	struct wal *w = open_wal(kv, 0, 1 << 20);
	wal_set_format(w, 2);
	put(w, "k", "v");
	struct kv_info ki;
	kv_get_info(kv, &ki);
	ck_assert_uint_gt(ki.applied_commit_ms, 0);
	uint64_t cp, lsn, epoch, commit = ki.applied_commit_ms;
	char err[256];
	ck_assert_int_eq(snap_write(kv, dir, 2, &cp, err, sizeof(err)), 0);
	wal_close(w);
	kv_free(kv);
	kv = kv_new();
	ck_assert_int_eq(snap_load_latest(kv, dir, &lsn, &epoch, err, sizeof(err)), 0);
	kv_get_info(kv, &ki);
	ck_assert_uint_eq(ki.applied_commit_ms, commit);
	assert_value(kv, "k", "v");
	kv_free(kv);
	/* A newer format's snapshot is refused as such, not as corruption. */
	char *path = NULL;
	ck_assert_int_ge(asprintf(&path, "%s/snap/%020" PRIu64 ".snap", dir, cp), 0);
	int fd = open(path, O_WRONLY);
	ck_assert_int_eq(pwrite(fd, "DRSNAP07", 8, 0), 8);
	close(fd);
	kv = kv_new();
	ck_assert_int_eq(snap_load_latest(kv, dir, &lsn, &epoch, err, sizeof(err)), SNAP_FORMAT);
	ck_assert_msg(strstr(err, "format 7"), "%s", err);
	ck_assert_int_eq(access(path, F_OK), 0);
	free(path);
	kv_free(kv);
}
END_TEST

static Suite *wal_suite(void)
{
	Suite *s = suite_create("wal");
	TCase *tc = tcase_create("wal");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_wal_encode_decode_roundtrip);
	tcase_add_test(tc, test_wal_replays_after_reopen);
	tcase_add_test(tc, test_wal_truncates_torn_tail);
	tcase_add_test(tc, test_wal_stops_at_corrupt_record_and_quarantines_rest);
	tcase_add_test(tc, test_wal_group_commit_shares_fsyncs);
	tcase_add_test(tc, test_lone_writer_never_waits_to_gather);
	tcase_add_test(tc, test_writers_released_together_share_the_next_flush);
	tcase_add_test(tc, test_wal_failure_wakes_every_waiting_writer);
	tcase_add_test(tc, test_wal_rotates_segments_and_replays_across_them);
	tcase_add_test(tc, test_checkpoint_then_more_writes_replays_both);
	tcase_add_test(tc, test_corrupt_snapshot_is_refused);
	tcase_add_test(tc, test_write_gate_refuses_client_appends_not_shipped_ones);
	tcase_add_test(tc, test_record_id_carries_the_crc_across_reopen_not_after_reset);
	tcase_add_test(tc, test_installed_snapshot_is_the_only_one_left);
	tcase_add_test(tc, test_format2_record_carries_its_commit_time);
	tcase_add_test(tc, test_new_format_starts_a_segment_and_replays_with_commit_times);
	tcase_add_test(tc, test_segment_of_a_newer_format_is_refused_not_quarantined);
	tcase_add_test(tc, test_format2_snapshot_keeps_the_commit_time);
	tcase_add_test(tc, test_appender_waiting_for_room_has_the_flusher_flush);
	tcase_add_test(tc, test_read_deep_in_a_long_segment_after_reopen);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	log_init("check_wal", NULL, LOG_ERROR);
	SRunner *sr = srunner_create(wal_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
