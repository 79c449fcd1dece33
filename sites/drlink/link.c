/*
 * link.c — the WAN emulator's proxy engine (contract in link.h).
 *
 * THE LINK MODEL
 *
 * Each accepted connection is paired with one connection to the link's
 * upstream.  Each of its two directions (a "flow") reads chunks from its
 * source socket (one recv(2), at most 64 KiB) and delivers them to its
 * destination socket.  A chunk gets a due time when it is read:
 *
 *     due = max(read time, handshake floor) + latency ± jitter + loss delay
 *     due = max(due, due of the flow's previous chunk)
 *
 * The second line is why jitter never reorders bytes: a chunk that drew a
 * short delay waits behind the one before it, as segments do in the receive
 * queue of a real TCP connection.  Jitter is uniform in [-jitter, +jitter]
 * and the delay never goes below zero.
 *
 * Handshake floor: a real TCP connection needs one round trip before the
 * client's first byte leaves, so the upstream flow of a connection counts
 * any byte read earlier than accept + latency(upstream) + latency(downstream)
 * as read at that moment.  The first request on a new connection then costs
 * two round trips, as on a WAN.
 *
 * Loss: TCP loses no bytes, it delivers them late.  A chunk is "lost" with
 * probability loss_pct/100 and then arrives one retransmission timeout later,
 * RTO = max(200 ms, RTT + 4 * jitter) (Linux's floor and RFC 6298's shape,
 * RTT being the link's latency in both directions); the retransmission may be
 * lost again with the same probability, each time doubling the RTO, at most
 * LOSS_MAX_RETRIES times.  Chunks behind a lost one wait for it
 * (head-of-line blocking), so a little loss hurts throughput as on a WAN.
 *
 * Bandwidth: one token bucket per link and direction, shared by all its
 * connections (a WAN pipe, not a per-connection quota).  It refills at
 * bandwidth_kbps * 125 bytes/s and holds at most BURST_NS worth of bytes.  A
 * flow may send when the bucket is not negative, at most one slice (BURST_NS
 * worth) per send, and the bucket goes into debt by what was sent; a flow that
 * finds it negative sleeps until the debt is repaid.
 *
 * Partitions: `blackhole` on a direction stops its delivery: bytes already
 * read stay queued, reading stops when the queue is full, and the source's
 * TCP stack then stops too.  A connection accepted while any direction is
 * blackholed stays pending: its upstream is not connected until the link
 * heals, and if the client gives up first it is dropped without ever reaching
 * upstream.  `reset` closes every connection of the link with an RST and
 * resets new ones at accept.  `none` heals: held bytes go out, pending
 * connections connect.  Other changes never close a connection; chunks
 * already queued keep the due time they were given.
 *
 * Memory: per connection and direction at most queue_bytes are queued (reads
 * are sized to the room left), so a bandwidth cap or a partition applies
 * backpressure to the source instead of buffering without limit.
 *
 * THREADING: everything below is owned by the thread in link_engine_run(),
 * except the command queue (mutex + condition variable), which other threads
 * fill through cmd_submit() and wake the loop with an eventfd.  Commands run
 * after the batch of epoll events, so no event of the batch can refer to a
 * link a command freed; closed connections are freed at the end of each loop
 * iteration for the same reason.
 */
#include "link.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "http.h"
#include "log.h"
#include "timeutil.h"

#define READ_CHUNK (64u * 1024u)
#define ACCEPT_BATCH 64
#define MAX_EVENTS 256
#define NS_PER_MS 1000000ull
#define BURST_NS (10 * NS_PER_MS)
#define MIN_SLICE 1460.0
#define RTO_MIN_NS (200 * NS_PER_MS)
#define LOSS_MAX_RETRIES 6
#define NOT_IN_HEAP ((size_t)-1)
#define CLIENT 0
#define SERVER 1

#define container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

enum ep_kind { EP_WAKE, EP_TIMER, EP_LISTEN, EP_SOCK };

/* What epoll_event.data.ptr points to: the first member of its owner. */
struct ep {
	enum ep_kind kind;
};

/* A run of bytes read at once, or (len 0) the source's end of stream. */
struct chunk {
	struct chunk *next;
	uint64_t due_ns;
	size_t len;
	size_t off;                /* bytes of data[] already delivered */
	char data[];
};

/* One direction of one connection: flow[d] reads side[d], writes side[1-d]. */
struct flow {
	struct conn *conn;
	enum link_dir dir;
	struct chunk *head, *tail;
	size_t queued;             /* undelivered bytes in the chunks */
	uint64_t last_due_ns;
	uint64_t not_before_ns;    /* handshake floor */
	uint64_t wake_ns;          /* timer deadline while in the heap */
	size_t heap_idx;
	bool read_eof;             /* the source ended; an EOF chunk is queued */
	bool blocked;              /* the destination said EAGAIN */
	bool done;                 /* EOF delivered: shutdown(SHUT_WR) sent */
};

struct side {
	struct ep ep;
	int fd;
	int idx;                   /* CLIENT or SERVER */
	struct conn *conn;
	uint32_t events;           /* registered interest */
	bool registered;
	bool hup;                  /* epoll said EPOLLHUP */
};

enum conn_state {
	CONN_PENDING,              /* accepted during a blackhole, no upstream yet */
	CONN_CONNECTING,
	CONN_OPEN,
	CONN_CLOSED,               /* on the engine's dead list */
};

struct conn {
	struct link *link;
	struct conn *prev, *next;  /* the link's connections */
	struct conn *next_dead;
	enum conn_state state;
	struct side side[2];
	struct flow flow[2];
};

struct bucket {
	double tokens;             /* bytes; negative is debt */
	uint64_t last_ns;
};

struct link {
	struct ep ep;              /* the listener */
	struct link *next;         /* creation order */
	char name[LINK_NAME_MAX + 1];
	char listen_text[80];
	char upstream_text[80];
	struct sockaddr_in upstream_addr;
	int listen_fd;
	bool accept_paused;        /* out of descriptors: see listener_pause() */
	struct link_conditions cond[2];
	struct bucket bucket[2];
	uint64_t bytes[2];
	uint64_t sent[2], chunks[2], lost[2];
	struct histo delay[2];     /* each chunk's due time minus its read time */
	uint64_t conns_total;
	size_t nconns;
	struct conn *conns;
};

struct timer_heap {
	struct flow **v;
	size_t n, cap;
};

enum cmd_kind { CMD_ADD, CMD_REMOVE, CMD_SET, CMD_GET, CMD_LIST, CMD_STATS };

/* A request from another thread; lives on the caller's stack until done. */
struct cmd {
	enum cmd_kind kind;
	struct cmd *next;
	const char *name;
	const char *listen_host;
	struct sockaddr_in listen_addr;
	const char *upstream_text;
	struct sockaddr_in upstream_addr;
	const struct link_cond_update *update;
	json_t *result;
	struct link_stats *stats;  /* CMD_STATS */
	size_t nstats;
	int rc;
	char err[256];
	bool done;
};

