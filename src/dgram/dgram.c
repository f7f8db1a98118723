/*
 * dgram: the datagram path of `protocol: udp` listeners, one instance per
 * worker (struct dgram_worker), on the worker's loop, without locks.
 *
 *   client --> listening socket --recvmmsg--> flow lookup (flowtab)
 *          --> flow's connected socket --sendmmsg (runs of one flow)--> server
 *   server --> flow's connected socket --recvmmsg--> reply batch
 *          --> listening socket --sendmmsg, source = the address the
 *              client sent to (IP_PKTINFO / IPV6_PKTINFO)--> client
 *
 * Which worker owns a flow: the one reading the member of the listener's
 * SO_REUSEPORT group that the client's datagrams reach.  listener.c steers
 * the group with a BPF program hashing the client's address and port, so
 * that is the same member for every datagram of the flow, across reloads
 * (the group is kept) and binary upgrades (it is handed over).
 *
 * Memory: the receive and reply buffers are per worker (64 KiB slots,
 * touched only as far as datagrams fill them); a flow holds no buffer,
 * only its struct, its socket and its timer.
 *
 * A flow ends in one place, flow_close(f, reason): watchers stopped, socket
 * closed, slots given back (server, listener, per-source), access log.
 */
#include "autoconfig.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <netinet/udp.h>

#include "balance/pool.h"
#include "base/log.h"
#include "base/net.h"
#include "base/util.h"
#include "dgram/dgram.h"
#include "dgram/flowtab.h"
#include "edge/guard.h"
#include "relay/session.h"
#include "relay/worker.h"
#include "stats/stats.h"

#define DG_BATCH	64		/* datagrams per recvmmsg/sendmmsg */
#define DG_ROUNDS	4		/* batches per readable event (fairness) */
#define DG_SLOT		65536		/* > the largest UDP payload (65,527) */
#define DG_CTL		64		/* room for one IP(V6)_PKTINFO cmsg */
/* UDP GSO trains: segments that fit a common MTU (a larger one is
 * refused with EINVAL), at most 64 KiB in all. */
#define DG_GSO_MAX_SEG	1400
#define DG_GSO_MAX_TOTAL 65000

/* A UDP socket's peers are IPv4 or IPv6: no sockaddr_storage (100 bytes
 * more in every flow). */
union dg_addr {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

struct flow {
	struct flowtab_node node;	/* key: listening socket + client */
	struct dgram_worker *dw;
	struct flow *prev, *next;	/* the worker's flows */
	struct gen *gen;		/* pinned: l, srv stay valid */
	struct listener *l;
	struct server *srv;
	struct guard_ticket ticket;
	union dg_addr client;
	socklen_t clientlen;
	int lfd;			/* replies leave from here */
	int fd;				/* connected to srv */
	/* The address the client sent to, when the socket reported it
	 * (wildcard binds): the source of every reply. */
	int local_family;		/* 0: none */
	union {
		struct in_pktinfo v4;
		struct in6_pktinfo v6;
	} local;
	ev_io io;
	ev_timer timer;
	ev_tstamp t_start, t_last;
	double idle_s;
	uint32_t responses;		/* 0: no limit */
	uint64_t id;
	uint64_t dgrams_in, dgrams_out, bytes_in, bytes_out;
	bool replied;
	bool awaiting;			/* counted in awaiting[] (responses due) */
};

/* One receive or send slot of a batch. */
struct dg_slot {
	struct iovec iov;
	union dg_addr addr;
	struct {
		_Alignas(struct cmsghdr) char buf[DG_CTL];
	} ctl;
};

struct dgram_worker {
	struct worker *w;
	struct flowtab tab;
	struct flow *flows;
	unsigned nflows;
	/* Client datagrams just read from a listening socket. */
	struct mmsghdr in[DG_BATCH];
	struct dg_slot ins[DG_BATCH];
	struct mmsghdr run[DG_BATCH];	/* a run of one flow's datagrams */
	/* Replies waiting to leave a listening socket (all on outfd),
	 * flushed when full, when another socket is needed, and before the
	 * loop sleeps (flush watcher). */
	struct mmsghdr out[DG_BATCH];
	struct dg_slot outs[DG_BATCH];
	struct stats_lsn *outlb[DG_BATCH];
	uint16_t outgso[DG_BATCH];	/* a GRO train of this segment size; 0: one datagram */
	uint16_t outn[DG_BATCH];	/* datagrams in the slot */
	unsigned nout;
	int outfd;
	ev_prepare flush;
	char *inbuf, *outbuf;		/* DG_BATCH * DG_SLOT each */
	bool gso_off;			/* UDP_SEGMENT refused here once */
};

static void flow_close(struct flow *f, const char *reason);

/* Flows that still expect `responses` from their server, per worker (one
 * writer each, on its own cache line): a drain waits for them, so that a
 * query in flight at SIGTERM or an upgrade still gets its answer. */
static struct {
	atomic_uint n;
	char pad[64 - sizeof(atomic_uint)];
} awaiting[1024] __attribute__((aligned(64)));

static uint64_t flow_expected(const struct flow *f);

static void
flow_set_awaiting(struct flow *f, bool on)
{
	unsigned id = f->dw->w->id;

	if (on == f->awaiting || id >= sizeof(awaiting) / sizeof(awaiting[0]))
		return;
	f->awaiting = on;
	atomic_store_explicit(&awaiting[id].n, atomic_load_explicit(
	    &awaiting[id].n, memory_order_relaxed) + (on ? 1 : -1),
	    memory_order_relaxed);
}

/* After datagrams moved either way. */
static void
flow_update_awaiting(struct flow *f)
{
	flow_set_awaiting(f, f->responses && f->dgrams_out < flow_expected(f));
}

unsigned
dgram_awaiting(void)
{
	unsigned n = 0;

	for (unsigned i = 0; i < workers_count() &&
	    i < sizeof(awaiting) / sizeof(awaiting[0]); i++)
		n += atomic_load_explicit(&awaiting[i].n, memory_order_relaxed);
	return n;
}

static struct dgram_worker *
dw_of(struct worker *w)
{
	return w->dgram;
}

static void
drop(struct dgram_worker *dw, const struct listener *l, enum stats_drop d,
    unsigned n)
{
	struct stats_lsn *lb = stats_lsn_of(l->st, dw->w->id);

	if (lb)
		stats_add(&lb->drops[d], n);
}

/* ---- replies: the batch to clients ----------------------------------- */

static void
out_reset_slot(struct dgram_worker *dw, unsigned i)
{
	struct msghdr *m = &dw->out[i].msg_hdr;

	dw->outs[i].iov.iov_base = dw->outbuf + (size_t)i * DG_SLOT;
	dw->outs[i].iov.iov_len = DG_SLOT;
	memset(m, 0, sizeof(*m));
	m->msg_iov = &dw->outs[i].iov;
	m->msg_iovlen = 1;
	/* room for the server socket's UDP_GRO size when received into */
	m->msg_control = dw->outs[i].ctl.buf;
	m->msg_controllen = sizeof(dw->outs[i].ctl.buf);
	dw->outgso[i] = 0;
	dw->outn[i] = 1;
}

/* Append a UDP_SEGMENT cmsg (a GSO train of seg-byte datagrams) after
 * the m->msg_controllen bytes already in m->msg_control, which has room. */
static void
cmsg_put_gso(struct msghdr *m, uint16_t seg)
{
	struct cmsghdr *c = (struct cmsghdr *)((char *)m->msg_control +
	    m->msg_controllen);

	c->cmsg_level = SOL_UDP;
	c->cmsg_type = UDP_SEGMENT;
	c->cmsg_len = CMSG_LEN(sizeof(seg));
	memcpy(CMSG_DATA(c), &seg, sizeof(seg));
	m->msg_controllen += CMSG_SPACE(sizeof(seg));
}

/* The segment size of a GRO train (UDP_GRO cmsg), or 0. */
static int
gro_size(struct msghdr *m)
{
	int gso = 0;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c))
		if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO &&
		    c->cmsg_len >= CMSG_LEN(sizeof(int)))
			memcpy(&gso, CMSG_DATA(c), sizeof(int));
	return gso > 0 && gso <= 65535 ? gso : 0;
}

