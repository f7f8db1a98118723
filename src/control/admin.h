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

/* Bind path (mode 0660) and start accepting.  Returns 0, or -1 with err. */
int admin_start(struct ev_loop *loop, const char *path, char *err, size_t errlen);
/* Close the socket and every client (after the workers stopped). */
void admin_stop(void);
/* SIGTERM received: `show info` says stopping and `check` fails. */
void admin_set_stopping(void);
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
