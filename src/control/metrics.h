/*
 * metrics: the HTTP endpoint of global.metrics on the main loop --
 * GET /metrics (Prometheus text) and GET / (the status page).  Requests are
 * bounded in size and time, answered with Connection: close.
 */
#ifndef TCPLB_METRICS_H
#define TCPLB_METRICS_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>

/* Resolve and bind addr ("ADDR:PORT").  Returns 0, or -1 with err.
 * wait_predecessor: the new process of an upgrade from a tcplb that does
 * not pass its metrics socket on; a port in use is bound later, once that
 * process lets it go. */
int metrics_start(struct ev_loop *loop, const char *addr, bool wait_predecessor,
    char *err, size_t errlen);
/* Close the listening socket and every client (those still unanswered
 * too): the process exits. */
void metrics_stop(void);
/* Binary upgrade handed over: the new process holds the listening socket
 * (and so its accept queue, which outlives our copy) and accepts alone
 * from now on; this one stops accepting and closes its copy, but answers
 * the clients it already accepted.  metrics_answering() says how many are
 * left; metrics_stop() ends them, so wait for 0 before exiting. */
void metrics_handed_over(void);
unsigned metrics_answering(void);
/* Binary upgrade, old side, just before the state the new process carries
 * is written: from now on /metrics answers with the counters as of now
 * (else a scrape answered after the handover could count past what the
 * new process carries, and the next one would go back); thaw: the
 * upgrade failed, answer live again. */
void metrics_freeze(void);
void metrics_thaw(void);
/* Binary upgrade: the previous process's metrics socket (taken by
 * metrics_start() when it is bound to the same address, else closed). */
void metrics_set_inherited(int fd);
/* The listening socket (to pass on in an upgrade), or -1. */
int metrics_fd(void);

#endif