struct link_engine {
	int epfd, wakefd, timerfd;
	struct ep wake_ep, timer_ep;
	struct link *links;
	struct timer_heap timers;
	uint64_t timer_armed_ns;   /* 0: disarmed */
	struct conn *dead;
	size_t nconns;
	bool listeners_paused;
	size_t queue_bytes;
	uint64_t rng;
	char *buf;                 /* READ_CHUNK bytes */

	pthread_mutex_t mu;        /* guards the fields below */
	pthread_cond_t cv;
	struct cmd *cmd_head, *cmd_tail;
	bool stopping, stopped;
};

static void conn_close(struct link_engine *e, struct conn *c, bool rst);
static void flow_flush(struct link_engine *e, struct flow *f);

/* ==== small helpers ======================================================= */

static uint64_t rng_next(struct link_engine *e)
{
	uint64_t x = e->rng;   /* xorshift64* */
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	e->rng = x;
	return x * 0x2545F4914F6CDD1Dull;
}

static double rng_unit(struct link_engine *e)
{
	return (double)(rng_next(e) >> 11) * 0x1.0p-53;
}

static uint64_t ms_to_ns(uint32_t ms)
{
	return (uint64_t)ms * NS_PER_MS;
}

static double bytes_per_sec(uint64_t kbps)
{
	return (double)kbps * 125.0;
}

const char *link_partition_name(enum link_partition p)
{
	switch (p) {
	case LINK_PARTITION_BLACKHOLE: return "blackhole";
	case LINK_PARTITION_RESET: return "reset";
	default: return "none";
	}
}

static bool link_has_partition(const struct link *l, enum link_partition p)
{
	return l->cond[LINK_UPSTREAM].partition == p ||
	       l->cond[LINK_DOWNSTREAM].partition == p;
}

