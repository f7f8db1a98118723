/*
 * metrics: a deliberately small HTTP/1.x server -- one request per
 * connection, request head at most METRICS_REQ_MAX bytes and complete
 * within METRICS_HEAD_S, the answer taken within METRICS_ANSWER_S,
 * METRICS_TIMEOUT_S without progress closes, at most METRICS_MAX_CLIENTS at
 * once and global.metrics.max_connections_per_source from one address,
 * global.metrics.allow/deny checked at accept -- enough for Prometheus and
 * a browser, and nothing a client can use to hold tcplb's main loop or its
 * memory.  Pages are rendered on the page thread (metrics_page.c).
 */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/addr.h"
#include "parse/cidr.h"
#include "config/gen.h"
#include "control/admin.h"
#include "control/admin_conn.h"
#include "base/log.h"
#include "control/metrics.h"
#include "control/metrics_page.h"
#include "base/net.h"
#include "base/util.h"

#define METRICS_REQ_MAX 8192
#define METRICS_TIMEOUT_S 10.0
#define METRICS_MAX_CLIENTS 64
/* The whole request head, however it trickles in; then the whole answer
 * (18 MB for 10,000 servers: ample on any link that scrapes). */
#define METRICS_HEAD_S 5.0
#define METRICS_ANSWER_S 60.0

static struct {
	struct ev_loop *loop;
	int fd;
	ev_io io;
	unsigned nclients;
	struct aconn *clients[METRICS_MAX_CLIENTS];
	struct cidr_key peer[METRICS_MAX_CLIENTS];	/* each client's address */
	char text[ADDR_STRLEN];
} met = { .fd = -1 };

/* The previous process's listening socket (binary upgrade), or -1. */
static int inherited_fd = -1;

/* Binary upgrade, old side: /metrics as it was just before the handover's
 * state (the counters the new process carries) was written, for the
 * scrapes this process still answers after the handover (metrics_freeze).
 * NULL otherwise. */
static struct mpage *frozen;

void
metrics_set_inherited(int fd)
{
	if (inherited_fd >= 0)
		close(inherited_fd);
	inherited_fd = fd;
}

int
metrics_fd(void)
{
	return met.fd;
}

static void
respond(struct aconn *c, const char *status, const char *ctype,
    const struct sbuf *body, bool head)
{
	sbuf_printf(&c->out, "HTTP/1.1 %s\r\nContent-Type: %s\r\n"
	    "Content-Length: %zu\r\nCache-Control: no-store\r\n"
	    "Connection: close\r\n\r\n", status, ctype, body->len);
	if (!head && body->len)
		sbuf_add(&c->out, body->p, body->len);
}

static void
respond_text(struct aconn *c, const char *status, const char *msg)
{
	struct sbuf body = { 0 };

	sbuf_printf(&body, "%s\n", msg);
	respond(c, status, "text/plain; charset=utf-8", &body, false);
	sbuf_free(&body);
}

/* One request's hold on the page thread: the job until the page comes,
 * then the page, streamed into c->out a slice at a time. */
struct mreq {
	struct mjob *job;
	struct mpage *page;
	size_t off;
	bool head;
	enum mpage_kind kind;
	const char *ctype;
};

#define METRICS_SLICE (64 * 1024)

static void
metrics_refill(struct aconn *c)
{
	struct mreq *r = c->owner;
	size_t n;

	if (r == NULL || r->page == NULL) {
		c->more = false;
		return;
	}
	n = r->page->body.len - r->off;
	if (n > METRICS_SLICE)
		n = METRICS_SLICE;
	sbuf_add(&c->out, r->page->body.p + r->off, n);
	r->off += n;
	if (r->off == r->page->body.len)
		c->more = false;
}

static void
metrics_page_fill(struct aconn *c, struct mpage *page)
{
	struct mreq *r = c->owner;

	r->job = NULL;
	r->page = page;
	sbuf_printf(&c->out, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\n"
	    "Content-Length: %zu\r\nCache-Control: no-store\r\n"
	    "Connection: close\r\n\r\n", r->ctype, page->body.len);
	c->more = !r->head && page->body.len > 0;
}

