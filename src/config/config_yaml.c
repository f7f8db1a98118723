/*
 * config_yaml: the YAML half of the configuration loader -- the schema
 * (which keys exist, their types, ranges and defaults) and the walk over
 * libyaml's document tree that applies it.  Every node keeps its mark, so
 * every problem is reported as "FILE:LINE:COL: path.to.key: message"; the
 * walk goes on after an error so that --check shows them all, sorted into
 * file order.  Building the generation from parsed values is config.c's.
 */
#include "autoconfig.h"

#include "config/config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <stddef.h>
#include <yaml.h>

#include "base/addr.h"
#include "parse/cidr.h"
#include "config/config_int.h"
#include "parse/byterate.h"
#include "base/duration.h"
#include "config/gen.h"
#include "base/log.h"
#include "config/resolved.h"
#include "parse/route.h"
#include "base/util.h"
#include "tls/tls.h"

/* Aliases let a small file name the same subtree many times; bound the
 * walk so a hostile file cannot make --check run for hours. */
#define CFG_NODE_BUDGET	200000
/* sizeof(((struct sockaddr_un *)0)->sun_path) on Linux. */
#define CFG_UNIX_PATH_MAX	108
/* admin_socket is bound as PATH.PID first (PID up to 7 digits) and linked
 * through PATH.PID.new (admin.c): room for ".NNNNNNN.new". */
#define CFG_ADMIN_SUFFIX	12

/* Option sets of the sections only YAML has: plain values, copied into
 * the gen once the section is done. */
struct global_opts {
	uint64_t workers;		/* 0: auto */
	uint64_t max_conns;
	uint64_t shutdown_timeout_ms;
	uint64_t upgrade_timeout_ms;
	int log_level;
	bool access_log;
};

struct health_opts {
	uint64_t interval_ms;
	uint64_t timeout_ms;
	uint64_t rise;
	uint64_t fall;
	bool send_proxy;
	uint64_t port;
};

struct listener_opts {
	uint64_t max_conns;
	uint64_t inspect_timeout_ms;
	bool accept_proxy;
	uint64_t max_conns_per_source;
	bool mptcp;
};

struct metrics_opts {
	uint64_t max_per_source;
};

struct rate_opts {
	uint64_t per_source;
	uint64_t total;
	uint64_t burst;
};

#define CFG_MAX_RATE	10000000

/* ---- YAML walking ------------------------------------------------------ */

/* Sections are walked in dependency order, not file order; errors wait
 * here to be sorted by position so --check reads top to bottom. */
struct cfg_error {
	size_t line, col, seq;
	char *msg;
};

struct cfg {
	const char *file;
	struct config_errors *e;
	yaml_document_t *doc;
	struct gen *g;
	long budget;
	bool budget_reported;
	struct pool_opts defaults;
	struct config_build build;	/* resolvers, a rebuild's addresses */
	struct cfg_error *errs;
	size_t nerrs, errcap;
	/* For mapping node id m, pair j: the earlier pair with the same key,
	 * or -1 -- computed once per document so that duplicate keys cost a
	 * lookup, not a scan of the mapping (cfg_key_dups). */
	size_t *pair_off;	/* by node id */
	int32_t *pair_dup;
	struct hindex pools;	/* pool name -> index in g->pools */
	/* mirror: of pool i, resolved once every pool is known */
	const yaml_node_t **mirror_val, **mirror_key;
	struct hindex binds;	/* every bind so far (config.c) */
	/* The first listener using each pool (by index), and whether it is
	 * a UDP one: a pool serves one protocol. */
	const char **pool_user;
	bool *pool_user_udp;
};

static void cfg_err(struct cfg *c, const yaml_node_t *n, const char *path,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
cfg_err(struct cfg *c, const yaml_node_t *n, const char *path,
    const char *fmt, ...)
{
	va_list ap;
	char msg[768];
	size_t line = 1, col = 1;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n != NULL) {
		line = n->start_mark.line + 1;
		col = n->start_mark.column + 1;
	}
	if (c->nerrs == c->errcap) {
		c->errcap = c->errcap ? c->errcap * 2 : 16;
		c->errs = xrealloc(c->errs, c->errcap * sizeof(*c->errs));
	}
	c->errs[c->nerrs].line = line;
	c->errs[c->nerrs].col = col;
	c->errs[c->nerrs].seq = c->nerrs;
	if (path != NULL && *path != '\0')
		c->errs[c->nerrs].msg = xasprintf("%s:%zu:%zu: %s: %s",
		    c->file, line, col, path, msg);
	else
		c->errs[c->nerrs].msg = xasprintf("%s:%zu:%zu: %s", c->file,
		    line, col, msg);
	c->nerrs++;
}

static int
cfg_error_cmp(const void *a, const void *b)
{
	const struct cfg_error *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->col != y->col)
		return x->col < y->col ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Hand the collected errors over, in file order. */
static void
cfg_flush_errors(struct cfg *c)
{
	if (c->nerrs == 0)
		return;
	qsort(c->errs, c->nerrs, sizeof(*c->errs), cfg_error_cmp);
	for (size_t i = 0; i < c->nerrs; i++) {
		config_errors_add(c->e, "%s", c->errs[i].msg);
		free(c->errs[i].msg);
	}
	free(c->errs);
	c->errs = NULL;
	c->nerrs = c->errcap = 0;
}

/* Key paths for messages ("pools.web.servers[2].address"); a truncated
 * path in a message is harmless, so no caller checks. */
