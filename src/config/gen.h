/*
 * gen: one configuration generation -- global settings, listeners, pools and
 * servers -- built completely to the side, immutable once published, and
 * refcounted.  Every session pins the generation it started in; the last
 * gen_put() frees it.  Mutable runtime state that must outlive a generation
 * (a server's health and connection counts, a listener's connection count)
 * lives in small refcounted *_state objects that a reload hands from the old
 * generation to the new one (gen_inherit).
 *
 * The only fields written after publication are atomics (the *_state
 * counters and the pools' round-robin cursors).
 */
#ifndef TCPLB_GEN_H
#define TCPLB_GEN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "base/addr.h"
#include "parse/check_reply.h"
#include "parse/cidr.h"

#define GEN_MAGIC 0x7c9e0a51u

/* The balancing algorithms a pool may be configured with (balance/
 * implements them; the names are the file's, gen_balance_parse()). */
enum balance_alg {
	BAL_ROUNDROBIN,
	BAL_LEASTCONN,
	BAL_SOURCE,
	BAL_RANDOM,
	BAL_FIRST,
	BAL_MAGLEV,
};

struct lsock;
struct balance_data;
struct stats_srv;
struct stats_lsn;

/* Operator's state of a server (admin socket `set server ... state`):
 * ready takes traffic; drain takes no new connections but keeps open ones;
 * maint is drain plus no active health checks. */
enum server_admin {
	SRV_ADMIN_READY = 0,
	SRV_ADMIN_DRAIN = 1,
	SRV_ADMIN_MAINT = 2,
};

struct health_check;
struct tls_ctx;

/* Runtime state of one server.  A reload hands it to the new generation's
 * server at the same resolved address (gen_inherit says which one). */
struct server_state {
	atomic_int refs;
	atomic_uint active;		/* open sessions using it */
	atomic_bool up;			/* false: down (active or passive) */
	atomic_bool passive_down;	/* down because real traffic failed */
	atomic_uint fails;		/* consecutive failed connects (traffic) */
	atomic_int_fast64_t retry_at_ms;/* passive down: eligible again at (0: never by time) */
	atomic_int_fast64_t up_since_ms;/* last down->up transition, for slow start */
	atomic_uint_fast32_t ramp_seq;	/* slow-start admission sequence */
	atomic_uint passive_epoch;	/* +1 on every passive down */
	/* Passively down in a pool with checks: no check revives it before
	 * this (fail_timeout), and only checks begun after the failure
	 * count towards rise. */
	atomic_int_fast64_t rest_until_ms;
	/* The active check failed `fall` times in a row and has not passed
	 * since: a passively-down server is then not merely resting, and
	 * not a last resort (balance_pick_ex). */
	atomic_bool check_failing;
	/* Set by the admin socket, read by every pick; follows the server
	 * across reloads like everything here. */
	atomic_int admin;		/* enum server_admin */
	atomic_int weight_override;	/* -1: the configured weight */
	atomic_uint_fast32_t weight_seq;/* lowered-weight admission sequence */
	/* Active health checks: written by the check thread (health.c);
	 * atomics because the main thread reads them (upgrade hand-over)
	 * and resets them when a pool loses its check. */
	atomic_uint check_ok;		/* consecutive successes */
	atomic_uint check_fail;		/* consecutive failures */
	atomic_uint check_epoch;	/* passive_epoch last seen */
	atomic_bool check_fresh;	/* no check result yet: the first one
					 * decides (initial_state) */
	struct health_check *check;	/* its check, kept across reloads;
					 * the check thread's only */
	/* The last result: written by the check thread, read through
	 * health_last_check() (which takes the lock that keeps the three
	 * consistent). */
	int64_t last_check_ms;		/* wall clock of the last result; 0: none */
	uint32_t last_check_us;		/* how long it took */
	char last_check[96];		/* "ok" or why it failed, in words */
	/* Failed checks by reason (enum check_reason, health/check.h) and
	 * the total time checks took: written by the checker, read by
	 * metrics. */
	atomic_uint_fast64_t check_failures[16];
	atomic_uint_fast64_t checks;
	atomic_uint_fast64_t check_us_sum;
	/* The admin state the agent set (SRV_ADMIN_DRAIN or _MAINT; 0:
	 * none): the agent changes the state only from ready or from what
	 * it set itself, never an operator's, and its checks go on in a
	 * maint of its own.  agent_weight: weight_override is the agent's
	 * N%, not the operator's.  Written under health's admin lock (the
	 * checker's verdicts, the operator's commands), read anywhere. */
	atomic_int agent_admin;
	atomic_bool agent_weight;
	/* on_down ran for the current down spell (the checker's). */
	bool on_down_done;
	/* Counters, one cache-line-aligned block per worker (stats.h):
	 * written only by that worker, summed at scrape time.  carried:
	 * what a previous process counted (binary upgrade): every field of
	 * struct stats_srv_sum, in order (NULL: nothing); set once before
	 * the generation is published. */
	struct stats_srv *ws;
	uint64_t *carried;
};

