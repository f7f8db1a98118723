/*
 * workers: the event-loop threads' lives -- start, the mailbox through
 * which the main thread hands over a generation, a drain, a stop or a task,
 * and the heartbeat the watchdog reads.  See workers.c.
 */
#ifndef TCPLB_WORKERS_H
#define TCPLB_WORKERS_H

#include <ev.h>

#include "config/gen.h"
#include "relay/worker.h"

unsigned workers_auto_count(void);
/* Create n workers on generation g (whose binds are prepared) and start
 * their threads.  main_loop receives the acks. */
int workers_start(struct ev_loop *main_loop, unsigned n, struct gen *g);

typedef void (*workers_done_cb)(struct gen *g);
/* Hand g to every worker; done(g) runs on the main loop when all have
 * switched (so the sockets the old generation used can be closed). */
void workers_publish(struct gen *g, workers_done_cb done);
/* Stop accepting on every worker; done(NULL) when all have stopped. */
void workers_drain(workers_done_cb done);
/* Close every session (reason "shutdown"), end the loops, join threads. */
void workers_stop(void);

/* Queue t (fn, done and arg set by the caller). */
void workers_run(struct worker_task *t);
/* Liveness for the watchdog: ask every worker loop to answer (through its
 * ev_async), and later check that each one did.  A loop that is blocked
 * cannot answer, so the watchdog stops being pinged. */
void workers_heartbeat_request(void);
/* Index of the first worker that has not answered the last request, or
 * -1 when all have. */
int workers_heartbeat_missing(void);

#endif
