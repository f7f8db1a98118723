/*
 * config_int: what the two halves of the configuration loader share --
 * config.c (errors, quick mode, building a generation from parsed values)
 * and config_yaml.c (walking a YAML document).  Private to them.
 */
#ifndef TCPLB_CONFIG_INT_H
#define TCPLB_CONFIG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/addr.h"
#include "config/gen.h"
#include "base/hindex.h"
#include "config/resolved.h"

#define CFG_MAX_CONNS	10000000
#define CFG_MAX_WORKERS	1024
/* What one file may cost (tcplb.yaml(5), LIMITS): each is checked as
 * early as possible and reported at FILE:LINE:COL. */
#define CFG_MAX_FILE_SIZE	(32u << 20)	/* bytes */
#define CFG_MAX_DEPTH		32		/* nested mappings and lists */
#define CFG_MAX_SERVERS		100000		/* per pool, after resolving */
/* A bind is indexed as listener << 12 | bind (config.c). */
#define CFG_MAX_BINDS		4095		/* per listener, after resolving */
#define CFG_MAX_LISTENERS	((1 << 20) - 1)
#define BALANCE_NAMES "roundrobin, leastconn, source, random, first, maglev"

/* `source:` as parsed: an address, `client` (transparent), or neither. */
struct cfg_source {
	struct addr_ip ip;		/* len 0: no address */
	bool client;			/* connect from the client's address */
};

/* Parsed values land in plain structs first (every number a uint64_t, so
 * one table-driven setter serves all keys); the gen is filled from them
 * once a section is complete. */
struct pool_opts {
	enum balance_alg alg;
	uint64_t connect_timeout_ms;
	uint64_t idle_timeout_ms;	/* CFG_UNSET: 5 m, UDP flows 30 s */
	uint64_t responses;		/* UDP: 0 = no limit */
	uint64_t retries;
	uint64_t max_fails;
	uint64_t fail_timeout_ms;
	uint64_t slow_start_ms;
	uint64_t proxy_protocol;	/* CFG_PROXY_* */
	uint64_t resolve_interval_ms;
	uint64_t resolve_max_addrs;	/* resolve_max_addresses */
	uint64_t max_queue;
	uint64_t queue_timeout_ms;	/* CFG_FOLLOW_CONNECT: connect_timeout */
	uint64_t log_interval_ms;	/* interim access-log records; 0: none */
	uint64_t bw_upload;		/* bytes/s per connection; 0: unlimited */
	uint64_t bw_download;
	bool initial_down;		/* initial_state: down */
	struct cfg_source source;
	bool mptcp;			/* connect with Multipath TCP */
	struct health_cfg health;	/* send/expect owned */
	bool on_down_shutdown;		/* on_down: shutdown_sessions */
	bool on_up_shutdown_backup;	/* on_up: shutdown_backup_sessions */
};

/* proxy_protocol as parsed: unset (inherit), v1, v2, or "none" (a server
 * turning off its pool's). */
#define CFG_PROXY_UNSET	0
#define CFG_PROXY_V1	1
#define CFG_PROXY_V2	2
#define CFG_PROXY_NONE	3
#define CFG_FOLLOW_CONNECT UINT64_MAX
#define CFG_UNSET (UINT64_MAX - 1)
/* idle_timeout when neither `defaults` nor the pool sets it: TCP
 * sessions, and UDP flows (tcplb.yaml(5) says why 30 s). */
#define CFG_IDLE_TCP_MS	(5 * 60 * 1000)
#define CFG_IDLE_UDP_MS	(30 * 1000)

/* How server addresses are found while building: the resolver's latest
 * answers (a rebuild after a DNS change), else DNS now -- through the
 * configured resolvers when there are, else the C library. */
struct config_build {
	const struct resolved_set *resolved;
	const char *resolvers;
};

struct server_opts {
	uint64_t weight;
	uint64_t max_conns;
	bool backup;
	uint64_t check_port;	/* 0: none */
	uint64_t agent_port;
	struct cfg_source source;	/* the pool's, unless the server has its own */
	bool mptcp;		/* the pool's, unless the server says */
	uint64_t proxy_protocol;	/* CFG_PROXY_*; unset: the pool's */
	bool merge;	/* an address already in the pool adds its weight (quick
			 * mode: a backend given twice gets twice the share) */
};

/* defaults: for every pool unless `defaults` or the pool says otherwise */
extern const struct pool_opts config_pool_defaults;

/* health_cfg with owned send/expect buffers. */
void config_health_copy(struct health_cfg *dst, const struct health_cfg *src);
void config_health_clear(struct health_cfg *h);
/* Enabled, interval 2s, timeout 1s, rise 2, fall 3, nothing sent. */
void config_health_defaults(struct health_cfg *h);

void config_pool_apply(struct pool *p, const struct pool_opts *o);
/* A pool's servers by name and by address while it is being built, so
 * that each duplicate check is a lookup, not a scan of the pool; and the
 * allocated sizes, grown geometrically. */
struct server_index {
	struct hindex names, addrs;
	size_t cap;		/* allocated p->servers */
	size_t ecap;		/* allocated p->entries */
};
void config_server_index_free(struct server_index *x);
bool config_pool_has_name(const struct pool *p, const struct server_index *x,
    const char *name);
bool config_pool_has_addr(const struct pool *p, const struct server_index *x,
    const struct sockaddr *sa);
/* Append one server entry: spec (an address or HOST:PORT) or, when spec
 * is NULL, the SRV name srv; then one server per address it resolves to.
 * Returns 0, or -1 with err set (nothing is added then), or
 * CONFIG_ADD_SOURCE_FAMILY with err set when o->source cannot reach it
 * (an IP literal of the other family, a name with no address of its
 * family). */
#define CONFIG_ADD_SOURCE_FAMILY (-2)
int config_pool_add_entry(struct pool *p, struct server_index *x,
    const struct addr_spec *spec, const char *srv, const char *text,
    const char *name, const struct server_opts *o,
    const struct config_build *b, char *err, size_t errlen);
/* Append the binds spec resolves to; l must already be in g.  binds
 * indexes every bind of g so far (by address).  Returns 0, or -1 with err
 * set (nothing is added then). */
int config_listener_add_binds(struct gen *g, struct hindex *binds,
    struct listener *l, const struct addr_spec *spec, const char *text,
    char *err, size_t errlen);
/* Every pool complete and error-free: build the balancing tables. */
int config_finish(struct gen *g, char *err, size_t errlen);

/* config_rebuild() of a quick-mode generation: its saved arguments again,
 * with every name's addresses from r. */
struct gen *config_quick_rebuild(const struct gen *cur,
    const struct resolved_set *r, struct config_errors *e);

#endif