enum health_type {
	HEALTH_TCP = 0,		/* connect, optional send/expect */
	HEALTH_HTTP,
	HEALTH_TLS,
	HEALTH_AGENT,		/* HAProxy agent-check text on agent_port */
};

struct health_cfg {
	bool enabled;
	uint64_t interval_ms;
	uint64_t timeout_ms;
	unsigned rise;
	unsigned fall;
	char *send;		/* may contain NULs: use send_len */
	size_t send_len;
	char *expect;
	size_t expect_len;
	bool send_proxy;	/* PROXY header (v2 LOCAL / v1 UNKNOWN) first */
	enum health_type type;
	uint16_t port;		/* 0: the server's check_port, else its own */
	/* http */
	char *method;		/* default GET */
	char *path;		/* default / */
	char *host;		/* Host: header, TLS SNI; NULL: none */
	struct status_set expect_status;	/* default 200-399 */
	/* tls: NULL ca file = no verification; ctx loaded with the file */
	char *verify;
	struct tls_ctx *tls;
};

struct pool;
struct pool_queue;

/* Runtime state of a pool that outlives generations: its own totals.  A
 * reload hands it to the new pool of the same name (gen_inherit), so the
 * pool's counters never go down when servers leave it -- a reload, a DNS
 * change -- as a sum over the current servers would. */
struct pool_state {
	atomic_int refs;
	struct stats_srv *ws;		/* per-worker blocks (stats.h) */
	uint64_t *carried;		/* as in server_state */
};

/* Where a pool's servers come from: one entry per item of `servers:`.
 * Entries given by a host name or an SRV name are re-resolved (resolve.c)
 * and may expand to any number of servers, each remembering its entry. */
enum server_entry_kind {
	SE_ADDR,			/* IP literal: never re-resolved */
	SE_HOST,			/* HOSTNAME:PORT */
	SE_SRV,				/* { srv: NAME } */
};

struct server_entry {
	enum server_entry_kind kind;
	char *name;			/* the servers' name */
	char *host;			/* host name, or the SRV name */
	uint16_t port;			/* SE_ADDR, SE_HOST */
	bool added;			/* by the admin socket (config/added.c) */
};

struct server {
	char *name;			/* `name:` or the address as written */
	char *addr_text;		/* resolved "ip:port" */
	struct sockaddr_storage addr;
	socklen_t addrlen;
	uint32_t weight;		/* 0: no new connections */
	uint32_t max_conns;		/* 0: unlimited */
	bool backup;
	uint16_t check_port;		/* health checks go here (0: see pool) */
	uint16_t agent_port;		/* agent checks go here (0: see pool) */
	uint8_t proxy_protocol;		/* enum proxy_version: the server's own,
					 * else the pool's (resolved at load) */
	uint32_t index;			/* position in pool->servers */
	uint32_t entry;			/* position in pool->entries */
	struct addr_ip source;		/* connect from here (len 0: any) */
	bool source_client;		/* `source: client`: from the client's
					 * own address and port (transparent) */
	bool mptcp;			/* connect with Multipath TCP */
	bool adopted;			/* st came from the previous generation */
	struct pool *pool;
	struct server_state *st;
};

struct pool {
	char *name;
	enum balance_alg alg;
	uint64_t connect_timeout_ms;
	uint64_t idle_timeout_ms;
	unsigned retries;
	unsigned max_fails;		/* passive: 0 disables */
	uint64_t fail_timeout_ms;	/* passive: how long a failed server rests */
	uint64_t slow_start_ms;		/* weight ramp after down->up; 0 = none */
	uint8_t proxy_protocol;		/* enum proxy_version sent to servers */
	bool initial_down;		/* initial_state: down (with checks) */
	struct addr_ip source;		/* servers' default `source:` */
	bool source_client;		/* servers' default `source: client` */
	bool mptcp;			/* servers' default `mptcp:` */
	struct health_cfg health;
	bool on_down_shutdown;		/* on_down: shutdown_sessions */
	bool on_up_shutdown_backup;	/* on_up: shutdown_backup_sessions */
	uint64_t resolve_interval_ms;	/* re-resolve host/SRV names; 0: never */
	uint32_t resolve_max_addrs;	/* addresses one entry may expand to */
	uint32_t max_queue;		/* clients waiting for a slot; 0: none */
	uint64_t queue_timeout_ms;
	uint64_t log_interval_ms;	/* interim access-log records; 0: none */
	uint64_t bw_upload;		/* bytes/s per connection, client to
					 * server; 0: unlimited */
	uint64_t bw_download;		/* server to client */
	struct pool *mirror;		/* shadow pool (same generation); NULL */
	uint32_t mirror_percent;	/* of connections, 1-100 */
	struct pool_queue *queue;	/* a part (balance/queue): follows the
					 * pool across generations */
	struct pool_state *st;		/* its totals: follow the pool too */
	struct server_entry *entries;
	uint32_t nentries;
	struct server *servers;
	uint32_t nservers;
	/* Datagram flows (dgram/): a pool serves TCP or UDP listeners,
	 * never both (config_yaml.c). */
	bool udp;			/* used by `protocol: udp` listeners */
	uint64_t flow_idle_ms;		/* idle_timeout for flows (30 s default) */
	uint32_t responses;		/* per client datagram, ending a flow; 0: no limit */
	struct balance_data *bal;	/* schedule / hash ring (a part, balance/) */
	atomic_uint rr_next;		/* shared round-robin cursor */
};