/* The frozen page (a new reference) for a request of kind, or NULL. */
static struct mpage *
frozen_for(enum mpage_kind kind)
{
	if (frozen == NULL || kind != MPAGE_PROM)
		return NULL;
	atomic_fetch_add(&frozen->refs, 1);
	return frozen;
}

static void
metrics_page_ready(void *arg, struct mpage *page)
{
	struct aconn *c = arg;
	struct mreq *r = c->owner;
	struct mpage *f = frozen_for(r->kind);

	/* Rendered while (or after) the handover's state was written: it
	 * may count past what the new process carries, and its next answer
	 * to this scraper would go back. */
	if (f != NULL) {
		mpage_put(page);
		page = f;
	}
	metrics_page_fill(c, page);
	aconn_send(c);
}

/* GET / or /metrics: rendered on the page thread; the main loop only
 * streams the result. */
static enum aconn_next
metrics_page(struct aconn *c, enum mpage_kind kind, bool head)
{
	struct mreq *r = xcalloc(1, sizeof(*r));
	struct mpage *f = frozen_for(kind);

	r->head = head;
	r->kind = kind;
	r->ctype = kind == MPAGE_PROM ?
	    "text/plain; version=0.0.4; charset=utf-8" :
	    "text/html; charset=utf-8";
	c->owner = r;
	if (f != NULL) {
		metrics_page_fill(c, f);
		return ACONN_ANSWER;
	}
	r->job = mpage_request(met.loop, kind, metrics_page_ready, c);
	if (r->job != NULL)
		return ACONN_LATER;
	/* No page thread: render here, as before. */
	metrics_page_fill(c, mpage_render_now(kind));
	return ACONN_ANSWER;
}

static enum aconn_next
metrics_input(struct aconn *c, bool eof, bool full)
{
	struct sbuf body = { 0 };
	char method[8], target[256];
	const char *sp1, *sp2, *q;
	size_t tl;
	bool head;

	if (full) {
		respond_text(c, "431 Request Header Fields Too Large", "request too large");
		return ACONN_ANSWER;
	}
	if (strstr(c->in, "\r\n\r\n") == NULL && strstr(c->in, "\n\n") == NULL) {
		if (!eof)
			return ACONN_MORE;
		if (c->inlen == 0)
			return ACONN_ANSWER;
	}
	sp1 = memchr(c->in, ' ', c->inlen);
	sp2 = sp1 ? memchr(sp1 + 1, ' ', c->inlen - (size_t)(sp1 + 1 - c->in)) : NULL;
	if (sp1 == NULL || sp2 == NULL || (size_t)(sp1 - c->in) >= sizeof(method)) {
		respond_text(c, "400 Bad Request", "bad request");
		return ACONN_ANSWER;
	}
	memcpy(method, c->in, (size_t)(sp1 - c->in));
	method[sp1 - c->in] = '\0';
	tl = (size_t)(sp2 - sp1 - 1);
	if (tl >= sizeof(target)) {
		respond_text(c, "414 URI Too Long", "URI too long");
		return ACONN_ANSWER;
	}
	memcpy(target, sp1 + 1, tl);
	target[tl] = '\0';
	if ((q = strchr(target, '?')) != NULL)
		target[q - target] = '\0';
	head = strcmp(method, "HEAD") == 0;
	if (strcmp(method, "GET") != 0 && !head) {
		sbuf_puts(&c->out, "HTTP/1.1 405 Method Not Allowed\r\nAllow: GET, HEAD\r\n"
		    "Content-Length: 0\r\nConnection: close\r\n\r\n");
		return ACONN_ANSWER;
	}
	if (strcmp(target, "/metrics") == 0) {
		return metrics_page(c, MPAGE_PROM, head);
	} else if (strcmp(target, "/") == 0) {
		return metrics_page(c, MPAGE_HTML, head);
	} else {
		respond_text(c, "404 Not Found", "not found: try / or /metrics");
	}
	sbuf_free(&body);
	return ACONN_ANSWER;
}

