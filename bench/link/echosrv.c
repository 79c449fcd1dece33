/*
 * echosrv.c — loopback echo server (contract in echosrv.h).
 *
 * Each connection is in one of two states: reading (its buffer is empty,
 * interest EPOLLIN) or writing back (interest EPOLLOUT until the buffer is
 * sent).  A stop request arrives through an eventfd.
 */
#include "echosrv.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define ECHO_BUF (64 * 1024)

struct echo_conn {
	struct echo_conn *prev, *next;
	int fd;
	size_t len, off;           /* buf[off..len) still to send back */
	char buf[ECHO_BUF];
};

struct echosrv {
	int listen_fd, stop_fd, epfd;
	uint16_t port;
	pthread_t thread;
	struct echo_conn *conns;   /* every open connection, for echosrv_stop */
	char listen_tag, stop_tag;  /* addresses used as epoll tags */
};

static void conn_drop(struct echosrv *s, struct echo_conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c);
}

static void conn_want(struct echosrv *s, struct echo_conn *c, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = c };
	epoll_ctl(s->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Sends what is buffered; false if the connection failed. */
static bool conn_send(struct echo_conn *c)
{
	while (c->off < c->len) {
		ssize_t n = send(c->fd, c->buf + c->off, c->len - c->off, MSG_NOSIGNAL);
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
		c->off += (size_t)n;
	}
	c->off = c->len = 0;
	return true;
}

static void conn_event(struct echosrv *s, struct echo_conn *c, uint32_t events)
{
	if (c->len == 0) {
		ssize_t n = recv(c->fd, c->buf, sizeof(c->buf), 0);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			conn_drop(s, c);
			return;
		}
		if (n < 0)
			return;
		c->len = (size_t)n;
	} else if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
		return;
	}
	if (!conn_send(c)) {
		conn_drop(s, c);
		return;
	}
	conn_want(s, c, c->len ? EPOLLOUT : EPOLLIN);
}

static void accept_all(struct echosrv *s)
{
	for (;;) {
		int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		struct echo_conn *c = malloc(sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->fd = fd;
		c->len = c->off = 0;
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
		if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
			close(fd);
			free(c);
			continue;
		}
		c->prev = NULL;
		c->next = s->conns;
		if (s->conns)
			s->conns->prev = c;
		s->conns = c;
	}
}

static void *echo_main(void *arg)
{
	struct echosrv *s = arg;
	struct epoll_event evs[128];
	for (;;) {
		int n = epoll_wait(s->epfd, evs, 128, -1);
		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;
			if (p == &s->stop_tag)
				return NULL;
			if (p == &s->listen_tag)
				accept_all(s);
			else
				conn_event(s, p, evs[i].events);
		}
	}
}

static int listen_loopback(uint16_t port, uint16_t *bound)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof(sa);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 4096) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
		close(fd);
		return -1;
	}
	*bound = ntohs(sa.sin_port);
	return fd;
}

int echosrv_start(struct echosrv **out, uint16_t port, char *err, size_t errlen)
{
	struct echosrv *s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "echosrv: out of memory");
		return -1;
	}
	s->listen_fd = listen_loopback(port, &s->port);
	s->stop_fd = eventfd(0, EFD_CLOEXEC);
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event lev = { .events = EPOLLIN, .data.ptr = &s->listen_tag };
	struct epoll_event sev = { .events = EPOLLIN, .data.ptr = &s->stop_tag };
	if (s->listen_fd < 0 || s->stop_fd < 0 || s->epfd < 0 ||
	    epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->listen_fd, &lev) != 0 ||
	    epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->stop_fd, &sev) != 0 ||
	    pthread_create(&s->thread, NULL, echo_main, s) != 0) {
		snprintf(err, errlen, "echosrv: start on port %u: %s", (unsigned)port,
			 strerror(errno));
		if (s->listen_fd >= 0)
			close(s->listen_fd);
		if (s->stop_fd >= 0)
			close(s->stop_fd);
		if (s->epfd >= 0)
			close(s->epfd);
		free(s);
		return -1;
	}
	*out = s;
	return 0;
}

uint16_t echosrv_port(const struct echosrv *s)
{
	return s->port;
}

void echosrv_stop(struct echosrv *s)
{
	if (!s)
		return;
	uint64_t one = 1;
	ssize_t w = write(s->stop_fd, &one, sizeof(one));
	(void)w;
	pthread_join(s->thread, NULL);
	while (s->conns)
		conn_drop(s, s->conns);
	close(s->listen_fd);
	close(s->stop_fd);
	close(s->epfd);
	free(s);
}
