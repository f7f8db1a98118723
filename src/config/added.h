/*
 * added: servers added at run time (`add server` on the admin socket) until
 * they are deleted.  Every generation built after the change -- a reload of
 * the file, a DNS change, the rebuild the change itself asks for -- gets
 * them, so they survive reloads; a pool whose file now names a server of
 * the same name keeps the file's, and the added one is dropped.  A binary
 * upgrade hands the list to the new process (upgrade.c).
 *
 * The list is written on the main thread and read by the loader thread
 * while it builds, under one mutex.  Every change bumps a version; a
 * generation records the version it was built with, so the admin socket
 * knows when a change is live.
 */
#ifndef TCPLB_ADDED_H
#define TCPLB_ADDED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/gen.h"

struct added_server {
	char *pool;
	char *name;
	char *addr;		/* IP:PORT or [IPv6]:PORT, as given */
	uint32_t weight;
	uint32_t max_conns;
	bool backup;
};

/* Copies s; returns the new version. */
uint64_t added_add(const struct added_server *s);
/* Removes POOL/NAME; returns the new version, or 0 if there was none. */
uint64_t added_del(const char *pool, const char *name);
bool added_has(const char *pool, const char *name);
/* The name of POOL's added server at ADDR (as addr_format() writes it),
 * copied into BUF; NULL when none. */
const char *added_at(const char *pool, const char *addr, char *buf,
    size_t len);
uint64_t added_version(void);
/* A copy of the list (free with added_free()). */
size_t added_list(struct added_server **out, uint64_t *version);
void added_free(struct added_server *v, size_t n);

/* Loader: append the added servers to g's pools (config_finish), holding
 * those of a pool with health checks down until a check passes.  A pool
 * that is gone, or whose servers already have that name, skips it (the
 * publisher prunes: added_prune()).  Errors (an address the pool's source
 * cannot reach, the pool's server limit) skip it with a warning in err
 * rather than failing the whole load: a file reload must not fail over an
 * added server.  Sets g->added_version. */
void added_apply(struct gen *g);
/* Main thread, g published: forget added servers g did not take (pool
 * gone, or the file now defines the name); each is logged.  Returns how
 * many. */
unsigned added_prune(const struct gen *g);

#endif
