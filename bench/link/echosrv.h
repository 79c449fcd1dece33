/*
 * echosrv.h — a loopback TCP echo server on its own thread, the upstream
 * that the drlink tests (tests/check_drlink.c) and benchmark
 * (bench/link/linkload.c) send their bytes through a link to.
 *
 * One epoll thread, non-blocking sockets, a 64 KiB buffer per connection: it
 * stops reading from a connection while it cannot write that buffer back, so
 * it too applies backpressure.  Listens on 127.0.0.1 only.
 */
#ifndef DRORCH_ECHOSRV_H
#define DRORCH_ECHOSRV_H

#include <stddef.h>
#include <stdint.h>

struct echosrv;

/* Starts the server on 127.0.0.1:port (0 picks one).  0, or -1 with err[]. */
int echosrv_start(struct echosrv **out, uint16_t port, char *err, size_t errlen);
uint16_t echosrv_port(const struct echosrv *s);
/* Stops the thread, closes every connection, frees s.  NULL is fine. */
void echosrv_stop(struct echosrv *s);

#endif
