/*
 * log.c — one JSON object per line on stderr.
 *
 * The process name, site name and minimum level are fixed by log_init() in
 * main before threads start; after that this module only reads them.  A line
 * is built whole and written with one write(2) so concurrent threads never
 * interleave inside a line.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "timeutil.h"

static struct {
	char proc[32];
	char site[64];
	enum log_level min_level;
} log_cfg = { "drorch", "", LOG_INFO };

static const char *const level_names[] = { "debug", "info", "warn", "error" };

int log_level_parse(const char *s, enum log_level *out)
{
	for (int i = 0; i < 4; i++)
		if (s && strcmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	return -1;
}

void log_init(const char *proc, const char *site, enum log_level min_level)
{
	snprintf(log_cfg.proc, sizeof(log_cfg.proc), "%s", proc ? proc : "drorch");
	snprintf(log_cfg.site, sizeof(log_cfg.site), "%s", site ? site : "");
	log_cfg.min_level = min_level;
}

static json_t *log_header(enum log_level level, const char *event)
{
	char ts[40];
	time_format_rfc3339(time_wall_ms(), ts, sizeof(ts));
	json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "ts", ts,
			      "level", level_names[level], "proc", log_cfg.proc,
			      "event", event);
	if (o && log_cfg.site[0])
		json_object_set_new(o, "site", json_string(log_cfg.site));
	return o;
}

void log_event(enum log_level level, const char *event, const char *fmt, ...)
{
	if (level < log_cfg.min_level)
		return;
	json_t *line = log_header(level, event);
	if (!line)
		return;
	if (fmt) {
		va_list ap;
		va_start(ap, fmt);
		json_error_t jerr;
		json_t *fields = json_vpack_ex(&jerr, 0, fmt, ap);
		va_end(ap);
		if (fields)
			json_object_update(line, fields);
		else
			json_object_set_new(line, "log_error", json_string(jerr.text));
		json_decref(fields);
	}
	char *text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(line);
	if (!text)
		return;
	size_t n = strlen(text);
	text[n] = '\n';  /* json_dumps's NUL becomes the newline: one write */
	ssize_t w = write(STDERR_FILENO, text, n + 1);
	(void)w;
	free(text);
}