/* Slots i.. that can leave as one GSO datagram train: same client and
 * source address, equal sizes (the last may be shorter), within the GSO
 * limits.  Returns the count (1: send on its own). */
static unsigned
out_gso_run(const struct dgram_worker *dw, unsigned i)
{
	const struct msghdr *a = &dw->out[i].msg_hdr;
	size_t seg = a->msg_iov->iov_len, total = seg;
	unsigned k;

	if (dw->gso_off || seg == 0 || seg > DG_GSO_MAX_SEG ||
	    a->msg_name == NULL || dw->outgso[i])
		return 1;
	for (k = i + 1; k < dw->nout; k++) {
		const struct msghdr *b = &dw->out[k].msg_hdr;
		size_t len = b->msg_iov->iov_len;

		if (b->msg_name == NULL || dw->outgso[k] ||
		    b->msg_namelen != a->msg_namelen ||
		    memcmp(b->msg_name, a->msg_name, a->msg_namelen) != 0 ||
		    b->msg_controllen != a->msg_controllen ||
		    (a->msg_controllen && memcmp(b->msg_control,
		    a->msg_control, a->msg_controllen) != 0) ||
		    len > seg || len == 0 || total + len > DG_GSO_MAX_TOTAL ||
		    k - i >= DG_BATCH)
			break;
		total += len;
		if (len < seg) {
			k++;
			break;
		}
	}
	return k - i;
}

/* Send slots i..i+n as one GSO train (UDP_SEGMENT beside the source
 * address).  0 or -1 (errno). */
static int
out_send_gso(struct dgram_worker *dw, unsigned i, unsigned n, uint16_t seg)
{
	const struct msghdr *a = &dw->out[i].msg_hdr;
	struct iovec iov[DG_BATCH];
	struct msghdr m = { 0 };
	struct {
		_Alignas(struct cmsghdr) char buf[DG_CTL +
		    CMSG_SPACE(sizeof(uint16_t))];
	} ctl;

	for (unsigned k = 0; k < n; k++)
		iov[k] = *dw->out[i + k].msg_hdr.msg_iov;
	m.msg_name = a->msg_name;
	m.msg_namelen = a->msg_namelen;
	m.msg_iov = iov;
	m.msg_iovlen = n;
	memcpy(ctl.buf, a->msg_control ? a->msg_control : ctl.buf,
	    a->msg_controllen);
	m.msg_control = ctl.buf;
	m.msg_controllen = a->msg_controllen;
	cmsg_put_gso(&m, seg);
	if (sendmsg(dw->outfd, &m, 0) < 0) {
		if (errno == EIO || errno == ENOPROTOOPT || errno == EOPNOTSUPP)
			dw->gso_off = true;
		return -1;
	}
	return 0;
}

static void
out_count(struct dgram_worker *dw, unsigned i, unsigned n)
{
	for (unsigned k = i; k < i + n; k++)
		if (dw->outlb[k] != NULL)
			stats_add(&dw->outlb[k]->dgrams_out, dw->outn[k]);
}

/* Slot i holds a GRO train from the server: out as a GSO train again, or,
 * where the kernel refuses, datagram by datagram -- never as one merged
 * datagram. */
