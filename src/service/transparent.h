/*
 * transparent: the host's side of `source: client` (capability, policy
 * routes), checked at start and at every reload; see transparent.c.
 */
#ifndef TCPLB_TRANSPARENT_H
#define TCPLB_TRANSPARENT_H

#include <stddef.h>

#include "config/gen.h"

/* When g has `source: client` servers: -1 with err when this process
 * cannot make transparent sockets (neither CAP_NET_RAW nor CAP_NET_ADMIN); a warning logged
 * when no policy route brings the servers' replies back.  0 otherwise. */
int transparent_check(const struct gen *g, char *err, size_t errlen);

#endif