static void cfg_path(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
cfg_path(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

/* Visiting a node costs one unit of budget; false once it is spent. */
static bool
cfg_visit(struct cfg *c, const yaml_node_t *n)
{
	if (--c->budget >= 0)
		return true;
	if (!c->budget_reported)
		cfg_err(c, n, NULL, "document too large (aliases expand to "
		    "more than %d nodes)", CFG_NODE_BUDGET);
	c->budget_reported = true;
	return false;
}

static size_t
map_size(const yaml_node_t *map)
{
	return (size_t)(map->data.mapping.pairs.top -
	    map->data.mapping.pairs.start);
}

static yaml_node_t *
cfg_node(struct cfg *c, int id)
{
	return yaml_document_get_node(c->doc, id);
}

static const char *
node_kind(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_MAPPING_NODE:
		return "a mapping";
	case YAML_SEQUENCE_NODE:
		return "a list";
	default:
		return "a scalar";
	}
}

static const char *
node_str(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

/* A "\0" escape in a double-quoted scalar: node_str() would silently cut
 * the text there ("p\0junk" naming pool "p"). */
static bool
node_has_nul(const yaml_node_t *n)
{
	return n->type == YAML_SCALAR_NODE &&
	    strlen(node_str(n)) != n->data.scalar.length;
}

static bool
node_is_null(const yaml_node_t *n)
{
	const char *s;

	if (n->type != YAML_SCALAR_NODE ||
	    n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	s = node_str(n);
	return *s == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
	    strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

/* A scalar value, or NULL after reporting why not.  key locates the
 * error for an empty value, which libyaml marks after the colon. */
static const char *
cfg_scalar(struct cfg *c, const yaml_node_t *key, const yaml_node_t *val,
    const char *path, const char *what)
{
	if (node_is_null(val)) {
		cfg_err(c, key ? key : val, path, "missing value (expected %s)",
		    what);
		return NULL;
	}
	if (val->type != YAML_SCALAR_NODE) {
		cfg_err(c, val, path, "expected %s, got %s", what,
		    node_kind(val));
		return NULL;
	}
	if (node_has_nul(val)) {
		cfg_err(c, val, path, "NUL character (\\0) in %s", what);
		return NULL;
	}
	return node_str(val);
}

/* key, when known, locates the error for an empty value. */
static bool
cfg_is_map(struct cfg *c, const yaml_node_t *key, const yaml_node_t *val,
    const char *path)
{
	if (val->type == YAML_MAPPING_NODE)
		return true;
	if (node_is_null(val))
		cfg_err(c, key ? key : val, path, "expected a mapping, got "
		    "nothing");
	else
		cfg_err(c, val, path, "expected a mapping, got %s",
		    node_kind(val));
	return false;
}

/* Sections whose keys all have defaults may be left empty ("global:"
 * with every line commented out). */
static bool
cfg_is_section(struct cfg *c, const yaml_node_t *val, const char *path)
{
	return !node_is_null(val) && cfg_is_map(c, NULL, val, path);
}

static int
cfg_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on" };
	static const char *const no[] = { "false", "no", "off" };

	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

/* For every mapping in the document, which pairs repeat an earlier
 * scalar key.  One hash index, cleared per mapping: linear in the size of
 * the document however wide a mapping is (aliases do not add nodes). */
static void
cfg_key_dups(struct cfg *c)
{
	yaml_document_t *doc = c->doc;
	size_t nnodes = (size_t)(doc->nodes.top - doc->nodes.start), total = 0;
	struct hindex h;

	c->pair_off = xcalloc(nnodes + 1, sizeof(*c->pair_off));
	for (size_t id = 1; id <= nnodes; id++) {
		const yaml_node_t *m = &doc->nodes.start[id - 1];

		c->pair_off[id] = total;
		if (m->type == YAML_MAPPING_NODE)
			total += map_size(m);
	}
	c->pair_dup = xmalloc((total ? total : 1) * sizeof(*c->pair_dup));
	hindex_init(&h);
	for (size_t id = 1; id <= nnodes; id++) {
		const yaml_node_t *m = &doc->nodes.start[id - 1];
		int32_t *dup = c->pair_dup + c->pair_off[id];
		size_t n;

		if (m->type != YAML_MAPPING_NODE)
			continue;
		n = map_size(m);
		hindex_clear(&h);
		for (size_t j = 0; j < n; j++) {
			const yaml_node_t *k = cfg_node(c,
			    m->data.mapping.pairs.start[j].key);
			uint64_t hash;
			size_t cur = 0;
			uint32_t i;

			dup[j] = -1;
			if (k == NULL || k->type != YAML_SCALAR_NODE)
				continue;
			hash = hindex_hash(k->data.scalar.value,
			    k->data.scalar.length);
			while ((i = hindex_next(&h, hash, &cur)) != HINDEX_NONE) {
				const yaml_node_t *prev = cfg_node(c,
				    m->data.mapping.pairs.start[i].key);

				if (prev->data.scalar.length ==
				    k->data.scalar.length &&
				    memcmp(prev->data.scalar.value,
				    k->data.scalar.value,
				    k->data.scalar.length) == 0) {
					dup[j] = (int32_t)i;
					break;
				}
			}
			if (dup[j] < 0)
				hindex_add(&h, hash, (uint32_t)j);
		}
	}
	hindex_free(&h);
}

/*
 * The key of one mapping pair, or NULL when the pair is to be skipped: a
 * key that is not a scalar, or one already seen in this mapping (libyaml
 * keeps both, and silently taking either would hide a mistake).
 */
static const char *
cfg_key(struct cfg *c, const yaml_node_t *map, const yaml_node_pair_t *pair,
    const char *path)
{
	const yaml_node_t *k = cfg_node(c, pair->key);
	char sub[512];

	if (!cfg_visit(c, k))
		return NULL;
	if (k->type != YAML_SCALAR_NODE) {
		cfg_err(c, k, path, "expected a key name, got %s",
		    node_kind(k));
		return NULL;
	}
	if (node_has_nul(k)) {
		cfg_err(c, k, path, "NUL character (\\0) in a key name");
		return NULL;
	}
	{
		size_t id = (size_t)(map - c->doc->nodes.start) + 1;
		int32_t d = c->pair_dup[c->pair_off[id] +
		    (size_t)(pair - map->data.mapping.pairs.start)];

		if (d >= 0) {
			const yaml_node_t *prev = cfg_node(c,
			    map->data.mapping.pairs.start[d].key);

			cfg_path(sub, sizeof(sub), "%s%s%s", path,
			    *path ? "." : "", node_str(k));
			cfg_err(c, k, sub, "duplicate key (first at %zu:%zu)",
			    prev->start_mark.line + 1,
			    prev->start_mark.column + 1);
			return NULL;
		}
	}
	return node_str(k);
}

#define MAP_FOREACH(map, pair)						\
	for (yaml_node_pair_t *pair = (map)->data.mapping.pairs.start;	\
	    pair < (map)->data.mapping.pairs.top; pair++)
#define SEQ_FOREACH(seq, item)						\
	for (yaml_node_item_t *item = (seq)->data.sequence.items.start;	\
	    item < (seq)->data.sequence.items.top; item++)

/* ---- the schema --------------------------------------------------------
 * Plain keys are described by a table; keys with structure (bind, servers,
 * health_check, send/expect) are handled by their section's walker, which
 * names them in its `extra` list for the unknown-key message. */

enum cfg_type {
	CT_UINT,	/* uint64_t, min..max */
	CT_DURATION,	/* uint64_t ms, min..max */
	CT_INTERVAL,	/* uint64_t ms, 0 (off) or min..max */
	CT_BYTERATE,	/* uint64_t bytes/s: "10MB/s", min..max */
	CT_DURATION_UNL,	/* as CT_DURATION, or "unlimited" (UINT64_MAX) */
	CT_BOOL,	/* bool */
	CT_BALANCE,	/* enum balance_alg */
	CT_LOGLEVEL,	/* int */
	CT_WORKERS,	/* uint64_t: "auto" = 0, or min..max */
	CT_SOURCE,	/* struct cfg_source: an IP address or `client` */
	CT_PROXYVER,	/* uint64_t CFG_PROXY_*: v1, v2, none */
	CT_RATE,	/* uint64_t: "N/s", min..max */
};

struct cfg_keydef {
	const char *name;
	enum cfg_type type;
	size_t off;
	uint64_t min, max;
};

#define KEY(st, name, type, field, min, max) \
	{ name, type, offsetof(struct st, field), min, max }

static const struct cfg_keydef global_keys[] = {
	KEY(global_opts, "workers", CT_WORKERS, workers, 1, CFG_MAX_WORKERS),
	KEY(global_opts, "max_connections", CT_UINT, max_conns, 0,
	    CFG_MAX_CONNS),
	KEY(global_opts, "shutdown_timeout", CT_DURATION, shutdown_timeout_ms,
	    0, DURATION_MAX_MS),
	KEY(global_opts, "upgrade_timeout", CT_DURATION_UNL, upgrade_timeout_ms,
	    0, DURATION_MAX_MS),
	KEY(global_opts, "log_level", CT_LOGLEVEL, log_level, 0, 0),
	KEY(global_opts, "access_log", CT_BOOL, access_log, 0, 0),
	{ NULL, 0, 0, 0, 0 }
};

static const struct cfg_keydef pool_keys[] = {
	KEY(pool_opts, "balance", CT_BALANCE, alg, 0, 0),
	KEY(pool_opts, "connect_timeout", CT_DURATION, connect_timeout_ms, 1,
	    DURATION_MAX_MS),
	KEY(pool_opts, "idle_timeout", CT_DURATION, idle_timeout_ms, 1,
	    DURATION_MAX_MS),
	KEY(pool_opts, "retries", CT_UINT, retries, 0, 100),
	KEY(pool_opts, "responses", CT_UINT, responses, 0, 1000000000),
	KEY(pool_opts, "max_fails", CT_UINT, max_fails, 0, 1000),
	KEY(pool_opts, "fail_timeout", CT_DURATION, fail_timeout_ms, 0,
	    DURATION_MAX_MS),
	KEY(pool_opts, "slow_start", CT_DURATION, slow_start_ms, 0,
	    DURATION_MAX_MS),
	KEY(pool_opts, "proxy_protocol", CT_PROXYVER, proxy_protocol, 0, 0),
	KEY(pool_opts, "resolve_interval", CT_DURATION, resolve_interval_ms, 0,
	    DURATION_MAX_MS),
	KEY(pool_opts, "resolve_max_addresses", CT_UINT, resolve_max_addrs, 1,
	    RESOLVED_MAX_ADDRS_LIMIT),
	KEY(pool_opts, "max_queue", CT_UINT, max_queue, 0, CFG_MAX_CONNS),
	KEY(pool_opts, "queue_timeout", CT_DURATION, queue_timeout_ms, 1,
	    DURATION_MAX_MS),
	KEY(pool_opts, "source", CT_SOURCE, source, 0, 0),
	KEY(pool_opts, "mptcp", CT_BOOL, mptcp, 0, 0),
	/* Not below 100ms: one record per session per interval is what an
	 * operator pays, and thousands of sessions at 1ms would only flood
	 * the log (and drop records) for nothing. */
	KEY(pool_opts, "log_interval", CT_INTERVAL, log_interval_ms, 100,
	    DURATION_MAX_MS),
	{ NULL, 0, 0, 0, 0 }
};

static const struct cfg_keydef health_keys[] = {
	KEY(health_opts, "interval", CT_DURATION, interval_ms, 1,
	    DURATION_MAX_MS),
	KEY(health_opts, "timeout", CT_DURATION, timeout_ms, 1,
	    DURATION_MAX_MS),
	KEY(health_opts, "rise", CT_UINT, rise, 1, 1000),
	KEY(health_opts, "fall", CT_UINT, fall, 1, 1000),
	KEY(health_opts, "send_proxy", CT_BOOL, send_proxy, 0, 0),
	KEY(health_opts, "port", CT_UINT, port, 0, 65535),
	{ NULL, 0, 0, 0, 0 }
};

static const struct cfg_keydef listener_keys[] = {
	KEY(listener_opts, "max_connections", CT_UINT, max_conns, 0,
	    CFG_MAX_CONNS),
	KEY(listener_opts, "inspect_timeout", CT_DURATION, inspect_timeout_ms,
	    1, DURATION_MAX_MS),
	KEY(listener_opts, "accept_proxy", CT_BOOL, accept_proxy, 0, 0),
	KEY(listener_opts, "max_connections_per_source", CT_UINT,
	    max_conns_per_source, 0, CFG_MAX_CONNS),
	KEY(listener_opts, "mptcp", CT_BOOL, mptcp, 0, 0),
	{ NULL, 0, 0, 0, 0 }
};

static const struct cfg_keydef metrics_keys[] = {
	KEY(metrics_opts, "max_connections_per_source", CT_UINT,
	    max_per_source, 1, 64),
	{ NULL, 0, 0, 0, 0 }
};
static const char *const metrics_extra[] = { "bind", "allow", "deny", NULL };

static const struct cfg_keydef rate_keys[] = {
	KEY(rate_opts, "per_source", CT_RATE, per_source, 1, CFG_MAX_RATE),
	KEY(rate_opts, "total", CT_RATE, total, 1, CFG_MAX_RATE),
	KEY(rate_opts, "burst", CT_UINT, burst, 1, CFG_MAX_RATE),
	{ NULL, 0, 0, 0, 0 }
};

/* From 1kB/s (below, one second's worth is less than a TCP segment) to
 * 1TB/s (no limit at all, in practice). */
#define CFG_BW_MIN	1000u
#define CFG_BW_MAX	1000000000000ull

struct bandwidth_opts {
	uint64_t upload;
	uint64_t download;
};

static const struct cfg_keydef bandwidth_keys[] = {
	KEY(bandwidth_opts, "upload", CT_BYTERATE, upload, CFG_BW_MIN,
	    CFG_BW_MAX),
	KEY(bandwidth_opts, "download", CT_BYTERATE, download, CFG_BW_MIN,
	    CFG_BW_MAX),
	{ NULL, 0, 0, 0, 0 }
};

static const struct cfg_keydef server_keys[] = {
	KEY(server_opts, "weight", CT_UINT, weight, 0, 256),
	KEY(server_opts, "max_connections", CT_UINT, max_conns, 0,
	    CFG_MAX_CONNS),
	KEY(server_opts, "backup", CT_BOOL, backup, 0, 0),
	KEY(server_opts, "check_port", CT_UINT, check_port, 1, 65535),
	KEY(server_opts, "agent_port", CT_UINT, agent_port, 1, 65535),
	KEY(server_opts, "proxy_protocol", CT_PROXYVER, proxy_protocol, 0, 0),
	KEY(server_opts, "mptcp", CT_BOOL, mptcp, 0, 0),
	{ NULL, 0, 0, 0, 0 }
};

static const char *const root_keys[] = {
	"global", "defaults", "listeners", "pools", NULL
};
static const char *const pool_extra[] = { "health_check", "servers",
	"initial_state", "on_down", "on_up", "bandwidth", "mirror", NULL };
static const char *const health_extra[] = { "send", "expect", "type",
	"method", "path", "host", "expect_status", "verify", NULL };
/* A server's `source` is walked by hand: a family mismatch with its
 * address is reported at the key that caused it. */
static const char *const server_extra[] = { "address", "name", "srv",
	"source", NULL };
static const char *const global_extra[] = { "resolvers", "admin_socket",
	"metrics", NULL };
static const char *const no_extra[] = { NULL };

static void
cfg_describe_range(const struct cfg_keydef *k, char *buf, size_t len)
{
	char a[32], b[32];

	if (k->type == CT_DURATION || k->type == CT_INTERVAL) {
		duration_format(k->min, a, sizeof(a));
		duration_format(k->max, b, sizeof(b));
		snprintf(buf, len, "%s%s-%s", k->type == CT_INTERVAL ?
		    "0 (off) or " : "", a, b);
	} else if (k->type == CT_BYTERATE) {
		byterate_format(k->min, a, sizeof(a));
		byterate_format(k->max, b, sizeof(b));
		snprintf(buf, len, "%s-%s", a, b);
	} else {
		snprintf(buf, len, "%llu-%llu", (unsigned long long)k->min,
		    (unsigned long long)k->max);
	}
}

/* Parse val into base as k says; reports and returns -1 on error. */
static int
cfg_set(struct cfg *c, const struct cfg_keydef *k, void *base,
    const yaml_node_t *key, const yaml_node_t *val, const char *path)
{
	char *field = (char *)base + k->off;
	char why[256], range[96];
	const char *s;
	uint64_t v;

	switch (k->type) {
	case CT_UINT:
	case CT_WORKERS:
		s = cfg_scalar(c, key, val, path, k->type == CT_WORKERS ?
		    "auto or a number" : "a number");
		if (s == NULL)
			return -1;
		cfg_describe_range(k, range, sizeof(range));
		if (k->type == CT_WORKERS && strcmp(s, "auto") == 0) {
			v = 0;
		} else if (parse_uint(s, UINT64_MAX, &v) == -1) {
			cfg_err(c, val, path, "invalid number '%s' (%s%s)", s,
			    k->type == CT_WORKERS ? "auto or " : "", range);
			return -1;
		} else if (v < k->min || v > k->max) {
			cfg_err(c, val, path, "%s is out of range (%s%s)", s,
			    k->type == CT_WORKERS ? "auto or " : "", range);
			return -1;
		}
		memcpy(field, &v, sizeof(v));
		return 0;
	case CT_DURATION_UNL:
	case CT_DURATION:
	case CT_INTERVAL:
		if ((s = cfg_scalar(c, key, val, path, k->type == CT_DURATION_UNL ?
		    "a duration or unlimited" : "a duration")) == NULL)
			return -1;
		if (k->type == CT_DURATION_UNL && strcmp(s, "unlimited") == 0) {
			v = UINT64_MAX;
			memcpy(field, &v, sizeof(v));
			return 0;
		}
		if (duration_parse(s, &v, why, sizeof(why)) == -1) {
			cfg_err(c, val, path, "invalid duration '%s': %s%s", s,
			    why, k->type == CT_DURATION_UNL ? "; or unlimited" : "");
			return -1;
		}
		if (k->type == CT_INTERVAL && v == 0) {
			memcpy(field, &v, sizeof(v));
			return 0;
		}
		goto ranged;
	case CT_BOOL: {
		bool b;

		if ((s = cfg_scalar(c, key, val, path, "true or false")) ==
		    NULL)
			return -1;
		if (cfg_bool(s, &b) == -1) {
			cfg_err(c, val, path, "invalid boolean '%s' (true, "
			    "false, yes, no, on, off)", s);
			return -1;
		}
		memcpy(field, &b, sizeof(b));
		return 0;
	}
	case CT_BALANCE: {
		enum balance_alg alg;

		if ((s = cfg_scalar(c, key, val, path, "an algorithm")) ==
		    NULL)
			return -1;
		if (gen_balance_parse(s, &alg) == -1) {
			cfg_err(c, val, path, "unknown balance algorithm '%s' "
			    "(%s)", s, BALANCE_NAMES);
			return -1;
		}
		memcpy(field, &alg, sizeof(alg));
		return 0;
	}
	case CT_SOURCE: {
		struct cfg_source src = { .client = false };

		if ((s = cfg_scalar(c, key, val, path, "an IP address or "
		    "'client'")) == NULL)
			return -1;
		if (strcmp(s, "client") == 0)
			src.client = true;
		else if (addr_parse_ip(s, &src.ip, why, sizeof(why)) == -1) {
			cfg_err(c, val, path, "%s (or 'client': the client's "
			    "own address)", why);
			return -1;
		}
		memcpy(field, &src, sizeof(src));
		return 0;
	}
	case CT_PROXYVER:
		if ((s = cfg_scalar(c, key, val, path, "v1, v2 or none")) ==
		    NULL)
			return -1;
		if (strcmp(s, "v1") == 0)
			v = CFG_PROXY_V1;
		else if (strcmp(s, "v2") == 0)
			v = CFG_PROXY_V2;
		else if (strcmp(s, "none") == 0)
			v = CFG_PROXY_NONE;
		else {
			cfg_err(c, val, path, "invalid PROXY protocol version "
			    "'%s' (v1, v2 or none)", s);
			return -1;
		}
		memcpy(field, &v, sizeof(v));
		return 0;
	case CT_RATE: {
		char num[32];
		const char *slash;

		if ((s = cfg_scalar(c, key, val, path, "a rate (N/s)")) == NULL)
			return -1;
		cfg_describe_range(k, range, sizeof(range));
		slash = strchr(s, '/');
		if (slash == NULL || strcmp(slash, "/s") != 0 ||
		    (size_t)(slash - s) >= sizeof(num)) {
			cfg_err(c, val, path, "invalid rate '%s' (expected "
			    "N/s, N in %s)", s, range);
			return -1;
		}
		memcpy(num, s, (size_t)(slash - s));
		num[slash - s] = '\0';
		if (parse_uint(num, UINT64_MAX, &v) == -1) {
			cfg_err(c, val, path, "invalid rate '%s' (expected "
			    "N/s, N in %s)", s, range);
			return -1;
		}
		if (v < k->min || v > k->max) {
			cfg_err(c, val, path, "%s is out of range (%s per "
			    "second)", s, range);
			return -1;
		}
		memcpy(field, &v, sizeof(v));
		return 0;
	}
	case CT_BYTERATE:
		if ((s = cfg_scalar(c, key, val, path, "a rate (N[UNIT]/s)")) ==
		    NULL)
			return -1;
		if (byterate_parse(s, &v, why, sizeof(why)) == -1) {
			cfg_err(c, val, path, "invalid rate '%s': %s", s, why);
			return -1;
		}
	ranged:
		/* A duration or a rate, as written in s, parsed into v. */
		if (v < k->min || v > k->max) {
			cfg_describe_range(k, range, sizeof(range));
			cfg_err(c, val, path, "%s is out of range (%s)", s,
			    range);
			return -1;
		}
		memcpy(field, &v, sizeof(v));
		return 0;
	case CT_LOGLEVEL: {
		int level;

		if ((s = cfg_scalar(c, key, val, path, "a log level")) == NULL)
			return -1;
		if (log_level_parse(s, &level) == -1) {
			cfg_err(c, val, path, "unknown log level '%s' (debug, "
			    "info, notice, warning, err)", s);
			return -1;
		}
		memcpy(field, &level, sizeof(level));
		return 0;
	}
	}
	return -1;
}

/* Levenshtein distance, capped: only to suggest a key for a typo. */
static size_t
cfg_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), prev[40], cur[40];

	if (la >= ARRAY_SIZE(prev) || lb >= ARRAY_SIZE(prev))
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		prev[j] = j;
	for (size_t i = 1; i <= la; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
			size_t del = prev[j] + 1, ins = cur[j - 1] + 1;

			cur[j] = sub < del ? (sub < ins ? sub : ins) :
			    (del < ins ? del : ins);
		}
		memcpy(prev, cur, (lb + 1) * sizeof(prev[0]));
	}
	return prev[lb];
}

static void
cfg_unknown(struct cfg *c, const yaml_node_t *keynode, const char *path,
    const char *key, const struct cfg_keydef *tab, const char *const *extra)
{
	char known[512] = "", sub[512];
	const char *best = NULL;
	size_t bestd = 3, len = 0;

	cfg_path(sub, sizeof(sub), "%s%s%s", path, *path ? "." : "", key);
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; ; i++) {
			const char *name = pass ? extra[i] :
			    (tab ? tab[i].name : NULL);
			size_t d;

			if (name == NULL)
				break;
			if ((d = cfg_distance(key, name)) < bestd) {
				bestd = d;
				best = name;
			}
			len += (size_t)snprintf(known + len, len < sizeof(known) ?
			    sizeof(known) - len : 0, "%s%s", len ? ", " : "",
			    name);
			if (len >= sizeof(known))
				len = sizeof(known) - 1;
		}
	}
	if (best != NULL)
		cfg_err(c, keynode, sub, "unknown key (did you mean '%s'?)",
		    best);
	else
		cfg_err(c, keynode, sub, "unknown key (expected one of: %s)",
		    known);
}

