/*
 * thcdp.h — tests drive a page in headless Chromium through the DevTools
 * protocol over --remote-debugging-pipe (JSON messages, each ended by a NUL
 * byte, on the browser's fds 3 and 4): no websocket, no node.  Enough to
 * open a page and evaluate JavaScript in it, e.g. type into a field and
 * click a button as an operator would.
 *
 * The browser runs in a process group of its own (as th_chromium's) that
 * dies with the test (PDEATHSIG) and is killed by its id at th_cdp_close.
 */
#ifndef DRORCH_THCDP_H
#define DRORCH_THCDP_H

#include <stddef.h>
#include <sys/types.h>

struct th_cdp {
	pid_t pid;                 /* the browser's process group */
	int to, from;              /* our ends of its fds 3 and 4 */
	int next_id;
	char session[128];         /* the page's session */
	char *buf;                 /* bytes read, not yet a whole message */
	size_t len, cap;
};

/* Starts Chromium (profile and log in dir, DIR/chromium-cdp.log) and opens
 * url in a page.  0, or -1 with err set (the browser is then stopped). */
int th_cdp_open(struct th_cdp *c, const char *dir, const char *url, char *err, size_t errlen);
/* Evaluates expr in the page; its value as a string (JSON of it when it is
 * not a string; malloc'd), or NULL with err set (an exception, a timeout). */
char *th_cdp_eval(struct th_cdp *c, const char *expr, long timeout_ms, char *err, size_t errlen);
/* Kills the browser's group and frees c's buffers. */
void th_cdp_close(struct th_cdp *c);

#endif
