/*
 * health: active checks of every server of every pool with a health_check
 * block -- TCP connect, optional send, optional expect -- on a thread and
 * event loop of their own, so that nothing on the main loop (metrics,
 * admin, reloads, DNS) can make a check late.  Spread over the interval,
 * each with its own socket (never one that carries traffic).  Results
 * drive server_set_up() with rise/fall.
 */
#ifndef TCPLB_HEALTH_H
#define TCPLB_HEALTH_H

#include <stddef.h>
#include <stdint.h>

#include "config/gen.h"

/* Check g's pools from now on (takes a reference on g), starting the
 * check thread on first use; -1 if it cannot be started.  Calling it again
 * replaces the previous set, so a reload just calls health_start(new): a
 * server whose state g shares with the previous generation keeps its check
 * (schedule, and a check in flight); the others are stopped.  The switch
 * happens on the check thread, at its next turn. */
int health_start(struct gen *g);
/* Stop every check and the thread, close their sockets, drop the
 * reference.  Returns once all of that is done. */
void health_stop(void);

/* The last check result of st, consistent as a whole (the checker writes
 * it from its own thread): *when_ms 0 means none yet. */
void health_last_check(const struct server_state *st, char *result,
    size_t len, int64_t *when_ms, uint32_t *took_us);

/* The operator (admin socket) sets st's admin state, or its weight
 * override (-1: the configured weight); returns the state before.  What
 * the operator sets is the operator's: an agent that had set the same
 * state no longer owns it (its `ready` will not lift it), and a reload
 * that ends the agent checks does not take it back.  Serialised with the
 * checker's agent verdicts, so neither can undo the other unseen. */
int health_admin_state(struct server_state *st, int state);
void health_admin_weight(struct server_state *st, int override);

#endif
