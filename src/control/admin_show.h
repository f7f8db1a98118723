/*
 * admin_show: the answers of the admin socket's `show` commands, as text
 * (a `#` header line, then one line of space-separated fields per object)
 * or as one JSON document.  Reads the current generation and the summed
 * counters on the main thread; never touches a socket.
 */
#ifndef TCPLB_ADMIN_SHOW_H
#define TCPLB_ADMIN_SHOW_H

#include <stdbool.h>

#include "control/admin_fmt.h"
#include "config/gen.h"

struct session_snap;

void admin_show_info(struct sbuf *b, const struct gen *g, const char *state,
    bool json);
void admin_show_listeners(struct sbuf *b, const struct gen *g, bool json);
void admin_show_pools(struct sbuf *b, const struct gen *g, bool json);
/* pool: NULL for all.  The caller checked that it exists. */
/* show servers a slice at a time, so that thousands of servers never hold
 * the main loop: the head, then slices of at most max servers from the
 * cursor (*pi, *si) (start at 0, 0; *n counts the servers written), the last
 * one with the tail.  Returns true when the answer is complete. */
void admin_show_servers_head(struct sbuf *b, bool json);
bool admin_show_servers_some(struct sbuf *b, const struct gen *g,
    const char *pool, bool json, uint32_t *pi, uint32_t *si,
    unsigned long *n, unsigned max);
void admin_show_servers(struct sbuf *b, const struct gen *g, const char *pool,
    bool json);

/* `show sessions`, streamed: head, one entry at a time, tail. */
void admin_show_sessions_head(struct sbuf *b, bool json);
void admin_show_session(struct sbuf *b, const struct session_snap *e,
    bool json, bool first);
/* pause_s: the longest time one worker spent copying its sessions (JSON
 * only: "worker_pause_us"). */
void admin_show_sessions_tail(struct sbuf *b, bool json, unsigned long n,
    double pause_s);

#endif