static void set_nodelay(int fd)
{
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Closes fd so that the peer sees an RST rather than a FIN. */
static void close_rst(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

static struct link *link_find(struct link_engine *e, const char *name)
{
	for (struct link *l = e->links; l; l = l->next)
		if (strcmp(l->name, name) == 0)
			return l;
	return NULL;
}

/* ==== timers: a binary min-heap of flows keyed by wake_ns ================= */

static void heap_place(struct timer_heap *h, size_t i, struct flow *f)
{
	h->v[i] = f;
	f->heap_idx = i;
}

static void heap_up(struct timer_heap *h, size_t i)
{
	struct flow *f = h->v[i];
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (h->v[parent]->wake_ns <= f->wake_ns)
			break;
		heap_place(h, i, h->v[parent]);
		i = parent;
	}
	heap_place(h, i, f);
}

static void heap_down(struct timer_heap *h, size_t i)
{
	struct flow *f = h->v[i];
	for (;;) {
		size_t child = 2 * i + 1;
		if (child >= h->n)
			break;
		if (child + 1 < h->n && h->v[child + 1]->wake_ns < h->v[child]->wake_ns)
			child++;
		if (h->v[child]->wake_ns >= f->wake_ns)
			break;
		heap_place(h, i, h->v[child]);
		i = child;
	}
	heap_place(h, i, f);
}

/* Room for every flow of every connection, reserved when a connection is
 * created so that arming a timer never fails. */
static int heap_reserve(struct timer_heap *h, size_t need)
{
	if (need <= h->cap)
		return 0;
	size_t cap = h->cap ? h->cap : 64;
	while (cap < need)
		cap *= 2;
	struct flow **v = realloc(h->v, cap * sizeof(*v));
	if (!v)
		return -1;
	h->v = v;
	h->cap = cap;
	return 0;
}

static void timer_cancel(struct link_engine *e, struct flow *f)
{
	struct timer_heap *h = &e->timers;
	if (f->heap_idx == NOT_IN_HEAP)
		return;
	size_t i = f->heap_idx;
	f->heap_idx = NOT_IN_HEAP;
	struct flow *last = h->v[--h->n];
	if (i == h->n)
		return;
	heap_place(h, i, last);
	heap_up(h, i);
	heap_down(h, last->heap_idx);
}

static void timer_set(struct link_engine *e, struct flow *f, uint64_t wake_ns)
{
	struct timer_heap *h = &e->timers;
	if (f->heap_idx != NOT_IN_HEAP) {
		if (f->wake_ns == wake_ns)
			return;
		f->wake_ns = wake_ns;
		heap_up(h, f->heap_idx);
		heap_down(h, f->heap_idx);
		return;
	}
	assert(h->n < h->cap);   /* reserved by conn_new() */
	f->wake_ns = wake_ns;
	h->v[h->n] = f;
	f->heap_idx = h->n++;
	heap_up(h, f->heap_idx);
}

/* Points the timerfd at the earliest deadline, if it changed. */
static void timer_arm(struct link_engine *e)
{
	uint64_t next = e->timers.n ? e->timers.v[0]->wake_ns : 0;
	if (next == e->timer_armed_ns)
		return;
	struct itimerspec its = { 0 };
	if (next) {
		its.it_value.tv_sec = (time_t)(next / 1000000000ull);
		its.it_value.tv_nsec = (long)(next % 1000000000ull);
	}
	if (timerfd_settime(e->timerfd, TFD_TIMER_ABSTIME, &its, NULL) == 0)
		e->timer_armed_ns = next;
}

/* ==== epoll interest ====================================================== */

/* What side idx wants: to read while its outgoing flow has room, to write
 * while its incoming flow is blocked, and EPOLLOUT alone while connecting. */
static uint32_t side_interest(const struct link_engine *e, const struct conn *c, int idx)
{
	if (idx == SERVER && c->state == CONN_CONNECTING)
		return EPOLLOUT;
	const struct flow *out = &c->flow[idx];
	const struct flow *in = &c->flow[1 - idx];
	uint32_t ev = 0;
	if (!out->read_eof && out->queued < e->queue_bytes)
		ev |= EPOLLIN;
	if (in->blocked)
		ev |= EPOLLOUT;
	return ev;
}

/* A side that hung up and has nothing to read is taken out of epoll, since
 * EPOLLHUP is reported whatever the interest and would spin the loop. */
static int side_apply(struct link_engine *e, struct side *s, uint32_t want)
{
	if (s->fd < 0)
		return 0;
	if (want == 0 && s->hup) {
		if (s->registered && epoll_ctl(e->epfd, EPOLL_CTL_DEL, s->fd, NULL) != 0)
			return -1;
		s->registered = false;
		return 0;
	}
	if (s->registered && want == s->events)
		return 0;
	struct epoll_event ev = { .events = want, .data.ptr = &s->ep };
	int op = s->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	if (epoll_ctl(e->epfd, op, s->fd, &ev) != 0)
		return -1;
	s->registered = true;
	s->events = want;
	return 0;
}

static void conn_update_interest(struct link_engine *e, struct conn *c)
{
	if (c->state == CONN_CLOSED)
		return;
	for (int i = 0; i < 2; i++) {
		if (side_apply(e, &c->side[i], side_interest(e, c, i)) != 0) {
			log_event(LOG_WARN, "link.epoll_failed", "{s:s, s:s}",
				  "link", c->link->name, "error", strerror(errno));
			conn_close(e, c, true);
			return;
		}
	}
}

/* ==== the data path ======================================================= */

static uint64_t loss_delay(struct link_engine *e, const struct link *l,
			   const struct link_conditions *c)
{
	if (c->loss_pct <= 0.0)
		return 0;
	uint64_t rtt = ms_to_ns(l->cond[LINK_UPSTREAM].latency_ms) +
		       ms_to_ns(l->cond[LINK_DOWNSTREAM].latency_ms);
	uint64_t rto = rtt + 4 * ms_to_ns(c->jitter_ms);
	if (rto < RTO_MIN_NS)
		rto = RTO_MIN_NS;
	uint64_t delay = 0;
	double p = c->loss_pct / 100.0;
	for (int i = 0; i < LOSS_MAX_RETRIES && rng_unit(e) < p; i++) {
		delay += rto;
		rto *= 2;
	}
	return delay;
}

/* The due time of a chunk read now (see THE LINK MODEL). */
static uint64_t flow_due(struct link_engine *e, struct flow *f, uint64_t now)
{
	struct link *l = f->conn->link;
	const struct link_conditions *c = &l->cond[f->dir];
	uint64_t base = now > f->not_before_ns ? now : f->not_before_ns;
	int64_t delay = (int64_t)ms_to_ns(c->latency_ms);
	if (c->jitter_ms) {
		int64_t j = (int64_t)ms_to_ns(c->jitter_ms);
		delay += (int64_t)((rng_unit(e) * 2.0 - 1.0) * (double)j);
		if (delay < 0)
			delay = 0;
	}
	uint64_t lost = loss_delay(e, l, c);
	l->lost[f->dir] += lost > 0;
	uint64_t due = base + (uint64_t)delay + lost;
	if (due < f->last_due_ns)
		due = f->last_due_ns;
	f->last_due_ns = due;
	return due;
}

static int flow_enqueue(struct flow *f, const char *data, size_t len, uint64_t due)
{
	struct chunk *ch = malloc(sizeof(*ch) + len);
	if (!ch)
		return -1;
	ch->next = NULL;
	ch->due_ns = due;
	ch->len = len;
	ch->off = 0;
	if (len)
		memcpy(ch->data, data, len);
	if (f->tail)
		f->tail->next = ch;
	else
		f->head = ch;
	f->tail = ch;
	f->queued += len;
	return 0;
}

static void flow_pop(struct flow *f)
{
	struct chunk *ch = f->head;
	f->head = ch->next;
	if (!f->head)
		f->tail = NULL;
	free(ch);
}

static void flow_free_chunks(struct flow *f)
{
	while (f->head)
		flow_pop(f);
	f->queued = 0;
}

/* May the bucket pay for a send now?  If not, *wait_ns says how long. */
static bool bucket_ready(struct bucket *b, uint64_t kbps, uint64_t now, uint64_t *wait_ns)
{
	double rate = bytes_per_sec(kbps);
	double cap = rate * (double)BURST_NS / 1e9;
	if (cap < MIN_SLICE)
		cap = MIN_SLICE;
	if (now > b->last_ns)
		b->tokens += (double)(now - b->last_ns) * rate / 1e9;
	b->last_ns = now;
	if (b->tokens > cap)
		b->tokens = cap;
	if (b->tokens >= 0.0)
		return true;
	uint64_t wait = (uint64_t)(-b->tokens / rate * 1e9);
	*wait_ns = wait < 1000 ? 1000 : wait;
	return false;
}

static size_t bucket_slice(uint64_t kbps)
{
	double slice = bytes_per_sec(kbps) * (double)BURST_NS / 1e9;
	return slice < MIN_SLICE ? (size_t)MIN_SLICE : (size_t)slice;
}

static void flow_deliver_eof(struct link_engine *e, struct flow *f)
{
	struct conn *c = f->conn;
	flow_pop(f);
	shutdown(c->side[1 - f->dir].fd, SHUT_WR);
	f->done = true;
	if (c->flow[1 - f->dir].done)
		conn_close(e, c, false);
}

/*
 * Sends what is due of the flow's queue, as far as the partition, the bucket
 * and the destination's socket buffer allow, and sets the flow's timer for
 * whatever holds it back in time.  May close the connection.
 */
static void flow_flush(struct link_engine *e, struct flow *f)
{
	struct conn *c = f->conn;
	if (c->state != CONN_OPEN || f->blocked)
		return;
	struct link *l = c->link;
	const struct link_conditions *cond = &l->cond[f->dir];
	int dst = c->side[1 - f->dir].fd;
	uint64_t now = time_mono_ns();
	while (f->head && cond->partition == LINK_PARTITION_NONE) {
		struct chunk *ch = f->head;
		if (ch->due_ns > now) {
			timer_set(e, f, ch->due_ns);
			return;
		}
		if (ch->len == 0) {
			timer_cancel(e, f);
			flow_deliver_eof(e, f);
			return;
		}
		size_t want = ch->len - ch->off;
		if (cond->bandwidth_kbps) {
			uint64_t wait = 0;
			if (!bucket_ready(&l->bucket[f->dir], cond->bandwidth_kbps, now, &wait)) {
				timer_set(e, f, now + wait);
				return;
			}
			size_t slice = bucket_slice(cond->bandwidth_kbps);
			if (want > slice)
				want = slice;
		}
		ssize_t n = send(dst, ch->data + ch->off, want, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
				f->blocked = true;
				break;
			}
			log_event(LOG_DEBUG, "link.send_failed", "{s:s, s:s}",
				  "link", l->name, "error", strerror(errno));
			conn_close(e, c, true);
			return;
		}
		if (cond->bandwidth_kbps)
			l->bucket[f->dir].tokens -= (double)n;
		l->sent[f->dir] += (uint64_t)n;
		ch->off += (size_t)n;
		f->queued -= (size_t)n;
		if (ch->off == ch->len)
			flow_pop(f);
		if ((size_t)n < want) {
			f->blocked = true;
			break;
		}
	}
	timer_cancel(e, f);
}

/* Zero-condition fast path: nothing queued, due now, no cap, no partition:
 * write straight from the read buffer.  Returns the bytes sent or -1. */
