/* Unit tests for generations: reference counting, and runtime state that
 * follows a server (same address: same pool first, then same name, then
 * file order) or a listener (same name, then same address) into the next
 * generation while everything else starts fresh. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "config/gen.h"
#include "balance/pool.h"
#include "base/util.h"

static void
set_server(struct pool *p, uint32_t i, const char *ip, uint16_t port)
{
	struct server *s = &p->servers[i];
	struct sockaddr_in *sin = (struct sockaddr_in *)&s->addr;

	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	inet_pton(AF_INET, ip, &sin->sin_addr);
	s->addrlen = sizeof(*sin);
	s->name = xasprintf("%s:%u", ip, port);
	s->addr_text = xstrdup(s->name);
	s->weight = 1;
	s->index = i;
	s->pool = p;
	s->st = server_state_new();
}

/* One pool `name` with servers on 127.0.0.1 at the given ports, and one
 * listener "web" using it. */
static struct gen *
make_gen(const char *pool_name, const uint16_t *ports, uint32_t n)
{
	struct gen *g = gen_new("test");
	struct pool *p;

	g->npools = 1;
	g->pools = xcalloc(1, sizeof(*g->pools));
	p = &g->pools[0];
	p->name = xstrdup(pool_name);
	p->nservers = n;
	p->servers = xcalloc(n, sizeof(*p->servers));
	for (uint32_t i = 0; i < n; i++)
		set_server(p, i, "127.0.0.1", ports[i]);
	g->nlisteners = 1;
	g->listeners = xcalloc(1, sizeof(*g->listeners));
	g->listeners[0].name = xstrdup("web");
	g->listeners[0].pool = p;
	g->listeners[0].st = listener_state_new();
	return g;
}

static void
test_refcount(void **state)
{
	static const uint16_t ports[] = { 80 };
	struct gen *g = make_gen("web", ports, 1);

	assert_int_equal(atomic_load(&g->refs), 1);
	assert_ptr_equal(gen_get(g), g);
	assert_int_equal(atomic_load(&g->refs), 2);
	gen_put(g);
	assert_int_equal(atomic_load(&g->refs), 1);
	assert_int_equal(g->magic, GEN_MAGIC);
	gen_put(g);	/* freed: ASan would flag any use after this */
}

static void
test_ids_increase(void **state)
{
	struct gen *a = gen_new("a"), *b = gen_new("b");

	assert_true(b->id > a->id);
	gen_put(a);
	gen_put(b);
}

static void
test_inherit_matches_pool_and_address(void **state)
{
	static const uint16_t old_ports[] = { 8001, 8002, 8003 };
	static const uint16_t new_ports[] = { 8003, 8004, 8001 };
	struct gen *old = make_gen("web", old_ports, 3);
	struct gen *new = make_gen("web", new_ports, 3);
	struct gen *other = make_gen("api", old_ports, 3);
	struct server_state *s8001 = old->pools[0].servers[0].st;
	struct server_state *s8003 = old->pools[0].servers[2].st;
	struct listener_state *lst = old->listeners[0].st;

	/* Runtime figures of the old servers; both pools check health, so a
	 * down server stays down until a check says otherwise. */
	old->pools[0].health.enabled = true;
	new->pools[0].health.enabled = true;
	atomic_store(&s8001->active, 7);
	atomic_store(&s8003->up, false);
	atomic_store(&lst->active, 5);

	gen_inherit(new, old);
	assert_ptr_equal(new->pools[0].servers[0].st, s8003);	/* 8003 */
	assert_ptr_equal(new->pools[0].servers[2].st, s8001);	/* 8001 */
	assert_false(atomic_load(&new->pools[0].servers[0].st->up));
	assert_int_equal(atomic_load(&new->pools[0].servers[2].st->active), 7);
	/* 8004 is new: fresh state, up, no connections. */
	assert_true(atomic_load(&new->pools[0].servers[1].st->up));
	assert_int_equal(atomic_load(&new->pools[0].servers[1].st->active), 0);
	assert_ptr_equal(new->listeners[0].st, lst);

	/* A renamed pool keeps its servers' state: same backends, same
	 * open connections. */
	gen_inherit(other, old);
	assert_ptr_equal(other->pools[0].servers[0].st, s8001);

	/* The old generation goes; shared state lives on in the new one. */
	gen_put(old);
	assert_int_equal(atomic_load(&new->pools[0].servers[2].st->active), 7);
	assert_int_equal(atomic_load(&new->listeners[0].st->active), 5);
	gen_put(new);
	gen_put(other);
}

/* A server held down by an active check must not stay down for ever when
 * the reload removes the check; one resting after traffic failures gets a
 * trial instead of waiting for a check that will never run. */
