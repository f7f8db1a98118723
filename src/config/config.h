/*
 * config: turns a YAML file (libyaml) or quick-mode arguments into a complete
 * struct gen -- every key type- and range-checked, references and duplicates
 * checked, host names resolved -- without touching the running generation.
 * Errors are collected, not stopped at the first, each as
 * "FILE:LINE:COL: message".  May block on file I/O and DNS: never call it on
 * a worker loop.
 */
#ifndef TCPLB_CONFIG_H
#define TCPLB_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "config/gen.h"
#include "config/resolved.h"

#define CONFIG_DEFAULT_PATH SYSCONFDIR "/tcplb.yaml"

/* Errors logged at most at start and on a reload; a broken file rarely
 * needs more to be understood, and an aliased one can produce tens of
 * thousands.  --check prints every one (the node budget bounds them). */
#define CONFIG_ERRORS_SHOWN 100

struct config_errors {
	char **msg;
	size_t n;
	size_t cap;
};

void config_errors_add(struct config_errors *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void config_errors_free(struct config_errors *e);
/* Report at most max of them, then how many more: as log records at
 * priority err (to_log), or as bare lines on stderr for a person at a
 * terminal. */
void config_errors_report(const struct config_errors *e, bool to_log,
    size_t max);

/* What the loader borrows from the subsystems above it, installed once at
 * start (service/wiring.c) before anything is loaded: name lookups (dns/)
 * for SRV names and hosts under global.resolvers, and the runtime parts
 * every generation gets (balance/, edge/).  Without them (the loader's own
 * tests, the fuzzers), only other names resolve and no part is built. */
struct config_env {
	resolved_lookup_fn lookup;
	const struct gen_parts *parts;
};
void config_install(const struct config_env *env);

/* Returns a generation with refs = 1, or NULL with e->n > 0. */
struct gen *config_load_file(const char *path, struct config_errors *e);
/* Same from memory; name is used as FILE in messages. */
struct gen *config_load_mem(const char *name, const char *buf, size_t len,
    struct config_errors *e);

struct resolved_set;
/* Build the generation that follows cur after a DNS change: from cur's own
 * source (the file's text as loaded, or the quick-mode arguments -- the
 * file is not read again), with every host and SRV name's addresses taken
 * from r.  Same contract as config_load_mem(). */
struct gen *config_rebuild(const struct gen *cur, const struct resolved_set *r,
    struct config_errors *e);
/* config_load_mem() with addresses from r (may be NULL). */
struct gen *config_load_mem_resolved(const char *name, const char *buf,
    size_t len, const struct resolved_set *r, struct config_errors *e);

struct quick_opts {
	const char *listen;	/* default "127.0.0.1:0" */
	const char *balance;	/* default "roundrobin" */
	const char *workers;	/* "auto" or N */
	bool udp;		/* --udp: balance datagrams (a UDP listener) */
	char *const *backends;
	int nbackends;
};

/* Quick mode: one listener "quick" and one pool "quick".  Errors quote
 * the offending argument.  *usage is set when one of them is a usage
 * error (a malformed argument: exit 64); otherwise they are about the
 * configuration the arguments make (a host name that does not resolve:
 * exit 78). */
struct gen *config_quick(const struct quick_opts *q, struct config_errors *e,
    bool *usage);

#endif
