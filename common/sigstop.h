/*
 * sigstop.h — how drorch's daemons stop: SIGTERM and SIGINT are blocked in
 * every thread (the mask is inherited) and taken synchronously by main with
 * sigwait(); SIGPIPE is ignored (a peer closing a socket is an error code,
 * not a death).  Call before the first thread starts.
 */
#ifndef DRORCH_SIGSTOP_H
#define DRORCH_SIGSTOP_H

#include <signal.h>

/* Fills *set with SIGTERM and SIGINT and blocks them; ignores SIGPIPE. */
void sigstop_block(sigset_t *set);

#endif
