/*
 * metrics: the HTTP endpoint of global.metrics on the main loop --
 * GET /metrics (Prometheus text) and GET / (the status page).  Requests are
 * bounded in size and time, answered with Connection: close.
 */
#ifndef TCPLB_METRICS_H
#define TCPLB_METRICS_H

#include <ev.h>
#include <stddef.h>

/* Resolve and bind addr ("ADDR:PORT").  Returns 0, or -1 with err. */
int metrics_start(struct ev_loop *loop, const char *addr, char *err, size_t errlen);
void metrics_stop(void);

#endif