struct listener_state {
	atomic_int refs;
	atomic_uint active;
	struct stats_lsn *ws;		/* per-worker counters (stats.h) */
	uint64_t *carried;		/* as in server_state (stats_lsn_sum) */
};

struct bind {
	char *text;			/* as written */
	struct sockaddr_storage addr;
	socklen_t addrlen;
	struct lsock *ls;		/* set by listener_prepare() */
};

struct guard_tables;

#define LISTENER_INSPECT_TIMEOUT_MS 3000

struct route;

struct listener {
	char *name;
	bool udp;			/* protocol: udp -- datagram flows (dgram/) */
	struct pool *pool;		/* NULL only with routes: no match closes */
	uint32_t max_conns;		/* 0: unlimited */
	struct bind *binds;
	uint32_t nbinds;
	bool st_adopted;		/* st came from the previous generation */
	struct listener_state *st;
	/* Inspection stage (inspect.c). */
	uint64_t inspect_timeout_ms;
	bool accept_proxy;		/* read a PROXY header first */
	bool mptcp;			/* accept Multipath TCP (and TCP) */
	struct cidr_set trusted;	/* peers allowed to send one */
	/* Access control and limits (guard.c). */
	struct cidr_set allow;		/* empty: everyone not denied */
	struct cidr_set deny;
	uint32_t max_conns_per_source;	/* 0: unlimited */
	uint32_t rate_per_source;	/* new connections/s; 0: unlimited */
	uint32_t rate_total;
	uint32_t rate_burst;		/* 0: the rate itself */
	struct guard_tables *guard;	/* a part (edge/guard): shared counters,
					 * NULL when no limit */
	/* Routing by TLS server name / ALPN (route.c), first match wins. */
	struct route *routes;
	uint32_t nroutes;
};

struct global_cfg {
	unsigned workers;		/* 0: one per CPU */
	uint32_t max_conns;		/* all listeners; 0: unlimited */
	uint64_t shutdown_timeout_ms;
	/* How long an old process drains after a binary upgrade handed
	 * over; UINT64_MAX: until its last session ends (the default, as
	 * HAProxy and nginx do). */
	uint64_t upgrade_timeout_ms;
	int log_level;
	bool access_log;
	char *admin_socket;		/* unix socket path; NULL: none */
	char *metrics;			/* "ADDR:PORT" as written; NULL: none */
	/* Who may connect to it (global.metrics as a mapping); these, unlike
	 * the address, apply at every reload. */
	struct cidr_set metrics_allow;	/* empty: everyone not denied */
	struct cidr_set metrics_deny;
	uint32_t metrics_max_per_source;
	char *resolvers;		/* "ip:port,..." for c-ares; NULL: resolv.conf */
};

/* The runtime parts that subsystems above config hang on a generation: a
 * pool's balancing tables and wait queue, a listener's limit tables.
 * config sits below those subsystems, so it builds, hands on and frees the
 * parts only through this table, given once (config_install) by the layer
 * that links them all.  A generation keeps the table it was built with, so
 * it is always freed by the functions that built it. */
struct gen;

struct gen_parts {
	/* Build every pool's and listener's parts of a complete generation;
	 * -1 with err (a limit on table sizes) fails the load. */
	int (*build)(struct gen *g, char *err, size_t errlen);
	/* A reload matched np to op (same name): np takes over what must
	 * outlive a generation (the wait queue), likewise for listeners
	 * (the limit tables, when their shape is unchanged). */
	void (*pool_follow)(struct pool *np, const struct pool *op);
	void (*listener_follow)(struct listener *nl, const struct listener *ol);
	void (*pool_free)(struct pool *p);
	void (*listener_free)(struct listener *l);
};