static void
out_send_train(struct dgram_worker *dw, unsigned i)
{
	struct msghdr m = dw->out[i].msg_hdr;
	struct iovec whole = *m.msg_iov, one;
	size_t seg = dw->outgso[i];

	if (out_send_gso(dw, i, 1, dw->outgso[i]) == 0) {
		out_count(dw, i, 1);
		return;
	}
	m.msg_iov = &one;
	m.msg_iovlen = 1;
	for (size_t off = 0; off < whole.iov_len; off += seg) {
		one.iov_base = (char *)whole.iov_base + off;
		one.iov_len = whole.iov_len - off < seg ? whole.iov_len - off : seg;
		if (dw->outlb[i] == NULL)
			continue;
		if (sendmsg(dw->outfd, &m, 0) < 0)
			stats_add(&dw->outlb[i]->drops[errno == EMSGSIZE ?
			    STATS_DROP_TOO_BIG : STATS_DROP_SEND_FAILED], 1);
		else
			stats_add(&dw->outlb[i]->dgrams_out, 1);
	}
}

static void
out_flush(struct dgram_worker *dw)
{
	unsigned i = 0;

	while (i < dw->nout) {
		unsigned end, g;
		int r;

		if (dw->outgso[i]) {
			out_send_train(dw, i);
			i++;
			continue;
		}
		g = out_gso_run(dw, i);
		if (g >= 2 && out_send_gso(dw, i, g,
		    (uint16_t)dw->out[i].msg_hdr.msg_iov->iov_len) == 0) {
			out_count(dw, i, g);
			i += g;
			continue;
		}
		/* Datagram by datagram up to the next GSO train. */
		end = i + (g >= 2 ? g : 1);
		while (end < dw->nout && !dw->outgso[end] &&
		    out_gso_run(dw, end) < 2)
			end++;
		r = sendmmsg(dw->outfd, &dw->out[i], end - i, 0);
		if (r > 0) {
			out_count(dw, i, (unsigned)r);
			i += (unsigned)r;
			continue;
		}
		if (errno == EINTR)
			continue;
		/* The client side's buffer is full (EAGAIN: we never wait
		 * for UDP) or this one datagram cannot go: drop it, count
		 * why, go on with the next. */
		if (dw->outlb[i])
			stats_add(&dw->outlb[i]->drops[errno == EMSGSIZE ?
			    STATS_DROP_TOO_BIG : STATS_DROP_SEND_FAILED], 1);
		i++;
	}
	for (unsigned k = 0; k < dw->nout; k++)
		out_reset_slot(dw, k);
	dw->nout = 0;
}

static void
flush_cb(struct ev_loop *loop, ev_prepare *p, int revents)
{
	struct dgram_worker *dw = p->data;

	if (dw->nout)
		out_flush(dw);
}

/* Put the source address into slot i's control data. */
static void
out_set_source(struct dgram_worker *dw, unsigned i, const struct flow *f)
{
	struct msghdr *m = &dw->out[i].msg_hdr;
	struct cmsghdr *c;

	if (f->local_family == 0)
		return;
	m->msg_control = dw->outs[i].ctl.buf;
	if (f->local_family == AF_INET) {
		struct in_pktinfo pi = { 0 };

		m->msg_controllen = CMSG_SPACE(sizeof(pi));
		c = CMSG_FIRSTHDR(m);
		c->cmsg_level = IPPROTO_IP;
		c->cmsg_type = IP_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(pi));
		/* The source only: the route picks the interface. */
		pi.ipi_spec_dst = f->local.v4.ipi_addr;
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
	} else {
		struct in6_pktinfo pi = f->local.v6;

		m->msg_controllen = CMSG_SPACE(sizeof(pi));
		c = CMSG_FIRSTHDR(m);
		c->cmsg_level = IPPROTO_IPV6;
		c->cmsg_type = IPV6_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(pi));
		/* A link-local address means nothing without its link. */
		if (!IN6_IS_ADDR_LINKLOCAL(&pi.ipi6_addr))
			pi.ipi6_ifindex = 0;
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
	}
}

/* ICMP port unreachable from the server: nobody listens.  Passive health
 * counts it, like a refused connect, unless the server answered. */
static void
flow_refused(struct flow *f)
{
	if (!f->replied) {
		stats_connect_failed(stats_srv_of(f->srv->st, f->dw->w->id),
		    "refused");
		pool_report_connect(f->srv, false, "refused",
		    (int64_t)now_ms());
	}
	flow_close(f, "server unreachable (ICMP)");
}

/* `responses: N` counts per client datagram, as nginx's proxy_responses:
 * a client that sends its next query before the first answer (dnsperf,
 * a resolver retrying from the same port) keeps the flow open until every
 * query had its N answers. */
static uint64_t
flow_expected(const struct flow *f)
{
	return (uint64_t)f->responses * f->dgrams_in;
}

/* The flow's server socket is readable: move its datagrams into the
 * reply batch. */