static void
test_inherit_without_health_check_revives(void **state)
{
	static const uint16_t ports[] = { 9001, 9002 };
	struct gen *old = make_gen("web", ports, 2);
	struct gen *new = make_gen("web", ports, 2);
	struct server_state *active_down = old->pools[0].servers[0].st;
	struct server_state *passive_down = old->pools[0].servers[1].st;

	old->pools[0].health.enabled = true;
	atomic_store(&active_down->up, false);
	atomic_store(&passive_down->up, false);
	atomic_store(&passive_down->passive_down, true);
	atomic_store(&passive_down->retry_at_ms, 0);

	gen_inherit(new, old);	/* the new pool has no health_check */
	/* Nothing shared changes before the reload is committed: a reload
	 * that fails after this must leave the old servers as they were. */
	assert_false(atomic_load(&active_down->up));
	assert_int_equal(atomic_load(&passive_down->retry_at_ms), 0);
	gen_adopt_commit(new);
	pool_adopt_commit(new, (int64_t)now_ms());
	assert_true(atomic_load(&new->pools[0].servers[0].st->up));
	assert_true(atomic_load(&new->pools[0].servers[1].st->retry_at_ms) > 0);
	assert_true(server_available(&new->pools[0].servers[1], (int64_t)now_ms()));
	gen_put(old);
	gen_put(new);
}

/* One old state goes to one new server: the one in the pool of the same
 * name first, then one with the same name, then the first in file order.
 * Servers whose address is gone start fresh. */
static void
test_inherit_preference(void **state)
{
	static const uint16_t ports[] = { 7001, 7002 };
	struct gen *old = gen_new("old"), *new = gen_new("new");
	struct server_state *a1, *b1;

	(void)state;
	/* old: pool a {7001}, pool b {7001 named x} */
	old->npools = 2;
	old->pools = xcalloc(2, sizeof(*old->pools));
	old->pools[0].name = xstrdup("a");
	old->pools[0].nservers = 1;
	old->pools[0].servers = xcalloc(1, sizeof(struct server));
	set_server(&old->pools[0], 0, "127.0.0.1", ports[0]);
	old->pools[1].name = xstrdup("b");
	old->pools[1].nservers = 1;
	old->pools[1].servers = xcalloc(1, sizeof(struct server));
	set_server(&old->pools[1], 0, "127.0.0.1", ports[0]);
	free(old->pools[1].servers[0].name);
	old->pools[1].servers[0].name = xstrdup("x");
	a1 = old->pools[0].servers[0].st;
	b1 = old->pools[1].servers[0].st;
	/* new: pool c {7001 named x, 7001, 7002}, pool a {7001} -- the one
	 * in pool a keeps a's state although pool c comes first. */
	new->npools = 2;
	new->pools = xcalloc(2, sizeof(*new->pools));
	new->pools[0].name = xstrdup("c");
	new->pools[0].nservers = 3;
	new->pools[0].servers = xcalloc(3, sizeof(struct server));
	set_server(&new->pools[0], 0, "127.0.0.1", ports[0]);
	set_server(&new->pools[0], 1, "127.0.0.1", ports[0]);
	set_server(&new->pools[0], 2, "127.0.0.1", ports[1]);
	free(new->pools[0].servers[1].name);
	new->pools[0].servers[1].name = xstrdup("x");
	new->pools[1].name = xstrdup("a");
	new->pools[1].nservers = 1;
	new->pools[1].servers = xcalloc(1, sizeof(struct server));
	set_server(&new->pools[1], 0, "127.0.0.1", ports[0]);

	gen_inherit(new, old);
	assert_ptr_equal(new->pools[1].servers[0].st, a1);
	assert_ptr_equal(new->pools[0].servers[1].st, b1);	/* by name */
	/* Both old states are taken: the other 7001 starts fresh. */
	assert_false(new->pools[0].servers[0].adopted);
	assert_ptr_not_equal(new->pools[0].servers[0].st, a1);
	assert_ptr_not_equal(new->pools[0].servers[0].st, b1);
	assert_false(new->pools[0].servers[2].adopted);
	gen_put(old);
	gen_put(new);
}

/* A renamed listener on the same address keeps its connection count. */
static void
test_inherit_listener_by_address(void **state)
{
	static const uint16_t ports[] = { 6001 };
	struct gen *old = make_gen("p", ports, 1), *new = make_gen("p", ports, 1);
	struct sockaddr_in *sin;

	(void)state;
	for (int i = 0; i < 2; i++) {
		struct listener *l = &(i ? new : old)->listeners[0];

		l->nbinds = 1;
		l->binds = xcalloc(1, sizeof(*l->binds));
		l->binds[0].text = xstrdup("127.0.0.1:6000");
		sin = (struct sockaddr_in *)&l->binds[0].addr;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(6000);
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	}
	free(new->listeners[0].name);
	new->listeners[0].name = xstrdup("renamed");
	gen_inherit(new, old);
	assert_ptr_equal(new->listeners[0].st, old->listeners[0].st);
	gen_put(old);
	gen_put(new);
}

static void
test_count_servers(void **state)
{
	static const uint16_t ports[] = { 1, 2, 3, 4 };
	struct gen *g = make_gen("p", ports, 4);
	unsigned up, total;

	atomic_store(&g->pools[0].servers[1].st->up, false);
	gen_count_servers(g, &up, &total);
	assert_int_equal(total, 4);
	assert_int_equal(up, 3);
	assert_non_null(gen_find_pool(g, "p"));
	assert_null(gen_find_pool(g, "q"));
	assert_non_null(gen_find_listener(g, "web"));
	gen_put(g);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refcount),
		cmocka_unit_test(test_ids_increase),
		cmocka_unit_test(test_inherit_matches_pool_and_address),
		cmocka_unit_test(test_inherit_without_health_check_revives),
		cmocka_unit_test(test_inherit_preference),
		cmocka_unit_test(test_inherit_listener_by_address),
		cmocka_unit_test(test_count_servers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