static void
metrics_closed(struct aconn *c)
{
	struct mreq *r = c->owner;

	if (r != NULL) {
		if (r->job != NULL)
			mpage_cancel(r->job);
		mpage_put(r->page);
		free(r);
		c->owner = NULL;
	}
	for (unsigned i = 0; i < METRICS_MAX_CLIENTS; i++)
		if (met.clients[i] == c) {
			met.clients[i] = NULL;
			met.nclients--;
			return;
		}
}

static const struct aconn_ops metrics_ops = {
	.input = metrics_input,
	.refill = metrics_refill,
	.closed = metrics_closed,
};

/* May peer connect?  global.metrics allow/deny (the current generation's:
 * they follow reloads), then at most max_connections_per_source at once
 * from one address, so that one client cannot take every slot. */
static bool
metrics_admit(const struct sockaddr *peer, struct cidr_key *key)
{
	const struct global_cfg *gc = &gen_current()->global;
	unsigned same = 0;

	if (!cidr_key_of(peer, key))
		return true;	/* not an IP peer: nothing to match */
	if (cidr_set_contains_key(&gc->metrics_deny, key))
		return false;
	if (!cidr_set_empty(&gc->metrics_allow) &&
	    !cidr_set_contains_key(&gc->metrics_allow, key))
		return false;
	/* One IPv6 host has a /64 to pick addresses from: the cap counts
	 * per /64 there (IPv4, mapped into ::ffff:0:0/96, per address). */
	if (key->hi != 0 || (key->lo >> 32) != 0xffff)
		key->lo = 0;
	for (unsigned k = 0; k < METRICS_MAX_CLIENTS; k++)
		if (met.clients[k] != NULL && met.peer[k].hi == key->hi &&
		    met.peer[k].lo == key->lo)
			same++;
	return gc->metrics_max_per_source == 0 ||
	    same < gc->metrics_max_per_source;
}

static void
metrics_accept_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	for (int i = 0; i < 16; i++) {
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);
		struct cidr_key key = { 0, 0 };
		int fd = net_accept(met.fd, &peer, &plen);

		if (fd < 0)
			return;
		if (!metrics_admit((struct sockaddr *)&peer, &key)) {
			/* Refused: a reset, at once, like a listener's
			 * allow/deny. */
			net_close_reset(fd);
			continue;
		}
		if (met.nclients >= METRICS_MAX_CLIENTS) {
			static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\n"
			    "Content-Length: 0\r\nConnection: close\r\n\r\n";

			(void)!write(fd, busy, sizeof(busy) - 1);
			close(fd);
			continue;
		}
		for (unsigned k = 0; k < METRICS_MAX_CLIENTS; k++)
			if (met.clients[k] == NULL) {
				met.nclients++;
				met.peer[k] = key;
				met.clients[k] = aconn_new(loop, fd, METRICS_REQ_MAX,
				    METRICS_TIMEOUT_S, &metrics_ops, NULL);
				aconn_set_deadlines(met.clients[k],
				    METRICS_HEAD_S, METRICS_ANSWER_S);
				break;
			}
	}
}

/* A binary upgrade from a tcplb that did not pass its metrics socket: bind
 * once it lets go (at its exit).  The gap is the old process's drain. */
static ev_timer retry_timer;
static struct sockaddr_storage retry_addr;
static bool retry_logged;

static void metrics_listening(struct ev_loop *loop, const char *text);

static void
retry_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	met.fd = net_listen((struct sockaddr *)&retry_addr,
	    addr_len((struct sockaddr *)&retry_addr), false, 64);
	if (met.fd < 0) {
		if (errno != EADDRINUSE)
			log_warn("metrics: cannot listen on %s", met.text);
		return;
	}
	char text[sizeof(met.text)];

	ev_timer_stop(loop, t);
	memcpy(text, met.text, sizeof(text));
	metrics_listening(loop, text);
}

