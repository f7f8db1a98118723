/*
 * Unit tests for the TLS phase of the inspection stage (inspect.c), run
 * offline through inspect_run() on bytes placed in the inspection buffer:
 * the verdict and pool for each kind of client, the PROXY phase before it,
 * the bounds, and the per-outcome and per-route counters.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "edge/guard.h"
#include "edge/inspect.h"
#include "parse/route.h"

static struct pool pool_a, pool_fb;
static struct route_name name_a;
static struct route routes[2];

static void
setup_listener(struct listener *l, bool with_pool)
{
	char err[256];

	memset(l, 0, sizeof(*l));
	memset(routes, 0, sizeof(routes));
	pool_a.name = (char *)"a";
	pool_fb.name = (char *)"fallback";
	assert_int_equal(route_name_parse("*.example.com", &name_a, err,
	    sizeof(err)), 0);
	routes[0].names = &name_a;
	routes[0].nnames = 1;
	routes[0].pool = &pool_a;
	routes[1].alpn = (char *)"acme-tls/1";
	routes[1].alpn_len = 10;
	routes[1].pool = &pool_a;
	l->name = (char *)"tls";
	l->pool = with_pool ? &pool_fb : NULL;
	l->routes = routes;
	l->nroutes = 2;
	l->inspect_timeout_ms = 3000;
}

static uint8_t *
load(const char *name, size_t *len)
{
	char path[1024];
	FILE *f;
	uint8_t *buf = malloc(65536);

	snprintf(path, sizeof(path), "%s/tls/%s", FIXTURES, name);
	f = fopen(path, "rb");
	assert_non_null(f);
	*len = fread(buf, 1, 65536, f);
	fclose(f);
	return buf;
}

static struct inspect *
feed(const struct listener *l, const void *data, size_t len,
    enum inspect_verdict want)
{
	struct inspect *in = inspect_new();

	assert_true(len <= INSPECT_BUF_SIZE);
	memcpy(in->buf, data, len);
	in->len = (uint32_t)len;
	assert_int_equal(inspect_run(in, l), want);
	return in;
}

/* A hello for x.example.com: the route's pool; bytes left for the server. */
static void
test_routed(void **state)
{
	struct listener l;
	struct inspect_tls_stats st;
	size_t len;
	uint8_t *hello = load("openssl-tls12.bin", &len);	/* a.example.com */
	struct inspect *in;

	memset(&st, 0, sizeof(st));
	setup_listener(&l, true);
	/* every prefix waits */
	for (size_t n = 0; n < len; n++) {
		in = feed(&l, hello, n, INSPECT_WAIT);
		inspect_free(in);
	}
	in = feed(&l, hello, len, INSPECT_CONTINUE);
	assert_ptr_equal(in->pool, &pool_a);
	assert_int_equal(in->route, 0);
	assert_true(in->tls_ok);
	assert_string_equal(in->hello.sni, "a.example.com");
	assert_int_equal(inspect_leftover_len(in), len);
	assert_memory_equal(inspect_leftover(in), hello, len);
	inspect_tls_count(&st, &l, in, false);
	assert_int_equal(st.outcome[TLS_OUT_ROUTED], 1);
	assert_int_equal(route_hits(&routes[0]), 1);
	inspect_free(in);
	free(hello);
	route_name_clear(&name_a);
}

static void
test_alpn_and_fallback(void **state)
{
	struct listener l;
	struct inspect_tls_stats st;
	size_t len;
	uint8_t *acme = load("openssl-tls13-alpn.bin", &len);	/* b.example.com, acme-tls/1 */
	uint8_t *nosni;
	struct inspect *in;

	memset(&st, 0, sizeof(st));
	setup_listener(&l, true);
	/* b.example.com matches *.example.com first */
	in = feed(&l, acme, len, INSPECT_CONTINUE);
	assert_int_equal(in->route, 0);
	inspect_free(in);
	free(acme);

	nosni = load("openssl-nosni.bin", &len);
	in = feed(&l, nosni, len, INSPECT_CONTINUE);
	assert_ptr_equal(in->pool, &pool_fb);
	assert_int_equal(in->route, -1);
	assert_false(in->hello.has_sni);
	inspect_tls_count(&st, &l, in, false);
	assert_int_equal(st.outcome[TLS_OUT_FALLBACK], 1);
	inspect_free(in);
	free(nosni);

	in = feed(&l, "GET / HTTP/1.0\r\n", 16, INSPECT_CONTINUE);
	assert_ptr_equal(in->pool, &pool_fb);
	assert_int_equal(inspect_leftover_len(in), 16);
	inspect_tls_count(&st, &l, in, false);
	assert_int_equal(st.outcome[TLS_OUT_NOT_TLS], 1);
	inspect_free(in);
	route_name_clear(&name_a);
}