static ssize_t flow_send_direct(struct flow *f, const char *data, size_t len)
{
	int dst = f->conn->side[1 - f->dir].fd;
	ssize_t n = send(dst, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n >= 0)
		return n;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return 0;
	return -1;
}

static bool flow_can_bypass(const struct flow *f, uint64_t due, uint64_t now)
{
	const struct link_conditions *cond = &f->conn->link->cond[f->dir];
	return f->conn->state == CONN_OPEN && !f->head && !f->blocked && due <= now &&
	       cond->bandwidth_kbps == 0 && cond->partition == LINK_PARTITION_NONE;
}

static void flow_on_eof(struct link_engine *e, struct flow *f)
{
	struct conn *c = f->conn;
	f->read_eof = true;
	if (c->state == CONN_PENDING) {
		conn_close(e, c, false);   /* the client gave up before the heal */
		return;
	}
	if (flow_enqueue(f, NULL, 0, flow_due(e, f, time_mono_ns())) != 0) {
		conn_close(e, c, true);
		return;
	}
	flow_flush(e, f);
}

/* One recv(2) from the flow's source, sized to the room left in its queue. */
static void flow_read(struct link_engine *e, struct flow *f)
{
	struct conn *c = f->conn;
	if (f->read_eof || f->queued >= e->queue_bytes)
		return;
	size_t room = e->queue_bytes - f->queued;
	ssize_t n = recv(c->side[f->dir].fd, e->buf, room < READ_CHUNK ? room : READ_CHUNK, 0);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		log_event(LOG_DEBUG, "link.recv_failed", "{s:s, s:s}",
			  "link", c->link->name, "error", strerror(errno));
		conn_close(e, c, true);
		return;
	}
	if (n == 0) {
		flow_on_eof(e, f);
		return;
	}
	struct link *l = c->link;
	l->bytes[f->dir] += (uint64_t)n;
	uint64_t now = time_mono_ns();
	uint64_t due = flow_due(e, f, now);
	l->chunks[f->dir]++;
	histo_observe_us(&l->delay[f->dir], (due - now) / 1000);
	ssize_t sent = 0;
	if (flow_can_bypass(f, due, now)) {
		sent = flow_send_direct(f, e->buf, (size_t)n);
		if (sent < 0) {
			conn_close(e, c, true);
			return;
		}
		l->sent[f->dir] += (uint64_t)sent;
		if (sent < n)
			f->blocked = true;
	}
	if (sent < n && flow_enqueue(f, e->buf + sent, (size_t)(n - sent), due) != 0) {
		log_event(LOG_WARN, "link.out_of_memory", "{s:s}", "link", c->link->name);
		conn_close(e, c, true);
		return;
	}
	flow_flush(e, f);
}

/* ==== connections ========================================================= */

static void conn_flush_all(struct link_engine *e, struct conn *c)
{
	flow_flush(e, &c->flow[LINK_UPSTREAM]);
	if (c->state != CONN_CLOSED)
		flow_flush(e, &c->flow[LINK_DOWNSTREAM]);
	conn_update_interest(e, c);
}

static void listeners_resume(struct link_engine *e);

/* Closes both sockets (rst: with an RST) and moves c to the dead list. */
static void conn_close(struct link_engine *e, struct conn *c, bool rst)
{
	if (c->state == CONN_CLOSED)
		return;
	for (int i = 0; i < 2; i++) {
		timer_cancel(e, &c->flow[i]);
		flow_free_chunks(&c->flow[i]);
		struct side *s = &c->side[i];
		if (s->fd < 0)
			continue;
		if (rst)
			close_rst(s->fd);
		else
			close(s->fd);
		s->fd = -1;
	}
	struct link *l = c->link;
	if (c->prev)
		c->prev->next = c->next;
	else
		l->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	l->nconns--;
	e->nconns--;
	c->state = CONN_CLOSED;
	c->next_dead = e->dead;
	e->dead = c;
	if (e->listeners_paused)
		listeners_resume(e);
}

/* Starts the non-blocking connect to upstream; the handshake floor starts
 * now (see THE LINK MODEL). */
static void conn_connect(struct link_engine *e, struct conn *c)
{
	struct link *l = c->link;
	uint64_t rtt = ms_to_ns(l->cond[LINK_UPSTREAM].latency_ms) +
		       ms_to_ns(l->cond[LINK_DOWNSTREAM].latency_ms);
	c->flow[LINK_UPSTREAM].not_before_ns = time_mono_ns() + rtt;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_event(LOG_WARN, "link.socket_failed", "{s:s, s:s}",
			  "link", l->name, "error", strerror(errno));
		conn_close(e, c, true);
		return;
	}
	set_nodelay(fd);
	c->side[SERVER].fd = fd;
	c->state = CONN_CONNECTING;
	if (connect(fd, (struct sockaddr *)&l->upstream_addr, sizeof(l->upstream_addr)) == 0) {
		c->state = CONN_OPEN;
	} else if (errno != EINPROGRESS) {
		log_event(LOG_INFO, "link.connect_failed", "{s:s, s:s, s:s}", "link", l->name,
			  "upstream", l->upstream_text, "error", strerror(errno));
		conn_close(e, c, true);
		return;
	}
	conn_flush_all(e, c);
}

