/*
 * health: active checks of every server of every pool with a health_check
 * block -- TCP connect, optional send, optional expect -- on the main
 * thread's loop, spread over the interval, each with its own socket (never
 * one that carries traffic).  Results drive server_set_up() with rise/fall.
 */
#ifndef TCPLB_HEALTH_H
#define TCPLB_HEALTH_H

#include <ev.h>

#include "gen.h"

/* Start checking g's pools (takes a reference on g).  Calling it again
 * stops the previous set first, so a reload just calls health_start(new). */
void health_start(struct ev_loop *loop, struct gen *g);
/* Stop every check, close their sockets, drop the reference. */
void health_stop(void);

#endif
