/* Unit tests for the shared client queue (queue.c): FIFO order, the
 * max_queue bound, a woken waiter that finds no slot keeping its place,
 * turns passing on (chain after a served waiter, a woken waiter leaving),
 * and the busy flag that makes newcomers queue behind. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "balance/queue.h"

static int owners[8];

static void
test_fifo_and_full(void **state)
{
	struct pool_queue *q = queue_new();
	struct queue_waiter w[4] = { { 0 } };
	void *n;

	(void)state;
	for (int i = 0; i < 4; i++)
		w[i].owner = &owners[i];
	assert_false(queue_busy(q));
	/* The first waiter is woken at once: nobody else is trying. */
	assert_true(queue_push(q, &w[0], 3, &n));
	assert_ptr_equal(n, &owners[0]);
	assert_true(w[0].woken);
	/* It finds no slot: back to the head, keeps its place. */
	assert_null(queue_done(q, &w[0], false));
	assert_false(w[0].woken);
	assert_true(queue_push(q, &w[1], 3, &n));
	assert_ptr_equal(n, &owners[0]);	/* head re-woken: nobody in flight */
	assert_null(queue_done(q, &w[0], false));
	assert_true(queue_push(q, &w[2], 3, &n));
	assert_ptr_equal(n, &owners[0]);
	assert_null(queue_done(q, &w[0], false));
	/* max 3 waiting: the fourth is refused and counted. */
	assert_false(queue_push(q, &w[3], 3, &n));
	assert_null(n);
	assert_int_equal(q->full, 1);
	assert_int_equal(queue_length(q), 3);
	assert_true(queue_busy(q));
	/* Slots free one at a time: oldest first. */
	assert_ptr_equal(queue_wake(q), &owners[0]);
	assert_true(w[0].woken);
	assert_false(w[1].woken);
	/* Served: the turn passes to the next one. */
	assert_ptr_equal(queue_done(q, &w[0], true), &owners[1]);
	assert_true(w[1].woken);
	assert_ptr_equal(queue_done(q, &w[1], true), &owners[2]);
	assert_ptr_equal(queue_done(q, &w[2], true), NULL);
	assert_false(queue_busy(q));
	assert_int_equal(queue_length(q), 0);
	assert_int_equal(q->queued, 3);
	assert_int_equal(q->served, 3);
	queue_put(q);
}

static void
test_remove_passes_turn(void **state)
{
	struct pool_queue *q = queue_new();
	struct queue_waiter w[3] = { { 0 } };
	void *n;

	(void)state;
	for (int i = 0; i < 3; i++)
		w[i].owner = &owners[i];
	assert_true(queue_push(q, &w[0], 10, &n));
	assert_ptr_equal(n, &owners[0]);
	/* w0 is in flight: later pushes wake nobody. */
	assert_true(queue_push(q, &w[1], 10, &n));
	assert_null(n);
	assert_true(queue_push(q, &w[2], 10, &n));
	assert_null(n);
	/* A waiting (not woken) waiter leaves: nothing to pass on. */
	assert_null(queue_remove(q, &w[1]));
	assert_int_equal(queue_length(q), 1);
	/* The woken one leaves (client gone): its turn goes to w2. */
	assert_ptr_equal(queue_remove(q, &w[0]), &owners[2]);
	assert_true(w[2].woken);
	assert_true(queue_busy(q));
	assert_null(queue_remove(q, &w[2]));
	assert_false(queue_busy(q));
	/* Nobody waits: a wake finds no one. */
	assert_null(queue_wake(q));
	queue_put(q);
}

static void
test_requeue_keeps_place(void **state)
{
	struct pool_queue *q = queue_new();
	struct queue_waiter w[3] = { { 0 } };
	void *n;

	(void)state;
	for (int i = 0; i < 3; i++)
		w[i].owner = &owners[i];
	queue_push(q, &w[0], 10, &n);
	queue_done(q, &w[0], false);
	queue_push(q, &w[1], 10, &n);
	queue_done(q, &w[0], false);
	queue_push(q, &w[2], 10, &n);
	queue_done(q, &w[0], false);
	/* Two slots free at once: the two oldest are woken. */
	assert_ptr_equal(queue_wake(q), &owners[0]);
	assert_ptr_equal(queue_wake(q), &owners[1]);
	/* w1 gets a slot first (the chain wakes w2); w0 and w2 both miss
	 * and report in the "wrong" order: each goes back to its place by
	 * arrival, w0 still ahead of w2. */
	assert_ptr_equal(queue_done(q, &w[1], true), &owners[2]);
	assert_null(queue_done(q, &w[2], false));
	assert_null(queue_done(q, &w[0], false));
	assert_ptr_equal(q->head, &w[0]);
	assert_ptr_equal(q->head->next, &w[2]);
	assert_ptr_equal(q->tail, &w[2]);
	assert_int_equal(queue_length(q), 2);
	queue_remove(q, &w[0]);
	queue_remove(q, &w[2]);
	queue_put(q);
}