struct gen {
	unsigned magic;
	const struct gen_parts *parts;	/* NULL: built without parts */
	atomic_int refs;
	unsigned id;			/* 1, 2, ... in publication order */
	char *source;			/* file path, or "command line" */
	/* What this generation was built from, so that a DNS change can
	 * build the next one from the same text without re-reading the
	 * file: the YAML bytes, or the quick-mode arguments (NUL-separated,
	 * see config_rebuild()). */
	char *text;
	size_t textlen;
	bool quick;
	struct global_cfg global;
	struct listener *listeners;
	uint32_t nlisteners;
	struct pool *pools;
	uint32_t npools;
	/* The version of the servers added at run time (config/added.c)
	 * this generation was built with. */
	uint64_t added_version;
};

/* Where a server comes from: "file", "dns" (a host or SRV name, however
 * it was written) or "admin" (`add server`). */
const char *gen_server_origin(const struct server *s);

/* An empty generation with defaults and refs = 1. */
struct gen *gen_new(const char *source);
struct gen *gen_get(struct gen *g);
void gen_put(struct gen *g);

/* The published generation, as the main thread sees it: the service sets
 * it when a generation is published; the control plane and the resolver
 * read it (main thread only; no reference is taken). */
struct gen *gen_current(void);
void gen_set_current(struct gen *g);

/* Algorithm names as the file spells them. */
int gen_balance_parse(const char *s, enum balance_alg *out);
const char *gen_balance_name(enum balance_alg alg);
/* health_check.type as the file spells it. */
const char *gen_health_type_name(enum health_type t);

struct pool *gen_find_pool(const struct gen *g, const char *name);
struct listener *gen_find_listener(const struct gen *g, const char *name);

struct server_state *server_state_new(void);
struct server_state *server_state_get(struct server_state *st);
void server_state_put(struct server_state *st);
struct pool_state *pool_state_new(void);
struct pool_state *pool_state_get(struct pool_state *st);
void pool_state_put(struct pool_state *st);
struct listener_state *listener_state_new(void);
struct listener_state *listener_state_get(struct listener_state *st);
void listener_state_put(struct listener_state *st);

/* Share runtime state from old with new: each old server's state goes to
 * at most one new server at the same resolved address -- preferably in a
 * pool of the same name, else with the same server name, else the first
 * in file order -- and each old listener's to the new listener of the same
 * name, else to the first that binds one of its addresses.  Only new's
 * pointers and refcounts change, nothing old's sessions or checks see: a
 * reload that fails afterwards just drops new.  old may be NULL. */
void gen_inherit(struct gen *new, const struct gen *old);
/* The reload is committed (new will be published): settle the list of
 * states that servers removed by earlier reloads still hold.  The first
 * mutation of shared state a reload makes; what adopting a state means
 * in the new pool is balance/'s (pool_adopt_commit), done right after. */
void gen_adopt_commit(struct gen *new);

/* The weight picks use now: the admin override, else the configured one. */
static inline uint32_t
server_weight(const struct server *s)
{
	int w = atomic_load_explicit(&s->st->weight_override,
	    memory_order_relaxed);

	return w >= 0 ? (uint32_t)w : s->weight;
}

/* May s take a new connection now (health, weight, passive rest, backup
 * handled by the caller)?  Used by balance_pick(). */
static inline bool
server_available(const struct server *s, int64_t now_ms)
{
	const struct server_state *st = s->st;
	int64_t retry;

	/* drain and maint: open sessions go on, new ones go elsewhere. */
	if (atomic_load_explicit(&st->admin, memory_order_relaxed) !=
	    SRV_ADMIN_READY)
		return false;
	if (atomic_load_explicit(&st->up, memory_order_acquire))
		return true;
	if (!atomic_load_explicit(&st->passive_down, memory_order_acquire))
		return false;
	/* Passively down: it rests until retry_at, then one trial connect
	 * decides (pool_pick claims the trial).  0 means only an active
	 * check may bring it back. */
	retry = atomic_load_explicit(&st->retry_at_ms, memory_order_acquire);
	return retry != 0 && now_ms >= retry;
}

/* The admin weight override ov (-1: none) as it may stand for s: -1 when
 * it is s's configured weight, or one that s's pool cannot apply since a
 * reload changed the configured weight (roundrobin and random only lower
 * a weight; source and maglev know 0 and the configured one). */
static inline int
server_override_fit(const struct server *s, int ov)
{
	enum balance_alg alg = s->pool ? s->pool->alg : BAL_ROUNDROBIN;

	if (ov < 0 || (uint32_t)ov == s->weight)
		return -1;
	if ((alg == BAL_ROUNDROBIN || alg == BAL_RANDOM) &&
	    (uint32_t)ov > s->weight)
		return -1;
	if ((alg == BAL_SOURCE || alg == BAL_MAGLEV) && ov != 0)
		return -1;
	return ov;
}

/* Totals for STATUS= lines. */
void gen_count_servers(const struct gen *g, unsigned *up, unsigned *total);

#endif
