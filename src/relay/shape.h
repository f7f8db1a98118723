/*
 * shape: per-connection bandwidth limits (a pool's `bandwidth: { upload,
 * download }`), one token bucket per direction, enforced where bytes are
 * read: relay_pump() reads at most the direction's quota (relay_dir's
 * limited/quota), on the buffered and the splice path alike.
 */
#ifndef TCPLB_SHAPE_H
#define TCPLB_SHAPE_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

struct relay_dir;

/* One direction's bucket: pure arithmetic, tested offline. */
struct shape_bucket {
	uint64_t rate;		/* bytes a second; 0: unlimited */
	double tokens;		/* may go below 0 (a read not capped: the
				 * PROXY prefix, inspection) */
	double t;		/* time of the last refill */
	uint64_t charged;	/* the direction's rbytes already paid for */
};

/* Full at one second's worth (the largest burst), and refilled only to
 * that; it starts with 20 ms worth, not full, so a transfer from the
 * start is at the rate from the first second. */
void shape_bucket_init(struct shape_bucket *b, uint64_t rate, double now);
/* Refill to now; the whole bytes that may be read now (0: wait). */
uint64_t shape_bucket_quota(struct shape_bucket *b, double now);
/* rbytes: the direction's total read so far. */
void shape_bucket_charge(struct shape_bucket *b, uint64_t rbytes);
/* Seconds from now until a quantum (1/50 s worth, at least 4 KiB or one
 * second's worth if less) is there: a throttled direction wakes at most
 * about 50 times a second. */
double shape_bucket_wait(const struct shape_bucket *b);

/* A session's shaping: both buckets and one timer, started only while a
 * direction is throttled -- a limited connection that is idle or below
 * its rate costs no timer at all. */
struct shape {
	struct shape_bucket up;		/* client -> server */
	struct shape_bucket down;	/* server -> client */
	ev_timer timer;
	bool on;
	void (*wake)(void *arg);	/* a throttled direction may read again */
	void *arg;
};

void shape_start(struct shape *sh, uint64_t upload, uint64_t download,
    double now, void (*wake)(void *), void *arg);
/* Before pumping: give each limited direction its quota. */
void shape_grant(struct shape *sh, struct relay_dir *c2s, struct relay_dir *s2c,
    double now);
/* After pumping: pay for what was read; a direction left without quota
 * starts the timer. */
void shape_charge(struct shape *sh, struct ev_loop *loop,
    struct relay_dir *c2s, struct relay_dir *s2c);
void shape_stop(struct shape *sh, struct ev_loop *loop);

#endif