static const struct cfg_keydef *
cfg_lookup(const struct cfg_keydef *tab, const char *key)
{
	for (; tab->name != NULL; tab++)
		if (strcmp(tab->name, key) == 0)
			return tab;
	return NULL;
}

/*
 * Walk a mapping whose keys are all plain table keys, except those named
 * in extra, which are left for the caller: their value nodes are stored in
 * found[] in the order of extra (NULL when absent).
 */
static void
cfg_walk(struct cfg *c, const yaml_node_t *map, const char *path,
    const struct cfg_keydef *tab, void *base, const char *const *extra,
    const yaml_node_t **found, const yaml_node_t **foundkey)
{
	char sub[512];

	for (size_t i = 0; extra[i] != NULL; i++) {
		found[i] = NULL;
		if (foundkey != NULL)
			foundkey[i] = NULL;
	}
	MAP_FOREACH(map, pair) {
		const yaml_node_t *k = cfg_node(c, pair->key);
		const yaml_node_t *v = cfg_node(c, pair->value);
		const struct cfg_keydef *def;
		const char *key = cfg_key(c, map, pair, path);

		if (key == NULL)
			continue;
		cfg_path(sub, sizeof(sub), "%s%s%s", path, *path ? "." : "",
		    key);
		if (tab != NULL && (def = cfg_lookup(tab, key)) != NULL) {
			cfg_set(c, def, base, k, v, sub);
			continue;
		}
		for (size_t i = 0; extra[i] != NULL; i++) {
			if (strcmp(extra[i], key) == 0) {
				found[i] = v;
				if (foundkey != NULL)
					foundkey[i] = k;
				goto next;
			}
		}
		cfg_unknown(c, k, path, key, tab, extra);
next:		;
	}
}

/* ---- sections ---------------------------------------------------------- */

/* global.admin_socket: an absolute path that fits sockaddr_un. */
static void
cfg_admin_socket(struct cfg *c, const yaml_node_t *key, const yaml_node_t *val)
{
	const char *s = cfg_scalar(c, key, val, "global.admin_socket", "a path");

	if (s == NULL)
		return;
	if (s[0] != '/') {
		cfg_err(c, val, "global.admin_socket",
		    "'%s' is not an absolute path", s);
		return;
	}
	if (strlen(s) >= CFG_UNIX_PATH_MAX - CFG_ADMIN_SUFFIX) {
		cfg_err(c, val, "global.admin_socket",
		    "path longer than %d bytes (a unix socket address has %d, and "
		    "tcplb adds up to %d for its per-process name PATH.PID)",
		    CFG_UNIX_PATH_MAX - 1 - CFG_ADMIN_SUFFIX, CFG_UNIX_PATH_MAX - 1,
		    CFG_ADMIN_SUFFIX);
		return;
	}
	free(c->g->global.admin_socket);
	c->g->global.admin_socket = xstrdup(s);
}

static void cfg_cidrs(struct cfg *c, const yaml_node_t *key,
    const yaml_node_t *val, const char *path, struct cidr_set *set);

/* global.metrics: ADDR:PORT (bound at start), or a mapping { bind:
 * ADDR:PORT, allow: [CIDR...], deny: [CIDR...], max_connections_per_source:
 * N } that says who may connect. */
