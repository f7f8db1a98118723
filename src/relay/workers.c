/*
 * workers: the event-loop threads' lives.  Each worker runs its own libev
 * loop with its own accept watchers and sessions and never takes a lock on
 * the per-connection path; the only lock guards the mailbox through which
 * the main thread hands over a new generation or asks it to drain or stop.
 * Replies go back as an ack counter plus an ev_async on the main loop.
 * One worker's state and accept control are worker.c's.
 */
#include "autoconfig.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "relay/listener.h"
#include "base/log.h"
#include "balance/queue.h"
#include "relay/session.h"
#include "base/util.h"
#include "relay/worker.h"
#include "relay/workers.h"

#define BUFPOOL_KEEP 256
#define PIPEPOOL_KEEP 64

static struct ev_loop *main_loop;
static ev_async main_wake;
static ev_async task_wake;
/* The task queue: the main loop (admin) and the health thread (on_down)
 * both queue, so it is behind task_mu; done() runs unlocked on the main
 * loop. */
static pthread_mutex_t task_mu = PTHREAD_MUTEX_INITIALIZER;
static struct worker_task *task_head, *task_tail;

static atomic_uint heartbeat_seq;

/* What the main thread waits for. */
static enum { WAIT_NONE, WAIT_PUBLISH, WAIT_DRAIN } waiting;
static struct gen *waiting_gen;
static workers_done_cb waiting_done;

unsigned
workers_auto_count(void)
{
	cpu_set_t set;
	long n;

	/* The CPUs we may run on (taskset, cgroup cpusets), not the
	 * machine's total. */
	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return (unsigned)CPU_COUNT(&set);
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}

static struct wlisten *
wlisten_find(struct worker *w, int fd)
{
	for (unsigned i = 0; i < w->nwl; i++)
		if (w->wl[i].fd == fd)
			return &w->wl[i];
	return NULL;
}

/* Rebuild the accept watchers for generation g.  Watchers live in an array
 * that is reallocated, so every one is stopped and started again; libev
 * coalesces the stop/start of an unchanged fd into no epoll call. */
/* Does worker w accept on member j of a group of nfds sockets?  One socket
 * per worker normally; a group passed with another size (an upgrade or a
 * restart under a changed worker count) is shared out so that every member
 * is watched -- an unwatched member's queue would never be served.  A UDP
 * member is read by one worker only, never shared: a flow must see all
 * its datagrams on one worker (a socket from a socket unit is then read by
 * worker 0 alone). */
static bool
worker_watches(const struct worker *w, unsigned j, unsigned nfds, bool udp)
{
	if (nfds >= workers_count() || udp)
		return j % workers_count() == w->id;
	return j == w->id % nfds;
}

/* Rebuild the accept watchers for generation g.  Watchers live in an array
 * that is reallocated, so every one is stopped and started again; libev
 * coalesces the stop/start of an unchanged fd into no epoll call. */
static void
worker_set_listeners(struct worker *w, struct gen *g)
{
	unsigned n = 0, k = 0;
	struct wlisten *nw;

	for (uint32_t i = 0; g && i < g->nlisteners; i++)
		for (uint32_t b = 0; b < g->listeners[i].nbinds; b++) {
			struct lsock *ls = g->listeners[i].binds[b].ls;

			if (g->listeners[i].udp && worker_dgram_ops() == NULL)
				continue;
			for (unsigned j = 0; j < ls->nfds; j++)
				n += worker_watches(w, j, ls->nfds,
				    g->listeners[i].udp);
		}
	nw = n ? xcalloc(n, sizeof(*nw)) : NULL;
	for (uint32_t i = 0; g && i < g->nlisteners; i++) {
		struct listener *l = &g->listeners[i];

		if (l->udp && worker_dgram_ops() == NULL)
			continue;
		for (uint32_t b = 0; b < l->nbinds; b++) {
			struct lsock *ls = l->binds[b].ls;

			for (unsigned j = 0; j < ls->nfds; j++) {
				int fd = ls->fds[j];
				struct wlisten *old;

				if (!worker_watches(w, j, ls->nfds, l->udp))
					continue;
				old = wlisten_find(w, fd);
				nw[k].w = w;
				nw[k].l = l;
				nw[k].fd = fd;
				nw[k].paused = old ? old->paused : false;
				/* UDP sockets are read by dgram/ (registered
				 * from above: relay knows nothing of it). */
				ev_io_init(&nw[k].io, l->udp ?
				    worker_dgram_ops()->read : listener_accept_cb,
				    fd, EV_READ);
				nw[k].io.data = &nw[k];
				k++;
			}
		}
	}
	for (unsigned i = 0; i < w->nwl; i++)
		ev_io_stop(w->loop, &w->wl[i].io);
	free(w->wl);
	w->wl = nw;
	w->nwl = n;
	for (unsigned i = 0; i < n; i++)
		if (!w->draining && (!w->accept_off || nw[i].l->udp) &&
		    !nw[i].paused)
			ev_io_start(w->loop, &nw[i].io);
}

