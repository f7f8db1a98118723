/*
 * metrics_page: the page thread.  It owns a FIFO of requests (struct mjob),
 * the thread that renders them, and the way back to the main loop (an
 * ev_async per requesting loop, one list of finished jobs).
 *
 * The main thread takes what only it may read when the request arrives --
 * a reference on the generation, the instance state, the reload counts and
 * the DNS families -- so the page thread reads nothing but immutable
 * configuration, atomics, per-worker counters and locked queues.  When the
 * thread picks a job it also takes every other queued job of the same
 * kind: they all get the one page (the newest inputs among them), so
 * however many clients scrape at once, one render runs at a time.
 */
#include "autoconfig.h"

#include <errno.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"
#include "config/gen.h"
#include "control/admin.h"
#include "control/metrics_page.h"
#include "control/metrics_render.h"
#include "stats/stats.h"

#define MPAGE_NICE 10		/* the page thread's niceness */

struct mjob {
	struct mjob *next;
	enum mpage_kind kind;
	mpage_ready_fn fn;
	void *arg;
	bool cancelled;			/* under mp.mu */
	/* Inputs, taken on the main thread. */
	struct gen *g;
	char state[16];
	struct stats_reloads rc;
	struct sbuf dns;
	/* Output. */
	struct mpage *page;
};

static struct {
	bool running;			/* main thread */
	pthread_t thread;
	struct ev_loop *loop;		/* the requesters' loop */
	ev_async done_ev;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	bool quit;
	struct mjob *head, **tail;	/* waiting */
	struct mjob *done;		/* rendered, for the main loop */
} mp = {
	.mu = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
};

void
mpage_put(struct mpage *p)
{
	if (p && atomic_fetch_sub(&p->refs, 1) == 1) {
		sbuf_free(&p->body);
		free(p);
	}
}

static void
mjob_free(struct mjob *j)
{
	gen_put(j->g);
	sbuf_free(&j->dns);
	mpage_put(j->page);
	free(j);
}

static struct mpage *
render(const struct mjob *j)
{
	struct mpage *p = xcalloc(1, sizeof(*p));

	atomic_init(&p->refs, 1);
	if (j->kind == MPAGE_PROM)
		metrics_render_prom(&p->body, j->g, j->state, &j->rc, &j->dns);
	else
		metrics_render_html(&p->body, j->g, j->state);
	return p;
}

static void *
mpage_main(void *arg)
{
	(void)arg;
	/* Below everything else: a render is worth less than a byte of
	 * traffic, a health check or the main loop, and on a busy machine it
	 * must take longer rather than make them wait.  (Niceness is per
	 * thread on Linux; raising it needs no privilege.) */
	if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid),
	    MPAGE_NICE) != 0)
		log_debug("metrics: page thread keeps its priority: %s",
		    strerror(errno));
	pthread_mutex_lock(&mp.mu);
	for (;;) {
		struct mjob *batch = NULL, **bt = &batch, **pp, *newest = NULL;
		enum mpage_kind kind;
		struct mpage *page;

		while (!mp.quit && mp.head == NULL)
			pthread_cond_wait(&mp.cond, &mp.mu);
		if (mp.quit)
			break;
		/* Every waiting job of the first one's kind, in order; the
		 * last of them has the newest inputs. */
		kind = mp.head->kind;
		for (pp = &mp.head; *pp != NULL;) {
			struct mjob *j = *pp;

			if (j->kind != kind) {
				pp = &j->next;
				continue;
			}
			*pp = j->next;
			j->next = NULL;
			*bt = j;
			bt = &j->next;
			newest = j;
		}
		mp.tail = &mp.head;
		while (*mp.tail != NULL)
			mp.tail = &(*mp.tail)->next;
		pthread_mutex_unlock(&mp.mu);

		page = render(newest);

		pthread_mutex_lock(&mp.mu);
		for (struct mjob *j = batch; j != NULL; j = j->next) {
			atomic_fetch_add(&page->refs, 1);
			j->page = page;
		}
		*bt = mp.done;
		mp.done = batch;
		mpage_put(page);
		ev_async_send(mp.loop, &mp.done_ev);
	}
	pthread_mutex_unlock(&mp.mu);
	return NULL;
}