static void
cfg_metrics(struct cfg *c, const yaml_node_t *key, const yaml_node_t *val)
{
	struct global_cfg *gc = &c->g->global;
	const yaml_node_t *bind = val, *found[3], *fkey[3];
	struct metrics_opts o = { .max_per_source = gc->metrics_max_per_source };
	const char *s;
	struct addr_spec spec;
	char err[512];

	if (val->type == YAML_MAPPING_NODE) {
		cfg_walk(c, val, "global.metrics", metrics_keys, &o,
		    metrics_extra, found, fkey);
		gc->metrics_max_per_source = (uint32_t)o.max_per_source;
		if (found[1] != NULL)
			cfg_cidrs(c, fkey[1], found[1], "global.metrics.allow",
			    &gc->metrics_allow);
		if (found[2] != NULL)
			cfg_cidrs(c, fkey[2], found[2], "global.metrics.deny",
			    &gc->metrics_deny);
		if (found[0] == NULL) {
			cfg_err(c, val, "global.metrics", "needs bind "
			    "(ADDR:PORT)");
			return;
		}
		key = fkey[0];
		bind = found[0];
	}
	s = cfg_scalar(c, key, bind, val == bind ? "global.metrics" :
	    "global.metrics.bind", "an address");
	if (s == NULL)
		return;
	if (addr_parse(s, &spec, err, sizeof(err)) == -1) {
		cfg_err(c, bind, val == bind ? "global.metrics" :
		    "global.metrics.bind", "%s", err);
		return;
	}
	free(gc->metrics);
	gc->metrics = xstrdup(s);
}

/* A DNS name of letters, digits, '-', '_' and dots, 1-253 characters. */
static bool
cfg_srv_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 253 || s[0] == '.')
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' ||
		    *s == '.'))
			return false;
	return true;
}

static void cfg_resolvers(struct cfg *c, const yaml_node_t *key,
    const yaml_node_t *val);

static void
cfg_global(struct cfg *c, const yaml_node_t *map)
{
	struct global_opts o = {
		.workers = c->g->global.workers,
		.max_conns = c->g->global.max_conns,
		.shutdown_timeout_ms = c->g->global.shutdown_timeout_ms,
		.upgrade_timeout_ms = c->g->global.upgrade_timeout_ms,
		.log_level = c->g->global.log_level,
		.access_log = c->g->global.access_log,
	};

	const yaml_node_t *found[3], *fkey[3];

	if (!cfg_is_section(c, map, "global"))
		return;
	cfg_walk(c, map, "global", global_keys, &o, global_extra, found, fkey);
	if (found[0] != NULL)
		cfg_resolvers(c, fkey[0], found[0]);
	if (found[1] != NULL)
		cfg_admin_socket(c, fkey[1], found[1]);
	if (found[2] != NULL)
		cfg_metrics(c, fkey[2], found[2]);
	c->g->global.workers = (unsigned)o.workers;
	c->g->global.max_conns = (uint32_t)o.max_conns;
	c->g->global.shutdown_timeout_ms = o.shutdown_timeout_ms;
	c->g->global.upgrade_timeout_ms = o.upgrade_timeout_ms;
	c->g->global.log_level = o.log_level;
	c->g->global.access_log = o.access_log;
}

/* global.resolvers: one address or a list, each IP or IP:PORT (53). */
static void
cfg_resolvers(struct cfg *c, const yaml_node_t *key, const yaml_node_t *val)
{
	char *csv = NULL, one[ADDR_STRLEN + 8], err[512], sub[64];
	size_t i = 0;

	if (val->type == YAML_SCALAR_NODE && !node_is_null(val)) {
		const char *t = cfg_scalar(c, key, val, "global.resolvers",
		    "an address");

		if (t == NULL)
			return;
		if (resolved_parse_server(t, one, sizeof(one), err,
		    sizeof(err)) == -1) {
			cfg_err(c, val, "global.resolvers", "%s", err);
			return;
		}
		free(c->g->global.resolvers);
		c->g->global.resolvers = xstrdup(one);
		return;
	}
	if (val->type != YAML_SEQUENCE_NODE) {
		cfg_err(c, node_is_null(val) ? key : val, "global.resolvers",
		    "expected a list of addresses, got %s", node_is_null(val) ?
		    "nothing" : node_kind(val));
		return;
	}
	SEQ_FOREACH(val, item) {
		const yaml_node_t *n = cfg_node(c, *item);
		const char *t;

		if (!cfg_visit(c, n))
			break;
		cfg_path(sub, sizeof(sub), "global.resolvers[%zu]", i++);
		if ((t = cfg_scalar(c, NULL, n, sub, "an address")) == NULL)
			continue;
		if (resolved_parse_server(t, one, sizeof(one), err,
		    sizeof(err)) == -1) {
			cfg_err(c, n, sub, "%s", err);
			continue;
		}
		if (csv != NULL && strlen(csv) > 4096)
			continue;
		if (csv == NULL) {
			csv = xstrdup(one);
		} else {
			char *t2 = xasprintf("%s,%s", csv, one);

			free(csv);
			csv = t2;
		}
	}
	if (i == 0)
		cfg_err(c, val, "global.resolvers", "empty list of addresses");
	free(c->g->global.resolvers);
	c->g->global.resolvers = csv;
}

/* A string that may hold any bytes (YAML "\0" escapes included). */
static int
cfg_bytes(struct cfg *c, const yaml_node_t *key, const yaml_node_t *val,
    const char *path, char **out, size_t *outlen)
{
	if (val->type != YAML_SCALAR_NODE) {
		cfg_err(c, val, path, "expected a string, got %s",
		    node_kind(val));
		return -1;
	}
	free(*out);
	*out = NULL;
	*outlen = 0;
	if (node_is_null(val) || val->data.scalar.length == 0) {
		/* Silently checking less than asked would be worse. */
		cfg_err(c, node_is_null(val) && key ? key : val, path,
		    "empty string (leave the key out to %s)",
		    strstr(path, ".expect") ? "expect nothing" :
		    "send nothing");
		return -1;
	}
	*outlen = val->data.scalar.length;
	*out = xstrndup(node_str(val), *outlen);
	return 0;
}

static void cfg_health_kind(struct cfg *c, struct health_cfg *h,
    const char *path, const yaml_node_t *const *found,
    const yaml_node_t *const *fkey);

/*
 * health_check: false (none), true (all defaults) or a mapping.  A pool's
 * block replaces the one from `defaults` as a whole: merging half of one
 * check with half of another would be hard to read back from the file.
 */
static void
cfg_health(struct cfg *c, const yaml_node_t *key, const yaml_node_t *val,
    const char *path, struct health_cfg *h)
{
	struct health_opts o;
	const yaml_node_t *found[8], *fkey[8];
	char sub[512];
	bool b;

	if (val->type == YAML_SCALAR_NODE && !node_is_null(val)) {
		if (node_has_nul(val) || cfg_bool(node_str(val), &b) == -1) {
			cfg_err(c, val, path, "expected true, false or a "
			    "mapping, got '%s'", node_str(val));
			return;
		}
		config_health_clear(h);
		if (b)
			config_health_defaults(h);
		return;
	}
	if (val->type != YAML_MAPPING_NODE) {
		cfg_err(c, node_is_null(val) ? key : val, path, "expected "
		    "true, false or a mapping, got %s", node_is_null(val) ?
		    "nothing" : node_kind(val));
		return;
	}
	config_health_defaults(h);
	o.interval_ms = h->interval_ms;
	o.timeout_ms = h->timeout_ms;
	o.rise = h->rise;
	o.fall = h->fall;
	o.send_proxy = h->send_proxy;
	o.port = h->port;
	cfg_walk(c, val, path, health_keys, &o, health_extra, found, fkey);
	h->interval_ms = o.interval_ms;
	h->timeout_ms = o.timeout_ms;
	h->rise = (unsigned)o.rise;
	h->fall = (unsigned)o.fall;
	h->send_proxy = o.send_proxy;
	h->port = (uint16_t)o.port;
	if (found[0] != NULL) {
		cfg_path(sub, sizeof(sub), "%s.send", path);
		cfg_bytes(c, fkey[0], found[0], sub, &h->send, &h->send_len);
	}
	if (found[1] != NULL) {
		cfg_path(sub, sizeof(sub), "%s.expect", path);
		cfg_bytes(c, fkey[1], found[1], sub, &h->expect,
		    &h->expect_len);
	}
	cfg_health_kind(c, h, path, found, fkey);
}

/* A string for an HTTP request line or header: printable, no spaces
 * where noted, bounded -- it goes on the wire as written. */
static char *
cfg_http_token(struct cfg *c, const yaml_node_t *key, const yaml_node_t *val,
    const char *path, const char *what, bool space_ok)
{
	const char *s = cfg_scalar(c, key, val, path, what);

	if (s == NULL)
		return NULL;
	if (*s == '\0' || strlen(s) > 1024) {
		cfg_err(c, val, path, "expected %s of 1-1024 characters", what);
		return NULL;
	}
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e) {
			if (*p == ' ' && space_ok)
				continue;
			cfg_err(c, val, path, "%s may not contain %s", what,
			    *p == ' ' ? "spaces" : "control or non-ASCII "
			    "characters");
			return NULL;
		}
	return xstrdup(s);
}

/* type, method, path, host, expect_status, verify: the kind of check and
 * what it needs; keys of another kind are errors, not silently unused. */
static void
cfg_health_kind(struct cfg *c, struct health_cfg *h, const char *path,
    const yaml_node_t *const *found, const yaml_node_t *const *fkey)
{
	char sub[512], err[256];

	if (found[2] != NULL) {
		const char *t;

		cfg_path(sub, sizeof(sub), "%s.type", path);
		t = cfg_scalar(c, fkey[2], found[2], sub,
		    "tcp, http, tls or agent");
		if (t == NULL)
			return;
		for (int i = HEALTH_TCP; i <= HEALTH_AGENT; i++)
			if (strcmp(t, gen_health_type_name(i)) == 0)
				h->type = (enum health_type)i;
		if (strcmp(t, gen_health_type_name(h->type)) != 0) {
			cfg_err(c, found[2], sub, "invalid check type '%s' "
			    "(tcp, http, tls or agent)", t);
			return;
		}
	}
	/* http: method, path, host, expect_status; tls: host, verify. */
	for (size_t i = 3; i <= 7; i++) {
		bool ok = h->type == HEALTH_HTTP ? i != 7 :
		    h->type == HEALTH_TLS ? i == 5 || i == 7 : false;

		if (found[i] != NULL && !ok) {
			cfg_path(sub, sizeof(sub), "%s.%s", path,
			    health_extra[i]);
			cfg_err(c, fkey[i], sub, "not used by a check of type "
			    "%s", gen_health_type_name(h->type));
			return;
		}
	}
	if ((h->type == HEALTH_HTTP || h->type == HEALTH_TLS ||
	    h->type == HEALTH_AGENT) && (h->send_len || h->expect_len)) {
		cfg_path(sub, sizeof(sub), "%s.%s", path,
		    found[0] ? "send" : "expect");
		cfg_err(c, fkey[found[0] ? 0 : 1], sub, "only for checks of "
		    "type tcp");
		return;
	}
	if (found[3] != NULL) {
		cfg_path(sub, sizeof(sub), "%s.method", path);
		h->method = cfg_http_token(c, fkey[3], found[3], sub,
		    "an HTTP method", false);
	}
	if (found[4] != NULL) {
		cfg_path(sub, sizeof(sub), "%s.path", path);
		h->path = cfg_http_token(c, fkey[4], found[4], sub,
		    "a path", false);
		if (h->path && h->path[0] != '/' && strcmp(h->path, "*")) {
			cfg_err(c, found[4], sub, "a path starts with '/'");
			free(h->path);
			h->path = NULL;
		}
	}
	if (found[5] != NULL) {
		cfg_path(sub, sizeof(sub), "%s.host", path);
		h->host = cfg_http_token(c, fkey[5], found[5], sub,
		    "a host name", false);
	}
	if (found[6] != NULL) {
		const yaml_node_t *v = found[6];

		cfg_path(sub, sizeof(sub), "%s.expect_status", path);
		memset(&h->expect_status, 0, sizeof(h->expect_status));
		if (v->type == YAML_SEQUENCE_NODE) {
			if (v->data.sequence.items.start ==
			    v->data.sequence.items.top)
				cfg_err(c, v, sub, "empty list of codes");
			SEQ_FOREACH(v, item) {
				const yaml_node_t *it = cfg_node(c, *item);
				const char *t = cfg_scalar(c, NULL, it, sub,
				    "a status code or range");

				if (t != NULL && status_set_parse(
				    &h->expect_status, t, err, sizeof(err)))
					cfg_err(c, it, sub, "%s", err);
			}
		} else {
			const char *t = cfg_scalar(c, fkey[6], v, sub,
			    "a status code, a list or a range");

			if (t != NULL && status_set_parse(&h->expect_status,
			    t, err, sizeof(err)))
				cfg_err(c, v, sub, "%s", err);
		}
	}
	if (found[7] != NULL) {
		const char *f;

		cfg_path(sub, sizeof(sub), "%s.verify", path);
		f = cfg_scalar(c, fkey[7], found[7], sub, "a CA file");
		if (f != NULL)
			h->verify = xstrdup(f);
	}
	if (h->type == HEALTH_TLS) {
		/* Loaded now, so that --check and a reload report a bad
		 * file, and no check ever reads it on a loop. */
		h->tls = tls_client_ctx_new(h->verify, err, sizeof(err));
		if (h->tls == NULL) {
			cfg_path(sub, sizeof(sub), "%s.verify", path);
			cfg_err(c, found[7], sub, "%s: %s", h->verify ?
			    h->verify : "", err);
		}
	}
}