static void
worker_ack(void)
{
	ev_async_send(main_loop, &main_wake);
}

/* queue.c's notifier: owner is the worker of a woken waiter; any thread. */
static void
worker_queue_notify(void *owner)
{
	struct worker *w = owner;

	atomic_store_explicit(&w->mb_queue, true, memory_order_release);
	ev_async_send(w->loop, &w->wake);
}

/* Capacity may have changed with the generation (servers added, limits
 * raised): give every non-empty queue a turn.  Each worker does this after
 * switching, so the last kick comes when all run the new generation. */
static void
worker_kick_queues(struct gen *g)
{
	for (uint32_t i = 0; i < g->npools; i++) {
		struct pool_queue *q = g->pools[i].queue;

		if (q != NULL && queue_busy(q))
			queue_notify(queue_kick(q));
	}
}

static void
worker_wake_cb(struct ev_loop *loop, ev_async *a, int revents)
{
	struct worker *w = a->data;
	struct worker_task *task;
	struct gen *g;
	bool drain, stop;

	/* Running this callback at all proves the loop turns. */
	atomic_store(&w->heartbeat, atomic_load(&heartbeat_seq));
	pthread_mutex_lock(&w->lock);
	g = w->mb_gen;
	w->mb_gen = NULL;
	drain = w->mb_drain;
	stop = w->mb_stop;
	task = w->mb_task;
	w->mb_task = NULL;
	pthread_mutex_unlock(&w->lock);

	if (g != NULL) {
		struct gen *old = w->gen;
		unsigned id = g->id;

		worker_set_listeners(w, g);
		w->gen = g;		/* the mailbox's reference becomes ours */
		gen_put(old);		/* may free it, if no session pins it */
		/* Before the ack: once every worker acked, the main thread
		 * closes the sockets g no longer binds, and no flow may
		 * send from one of them after that. */
		if (worker_dgram_ops())
			worker_dgram_ops()->gen_switched(w);
		atomic_store(&w->acked_gen, id);
		worker_ack();
		session_queue_follow(w);
		worker_kick_queues(g);
	}
	if (task != NULL) {
		task->fn(w, task->arg);
		if (atomic_fetch_sub(&task->left, 1) == 1)
			ev_async_send(main_loop, &task_wake);
	}
	if (atomic_exchange_explicit(&w->mb_queue, false, memory_order_acq_rel))
		session_queue_wakeups(w);
	if (drain && !w->draining) {
		w->draining = true;
		ev_timer_stop(loop, &w->resume_timer);
		for (unsigned i = 0; i < w->nwl; i++)
			ev_io_stop(loop, &w->wl[i].io);
		atomic_store(&w->acked_drain, true);
		worker_ack();
	}
	if (stop) {
		session_close_all(w, "shutdown");
		if (worker_dgram_ops())
			worker_dgram_ops()->stop(w);
		mirror_cut_all(&w->mirror);
		for (unsigned i = 0; i < w->nwl; i++)
			ev_io_stop(loop, &w->wl[i].io);
		ev_timer_stop(loop, &w->resume_timer);
		ev_timer_stop(loop, &w->test_stall);
		ev_async_stop(loop, &w->wake);
		ev_break(loop, EVBREAK_ALL);
	}
}

