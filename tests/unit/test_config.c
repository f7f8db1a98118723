/*
 * test_config: the YAML loader and quick mode.  Good files must produce
 * exactly the generation they describe (every key, every default); bad
 * files must produce every expected error, in file order, each with its
 * exact "FILE:LINE:COL: path: message".  Only numeric addresses and
 * "localhost" are used, so no test needs a network.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "config/config.h"
#include "balance/balance.h"
#include "config/gen.h"
#include "dns/resolve.h"
#include "parse/route.h"
#include "base/util.h"
#include "service/wiring.h"

/* ThreadSanitizer runs this loader code 10-35 times slower (its CI pass
 * measured 18 s for what takes 0.5 s): the regression bounds below catch
 * quadratic blow-ups of minutes, which a factor of 10 still does. */
#if defined(__SANITIZE_THREAD__)
#define SANITIZER_SLOWDOWN 10.0
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SANITIZER_SLOWDOWN 10.0
#endif
#endif
#ifndef SANITIZER_SLOWDOWN
#define SANITIZER_SLOWDOWN 1.0
#endif

#ifndef FIXTURES
#error "FIXTURES must be the absolute path of tests/unit/fixtures"
#endif

static struct gen *
load_ok(const char *path)
{
	struct config_errors e = { 0 };
	struct gen *g = config_load_file(path, &e);

	for (size_t i = 0; i < e.n; i++)
		print_error("unexpected: %s\n", e.msg[i]);
	assert_int_equal(e.n, 0);
	assert_non_null(g);
	config_errors_free(&e);
	return g;
}

static struct gen *
mem_ok(const char *yaml)
{
	struct config_errors e = { 0 };
	struct gen *g = config_load_mem("t.yaml", yaml, strlen(yaml), &e);

	for (size_t i = 0; i < e.n; i++)
		print_error("unexpected: %s\n", e.msg[i]);
	assert_int_equal(e.n, 0);
	assert_non_null(g);
	return g;
}

/* Each expected string must be a prefix of the error at the same position
 * (most are the whole message); a NULL ends the list. */
static void
check_errors(const struct config_errors *e, const char *const *want)
{
	size_t n = 0;

	while (want[n] != NULL)
		n++;
	for (size_t i = 0; i < e->n; i++)
		print_message("  got: %s\n", e->msg[i]);
	for (size_t i = 0; i < n && i < e->n; i++) {
		if (strncmp(e->msg[i], want[i], strlen(want[i])) != 0)
			fail_msg("error %zu:\n  got:  %s\n  want: %s", i,
			    e->msg[i], want[i]);
	}
	assert_int_equal(e->n, n);
}

static void
file_bad(const char *name, const char *const *want)
{
	struct config_errors e = { 0 };
	char path[1024];
	struct gen *g;

	snprintf(path, sizeof(path), "%s/%s", FIXTURES, name);
	/* Messages name the file as given; use the relative name. */
	g = config_load_file(path, &e);
	assert_null(g);
	for (size_t i = 0; i < e.n; i++) {
		size_t plen = strlen(FIXTURES) + 1;

		assert_memory_equal(e.msg[i], path, plen);
		memmove(e.msg[i], e.msg[i] + plen, strlen(e.msg[i] + plen) + 1);
	}
	check_errors(&e, want);
	config_errors_free(&e);
}

static void
mem_bad(const char *yaml, const char *const *want)
{
	struct config_errors e = { 0 };

	assert_null(config_load_mem("t.yaml", yaml, strlen(yaml), &e));
	check_errors(&e, want);
	config_errors_free(&e);
}

static const struct server *
find_server(const struct pool *p, const char *name)
{
	for (uint32_t i = 0; i < p->nservers; i++)
		if (strcmp(p->servers[i].name, name) == 0)
			return &p->servers[i];
	fail_msg("no server '%s' in pool '%s'", name, p->name);
	return NULL;
}

/* Invariants every loaded generation must satisfy. */
static void
check_wiring(const struct gen *g)
{
	assert_int_equal(g->magic, GEN_MAGIC);
	for (uint32_t i = 0; i < g->npools; i++) {
		const struct pool *p = &g->pools[i];

		assert_true(p->nservers > 0);
		for (uint32_t s = 0; s < p->nservers; s++) {
			assert_ptr_equal(p->servers[s].pool, p);
			assert_int_equal(p->servers[s].index, s);
			assert_non_null(p->servers[s].st);
			assert_non_null(p->servers[s].addr_text);
			assert_int_equal(p->servers[s].addrlen,
			    addr_len((const struct sockaddr *)
			    &p->servers[s].addr));
		}
	}
	for (uint32_t i = 0; i < g->nlisteners; i++) {
		const struct listener *l = &g->listeners[i];

		assert_non_null(l->st);
		assert_true(l->pool != NULL || l->nroutes > 0);
		assert_true(l->nbinds > 0);
		assert_true(l->pool == NULL || (l->pool >= g->pools &&
		    l->pool < g->pools + g->npools));
		for (uint32_t r = 0; r < l->nroutes; r++)
			assert_true(l->routes[r].pool >= g->pools &&
			    l->routes[r].pool < g->pools + g->npools);
	}
}

/* ---- good files ---------------------------------------------------------- */

static void
test_good_full(void **state)
{
	struct gen *g = load_ok(FIXTURES "/good_full.yaml");
	const struct listener *l;
	const struct pool *web, *cache;
	const struct server *s;
	char buf[ADDR_STRLEN];

	(void)state;
	check_wiring(g);
	assert_string_equal(g->source, FIXTURES "/good_full.yaml");
	assert_int_equal(g->global.workers, 4);
	assert_int_equal(g->global.max_conns, 20000);
	assert_int_equal(g->global.shutdown_timeout_ms, 45000);
	assert_int_equal(g->global.log_level, LOG_NOTICE);
	assert_false(g->global.access_log);

	assert_int_equal(g->nlisteners, 4);
	l = gen_find_listener(g, "web");
	assert_non_null(l);
	assert_string_equal(l->pool->name, "web");
	assert_int_equal(l->max_conns, 10000);
	assert_int_equal(l->nbinds, 1);
	assert_string_equal(l->binds[0].text, "127.0.0.1:18080");
	l = gen_find_listener(g, "both");
	assert_int_equal(l->nbinds, 2);
	assert_int_equal(l->max_conns, 0);
	assert_string_equal(addr_format((struct sockaddr *)&l->binds[1].addr,
	    buf, sizeof(buf)), "[::1]:18443");
	l = gen_find_listener(g, "any");
	assert_int_equal(l->nbinds, 2);
	assert_string_equal(l->binds[0].text, "*:18090");
	assert_string_equal(addr_format((struct sockaddr *)&l->binds[0].addr,
	    buf, sizeof(buf)), "0.0.0.0:18090");
	assert_string_equal(addr_format((struct sockaddr *)&l->binds[1].addr,
	    buf, sizeof(buf)), "[::]:18090");
	/* Two port-0 binds on one address are two ephemeral sockets. */
	assert_int_equal(gen_find_listener(g, "ephemeral")->nbinds, 2);

	assert_int_equal(g->npools, 2);
	web = gen_find_pool(g, "web");
	assert_int_equal(web->alg, BAL_SOURCE);
	assert_int_equal(web->connect_timeout_ms, 2000);
	/* inherited from defaults */
	assert_int_equal(web->idle_timeout_ms, 600000);
	assert_int_equal(web->retries, 3);
	assert_int_equal(web->max_fails, 5);
	assert_int_equal(web->fail_timeout_ms, 30000);
	assert_int_equal(web->slow_start_ms, 0);
	assert_true(web->health.enabled);
	assert_int_equal(web->health.interval_ms, 5000);
	assert_int_equal(web->health.timeout_ms, 500);
	assert_int_equal(web->health.rise, 1);
	assert_int_equal(web->health.fall, 4);
	assert_int_equal(web->health.send_len, 6);
	assert_memory_equal(web->health.send, "PING\r\n", 6);
	assert_int_equal(web->health.expect_len, 5);
	assert_memory_equal(web->health.expect, "+PONG", 5);
	assert_int_equal(web->nservers, 3);
	s = &web->servers[0];
	assert_string_equal(s->name, "127.0.0.1:8081");
	assert_string_equal(s->addr_text, "127.0.0.1:8081");
	assert_int_equal(s->weight, 1);
	assert_int_equal(s->max_conns, 0);
	assert_false(s->backup);
	s = find_server(web, "app2");
	assert_int_equal(s->index, 1);
	assert_string_equal(s->addr_text, "127.0.0.2:8082");
	assert_int_equal(s->weight, 3);
	assert_int_equal(s->max_conns, 500);
	assert_true(s->backup);
	s = &web->servers[2];
	assert_string_equal(s->name, "[::1]:8083");
	assert_string_equal(s->addr_text, "[::1]:8083");

	cache = gen_find_pool(g, "cache");
	assert_int_equal(cache->alg, BAL_LEASTCONN);
	assert_int_equal(cache->connect_timeout_ms, 1500);
	assert_int_equal(cache->retries, 0);
	assert_int_equal(cache->max_fails, 0);
	assert_false(cache->health.enabled);
	assert_int_equal(cache->servers[0].weight, 0);
	gen_put(g);
}

static void
test_good_minimal_defaults(void **state)
{
	struct gen *g = load_ok(FIXTURES "/good_minimal.yaml");
	const struct pool *p = &g->pools[0];

	(void)state;
	check_wiring(g);
	assert_int_equal(g->global.workers, 0);
	assert_int_equal(g->global.max_conns, 0);
	assert_int_equal(g->global.shutdown_timeout_ms, 30000);
	assert_int_equal(g->global.log_level, LOG_INFO);
	assert_true(g->global.access_log);
	assert_int_equal(p->alg, BAL_ROUNDROBIN);
	assert_int_equal(p->connect_timeout_ms, 5000);
	assert_int_equal(p->idle_timeout_ms, 300000);
	assert_int_equal(p->retries, 2);
	assert_int_equal(p->max_fails, 3);
	assert_int_equal(p->fail_timeout_ms, 10000);
	assert_int_equal(p->slow_start_ms, 3000);
	assert_false(p->health.enabled);
	assert_int_equal(g->listeners[0].max_conns, 0);
	assert_ptr_equal(g->listeners[0].pool, p);
	gen_put(g);
}

