/*
 * log.h — structured event logging: one JSON object per line on stderr.
 *
 * A log line is an event with fields, never prose:
 *   {"ts":"2026-11-25T02:40:01.123Z","level":"warn","proc":"drsite",
 *    "site":"us-east","event":"wal.truncated","segment":"...","dropped_bytes":41}
 * Fields are given as a jansson json_pack() format and arguments.  The process
 * name and any fixed fields (site name, ...) are set once at start-up by main.
 */
#ifndef DRORCH_LOG_H
#define DRORCH_LOG_H

#include <jansson.h>  /* json_int_t for json_pack "I" fields */

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };

/* "debug" | "info" | "warn" | "error" -> *out; 0, or -1 for anything else. */
int log_level_parse(const char *s, enum log_level *out);

/* Called once from main before any thread starts. */
void log_init(const char *proc, const char *site, enum log_level min_level);
/* fmt is a json_pack() object format such as "{s:s, s:I}", or NULL. */
void log_event(enum log_level level, const char *event, const char *fmt, ...);

#endif
