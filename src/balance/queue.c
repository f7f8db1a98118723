/*
 * queue: the shared FIFO of clients waiting for a max_connections slot
 * (see queue.h for the protocol).  Pure list logic under one mutex; the
 * caller turns a returned owner into a wake-up (queue_notify).
 */
#include "autoconfig.h"

#include <stdlib.h>

#include "balance/queue.h"
#include "base/util.h"

static void (*queue_notifier)(void *owner);

struct pool_queue *
queue_new(void)
{
	struct pool_queue *q = xcalloc(1, sizeof(*q));

	atomic_init(&q->refs, 1);
	pthread_mutex_init(&q->lock, NULL);
	return q;
}

struct pool_queue *
queue_get(struct pool_queue *q)
{
	atomic_fetch_add_explicit(&q->refs, 1, memory_order_relaxed);
	return q;
}

void
queue_put(struct pool_queue *q)
{
	if (q == NULL)
		return;
	if (atomic_fetch_sub_explicit(&q->refs, 1, memory_order_acq_rel) == 1) {
		/* Every waiter holds a reference: the list is empty here. */
		pthread_mutex_destroy(&q->lock);
		free(q);
	}
}

unsigned
queue_length(struct pool_queue *q)
{
	unsigned n;

	pthread_mutex_lock(&q->lock);
	n = q->nwaiting;
	pthread_mutex_unlock(&q->lock);
	return n;
}

static void
queue_update_busy(struct pool_queue *q)
{
	if (q->nwaiting + q->ninflight == 0)
		q->missed = false;
	atomic_store_explicit(&q->busy, q->nwaiting + q->ninflight,
	    memory_order_release);
}

static void
queue_unlink(struct pool_queue *q, struct queue_waiter *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		q->head = w->next;
	if (w->next)
		w->next->prev = w->prev;
	else
		q->tail = w->prev;
	w->prev = w->next = NULL;
	w->queued = false;
	q->nwaiting--;
}

/* Take the head off and mark it woken; its owner, or NULL.  Locked. */
static void *
queue_wake_locked(struct pool_queue *q)
{
	struct queue_waiter *w = q->head;

	if (w == NULL)
		return NULL;
	queue_unlink(q, w);
	w->inflight = true;
	q->ninflight++;
	atomic_store_explicit(&w->woken, true, memory_order_release);
	return w->owner;
}

bool
queue_push(struct pool_queue *q, struct queue_waiter *w, unsigned max,
    void **notify)
{
	*notify = NULL;
	pthread_mutex_lock(&q->lock);
	/* Woken waiters still wait (one that misses goes back in line):
	 * they count against max_queue too. */
	if (q->nwaiting + q->ninflight >= max) {
		pthread_mutex_unlock(&q->lock);
		atomic_fetch_add_explicit(&q->full, 1, memory_order_relaxed);
		return false;
	}
	w->seq = ++q->next_seq;
	w->next = NULL;
	w->prev = q->tail;
	if (q->tail)
		q->tail->next = w;
	else
		q->head = w;
	q->tail = w;
	w->queued = true;
	w->inflight = false;
	atomic_store(&w->woken, false);
	q->nwaiting++;
	/* Nobody is trying a pick for the queue right now, so nobody would
	 * notice a slot that freed just before we got here. */
	if (q->ninflight == 0)
		*notify = queue_wake_locked(q);
	queue_update_busy(q);
	pthread_mutex_unlock(&q->lock);
	atomic_fetch_add_explicit(&q->queued, 1, memory_order_relaxed);
	return true;
}

void *
queue_wake(struct pool_queue *q)
{
	void *owner;

	pthread_mutex_lock(&q->lock);
	owner = queue_wake_locked(q);
	/* Everyone is trying already and may have looked before this slot
	 * freed: the first to miss must look again. */
	if (owner == NULL && q->ninflight > 0)
		q->missed = true;
	queue_update_busy(q);
	pthread_mutex_unlock(&q->lock);
	return owner;
}

void *
queue_kick(struct pool_queue *q)
{
	void *owner = NULL;

	pthread_mutex_lock(&q->lock);
	if (q->ninflight == 0)
		owner = queue_wake_locked(q);
	else
		q->missed = true;	/* the one trying may miss it */
	queue_update_busy(q);
	pthread_mutex_unlock(&q->lock);
	return owner;
}

void *
queue_done(struct pool_queue *q, struct queue_waiter *w, bool got)
{
	void *owner = NULL;

	pthread_mutex_lock(&q->lock);
	if (w->inflight) {
		w->inflight = false;
		q->ninflight--;
	}
	atomic_store(&w->woken, false);
	if (got) {
		owner = queue_wake_locked(q);
	} else if (!w->queued) {
		/* Back in line where it arrived: woken waiters are the
		 * oldest, so this is at or near the head.  Two woken at once
		 * that both miss must not swap places. */
		struct queue_waiter *after = NULL, *x = q->head;

		while (x != NULL && x->seq < w->seq) {
			after = x;
			x = x->next;
		}
		w->prev = after;
		w->next = x;
		if (after)
			after->next = w;
		else
			q->head = w;
		if (x)
			x->prev = w;
		else
			q->tail = w;
		w->queued = true;
		q->nwaiting++;
		/* A slot may have freed after this waiter looked, while
		 * nobody else could be woken for it: wake the oldest
		 * (perhaps w itself) to look again. */
		if (q->missed) {
			q->missed = false;
			owner = queue_wake_locked(q);
		}
	}
	queue_update_busy(q);
	pthread_mutex_unlock(&q->lock);
	if (got)
		atomic_fetch_add_explicit(&q->served, 1, memory_order_relaxed);
	return owner;
}

void *
queue_remove(struct pool_queue *q, struct queue_waiter *w)
{
	void *owner = NULL;

	pthread_mutex_lock(&q->lock);
	if (w->queued)
		queue_unlink(q, w);
	if (w->inflight) {
		/* Its wake-up may stand for a free slot: pass it on. */
		w->inflight = false;
		q->ninflight--;
		owner = queue_wake_locked(q);
		if (owner == NULL && q->ninflight > 0)
			q->missed = true;
	}
	atomic_store(&w->woken, false);
	queue_update_busy(q);
	pthread_mutex_unlock(&q->lock);
	return owner;
}

void
queue_set_notifier(void (*fn)(void *owner))
{
	queue_notifier = fn;
}

void
queue_notify(void *owner)
{
	if (owner != NULL && queue_notifier != NULL)
		queue_notifier(owner);
}