static void
test_shipped_configs(void **state)
{
	struct gen *g;

	(void)state;
	g = load_ok(FIXTURES "/../../../conf/minimal.yaml");
	check_wiring(g);
	assert_int_equal(g->nlisteners, 1);
	assert_string_equal(g->listeners[0].binds[0].text, "127.0.0.1:8080");
	assert_string_equal(g->pools[0].servers[0].addr_text, "127.0.0.1:8081");
	gen_put(g);

	g = load_ok(FIXTURES "/../../../conf/tcplb.yaml");
	check_wiring(g);
	assert_int_equal(g->nlisteners, 4);
	assert_int_equal(g->npools, 3);
	assert_int_equal(gen_find_listener(g, "tls")->nroutes, 3);
	gen_put(g);

	g = load_ok(FIXTURES "/../../../conf/patroni.yaml");
	check_wiring(g);
	assert_int_equal(g->nlisteners, 2);
	assert_int_equal(gen_find_pool(g, "primary")->health.type, HEALTH_HTTP);
	assert_true(gen_find_pool(g, "primary")->on_down_shutdown);
	assert_int_equal(gen_find_pool(g, "primary")->servers[0].check_port, 8008);
	assert_int_equal(gen_find_pool(g, "replicas")->health.port, 8008);
	gen_put(g);

	g = load_ok(FIXTURES "/../../../conf/sni.yaml");
	check_wiring(g);
	gen_put(g);

	g = load_ok(FIXTURES "/../../../conf/transparent.yaml");
	check_wiring(g);
	assert_true(gen_find_pool(g, "postgres")->servers[0].source_client);
	assert_true(gen_find_pool(g, "mail")->servers[0].source_client);
	assert_false(gen_find_pool(g, "mail")->servers[1].source_client);
	assert_true(gen_find_listener(g, "app")->mptcp);
	assert_true(gen_find_pool(g, "app")->servers[0].mptcp);
	gen_put(g);
}

static void
test_health_forms(void **state)
{
	struct gen *g;
	const struct pool *p;

	(void)state;
	/* true = defaults; defaults.health_check is inherited unless a pool
	 * has its own, which replaces it whole. */
	g = mem_ok(
	    "defaults:\n"
	    "  health_check: {interval: 7s, send: \"a\\0b\"}\n"
	    "listeners: {l: {bind: '127.0.0.1:0', pool: a}}\n"
	    "pools:\n"
	    "  a: {servers: ['127.0.0.1:1']}\n"
	    "  b: {health_check: true, servers: ['127.0.0.1:1']}\n"
	    "  c: {health_check: {fall: 9}, servers: ['127.0.0.1:1']}\n"
	    "  d: {health_check: no, servers: ['127.0.0.1:1']}\n");
	p = gen_find_pool(g, "a");
	assert_true(p->health.enabled);
	assert_int_equal(p->health.interval_ms, 7000);
	assert_int_equal(p->health.send_len, 3);
	assert_memory_equal(p->health.send, "a\0b", 3);
	p = gen_find_pool(g, "b");
	assert_true(p->health.enabled);
	assert_int_equal(p->health.interval_ms, 2000);
	assert_int_equal(p->health.timeout_ms, 1000);
	assert_int_equal(p->health.rise, 2);
	assert_int_equal(p->health.fall, 3);
	assert_null(p->health.send);
	p = gen_find_pool(g, "c");
	assert_int_equal(p->health.interval_ms, 2000);
	assert_int_equal(p->health.fall, 9);
	assert_null(p->health.send);
	assert_false(gen_find_pool(g, "d")->health.enabled);
	gen_put(g);
}

/* An empty send or expect would silently turn the check into a plain
 * connect: an error, as is initial_state where no check runs. */
static void
test_health_empty_and_initial_state(void **state)
{
	static const char *const empty[] = {
		"t.yaml:4:28: pools.e.health_check.send: empty string (leave the key out to send nothing)",
		"t.yaml:4:40: pools.e.health_check.expect: empty string (leave the key out to expect nothing)",
		"t.yaml:5:22: pools.f.health_check.expect: empty string",
		NULL
	};
	static const char *const init[] = {
		"t.yaml:4:5: pools.a.initial_state: needs a health_check in this pool",
		"t.yaml:6:42: pools.b.initial_state: invalid initial state 'sideways' (up or down)",
		NULL
	};
	struct gen *g;

	(void)state;
	mem_bad("listeners: {l: {bind: '127.0.0.1:0', pool: e}}\n"
	    "pools:\n"
	    "  # empty strings\n"
	    "  e: {health_check: {send: '', expect: \"\"}, servers: ['127.0.0.1:1']}\n"
	    "  f: {health_check: {expect: }, servers: ['127.0.0.1:1']}\n", empty);
	mem_bad("listeners: {l: {bind: '127.0.0.1:0', pool: a}}\n"
	    "pools:\n"
	    "  a:\n"
	    "    initial_state: down\n"
	    "    servers: ['127.0.0.1:1']\n"
	    "  b: {health_check: true, initial_state: sideways, servers: ['127.0.0.1:1']}\n", init);
	g = mem_ok("defaults: {initial_state: down}\n"
	    "listeners: {l: {bind: '127.0.0.1:0', pool: a}}\n"
	    "pools:\n"
	    "  a: {health_check: true, servers: ['127.0.0.1:1']}\n"
	    "  b: {servers: ['127.0.0.1:1']}\n"
	    "  c: {health_check: true, initial_state: up, servers: ['127.0.0.1:1']}\n");
	/* down only where a check can bring the server up */
	assert_false(atomic_load(&gen_find_pool(g, "a")->servers[0].st->up));
	assert_true(atomic_load(&gen_find_pool(g, "b")->servers[0].st->up));
	assert_true(atomic_load(&gen_find_pool(g, "c")->servers[0].st->up));
	gen_put(g);
}

static void
test_hostname_servers(void **state)
{
	struct gen *g = mem_ok(
	    "listeners: {l: {bind: 'localhost:0', pool: p}}\n"
	    "pools: {p: {servers: ['localhost:9', {address: '127.0.0.2:9', "
	    "name: two}]}}\n");
	const struct pool *p = &g->pools[0];

	(void)state;
	check_wiring(g);
	/* localhost may be 127.0.0.1 and ::1: one server per address, all
	 * named as written, each with its own address text. */
	assert_true(p->nservers >= 2);
	for (uint32_t i = 0; i + 1 < p->nservers; i++) {
		assert_string_equal(p->servers[i].name, "localhost:9");
		for (uint32_t j = 0; j < i; j++)
			assert_string_not_equal(p->servers[i].addr_text,
			    p->servers[j].addr_text);
	}
	assert_string_equal(p->servers[p->nservers - 1].name, "two");
	gen_put(g);
}

static void
test_values_accepted(void **state)
{
	struct gen *g = mem_ok(
	    "global: {workers: 1024, max_connections: 10000000,\n"
	    "         shutdown_timeout: 0, log_level: debug, access_log: ON}\n"
	    "defaults: {retries: 100, max_fails: 1000, connect_timeout: 1ms,\n"
	    "           fail_timeout: 1.5m, slow_start: 1h}\n"
	    "listeners:\n"
	    "  l: {bind: ['*:0'], pool: p, max_connections: 0}\n"
	    "pools:\n"
	    "  p:\n"
	    "    servers:\n"
	    "      - {address: '127.0.0.1:65535', weight: 256, backup: off}\n");

	(void)state;
	assert_int_equal(g->global.workers, 1024);
	assert_int_equal(g->global.shutdown_timeout_ms, 0);
	assert_int_equal(g->global.log_level, LOG_DEBUG);
	assert_true(g->global.access_log);
	assert_int_equal(g->pools[0].retries, 100);
	assert_int_equal(g->pools[0].connect_timeout_ms, 1);
	assert_int_equal(g->pools[0].fail_timeout_ms, 90000);
	assert_int_equal(g->pools[0].slow_start_ms, 3600000);
	assert_int_equal(g->pools[0].servers[0].weight, 256);
	gen_put(g);

	/* Empty sections are fine: every key in them has a default. */
	g = mem_ok("global:\ndefaults:\n"
	    "listeners: {l: {bind: '127.0.0.1:0', pool: p}}\n"
	    "pools: {p: {servers: ['127.0.0.1:1']}}\n");
	assert_int_equal(g->global.shutdown_timeout_ms, 30000);
	/* upgrade_timeout: unlimited by default, as HAProxy and nginx. */
	assert_true(g->global.upgrade_timeout_ms == UINT64_MAX);
	gen_put(g);

	g = mem_ok("global: {upgrade_timeout: 90s}\n"
	    "listeners: {l: {bind: '127.0.0.1:0', pool: p}}\n"
	    "pools: {p: {servers: ['127.0.0.1:1']}}\n");
	assert_int_equal(g->global.upgrade_timeout_ms, 90000);
	gen_put(g);
	g = mem_ok("global: {upgrade_timeout: unlimited}\n"
	    "listeners: {l: {bind: '127.0.0.1:0', pool: p}}\n"
	    "pools: {p: {servers: ['127.0.0.1:1']}}\n");
	assert_true(g->global.upgrade_timeout_ms == UINT64_MAX);
	gen_put(g);
}

/* ---- bad files ----------------------------------------------------------- */

static void
test_bad_syntax(void **state)
{
	static const char *const want[] = {
		"bad_syntax.yaml:4:4: syntax error: did not find expected key "
		    "(while parsing a block mapping at line 2)",
		NULL
	};

	(void)state;
	file_bad("bad_syntax.yaml", want);
}

static void
test_no_listeners(void **state)
{
	static const char *const empty[] = {
		"empty.yaml:1:1: no listeners defined", NULL
	};
	static const char *const nol[] = {
		"bad_no_listeners.yaml:2:1: no listeners defined", NULL
	};
	static const char *const emptymap[] = {
		"t.yaml:1:12: no listeners defined", NULL
	};
	static const char *const comments[] = {
		"t.yaml:1:1: no listeners defined", NULL
	};

	(void)state;
	file_bad("empty.yaml", empty);
	file_bad("bad_no_listeners.yaml", nol);
	mem_bad("listeners: {}\n", emptymap);
	mem_bad("# nothing but a comment\n", comments);
}