/* on_down: shutdown_sessions, on_up: shutdown_backup_sessions (HAProxy's
 * on-marked-down / on-marked-up); `none` turns an inherited one off. */
static void
cfg_on_actions(struct cfg *c, struct pool_opts *o,
    const yaml_node_t *const *found, const yaml_node_t *const *fkey,
    const char *path)
{
	static const char *const key[2] = { "on_down", "on_up" };
	static const char *const act[2] = { "shutdown_sessions",
		"shutdown_backup_sessions" };
	char sub[512];

	for (int i = 0; i < 2; i++) {
		const char *v;
		bool on;

		if (found[i] == NULL)
			continue;
		cfg_path(sub, sizeof(sub), "%s%s%s", path, *path ? "." : "",
		    key[i]);
		v = cfg_scalar(c, fkey[i], found[i], sub, act[i]);
		if (v == NULL)
			continue;
		if (strcmp(v, act[i]) == 0) {
			on = true;
		} else if (strcmp(v, "none") == 0) {
			on = false;
		} else {
			cfg_err(c, found[i], sub, "invalid action '%s' (%s or "
			    "none)", v, act[i]);
			continue;
		}
		if (i == 0)
			o->on_down_shutdown = on;
		else
			o->on_up_shutdown_backup = on;
	}
}

/* initial_state: up | down -- where a server of a checked pool starts
 * (HAProxy's init-state). */
static int
cfg_initial_state(struct cfg *c, const yaml_node_t *key,
    const yaml_node_t *val, const char *path, bool *down)
{
	const char *s = cfg_scalar(c, key, val, path, "up or down");

	if (s == NULL)
		return -1;
	if (strcmp(s, "up") == 0 || strcmp(s, "down") == 0) {
		*down = s[0] == 'd';
		return 0;
	}
	cfg_err(c, val, path, "invalid initial state '%s' (up or down)", s);
	return -1;
}

/* bandwidth: { upload: RATE, download: RATE } -- either may be left out
 * (unlimited), not both; `false` turns off what defaults set. */
static void
cfg_bandwidth(struct cfg *c, const yaml_node_t *key, const yaml_node_t *val,
    const char *path, struct pool_opts *o)
{
	struct bandwidth_opts b = { 0 };
	size_t before = c->nerrs;
	bool off;

	if (val->type == YAML_SCALAR_NODE && cfg_bool(node_str(val), &off) == 0
	    && !off) {
		o->bw_upload = o->bw_download = 0;
		return;
	}
	if (!cfg_is_map(c, key, val, path))
		return;
	cfg_walk(c, val, path, bandwidth_keys, &b, no_extra, NULL, NULL);
	if (b.upload == 0 && b.download == 0 && c->nerrs == before)
		cfg_err(c, val, path, "needs upload, download or both (or "
		    "false for no limit)");
	o->bw_upload = b.upload;
	o->bw_download = b.download;
}

static void
cfg_defaults(struct cfg *c, const yaml_node_t *map)
{
	const yaml_node_t *found[5], *fkey[5];
	static const char *const extra[] = { "health_check", "initial_state",
		"on_down", "on_up", "bandwidth", NULL };

	if (!cfg_is_section(c, map, "defaults"))
		return;
	cfg_walk(c, map, "defaults", pool_keys, &c->defaults, extra, found,
	    fkey);
	if (found[0] != NULL)
		cfg_health(c, fkey[0], found[0], "defaults.health_check",
		    &c->defaults.health);
	if (found[1] != NULL)
		cfg_initial_state(c, fkey[1], found[1],
		    "defaults.initial_state", &c->defaults.initial_down);
	cfg_on_actions(c, &c->defaults, found + 2, fkey + 2, "defaults");
	if (found[4] != NULL)
		cfg_bandwidth(c, fkey[4], found[4], "defaults.bandwidth",
		    &c->defaults);
}

static const struct cfg_keydef server_source_key =
	KEY(server_opts, "source", CT_SOURCE, source, 0, 0);

/* Add the server(s) of one entry; a source: that does not fit them is
 * blamed on the server's own key when it has one. */
static void
cfg_server_add(struct cfg *c, struct pool *p, struct server_index *x,
    const struct addr_spec *spec, const char *srvname, const char *text, const char *name,
    const struct server_opts *o, const yaml_node_t *addrnode,
    const char *sub, const yaml_node_t *srcnode, const char *path)
{
	char err[512], ssub[512];

	switch (config_pool_add_entry(p, x, spec, srvname, text, name, o,
	    &c->build, err, sizeof(err))) {
	case CONFIG_ADD_SOURCE_FAMILY:
		if (srcnode != NULL) {
			cfg_path(ssub, sizeof(ssub), "%s.source", path);
			cfg_err(c, srcnode, ssub, "%s", err);
			break;
		}
		/* FALLTHROUGH */
	case -1:
		cfg_err(c, addrnode, sub, "%s", err);
		break;
	}
}

static void
cfg_server(struct cfg *c, struct pool *p, struct server_index *x,
    const yaml_node_t *item, const char *path)
{
	struct server_opts o = { .weight = 1, .mptcp = p->mptcp,
	    .source = { .ip = p->source, .client = p->source_client } };
	const yaml_node_t *found[4] = { NULL, NULL, NULL, NULL };
	const yaml_node_t *fkey[4] = { NULL, NULL, NULL, NULL };
	const yaml_node_t *addrnode = item;
	const char *text, *name;
	struct addr_spec spec;
	char err[512], sub[512];
	bool srv = false;

	cfg_path(sub, sizeof(sub), "%s", path);
	if (item->type == YAML_MAPPING_NODE) {
		cfg_walk(c, item, path, server_keys, &o, server_extra, found,
		    fkey);
		if (found[0] != NULL && found[2] != NULL) {
			cfg_err(c, fkey[2], path, "'address' and 'srv' "
			    "exclude each other");
			return;
		}
		if (found[0] == NULL && found[2] == NULL) {
			cfg_err(c, item, path, "missing required key "
			    "'address' (or 'srv')");
			return;
		}
		if (o.agent_port && p->health.type != HEALTH_AGENT) {
			cfg_err(c, item, path, "agent_port needs a "
			    "health_check of type agent in this pool");
			return;
		}
		if (o.check_port && !p->health.enabled) {
			cfg_err(c, item, path, "check_port needs a "
			    "health_check in this pool");
			return;
		}
		if (found[3] != NULL) {
			cfg_path(sub, sizeof(sub), "%s.source", path);
			if (cfg_set(c, &server_source_key, &o, fkey[3],
			    found[3], sub) == -1)
				return;
		}
		srv = found[2] != NULL;
		addrnode = srv ? found[2] : found[0];
		cfg_path(sub, sizeof(sub), "%s.%s", path, srv ? "srv" :
		    "address");
		if (srv) {
			bool bad = false;

			/* The SRV records say these. */
			MAP_FOREACH(item, pair) {
				const yaml_node_t *k = cfg_node(c, pair->key);

				if (k->type == YAML_SCALAR_NODE &&
				    (strcmp(node_str(k), "weight") == 0 ||
				    strcmp(node_str(k), "backup") == 0)) {
					cfg_err(c, k, path, "'%s' comes from "
					    "the SRV records, not the file",
					    node_str(k));
					bad = true;
				}
			}
			if (bad)
				return;
		}
	}
	text = cfg_scalar(c, srv ? fkey[2] : fkey[0], addrnode, sub,
	    srv ? "an SRV name (_service._tcp.domain)" :
	    "HOST:PORT or a mapping");
	if (text == NULL)
		return;
	name = text;
	if (found[1] != NULL) {
		char nsub[512];

		cfg_path(nsub, sizeof(nsub), "%s.name", path);
		name = cfg_scalar(c, fkey[1], found[1], nsub, "a name");
		if (name == NULL)
			return;
		if (*name == '\0') {
			cfg_err(c, found[1], nsub, "empty name");
			return;
		}
		if (config_pool_has_name(p, x, name)) {
			cfg_err(c, found[1], nsub, "duplicate server name "
			    "'%s'", name);
			return;
		}
	} else if (config_pool_has_name(p, x, name)) {
		cfg_err(c, addrnode, sub, "duplicate server '%s' (each needs "
		    "a distinct name or address)", name);
		return;
	}
	if (p->health.enabled && p->health.type == HEALTH_AGENT &&
	    o.agent_port == 0 && o.check_port == 0 && p->health.port == 0) {
		cfg_err(c, item, path, "an agent check needs the server's "
		    "agent_port (or health_check.port)");
		return;
	}
	if (srv) {
		if (!cfg_srv_name_ok(text)) {
			cfg_err(c, addrnode, sub, "invalid SRV name '%s' "
			    "(expected _service._proto.domain)", text);
			return;
		}
		cfg_server_add(c, p, x, NULL, text, text, name, &o, addrnode,
		    sub, found[3], path);
		return;
	}
	if (addr_parse(text, &spec, err, sizeof(err)) == -1) {
		cfg_err(c, addrnode, sub, "%s", err);
		return;
	}
	cfg_server_add(c, p, x, &spec, NULL, text, name, &o, addrnode, sub,
	    found[3], path);
}