static void
task_post(struct worker_task *t)
{
	atomic_store(&t->left, workers_count());
	for (unsigned i = 0; i < workers_count(); i++) {
		struct worker *w = worker_get(i);

		pthread_mutex_lock(&w->lock);
		w->mb_task = t;
		pthread_mutex_unlock(&w->lock);
		ev_async_send(w->loop, &w->wake);
	}
}

void
workers_run(struct worker_task *t)
{
	t->next = NULL;
	pthread_mutex_lock(&task_mu);
	if (task_tail)
		task_tail->next = t;
	else
		task_head = t;
	task_tail = t;
	if (task_head == t)
		task_post(t);
	pthread_mutex_unlock(&task_mu);
}

/* Main loop: the head task finished on every worker. */
static void
task_wake_cb(struct ev_loop *loop, ev_async *a, int revents)
{
	for (;;) {
		struct worker_task *t;

		pthread_mutex_lock(&task_mu);
		t = task_head;
		if (t == NULL || atomic_load(&t->left) != 0) {
			pthread_mutex_unlock(&task_mu);
			break;
		}
		task_head = t->next;
		if (task_head == NULL)
			task_tail = NULL;
		else
			task_post(task_head);
		pthread_mutex_unlock(&task_mu);
		t->done(t->arg);
	}
}

void
workers_heartbeat_request(void)
{
	atomic_fetch_add(&heartbeat_seq, 1);
	for (unsigned i = 0; i < workers_count(); i++)
		ev_async_send(worker_get(i)->loop, &worker_get(i)->wake);
}

int
workers_heartbeat_missing(void)
{
	unsigned want = atomic_load(&heartbeat_seq);

	for (unsigned i = 0; i < workers_count(); i++)
		if (atomic_load(&worker_get(i)->heartbeat) != want)
			return (int)i;
	return -1;
}

/* TEST HOOK, not a feature: TCPLB_TEST_STALL_WORKER="DELAY:SECONDS" blocks
 * worker 0's loop for SECONDS, once, DELAY seconds after start, so that
 * tests/integration/t_watchdog.py can show a stuck worker stops the
 * watchdog.  Nothing else reads it. */
static void
test_stall_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	double secs = *(double *)t->data;
	struct timespec ts = { (time_t)secs,
	    (long)((secs - (double)(time_t)secs) * 1e9) };

	log_warnx("TCPLB_TEST_STALL_WORKER: blocking worker 0 for %.1fs", secs);
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void
test_stall_setup(struct worker *w)
{
	static double secs;
	const char *e = getenv("TCPLB_TEST_STALL_WORKER");
	double delay;

	if (e == NULL || w->id != 0 || sscanf(e, "%lf:%lf", &delay, &secs) != 2)
		return;
	ev_timer_init(&w->test_stall, test_stall_cb, delay, 0.);
	w->test_stall.data = &secs;
	ev_timer_start(w->loop, &w->test_stall);
}

/* Started only while some session holds back a FIN (session.c). */
static void
worker_fin_cb(struct ev_loop *loop, ev_prepare *p, int revents)
{
	(void)loop;
	(void)revents;
	session_send_fins(p->data);
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;

	ev_run(w->loop, 0);
	return NULL;
}

/* Checks every ack on the main loop: completes a publish or a drain when
 * every worker has done it. */
static void
main_wake_cb(struct ev_loop *loop, ev_async *a, int revents)
{
	workers_done_cb done;
	struct gen *g;

	for (unsigned i = 0; i < workers_count(); i++) {
		if (waiting == WAIT_PUBLISH &&
		    atomic_load(&worker_get(i)->acked_gen) != waiting_gen->id)
			return;
		if (waiting == WAIT_DRAIN && !atomic_load(&worker_get(i)->acked_drain))
			return;
	}
	if (waiting == WAIT_NONE)
		return;
	done = waiting_done;
	g = waiting_gen;
	waiting = WAIT_NONE;
	waiting_gen = NULL;
	waiting_done = NULL;
	if (done)
		done(g);
}

