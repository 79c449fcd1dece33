/*
 * thcdp.c — the DevTools protocol over a pipe (see thcdp.h).
 */
#include "thcdp.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "testhelp.h"
#include "timeutil.h"

#define CDP_TIMEOUT_MS 20000

static void child(pid_t parent, int in, int out, const char *log, char *const argv[])
{
	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
	int e = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	int null = open("/dev/null", O_RDWR);
	/* fds 3 and 4 are the protocol's: move ours out of the way first. */
	int i3 = fcntl(in, F_DUPFD, 10), o4 = fcntl(out, F_DUPFD, 10);
	if (e < 0 || null < 0 || i3 < 0 || o4 < 0 || dup2(null, STDIN_FILENO) < 0 ||
	    dup2(e, STDOUT_FILENO) < 0 || dup2(e, STDERR_FILENO) < 0 || dup2(i3, 3) < 0 ||
	    dup2(o4, 4) < 0)
		_exit(127);
	for (int fd = 5; fd < 1024; fd++)
		close(fd);
	execv(argv[0], argv);
	_exit(127);
}

/* Sends one message (a NUL ends it). */
static int send_msg(struct th_cdp *c, json_t *msg, char *err, size_t errlen)
{
	char *text = json_dumps(msg, JSON_COMPACT);
	json_decref(msg);
	size_t n = text ? strlen(text) + 1 : 0, off = 0;
	while (text && off < n) {
		ssize_t w = write(c->to, text + off, n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	free(text);
	if (!n || off < n) {
		snprintf(err, errlen, "write to chromium: %s", n ? strerror(errno) : "out of memory");
		return -1;
	}
	return 0;
}

/* The next whole message (new ref), or NULL after the deadline. */
static json_t *next_msg(struct th_cdp *c, uint64_t deadline)
{
	for (;;) {
		char *nul = c->len ? memchr(c->buf, '\0', c->len) : NULL;
		if (nul) {
			size_t n = (size_t)(nul - c->buf) + 1;
			json_t *j = json_loadb(c->buf, n - 1, 0, NULL);
			memmove(c->buf, c->buf + n, c->len - n);
			c->len -= n;
			if (j)
				return j;
			continue;
		}
		uint64_t now = time_mono_ms();
		struct pollfd p = { .fd = c->from, .events = POLLIN };
		if (now >= deadline || poll(&p, 1, (int)(deadline - now)) <= 0)
			return NULL;
		if (c->cap - c->len < 65536) {
			char *b = realloc(c->buf, c->cap + 262144);
			if (!b)
				return NULL;
			c->buf = b;
			c->cap += 262144;
		}
		ssize_t r = read(c->from, c->buf + c->len, c->cap - c->len);
		if (r <= 0)
			return NULL;  /* the browser went away */
		c->len += (size_t)r;
	}
}

/* Sends method(params) (in the page's session when in_page) and returns
 * the answer's result (new ref), skipping events; NULL with err set. */
static json_t *call(struct th_cdp *c, bool in_page, const char *method, json_t *params,
		    long timeout_ms, char *err, size_t errlen)
{
	int id = ++c->next_id;
	json_t *msg = json_pack("{s:i, s:s, s:o}", "id", id, "method", method, "params", params);
	if (in_page)
		json_object_set_new(msg, "sessionId", json_string(c->session));
	if (send_msg(c, msg, err, errlen))
		return NULL;
	uint64_t deadline = time_mono_ms() + (uint64_t)timeout_ms;
	for (json_t *m; (m = next_msg(c, deadline)); json_decref(m)) {
		if (json_integer_value(json_object_get(m, "id")) != id)
			continue;
		json_t *e = json_object_get(m, "error");
		if (e) {
			snprintf(err, errlen, "%s: %s", method,
				 json_string_value(json_object_get(e, "message")) ?: "error");
			json_decref(m);
			return NULL;
		}
		json_t *r = json_incref(json_object_get(m, "result"));
		json_decref(m);
		return r;
	}
	snprintf(err, errlen, "%s: no answer within %ld ms", method, timeout_ms);
	return NULL;
}

static int spawn(struct th_cdp *c, const char *dir, char *err, size_t errlen)
{
	char udd[700], log[700];
	snprintf(udd, sizeof(udd), "--user-data-dir=%s/chromium-profile-cdp", dir);
	snprintf(log, sizeof(log), "%s/chromium-cdp.log", dir);
	const char *argv[] = { th_chromium_path(), "--headless", "--no-sandbox", "--disable-gpu",
		"--disable-quic", "--no-first-run", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
		"--remote-debugging-pipe", udd, "about:blank", NULL };
	int in[2], out[2];
	if (pipe(in) || pipe(out)) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		return -1;
	}
	pid_t parent = getpid(), pid = fork();
	if (pid == 0)
		child(parent, in[0], out[1], log, (char *const *)argv);
	close(in[0]);
	close(out[1]);
	if (pid < 0) {
		close(in[1]);
		close(out[0]);
		snprintf(err, errlen, "fork: %s", strerror(errno));
		return -1;
	}
	setpgid(pid, pid);
	c->pid = pid;
	c->to = in[1];
	c->from = out[0];
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

int th_cdp_open(struct th_cdp *c, const char *dir, const char *url, char *err, size_t errlen)
{
	*c = (struct th_cdp){ .pid = -1, .to = -1, .from = -1 };
	if (spawn(c, dir, err, errlen))
		return -1;
	json_t *t = call(c, false, "Target.createTarget", json_pack("{s:s}", "url", url),
			 CDP_TIMEOUT_MS, err, errlen);
	const char *target = json_string_value(json_object_get(t, "targetId"));
	json_t *a = target ? call(c, false, "Target.attachToTarget",
				  json_pack("{s:s, s:b}", "targetId", target, "flatten", 1),
				  CDP_TIMEOUT_MS, err, errlen) : NULL;
	const char *session = json_string_value(json_object_get(a, "sessionId"));
	if (session)
		snprintf(c->session, sizeof(c->session), "%s", session);
	json_decref(t);
	json_decref(a);
	if (!c->session[0]) {
		th_cdp_close(c);
		return -1;
	}
	return 0;
}

char *th_cdp_eval(struct th_cdp *c, const char *expr, long timeout_ms, char *err, size_t errlen)
{
	json_t *r = call(c, true, "Runtime.evaluate",
			 json_pack("{s:s, s:b, s:b}", "expression", expr, "returnByValue", 1,
				   "awaitPromise", 1), timeout_ms, err, errlen);
	if (!r)
		return NULL;
	json_t *ex = json_object_get(r, "exceptionDetails");
	json_t *v = json_object_get(json_object_get(r, "result"), "value");
	char *out = NULL;
	if (ex)
		snprintf(err, errlen, "%s: %s", expr, json_string_value(json_object_get(
			 json_object_get(ex, "exception"), "description")) ?: "exception");
	else
		out = json_is_string(v) ? strdup(json_string_value(v)) :
		      json_dumps(v ? v : json_null(), JSON_ENCODE_ANY | JSON_COMPACT);
	json_decref(r);
	return out;
}

void th_cdp_close(struct th_cdp *c)
{
	if (c->pid > 0) {
		kill(-c->pid, SIGKILL);
		waitpid(c->pid, NULL, 0);
	}
	if (c->to >= 0)
		close(c->to);
	if (c->from >= 0)
		close(c->from);
	free(c->buf);
	*c = (struct th_cdp){ .pid = -1, .to = -1, .from = -1 };
}