static void
cfg_pool(struct cfg *c, struct pool *p, const yaml_node_t *key,
    const yaml_node_t *map, const char *path)
{
	struct pool_opts o = c->defaults;
	const yaml_node_t *found[7], *fkey[7];
	struct server_index x = { 0 };
	char sub[512];
	size_t i = 0;

	config_health_copy(&o.health, &c->defaults.health);
	if (cfg_is_map(c, key, map, path)) {
		cfg_walk(c, map, path, pool_keys, &o, pool_extra, found, fkey);
		if (found[0] != NULL) {
			cfg_path(sub, sizeof(sub), "%s.health_check", path);
			cfg_health(c, fkey[0], found[0], sub, &o.health);
		}
		if (found[2] != NULL) {
			cfg_path(sub, sizeof(sub), "%s.initial_state", path);
			if (cfg_initial_state(c, fkey[2], found[2], sub,
			    &o.initial_down) == 0 && !o.health.enabled)
				cfg_err(c, fkey[2], sub, "needs a health_check "
				    "in this pool (without checks a server is "
				    "always up)");
		}
		cfg_on_actions(c, &o, found + 3, fkey + 3, path);
		if (found[5] != NULL) {
			cfg_path(sub, sizeof(sub), "%s.bandwidth", path);
			cfg_bandwidth(c, fkey[5], found[5], sub, &o);
		}
		if (found[6] != NULL && c->mirror_val != NULL) {
			c->mirror_val[p - c->g->pools] = found[6];
			c->mirror_key[p - c->g->pools] = fkey[6];
		}
	} else {
		found[1] = NULL;
	}
	config_pool_apply(p, &o);
	config_health_clear(&o.health);
	if (map->type != YAML_MAPPING_NODE)
		return;

	cfg_path(sub, sizeof(sub), "%s.servers", path);
	if (found[1] == NULL) {
		cfg_err(c, key, path, "missing required key 'servers'");
		return;
	}
	if (found[1]->type != YAML_SEQUENCE_NODE) {
		cfg_err(c, node_is_null(found[1]) ? fkey[1] : found[1], sub,
		    "expected a list of servers, got %s",
		    node_is_null(found[1]) ? "nothing" : node_kind(found[1]));
		return;
	}
	/* Bounded before anything is resolved: one error, not 100,000. */
	if (found[1]->data.sequence.items.top -
	    found[1]->data.sequence.items.start > CFG_MAX_SERVERS) {
		cfg_err(c, found[1], sub, "too many servers (%zu; at most %d "
		    "per pool)", (size_t)(found[1]->data.sequence.items.top -
		    found[1]->data.sequence.items.start), CFG_MAX_SERVERS);
		return;
	}
	SEQ_FOREACH(found[1], item) {
		const yaml_node_t *n = cfg_node(c, *item);

		if (!cfg_visit(c, n))
			break;
		cfg_path(sub, sizeof(sub), "%s.servers[%zu]", path, i++);
		cfg_server(c, p, &x, n, sub);
	}
	config_server_index_free(&x);
	cfg_path(sub, sizeof(sub), "%s.servers", path);
	if (i == 0)
		cfg_err(c, found[1], sub, "empty list of servers");
}

struct mirror_opts {
	uint64_t percent;
};

static const struct cfg_keydef mirror_keys[] = {
	KEY(mirror_opts, "percent", CT_UINT, percent, 1, 100),
	{ NULL, 0, 0, 0, 0 }
};

static struct pool *cfg_find_pool(struct cfg *c, const char *name);

/* mirror: { pool: NAME, percent: 1-100 (default 100) } -- another pool of
 * this file, which mirrors nothing itself (no chains, no loops). */
static void
cfg_mirror(struct cfg *c, struct pool *p, const yaml_node_t *key,
    const yaml_node_t *val)
{
	static const char *const extra[] = { "pool", NULL };
	const yaml_node_t *found[1], *fkey[1];
	struct mirror_opts o = { .percent = 100 };
	char path[600], sub[700];
	const char *name;
	struct pool *m;

	cfg_path(path, sizeof(path), "pools.%s.mirror", p->name);
	if (!cfg_is_map(c, key, val, path))
		return;
	cfg_walk(c, val, path, mirror_keys, &o, extra, found, fkey);
	cfg_path(sub, sizeof(sub), "%s.pool", path);
	if (found[0] == NULL) {
		cfg_err(c, val, path, "missing required key 'pool' (the shadow "
		    "pool the client's bytes are copied to)");
		return;
	}
	if ((name = cfg_scalar(c, fkey[0], found[0], sub, "a pool name")) ==
	    NULL)
		return;
	if ((m = cfg_find_pool(c, name)) == NULL) {
		cfg_err(c, found[0], sub, "unknown pool '%s'", name);
		return;
	}
	if (m == p) {
		cfg_err(c, found[0], sub, "a pool cannot mirror to itself");
		return;
	}
	if (c->mirror_val[m - c->g->pools] != NULL) {
		cfg_err(c, found[0], sub, "pool '%s' mirrors to another pool "
		    "itself: a shadow pool mirrors nothing", name);
		return;
	}
	p->mirror = m;
	p->mirror_percent = (uint32_t)o.percent;
}

static void
cfg_pools(struct cfg *c, const yaml_node_t *map)
{
	char path[512];

	if (!cfg_is_section(c, map, "pools"))
		return;
	c->g->pools = xcalloc(map_size(map), sizeof(*c->g->pools));
	c->mirror_val = xcalloc(map_size(map) + 1, sizeof(*c->mirror_val));
	c->mirror_key = xcalloc(map_size(map) + 1, sizeof(*c->mirror_key));
	MAP_FOREACH(map, pair) {
		const yaml_node_t *k = cfg_node(c, pair->key);
		const char *name = cfg_key(c, map, pair, "pools");
		struct pool *p;

		if (name == NULL)
			continue;
		cfg_path(path, sizeof(path), "pools.%s", name);
		if (*name == '\0') {
			cfg_err(c, k, "pools", "empty pool name");
			continue;
		}
		hindex_add(&c->pools, hindex_hash_str(name), c->g->npools);
		p = &c->g->pools[c->g->npools++];
		p->name = xstrdup(name);
		cfg_pool(c, p, k, cfg_node(c, pair->value), path);
	}
	for (uint32_t i = 0; i < c->g->npools; i++)
		if (c->mirror_val[i] != NULL)
			cfg_mirror(c, &c->g->pools[i], c->mirror_key[i],
			    c->mirror_val[i]);
	free(c->mirror_val);
	free(c->mirror_key);
	c->mirror_val = c->mirror_key = NULL;
}

static void
cfg_bind(struct cfg *c, struct listener *l, const yaml_node_t *val,
    const char *path)
{
	struct addr_spec spec;
	char err[512];

	if (val->type != YAML_SCALAR_NODE || node_is_null(val)) {
		cfg_err(c, val, path, "expected an address, got %s",
		    node_is_null(val) ? "nothing" : node_kind(val));
		return;
	}
	if (node_has_nul(val)) {
		cfg_err(c, val, path, "NUL character (\\0) in an address");
		return;
	}
	if (addr_parse(node_str(val), &spec, err, sizeof(err)) == -1 ||
	    config_listener_add_binds(c->g, &c->binds, l, &spec, node_str(val),
	    err, sizeof(err)) == -1)
		cfg_err(c, val, path, "%s", err);
}

static struct pool *
cfg_find_pool(struct cfg *c, const char *name)
{
	size_t cur = 0;
	uint32_t i;

	while ((i = hindex_next(&c->pools, hindex_hash_str(name), &cur)) !=
	    HINDEX_NONE)
		if (strcmp(c->g->pools[i].name, name) == 0)
			return &c->g->pools[i];
	return NULL;
}

/* A list of CIDR prefixes (or a single one) into set. */
static void
cfg_cidrs(struct cfg *c, const yaml_node_t *key, const yaml_node_t *val,
    const char *path, struct cidr_set *set)
{
	struct cidr_range r;
	char err[256], sub[512];
	size_t i = 0;

	if (val->type == YAML_SCALAR_NODE && !node_is_null(val)) {
		const char *t = cfg_scalar(c, key, val, path, "a CIDR prefix");

		if (t == NULL)
			return;
		if (cidr_parse(t, &r, err, sizeof(err)) == -1)
			cfg_err(c, val, path, "%s", err);
		else
			cidr_set_add(set, &r);
		cidr_set_finish(set);
		return;
	}
	if (val->type != YAML_SEQUENCE_NODE) {
		cfg_err(c, node_is_null(val) ? key : val, path, "expected a "
		    "list of CIDR prefixes, got %s", node_is_null(val) ?
		    "nothing" : node_kind(val));
		return;
	}
	SEQ_FOREACH(val, item) {
		const yaml_node_t *n = cfg_node(c, *item);
		const char *t;

		if (!cfg_visit(c, n))
			break;
		cfg_path(sub, sizeof(sub), "%s[%zu]", path, i++);
		if ((t = cfg_scalar(c, NULL, n, sub, "a CIDR prefix")) == NULL)
			continue;
		if (cidr_parse(t, &r, err, sizeof(err)) == -1)
			cfg_err(c, n, sub, "%s", err);
		else
			cidr_set_add(set, &r);
	}
	cidr_set_finish(set);
}

/* trusted, allow, deny, rate_limit, and how accept_proxy needs trusted.
 * found/fkey: those four value and key nodes (NULL when absent). */
static void
cfg_listener_guard(struct cfg *c, struct listener *l, const yaml_node_t *map,
    const char *path, const yaml_node_t **found, const yaml_node_t **fkey)
{
	static const char *const names[] = { "trusted", "allow", "deny" };
	struct cidr_set *sets[] = { &l->trusted, &l->allow, &l->deny };
	char sub[512];

	for (size_t i = 0; i < 3; i++) {
		if (found[i] == NULL)
			continue;
		cfg_path(sub, sizeof(sub), "%s.%s", path, names[i]);
		cfg_cidrs(c, fkey[i], found[i], sub, sets[i]);
	}
	if (found[3] != NULL) {
		struct rate_opts r = { 0 };

		cfg_path(sub, sizeof(sub), "%s.rate_limit", path);
		if (cfg_is_map(c, fkey[3], found[3], sub)) {
			size_t before = c->nerrs;

			cfg_walk(c, found[3], sub, rate_keys, &r, no_extra,
			    NULL, NULL);
			/* Say it is empty only when nothing else was said. */
			if (r.per_source == 0 && r.total == 0 &&
			    c->nerrs == before)
				cfg_err(c, found[3], sub, "needs per_source, "
				    "total or both");
		}
		l->rate_per_source = (uint32_t)r.per_source;
		l->rate_total = (uint32_t)r.total;
		l->rate_burst = (uint32_t)r.burst;
	}
	if (l->accept_proxy && cidr_set_empty(&l->trusted)) {
		const yaml_node_t *at = NULL;

		MAP_FOREACH(map, pair) {
			const yaml_node_t *k = cfg_node(c, pair->key);

			if (k->type == YAML_SCALAR_NODE &&
			    strcmp(node_str(k), "accept_proxy") == 0)
				at = k;
		}
		cfg_path(sub, sizeof(sub), "%s.accept_proxy", path);
		cfg_err(c, at ? at : map, sub, "accept_proxy needs 'trusted': "
		    "a list of the proxies' addresses (CIDR) allowed to send "
		    "a PROXY header; none is trusted by default");
	} else if (!l->accept_proxy && found[0] != NULL) {
		cfg_path(sub, sizeof(sub), "%s.trusted", path);
		cfg_err(c, fkey[0], sub, "'trusted' has no effect without "
		    "accept_proxy: true");
	}
}

