/*
 * service: everything systemd sees of tcplb -- sd_notify READY/RELOADING/
 * STOPPING/STATUS, the watchdog keep-alive, and the sockets passed by socket
 * activation.  All calls are harmless when not run by systemd.
 */
#ifndef TCPLB_SERVICE_H
#define TCPLB_SERVICE_H

#include <ev.h>

#include "gen.h"

/* Take the sockets systemd passed (LISTEN_FDS, logged with their
 * FileDescriptorName= and address); returns how many. */
int service_listen_fds(int **fds);

void service_ready(void);
void service_reloading(void);
void service_stopping(void);
/* STATUS= with the given text (sent now, replacing the live figures until
 * the next change). */
void service_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Live STATUS= figures for generation g, refreshed on the main loop when
 * they change (at most every two seconds), and WATCHDOG=1 at half of
 * WatchdogSec when it is set. */
void service_start_timers(struct ev_loop *loop);
void service_set_gen(struct gen *g);
void service_stop_timers(struct ev_loop *loop);

#endif