static void
upstream_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct flow *f = io->data;
	struct dgram_worker *dw = f->dw;
	struct stats_lsn *lb = stats_lsn_of(f->l->st, dw->w->id);
	struct stats_srv *sb = stats_srv_of(f->srv->st, dw->w->id);

	for (int round = 0; round < DG_ROUNDS; round++) {
		unsigned room, base;
		int n;

		if (dw->nout > 0 && dw->outfd != f->lfd)
			out_flush(dw);
		if (dw->nout == DG_BATCH)
			out_flush(dw);
		base = dw->nout;
		room = DG_BATCH - base;
		if (f->responses && room > flow_expected(f) - f->dgrams_out)
			room = (unsigned)(flow_expected(f) - f->dgrams_out);
		n = recvmmsg(f->fd, &dw->out[base], room, MSG_DONTWAIT, NULL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK ||
			    errno == EINTR)
				return;
			if (errno == ECONNREFUSED) {
				flow_refused(f);
				return;
			}
			/* ICMP "fragmentation needed": the kernel lowered the
			 * path MTU and fragments what follows; the error is
			 * consumed.  Not the flow's end (anyone who guesses
			 * its ports could send one). */
			if (errno == EMSGSIZE)
				continue;
			/* Other ICMP errors on the connected socket (host or
			 * network unreachable) end the flow the same way. */
			if (errno == EHOSTUNREACH || errno == ENETUNREACH) {
				if (!f->replied) {
					stats_connect_failed(sb, "unreachable");
					pool_report_connect(f->srv, false,
					    "unreachable", (int64_t)now_ms());
				}
				flow_close(f, "server unreachable (ICMP)");
				return;
			}
			flow_close(f, "server socket error");
			return;
		}
		dw->outfd = f->lfd;
		for (int k = 0; k < n; k++) {
			unsigned i = base + (unsigned)k;
			struct msghdr *m = &dw->out[i].msg_hdr;
			size_t len = dw->out[i].msg_len;

			if (m->msg_flags & MSG_TRUNC) {
				/* Cannot happen with 64 KiB slots; never
				 * send a datagram cut short.  Without an
				 * address or a counter block the slot fails
				 * in out_flush() (EDESTADDRREQ), uncounted. */
				drop(dw, f->l, STATS_DROP_TOO_BIG, 1);
				dw->outs[i].iov.iov_len = 0;
				dw->outlb[i] = NULL;
				m->msg_name = NULL;
				m->msg_controllen = 0;
				continue;
			}
			dw->outs[i].iov.iov_len = len;
			if (m->msg_controllen > 0) {
				int gso = gro_size(m);

				if (gso > 0 && len > (size_t)gso) {
					dw->outgso[i] = (uint16_t)gso;
					dw->outn[i] = (uint16_t)((len + (size_t)gso - 1) /
					    (size_t)gso);
				}
			}
			memcpy(&dw->outs[i].addr, &f->client, f->clientlen);
			m->msg_name = &dw->outs[i].addr;
			m->msg_namelen = f->clientlen;
			m->msg_control = NULL;
			m->msg_controllen = 0;
			m->msg_flags = 0;
			out_set_source(dw, i, f);
			dw->outlb[i] = lb;
			f->dgrams_out += dw->outn[i];
			f->bytes_out += len;
			if (lb)
				stats_add(&lb->bytes_out, len);
			if (sb)
				stats_add(&sb->bytes_out, len);
		}
		dw->nout = base + (unsigned)n;
		if (n > 0) {
			f->t_last = ev_now(loop);
			if (!f->replied) {
				f->replied = true;
				pool_report_connect(f->srv, true, NULL,
				    (int64_t)now_ms());
			}
		}
		if (f->responses && f->dgrams_out >= flow_expected(f)) {
			flow_close(f, "responses");
			return;
		}
		flow_update_awaiting(f);
		if ((unsigned)n < room)
			return;
	}
}

/* ---- flows ------------------------------------------------------------- */

static void
flow_timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct flow *f = t->data;
	ev_tstamp left = f->t_last + f->idle_s - ev_now(loop);

	/* Activity only moves t_last; the timer catches up here, so a busy
	 * flow costs no timer operation per datagram. */
	if (left > 0.001) {
		ev_timer_set(t, left, 0.);
		ev_timer_start(loop, t);
		return;
	}
	flow_close(f, "idle timeout");
}

static void
flow_close(struct flow *f, const char *reason)
{
	struct dgram_worker *dw = f->dw;
	struct worker *w = dw->w;
	struct ev_loop *loop = w->loop;

	ev_io_stop(loop, &f->io);
	ev_timer_stop(loop, &f->timer);
	flow_set_awaiting(f, false);
	close(f->fd);
	flowtab_remove(&dw->tab, &f->node);
	if (f->prev)
		f->prev->next = f->next;
	else
		dw->flows = f->next;
	if (f->next)
		f->next->prev = f->prev;
	dw->nflows--;

	stats_closed(stats_srv_of(f->srv->st, w->id), ev_now(loop) - f->t_start);
	guard_release(&f->ticket);
	if (f->gen->global.access_log || log_enabled(LOG_DEBUG)) {
		char client[ADDR_STRLEN];
		struct access_rec r = {
			.session = f->id,
			.client = addr_format(&f->client.sa, client,
			    sizeof(client)),
			.listener = f->l->name,
			.pool = f->l->pool->name,
			.server = f->srv->name,
			.server_addr = f->srv->addr_text,
			.bytes_in = f->bytes_in,
			.bytes_out = f->bytes_out,
			.connect_ms = -1,
			.duration_ms = (uint64_t)((ev_now(loop) - f->t_start) *
			    1000.0),
			.tries = 1,
			.reason = reason,
			.route = -1,
			.dgram = true,
			.dgrams_in = f->dgrams_in,
			.dgrams_out = f->dgrams_out,
		};

		if (f->gen->global.access_log)
			log_access(&r);
		else
			log_debug("flow %llu closed: %s",
			    (unsigned long long)f->id, reason);
	}
	pool_release(f->srv);
	atomic_fetch_sub_explicit(&f->l->st->active, 1, memory_order_relaxed);
	atomic_fetch_sub_explicit(&tcplb_flows, 1, memory_order_relaxed);
	gen_put(f->gen);
	free(f);
}

/* Read the destination address of a datagram (wildcard binds). */
static int
pktinfo_of(struct msghdr *m, struct flow *f)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
		if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
			memcpy(&f->local.v4, CMSG_DATA(c), sizeof(f->local.v4));
			return AF_INET;
		}
		if (c->cmsg_level == IPPROTO_IPV6 &&
		    c->cmsg_type == IPV6_PKTINFO) {
			memcpy(&f->local.v6, CMSG_DATA(c), sizeof(f->local.v6));
			return AF_INET6;
		}
	}
	return 0;
}