static void conn_connected(struct link_engine *e, struct conn *c)
{
	int soerr = 0;
	socklen_t len = sizeof(soerr);
	if (getsockopt(c->side[SERVER].fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
		soerr = errno;
	if (soerr) {
		log_event(LOG_INFO, "link.connect_failed", "{s:s, s:s, s:s}",
			  "link", c->link->name, "upstream", c->link->upstream_text,
			  "error", strerror(soerr));
		conn_close(e, c, true);
		return;
	}
	c->state = CONN_OPEN;
	conn_flush_all(e, c);
}

static void flow_init(struct flow *f, struct conn *c, enum link_dir dir)
{
	f->conn = c;
	f->dir = dir;
	f->heap_idx = NOT_IN_HEAP;
}

static struct conn *conn_new(struct link_engine *e, struct link *l, int client_fd)
{
	if (heap_reserve(&e->timers, 2 * (e->nconns + 1)) != 0)
		return NULL;
	struct conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->link = l;
	for (int i = 0; i < 2; i++) {
		c->side[i] = (struct side){ .ep = { EP_SOCK }, .fd = -1, .idx = i, .conn = c };
		flow_init(&c->flow[i], c, (enum link_dir)i);
	}
	c->side[CLIENT].fd = client_fd;
	c->next = l->conns;
	if (l->conns)
		l->conns->prev = c;
	l->conns = c;
	l->nconns++;
	l->conns_total++;
	e->nconns++;
	c->state = CONN_PENDING;
	return c;
}

/* ==== listeners =========================================================== */

/* Out of descriptors: stop accepting (the listener would report readable
 * forever) until a connection closes or a command runs. */
static void listener_pause(struct link_engine *e, struct link *l)
{
	struct epoll_event ev = { .events = 0, .data.ptr = &l->ep };
	if (epoll_ctl(e->epfd, EPOLL_CTL_MOD, l->listen_fd, &ev) == 0) {
		l->accept_paused = true;
		e->listeners_paused = true;
	}
	log_event(LOG_WARN, "link.accept_paused", "{s:s, s:s}",
		  "link", l->name, "error", strerror(errno));
}

static void listeners_resume(struct link_engine *e)
{
	for (struct link *l = e->links; l; l = l->next) {
		if (!l->accept_paused)
			continue;
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &l->ep };
		if (epoll_ctl(e->epfd, EPOLL_CTL_MOD, l->listen_fd, &ev) == 0)
			l->accept_paused = false;
	}
	e->listeners_paused = false;
}

static void link_accept_one(struct link_engine *e, struct link *l, int fd)
{
	if (link_has_partition(l, LINK_PARTITION_RESET)) {
		close_rst(fd);
		return;
	}
	set_nodelay(fd);
	struct conn *c = conn_new(e, l, fd);
	if (!c) {
		log_event(LOG_WARN, "link.out_of_memory", "{s:s}", "link", l->name);
		close_rst(fd);
		return;
	}
	if (link_has_partition(l, LINK_PARTITION_BLACKHOLE))
		conn_update_interest(e, c);   /* pending: read the client only */
	else
		conn_connect(e, c);
}

static void link_accept(struct link_engine *e, struct link *l)
{
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		int fd = accept4(l->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			link_accept_one(e, l, fd);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
			listener_pause(e, l);
		return;
	}
}

/* ==== the loop ============================================================ */

static void side_event(struct link_engine *e, struct side *s, uint32_t events)
{
	struct conn *c = s->conn;
	if (c->state == CONN_CLOSED)
		return;
	if (s->idx == SERVER && c->state == CONN_CONNECTING) {
		conn_connected(e, c);
		return;
	}
	if (events & EPOLLERR) {
		conn_close(e, c, true);
		return;
	}
	if (events & EPOLLHUP)
		s->hup = true;
	if (events & EPOLLOUT) {
		struct flow *in = &c->flow[1 - s->idx];
		in->blocked = false;
		flow_flush(e, in);
	}
	if (c->state != CONN_CLOSED && (events & (EPOLLIN | EPOLLHUP)))
		flow_read(e, &c->flow[s->idx]);
	conn_update_interest(e, c);
}

static void drain_fd(int fd)
{
	uint64_t v;
	ssize_t n = read(fd, &v, sizeof(v));
	(void)n;
}

static void dispatch(struct link_engine *e, const struct epoll_event *ev, bool *woken)
{
	struct ep *p = ev->data.ptr;
	switch (p->kind) {
	case EP_WAKE:
		drain_fd(e->wakefd);
		*woken = true;
		break;
	case EP_TIMER:
		drain_fd(e->timerfd);
		e->timer_armed_ns = 0;
		break;
	case EP_LISTEN:
		link_accept(e, container_of(p, struct link, ep));
		break;
	case EP_SOCK:
		side_event(e, container_of(p, struct side, ep), ev->events);
		break;
	}
}

static void timers_run(struct link_engine *e)
{
	uint64_t now = time_mono_ns();
	while (e->timers.n && e->timers.v[0]->wake_ns <= now) {
		struct flow *f = e->timers.v[0];
		timer_cancel(e, f);
		flow_flush(e, f);
		conn_update_interest(e, f->conn);
	}
}

static void reap(struct link_engine *e)
{
	while (e->dead) {
		struct conn *c = e->dead;
		e->dead = c->next_dead;
		free(c);
	}
}

/* ==== commands (run on the loop thread) =================================== */

static json_t *cond_json(const struct link_conditions *c)
{
	return json_pack("{s:I, s:I, s:f, s:I, s:s}",
			 "latency_ms", (json_int_t)c->latency_ms,
			 "jitter_ms", (json_int_t)c->jitter_ms,
			 "loss_pct", c->loss_pct,
			 "bandwidth_kbps", (json_int_t)c->bandwidth_kbps,
			 "partition", link_partition_name(c->partition));
}

static json_t *link_json(const struct link *l)
{
	uint64_t queued[2] = { 0, 0 };
	for (const struct conn *c = l->conns; c; c = c->next)
		for (int d = 0; d < 2; d++)
			queued[d] += c->flow[d].queued;
	return json_pack("{s:s, s:s, s:s, s:I, s:{s:o, s:o}, s:{s:I, s:I}, s:{s:I, s:I}}",
			 "name", l->name, "listen", l->listen_text,
			 "upstream", l->upstream_text,
			 "connections", (json_int_t)l->nconns,
			 "conditions",
			 "upstream", cond_json(&l->cond[LINK_UPSTREAM]),
			 "downstream", cond_json(&l->cond[LINK_DOWNSTREAM]),
			 "bytes",
			 "upstream", (json_int_t)l->bytes[LINK_UPSTREAM],
			 "downstream", (json_int_t)l->bytes[LINK_DOWNSTREAM],
			 "queued",
			 "upstream", (json_int_t)queued[LINK_UPSTREAM],
			 "downstream", (json_int_t)queued[LINK_DOWNSTREAM]);
}

static int cmd_result(struct cmd *cmd, json_t *j)
{
	if (!j) {
		snprintf(cmd->err, sizeof(cmd->err), "out of memory describing link");
		return LINK_ERR_SYSTEM;
	}
	cmd->result = j;
	return LINK_OK;
}

static int listener_open(struct cmd *cmd, int *out)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&cmd->listen_addr, sizeof(cmd->listen_addr)) != 0) {
		if (errno == EADDRINUSE) {
			close(fd);
			snprintf(cmd->err, sizeof(cmd->err), "%s: listen %s:%u: address in use",
				 cmd->name, cmd->listen_host,
				 (unsigned)ntohs(cmd->listen_addr.sin_port));
			return LINK_ERR_ADDR_IN_USE;
		}
		goto fail;
	}
	if (listen(fd, SOMAXCONN) != 0)
		goto fail;
	*out = fd;
	return LINK_OK;
fail:
	snprintf(cmd->err, sizeof(cmd->err), "%s: listen %s:%u: %s", cmd->name,
		 cmd->listen_host, (unsigned)ntohs(cmd->listen_addr.sin_port), strerror(errno));
	if (fd >= 0)
		close(fd);
	return LINK_ERR_SYSTEM;
}

static uint16_t bound_port(int fd)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	if (getsockname(fd, (struct sockaddr *)&sa, &len) != 0)
		return 0;
	return ntohs(sa.sin_port);
}

