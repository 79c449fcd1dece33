/*
 * sigstop.c — see sigstop.h.
 */
#include "sigstop.h"

#include <pthread.h>

void sigstop_block(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	pthread_sigmask(SIG_BLOCK, set, NULL);
	signal(SIGPIPE, SIG_IGN);
}