/* The address a datagram was sent to (wildcard binds) into the key:
 * replies leave from it, so it is part of what a flow is. */
static void
key_local_of(struct msghdr *m, struct flowtab_key *key)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
		if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo pi;

			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			flowtab_key_local(key, &pi.ipi_addr, 4);
			return;
		}
		if (c->cmsg_level == IPPROTO_IPV6 &&
		    c->cmsg_type == IPV6_PKTINFO) {
			struct in6_pktinfo pi;

			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			flowtab_key_local(key, &pi.ipi6_addr, 16);
			return;
		}
	}
}

/* The first datagram of a flow: limits, access control, a server, a
 * socket.  NULL (the datagram dropped and counted) when any says no. */
static struct flow *
flow_new(struct dgram_worker *dw, struct wlisten *wl,
    const struct flowtab_key *key, uint32_t hash, struct msghdr *m)
{
	struct worker *w = dw->w;
	struct listener *l = wl->l;
	const struct sockaddr *client = m->msg_name;
	struct guard_ticket tk = { 0 };
	struct server *srv;
	struct flow *f;
	uint32_t lmax = l->max_conns, gmax = w->gen->global.max_conns;
	int fd;

	/* An instance drain (`tcplb ctl drain`): open flows go on, new
	 * clients go elsewhere (the routing layer moved them). */
	if (w->accept_off) {
		drop(dw, l, STATS_DROP_DRAINING, 1);
		return NULL;
	}
	/* max_connections counts flows; when the table is full, datagrams
	 * of new clients are dropped (counted), open flows go on.  The
	 * global max_connections bounds flows and TCP connections together
	 * (RLIMIT_NOFILE is sized from it): a spoofed flood on a listener
	 * without a limit of its own stops there too. */
	if (atomic_fetch_add_explicit(&tcplb_flows, 1, memory_order_relaxed) +
	    atomic_load_explicit(&tcplb_active, memory_order_relaxed) >= gmax &&
	    gmax) {
		static struct log_ratelimit rl = LOG_RATELIMIT_INIT(10000, 1);

		atomic_fetch_sub_explicit(&tcplb_flows, 1, memory_order_relaxed);
		drop(dw, l, STATS_DROP_FLOW_LIMIT, 1);
		if (l->st->ws)
			stats_add(&l->st->ws[w->id].refused_limit, 1);
		log_ratelimited(&rl, LOG_WARNING, NULL, "listener %s: %u "
		    "connections and flows open (global max_connections): "
		    "datagrams of new clients dropped", l->name, gmax);
		return NULL;
	}
	if (atomic_fetch_add_explicit(&l->st->active, 1,
	    memory_order_relaxed) >= lmax && lmax) {
		atomic_fetch_sub_explicit(&l->st->active, 1,
		    memory_order_relaxed);
		atomic_fetch_sub_explicit(&tcplb_flows, 1, memory_order_relaxed);
		static struct log_ratelimit rl = LOG_RATELIMIT_INIT(10000, 1);

		drop(dw, l, STATS_DROP_FLOW_LIMIT, 1);
		if (l->st->ws)
			stats_add(&l->st->ws[w->id].refused_limit, 1);
		log_ratelimited(&rl, LOG_WARNING, NULL, "listener %s: %u flows "
		    "open (max_connections): datagrams of new clients dropped",
		    l->name, lmax);
		return NULL;
	}
	if (guard_active(l)) {
		enum guard_reason r = guard_accept(l, client, &tk);

		if (r != GUARD_OK) {
			guard_refused(&w->guard, w->id, l, client, r, NULL);
			drop(dw, l, STATS_DROP_REFUSED, 1);
			goto release_slot;
		}
	}
	srv = pool_pick(l->pool, client, NULL, 0, (int64_t)now_ms(), &w->rnd);
	if (srv == NULL) {
		struct stats_lsn *lb = stats_lsn_of(l->st, w->id);

		if (lb)
			stats_add(&lb->no_server, 1);
		drop(dw, l, STATS_DROP_NO_SERVER, 1);
		goto release_guard;
	}
	if (srv->source_client) {
		/* `source: client`: from the client's own address and port
		 * (transparent mode).  A client of the other family cannot be
		 * the source; not the server's fault. */
		fd = client->sa_family == srv->addr.ss_family ?
		    net_udp_connect((const struct sockaddr *)&srv->addr,
		    srv->addrlen, client, addr_len(client), true) :
		    (errno = EAFNOSUPPORT, -1);
	} else {
		fd = net_udp_connect((const struct sockaddr *)&srv->addr,
		    srv->addrlen, srv->source.len ? &srv->source.u.sa : NULL,
		    srv->source.len, false);
	}
	if (fd < 0) {
		static struct log_ratelimit rl = LOG_RATELIMIT_INIT(10000, 5);
		int e = errno;

		if (e == ECONNREFUSED || e == ENETUNREACH || e == EHOSTUNREACH) {
			const char *why = e == ECONNREFUSED ? "refused" :
			    "unreachable";

			stats_connect_failed(stats_srv_of(srv->st, w->id), why);
			pool_report_connect(srv, false, why, (int64_t)now_ms());
		}
		log_ratelimited(&rl, LOG_WARNING, NULL,
		    "listener %s: no socket for a new flow to %s: %s",
		    l->name, srv->addr_text, strerror(e));
		drop(dw, l, STATS_DROP_NO_SOCKET, 1);
		pool_release(srv);
		goto release_guard;
	}

	/* Replies may come coalesced (a server sending GSO trains); not
	 * where `responses` counts them one by one. */
	if (l->pool->responses == 0)
		net_udp_gro(fd);
	f = xcalloc(1, sizeof(*f));
	f->node.key = *key;
	f->node.hash = hash;
	f->dw = dw;
	f->gen = gen_get(w->gen);
	f->l = l;
	f->srv = srv;
	f->ticket = tk;
	memcpy(&f->client, client, m->msg_namelen < sizeof(f->client) ?
	    m->msg_namelen : sizeof(f->client));
	f->clientlen = m->msg_namelen;
	f->lfd = wl->fd;
	f->fd = fd;
	if (m->msg_controllen > 0)
		f->local_family = pktinfo_of(m, f);
	f->t_start = f->t_last = ev_now(w->loop);
	f->idle_s = (double)l->pool->flow_idle_ms / 1000.0;
	f->responses = l->pool->responses;
	f->id = w->next_session_id++;
	flowtab_insert(&dw->tab, &f->node);
	f->next = dw->flows;
	if (f->next)
		f->next->prev = f;
	dw->flows = f;
	dw->nflows++;
	ev_io_init(&f->io, upstream_cb, fd, EV_READ);
	f->io.data = f;
	ev_io_start(w->loop, &f->io);
	ev_timer_init(&f->timer, flow_timer_cb, f->idle_s, 0.);
	f->timer.data = f;
	ev_timer_start(w->loop, &f->timer);
	stats_session_started(l->st, w->id);
	stats_connected(stats_srv_of(srv->st, w->id), 0, false);
	return f;

release_guard:
	guard_release(&tk);
release_slot:
	atomic_fetch_sub_explicit(&l->st->active, 1, memory_order_relaxed);
	atomic_fetch_sub_explicit(&tcplb_flows, 1, memory_order_relaxed);
	return NULL;
}

