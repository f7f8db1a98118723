/*
 * service: everything systemd sees of tcplb -- sd_notify READY/RELOADING/
 * STOPPING/STATUS, the watchdog keep-alive, and the sockets passed by socket
 * activation.  All calls are harmless when not run by systemd.
 */
#ifndef TCPLB_SERVICE_H
#define TCPLB_SERVICE_H

#include <ev.h>

#include "config/gen.h"

/* Take the sockets systemd passed (LISTEN_FDS, logged with their
 * FileDescriptorName= / FDNAME= and address); returns how many.  *names
 * (NULL-terminated, may be NULL) is freed with service_free_names(). */
int service_listen_fds(int **fds, char ***names);
void service_free_names(char **names);

/* systemd's file-descriptor store (FileDescriptorStoreMax=): keep
 * listening sockets across a restart.  Harmless without one. */
void service_fdstore_add(const char *name, const int *fds, unsigned n);
void service_fdstore_remove(const char *name);

/* Binary upgrade: make pid the unit's main process (sent by the current
 * main process), then send nothing more: the new process speaks for the
 * unit from now on. */
void service_handover(long pid, const char *status);
/* The handover did not happen after all (the new process died after
 * saying "ready"): speak for the unit again, naming ourselves main. */
void service_reclaim(void);
/* Not the main process yet (a binary upgrade in progress): hold back every
 * notification until service_attach(). */
void service_detach(void);
void service_attach(void);

void service_ready(void);
void service_reloading(void);
/* STOPPING=1, with EXTEND_TIMEOUT_USEC= covering the drain so that
 * TimeoutStopSec= never kills a drain shutdown_timeout allows. */
void service_stopping(uint64_t drain_ms);
/* STATUS= with the given text (sent now, replacing the live figures until
 * the next change). */
void service_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Send the STATUS= line now instead of at the next refresh. */
void service_status_flush(void);

/* Live STATUS= figures for generation g, refreshed on the main loop when
 * they change (at most every two seconds), and WATCHDOG=1 at half of
 * WatchdogSec when it is set. */
void service_start_timers(struct ev_loop *loop);
void service_set_gen(struct gen *g);
void service_stop_timers(struct ev_loop *loop);

#endif
