/*
 * shape: token buckets for per-connection bandwidth limits, and the one
 * timer a throttled session needs.  The bucket is charged with what was
 * actually read (relay_dir.rbytes), so nothing is counted twice or lost
 * whichever path (read, splice, an uncapped prefix read) moved the bytes.
 */
#include "autoconfig.h"

#include <string.h>

#include "relay/relay.h"
#include "relay/shape.h"

#define SHAPE_WAKEUPS_PER_S	50.0
#define SHAPE_MIN_QUANTUM	4096.0

static double
shape_quantum(const struct shape_bucket *b)
{
	double q = (double)b->rate / SHAPE_WAKEUPS_PER_S;

	if (q < SHAPE_MIN_QUANTUM)
		q = SHAPE_MIN_QUANTUM;
	if (q > (double)b->rate)
		q = (double)b->rate;
	return q;
}

void
shape_bucket_init(struct shape_bucket *b, uint64_t rate, double now)
{
	memset(b, 0, sizeof(*b));
	b->rate = rate;
	b->t = now;
	/* 20 ms worth: a first read at once, and no head start worth
	 * measuring (a quantum would be a second's worth at slow rates). */
	b->tokens = (double)rate / SHAPE_WAKEUPS_PER_S;
}

uint64_t
shape_bucket_quota(struct shape_bucket *b, double now)
{
	if (b->rate == 0)
		return UINT64_MAX;
	if (now > b->t) {
		b->tokens += (now - b->t) * (double)b->rate;
		if (b->tokens > (double)b->rate)
			b->tokens = (double)b->rate;
		b->t = now;
	}
	return b->tokens >= 1.0 ? (uint64_t)b->tokens : 0;
}

void
shape_bucket_charge(struct shape_bucket *b, uint64_t rbytes)
{
	if (rbytes > b->charged) {
		b->tokens -= (double)(rbytes - b->charged);
		b->charged = rbytes;
	}
}

double
shape_bucket_wait(const struct shape_bucket *b)
{
	double need = shape_quantum(b) - b->tokens;

	if (b->rate == 0 || need <= 0)
		return 0;
	return need / (double)b->rate;
}

static void
shape_timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct shape *sh = t->data;

	(void)loop;
	(void)revents;
	sh->wake(sh->arg);
}

void
shape_start(struct shape *sh, uint64_t upload, uint64_t download,
    double now, void (*wake)(void *), void *arg)
{
	shape_bucket_init(&sh->up, upload, now);
	shape_bucket_init(&sh->down, download, now);
	ev_init(&sh->timer, shape_timer_cb);
	sh->timer.data = sh;
	sh->wake = wake;
	sh->arg = arg;
	sh->on = upload != 0 || download != 0;
}

static void
shape_grant_dir(struct shape_bucket *b, struct relay_dir *d, double now)
{
	if (b->rate == 0)
		return;
	shape_bucket_charge(b, d->rbytes);
	d->limited = true;
	d->quota = shape_bucket_quota(b, now);
}

void
shape_grant(struct shape *sh, struct relay_dir *c2s, struct relay_dir *s2c,
    double now)
{
	if (!sh->on)
		return;
	shape_grant_dir(&sh->up, c2s, now);
	shape_grant_dir(&sh->down, s2c, now);
}

/* How long a direction must wait, or -1 if it need not.  relay_pump()
 * took what it read off d->quota; the bucket pays for every byte read,
 * capped or not. */
static double
shape_charge_dir(struct shape_bucket *b, struct relay_dir *d)
{
	if (b->rate == 0)
		return -1;
	shape_bucket_charge(b, d->rbytes);
	if (d->quota > 0 || d->eof)
		return -1;
	return shape_bucket_wait(b);
}

void
shape_charge(struct shape *sh, struct ev_loop *loop,
    struct relay_dir *c2s, struct relay_dir *s2c)
{
	double a, b, w;

	if (!sh->on)
		return;
	a = shape_charge_dir(&sh->up, c2s);
	b = shape_charge_dir(&sh->down, s2c);
	/* Already set: when it fires, the owner grants both directions
	 * and charges again, which re-arms for one still dry. */
	if ((a < 0 && b < 0) || ev_is_active(&sh->timer))
		return;
	w = a < 0 ? b : b < 0 ? a : a < b ? a : b;
	/* A millisecond at least: libev's clock has that grain, and a
	 * timer that fires "now" would only find the bucket as empty. */
	ev_timer_set(&sh->timer, w > 0.001 ? w : 0.001, 0.);
	ev_timer_start(loop, &sh->timer);
}

void
shape_stop(struct shape *sh, struct ev_loop *loop)
{
	if (sh->on)
		ev_timer_stop(loop, &sh->timer);
}