/* UDP GSO: a run of equal-sized datagrams of one flow leaves in one
 * sendmsg() with UDP_SEGMENT, one trip through the stack instead of n;
 * the kernel (or the NIC) cuts it into the same datagrams.  Only for
 * sizes that fit a common MTU (a larger segment is refused with EINVAL)
 * and runs of at most UDP_MAX_SEGMENTS / 64 KiB.  Returns how many were
 * sent this way (0: not applicable or refused -- sendmmsg() then). */
static unsigned
run_send_gso(struct dgram_worker *dw, struct flow *f, unsigned n)
{
	struct iovec iov[DG_BATCH];
	struct msghdr m = { 0 };
	struct {
		_Alignas(struct cmsghdr) char buf[CMSG_SPACE(sizeof(uint16_t))];
	} ctl;
	size_t seg = dw->run[0].msg_hdr.msg_iov->iov_len, total = 0;
	unsigned k;

	if (dw->gso_off || n < 2 || seg == 0 || seg > DG_GSO_MAX_SEG)
		return 0;
	for (k = 0; k < n; k++) {
		size_t len = dw->run[k].msg_hdr.msg_iov->iov_len;

		/* equal sizes; only the last may be shorter */
		if (len > seg || (len < seg && k + 1 < n) || len == 0 ||
		    total + len > DG_GSO_MAX_TOTAL)
			break;
		iov[k] = *dw->run[k].msg_hdr.msg_iov;
		total += len;
		if (len < seg) {
			k++;
			break;
		}
	}
	if (k < 2)
		return 0;
	m.msg_iov = iov;
	m.msg_iovlen = k;
	m.msg_control = ctl.buf;
	cmsg_put_gso(&m, (uint16_t)seg);
	if (sendmsg(f->fd, &m, 0) < 0) {
		/* No GSO here (old kernel, a device without it): say so
		 * once, never try again on this worker. */
		if (errno == EIO || errno == ENOPROTOOPT || errno == EOPNOTSUPP) {
			dw->gso_off = true;
			log_info("UDP GSO unavailable (%s): sending datagram by "
			    "datagram", strerror(errno));
		}
		return 0;
	}
	return k;
}

/* ndgrams datagrams, bytes in all, went from f's client to its server. */
static void
flow_count_in(struct dgram_worker *dw, struct flow *f, uint64_t ndgrams,
    size_t bytes)
{
	struct stats_lsn *lb = stats_lsn_of(f->l->st, dw->w->id);
	struct stats_srv *sb = stats_srv_of(f->srv->st, dw->w->id);

	f->dgrams_in += ndgrams;
	f->bytes_in += bytes;
	if (lb) {
		stats_add(&lb->dgrams_in, ndgrams);
		stats_add(&lb->bytes_in, bytes);
	}
	if (sb)
		stats_add(&sb->bytes_in, bytes);
	flow_update_awaiting(f);
}

/* A GRO train from the client (datagrams of one flow the kernel
 * coalesced, segment size seg): to the server as a GSO train again, or
 * datagram by datagram where the kernel refuses. */
static void
train_send(struct dgram_worker *dw, struct flow *f, struct iovec *iov,
    uint16_t seg)
{
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = 1 };
	struct {
		_Alignas(struct cmsghdr) char buf[CMSG_SPACE(sizeof(uint16_t))];
	} ctl;
	uint64_t sent = 0, segs = (iov->iov_len + seg - 1) / seg;

	m.msg_control = ctl.buf;
	cmsg_put_gso(&m, seg);
	if (!dw->gso_off && sendmsg(f->fd, &m, 0) >= 0) {
		sent = segs;
	} else {
		if (!dw->gso_off && errno == ECONNREFUSED) {
			drop(dw, f->l, STATS_DROP_SEND_FAILED, (unsigned)segs);
			flow_refused(f);
			return;
		}
		for (size_t off = 0; off < iov->iov_len; off += seg) {
			size_t len = iov->iov_len - off < seg ?
			    iov->iov_len - off : seg;

			if (send(f->fd, (char *)iov->iov_base + off, len, 0) < 0)
				drop(dw, f->l, errno == EMSGSIZE ?
				    STATS_DROP_TOO_BIG : STATS_DROP_SEND_FAILED,
				    1);
			else
				sent++;
		}
	}
	flow_count_in(dw, f, sent, iov->iov_len);
}

