/*
 * reload: SIGHUP.  Loads the file on a helper thread (file I/O and DNS never
 * run on a loop), then on the main loop binds what is new, publishes the
 * new generation to every worker, and only when all have switched closes the
 * sockets no longer used and restarts health checks.  One reload at a time;
 * a SIGHUP during a reload runs another one after it.
 */
#ifndef TCPLB_RELOAD_H
#define TCPLB_RELOAD_H

#include <ev.h>
#include <stdbool.h>

#include "config/gen.h"

/* path NULL: quick mode, nothing to re-read. */
void reload_init(struct ev_loop *loop, const char *path, struct gen *current);
void reload_request(void);
/* The resolver found an address set that differs from the running
 * generation's: build and publish the next generation from the same
 * source with resolve_snapshot()'s addresses, after any reload running. */
void reload_dns_request(void);
/* The servers added at run time changed (config/added.c): rebuild the
 * same way; admin_servers_swap_done() hears how it went. */
void reload_servers_request(void);
/* Command-line settings that stay in force across reloads: verbose (-v:
 * debug logging), workers (-w: 0 = auto, -1 = not given). */
void reload_set_overrides(bool verbose, int workers);
/* Shutdown began: a reload still loading is dropped when it arrives, and
 * none is started again. */
void reload_cancel(void);
/* A reload (not a DNS change) is loading or publishing. */
bool reload_in_progress(void);
/* False in quick mode (no file to re-read). */
bool reload_has_file(void);

/* Wait for a loader thread still running, drop the current generation. */
void reload_shutdown(void);

#endif