static void link_append(struct link_engine *e, struct link *l)
{
	struct link **pp = &e->links;
	while (*pp)
		pp = &(*pp)->next;
	*pp = l;
}

static int cmd_add(struct link_engine *e, struct cmd *cmd)
{
	if (link_find(e, cmd->name)) {
		snprintf(cmd->err, sizeof(cmd->err), "link '%s' exists", cmd->name);
		return LINK_ERR_EXISTS;
	}
	struct link *l = calloc(1, sizeof(*l));
	if (!l) {
		snprintf(cmd->err, sizeof(cmd->err), "%s: out of memory", cmd->name);
		return LINK_ERR_SYSTEM;
	}
	int rc = listener_open(cmd, &l->listen_fd);
	if (rc != LINK_OK) {
		free(l);
		return rc;
	}
	l->ep.kind = EP_LISTEN;
	snprintf(l->name, sizeof(l->name), "%s", cmd->name);
	snprintf(l->listen_text, sizeof(l->listen_text), "%s:%u", cmd->listen_host,
		 (unsigned)bound_port(l->listen_fd));
	snprintf(l->upstream_text, sizeof(l->upstream_text), "%s", cmd->upstream_text);
	l->upstream_addr = cmd->upstream_addr;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &l->ep };
	if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, l->listen_fd, &ev) != 0) {
		snprintf(cmd->err, sizeof(cmd->err), "%s: epoll: %s", cmd->name, strerror(errno));
		close(l->listen_fd);
		free(l);
		return LINK_ERR_SYSTEM;
	}
	link_append(e, l);
	log_event(LOG_INFO, "link.created", "{s:s, s:s, s:s}", "link", l->name,
		  "listen", l->listen_text, "upstream", l->upstream_text);
	return cmd_result(cmd, link_json(l));
}

static void link_close_conns(struct link_engine *e, struct link *l)
{
	while (l->conns)
		conn_close(e, l->conns, true);
}

static void link_destroy(struct link_engine *e, struct link *l)
{
	link_close_conns(e, l);
	close(l->listen_fd);
	free(l);
}

static int cmd_remove(struct link_engine *e, struct cmd *cmd)
{
	struct link **pp = &e->links;
	while (*pp && strcmp((*pp)->name, cmd->name) != 0)
		pp = &(*pp)->next;
	struct link *l = *pp;
	if (!l) {
		snprintf(cmd->err, sizeof(cmd->err), "no link '%s'", cmd->name);
		return LINK_ERR_NOT_FOUND;
	}
	*pp = l->next;
	log_event(LOG_INFO, "link.removed", "{s:s, s:I}", "link", l->name,
		  "connections", (json_int_t)l->nconns);
	link_destroy(e, l);
	return LINK_OK;
}

static void cond_apply(struct link *l, enum link_dir d, const struct link_cond_update *u)
{
	struct link_conditions *c = &l->cond[d];
	const struct link_conditions *v = &u->values;
	if (u->fields & LINK_SET_LATENCY)
		c->latency_ms = v->latency_ms;
	if (u->fields & LINK_SET_JITTER)
		c->jitter_ms = v->jitter_ms;
	if (u->fields & LINK_SET_LOSS)
		c->loss_pct = v->loss_pct;
	if (u->fields & LINK_SET_PARTITION)
		c->partition = v->partition;
	if (u->fields & LINK_SET_BANDWIDTH) {
		c->bandwidth_kbps = v->bandwidth_kbps;
		l->bucket[d].tokens = 0.0;   /* the new rate starts from now */
		l->bucket[d].last_ns = time_mono_ns();
	}
}

/* Makes every connection of l obey its (new) conditions. */
static void link_reconcile(struct link_engine *e, struct link *l)
{
	if (link_has_partition(l, LINK_PARTITION_RESET)) {
		link_close_conns(e, l);
		return;
	}
	bool blackhole = link_has_partition(l, LINK_PARTITION_BLACKHOLE);
	struct conn *next;
	for (struct conn *c = l->conns; c; c = next) {
		next = c->next;
		if (c->state == CONN_PENDING && !blackhole)
			conn_connect(e, c);
		else if (c->state == CONN_OPEN)
			conn_flush_all(e, c);
	}
}

static int cmd_set(struct link_engine *e, struct cmd *cmd)
{
	struct link *l = link_find(e, cmd->name);
	if (!l) {
		snprintf(cmd->err, sizeof(cmd->err), "no link '%s'", cmd->name);
		return LINK_ERR_NOT_FOUND;
	}
	unsigned dirs = cmd->update->directions ? cmd->update->directions : LINK_DIRS_BOTH;
	for (int d = 0; d < 2; d++)
		if (dirs & LINK_DIR_BIT(d))
			cond_apply(l, (enum link_dir)d, cmd->update);
	link_reconcile(e, l);
	json_t *j = link_json(l);
	if (j)
		log_event(LOG_INFO, "link.conditions", "{s:s, s:O}", "link", l->name,
			  "conditions", json_object_get(j, "conditions"));
	return cmd_result(cmd, j);
}

static int cmd_list(struct link_engine *e, struct cmd *cmd)
{
	json_t *arr = json_array();
	if (!arr)
		return cmd_result(cmd, NULL);
	for (struct link *l = e->links; l; l = l->next) {
		if (json_array_append_new(arr, link_json(l)) != 0) {
			json_decref(arr);
			return cmd_result(cmd, NULL);
		}
	}
	return cmd_result(cmd, arr);
}

static int cmd_stats(struct link_engine *e, struct cmd *cmd)
{
	size_t n = 0, i = 0;
	for (struct link *l = e->links; l; l = l->next)
		n++;
	cmd->stats = calloc(n ? n : 1, sizeof(*cmd->stats));
	if (!cmd->stats) {
		snprintf(cmd->err, sizeof(cmd->err), "out of memory");
		return LINK_ERR_SYSTEM;
	}
	for (struct link *l = e->links; l; l = l->next, i++) {
		struct link_stats *st = &cmd->stats[i];
		snprintf(st->name, sizeof(st->name), "%s", l->name);
		st->connections = l->nconns;
		st->connections_total = l->conns_total;
		for (int d = 0; d < 2; d++) {
			st->dir[d].bytes_read = l->bytes[d];
			st->dir[d].bytes_sent = l->sent[d];
			st->dir[d].chunks = l->chunks[d];
			st->dir[d].chunks_lost = l->lost[d];
			st->dir[d].cond = l->cond[d];
			histo_snapshot(&l->delay[d], &st->dir[d].delay);
		}
		for (const struct conn *c = l->conns; c; c = c->next)
			for (int d = 0; d < 2; d++)
				st->dir[d].queued += c->flow[d].queued;
	}
	cmd->nstats = n;
	return LINK_OK;
}