/* Send run[0..n) (datagrams of f) to its server. */
static void
run_send(struct dgram_worker *dw, struct flow *f, unsigned n)
{
	unsigned i = run_send_gso(dw, f, n);	/* a GSO train first, if it can */
	unsigned retried = n;			/* the datagram tried twice */

	if (i > 0) {
		size_t bytes = 0;

		for (unsigned k = 0; k < i; k++)
			bytes += dw->run[k].msg_hdr.msg_iov->iov_len;
		flow_count_in(dw, f, i, bytes);
	}
	while (i < n) {
		int r = sendmmsg(f->fd, &dw->run[i], n - i, 0);

		if (r > 0) {
			size_t bytes = 0;

			for (unsigned k = i; k < i + (unsigned)r; k++)
				bytes += dw->run[k].msg_hdr.msg_iov->iov_len;
			flow_count_in(dw, f, (unsigned)r, bytes);
			i += (unsigned)r;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno == ECONNREFUSED) {
			/* The ICMP error of an earlier datagram. */
			drop(dw, f->l, STATS_DROP_SEND_FAILED, n - i);
			flow_refused(f);
			return;
		}
		/* EMSGSIZE may be an ICMP "fragmentation needed" of an
		 * earlier datagram, pending on the socket (the send returned
		 * it instead of sending): once more; a datagram really too
		 * big fails again. */
		if (errno == EMSGSIZE && retried != i) {
			retried = i;
			continue;
		}
		drop(dw, f->l, errno == EMSGSIZE ? STATS_DROP_TOO_BIG :
		    STATS_DROP_SEND_FAILED, 1);
		i++;
	}
}

static void
in_reset(struct dgram_worker *dw)
{
	for (unsigned i = 0; i < DG_BATCH; i++) {
		struct msghdr *m = &dw->in[i].msg_hdr;

		dw->ins[i].iov.iov_base = dw->inbuf + (size_t)i * DG_SLOT;
		dw->ins[i].iov.iov_len = DG_SLOT;
		m->msg_name = &dw->ins[i].addr;
		m->msg_namelen = sizeof(dw->ins[i].addr);
		m->msg_iov = &dw->ins[i].iov;
		m->msg_iovlen = 1;
		m->msg_control = dw->ins[i].ctl.buf;
		m->msg_controllen = sizeof(dw->ins[i].ctl.buf);
		m->msg_flags = 0;
	}
}

static struct dgram_worker *
dw_create(struct worker *w)
{
	struct dgram_worker *dw = xcalloc(1, sizeof(*dw));

	dw->w = w;
	flowtab_init(&dw->tab, w->rnd ^ 0x5bd1e995u);
	dw->inbuf = xmalloc((size_t)DG_BATCH * DG_SLOT);
	dw->outbuf = xmalloc((size_t)DG_BATCH * DG_SLOT);
	for (unsigned i = 0; i < DG_BATCH; i++)
		out_reset_slot(dw, i);
	dw->outfd = -1;
	ev_prepare_init(&dw->flush, flush_cb);
	dw->flush.data = dw;
	ev_prepare_start(w->loop, &dw->flush);
	w->dgram = dw;
	return dw;
}

/* A UDP listening socket is readable. */
static void
dgram_read_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct wlisten *wl = io->data;
	struct worker *w = wl->w;
	struct dgram_worker *dw = w->dgram ? w->dgram : dw_create(w);

	for (int round = 0; round < DG_ROUNDS; round++) {
		struct flow *run_flow = NULL;
		unsigned nrun = 0;
		int n;

		in_reset(dw);
		n = recvmmsg(wl->fd, dw->in, DG_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			break;
		for (int i = 0; i < n; i++) {
			struct msghdr *m = &dw->in[i].msg_hdr;
			struct flowtab_key key;
			struct flowtab_node *node;
			struct flow *f;
			uint32_t hash;
			int gso = 0;

			if (m->msg_flags & MSG_TRUNC) {
				drop(dw, wl->l, STATS_DROP_TOO_BIG, 1);
				continue;
			}
			if (flowtab_key_make(&key, m->msg_name, wl->fd) < 0)
				continue;
			if (m->msg_controllen > 0)
				key_local_of(m, &key);
			hash = flowtab_hash(&dw->tab, &key);
			node = flowtab_find(&dw->tab, &key, hash);
			f = node ? (struct flow *)node : NULL;
			/* Its server went down (active or passive checks):
			 * the flow ends and this datagram starts a new one on
			 * a server that is up -- a client that keeps sending
			 * must not stay pinned to a dead server. */
			if (f != NULL && !atomic_load_explicit(&f->srv->st->up,
			    memory_order_relaxed)) {
				if (f == run_flow && nrun > 0) {
					run_send(dw, run_flow, nrun);
					nrun = 0;
					run_flow = NULL;
					node = flowtab_find(&dw->tab, &key, hash);
					f = node ? (struct flow *)node : NULL;
				}
				if (f != NULL)
					flow_close(f, "server down");
				f = NULL;
			}
			/* A GRO train: datagrams the kernel coalesced. */
			if (m->msg_controllen > 0 &&
			    (gso = gro_size(m)) > 0 && dw->in[i].msg_len <= (unsigned)gso)
				gso = 0;
			if (nrun > 0 && (f != run_flow || gso)) {
				run_send(dw, run_flow, nrun);
				nrun = 0;
				run_flow = NULL;
				/* run_send may have closed run_flow; f was
				 * looked up before: look again. */
				node = flowtab_find(&dw->tab, &key, hash);
				f = node ? (struct flow *)node : NULL;
			}
			if (f == NULL &&
			    (f = flow_new(dw, wl, &key, hash, m)) == NULL)
				continue;
			f->t_last = ev_now(loop);
			dw->ins[i].iov.iov_len = dw->in[i].msg_len;
			if (gso) {
				train_send(dw, f, &dw->ins[i].iov, (uint16_t)gso);
				continue;
			}
			run_flow = f;
			memset(&dw->run[nrun].msg_hdr, 0,
			    sizeof(dw->run[nrun].msg_hdr));
			dw->run[nrun].msg_hdr.msg_iov = &dw->ins[i].iov;
			dw->run[nrun].msg_hdr.msg_iovlen = 1;
			nrun++;
		}
		if (nrun > 0)
			run_send(dw, run_flow, nrun);
		if (n < DG_BATCH)
			break;
	}
}