/* ---- routes (TLS server name / ALPN) ----------------------------------- */

/* Where each name of the listener's routes was written, for the duplicate
 * message. */
struct route_seen {
	uint32_t route;
	uint32_t name;		/* UINT32_MAX: an ALPN-only route */
	const yaml_node_t *node;
};

static bool
route_same_alpn(const struct route *a, const struct route *b)
{
	if (a->alpn == NULL || b->alpn == NULL)
		return a->alpn == b->alpn;
	return a->alpn_len == b->alpn_len &&
	    memcmp(a->alpn, b->alpn, a->alpn_len) == 0;
}

/* A second route for the same (name, alpn) could never match: say so. */
static void
cfg_route_dup(struct cfg *c, const struct listener *l, struct route_seen *seen,
    size_t nseen, const char *path)
{
	const struct route_seen *me = &seen[nseen];
	const struct route *r = &l->routes[me->route];

	for (size_t i = 0; i < nseen; i++) {
		const struct route *o = &l->routes[seen[i].route];
		bool same;

		if (!route_same_alpn(r, o))
			continue;
		if (me->name == UINT32_MAX || seen[i].name == UINT32_MAX)
			same = me->name == seen[i].name;
		else
			same = route_name_equal(&r->names[me->name],
			    &o->names[seen[i].name]);
		if (!same)
			continue;
		if (me->name == UINT32_MAX)
			cfg_err(c, me->node, path, "duplicate route for ALPN "
			    "'%s' (first at %zu:%zu)", r->alpn,
			    seen[i].node->start_mark.line + 1,
			    seen[i].node->start_mark.column + 1);
		else
			cfg_err(c, me->node, path, "duplicate server name "
			    "'%s'%s%s (first at %zu:%zu)", node_str(me->node),
			    r->alpn ? " with ALPN " : "", r->alpn ? r->alpn : "",
			    seen[i].node->start_mark.line + 1,
			    seen[i].node->start_mark.column + 1);
		return;
	}
}

static void
cfg_route_names(struct cfg *c, struct route *r, const yaml_node_t *key,
    const yaml_node_t *val, const char *path, const yaml_node_t ***nodes)
{
	const yaml_node_t *one[1] = { val };
	const yaml_node_t *const *list = one;
	const yaml_node_t **tmp = NULL;
	size_t n = 1, k = 0;
	char sub[512], err[512];

	if (val->type == YAML_SEQUENCE_NODE) {
		n = (size_t)(val->data.sequence.items.top -
		    val->data.sequence.items.start);
		if (n == 0) {
			cfg_err(c, val, path, "empty list of server names");
			return;
		}
		tmp = xcalloc(n, sizeof(*tmp));
		SEQ_FOREACH(val, item)
			tmp[k++] = cfg_node(c, *item);
		list = tmp;
	}
	r->names = xcalloc(n, sizeof(*r->names));
	*nodes = xcalloc(n, sizeof(**nodes));
	for (size_t i = 0; i < n; i++) {
		const char *text;

		if (!cfg_visit(c, list[i]))
			break;
		if (val->type == YAML_SEQUENCE_NODE)
			cfg_path(sub, sizeof(sub), "%s[%zu]", path, i);
		else
			cfg_path(sub, sizeof(sub), "%s", path);
		text = cfg_scalar(c, val->type == YAML_SEQUENCE_NODE ? NULL :
		    key, list[i], sub, "a server name or a list of them");
		if (text == NULL)
			continue;
		if (route_name_parse(text, &r->names[r->nnames], err,
		    sizeof(err)) == -1) {
			cfg_err(c, list[i], sub, "%s", err);
			continue;
		}
		(*nodes)[r->nnames++] = list[i];
	}
	free(tmp);
}

static void
cfg_route(struct cfg *c, struct listener *l, const yaml_node_t *item,
    const char *path, struct route_seen **seen, size_t *nseen)
{
	static const char *const extra[] = { "sni", "alpn", "pool", NULL };
	struct route *r = &l->routes[l->nroutes];
	const yaml_node_t *found[3], *fkey[3];
	const yaml_node_t **nodes = NULL;
	const char *text;
	char sub[512], err[512];

	if (!cfg_is_map(c, NULL, item, path))
		return;
	l->nroutes++;
	cfg_walk(c, item, path, NULL, NULL, extra, found, fkey);
	if (found[0] != NULL) {
		cfg_path(sub, sizeof(sub), "%s.sni", path);
		cfg_route_names(c, r, fkey[0], found[0], sub, &nodes);
	}
	if (found[1] != NULL) {
		cfg_path(sub, sizeof(sub), "%s.alpn", path);
		text = cfg_scalar(c, fkey[1], found[1], sub, "an ALPN protocol "
		    "name");
		if (text != NULL && route_alpn_check(text, strlen(text), err,
		    sizeof(err)) == -1) {
			cfg_err(c, found[1], sub, "%s", err);
		} else if (text != NULL) {
			r->alpn = xstrdup(text);
			r->alpn_len = strlen(text);
		}
	}
	if (found[0] == NULL && found[1] == NULL)
		cfg_err(c, item, path, "a route needs 'sni', 'alpn' or both");
	cfg_path(sub, sizeof(sub), "%s.pool", path);
	if (found[2] == NULL) {
		cfg_err(c, item, path, "missing required key 'pool'");
	} else if ((text = cfg_scalar(c, fkey[2], found[2], sub,
	    "a pool name")) != NULL &&
	    (r->pool = gen_find_pool(c->g, text)) == NULL) {
		cfg_err(c, found[2], sub, "unknown pool '%s'", text);
	}

	/* duplicates: every (name, alpn) and ALPN-only route once */
	for (uint32_t i = 0; i < r->nnames || (i == 0 && found[0] == NULL &&
	    r->alpn != NULL); i++) {
		*seen = xrealloc(*seen, (*nseen + 1) * sizeof(**seen));
		(*seen)[*nseen].route = l->nroutes - 1;
		(*seen)[*nseen].name = found[0] == NULL ? UINT32_MAX : i;
		(*seen)[*nseen].node = found[0] == NULL ? found[1] : nodes[i];
		cfg_path(sub, sizeof(sub), "%s.%s", path, found[0] == NULL ?
		    "alpn" : "sni");
		cfg_route_dup(c, l, *seen, *nseen, sub);
		(*nseen)++;
	}
	free(nodes);
}

static void
cfg_routes(struct cfg *c, struct listener *l, const yaml_node_t *key,
    const yaml_node_t *val, const char *path)
{
	struct route_seen *seen = NULL;
	size_t nseen = 0, i = 0, n;
	char sub[512];

	if (val->type != YAML_SEQUENCE_NODE) {
		cfg_err(c, node_is_null(val) ? key : val, path, "expected a "
		    "list of routes, got %s", node_is_null(val) ? "nothing" :
		    node_kind(val));
		return;
	}
	n = (size_t)(val->data.sequence.items.top -
	    val->data.sequence.items.start);
	if (n == 0) {
		cfg_err(c, val, path, "empty list of routes");
		return;
	}
	l->routes = xcalloc(n, sizeof(*l->routes));
	SEQ_FOREACH(val, item) {
		const yaml_node_t *node = cfg_node(c, *item);

		if (!cfg_visit(c, node))
			break;
		cfg_path(sub, sizeof(sub), "%s[%zu]", path, i++);
		cfg_route(c, l, node, sub, &seen, &nseen);
	}
	free(seen);
}

/* protocol: tcp | udp, and what a UDP listener cannot have (its
 * datagrams carry no PROXY header, no TLS hello to route by). */
static void
cfg_listener_protocol(struct cfg *c, struct listener *l,
    const yaml_node_t *map, const char *path, const yaml_node_t *val,
    const yaml_node_t *key, const yaml_node_t *routes)
{
	const char *v;
	char sub[512];

	if (val == NULL)
		return;
	cfg_path(sub, sizeof(sub), "%s.protocol", path);
	if ((v = cfg_scalar(c, key, val, sub, "tcp or udp")) == NULL)
		return;
	if (strcmp(v, "udp") == 0)
		l->udp = true;
	else if (strcmp(v, "tcp") != 0) {
		cfg_err(c, val, sub, "unknown protocol '%s' (tcp or udp)", v);
		return;
	}
	if (!l->udp)
		return;
	if (l->accept_proxy)
		cfg_err(c, val, sub, "a UDP listener cannot have "
		    "accept_proxy (datagrams carry no PROXY header)");
	if (routes != NULL)
		cfg_err(c, routes, sub, "a UDP listener cannot have routes "
		    "(they match a TLS ClientHello); use 'pool'");
	(void)map;
}

/* A pool serves TCP listeners or UDP listeners, not both: its health
 * checks, timeouts and counters mean one or the other. */
static void
cfg_pool_protocol(struct cfg *c, struct listener *l, const yaml_node_t *at,
    const char *path)
{
	size_t i = (size_t)(l->pool - c->g->pools);

	if (c->pool_user == NULL) {
		c->pool_user = xcalloc(c->g->npools, sizeof(*c->pool_user));
		c->pool_user_udp = xcalloc(c->g->npools,
		    sizeof(*c->pool_user_udp));
	}
	if (c->pool_user[i] == NULL) {
		c->pool_user[i] = l->name;
		c->pool_user_udp[i] = l->udp;
		l->pool->udp = l->udp;
		return;
	}
	if (c->pool_user_udp[i] != l->udp)
		cfg_err(c, at, path, "pool '%s' is used by %s listener '%s' "
		    "already; a pool serves either TCP or UDP listeners "
		    "(give this one a pool of its own)", l->pool->name,
		    c->pool_user_udp[i] ? "UDP" : "TCP", c->pool_user[i]);
}