/* No listener pool: what no route matches is closed, as no_route. */
static void
test_no_pool(void **state)
{
	struct listener l;
	struct inspect_tls_stats st;
	size_t len;
	uint8_t *nosni = load("openssl-nosni.bin", &len);
	struct inspect *in;

	memset(&st, 0, sizeof(st));
	setup_listener(&l, false);
	in = feed(&l, nosni, len, INSPECT_CLOSE);
	assert_int_equal(in->refuse, GUARD_NO_ROUTE);
	assert_non_null(in->reason);
	inspect_tls_count(&st, &l, in, false);
	assert_int_equal(st.outcome[TLS_OUT_NO_ROUTE], 1);
	inspect_free(in);
	in = feed(&l, "SSH-2.0-x\r\n", 11, INSPECT_CLOSE);
	assert_int_equal(in->refuse, GUARD_NO_ROUTE);
	inspect_free(in);
	free(nosni);
	route_name_clear(&name_a);
}

static void
test_bad(void **state)
{
	struct listener l;
	struct inspect_tls_stats st;
	size_t len;
	uint8_t *hello = load("python.bin", &len);
	uint8_t *copy = malloc(len);
	static uint8_t tiny[INSPECT_BUF_SIZE];
	struct inspect *in;

	memset(&st, 0, sizeof(st));
	setup_listener(&l, true);
	/* a wrong length: closed even though there is a fallback */
	memcpy(copy, hello, len);
	copy[8] -= 4;		/* handshake shorter than its extensions */
	in = feed(&l, copy, len, INSPECT_CLOSE);
	assert_int_equal(in->refuse, GUARD_TLS_HELLO);
	inspect_free(in);
	copy[8] += 4;
	copy[3] = 0x50;		/* record longer than 16 KiB */
	in = feed(&l, copy, len, INSPECT_CLOSE);
	assert_int_equal(in->refuse, GUARD_TLS_HELLO);
	inspect_tls_count(&st, &l, in, false);
	assert_int_equal(st.outcome[TLS_OUT_BAD_HELLO], 1);
	inspect_free(in);
	/* the client closed halfway */
	in = feed(&l, hello, 100, INSPECT_WAIT);
	in->eof = true;
	assert_int_equal(inspect_run(in, &l), INSPECT_CLOSE);
	assert_non_null(strstr(in->reason, "client closed"));
	inspect_free(in);
	/* one-byte records filling the whole buffer: a hello announced as
	 * 16383 bytes (allowed) that cannot arrive in what is left */
	for (size_t i = 0, r = 0; i + 6 <= sizeof(tiny); i += 6, r++) {
		static const uint8_t first[4] = { 1, 0, 0x3f, 0xff };

		memcpy(tiny + i, "\x16\x03\x01\x00\x01", 5);
		tiny[i + 5] = r < 4 ? first[r] : 0;
	}
	in = feed(&l, tiny, sizeof(tiny) - 6, INSPECT_WAIT);
	inspect_free(in);
	in = feed(&l, tiny, sizeof(tiny), INSPECT_CLOSE);
	assert_non_null(strstr(in->reason, "do not fit"));
	assert_int_equal(in->refuse, GUARD_TLS_HELLO);
	inspect_free(in);
	/* a timeout in the TLS phase counts as one */
	in = feed(&l, hello, 10, INSPECT_WAIT);
	inspect_tls_count(&st, &l, in, true);
	assert_int_equal(st.outcome[TLS_OUT_TIMEOUT], 1);
	assert_non_null(strstr(inspect_timeout_reason(in), "ClientHello"));
	inspect_free(in);
	free(copy);
	free(hello);
	route_name_clear(&name_a);
}