static void
test_bad_unknown_keys(void **state)
{
	static const char *const want[] = {
		"bad_unknown_keys.yaml:1:1: globl: unknown key (did you mean "
		    "'global'?)",
		"bad_unknown_keys.yaml:4:3: global.worker: unknown key (did you "
		    "mean 'workers'?)",
		"bad_unknown_keys.yaml:9:5: listeners.l.backlog: unknown key "
		    "(expected one of: max_connections, inspect_timeout, "
		    "accept_proxy, max_connections_per_source, mptcp, bind, pool, "
		    "trusted, allow, deny, rate_limit, routes, protocol)",
		"bad_unknown_keys.yaml:12:5: pools.p.conect_timeout: unknown key "
		    "(did you mean 'connect_timeout'?)",
		"bad_unknown_keys.yaml:14:7: pools.p.health_check.uri: unknown "
		    "key (expected one of: interval, timeout, rise, fall, "
		    "send_proxy, port, send, expect, type, method, path, host, "
		    "expect_status, verify)",
		"bad_unknown_keys.yaml:17:9: pools.p.servers[0].wieght: unknown "
		    "key (did you mean 'weight'?)",
		NULL
	};

	(void)state;
	file_bad("bad_unknown_keys.yaml", want);
}

static void
test_bad_types(void **state)
{
	static const char *const want[] = {
		"bad_types.yaml:1:9: global: expected a mapping, got a scalar",
		"bad_types.yaml:2:11: defaults: expected a mapping, got a list",
		"bad_types.yaml:5:11: listeners.l.bind: expected an address, got "
		    "a mapping",
		"bad_types.yaml:6:11: listeners.l.pool: expected a pool name, "
		    "got a list",
		"bad_types.yaml:7:6: listeners.m: expected a mapping, got a "
		    "scalar",
		"bad_types.yaml:10:14: pools.p.servers: expected a list of "
		    "servers, got a scalar",
		"bad_types.yaml:12:14: pools.q.retries: expected a number, got a "
		    "mapping",
		"bad_types.yaml:14:9: pools.q.servers[0]: expected HOST:PORT or a "
		    "mapping, got a list",
		"bad_types.yaml:15:8: pools.q.servers[1]: missing value "
		    "(expected HOST:PORT or a mapping)",
		NULL
	};

	(void)state;
	file_bad("bad_types.yaml", want);
}

static void
test_bad_duplicates(void **state)
{
	static const char *const want[] = {
		"bad_duplicates.yaml:3:3: global.workers: duplicate key (first "
		    "at 2:3)",
		"bad_duplicates.yaml:9:29: listeners.b.bind[1]: 127.0.0.1:18001 "
		    "is already bound by listener 'a'",
		"bad_duplicates.yaml:11:3: listeners.a: duplicate key (first at "
		    "5:3)",
		"bad_duplicates.yaml:19:15: pools.p.servers[1].name: duplicate "
		    "server name '127.0.0.1:9'",
		"bad_duplicates.yaml:20:18: pools.p.servers[2].address: duplicate "
		    "address 127.0.0.1:9 (also server '127.0.0.1:9')",
		NULL
	};

	(void)state;
	file_bad("bad_duplicates.yaml", want);
}

static void
test_bad_values(void **state)
{
	static const char *const want[] = {
		"bad_values.yaml:2:12: global.workers: 0 is out of range (auto "
		    "or 1-1024)",
		"bad_values.yaml:3:20: global.max_connections: 10000001 is out "
		    "of range (0-10000000)",
		"bad_values.yaml:4:21: global.shutdown_timeout: invalid duration "
		    "'-1s': a sign is not allowed",
		"bad_values.yaml:5:14: global.log_level: unknown log level 'loud' "
		    "(debug, info, notice, warning, err)",
		"bad_values.yaml:6:15: global.access_log: invalid boolean 'maybe' "
		    "(true, false, yes, no, on, off)",
		"bad_values.yaml:8:12: defaults.balance: unknown balance "
		    "algorithm 'fastest' (roundrobin, leastconn, source, random, "
		    "first, maglev)",
		"bad_values.yaml:9:12: defaults.retries: 101 is out of range "
		    "(0-100)",
		"bad_values.yaml:10:20: defaults.connect_timeout: invalid "
		    "duration 'fast': unknown unit",
		"bad_values.yaml:15:22: listeners.l.max_connections: invalid "
		    "number '+5' (0-10000000)",
		"bad_values.yaml:18:19: pools.p.idle_timeout: 0 is out of range "
		    "(1ms-8784h)",
		"bad_values.yaml:19:17: pools.p.slow_start: invalid duration "
		    "'400d': unknown unit 'd' (ms, s, m or h)",
		"bad_values.yaml:20:16: pools.p.max_fails: 1001 is out of range "
		    "(0-1000)",
		"bad_values.yaml:23:13: pools.p.health_check.rise: 0 is out of "
		    "range (1-1000)",
		"bad_values.yaml:26:17: pools.p.servers[0].weight: 257 is out of "
		    "range (0-256)",
		"bad_values.yaml:27:17: pools.p.servers[0].backup: invalid "
		    "boolean '2' (true, false, yes, no, on, off)",
		NULL
	};

	(void)state;
	file_bad("bad_values.yaml", want);
}

static void
test_bad_addresses(void **state)
{
	static const char *const want[] = {
		"bad_addresses.yaml:3:12: listeners.l.bind[0]: invalid port "
		    "'99999' in '127.0.0.1:99999' (1-65535)",
		"bad_addresses.yaml:3:29: listeners.l.bind[1]: missing port in "
		    "'127.0.0.1' (expected HOST:PORT or [IPv6]:PORT)",
		"bad_addresses.yaml:3:40: listeners.l.bind[2]: IPv6 address must "
		    "be in brackets in '::1:80' (e.g. '[::1]:80')",
		"bad_addresses.yaml:7:11: listeners.missing.pool: unknown pool "
		    "'nope'",
		"bad_addresses.yaml:8:3: listeners.nopool: missing required key "
		    "'pool'",
		"bad_addresses.yaml:13:9: pools.p.servers[0]: invalid port '0' in "
		    "'127.0.0.1:0' (1-65535)",
		"bad_addresses.yaml:14:9: pools.p.servers[1]: '*' is only for "
		    "listen addresses, not servers: '*:80'",
		/* the rest is the resolver's own words */
		"bad_addresses.yaml:15:9: pools.p.servers[2]: cannot resolve "
		    "'x.invalid:80': ",
		"bad_addresses.yaml:16:9: pools.p.servers[3]: missing ']' in "
		    "'[::1:80' (expected HOST:PORT or [IPv6]:PORT)",
		"bad_addresses.yaml:18:14: pools.empty.servers: empty list of "
		    "servers",
		"bad_addresses.yaml:19:3: pools.none: missing required key "
		    "'servers'",
		NULL
	};

	(void)state;
	file_bad("bad_addresses.yaml", want);
}

static void
test_bad_two_documents(void **state)
{
	static const char *const want[] = {
		"bad_two_docs.yaml:9:1: only one YAML document is allowed "
		    "(remove the '---' line)",
		NULL
	};

	(void)state;
	file_bad("bad_two_docs.yaml", want);
}

static void
test_bad_misc(void **state)
{
	static const char *const dupdeep[] = {
		"t.yaml:4:51: pools.p.servers[0].weight: duplicate key (first "
		    "at 4:40)",
		NULL
	};
	static const char *const toplist[] = {
		"t.yaml:1:1: expected a mapping with global, defaults, listeners "
		    "and pools at the top, got a list",
		NULL
	};
	static const char *const bindtwice[] = {
		"t.yaml:1:40: listeners.l.bind[1]: 0.0.0.0:8080 ('*:8080') is "
		    "bound twice",
		NULL
	};
	static const char *const nulls[] = {
		"t.yaml:1:17: listeners.l.bind: missing value (expected an "
		    "address or a list of addresses)",
		"t.yaml:1:25: listeners.l.pool: missing value (expected a pool "
		    "name)",
		"t.yaml:2:9: pools.p: expected a mapping, got nothing",
		NULL
	};
	static const char *const health[] = {
		"t.yaml:2:27: pools.p.health_check: expected true, false or a "
		    "mapping, got 'sometimes'",
		"t.yaml:3:28: pools.q.health_check.send: expected a string, got "
		    "a list",
		NULL
	};
	static const char *const badutf8[] = {
		"t.yaml:2:3: syntax error: invalid leading UTF-8 octet",
		NULL
	};

	(void)state;
	mem_bad("listeners: {l: {bind: '127.0.0.1:0', pool: p}}\n"
	    "pools:\n"
	    "  p:\n"
	    "    servers: [{address: '127.0.0.1:1', weight: 1, weight: 2}]\n",
	    dupdeep);
	mem_bad("- listeners\n", toplist);
	mem_bad("listeners: {l: {bind: ['0.0.0.0:8080', '*:8080'], pool: p}}\n"
	    "pools: {p: {servers: ['127.0.0.1:1']}}\n", bindtwice);
	mem_bad("listeners: {l: {bind: , pool: }}\npools: {p: }\n", nulls);
	mem_bad("listeners: {l: {bind: '127.0.0.1:0', pool: p}}\n"
	    "pools: {p: {health_check: sometimes, servers: ['127.0.0.1:1']},\n"
	    "  q: {health_check: {send: [1]}, servers: ['127.0.0.1:1']}}\n",
	    health);
	mem_bad("a: 1\nb:\xff\n", badutf8);
}

/* mptcp: on listeners, and on pools and servers the way source is. */
static void
test_mptcp(void **state)
{
	static const char *const bad[] = {
		"t.yaml:1:54: listeners.l.mptcp: invalid boolean 'maybe'",
		"t.yaml:2:46: pools.p.mptcp: expected true or false, got a list",
		NULL
	};
	struct gen *g;
	const struct pool *p;

	(void)state;
	g = mem_ok("defaults: {mptcp: true}\n"
	    "listeners:\n"
	    "  l: {bind: '127.0.0.1:0', pool: p, mptcp: true}\n"
	    "  m: {bind: '127.0.0.1:0', pool: q}\n"
	    "pools:\n"
	    "  p: {servers: ['127.0.0.1:1', {address: '127.0.0.1:2', mptcp: false}]}\n"
	    "  q: {mptcp: false, servers: ['127.0.0.1:3', {address: '127.0.0.1:4', mptcp: true}]}\n");
	assert_true(gen_find_listener(g, "l")->mptcp);
	assert_false(gen_find_listener(g, "m")->mptcp);
	p = gen_find_pool(g, "p");
	assert_true(p->mptcp);
	assert_true(find_server(p, "127.0.0.1:1")->mptcp);
	assert_false(find_server(p, "127.0.0.1:2")->mptcp);
	p = gen_find_pool(g, "q");
	assert_false(p->mptcp);
	assert_false(find_server(p, "127.0.0.1:3")->mptcp);
	assert_true(find_server(p, "127.0.0.1:4")->mptcp);
	gen_put(g);
	mem_bad("listeners: {l: {bind: '127.0.0.1:0', pool: p, mptcp: maybe}}\n"
	    "pools: {p: {servers: ['127.0.0.1:1'], mptcp: [1]}}\n", bad);
}