int
workers_start(struct ev_loop *loop, unsigned n, struct gen *g)
{
	sigset_t all, old;

	main_loop = loop;
	queue_set_notifier(worker_queue_notify);
	ev_async_init(&main_wake, main_wake_cb);
	ev_async_start(loop, &main_wake);
	ev_async_init(&task_wake, task_wake_cb);
	ev_async_start(loop, &task_wake);
	worker_table_new(n);
	for (unsigned i = 0; i < n; i++) {
		struct worker *w = worker_get(i);

		w->id = i;
		w->loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
		if (w->loop == NULL) {
			log_errx("cannot create an event loop for worker %u", i);
			return -1;
		}
		w->rnd = (uint32_t)(time(NULL) ^ (uintptr_t)w ^ (i * 0x9e3779b9u));
		w->next_session_id = ((uint64_t)i << 48) + 1;
		relay_pools_init(&w->pools, BUFPOOL_KEEP, PIPEPOOL_KEEP, true);
		hupwatch_init(&w->queued_hup, w->loop, session_queue_hup);
		pthread_mutex_init(&w->lock, NULL);
		ev_async_init(&w->wake, worker_wake_cb);
		w->wake.data = w;
		ev_async_start(w->loop, &w->wake);
		worker_accept_init(w);
		ev_prepare_init(&w->fin_prep, worker_fin_cb);
		w->fin_prep.data = w;
		w->gen = gen_get(g);
		atomic_store(&w->acked_gen, g->id);
		atomic_store(&w->heartbeat, atomic_load(&heartbeat_seq));
		worker_set_listeners(w, g);
		test_stall_setup(w);
	}
	/* Signals belong to the main loop: workers start with all blocked. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (unsigned i = 0; i < n; i++) {
		int e = pthread_create(&worker_get(i)->thread, NULL, worker_main, worker_get(i));

		if (e != 0) {
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			errno = e;
			log_err("cannot start worker thread %u", i);
			/* Already running workers are stopped by the caller's
			 * exit path. */
			worker_table_shrink(i);
			return -1;
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return 0;
}

static void
worker_post(struct worker *w, struct gen *g, bool drain, bool stop)
{
	pthread_mutex_lock(&w->lock);
	if (g != NULL) {
		/* A generation not yet taken is superseded. */
		if (w->mb_gen)
			gen_put(w->mb_gen);
		w->mb_gen = gen_get(g);
	}
	w->mb_drain |= drain;
	w->mb_stop |= stop;
	pthread_mutex_unlock(&w->lock);
	ev_async_send(w->loop, &w->wake);
}

void
workers_publish(struct gen *g, workers_done_cb done)
{
	waiting = WAIT_PUBLISH;
	waiting_gen = g;
	waiting_done = done;
	for (unsigned i = 0; i < workers_count(); i++)
		worker_post(worker_get(i), g, false, false);
}

void
workers_drain(workers_done_cb done)
{
	waiting = WAIT_DRAIN;
	waiting_gen = NULL;
	waiting_done = done;
	for (unsigned i = 0; i < workers_count(); i++)
		worker_post(worker_get(i), NULL, true, false);
}

void
workers_stop(void)
{
	for (unsigned i = 0; i < workers_count(); i++)
		worker_post(worker_get(i), NULL, false, true);
	/* Every thread ends before any loop is destroyed: a worker closing
	 * a queued session may still wake another worker's loop. */
	for (unsigned i = 0; i < workers_count(); i++)
		pthread_join(worker_get(i)->thread, NULL);
	for (unsigned i = 0; i < workers_count(); i++) {
		struct worker *w = worker_get(i);

		free(w->wl);
		w->wl = NULL;
		w->nwl = 0;
		if (w->mb_gen)
			gen_put(w->mb_gen);
		gen_put(w->gen);
		session_slab_free(w);
		if (worker_dgram_ops())
			worker_dgram_ops()->destroy(w);
		relay_pools_destroy(&w->pools);
		hupwatch_destroy(&w->queued_hup, w->loop);
		ev_loop_destroy(w->loop);
		pthread_mutex_destroy(&w->lock);
	}
	worker_table_free();
	ev_async_stop(main_loop, &main_wake);
	ev_async_stop(main_loop, &task_wake);
}
