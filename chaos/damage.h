/*
 * damage.h — what drchaos does to files at rest, on a stopped process:
 * a site's WAL segments, snapshot, state.json and LOCK (layouts at the top
 * of sites/wal.c, sites/snapshot.c, sites/role.c; docs/storage.md), and
 * drorchd's SQLite store (orchestrator/store.c).  And what an operator does
 * when a process will not start on what is left: move files aside.
 *
 * Every function says what it did in `what` (for the trial's log) and
 * returns 0 done, 1 nothing there to damage, -1 an I/O error (in `what`).
 */
#ifndef DRCHAOS_DAMAGE_H
#define DRCHAOS_DAMAGE_H

#include <stdbool.h>
#include <stddef.h>

#include "schedule.h"

/* The storage fault f (FK_WAL_* .. FK_LOCK_DAMAGE) on the data dir data. */
int damage_site(const char *data, const struct fault *f, char *what, size_t len);
/* The orchstore fault f (FK_DB_*) on the store db (and db-wal, db-shm). */
int damage_store(const char *db, const struct fault *f, char *what, size_t len);
/* true when the data dir holds a snapshot or a WAL segment with a record. */
bool damage_has_records(const char *data);
/* Renames path (if it exists) to aside_dir/tag, creating aside_dir.
 * 0 moved, 1 nothing there, -1 error. */
int damage_move_aside(const char *path, const char *aside_dir, const char *tag, char *what,
		      size_t len);

#endif