/* source: at defaults, pool and server level, the server's own winning;
 * bad addresses and family mismatches located at the key to blame. */
static void
test_source(void **state)
{
	static const char *const bad[] = {
		"t.yaml:3:41: pools.a.source: invalid address '10.0.0.1:80' "
		    "(expected an IPv4 or IPv6 address of this host, without a "
		    "port)",
		"t.yaml:4:41: pools.b.source: invalid address 'localhost' "
		    "(expected",
		"t.yaml:5:41: pools.c.source: '0.0.0.0' is the unspecified "
		    "address (leave source out to let the kernel choose)",
		"t.yaml:6:35: pools.d.servers[0]: source address 10.0.0.1 is "
		    "IPv4, but server [::1]:1 is IPv6",
		"t.yaml:7:50: pools.e.servers[0].source: source address ::1 is "
		    "IPv6, but server 127.0.0.1:1 is IPv4",
		"t.yaml:8:50: pools.f.servers[0].source: expected an IP address "
		    "or 'client', got a list",
		"t.yaml:9:41: pools.g.source: invalid address 'clients' "
		    "(expected an IPv4 or IPv6 address of this host, without a "
		    "port) (or 'client': the client's own address)",
		NULL
	};
	static const char *const badname[] = {
		"t.yaml:2:38: pools.p.servers[0]: source address ::9 is IPv6, "
		    "but 'localhost:1' has no IPv6 address (it resolves to "
		    "127.0.0.1:1)",
		NULL
	};
	struct gen *g;
	const struct pool *p;
	char buf[ADDR_STRLEN];

	(void)state;
	g = mem_ok("defaults: {source: 10.0.0.9}\n"
	    "listeners: {l: {bind: '127.0.0.1:0', pool: p}}\n"
	    "pools:\n"
	    "  p:\n"
	    "    source: 10.0.0.1\n"
	    "    servers:\n"
	    "      - 127.0.0.1:1\n"
	    "      - {address: '127.0.0.1:2', source: 10.0.0.2}\n"
	    "  q: {servers: ['127.0.0.1:3']}\n"
	    "  v6: {source: '[2001:db8::5]', servers: ['[::1]:4']}\n");
	p = gen_find_pool(g, "p");
	assert_string_equal(addr_format_host(&find_server(p, "127.0.0.1:1")->source.u.sa,
	    buf, sizeof(buf)), "10.0.0.1");
	assert_string_equal(addr_format_host(&find_server(p, "127.0.0.1:2")->source.u.sa,
	    buf, sizeof(buf)), "10.0.0.2");
	p = gen_find_pool(g, "q");
	assert_string_equal(addr_format_host(&p->servers[0].source.u.sa,
	    buf, sizeof(buf)), "10.0.0.9");
	p = gen_find_pool(g, "v6");
	assert_int_equal(p->servers[0].source.len, sizeof(struct sockaddr_in6));
	assert_string_equal(addr_format_host(&p->servers[0].source.u.sa,
	    buf, sizeof(buf)), "2001:db8::5");
	gen_put(g);

	g = mem_ok("listeners: {l: {bind: '127.0.0.1:0', pool: p}}\n"
	    "pools: {p: {servers: ['127.0.0.1:1']}}\n");
	assert_int_equal(g->pools[0].servers[0].source.len, 0);
	gen_put(g);

	/* source: client, inherited and overridden both ways; any family. */
	g = mem_ok("defaults: {source: client}\n"
	    "listeners: {l: {bind: '127.0.0.1:0', pool: p}}\n"
	    "pools:\n"
	    "  p:\n"
	    "    servers:\n"
	    "      - 127.0.0.1:1\n"
	    "      - '[::1]:2'\n"
	    "      - {address: '127.0.0.1:3', source: 10.0.0.3}\n"
	    "  q: {source: 10.0.0.4, servers: ['127.0.0.1:4', "
	    "{address: '127.0.0.1:5', source: client}]}\n");
	p = gen_find_pool(g, "p");
	assert_true(p->source_client);
	assert_true(find_server(p, "127.0.0.1:1")->source_client);
	assert_int_equal(find_server(p, "127.0.0.1:1")->source.len, 0);
	assert_true(find_server(p, "[::1]:2")->source_client);
	assert_false(find_server(p, "127.0.0.1:3")->source_client);
	assert_string_equal(addr_format_host(&find_server(p, "127.0.0.1:3")->source.u.sa,
	    buf, sizeof(buf)), "10.0.0.3");
	p = gen_find_pool(g, "q");
	assert_false(p->source_client);
	assert_false(find_server(p, "127.0.0.1:4")->source_client);
	assert_true(find_server(p, "127.0.0.1:5")->source_client);
	assert_int_equal(find_server(p, "127.0.0.1:5")->source.len, 0);
	gen_put(g);

	/* A name keeps only the addresses the source can reach ("localhost"
	 * may also be ::1). */
	g = mem_ok("listeners: {l: {bind: '127.0.0.1:0', pool: p}}\n"
	    "pools: {p: {source: 127.0.0.9, servers: ['localhost:1']}}\n");
	p = &g->pools[0];
	assert_int_equal(p->nservers, 1);
	assert_int_equal(p->servers[0].addr.ss_family, AF_INET);
	gen_put(g);

	mem_bad("listeners: {l: {bind: '127.0.0.1:0', pool: a}}\n"
	    "pools:\n"
	    "  a: {servers: ['127.0.0.1:1'], source: '10.0.0.1:80'}\n"
	    "  b: {servers: ['127.0.0.1:1'], source: localhost}\n"
	    "  c: {servers: ['127.0.0.1:1'], source: 0.0.0.0}\n"
	    "  d: {source: 10.0.0.1, servers: ['[::1]:1']}\n"
	    "  e: {servers: [{address: '127.0.0.1:1', source: '::1'}]}\n"
	    "  f: {servers: [{address: '127.0.0.1:1', source: [1]}]}\n"
	    "  g: {servers: ['127.0.0.1:1'], source: clients}\n", bad);
	/* An IPv6 source keeps localhost's IPv6 addresses, or, where this
	 * host's localhost has none, says so. */
	{
		struct config_errors e = { 0 };
		static const char yaml[] =
		    "listeners: {l: {bind: '127.0.0.1:0', pool: p}}\n"
		    "pools: {p: {source: '::9', servers: ['localhost:1']}}\n";

		g = config_load_mem("t.yaml", yaml, strlen(yaml), &e);
		if (g != NULL) {
			p = &g->pools[0];
			assert_true(p->nservers >= 1);
			for (uint32_t i = 0; i < p->nservers; i++)
				assert_int_equal(p->servers[i].addr.ss_family,
				    AF_INET6);
			gen_put(g);
		} else {
			check_errors(&e, badname);
		}
		config_errors_free(&e);
	}
}

/* Aliases make a small file name a big subtree many times: 100 servers
 * named by 3000 pools would be 300000 servers.  The walk is bounded. */
static void
test_alias_budget(void **state)
{
	struct config_errors e = { 0 };
	size_t cap = 1 << 20, len = 0;
	char *yaml = malloc(cap);
	int i;

	(void)state;
	assert_non_null(yaml);
	len += (size_t)snprintf(yaml + len, cap - len,
	    "listeners: {l: {bind: '127.0.0.1:0', pool: p0}}\n"
	    "pools:\n  p0:\n    servers: &s\n");
	for (i = 0; i < 100; i++)
		len += (size_t)snprintf(yaml + len, cap - len,
		    "      - 127.0.0.1:%d\n", i + 1);
	for (i = 1; i < 3000; i++)
		len += (size_t)snprintf(yaml + len, cap - len,
		    "  p%d: {servers: *s}\n", i);
	assert_null(config_load_mem("t.yaml", yaml, len, &e));
	assert_int_equal(e.n, 1);
	assert_non_null(strstr(e.msg[0], ": document too large (aliases "
	    "expand to more than 200000 nodes)"));
	config_errors_free(&e);
	free(yaml);
}

static void
test_missing_file(void **state)
{
	static const char *const want[] = {
		"/nonexistent/tcplb.yaml: cannot open: No such file or directory",
		NULL
	};
	struct config_errors e = { 0 };

	(void)state;
	assert_null(config_load_file("/nonexistent/tcplb.yaml", &e));
	check_errors(&e, want);
	config_errors_free(&e);
	assert_null(config_load_file(FIXTURES, &e));
	assert_int_equal(e.n, 1);
	assert_non_null(strstr(e.msg[0], ": cannot read: Is a directory"));
	config_errors_free(&e);
}

/* ---- quick mode ---------------------------------------------------------- */

/* config_quick takes argv-style strings: writable, as argv is. */
#define ARG(s) ((char[]){ s })

static struct gen *
quick(const char *listen, const char *balance, const char *workers,
    char *const *backends, int n, struct config_errors *e)
{
	struct quick_opts q = {
		.listen = listen, .balance = balance, .workers = workers,
		.backends = backends, .nbackends = n,
	};
	bool usage;

	return config_quick(&q, e, &usage);
}

static void
test_quick_good(void **state)
{
	char *two[] = { ARG("127.0.0.1:8081"), ARG("[::1]:8082") };
	char *five[] = { ARG("127.0.0.1:1"), ARG("127.0.0.1:2"), ARG("127.0.0.1:3"),
	    ARG("127.0.0.1:4"), ARG("127.0.0.1:5") };
	struct config_errors e = { 0 };
	struct gen *g;
	char buf[ADDR_STRLEN];

	(void)state;
	g = quick(NULL, NULL, NULL, two, 2, &e);
	assert_non_null(g);
	assert_int_equal(e.n, 0);
	check_wiring(g);
	assert_string_equal(g->source, "command line");
	assert_int_equal(g->global.workers, 0);
	assert_int_equal(g->nlisteners, 1);
	assert_string_equal(g->listeners[0].name, "quick");
	assert_string_equal(g->listeners[0].binds[0].text, "127.0.0.1:0");
	assert_string_equal(addr_format((struct sockaddr *)
	    &g->listeners[0].binds[0].addr, buf, sizeof(buf)), "127.0.0.1:0");
	assert_string_equal(g->pools[0].name, "quick");
	assert_int_equal(g->pools[0].alg, BAL_ROUNDROBIN);
	assert_int_equal(g->pools[0].nservers, 2);
	assert_string_equal(g->pools[0].servers[1].name, "[::1]:8082");
	assert_int_equal(g->pools[0].retries, 2);
	assert_int_equal(g->pools[0].connect_timeout_ms, 5000);
	assert_int_equal(g->pools[0].max_fails, 3);
	gen_put(g);

	/* A backend given twice is one server with twice the weight (as
	 * nginx and HAProxy take it), not an error. */
	{
		char *dup[] = { ARG("127.0.0.1:8081"), ARG("127.0.0.1:8082"),
		    ARG("127.0.0.1:8081") };

		g = quick(NULL, NULL, NULL, dup, 3, &e);
		assert_non_null(g);
		assert_int_equal(e.n, 0);
		assert_int_equal(g->pools[0].nservers, 2);
		assert_int_equal(g->pools[0].servers[0].weight, 2);
		assert_int_equal(g->pools[0].servers[1].weight, 1);
		gen_put(g);
	}

	g = quick("*:0", "leastconn", "8", five, 5, &e);
	assert_non_null(g);
	assert_int_equal(g->global.workers, 8);
	assert_int_equal(g->pools[0].alg, BAL_LEASTCONN);
	/* every backend is tried before a client is refused */
	assert_int_equal(g->pools[0].retries, 4);
	assert_int_equal(g->listeners[0].nbinds, 2);
	gen_put(g);

	g = quick(NULL, "first", "auto", five, 1, &e);
	assert_non_null(g);
	assert_int_equal(g->pools[0].retries, 2);
	gen_put(g);
}

