/*
 * upgrade: the binary upgrade (SIGUSR2), hitless.  The running process
 * starts the binary now installed at its own path as a new process that
 * inherits every listening socket and the servers' runtime state; once the
 * new one serves, the old one makes it the unit's main process (MAINPID=),
 * stops accepting and lets its open sessions finish within
 * shutdown_timeout.  If the new binary fails, the old one keeps serving.
 */
#ifndef TCPLB_UPGRADE_H
#define TCPLB_UPGRADE_H

#include <ev.h>
#include <stdbool.h>

#include "config/gen.h"

/* LISTEN_FDNAMES entry of the metrics socket passed to the new process. */
#define UPGRADE_FDNAME_METRICS "tcplb-metrics"

/* ---- the running (old) process ---- */

/* Remember the binary's path and arguments; handed_over() runs on the main
 * loop once the new process has taken over (the caller then drains and
 * exits). */
void upgrade_init(struct ev_loop *loop, char **argv, void (*handed_over)(void));
/* SIGUSR2: start the new binary (no-op with a log line while one is
 * starting). */
void upgrade_request(struct gen *current);
bool upgrade_in_progress(void);
/* SIGHUP while a new process starts: it may already have read the file,
 * so it is sent a SIGHUP of its own once it is the main process; this
 * process reloads only if the upgrade fails (binding a listener the new
 * process binds too would fail it).  Returns false when no upgrade is
 * under way (the caller reloads). */
bool upgrade_note_reload(void);
/* Shutting down: kill a new process still starting. */
void upgrade_cancel(void);

/* ---- the new process, started by upgrade_request() ---- */

/* Is this process the new one of a binary upgrade?  Takes its
 * environment (and detaches from sd_notify until the handover). */
bool upgrade_child_begin(void);
/* Apply the old process's server and listener state and counters to g
 * (as a reload would carry it). */
void upgrade_child_restore(struct gen *g);
/* Before the file is loaded: take over the servers added at run time. */
void upgrade_child_added(void);
/* Serving: tell the old process, wait until it has made us the main
 * process, then apply the admin changes it took meanwhile and its
 * instance drain to g.  -1: it did not (it is gone); the caller exits. */
int upgrade_child_handover(struct gen *g);
/* The old process, draining after the handover, is still running (a stop
 * waits for it within the drain deadline). */
bool upgrade_predecessor_alive(void);
/* The previous process is a tcplb from before the full handover (it
 * passed no board, and no metrics socket). */
bool upgrade_predecessor_legacy(void);
/* Pass a stop signal on to that old process (it then closes what is
 * still open within shutdown_timeout, not at systemd's final SIGKILL). */
void upgrade_signal_predecessor(int sig);

#endif
