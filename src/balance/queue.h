/*
 * queue: the FIFO of clients waiting for a free max_connections slot in a
 * pool (max_queue), shared by every worker.  A leaf module: it knows
 * nothing of sessions, workers or loops -- a waiter carries an opaque owner
 * (the worker to wake) and the functions that free a waiter's turn return
 * the owner the caller must notify.
 *
 * Protocol.  A waiter is either waiting (in the list) or woken (taken off
 * the head, its `woken` flag set, counted in `inflight`) until its owner
 * reports the outcome with queue_done().  A woken waiter that got a slot
 * passes the turn on to the next one (capacity often comes in bulk: a
 * reload, a server coming up); one that did not goes back to its place by
 * arrival order -- at or near the head -- so nobody overtakes it, and is
 * woken again at once if a slot freed (or a kick came) while every waiter
 * was already trying: it may have looked just before.  While anyone is
 * waiting or woken, new clients must
 * queue too (queue_busy()), so a freed slot goes to the oldest waiter
 * whichever worker freed it.
 *
 * Only touched when servers are full -- never on the relay path -- so a
 * small mutex is fine here.
 */
#ifndef TCPLB_QUEUE_H
#define TCPLB_QUEUE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct queue_waiter {
	struct queue_waiter *prev, *next;
	void *owner;			/* handed back to be notified */
	uint64_t seq;			/* arrival order */
	atomic_bool woken;		/* owner: try the pick now */
	bool queued;			/* in the list (under the lock) */
	bool inflight;			/* woken, outcome not reported yet */
};

struct pool_queue {
	atomic_int refs;
	pthread_mutex_t lock;
	struct queue_waiter *head, *tail;
	uint64_t next_seq;		/* under the lock */
	unsigned nwaiting;		/* under the lock */
	unsigned ninflight;		/* under the lock */
	bool missed;			/* under the lock: a slot freed (or a
					 * kick came) while every waiter was
					 * in flight, so nobody was woken */
	atomic_uint busy;		/* nwaiting + ninflight, read without lock */
	atomic_uint_fast64_t queued;	/* clients ever queued */
	atomic_uint_fast64_t served;	/* left the queue with a slot */
	atomic_uint_fast64_t timeouts;	/* waited queue_timeout, closed */
	atomic_uint_fast64_t full;	/* refused: max_queue reached */
	atomic_uint_fast64_t abandoned;	/* the client reset or left while queued */
};

struct pool_queue *queue_new(void);
struct pool_queue *queue_get(struct pool_queue *q);
void queue_put(struct pool_queue *q);

/* Anyone waiting or being served from the queue: a new client must not
 * take a slot ahead of them. */
static inline bool
queue_busy(struct pool_queue *q)
{
	return atomic_load_explicit(&q->busy, memory_order_acquire) > 0;
}

/* Clients waiting now (for show pools / metrics). */
unsigned queue_length(struct pool_queue *q);

/* Append w at the tail unless max clients already wait, woken ones
 * included (false: full).
 * When no waiter is being served, the head is woken at once (a slot may
 * have freed before w arrived): *notify is then the owner to notify,
 * else NULL. */
bool queue_push(struct pool_queue *q, struct queue_waiter *w, unsigned max,
    void **notify);
/* A slot came free: wake the oldest waiter (one slot, one more waiter
 * trying).  Returns its owner, or NULL if nobody waits. */
void *queue_wake(struct pool_queue *q);
/* Capacity may have appeared (a server came up, a new generation): wake
 * the oldest waiter unless one is already trying -- its success passes
 * the turn on, so waking more would only let younger waiters race it for
 * what may be a single slot.  Returns the owner to notify, or NULL. */
void *queue_kick(struct pool_queue *q);
/* The owner of a woken waiter tried the pick: got a slot (w leaves the
 * queue; the next waiter is woken, its owner returned) or not (w goes
 * back to its place in arrival order; NULL). */
void *queue_done(struct pool_queue *q, struct queue_waiter *w, bool got);
/* w leaves the queue without a slot (timeout, client gone).  If it had
 * been woken, its turn passes on: returns the owner to notify, or NULL. */
void *queue_remove(struct pool_queue *q, struct queue_waiter *w);

/* Who is notified: set once by the worker module.  queue_notify(NULL)
 * does nothing. */
void queue_set_notifier(void (*fn)(void *owner));
void queue_notify(void *owner);

#endif