static void
test_quick_bad(void **state)
{
	/* The repeated 127.0.0.1:8080 is no error: it adds weight. */
	char *bad[] = { ARG("foo"), ARG("127.0.0.1:0"), ARG("[::1]"), ARG("127.0.0.1:8080"),
	    ARG("127.0.0.1:8080"), ARG("*:80") };
	static const char *const want[] = {
		"unknown balance algorithm 'xyz' (roundrobin, leastconn, source, "
		    "random, first, maglev)",
		"invalid number of workers '0' (auto or 1-1024)",
		"invalid backend 'foo': missing port (expected HOST:PORT or "
		    "[IPv6]:PORT)",
		"invalid backend '127.0.0.1:0': invalid port '0' (1-65535)",
		"invalid backend '[::1]': missing port (expected HOST:PORT or "
		    "[IPv6]:PORT)",
		"invalid backend '*:80': '*' is only for listen addresses",
		"invalid listen address 'nope': missing port (expected HOST:PORT "
		    "or [IPv6]:PORT)",
		NULL
	};
	static const char *const none[] = {
		"no backends given (expected HOST:PORT or [IPv6]:PORT)", NULL
	};
	struct config_errors e = { 0 };

	(void)state;
	assert_null(quick("nope", "xyz", "0", bad, 6, &e));
	check_errors(&e, want);
	config_errors_free(&e);
	assert_null(quick(NULL, NULL, NULL, bad, 0, &e));
	check_errors(&e, none);
	config_errors_free(&e);
}

/* Inputs found by tests/fuzz: each must fail fast, with a clear error. */
static void
fuzz_case(const char *name, const char *needle, double max_seconds)
{
	char path[1024];
	struct config_errors e = { 0 };
	uint64_t t0 = now_ms();
	struct gen *g;
	bool found = false;

	snprintf(path, sizeof(path), "%s/../../fuzz/crashes/%s", FIXTURES, name);
	g = config_load_file(path, &e);
	assert_null(g);
	assert_true(e.n > 0);
	for (size_t i = 0; i < e.n && !found; i++)
		found = strstr(e.msg[i], needle) != NULL;
	if (!found)
		print_error("no error mentions '%s' (first: %s)\n", needle, e.msg[0]);
	assert_true(found);
	assert_true((double)(now_ms() - t0) / 1000.0 < max_seconds *
	    SANITIZER_SLOWDOWN);
	config_errors_free(&e);
}

/* The limit above must not catch an ordinary large file: 40 weighted
 * roundrobin pools of 10 servers load, and quickly. */
static void
test_many_weighted_pools_load(void **state)
{
	size_t cap = 64 * 1024, len = 0;
	char *y = xmalloc(cap);
	struct config_errors e = { 0 };
	uint64_t t0 = now_ms();
	struct gen *g;

	(void)state;
	len += (size_t)snprintf(y + len, cap - len,
	    "listeners: {l: {bind: \"127.0.0.1:1\", pool: p0}}\npools:\n");
	for (int p = 0; p < 40; p++) {
		len += (size_t)snprintf(y + len, cap - len, "  p%d:\n    servers:\n", p);
		for (int i = 0; i < 10; i++)
			len += (size_t)snprintf(y + len, cap - len,
			    "      - {address: \"10.0.%d.%d:80\", weight: %d}\n",
			    p, i + 1, 191 + i);
	}
	g = config_load_mem("many.yaml", y, len, &e);
	for (size_t i = 0; i < e.n; i++)
		print_error("unexpected: %s\n", e.msg[i]);
	assert_non_null(g);
	assert_int_equal(g->npools, 40);
	assert_true(now_ms() - t0 < 2000);
	gen_put(g);
	config_errors_free(&e);
	free(y);
}

/* A growing buffer of generated YAML. */
struct ybuf {
	char *p;
	size_t len, cap;
};

static void ybuf_add(struct ybuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
ybuf_add(struct ybuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if ((size_t)n < b->cap - b->len)
			break;
		b->cap = b->cap ? b->cap * 2 : 65536;
		b->p = xrealloc(b->p, b->cap);
	}
	b->len += (size_t)n;
}

/* n servers in one pool (with names), n/20 listeners over two pools. */
static void
big_yaml(struct ybuf *b, int n)
{
	b->len = 0;
	ybuf_add(b, "listeners:\n");
	for (int i = 0; i < n / 20; i++)
		ybuf_add(b, "  l%d: {bind: \"127.0.0.1:%d\", pool: p%d}\n", i,
		    1 + i, i % 2);
	ybuf_add(b, "pools:\n  p1: {servers: [\"127.0.0.1:65000\"]}\n"
	    "  p0:\n    servers:\n");
	for (int i = 0; i < n; i++)
		ybuf_add(b, "      - {name: s%d, address: \"10.%d.%d.%d:%d\"}\n",
		    i, i >> 16, (i >> 8) & 255, i & 255, 80 + i % 7);
}

/* Best of three loads, in ms. */
static uint64_t
big_load_ms(const struct ybuf *b, int n)
{
	uint64_t best = UINT64_MAX;

	for (int k = 0; k < 3; k++) {
		struct config_errors e = { 0 };
		uint64_t t0 = now_ms(), dt;
		struct gen *g = config_load_mem("big.yaml", b->p, b->len, &e);

		dt = now_ms() - t0;
		for (size_t i = 0; i < e.n && i < 5; i++)
			print_error("unexpected: %s\n", e.msg[i]);
		assert_non_null(g);
		assert_int_equal(g->pools[1].nservers, n);
		assert_int_equal(g->pools[1].bal->sched_len, n);
		gen_put(g);
		config_errors_free(&e);
		if (dt < best)
			best = dt;
	}
	return best ? best : 1;
}

/* Issue 9, defect 8: duplicate checks by linear scan and an O(len * n)
 * schedule made 16,000 servers take 1.7 s and 64,000 half a minute (the
 * old loader needed 106 s for 40,000 here).  Asserted as scaling, which
 * holds in any build and on any machine: 8 times the servers (and
 * listeners) may cost at most 20 times the time -- linear is 8, n log n
 * about 10, quadratic 64. */
static void
test_loader_scales(void **state)
{
	struct ybuf b = { 0 };
	struct config_errors e = { 0 };
	uint64_t small, large;
	struct gen *g;

	(void)state;
	big_yaml(&b, 5000);
	small = big_load_ms(&b, 5000);
	big_yaml(&b, 40000);
	large = big_load_ms(&b, 40000);
	print_message("5,000 servers: %llu ms; 40,000 servers: %llu ms (x%.1f)\n",
	    (unsigned long long)small, (unsigned long long)large,
	    (double)large / (double)small);
	assert_true(large < 20 * small || large < 200);

	/* A duplicate far down the list is still found, by name and by
	 * address. */
	ybuf_add(&b, "      - {name: s17, address: \"10.9.9.9:1\"}\n"
	    "      - {name: z, address: \"10.0.0.5:85\"}\n");
	g = config_load_mem("big.yaml", b.p, b.len, &e);
	assert_null(g);
	assert_int_equal(e.n, 2);
	assert_non_null(strstr(e.msg[0], "duplicate server name 's17'"));
	assert_non_null(strstr(e.msg[1], "duplicate address 10.0.0.5:85 (also server 's5')"));
	config_errors_free(&e);
	free(b.p);
}

/* What one file may cost: each limit is reported once, at FILE:LINE:COL. */
static void
test_loader_limits(void **state)
{
	struct ybuf b = { 0 };
	struct config_errors e = { 0 };
	uint64_t t0;

	(void)state;
	/* 400 KB of '[' took libyaml 92 s; rejected at the 33rd level. */
	b.p = xmalloc(400001);
	memset(b.p, '[', 400000);
	b.p[400000] = '\0';
	t0 = now_ms();
	assert_null(config_load_mem("t.yaml", b.p, 400000, &e));
	assert_true(now_ms() - t0 < 1000);
	check_errors(&e, (const char *const[]){ "t.yaml:1:33: nested too deep "
	    "(more than 32 levels of mappings and lists)", NULL });
	config_errors_free(&e);
	free(b.p);

	mem_bad("listeners: {l: {bind: \"127.0.0.1:1\", pool: p}}\n"
	    "pools:\n  p: {servers: [\"127.0.0.1:2\"], x: {a: {b: {c: {d: {e: "
	    "{f: {g: {h: {i: {j: {k: {l: {m: {n: {o: {p: {q: {r: {s: {t: {u: "
	    "{v: {w: {x: {y: {z: {a: {b: {c: {d: 1}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}\n",
	    (const char *const[]){ "t.yaml:3:152: nested too deep", NULL });

	/* Servers per pool: one error, at the list. */
	memset(&b, 0, sizeof(b));
	ybuf_add(&b, "listeners: {l: {bind: \"127.0.0.1:1\", pool: p}}\n"
	    "pools:\n  p:\n    servers:\n");
	for (int i = 0; i <= 100000; i++)
		ybuf_add(&b, "    - 10.%d.%d.%d:80\n", i >> 16, (i >> 8) & 255,
		    i & 255);
	assert_null(config_load_mem("t.yaml", b.p, b.len, &e));
	check_errors(&e, (const char *const[]){ "t.yaml:5:5: pools.p.servers: "
	    "too many servers (100001; at most 100000 per pool)", NULL });
	config_errors_free(&e);
	free(b.p);

	/* File size: the error names where the file crossed the limit. */
	b.cap = (32u << 20) + 2;
	b.p = xmalloc(b.cap);
	memset(b.p, ' ', b.cap);
	memcpy(b.p, "# big\n\n", 8);
	assert_null(config_load_mem("t.yaml", b.p, b.cap - 1, &e));
	check_errors(&e, (const char *const[]){ "t.yaml:3:33554426: file too "
	    "large (more than 33554432 bytes)", NULL });
	config_errors_free(&e);
	free(b.p);
}