static int cmd_run(struct link_engine *e, struct cmd *cmd)
{
	switch (cmd->kind) {
	case CMD_ADD: return cmd_add(e, cmd);
	case CMD_REMOVE: return cmd_remove(e, cmd);
	case CMD_SET: return cmd_set(e, cmd);
	case CMD_LIST: return cmd_list(e, cmd);
	case CMD_STATS: return cmd_stats(e, cmd);
	case CMD_GET: {
		struct link *l = link_find(e, cmd->name);
		if (!l) {
			snprintf(cmd->err, sizeof(cmd->err), "no link '%s'", cmd->name);
			return LINK_ERR_NOT_FOUND;
		}
		return cmd_result(cmd, link_json(l));
	}
	}
	return LINK_ERR_INVALID;
}

static void cmd_finish(struct link_engine *e, struct cmd *cmd, int rc)
{
	pthread_mutex_lock(&e->mu);
	cmd->rc = rc;
	cmd->done = true;   /* after this the caller may free cmd */
	pthread_cond_broadcast(&e->cv);
	pthread_mutex_unlock(&e->mu);
}

/* Runs the queued commands; true when the engine is asked to stop. */
static bool commands_run(struct link_engine *e)
{
	pthread_mutex_lock(&e->mu);
	struct cmd *cmd = e->cmd_head;
	e->cmd_head = e->cmd_tail = NULL;
	bool stopping = e->stopping;
	pthread_mutex_unlock(&e->mu);
	while (cmd) {
		struct cmd *next = cmd->next;
		cmd_finish(e, cmd, cmd_run(e, cmd));
		cmd = next;
	}
	if (e->listeners_paused)
		listeners_resume(e);
	return stopping;
}

static void wake(struct link_engine *e)
{
	uint64_t one = 1;
	ssize_t n = write(e->wakefd, &one, sizeof(one));
	(void)n;   /* a full counter still wakes the loop */
}

static int cmd_submit(struct link_engine *e, struct cmd *cmd, char *err, size_t errlen)
{
	pthread_mutex_lock(&e->mu);
	if (e->stopped || e->stopping) {
		pthread_mutex_unlock(&e->mu);
		snprintf(err, errlen, "link engine stopped");
		return LINK_ERR_STOPPED;
	}
	if (e->cmd_tail)
		e->cmd_tail->next = cmd;
	else
		e->cmd_head = cmd;
	e->cmd_tail = cmd;
	wake(e);
	while (!cmd->done)
		pthread_cond_wait(&e->cv, &e->mu);
	pthread_mutex_unlock(&e->mu);
	if (cmd->rc != LINK_OK)
		snprintf(err, errlen, "%s", cmd->err);
	return cmd->rc;
}

/* ==== engine lifecycle ==================================================== */

int link_engine_new(struct link_engine **out, const struct link_engine_opts *opts,
		    char *err, size_t errlen)
{
	struct link_engine *e = calloc(1, sizeof(*e));
	if (!e) {
		snprintf(err, errlen, "out of memory");
		return LINK_ERR_SYSTEM;
	}
	e->epfd = e->wakefd = e->timerfd = -1;
	e->queue_bytes = opts && opts->queue_bytes ? opts->queue_bytes : LINK_DEFAULT_QUEUE_BYTES;
	e->rng = opts && opts->seed ? opts->seed : time_mono_ns() | 1;
	e->wake_ep.kind = EP_WAKE;
	e->timer_ep.kind = EP_TIMER;
	pthread_mutex_init(&e->mu, NULL);
	pthread_cond_init(&e->cv, NULL);
	e->buf = malloc(READ_CHUNK);
	e->epfd = epoll_create1(EPOLL_CLOEXEC);
	e->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	e->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (!e->buf || e->epfd < 0 || e->wakefd < 0 || e->timerfd < 0)
		goto fail;
	struct epoll_event wev = { .events = EPOLLIN, .data.ptr = &e->wake_ep };
	struct epoll_event tev = { .events = EPOLLIN, .data.ptr = &e->timer_ep };
	if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, e->wakefd, &wev) != 0 ||
	    epoll_ctl(e->epfd, EPOLL_CTL_ADD, e->timerfd, &tev) != 0)
		goto fail;
	*out = e;
	return LINK_OK;
fail:
	snprintf(err, errlen, "link engine: %s", e->buf ? strerror(errno) : "out of memory");
	link_engine_free(e);
	return LINK_ERR_SYSTEM;
}

/* Fails the commands still queued and refuses new ones. */
static void engine_close_queue(struct link_engine *e)
{
	pthread_mutex_lock(&e->mu);
	e->stopped = true;
	for (struct cmd *cmd = e->cmd_head; cmd; ) {
		struct cmd *next = cmd->next;
		snprintf(cmd->err, sizeof(cmd->err), "link engine stopped");
		cmd->rc = LINK_ERR_STOPPED;
		cmd->done = true;
		cmd = next;
	}
	e->cmd_head = e->cmd_tail = NULL;
	pthread_cond_broadcast(&e->cv);
	pthread_mutex_unlock(&e->mu);
}

int link_engine_run(struct link_engine *e, char *err, size_t errlen)
{
	struct epoll_event evs[MAX_EVENTS];
	int rc = LINK_OK;
	for (;;) {
		int n = epoll_wait(e->epfd, evs, MAX_EVENTS, -1);
		if (n < 0 && errno != EINTR) {
			snprintf(err, errlen, "epoll_wait: %s", strerror(errno));
			rc = LINK_ERR_SYSTEM;
			break;
		}
		bool woken = false;
		for (int i = 0; i < n; i++)
			dispatch(e, &evs[i], &woken);
		timers_run(e);
		bool stop = woken && commands_run(e);
		reap(e);
		if (stop)
			break;
		timer_arm(e);
	}
	engine_close_queue(e);
	return rc;
}

void link_engine_stop(struct link_engine *e)
{
	pthread_mutex_lock(&e->mu);
	e->stopping = true;
	pthread_mutex_unlock(&e->mu);
	wake(e);
}

void link_engine_free(struct link_engine *e)
{
	if (!e)
		return;
	while (e->links) {
		struct link *l = e->links;
		e->links = l->next;
		link_destroy(e, l);
	}
	reap(e);
	free(e->timers.v);
	free(e->buf);
	if (e->epfd >= 0)
		close(e->epfd);
	if (e->wakefd >= 0)
		close(e->wakefd);
	if (e->timerfd >= 0)
		close(e->timerfd);
	pthread_cond_destroy(&e->cv);
	pthread_mutex_destroy(&e->mu);
	free(e);
}

/* ==== public calls (any thread) =========================================== */

