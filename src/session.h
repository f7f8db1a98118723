/*
 * session: one client connection and the server connection made for it --
 * pick, connect with retries, relay both directions, timeouts -- ending in
 * session_close(), the one teardown.
 */
#ifndef TCPLB_SESSION_H
#define TCPLB_SESSION_H

#include <sys/socket.h>

struct worker;
struct listener;
struct guard_ticket;

/* Takes ownership of fd (closed on every path) and of tk (what guard
 * reserved at accept; NULL: nothing). */
void session_start(struct worker *w, struct listener *l, int fd,
    const struct sockaddr *peer, socklen_t peerlen,
    const struct guard_ticket *tk);
/* Close every session of w with the given reason: a forced close, which
 * resets both sides of each. */
void session_close_all(struct worker *w, const char *reason);
/* w's mailbox said some of its queued sessions were woken: give each its
 * turn. */
void session_queue_wakeups(struct worker *w);
/* w switched generations: queued sessions whose listener now leads to
 * another pool's queue move there. */
void session_queue_follow(struct worker *w);
/* Free w's slab of recycled sessions. */
void session_slab_free(struct worker *w);

#endif