static void
test_fuzz_regressions(void **state)
{
	/* ~420 aliased `source` pools asking for 2^18-point rings each:
	 * ~900 MB and 25 s before the table budget. */
	fuzz_case("timeout-balance-tables-alias-amplification.yaml",
	    "too much weight to balance", 2.0);
	/* 78k errors from 4 KiB: the error list grew one slot at a time. */
	fuzz_case("slow-unknown-key-errors-realloc.yaml", "unknown key", 10.0);
	/* "\0" escapes silently cut names and addresses short. */
	fuzz_case("accepted-embedded-nul.yaml", "NUL character", 2.0);
}

/* ---- routes (TLS server name) ------------------------------------------- */

static void
test_routes_good(void **state)
{
	static const char yaml[] =
	    "pools:\n"
	    "  fallback: { servers: [127.0.0.1:1] }\n"
	    "  a: { servers: [127.0.0.1:2] }\n"
	    "  b: { servers: [127.0.0.1:3] }\n"
	    "  acme: { servers: [127.0.0.1:4] }\n"
	    "listeners:\n"
	    "  tls:\n"
	    "    bind: 127.0.0.1:0\n"
	    "    pool: fallback\n"
	    "    inspect_timeout: 500ms\n"
	    "    routes:\n"
	    "      - { sni: \"A.Example.com\", pool: a }\n"
	    "      - { sni: [\"*.b.example.com\", \"b.example.com\"], pool: b }\n"
	    "      - { alpn: \"acme-tls/1\", pool: acme }\n"
	    "      - { sni: a.example.com, alpn: h2, pool: b }\n"
	    "  closed:\n"
	    "    bind: 127.0.0.1:0\n"
	    "    routes:\n"
	    "      - sni: x.example\n"
	    "        pool: a\n";
	struct gen *g = mem_ok(yaml);
	const struct listener *l = gen_find_listener(g, "tls");
	const struct listener *c = gen_find_listener(g, "closed");

	check_wiring(g);
	assert_non_null(l);
	assert_int_equal(l->inspect_timeout_ms, 500);
	assert_ptr_equal(l->pool, gen_find_pool(g, "fallback"));
	assert_int_equal(l->nroutes, 4);
	assert_int_equal(l->routes[0].nnames, 1);
	assert_string_equal(l->routes[0].names[0].text, "a.example.com");
	assert_ptr_equal(l->routes[0].pool, gen_find_pool(g, "a"));
	assert_null(l->routes[0].alpn);
	assert_int_equal(l->routes[1].nnames, 2);
	assert_true(l->routes[1].names[0].wildcard);
	assert_string_equal(l->routes[1].names[0].text, ".b.example.com");
	assert_false(l->routes[1].names[1].wildcard);
	assert_int_equal(l->routes[2].nnames, 0);
	assert_string_equal(l->routes[2].alpn, "acme-tls/1");
	assert_ptr_equal(l->routes[2].pool, gen_find_pool(g, "acme"));
	assert_string_equal(l->routes[3].alpn, "h2");
	/* the quick default, and no pool: unmatched connections close */
	assert_non_null(c);
	assert_null(c->pool);
	assert_int_equal(c->inspect_timeout_ms, 3000);
	assert_int_equal(c->nroutes, 1);
	gen_put(g);
}

static void
test_routes_bad(void **state)
{
	static const char yaml[] =
	    "pools:\n"
	    "  a: { servers: [127.0.0.1:2] }\n"
	    "listeners:\n"
	    "  tls:\n"
	    "    bind: 127.0.0.1:0\n"
	    "    routes:\n"
	    "      - { sni: a.example.com, pool: nope }\n"
	    "      - { sni: [\"x.example\", \"A.EXAMPLE.COM\"], pool: a }\n"
	    "      - { sni: \"*.b.example\", alpn: h2, pool: a }\n"
	    "      - { sni: \"*.B.example\", alpn: h2, pool: a }\n"
	    "      - { sni: \"a.*.example\", pool: a }\n"
	    "      - { sni: \"bad name\", pool: a }\n"
	    "      - { sni: \"a.example.\", pool: a }\n"
	    "      - { pool: a }\n"
	    "      - { sni: y.example }\n"
	    "      - { alpn: acme-tls/1, pool: a }\n"
	    "      - { alpn: acme-tls/1, pool: a }\n"
	    "      - { sni: [], pool: a }\n"
	    "      - { sni: z.example, pool: a, port: 1 }\n"
	    "      - just-a-name\n"
	    "  none:\n"
	    "    bind: 127.0.0.1:0\n"
	    "  empty:\n"
	    "    bind: 127.0.0.1:0\n"
	    "    routes: []\n";
	static const char *const want[] = {
		"t.yaml:7:37: listeners.tls.routes[0].pool: unknown pool 'nope'",
		"t.yaml:8:30: listeners.tls.routes[1].sni: duplicate server name 'A.EXAMPLE.COM' (first at 7:16)",
		"t.yaml:10:16: listeners.tls.routes[3].sni: duplicate server name '*.B.example' with ALPN h2 (first at 9:16)",
		"t.yaml:11:16: listeners.tls.routes[4].sni: invalid server name pattern 'a.*.example': '*' is allowed only as the whole first label",
		"t.yaml:12:16: listeners.tls.routes[5].sni: invalid server name 'bad name'",
		"t.yaml:13:16: listeners.tls.routes[6].sni: invalid server name 'a.example.': no trailing dot",
		"t.yaml:14:9: listeners.tls.routes[7]: a route needs 'sni', 'alpn' or both",
		"t.yaml:15:9: listeners.tls.routes[8]: missing required key 'pool'",
		"t.yaml:17:17: listeners.tls.routes[10].alpn: duplicate route for ALPN 'acme-tls/1' (first at 16:17)",
		"t.yaml:18:16: listeners.tls.routes[11].sni: empty list of server names",
		"t.yaml:19:36: listeners.tls.routes[12].port: unknown key (did you mean 'pool'?)",
		"t.yaml:20:9: listeners.tls.routes[13]: expected a mapping, got a scalar",
		"t.yaml:21:3: listeners.none: missing required key 'pool' (or 'routes')",
		"t.yaml:25:13: listeners.empty.routes: empty list of routes",
		NULL
	};

	mem_bad(yaml, want);
}

/* Loop guard (issue 22, item 11): a server that is one of tcplb's own
 * listeners, exactly or through a wildcard bind, is refused at load. */
static void
test_loop_guard(void **state)
{
	static const char *const exact[] = {
		"t.yaml: pool 'p': server '127.0.0.1:7001' (127.0.0.1:7001) is tcplb's own listener 'a' (127.0.0.1:7001)",
		NULL
	};
	static const char *const any[] = {
		"t.yaml: pool 'p': server '127.0.0.9:7002' (127.0.0.9:7002) is tcplb's own listener 'b' (0.0.0.0:7002)",
		NULL
	};
	static const char *const any0[] = {
		"t.yaml: pool 'p': server '0.0.0.0:7001' (0.0.0.0:7001) is tcplb's own listener 'a' (127.0.0.1:7001)",
		NULL
	};
	static const char *const mapped[] = {
		"t.yaml: pool 'p': server '[::ffff:127.0.0.1]:7001' ([::ffff:127.0.0.1]:7001) is tcplb's own listener 'a' (127.0.0.1:7001)",
		NULL
	};
	static const char *const any0b[] = {
		"t.yaml: pool 'p': server '0.0.0.0:7002' (0.0.0.0:7002) is tcplb's own listener 'b' (0.0.0.0:7002)",
		NULL
	};
	static const char *const any6[] = {
		"t.yaml: pool 'p': server '[::]:7004' ([::]:7004) is tcplb's own listener 'c' ([::1]:7004)",
		NULL
	};
	struct gen *g;

	(void)state;
	mem_bad("listeners:\n  a: {bind: 127.0.0.1:7001, pool: p}\n"
	    "pools:\n  p: {servers: [127.0.0.1:7001]}\n", exact);
	mem_bad("listeners:\n  b: {bind: 0.0.0.0:7002, pool: p}\n"
	    "pools:\n  p: {servers: [127.0.0.9:7002]}\n", any);
	/* Same address, another port; another family: no loop. */
	g = mem_ok("listeners:\n  a: {bind: 127.0.0.1:7001, pool: p}\n"
	    "pools:\n  p: {servers: [127.0.0.1:7003, '[::1]:7001']}\n");
	gen_put(g);
	/* Addresses spelt otherwise that connect to the listener all the
	 * same: the unspecified one (a DNS sinkhole's answer; Linux connects
	 * it to loopback) and IPv4-mapped IPv6. */
	mem_bad("listeners:\n  a: {bind: 127.0.0.1:7001, pool: p}\n"
	    "pools:\n  p: {servers: [0.0.0.0:7001]}\n", any0);
	mem_bad("listeners:\n  a: {bind: 127.0.0.1:7001, pool: p}\n"
	    "pools:\n  p: {servers: ['[::ffff:127.0.0.1]:7001']}\n", mapped);
	mem_bad("listeners:\n  b: {bind: 0.0.0.0:7002, pool: p}\n"
	    "pools:\n  p: {servers: [0.0.0.0:7002]}\n", any0b);
	mem_bad("listeners:\n  c: {bind: '[::1]:7004', pool: p}\n"
	    "pools:\n  p: {servers: ['[::]:7004']}\n", any6);
	/* The unspecified address goes to the server's source when bound. */
	g = mem_ok("listeners:\n  a: {bind: 127.0.0.1:7001, pool: p}\n"
	    "pools:\n  p: {source: 127.0.0.2, servers: [0.0.0.0:7001]}\n");
	gen_put(g);
}

/* resolve_max_addresses (issue 22, item 5): the same addresses whatever
 * the order they came in, primaries before backups. */
