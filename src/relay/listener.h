/*
 * listener: the listening sockets.  A struct lsock is one bound address with
 * one SO_REUSEPORT socket per worker (or one socket passed by systemd,
 * shared by all workers); lsocks live in a registry owned by the main
 * thread and survive reloads while some generation still binds their
 * address, so an unchanged listener never closes its socket.  Also the
 * accept callback that turns a connection into a session.
 */
#ifndef TCPLB_LISTENER_H
#define TCPLB_LISTENER_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "base/addr.h"
#include "config/gen.h"

struct worker;

struct lsock {
	struct sockaddr_storage req;	/* as configured (port may be 0) */
	socklen_t reqlen;
	struct sockaddr_storage bound;	/* as bound */
	char text[ADDR_STRLEN];		/* bound address, for logs */
	int *fds;
	unsigned nfds;
	bool adopted;			/* socket activation: systemd's, never closed by us */
	bool dgram;			/* UDP (protocol: udp): no accept, datagrams */
	bool want_mptcp;		/* opened for `mptcp: true` (the socket is
					 * TCP when the kernel has no MPTCP) */
	bool in_use;			/* referenced by the generation being prepared */
	char *fdname;			/* FDNAME= in systemd's fd store / LISTEN_FDNAMES */
	struct lsock *next;
};

/* Sockets passed at start (LISTEN_FDS with LISTEN_FDNAMES) available for
 * adoption: from a socket unit (systemd's own, used as they are), or named
 * LISTENER_FDNAME_COMPACT... (or LISTENER_FDNAME_PREFIX...) -- tcplb's own reuseport groups handed back by
 * systemd's fd store after a restart or passed by the previous process in
 * a binary upgrade.  names may be NULL. */
#define LISTENER_FDNAME_COMPACT "tcplb-"	/* + a letter (L Z U V M N), '-', a hash */
#define LISTENER_FDNAME_PREFIX "tcplb-ls-"	/* names of tcplb <= 0.1 */
void listener_set_inherited(const int *fds, char **names, unsigned n);

/* Say which inherited sockets no listener took (after the first prepare);
 * tcplb's own unused ones are closed and removed from the fd store. */
void listener_warn_unused_inherited(void);

/* Every listening socket (and every unused socket from a socket unit) with
 * its FDNAME, for a binary upgrade: arrays owned by the caller (names
 * point into the registry; valid until the next prepare). */
unsigned listener_export(int **fds, const char ***names);

/* Point every bind of g at an lsock: reuse one bound to the same address,
 * adopt an inherited socket, or bind a new one (one per worker).  On any
 * failure, sockets bound by this call are closed, err says which address
 * and why, and -1 is returned; nothing running is touched. */
int listener_prepare(struct gen *g, unsigned nworkers, char *err, size_t errlen);
/* After every worker runs g: close the lsocks g does not use. */
void listener_commit(const struct gen *g);
/* Put every group of ours into systemd's fd store (again). */
void listener_fdstore_all(void);
/* Close the TCP listening sockets only (a drain: workers stopped
 * accepting).  UDP ones stay open until listener_close_all(): the flows
 * still open send their replies from them. */
void listener_close_streams(void);
/* Close every socket (shutdown, after workers stopped watching). */
void listener_close_all(void);

void listener_accept_cb(struct ev_loop *loop, ev_io *io, int revents);

/* Somewhere outside the process that keeps listening sockets across a
 * restart (systemd's fd store, service/service.c).  The service lends it
 * at start; until then nothing is kept. */
struct listener_keeper {
	void (*keep)(const char *name, const int *fds, unsigned n);
	void (*forget)(const char *name);
};
void listener_install_keeper(const struct listener_keeper *k);

#endif