/* PROXY header first (consumed), then the hello (kept). */
static void
test_after_proxy(void **state)
{
	struct listener l;
	size_t len;
	uint8_t *hello = load("openssl-tls13.bin", &len);	/* www.b.example.com */
	static const char hdr[] = "PROXY TCP4 192.0.2.1 192.0.2.2 1234 443\r\n";
	uint8_t *both = malloc(len + sizeof(hdr));
	struct inspect *in;

	setup_listener(&l, true);
	l.accept_proxy = true;
	memcpy(both, hdr, sizeof(hdr) - 1);
	memcpy(both + sizeof(hdr) - 1, hello, len);
	in = feed(&l, both, sizeof(hdr) - 1 + 20, INSPECT_WAIT);
	assert_int_equal(in->off, sizeof(hdr) - 1);
	memcpy(in->buf + in->len, both + in->len, sizeof(hdr) - 1 + len - in->len);
	in->len = (uint32_t)(sizeof(hdr) - 1 + len);
	assert_int_equal(inspect_run(in, &l), INSPECT_CONTINUE);
	assert_true(in->has_client);
	assert_ptr_equal(in->pool, &pool_a);
	assert_string_equal(in->hello.sni, "www.b.example.com");
	assert_int_equal(inspect_leftover_len(in), len);
	assert_memory_equal(inspect_leftover(in), hello, len);
	inspect_free(in);
	free(both);
	free(hello);
	route_name_clear(&name_a);
}

/* accept_proxy with routes: allow/deny run right after the header, before
 * any ClientHello byte (issue 22, item 7) -- not counted as a TLS outcome. */
static void
test_admit_after_proxy(void **state)
{
	struct listener l;
	struct cidr_range r;
	char err[128];
	static const char hdr[] = "PROXY TCP4 192.0.2.1 192.0.2.2 1234 443\r\n";
	static const char ok[] = "PROXY TCP4 198.51.100.1 192.0.2.2 1234 443\r\n";
	struct inspect *in;

	(void)state;
	setup_listener(&l, true);
	l.accept_proxy = true;
	assert_int_equal(cidr_parse("192.0.2.0/24", &r, err, sizeof(err)), 0);
	cidr_set_add(&l.deny, &r);
	cidr_set_finish(&l.deny);
	in = feed(&l, hdr, sizeof(hdr) - 1, INSPECT_CLOSE);
	assert_int_equal(in->refuse, GUARD_DENIED);
	assert_false(in->tls_seen);
	inspect_free(in);
	/* Another address goes on to wait for its hello. */
	in = feed(&l, ok, sizeof(ok) - 1, INSPECT_WAIT);
	assert_true(in->admitted);
	inspect_free(in);
	cidr_set_free(&l.deny);
	route_name_clear(&name_a);
}

/* A read error (a reset) in the middle of the hello is a bad hello, not a
 * bad PROXY header (issue 22, item 9); in the header, it is the header's. */
static void
test_reset_mid_hello(void **state)
{
	struct listener l;
	size_t len;
	uint8_t *hello = load("openssl-tls13.bin", &len);
	struct inspect *in;
	int p[2];

	(void)state;
	assert_int_equal(pipe(p), 0);
	setup_listener(&l, true);
	in = feed(&l, hello, 20, INSPECT_WAIT);
	/* read() on a pipe's write end fails like a reset socket would */
	assert_int_equal(inspect_read(in, p[1], &l), INSPECT_CLOSE);
	assert_int_equal(in->refuse, GUARD_TLS_HELLO);
	inspect_free(in);
	l.accept_proxy = true;
	in = feed(&l, "PROXY TCP4 ", 11, INSPECT_WAIT);
	assert_int_equal(inspect_read(in, p[1], &l), INSPECT_CLOSE);
	assert_true(in->refuse == 0 || in->refuse == GUARD_PROXY_HEADER);
	inspect_free(in);
	close(p[0]);
	close(p[1]);
	free(hello);
	route_name_clear(&name_a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_routed),
		cmocka_unit_test(test_alpn_and_fallback),
		cmocka_unit_test(test_no_pool),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_after_proxy),
		cmocka_unit_test(test_admit_after_proxy),
		cmocka_unit_test(test_reset_mid_hello),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