static void
test_resolved_cap(void **state)
{
	struct resolved_addr a[40], b[40];
	size_t n;

	(void)state;
	memset(a, 0, sizeof(a));
	for (int i = 0; i < 40; i++) {
		struct sockaddr_in *in = (struct sockaddr_in *)&a[i].addr;

		in->sin_family = AF_INET;
		in->sin_port = htons(80);
		in->sin_addr.s_addr = htonl(0x0a000000u + (uint32_t)(40 - i));
		a[i].backup = i < 20;	/* the lowest addresses are primaries */
	}
	for (int i = 0; i < 40; i++)
		b[i] = a[(i * 7) % 40];	/* another order */
	n = resolved_cap(a, resolved_sort(a, 40), 10);
	assert_int_equal(n, 10);
	assert_int_equal(resolved_cap(b, resolved_sort(b, 40), 10), 10);
	assert_memory_equal(a, b, 10 * sizeof(a[0]));
	for (size_t i = 0; i < n; i++) {
		assert_false(a[i].backup);
		assert_int_equal(ntohl(((struct sockaddr_in *)&a[i].addr)->sin_addr.s_addr),
		    0x0a000000u + 1 + i);
	}
	assert_int_equal(resolved_cap(a, 10, 0), 10);	/* 0: no cap */
}

/* resolve_interval, max_queue, queue_timeout (default: connect_timeout),
 * global.resolvers, and which entries are dynamic. */
static void
test_dynamic_keys(void **state)
{
	struct gen *g = mem_ok(
	    "global: {resolvers: ['127.0.0.53', '[::1]:5353', '10.0.0.1:54']}\n"
	    "defaults: {resolve_interval: 5s, connect_timeout: 2s}\n"
	    "listeners: {l: {bind: '127.0.0.1:0', pool: p}}\n"
	    "pools:\n"
	    "  p:\n"
	    "    max_queue: 50\n"
	    "    servers: ['127.0.0.1:80', '[::1]:81']\n"
	    "  q:\n"
	    "    resolve_interval: 0\n"
	    "    queue_timeout: 750ms\n"
	    "    servers: ['127.0.0.2:80']\n");
	const struct pool *p = gen_find_pool(g, "p"), *q = gen_find_pool(g, "q");

	(void)state;
	assert_string_equal(g->global.resolvers,
	    "127.0.0.53:53,[::1]:5353,10.0.0.1:54");
	assert_int_equal(p->resolve_interval_ms, 5000);
	assert_int_equal(p->max_queue, 50);
	assert_int_equal(p->queue_timeout_ms, 2000);
	assert_non_null(p->queue);
	assert_int_equal(q->resolve_interval_ms, 0);
	assert_int_equal(q->max_queue, 0);
	assert_int_equal(q->queue_timeout_ms, 750);
	assert_int_equal(p->nentries, 2);
	assert_int_equal(p->entries[0].kind, SE_ADDR);
	assert_int_equal(p->entries[1].kind, SE_ADDR);
	assert_int_equal(p->servers[1].entry, 1);
	gen_put(g);

	g = mem_ok("listeners: {l: {bind: '127.0.0.1:0', pool: p}}\n"
	    "pools: {p: {servers: ['127.0.0.1:80']}}\n");
	p = &g->pools[0];
	assert_null(g->global.resolvers);
	assert_int_equal(p->resolve_interval_ms, 30000);
	assert_int_equal(p->max_queue, 0);
	assert_int_equal(p->queue_timeout_ms, 5000);
	gen_put(g);
}

static void
test_dynamic_errors(void **state)
{
	static const char *const want[] = {
		"t.yaml:1:22: global.resolvers[0]: invalid resolver 'dns.example:53': a name server is given by IP address, not by name",
		"t.yaml:1:40: global.resolvers[1]: invalid resolver '1.2.3.4:0' (expected IP or IP:PORT)",
		"t.yaml:3:24: pools.p.max_queue: 10000001 is out of range (0-10000000)",
		"t.yaml:3:70: pools.p.queue_timeout: 0 is out of range (1ms-8784h)",
		"t.yaml:5:30: pools.p.servers[0]: 'address' and 'srv' exclude each other",
		"t.yaml:6:28: pools.p.servers[1]: 'weight' comes from the SRV records, not the file",
		"t.yaml:7:11: pools.p.servers[2].srv: invalid SRV name 'bad name!' (expected _service._proto.domain)",
		"t.yaml:8:5: pools.p.servers[3]: missing required key 'address' (or 'srv')",
		NULL
	};

	(void)state;
	mem_bad("global: {resolvers: ['dns.example:53', '1.2.3.4:0']}\n"
	    "listeners: {l: {bind: '127.0.0.1:0', pool: p}}\n"
	    "pools: {p: {max_queue: 10000001, resolve_interval: 0, queue_timeout: 0,\n"
	    "  servers: [\n"
	    "    {address: '127.0.0.1:1', srv: _a._tcp.example},\n"
	    "    {srv: _a._tcp.example, weight: 2},\n"
	    "    {srv: 'bad name!'},\n"
	    "    {name: x}]}}\n", want);
}

/* health_check types, their keys, check/agent ports and on_down/on_up. */
static void
test_check_kinds(void **state)
{
	struct gen *g = mem_ok(
	    "listeners: {l: {bind: '127.0.0.1:0', pool: h}}\n"
	    "defaults: {on_down: shutdown_sessions}\n"
	    "pools:\n"
	    "  h:\n"
	    "    on_up: shutdown_backup_sessions\n"
	    "    health_check: {type: http, method: HEAD, path: /primary, host: db,\n"
	    "      expect_status: [200, '300-302'], port: 8008}\n"
	    "    servers: [{address: '127.0.0.1:5432', check_port: 8009}]\n"
	    "  a:\n"
	    "    on_down: none\n"
	    "    health_check: {type: agent}\n"
	    "    servers: [{address: '127.0.0.1:1', agent_port: 9999}]\n"
	    "  t:\n"
	    "    health_check: {type: tls, host: x.example}\n"
	    "    servers: ['127.0.0.1:443']\n");
	const struct pool *h = &g->pools[0], *a = &g->pools[1], *t = &g->pools[2];

	(void)state;
	assert_int_equal(h->health.type, HEALTH_HTTP);
	assert_string_equal(h->health.method, "HEAD");
	assert_string_equal(h->health.path, "/primary");
	assert_string_equal(h->health.host, "db");
	assert_int_equal(h->health.port, 8008);
	assert_int_equal(h->servers[0].check_port, 8009);
	assert_true(status_set_match(&h->health.expect_status, 301));
	assert_false(status_set_match(&h->health.expect_status, 204));
	assert_true(h->on_down_shutdown);
	assert_true(h->on_up_shutdown_backup);
	assert_int_equal(a->health.type, HEALTH_AGENT);
	assert_int_equal(a->servers[0].agent_port, 9999);
	assert_false(a->on_down_shutdown);
	assert_int_equal(t->health.type, HEALTH_TLS);
	assert_non_null(t->health.tls);
	/* The default for http: 200-399. */
	gen_put(g);
	g = mem_ok("listeners: {l: {bind: '127.0.0.1:0', pool: p}}\n"
	    "pools: {p: {health_check: {type: http}, servers: ['127.0.0.1:1']}}\n");
	assert_true(status_set_match(&g->pools[0].health.expect_status, 399));
	assert_false(status_set_match(&g->pools[0].health.expect_status, 400));
	assert_null(g->pools[0].health.tls);
	gen_put(g);
}

static void
test_check_kind_errors(void **state)
{
	static const char *const want[] = {
		"t.yaml:3:28: pools.a.health_check.type: invalid check type 'ping' (tcp, http, tls or agent)",
		"t.yaml:4:33: pools.b.health_check.path: not used by a check of type tls",
		"t.yaml:5:49: pools.c.health_check.expect_status: status code 999 out of range (100-599)",
		"t.yaml:6:34: pools.d.health_check.send: only for checks of type tcp",
		"t.yaml:7:16: pools.e.on_down: invalid action 'kill' (shutdown_sessions or none)",
		"t.yaml:8:17: pools.f.servers[0]: agent_port needs a health_check of type agent in this pool",
		"t.yaml:9:46: pools.g.servers[0]: an agent check needs the server's agent_port (or health_check.port)",
		"t.yaml:10:40: pools.h.health_check.path: a path may not contain spaces",
		"t.yaml:11:41: pools.i.health_check.verify: /nonexistent/ca.pem: cannot load CA file: No such file or directory",
		"t.yaml:12:17: pools.j.servers[0]: check_port needs a health_check in this pool",
		NULL
	};

	(void)state;
	mem_bad("listeners: {l: {bind: '127.0.0.1:0', pool: a}}\n"
	    "pools:\n"
	    "  a: {health_check: {type: ping}, servers: ['127.0.0.1:1']}\n"
	    "  b: {health_check: {type: tls, path: /x}, servers: ['127.0.0.1:1']}\n"
	    "  c: {health_check: {type: http, expect_status: 999}, servers: ['127.0.0.1:1']}\n"
	    "  d: {health_check: {type: http, send: x}, servers: ['127.0.0.1:1']}\n"
	    "  e: {on_down: kill, servers: ['127.0.0.1:1']}\n"
	    "  f: {servers: [{address: '127.0.0.1:1', agent_port: 2}], health_check: true}\n"
	    "  g: {health_check: {type: agent}, servers: [{address: '127.0.0.1:1'}]}\n"
	    "  h: {health_check: {type: http, path: '/a b'}, servers: ['127.0.0.1:1']}\n"
	    "  i: {health_check: {type: tls, verify: /nonexistent/ca.pem}, servers: ['127.0.0.1:1']}\n"
	    "  j: {servers: [{address: '127.0.0.1:1', check_port: 2}]}\n", want);
}

