/*
 * freeport.h — loopback TCP ports for the listeners a lab, a test or a
 * bench starts.
 *
 * A port found by binding port 0 comes from the kernel's ephemeral range,
 * the same range an outgoing connection takes its local port from: between
 * our choosing it and the server binding it, one of the many connections
 * drlink, drorchd or libcurl open can take it, and the server then fails
 * with "Address already in use".  So ports are picked below that range
 * (/proc/sys/net/ipv4/ip_local_port_range), from a point that depends on
 * the process so that concurrent pickers rarely meet, each bound once to
 * check that it is free.
 */
#ifndef DRORCH_FREEPORT_H
#define DRORCH_FREEPORT_H

/* n different loopback ports, each free a moment ago (all held bound until
 * all are picked).  0, or -1 with errno set. */
int freeport_pick(int *ports, int n);

/* One port, or -1. */
int freeport_one(void);

#endif