/* A kick (capacity of unknown size) wakes nobody while a waiter is
 * already trying: two kicks must not let a younger waiter race the
 * oldest for one slot. */
static void
test_kick(void **state)
{
	struct pool_queue *q = queue_new();
	struct queue_waiter w[2] = { { 0 } };
	void *n;

	(void)state;
	for (int i = 0; i < 2; i++)
		w[i].owner = &owners[i];
	assert_null(queue_kick(q));
	queue_push(q, &w[0], 10, &n);
	queue_done(q, &w[0], false);
	queue_push(q, &w[1], 10, &n);
	queue_done(q, &w[0], false);
	assert_ptr_equal(queue_kick(q), &owners[0]);
	assert_null(queue_done(q, &w[0], false));
	assert_ptr_equal(queue_kick(q), &owners[0]);
	assert_null(queue_kick(q));		/* w0 is trying */
	assert_false(w[1].woken);
	/* w0 misses, perhaps having looked before the second kick: it is
	 * woken again to look once more -- still w0, not w1 */
	assert_ptr_equal(queue_done(q, &w[0], false), &owners[0]);
	assert_true(w[0].woken);
	assert_false(w[1].woken);
	/* w0 gets it: the turn passes to w1 */
	assert_ptr_equal(queue_done(q, &w[0], true), &owners[1]);
	assert_null(queue_remove(q, &w[1]));
	queue_put(q);
}

/* A slot frees while the only waiter is trying (it looked before the
 * release, so it misses): nobody else can be woken, so the miss must send
 * it back to look again -- else the free slot sits unused until another
 * release or queue_timeout. */
static void
test_wake_while_trying(void **state)
{
	struct pool_queue *q = queue_new();
	struct queue_waiter w[1] = { { 0 } };
	void *n;

	(void)state;
	w[0].owner = &owners[0];
	assert_true(queue_push(q, &w[0], 10, &n));
	assert_ptr_equal(n, &owners[0]);	/* w0 trying */
	assert_null(queue_wake(q));		/* a release: nobody to wake */
	assert_ptr_equal(queue_done(q, &w[0], false), &owners[0]);
	assert_true(w[0].woken);
	/* This time it misses for real: it waits, not spins. */
	assert_null(queue_done(q, &w[0], false));
	assert_false(w[0].woken);
	assert_null(queue_remove(q, &w[0]));
	assert_false(queue_busy(q));
	queue_put(q);
}

/* A woken waiter is still a waiting client until it gets its slot:
 * max_queue counts it, or a waiter being woken on another worker lets one
 * more client in than max_queue. */
static void
test_full_counts_woken(void **state)
{
	struct pool_queue *q = queue_new();
	struct queue_waiter w[3] = { { 0 } };
	void *n;

	(void)state;
	for (int i = 0; i < 3; i++)
		w[i].owner = &owners[i];
	assert_true(queue_push(q, &w[0], 2, &n));
	assert_ptr_equal(n, &owners[0]);	/* w0 woken, trying */
	assert_true(queue_push(q, &w[1], 2, &n));
	assert_false(queue_push(q, &w[2], 2, &n));
	assert_int_equal(q->full, 1);
	assert_null(queue_done(q, &w[0], false));
	assert_false(queue_push(q, &w[2], 2, &n));
	queue_remove(q, &w[0]);
	queue_remove(q, &w[1]);
	queue_put(q);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fifo_and_full),
		cmocka_unit_test(test_remove_passes_turn),
		cmocka_unit_test(test_requeue_keeps_place),
		cmocka_unit_test(test_kick),
		cmocka_unit_test(test_wake_while_trying),
		cmocka_unit_test(test_full_counts_woken),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