static int resolve_addr(const char *field, const char *text, char *host, size_t hostlen,
			struct sockaddr_in *out, char *err, size_t errlen)
{
	uint16_t port = 0;
	if (!text || http_parse_hostport(text, host, hostlen, &port) != 0) {
		snprintf(err, errlen, "%s: expected HOST:PORT, got '%s'", field, text ? text : "");
		return LINK_ERR_INVALID;
	}
	memset(out, 0, sizeof(*out));
	out->sin_family = AF_INET;
	out->sin_port = htons(port);
	if (inet_pton(AF_INET, host, &out->sin_addr) == 1)
		return LINK_OK;
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	int gai = getaddrinfo(host, NULL, &hints, &res);
	if (gai != 0 || !res) {
		snprintf(err, errlen, "%s: cannot resolve '%s': %s", field, host, gai_strerror(gai));
		return LINK_ERR_INVALID;
	}
	out->sin_addr = ((struct sockaddr_in *)(void *)res->ai_addr)->sin_addr;
	freeaddrinfo(res);
	return LINK_OK;
}

int link_name_check(const char *name, char *err, size_t errlen)
{
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n > LINK_NAME_MAX ||
	    strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		   "0123456789._-") != n) {
		snprintf(err, errlen, "name: expected 1 to %d characters of [A-Za-z0-9._-]",
			 LINK_NAME_MAX);
		return -1;
	}
	return 0;
}

int link_add(struct link_engine *e, const char *name, const char *listen,
	     const char *upstream, json_t **out, char *err, size_t errlen)
{
	char listen_host[64], upstream_host[64];
	struct cmd cmd = { .kind = CMD_ADD, .name = name, .listen_host = listen_host,
			   .upstream_text = upstream };
	if (link_name_check(name, err, errlen) != 0)
		return LINK_ERR_INVALID;
	int rc = resolve_addr("listen", listen, listen_host, sizeof(listen_host),
			      &cmd.listen_addr, err, errlen);
	if (rc == LINK_OK)
		rc = resolve_addr("upstream", upstream, upstream_host, sizeof(upstream_host),
				  &cmd.upstream_addr, err, errlen);
	if (rc == LINK_OK && ntohs(cmd.upstream_addr.sin_port) == 0) {
		snprintf(err, errlen, "upstream: port 0 is not a destination");
		rc = LINK_ERR_INVALID;
	}
	if (rc == LINK_OK)
		rc = cmd_submit(e, &cmd, err, errlen);
	if (out)
		*out = cmd.result;
	else
		json_decref(cmd.result);
	return rc;
}

int link_remove(struct link_engine *e, const char *name, char *err, size_t errlen)
{
	struct cmd cmd = { .kind = CMD_REMOVE, .name = name };
	return cmd_submit(e, &cmd, err, errlen);
}

int link_set_conditions(struct link_engine *e, const char *name,
			const struct link_cond_update *u, json_t **out,
			char *err, size_t errlen)
{
	if (link_cond_update_check(u, err, errlen) != 0)
		return LINK_ERR_INVALID;
	struct cmd cmd = { .kind = CMD_SET, .name = name, .update = u };
	int rc = cmd_submit(e, &cmd, err, errlen);
	if (out)
		*out = cmd.result;
	else
		json_decref(cmd.result);
	return rc;
}

int link_get(struct link_engine *e, const char *name, json_t **out,
	     char *err, size_t errlen)
{
	struct cmd cmd = { .kind = CMD_GET, .name = name };
	int rc = cmd_submit(e, &cmd, err, errlen);
	*out = cmd.result;
	return rc;
}

int link_list(struct link_engine *e, json_t **out, char *err, size_t errlen)
{
	struct cmd cmd = { .kind = CMD_LIST };
	int rc = cmd_submit(e, &cmd, err, errlen);
	*out = cmd.result;
	return rc;
}

int link_stats_all(struct link_engine *e, struct link_stats **out, size_t *n,
		   char *err, size_t errlen)
{
	struct cmd cmd = { .kind = CMD_STATS };
	int rc = cmd_submit(e, &cmd, err, errlen);
	*out = cmd.stats;
	*n = cmd.nstats;
	return rc;
}

/* ==== parsing helpers ===================================================== */

int link_partition_parse(const char *s, enum link_partition *out, char *err, size_t errlen)
{
	static const enum link_partition all[] = {
		LINK_PARTITION_NONE, LINK_PARTITION_BLACKHOLE, LINK_PARTITION_RESET,
	};
	for (size_t i = 0; s && i < sizeof(all) / sizeof(all[0]); i++) {
		if (strcmp(s, link_partition_name(all[i])) == 0) {
			*out = all[i];
			return 0;
		}
	}
	snprintf(err, errlen, "partition: expected \"none\", \"blackhole\" or \"reset\"");
	return -1;
}

int link_direction_parse(const char *s, unsigned *dirs, char *err, size_t errlen)
{
	if (s && strcmp(s, "both") == 0)
		*dirs = LINK_DIRS_BOTH;
	else if (s && strcmp(s, "upstream") == 0)
		*dirs = LINK_DIR_BIT(LINK_UPSTREAM);
	else if (s && strcmp(s, "downstream") == 0)
		*dirs = LINK_DIR_BIT(LINK_DOWNSTREAM);
	else {
		snprintf(err, errlen, "direction: expected \"both\", \"upstream\" or \"downstream\"");
		return -1;
	}
	return 0;
}

int link_cond_update_check(const struct link_cond_update *u, char *err, size_t errlen)
{
	const struct link_conditions *v = &u->values;
	if ((u->fields & LINK_SET_LATENCY) && v->latency_ms > LINK_MAX_LATENCY_MS) {
		snprintf(err, errlen, "latency_ms: at most %u", LINK_MAX_LATENCY_MS);
		return -1;
	}
	if ((u->fields & LINK_SET_JITTER) && v->jitter_ms > LINK_MAX_LATENCY_MS) {
		snprintf(err, errlen, "jitter_ms: at most %u", LINK_MAX_LATENCY_MS);
		return -1;
	}
	if ((u->fields & LINK_SET_LOSS) && !(v->loss_pct >= 0.0 && v->loss_pct <= 100.0)) {
		snprintf(err, errlen, "loss_pct: expected a number from 0 to 100");
		return -1;
	}
	if ((u->fields & LINK_SET_BANDWIDTH) && v->bandwidth_kbps > LINK_MAX_BANDWIDTH_KBPS) {
		snprintf(err, errlen, "bandwidth_kbps: at most %u (0 is no cap)",
			 LINK_MAX_BANDWIDTH_KBPS);
		return -1;
	}
	if ((u->fields & LINK_SET_PARTITION) && v->partition > LINK_PARTITION_RESET) {
		snprintf(err, errlen, "partition: expected \"none\", \"blackhole\" or \"reset\"");
		return -1;
	}
	if (u->directions & ~LINK_DIRS_BOTH) {
		snprintf(err, errlen, "direction: expected \"both\", \"upstream\" or \"downstream\"");
		return -1;
	}
	return 0;
}
