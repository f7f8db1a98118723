/*
 * admin: the admin socket (global.admin_socket) on the main loop -- one
 * command line per connection, one answer, then close -- and the commands
 * that steer tcplb at run time: server state and weight, closing a server's
 * sessions, reload, and the instance drain a routing layer watches through
 * `check`.  Work that needs the sessions (show, shutdown) is handed to every
 * worker through its mailbox; the main loop never waits for it.
 */
#ifndef TCPLB_ADMIN_H
#define TCPLB_ADMIN_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bind PATH.PID (mode 0660) and start accepting.  Refuses when another
 * live process answers on path, unless successor (the new process of a
 * binary upgrade, whose predecessor answers there).  Returns 0, or -1
 * with err.  path itself is untouched until admin_commit(). */
int admin_start(struct ev_loop *loop, const char *path, bool successor, char *err,
    size_t errlen);
/* This process serves (started, or took over in an upgrade): rename a
 * link to our socket over path in one step. */
int admin_commit(void);
/* A failed upgrade's new process pid is gone or killed: remove the
 * PATH.PID socket file it may have left. */
void admin_remove_process(long pid);
/* PATH.PID, this process's own name for its socket (NULL: none). */
const char *admin_own_path(void);
/* Close the socket and every client (after the workers stopped). */
void admin_stop(void);
/* A binary upgrade starts (true) or ends: `reload` is refused meanwhile. */
void admin_set_upgrading(bool on);
/* A binary upgrade handed over: stopping, except that `check` and `show
 * info` answer as before while the path is still this process's. */
void admin_set_handed_over(void);
/* Commands not yet answered: clients accepted, and whether one waits in
 * the listening socket's queue.  Once handed over, a process exits only
 * at 0: closing the socket would cut a `check` that found it before the
 * new process took the path, and reset those still queued. */
unsigned admin_answering(void);
/* SIGTERM received: `show info` says stopping and `check` fails. */
void admin_set_stopping(void);
/* The instance drain (`drain`), to carry it across a binary upgrade:
 * remaining_ms -1 without a deadline; accept_off once it passed.  _set
 * needs the workers running. */
void admin_drain_get(bool *draining, int64_t *remaining_ms, bool *accept_off);
void admin_drain_set(bool draining, int64_t remaining_ms, bool accept_off);
/* "ready", "draining" or "stopping". */
const char *admin_instance_state(void);

/* The service's side of the `reload` command.  The service sits above the
 * control plane, so it lends these once at start (service/wiring.c). */
struct admin_reloader {
	bool (*has_file)(void);		/* false in quick mode */
	bool (*in_progress)(void);	/* a reload (not a DNS change) runs */
	void (*request)(void);		/* as SIGHUP */
	void (*servers_changed)(void);	/* rebuild with the added servers */
};
void admin_install(const struct admin_reloader *r);
/* Every reload's end (not a DNS change's), from the service: answers the
 * clients waiting for it.  errors: every error, one per line ("" if ok). */
void admin_reload_done(bool ok, const char *errors);

#endif