static void
cfg_listener(struct cfg *c, struct listener *l, const yaml_node_t *key,
    const yaml_node_t *map, const char *path)
{
	static const char *const extra[] = { "bind", "pool", "trusted",
	    "allow", "deny", "rate_limit", "routes", "protocol", NULL };
	struct listener_opts o = {
		.inspect_timeout_ms = LISTENER_INSPECT_TIMEOUT_MS,
	};
	const yaml_node_t *found[8], *fkey[8];
	const char *poolname;
	char sub[512];
	size_t i = 0;

	if (!cfg_is_map(c, key, map, path))
		return;
	cfg_walk(c, map, path, listener_keys, &o, extra, found, fkey);
	l->max_conns = (uint32_t)o.max_conns;
	l->inspect_timeout_ms = o.inspect_timeout_ms;
	l->accept_proxy = o.accept_proxy;
	l->max_conns_per_source = (uint32_t)o.max_conns_per_source;
	l->mptcp = o.mptcp;
	cfg_listener_guard(c, l, map, path, found + 2, fkey + 2);
	cfg_listener_protocol(c, l, map, path, found[7], fkey[7], found[6]);

	cfg_path(sub, sizeof(sub), "%s.bind", path);
	if (found[0] == NULL) {
		cfg_err(c, key, path, "missing required key 'bind'");
	} else if (found[0]->type == YAML_SEQUENCE_NODE) {
		SEQ_FOREACH(found[0], item) {
			const yaml_node_t *n = cfg_node(c, *item);

			if (!cfg_visit(c, n))
				break;
			cfg_path(sub, sizeof(sub), "%s.bind[%zu]", path, i++);
			cfg_bind(c, l, n, sub);
		}
		if (i == 0)
			cfg_err(c, found[0], sub, "empty list of addresses");
	} else if (node_is_null(found[0])) {
		cfg_err(c, fkey[0], sub, "missing value (expected an address "
		    "or a list of addresses)");
	} else {
		cfg_bind(c, l, found[0], sub);
	}

	if (found[6] != NULL) {
		cfg_path(sub, sizeof(sub), "%s.routes", path);
		cfg_routes(c, l, fkey[6], found[6], sub);
	}

	cfg_path(sub, sizeof(sub), "%s.pool", path);
	if (found[1] == NULL) {
		/* With routes, no pool means: what no route matches is
		 * closed. */
		if (found[6] == NULL)
			cfg_err(c, key, path, "missing required key 'pool' "
			    "(or 'routes')");
		return;
	}
	if ((poolname = cfg_scalar(c, fkey[1], found[1], sub,
	    "a pool name")) == NULL)
		return;
	if ((l->pool = cfg_find_pool(c, poolname)) == NULL) {
		cfg_err(c, found[1], sub, "unknown pool '%s'", poolname);
		return;
	}
	cfg_pool_protocol(c, l, found[1], sub);
}

static void
cfg_listeners(struct cfg *c, const yaml_node_t *map)
{
	char path[512];

	if (!cfg_is_map(c, NULL, map, "listeners"))
		return;
	if (map_size(map) > CFG_MAX_LISTENERS) {
		cfg_err(c, map, "listeners", "too many listeners (%zu; at most "
		    "%d)", map_size(map), CFG_MAX_LISTENERS);
		return;
	}
	c->g->listeners = xcalloc(map_size(map), sizeof(*c->g->listeners));
	MAP_FOREACH(map, pair) {
		const yaml_node_t *k = cfg_node(c, pair->key);
		const char *name = cfg_key(c, map, pair, "listeners");
		struct listener *l;

		if (name == NULL)
			continue;
		if (*name == '\0') {
			cfg_err(c, k, "listeners", "empty listener name");
			continue;
		}
		cfg_path(path, sizeof(path), "listeners.%s", name);
		l = &c->g->listeners[c->g->nlisteners++];
		l->name = xstrdup(name);
		l->st = listener_state_new();
		cfg_listener(c, l, k, cfg_node(c, pair->value), path);
	}
	if (c->g->nlisteners == 0 && map_size(map) == 0)
		cfg_err(c, map, NULL, "no listeners defined");
}

static void
cfg_root(struct cfg *c, const yaml_node_t *root)
{
	const yaml_node_t *sec[4] = { NULL, NULL, NULL, NULL };

	if (root->type != YAML_MAPPING_NODE) {
		cfg_err(c, root, NULL, "expected a mapping with global, "
		    "defaults, listeners and pools at the top, got %s",
		    node_kind(root));
		return;
	}
	/* Sections are processed in dependency order whatever their order
	 * in the file: defaults before pools, pools before listeners. */
	cfg_walk(c, root, "", NULL, NULL, root_keys, sec, NULL);
	if (sec[0] != NULL)
		cfg_global(c, sec[0]);
	c->build.resolvers = c->g->global.resolvers;
	if (sec[1] != NULL)
		cfg_defaults(c, sec[1]);
	if (sec[3] != NULL)
		cfg_pools(c, sec[3]);
	if (sec[2] != NULL && !node_is_null(sec[2]))
		cfg_listeners(c, sec[2]);
	else
		cfg_err(c, sec[2] ? sec[2] : root, NULL,
		    "no listeners defined");
}

/* libyaml reports reader errors (bad UTF-8, control characters) by byte
 * offset only; turn that into a line and column like every other error. */
static void
cfg_offset_mark(const char *buf, size_t len, size_t off, size_t *line,
    size_t *col)
{
	*line = 1;
	*col = 1;
	for (size_t i = 0; i < off && i < len; i++) {
		if (buf[i] == '\n') {
			(*line)++;
			*col = 1;
		} else {
			(*col)++;
		}
	}
}

static void
cfg_syntax_error(const char *name, const yaml_parser_t *y, const char *buf,
    size_t len, struct config_errors *e)
{
	size_t line = y->problem_mark.line + 1, col = y->problem_mark.column + 1;

	if (y->error == YAML_READER_ERROR)
		cfg_offset_mark(buf, len, y->problem_offset, &line, &col);
	if (y->error == YAML_MEMORY_ERROR)
		config_errors_add(e, "%s:%zu:%zu: out of memory", name, line,
		    col);
	else if (y->context != NULL)
		config_errors_add(e, "%s:%zu:%zu: syntax error: %s (%s at "
		    "line %zu)", name, line, col, y->problem ? y->problem :
		    "invalid YAML", y->context, y->context_mark.line + 1);
	else
		config_errors_add(e, "%s:%zu:%zu: syntax error: %s", name,
		    line, col, y->problem ? y->problem : "invalid YAML");
}

/*
 * Bound what a file may cost before libyaml builds a tree of it: its size,
 * and how deep mappings and lists nest, checked on the events as they come
 * (libyaml scans every open flow level for each token, so a file of
 * nothing but '[' costs it time quadratic in the depth).  Returns 0, or
 * -1 after reporting FILE:LINE:COL.
 */
static int
cfg_precheck(const char *name, const char *buf, size_t len,
    struct config_errors *e)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	int depth = 0, rc = 0;
	size_t line, col;

	if (len > CFG_MAX_FILE_SIZE) {
		cfg_offset_mark(buf, len, CFG_MAX_FILE_SIZE, &line, &col);
		config_errors_add(e, "%s:%zu:%zu: file too large (more than "
		    "%u bytes)", name, line, col, CFG_MAX_FILE_SIZE);
		return -1;
	}
	if (!yaml_parser_initialize(&parser)) {
		config_errors_add(e, "%s: cannot initialize the YAML parser",
		    name);
		return -1;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	for (;;) {
		if (!yaml_parser_parse(&parser, &ev)) {
			cfg_syntax_error(name, &parser, buf, len, e);
			rc = -1;
			break;
		}
		if (ev.type == YAML_SEQUENCE_START_EVENT ||
		    ev.type == YAML_MAPPING_START_EVENT) {
			if (++depth > CFG_MAX_DEPTH) {
				config_errors_add(e, "%s:%zu:%zu: nested too "
				    "deep (more than %d levels of mappings and "
				    "lists)", name, ev.start_mark.line + 1,
				    ev.start_mark.column + 1, CFG_MAX_DEPTH);
				rc = -1;
			}
		} else if (ev.type == YAML_SEQUENCE_END_EVENT ||
		    ev.type == YAML_MAPPING_END_EVENT) {
			depth--;
		}
		if (ev.type == YAML_STREAM_END_EVENT || rc == -1) {
			yaml_event_delete(&ev);
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	return rc;
}

struct gen *
config_load_mem(const char *name, const char *buf, size_t len,
    struct config_errors *e)
{
	return config_load_mem_resolved(name, buf, len, NULL, e);
}

struct gen *
config_load_mem_resolved(const char *name, const char *buf, size_t len,
    const struct resolved_set *r, struct config_errors *e)
{
	struct cfg c = { .file = name, .e = e, .budget = CFG_NODE_BUDGET };
	yaml_parser_t parser;
	yaml_document_t doc, extra;
	const yaml_node_t *root, *root2;
	size_t nerr = e->n;
	char err[512];

	if (cfg_precheck(name, buf, len, e) == -1)
		return NULL;
	if (!yaml_parser_initialize(&parser)) {
		config_errors_add(e, "%s: cannot initialize the YAML parser",
		    name);
		return NULL;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	if (!yaml_parser_load(&parser, &doc)) {
		cfg_syntax_error(name, &parser, buf, len, e);
		yaml_parser_delete(&parser);
		return NULL;
	}
	c.doc = &doc;
	c.g = gen_new(name);
	c.build.resolved = r;
	c.defaults = config_pool_defaults;
	cfg_key_dups(&c);
	root = yaml_document_get_root_node(&doc);
	if (root == NULL)
		cfg_err(&c, NULL, NULL, "no listeners defined");
	else
		cfg_root(&c, root);

	/* A second document is most likely a stray "---"; refuse rather
	 * than silently ignore half the file. */
	if (!yaml_parser_load(&parser, &extra)) {
		cfg_syntax_error(name, &parser, buf, len, e);
	} else {
		if ((root2 = yaml_document_get_root_node(&extra)) != NULL)
			cfg_err(&c, root2, NULL, "only one YAML document is "
			    "allowed (remove the '---' line)");
		yaml_document_delete(&extra);
	}
	config_health_clear(&c.defaults.health);
	free(c.pair_off);
	free(c.pair_dup);
	free(c.pool_user);
	free(c.pool_user_udp);
	hindex_free(&c.pools);
	hindex_free(&c.binds);
	cfg_flush_errors(&c);
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);

	if (e->n == nerr && config_finish(c.g, err, sizeof(err)) == -1)
		config_errors_add(e, "%s: %s", name, err);
	if (e->n != nerr) {
		gen_put(c.g);
		return NULL;
	}
	/* Kept for a rebuild after a DNS change (config_rebuild). */
	c.g->text = xmalloc(len + 1);
	memcpy(c.g->text, buf, len);
	c.g->text[len] = '\0';
	c.g->textlen = len;
	return c.g;
}

struct gen *
config_load_file(const char *path, struct config_errors *e)
{
	FILE *f;
	char *buf = NULL;
	size_t len = 0, cap = 0, r;
	struct gen *g;

	/* Close-on-exec: a reload loads on a helper thread, and a binary
	 * upgrade started meanwhile must not inherit the file. */
	if ((f = fopen(path, "re")) == NULL) {
		config_errors_add(e, "%s: cannot open: %s", path,
		    strerror(errno));
		return NULL;
	}
	/* Read at most one byte past the limit: config_load_mem() reports
	 * where the file crossed it, and a huge file is not read whole. */
	for (;;) {
		size_t want;

		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 16384;
			buf = xrealloc(buf, cap);
		}
		want = cap - len;
		if (want > (size_t)CFG_MAX_FILE_SIZE + 1 - len)
			want = (size_t)CFG_MAX_FILE_SIZE + 1 - len;
		r = fread(buf + len, 1, want, f);
		len += r;
		if (r == 0 || len > CFG_MAX_FILE_SIZE)
			break;
	}
	if (ferror(f)) {
		config_errors_add(e, "%s: cannot read: %s", path,
		    strerror(errno));
		fclose(f);
		free(buf);
		return NULL;
	}
	fclose(f);
	g = config_load_mem(path, buf, len, e);
	free(buf);
	return g;
}

struct gen *
config_rebuild(const struct gen *cur, const struct resolved_set *r,
    struct config_errors *e)
{
	if (cur->quick)
		return config_quick_rebuild(cur, r, e);
	return config_load_mem_resolved(cur->source, cur->text, cur->textlen,
	    r, e);
}
