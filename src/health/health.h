/*
 * health: active checks of every server of every pool with a health_check
 * block -- TCP connect, optional send, optional expect -- on the main
 * thread's loop, spread over the interval, each with its own socket (never
 * one that carries traffic).  Results drive server_set_up() with rise/fall.
 */
#ifndef TCPLB_HEALTH_H
#define TCPLB_HEALTH_H

#include <ev.h>

#include "config/gen.h"

/* Start checking g's pools (takes a reference on g).  Calling it again
 * replaces the previous set, so a reload just calls health_start(new):
 * a server whose state g shares with the previous generation keeps its
 * check (schedule, and a check in flight); the others are stopped. */
void health_start(struct ev_loop *loop, struct gen *g);
/* Stop every check, close their sockets, drop the reference. */
void health_stop(void);

#endif