/* global.metrics: the scalar form, and the mapping with allow/deny. */
static void
test_metrics_forms(void **state)
{
	static const char *const want[] = {
		"t.yaml:1:19: global.metrics: needs bind (ADDR:PORT)",
		NULL
	};
	static const char *const want2[] = {
		"t.yaml:1:49: global.metrics.allow[0]: invalid address 'nonsense' (expected IPv4 or IPv6, optionally /prefix length)",
		"t.yaml:1:88: global.metrics.max_connections_per_source: 0 is out of range (1-64)",
		NULL
	};
	struct gen *g = mem_ok("global: {metrics: '127.0.0.1:9100'}\n"
	    "listeners: {l: {bind: '127.0.0.1:0', pool: p}}\n"
	    "pools: {p: {servers: ['127.0.0.1:80']}}\n");
	struct sockaddr_in a = { .sin_family = AF_INET };

	(void)state;
	assert_string_equal(g->global.metrics, "127.0.0.1:9100");
	assert_true(cidr_set_empty(&g->global.metrics_allow));
	assert_int_equal(g->global.metrics_max_per_source, 4);
	gen_put(g);
	g = mem_ok("global: {metrics: {bind: '127.0.0.1:9100', "
	    "allow: ['10.0.0.0/8'], deny: ['10.0.0.9'], "
	    "max_connections_per_source: 2}}\n"
	    "listeners: {l: {bind: '127.0.0.1:0', pool: p}}\n"
	    "pools: {p: {servers: ['127.0.0.1:80']}}\n");
	assert_string_equal(g->global.metrics, "127.0.0.1:9100");
	assert_int_equal(g->global.metrics_max_per_source, 2);
	a.sin_addr.s_addr = htonl(0x0a000001);
	assert_true(cidr_set_contains(&g->global.metrics_allow, (struct sockaddr *)&a));
	a.sin_addr.s_addr = htonl(0x0a000009);
	assert_true(cidr_set_contains(&g->global.metrics_deny, (struct sockaddr *)&a));
	gen_put(g);
	mem_bad("global: {metrics: {allow: ['10.0.0.0/8']}}\n"
	    "listeners: {l: {bind: '127.0.0.1:0', pool: p}}\n"
	    "pools: {p: {servers: ['127.0.0.1:80']}}\n", want);
	mem_bad("global: {metrics: {bind: '127.0.0.1:1', allow: [nonsense], "
	    "max_connections_per_source: 0}}\n"
	    "listeners: {l: {bind: '127.0.0.1:0', pool: p}}\n"
	    "pools: {p: {servers: ['127.0.0.1:80']}}\n", want2);
}

/* After a DNS change the next generation is built from the same text with
 * the resolver's addresses for host entries; literal ones stay. */
static void
test_rebuild(void **state)
{
	struct config_errors e = { 0 };
	struct gen *g = mem_ok(
	    "listeners: {l: {bind: '127.0.0.1:0', pool: p}}\n"
	    "pools:\n"
	    "  p:\n"
	    "    servers:\n"
	    "      - {address: 'localhost:9', name: app, weight: 3}\n"
	    "      - '127.0.0.9:10'\n");
	struct resolved_addr a[2];
	struct resolved_entry re = { .pool = (char *)"p", .entry = 0,
	    .host = (char *)"localhost", .addrs = a, .n = 2 };
	struct resolved_set set = { .v = &re, .n = 1 };
	struct gen *g2;
	const struct pool *p;

	(void)state;
	assert_int_equal(g->pools[0].entries[0].kind, SE_HOST);
	memset(a, 0, sizeof(a));
	for (int i = 0; i < 2; i++) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&a[i].addr;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(9);
		inet_pton(AF_INET, i ? "10.1.1.2" : "10.1.1.1", &sin->sin_addr);
	}
	g2 = config_rebuild(g, &set, &e);
	assert_int_equal(e.n, 0);
	assert_non_null(g2);
	p = &g2->pools[0];
	assert_int_equal(p->nservers, 3);
	assert_string_equal(p->servers[0].addr_text, "10.1.1.1:9");
	assert_string_equal(p->servers[1].addr_text, "10.1.1.2:9");
	assert_string_equal(p->servers[0].name, "app");
	assert_int_equal(p->servers[1].weight, 3);
	assert_int_equal(p->servers[1].entry, 0);
	assert_string_equal(p->servers[2].addr_text, "127.0.0.9:10");
	assert_int_equal(p->servers[2].entry, 1);
	assert_int_equal(g2->textlen, g->textlen);
	gen_put(g2);
	gen_put(g);
}

/* PROXY protocol, access control and limits (issue 11). */
static void
test_guard_good(void **state)
{
	struct gen *g = mem_ok(
	    "listeners:\n"
	    "  a:\n"
	    "    bind: 127.0.0.1:1\n"
	    "    pool: p\n"
	    "    accept_proxy: true\n"
	    "    trusted: [10.0.0.0/8, \"::1\"]\n"
	    "    inspect_timeout: 250ms\n"
	    "    allow: [192.0.2.0/24, 2001:db8::/32]\n"
	    "    deny: 192.0.2.7\n"
	    "    max_connections_per_source: 3\n"
	    "    rate_limit: {per_source: 5/s, total: 100/s, burst: 20}\n"
	    "  b: {bind: 127.0.0.1:2, pool: q}\n"
	    "pools:\n"
	    "  p:\n"
	    "    proxy_protocol: v1\n"
	    "    health_check: {send_proxy: true}\n"
	    "    servers:\n"
	    "      - 127.0.0.1:3\n"
	    "      - {address: 127.0.0.1:4, proxy_protocol: v2}\n"
	    "      - {address: 127.0.0.1:5, proxy_protocol: none}\n"
	    "  q: {servers: [127.0.0.1:6]}\n");
	const struct listener *a = gen_find_listener(g, "a");
	const struct listener *b = gen_find_listener(g, "b");
	const struct pool *p = gen_find_pool(g, "p");

	(void)state;
	assert_true(a->accept_proxy);
	assert_int_equal(a->trusted.n + a->trusted.n4, 2);
	assert_int_equal(a->inspect_timeout_ms, 250);
	assert_int_equal(a->allow.n + a->allow.n4, 2);
	assert_int_equal(a->deny.n + a->deny.n4, 1);
	assert_int_equal(a->max_conns_per_source, 3);
	assert_int_equal(a->rate_per_source, 5);
	assert_int_equal(a->rate_total, 100);
	assert_int_equal(a->rate_burst, 20);
	assert_non_null(a->guard);
	assert_false(b->accept_proxy);
	assert_int_equal(b->inspect_timeout_ms, 3000);
	assert_null(b->guard);
	assert_int_equal(p->proxy_protocol, 1);
	assert_true(p->health.send_proxy);
	assert_int_equal(p->servers[0].proxy_protocol, 1);
	assert_int_equal(p->servers[1].proxy_protocol, 2);
	assert_int_equal(p->servers[2].proxy_protocol, 0);
	assert_int_equal(gen_find_pool(g, "q")->servers[0].proxy_protocol, 0);
	gen_put(g);
}

static void
test_guard_bad(void **state)
{
	static const char *const want[] = {
		"t.yaml:4:5: listeners.a.accept_proxy: accept_proxy needs "
		    "'trusted'",
		"t.yaml:7:5: listeners.b.trusted: 'trusted' has no effect "
		    "without accept_proxy: true",
		"t.yaml:8:25: listeners.b.allow[1]: invalid address '10.0.0.0.1' "
		    "(expected IPv4 or IPv6, optionally /prefix length)",
		"t.yaml:9:11: listeners.b.deny: '10.1.0.0/8' has bits set "
		    "beyond the /8 prefix",
		"t.yaml:10:30: listeners.b.rate_limit.per_source: invalid rate "
		    "'5/m' (expected N/s, N in 1-10000000)",
		"t.yaml:10:42: listeners.b.rate_limit.total: 0/s is out of range "
		    "(1-10000000 per second)",
		"t.yaml:11:5: listeners.b.rate_limit2: unknown key (did you mean "
		    "'rate_limit'?)",
		"t.yaml:12:33: listeners.b.max_connections_per_source: invalid "
		    "number 'x' (0-10000000)",
		"t.yaml:16:17: listeners.c.rate_limit: needs per_source, total "
		    "or both",
		"t.yaml:21:21: pools.p.proxy_protocol: invalid PROXY protocol "
		    "version 'v3' (v1, v2 or none)",
		"t.yaml:22:54: pools.p.servers[0].proxy_protocol: invalid PROXY "
		    "protocol version 'V1' (v1, v2 or none)",
		NULL
	};

	(void)state;
	mem_bad("listeners:\n"
	    "  a:\n"
	    "    bind: 127.0.0.1:1\n"
	    "    accept_proxy: true\n"
	    "    pool: p\n"
	    "  b:\n"
	    "    trusted: [10.0.0.0/8]\n"
	    "    allow: [10.0.0.0/8, 10.0.0.0.1]\n"
	    "    deny: 10.1.0.0/8\n"
	    "    rate_limit: {per_source: 5/m, total: 0/s}\n"
	    "    rate_limit2: {}\n"
	    "    max_connections_per_source: x\n"
	    "    bind: 127.0.0.1:2\n"
	    "    pool: p\n"
	    "  c:\n"
	    "    rate_limit: {burst: 5}\n"
	    "    bind: 127.0.0.1:3\n"
	    "    pool: p\n"
	    "pools:\n  p:\n    proxy_protocol: v3\n"
	    "    servers: [{address: 127.0.0.1:3, proxy_protocol: V1}]\n",
	    want);
}

int
main(void)
{
	/* Generations get their runtime parts, as in tcplb. */
	wiring_install();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dynamic_keys),
		cmocka_unit_test(test_loop_guard),
		cmocka_unit_test(test_resolved_cap),
		cmocka_unit_test(test_dynamic_errors),
		cmocka_unit_test(test_metrics_forms),
		cmocka_unit_test(test_rebuild),
		cmocka_unit_test(test_check_kinds),
		cmocka_unit_test(test_check_kind_errors),
		cmocka_unit_test(test_good_full),
		cmocka_unit_test(test_good_minimal_defaults),
		cmocka_unit_test(test_shipped_configs),
		cmocka_unit_test(test_health_forms),
		cmocka_unit_test(test_health_empty_and_initial_state),
		cmocka_unit_test(test_hostname_servers),
		cmocka_unit_test(test_values_accepted),
		cmocka_unit_test(test_bad_syntax),
		cmocka_unit_test(test_no_listeners),
		cmocka_unit_test(test_bad_unknown_keys),
		cmocka_unit_test(test_bad_types),
		cmocka_unit_test(test_bad_duplicates),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_bad_addresses),
		cmocka_unit_test(test_bad_two_documents),
		cmocka_unit_test(test_bad_misc),
		cmocka_unit_test(test_source),
		cmocka_unit_test(test_mptcp),
		cmocka_unit_test(test_routes_good),
		cmocka_unit_test(test_routes_bad),
		cmocka_unit_test(test_alias_budget),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_fuzz_regressions),
		cmocka_unit_test(test_many_weighted_pools_load),
		cmocka_unit_test(test_loader_scales),
		cmocka_unit_test(test_loader_limits),
		cmocka_unit_test(test_quick_good),
		cmocka_unit_test(test_quick_bad),
		cmocka_unit_test(test_guard_good),
		cmocka_unit_test(test_guard_bad),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
