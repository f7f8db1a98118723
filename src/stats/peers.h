/*
 * peers: the board where the processes of one instance across binary
 * upgrades see each other.  An old process still draining after it handed
 * over publishes its PID, open sessions, total and admin path in a slot of
 * a small shared memory file (memfd) that every new process inherits; the
 * serving process reads it for `show info`, `/metrics`, the STATUS= line
 * and the global max_connections (which then counts the old process's
 * sessions too).  Each slot has one writer, its owner; readers only load.
 */
#ifndef TCPLB_PEERS_H
#define TCPLB_PEERS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define PEERS_MAX 16		/* draining processes shown at once */
#define PEERS_PATH_MAX 128

struct peer_info {
	long pid;
	unsigned active;
	uint64_t total;
	char admin[PEERS_PATH_MAX];	/* its own admin socket path, or "" */
};

/* Map the board passed by the previous process (fd >= 0), or make a new
 * one.  Never fails: without shared memory, nothing is shown. */
void peers_init(int fd);
/* The board's fd, for the next binary upgrade (-1: none). */
int peers_fd(void);
/* This process drains after an upgrade: publish (first call claims a
 * slot) or update its figures.  admin may be NULL. */
void peers_publish(unsigned active, uint64_t total, const char *admin);
/* This process is finished: free its slot. */
void peers_leave(void);
/* Re-read the board (main thread, a few times a second): the other live
 * processes into out (up to max), and their total of open sessions
 * into peers_active for the accept path.  Returns how many. */
unsigned peers_refresh(struct peer_info *out, unsigned max);
/* Sessions still open in draining predecessors, as of the last refresh. */
extern atomic_uint peers_active;

#endif