int
metrics_start(struct ev_loop *loop, const char *text, bool wait_predecessor, char *err,
    size_t errlen)
{
	struct addr_spec spec;
	struct sockaddr_storage *addrs = NULL;
	size_t n = 0;
	char e[256];

	if (addr_parse(text, &spec, e, sizeof(e)) < 0 ||
	    addr_resolve(&spec, true, &addrs, &n, e, sizeof(e)) < 0) {
		snprintf(err, errlen, "metrics %s: %s", text, e);
		return -1;
	}
	/* In a binary upgrade the previous process passes its socket: the
	 * port stays bound and answered throughout (binding again would
	 * fail, the old process still holds it). */
	if (inherited_fd >= 0 && net_fd_matches(inherited_fd, (struct sockaddr *)&addrs[0], false)) {
		met.fd = inherited_fd;
		inherited_fd = -1;
		if (fcntl(met.fd, F_SETFL, fcntl(met.fd, F_GETFL) | O_NONBLOCK) < 0 ||
		    fcntl(met.fd, F_SETFD, FD_CLOEXEC) < 0) {
			close(met.fd);
			met.fd = -1;
		}
	} else {
		metrics_set_inherited(-1);
		met.fd = net_listen((struct sockaddr *)&addrs[0],
		    addr_len((struct sockaddr *)&addrs[0]), false, 64);
	}
	if (met.fd < 0 && errno == EADDRINUSE && wait_predecessor) {
		memcpy(&retry_addr, &addrs[0], addr_len((struct sockaddr *)&addrs[0]));
		free(addrs);
		snprintf(met.text, sizeof(met.text), "%s", text);
		if (!retry_logged)
			log_warnx("metrics: %s is still held by the previous process (a tcplb "
			    "that does not pass it on): bound once it exits", text);
		retry_logged = true;
		met.loop = loop;
		ev_timer_init(&retry_timer, retry_cb, 0.5, 0.5);
		ev_timer_start(loop, &retry_timer);
		return 0;
	}
	if (met.fd < 0) {
		snprintf(err, errlen, "metrics: cannot listen on %s: %s", text, strerror(errno));
		free(addrs);
		return -1;
	}
	free(addrs);
	metrics_listening(loop, text);
	return 0;
}

static void
metrics_listening(struct ev_loop *loop, const char *text)
{
	struct sockaddr_storage bound;
	socklen_t blen = sizeof(bound);

	if (net_local_addr(met.fd, &bound, &blen) == 0)
		addr_format((struct sockaddr *)&bound, met.text, sizeof(met.text));
	else
		snprintf(met.text, sizeof(met.text), "%s", text);
	met.loop = loop;
	ev_io_init(&met.io, metrics_accept_cb, met.fd, EV_READ);
	ev_io_start(loop, &met.io);
	log_notice("metrics: listening on %s (GET /metrics, GET /)", met.text);
}

/* Stop accepting: the listening socket's watcher and our copy of it. */
static void
metrics_close_listener(void)
{
	if (met.loop)
		ev_timer_stop(met.loop, &retry_timer);
	if (met.fd < 0)
		return;
	ev_io_stop(met.loop, &met.io);
	close(met.fd);
	met.fd = -1;
}

void
metrics_handed_over(void)
{
	/* Only the watcher and our descriptor go: the socket itself stays
	 * open in the new process, which took it at its start and accepts
	 * from the same queue from now on, so nothing queued is lost.
	 * The clients accepted here stay: each was promised an answer, and
	 * closing one now is an empty reply to a scraper (issue 20).  They
	 * end by themselves, bounded by METRICS_HEAD_S, METRICS_ANSWER_S
	 * and METRICS_TIMEOUT_S. */
	metrics_close_listener();
}

unsigned
metrics_answering(void)
{
	return met.nclients;
}

void
metrics_freeze(void)
{
	metrics_thaw();
	/* Only a scrape accepted by now can be answered after the handover
	 * (the listener closes in the same turn of the loop).  Rendered in
	 * place, once per upgrade and only then: the page thread's render
	 * could finish after the state is written. */
	if (met.nclients > 0)
		frozen = mpage_render_now(MPAGE_PROM);
}

void
metrics_thaw(void)
{
	mpage_put(frozen);
	frozen = NULL;
}

void
metrics_stop(void)
{
	/* Clients first: closing one cancels its job, which mpage_stop()
	 * then frees with the rest.  Also after metrics_handed_over(), when
	 * the listener is gone already. */
	for (unsigned i = 0; i < METRICS_MAX_CLIENTS; i++)
		if (met.clients[i])
			aconn_close(met.clients[i]);
	mpage_stop();
	metrics_thaw();
	metrics_close_listener();
}