static void
mpage_done_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	struct mjob *list;

	(void)loop;
	(void)w;
	(void)revents;
	pthread_mutex_lock(&mp.mu);
	list = mp.done;
	mp.done = NULL;
	pthread_mutex_unlock(&mp.mu);
	while (list != NULL) {
		struct mjob *j = list;
		bool cancelled;

		list = j->next;
		pthread_mutex_lock(&mp.mu);
		cancelled = j->cancelled;
		pthread_mutex_unlock(&mp.mu);
		if (!cancelled) {
			struct mpage *p = j->page;

			j->page = NULL;
			j->fn(j->arg, p);
		}
		mjob_free(j);
	}
}

static bool
mpage_start(struct ev_loop *loop)
{
	sigset_t all, old;
	int e;

	if (mp.running)
		return true;
	mp.loop = loop;
	mp.head = NULL;
	mp.tail = &mp.head;
	mp.quit = false;
	ev_async_init(&mp.done_ev, mpage_done_cb);
	ev_async_start(loop, &mp.done_ev);
	/* Signals are the main loop's. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	e = pthread_create(&mp.thread, NULL, mpage_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e != 0) {
		static struct log_ratelimit rl = LOG_RATELIMIT_INIT(60000, 1);

		log_ratelimited(&rl, LOG_WARNING, NULL, "metrics: cannot start "
		    "the page thread (%s): rendering on the main loop",
		    strerror(e));
		ev_async_stop(loop, &mp.done_ev);
		return false;
	}
	mp.running = true;
	return true;
}

static void
mjob_inputs(struct mjob *j, enum mpage_kind kind)
{
	j->kind = kind;
	j->g = gen_get(gen_current());
	snprintf(j->state, sizeof(j->state), "%s", admin_instance_state());
	stats_reloads(&j->rc);
	if (kind == MPAGE_PROM)
		metrics_render_dns(&j->dns);
}

struct mpage *
mpage_render_now(enum mpage_kind kind)
{
	struct mjob j = { 0 };
	struct mpage *p;

	mjob_inputs(&j, kind);
	p = render(&j);
	gen_put(j.g);
	sbuf_free(&j.dns);
	return p;
}

struct mjob *
mpage_request(struct ev_loop *loop, enum mpage_kind kind, mpage_ready_fn fn,
    void *arg)
{
	struct mjob *j;

	if (!mpage_start(loop))
		return NULL;
	j = xcalloc(1, sizeof(*j));
	mjob_inputs(j, kind);
	j->fn = fn;
	j->arg = arg;
	pthread_mutex_lock(&mp.mu);
	*mp.tail = j;
	mp.tail = &j->next;
	pthread_cond_signal(&mp.cond);
	pthread_mutex_unlock(&mp.mu);
	return j;
}

void
mpage_cancel(struct mjob *j)
{
	pthread_mutex_lock(&mp.mu);
	j->cancelled = true;
	pthread_mutex_unlock(&mp.mu);
}

void
mpage_stop(void)
{
	struct mjob *j;

	if (!mp.running)
		return;
	pthread_mutex_lock(&mp.mu);
	mp.quit = true;
	pthread_cond_signal(&mp.cond);
	pthread_mutex_unlock(&mp.mu);
	pthread_join(mp.thread, NULL);
	mp.running = false;
	ev_async_stop(mp.loop, &mp.done_ev);
	/* Nobody answers these any more: their requesters are closed. */
	while ((j = mp.head) != NULL) {
		mp.head = j->next;
		mjob_free(j);
	}
	while ((j = mp.done) != NULL) {
		mp.done = j->next;
		mjob_free(j);
	}
	mp.tail = &mp.head;
}
