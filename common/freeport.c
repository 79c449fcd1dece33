/*
 * freeport.c — loopback ports below the kernel's ephemeral range (see
 * freeport.h).
 */
#include "freeport.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define FREEPORT_BASE 12000  /* the lowest port handed out, when room allows */
#define FREEPORT_MAX_N 64

static pthread_mutex_t next_mu = PTHREAD_MUTEX_INITIALIZER;
static int next_port;  /* where the next search starts (0: not yet chosen) */

/* The first port of the kernel's ephemeral range. */
static int ephemeral_low(void)
{
	int low = 32768, high;
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
	if (f) {
		if (fscanf(f, "%d %d", &low, &high) != 2 || low < 2000 || low > 65535)
			low = 32768;
		fclose(f);
	}
	return low;
}

/* Bound to port on 127.0.0.1: its descriptor, or -1 if it is taken. */
static int bind_port(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

int freeport_pick(int *ports, int n)
{
	int fds[FREEPORT_MAX_N], got = 0;
	if (n < 0 || n > FREEPORT_MAX_N) {
		errno = EINVAL;
		return -1;
	}
	int low = ephemeral_low(), base = FREEPORT_BASE, span = low - base;
	if (span < 1000) {
		base = 1024;
		span = low - base;
	}
	pthread_mutex_lock(&next_mu);
	if (next_port < base || next_port >= base + span)
		next_port = base + (int)(((unsigned)getpid() * 7919u) % (unsigned)span);
	for (int tries = 0; got < n && tries < span; tries++) {
		int port = next_port;
		next_port = next_port + 1 >= base + span ? base : next_port + 1;
		int fd = bind_port(port);
		if (fd >= 0) {
			fds[got] = fd;
			ports[got++] = port;
		}
	}
	pthread_mutex_unlock(&next_mu);
	for (int i = 0; i < got; i++)
		close(fds[i]);
	if (got < n) {
		errno = EADDRINUSE;
		return -1;
	}
	return 0;
}

int freeport_one(void)
{
	int port;
	return freeport_pick(&port, 1) ? -1 : port;
}