static int
ptr_cmp(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)*(void *const *)a, y = (uintptr_t)*(void *const *)b;

	return x < y ? -1 : x > y;
}

/* A reload removed servers: their flows end now ("server removed"), so
 * that the client's next datagram starts a flow on a server of the new
 * file -- a flow that never idles (keepalives) would otherwise feed a
 * removed server for ever.  Flows on servers that stay keep them.  Flows
 * of a listening socket the new generation no longer binds end too. */
static void
dgram_gen_switched(struct worker *w)
{
	struct dgram_worker *dw = w->dgram;
	const struct gen *g = w->gen;
	struct server_state **keep;
	struct flow *f, *next;
	size_t n = 0;

	if (dw == NULL)
		return;
	/* Replies waiting may be for a socket about to be retired. */
	if (dw->nout)
		out_flush(dw);
	if (dw->flows == NULL)
		return;
	for (uint32_t i = 0; i < g->npools; i++)
		n += g->pools[i].nservers;
	keep = xmalloc((n ? n : 1) * sizeof(*keep));
	n = 0;
	for (uint32_t i = 0; i < g->npools; i++)
		for (uint32_t k = 0; k < g->pools[i].nservers; k++)
			keep[n++] = g->pools[i].servers[k].st;
	qsort(keep, n, sizeof(*keep), ptr_cmp);
	for (f = dw->flows; f; f = next) {
		struct server_state *st = f->srv->st;
		bool watched = false;

		next = f->next;
		/* The listening socket it answers from is retired once every
		 * worker runs g (listener_commit): end the flow first. */
		for (unsigned i = 0; i < w->nwl && !watched; i++)
			watched = w->wl[i].fd == f->lfd && w->wl[i].l->udp;
		if (!watched)
			flow_close(f, "listener removed");
		else if (bsearch(&st, keep, n, sizeof(*keep), ptr_cmp) == NULL)
			flow_close(f, "server removed");
	}
	free(keep);
}

static void
dgram_stop(struct worker *w)
{
	struct dgram_worker *dw = w->dgram;

	if (dw == NULL)
		return;
	if (dw->nout)
		out_flush(dw);
	while (dw->flows)
		flow_close(dw->flows, "shutdown");
	ev_prepare_stop(w->loop, &dw->flush);
}

static void
dgram_destroy(struct worker *w)
{
	struct dgram_worker *dw = w->dgram;

	if (dw == NULL)
		return;
	flowtab_free(&dw->tab);
	free(dw->inbuf);
	free(dw->outbuf);
	free(dw);
	w->dgram = NULL;
}

static const struct worker_dgram_ops ops = {
	.read = dgram_read_cb,
	.gen_switched = dgram_gen_switched,
	.stop = dgram_stop,
	.destroy = dgram_destroy,
};

void
dgram_init(void)
{
	workers_set_dgram_ops(&ops);
}

void
dgram_snapshot(struct worker *w, const char *pool, const char *server,
    struct session_snap **out, size_t *n)
{
	struct dgram_worker *dw = dw_of(w);
	size_t k = *n, cap = *n;
	struct session_snap *v = *out;
	ev_tstamp now = ev_now(w->loop);

	if (dw == NULL)
		return;
	for (struct flow *f = dw->flows; f; f = f->next) {
		struct session_snap *e;

		if (pool && strcmp(f->l->pool->name, pool) != 0)
			continue;
		if (server && strcmp(f->srv->name, server) != 0 &&
		    strcmp(f->srv->addr_text, server) != 0)
			continue;
		if (k == cap) {
			cap = cap < 256 ? 256 : cap * 2;
			v = xrealloc(v, cap * sizeof(*v));
		}
		e = &v[k++];
		memset(e, 0, sizeof(*e));
		e->gen = gen_get(f->gen);
		e->owns_gen = true;
		e->l = f->l;
		e->pool = f->l->pool;
		e->srv = f->srv;
		memcpy(&e->peer, &f->client, f->clientlen);
		e->id = f->id;
		e->age_s = now - f->t_start;
		e->bytes_in = f->bytes_in;
		e->bytes_out = f->bytes_out;
		e->dgram = true;
		e->dgrams_in = f->dgrams_in;
		e->dgrams_out = f->dgrams_out;
	}
	*out = v;
	*n = k;
}

unsigned
dgram_shutdown_server(struct worker *w, const struct server_state *st)
{
	struct dgram_worker *dw = dw_of(w);
	struct flow *f, *next;
	unsigned n = 0;

	if (dw == NULL)
		return 0;
	for (f = dw->flows; f; f = next) {
		next = f->next;
		if (f->srv->st == st) {
			flow_close(f, "shut down by admin");
			n++;
		}
	}
	return n;
}
