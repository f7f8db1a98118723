/*
 * worker: one event-loop thread's state -- its loop, accept watchers,
 * sessions, pools and counters (struct worker) -- and the accept control
 * that sessions and listeners call on it: pause on EMFILE or a limit,
 * resume when a slot or a descriptor comes free, the instance drain.  The
 * table of all workers lives here too, for the readers that sum their
 * counters.  The threads' lives (start, mailbox, publish, stop) are
 * workers.c's, which sits above sessions and listeners.
 */
#include "autoconfig.h"

#include <stdlib.h>

#include "base/util.h"
#include "relay/worker.h"

atomic_uint tcplb_active;
atomic_uint tcplb_flows;

static struct worker *workers;
static unsigned nworkers;
static const struct worker_dgram_ops *dgram_ops;

void
workers_set_dgram_ops(const struct worker_dgram_ops *ops)
{
	dgram_ops = ops;
}

const struct worker_dgram_ops *
worker_dgram_ops(void)
{
	return dgram_ops;
}

struct worker *
worker_table_new(unsigned n)
{
	nworkers = n;
	workers = xcalloc(n, sizeof(*workers));
	return workers;
}

void
worker_table_shrink(unsigned n)
{
	nworkers = n;
}

void
worker_table_free(void)
{
	free(workers);
	workers = NULL;
	nworkers = 0;
}

unsigned
workers_count(void)
{
	return nworkers;
}

uint64_t
workers_no_local_addr(void)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < nworkers; i++)
		n += atomic_load_explicit(&workers[i].no_local_addr,
		    memory_order_relaxed);
	return n;
}

uint64_t
workers_mirror_total(int what)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < nworkers; i++) {
		const struct mirror_stats *m = &workers[i].mirror;

		n += atomic_load_explicit(what == 0 ? &m->conns : what == 1 ?
		    &m->bytes : &m->cuts, memory_order_relaxed);
	}
	return n;
}

struct worker *
worker_get(unsigned i)
{
	return &workers[i];
}

uint64_t
workers_inspect_held(void)
{
	uint64_t sum = 0;

	for (unsigned i = 0; i < nworkers; i++)
		sum += atomic_load_explicit(&workers[i].inspect_held,
		    memory_order_relaxed);
	return sum;
}

uint64_t
worker_refused_total(enum guard_reason r)
{
	uint64_t sum = 0;

	if (r >= GUARD_NREASONS)
		return 0;
	for (unsigned i = 0; i < nworkers; i++)
		sum += atomic_load_explicit(&workers[i].guard.refused[r],
		    memory_order_relaxed);
	return sum;
}

uint64_t
workers_tls_total(enum inspect_tls_outcome o)
{
	uint64_t sum = 0;

	if (o >= TLS_OUT_N)
		return 0;
	for (unsigned i = 0; i < nworkers; i++)
		sum += atomic_load_explicit(&workers[i].tls.outcome[o],
		    memory_order_relaxed);
	return sum;
}

void
worker_pause_accept(struct worker *w, struct wlisten *only, double seconds)
{
	for (unsigned i = 0; i < w->nwl; i++) {
		if (only && &w->wl[i] != only)
			continue;
		/* A UDP socket also carries the datagrams of open flows:
		 * a TCP limit or a descriptor shortage must not stop it. */
		if (!only && w->wl[i].l->udp)
			continue;
		ev_io_stop(w->loop, &w->wl[i].io);
		w->wl[i].paused = true;
	}
	if (!ev_is_active(&w->resume_timer)) {
		ev_timer_set(&w->resume_timer, seconds, 0.);
		ev_timer_start(w->loop, &w->resume_timer);
	}
}

static void
worker_resume_accept(struct worker *w)
{
	/* Sessions already accepted and waiting for a descriptor come first:
	 * accepting now would hand the freed descriptors to newcomers and
	 * starve them. */
	if (w->fd_waiters > 0) {
		if (!ev_is_active(&w->resume_timer)) {
			ev_timer_set(&w->resume_timer, 0.05, 0.);
			ev_timer_start(w->loop, &w->resume_timer);
		}
		return;
	}
	ev_timer_stop(w->loop, &w->resume_timer);
	for (unsigned i = 0; i < w->nwl; i++) {
		if (!w->wl[i].paused)
			continue;
		w->wl[i].paused = false;
		if (!w->draining && (!w->accept_off || w->wl[i].l->udp))
			ev_io_start(w->loop, &w->wl[i].io);
	}
}

static void
worker_resume_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	worker_resume_accept(t->data);
}

void
worker_accept_init(struct worker *w)
{
	ev_init(&w->resume_timer, worker_resume_cb);
	w->resume_timer.data = w;
}

void
worker_session_closed(struct worker *w)
{
	/* A slot or an fd just came free: paused accepts may go on. */
	if (ev_is_active(&w->resume_timer))
		worker_resume_accept(w);
}

/* A UDP socket also carries the datagrams of open flows: an instance
 * drain keeps reading it, and dgram/ starts no new flow while
 * w->accept_off. */
void
worker_accept_off(struct worker *w, void *unused)
{
	w->accept_off = true;
	for (unsigned i = 0; i < w->nwl; i++)
		if (!w->wl[i].l->udp)
			ev_io_stop(w->loop, &w->wl[i].io);
}

void
worker_accept_on(struct worker *w, void *unused)
{
	w->accept_off = false;
	for (unsigned i = 0; i < w->nwl; i++)
		if (!w->draining && !w->wl[i].paused)
			ev_io_start(w->loop, &w->wl[i].io);
}
