/*
 * test_balance: the balancing algorithms (balance.c) and the shared-state
 * decisions around them (pool.c) -- distributions, smoothness, consistent
 * hashing movement, backups, max_connections under threads, passive
 * health and slow start -- on pools built by hand, with no sockets.
 * Measured figures are printed so they can be quoted.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <ev.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "balance/balance.h"
#include "balance/maglev.h"
#include "config/gen.h"
#include "health/health.h"
#include "health/health_int.h"
#include "base/log.h"
#include "base/net.h"
#include "balance/pool.h"
#include "base/util.h"

#define NPICKS 10000

static struct pool *
tp_new(enum balance_alg alg, unsigned n, const uint32_t *weights)
{
	struct pool *p = xcalloc(1, sizeof(*p));

	p->name = xstrdup("web");
	p->alg = alg;
	p->nservers = n;
	p->servers = xcalloc(n, sizeof(*p->servers));
	for (unsigned i = 0; i < n; i++) {
		struct server *s = &p->servers[i];
		struct sockaddr_in *sin = (struct sockaddr_in *)&s->addr;

		s->name = xasprintf("%c", 'A' + i);
		s->addr_text = xasprintf("10.0.0.%u:8080", i + 1);
		sin->sin_family = AF_INET;
		sin->sin_port = htons(8080);
		sin->sin_addr.s_addr = htonl(0x0a000000u + i + 1);
		s->addrlen = sizeof(*sin);
		s->weight = weights ? weights[i] : 1;
		s->index = i;
		s->pool = p;
		s->st = server_state_new();
	}
	assert_int_equal(balance_prepare(p), 0);
	return p;
}

static void
tp_free(struct pool *p)
{
	for (uint32_t i = 0; i < p->nservers; i++) {
		free(p->servers[i].name);
		free(p->servers[i].addr_text);
		server_state_put(p->servers[i].st);
	}
	free(p->servers);
	balance_free(p->bal);
	p->bal = NULL;
	free(p->name);
	free(p);
}

static void
set_up(struct pool *p, unsigned i, bool up)
{
	atomic_store(&p->servers[i].st->up, up);
}

static struct sockaddr_in
client_addr(uint32_t k)
{
	struct sockaddr_in sin;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)(1024 + k % 50000));
	/* 10,000 distinct hosts spread like real clients: over several /16s. */
	sin.sin_addr.s_addr = htonl(0xc0a80000u + k * 2654435761u % 0x3ffffffu);
	return sin;
}

static int
pick(struct pool *p, uint32_t *rnd)
{
	return balance_pick(p, NULL, NULL, 0, 1000, rnd);
}

/* A sequence of picks as letters, for messages and printing. */
static void
seq_string(struct pool *p, unsigned n, char *out)
{
	uint32_t rnd = 1;

	for (unsigned i = 0; i < n; i++) {
		int k = pick(p, &rnd);

		out[i] = k < 0 ? '-' : (char)('A' + k);
	}
	out[n] = '\0';
}

/* ---- names ------------------------------------------------------------- */

static void
test_alg_names(void **state)
{
	enum balance_alg a;

	(void)state;
	for (int i = BAL_ROUNDROBIN; i <= BAL_MAGLEV; i++) {
		assert_int_equal(gen_balance_parse(gen_balance_name(i), &a), 0);
		assert_int_equal(a, i);
	}
	assert_int_equal(gen_balance_parse("roundrobin", &a), 0);
	assert_int_equal(a, BAL_ROUNDROBIN);
	assert_int_equal(gen_balance_parse("hash", &a), -1);
	assert_int_equal(gen_balance_parse("", &a), -1);
}

/* ---- roundrobin -------------------------------------------------------- */

static void
test_rr_equal_alternates(void **state)
{
	struct pool *p2 = tp_new(BAL_ROUNDROBIN, 2, NULL);
	struct pool *p3 = tp_new(BAL_ROUNDROBIN, 3, NULL);
	char seq[64];

	(void)state;
	seq_string(p2, 12, seq);
	printf("roundrobin 1:1     %s\n", seq);
	assert_string_equal(seq, "ABABABABABAB");
	seq_string(p3, 12, seq);
	printf("roundrobin 1:1:1   %s\n", seq);
	assert_string_equal(seq, "ABCABCABCABC");

	/* Through pool_pick with reservations held and released. */
	for (int i = 0; i < 8; i++) {
		uint32_t rnd = 1;
		struct server *s = pool_pick(p2, NULL, NULL, 0, 1000, &rnd);

		assert_non_null(s);
		assert_int_equal(s->index, (uint32_t)(i % 2));
		pool_release(s);
	}
	tp_free(p2);
	tp_free(p3);
}

static void
test_rr_down_still_alternates(void **state)
{
	struct pool *p = tp_new(BAL_ROUNDROBIN, 3, NULL);
	char seq[64];

	(void)state;
	p->health.enabled = true;	/* no passive fallback */
	set_up(p, 2, false);
	seq_string(p, 12, seq);
	printf("roundrobin C down  %s\n", seq);
	assert_string_equal(seq, "ABABABABABAB");
	set_up(p, 0, false);
	seq_string(p, 4, seq);
	assert_string_equal(seq, "BBBB");
	set_up(p, 1, false);
	seq_string(p, 2, seq);
	assert_string_equal(seq, "--");
	tp_free(p);
}

static void
count_picks(struct pool *p, unsigned *count, unsigned n, uint32_t seed)
{
	uint32_t rnd = seed;

	for (unsigned i = 0; i < n; i++) {
		int k = pick(p, &rnd);

		assert_true(k >= 0);
		count[k]++;
	}
}

static void
test_rr_weights(void **state)
{
	static const uint32_t w[] = { 1, 3 };
	struct pool *p = tp_new(BAL_ROUNDROBIN, 2, w);
	unsigned c[2] = { 0, 0 };
	double share;

	(void)state;
	count_picks(p, c, NPICKS, 1);
	share = (double)c[1] / NPICKS;
	printf("roundrobin 1:3 over %d picks: A=%u B=%u (B %.2f%%, want 75%%)\n",
	    NPICKS, c[0], c[1], share * 100);
	assert_true(share > 0.73 && share < 0.77);
	tp_free(p);
}

/* The schedule is built by weight groups (linear in the servers); it must
 * be exactly the cycle the literal recurrence -- every server gains its
 * weight, the richest (first in file order on ties) pays the total --
 * produces from a start half a weight in debt. */
static void
test_rr_schedule_exact(void **state)
{
	uint32_t rnd = 12345;

	(void)state;
	for (int round = 0; round < 200; round++) {
		unsigned n = 1 + xorshift32(&rnd) % 40;
		uint32_t w[40];
		int64_t cur[40];
		uint64_t total = 0;
		struct pool *p;

		for (unsigned i = 0; i < n; i++) {
			/* few distinct weights, some zero, sometimes many */
			w[i] = round % 2 ? xorshift32(&rnd) % 4 :
			    xorshift32(&rnd) % 257;
			total += w[i];
		}
		if (total == 0)
			w[0] = total = 3;
		p = tp_new(BAL_ROUNDROBIN, n, w);
		{
			uint64_t g = 0, t2 = 0;

			for (unsigned i = 0; i < n; i++) {
				uint64_t a = g, b = w[i];

				while (b) {
					uint64_t r = a % b;

					a = b;
					b = r;
				}
				g = a;
			}
			for (unsigned i = 0; i < n; i++) {
				cur[i] = -(int64_t)(w[i] / g / 2);
				t2 += w[i] / g;
			}
			assert_int_equal(p->bal->sched_len, t2);
			for (uint64_t k = 0; k < t2; k++) {
				int best = -1;

				for (unsigned i = 0; i < n; i++) {
					if (w[i] == 0)
						continue;
					cur[i] += (int64_t)(w[i] / g);
					if (best < 0 || cur[i] > cur[best])
						best = (int)i;
				}
				cur[best] -= (int64_t)t2;
				assert_int_equal(p->bal->sched[k], best);
			}
		}
		tp_free(p);
	}
}

static void
test_rr_smooth(void **state)
{
	static const uint32_t w[] = { 5, 1, 1 };
	struct pool *p = tp_new(BAL_ROUNDROBIN, 3, w);
	char seq[64];
	int run = 0, maxrun = 0;
	unsigned c[3] = { 0, 0, 0 };

	(void)state;
	seq_string(p, 21, seq);
	printf("roundrobin 5:1:1   %s\n", seq);
	for (int i = 0; seq[i]; i++) {
		run = seq[i] == 'A' ? run + 1 : 0;
		if (run > maxrun)
			maxrun = run;
		c[seq[i] - 'A']++;
	}
	assert_true(maxrun <= 3);
	assert_int_equal(c[0], 15);
	assert_int_equal(c[1], 3);
	assert_int_equal(c[2], 3);
	/* Large co-prime weights hit the schedule cap and stay proportional. */
	{
		static const uint32_t big[] = { 99991, 299993 };
		struct pool *q = tp_new(BAL_ROUNDROBIN, 2, big);
		unsigned cc[2] = { 0, 0 };

		assert_true(q->bal->sched_len <= 65536);
		count_picks(q, cc, NPICKS, 1);
		assert_true(cc[1] > 0.73 * NPICKS && cc[1] < 0.77 * NPICKS);
		tp_free(q);
	}
	tp_free(p);
}

/* ---- random ------------------------------------------------------------ */

static void
test_random_weights(void **state)
{
	static const uint32_t w[] = { 1, 3 };
	struct pool *p = tp_new(BAL_RANDOM, 2, w);
	unsigned c[2] = { 0, 0 };
	double share;

	(void)state;
	count_picks(p, c, NPICKS, 12345);
	share = (double)c[1] / NPICKS;
	printf("random 1:3 over %d picks: A=%u B=%u (B %.2f%%, want 75%%)\n",
	    NPICKS, c[0], c[1], share * 100);
	assert_true(share > 0.73 && share < 0.77);
	tp_free(p);
}

static void
test_random_prefers_less_loaded(void **state)
{
	struct pool *p = tp_new(BAL_RANDOM, 4, NULL);
	unsigned c[4] = { 0, 0, 0, 0 };

	(void)state;
	atomic_store(&p->servers[0].st->active, 100);
	count_picks(p, c, NPICKS, 777);
	printf("random p2c, A loaded: A=%u B=%u C=%u D=%u (A %.2f%%, "
	    "bound 6.25%%)\n", c[0], c[1], c[2], c[3], 100.0 * c[0] / NPICKS);
	/* A wins only when both draws are A: 1/16. */
	assert_true(c[0] < 0.08 * NPICKS);
	/* Both draws down: the scan still finds someone. */
	p->health.enabled = true;
	set_up(p, 1, false);
	set_up(p, 2, false);
	set_up(p, 3, false);
	for (int i = 0; i < 100; i++) {
		uint32_t rnd = (uint32_t)i + 1;

		assert_int_equal(pick(p, &rnd), 0);
	}
	tp_free(p);
}

/* ---- leastconn --------------------------------------------------------- */

static void
test_leastconn(void **state)
{
	static const uint32_t w[] = { 1, 2, 1 };
	struct pool *p = tp_new(BAL_LEASTCONN, 3, w);
	uint32_t rnd = 1;
	int a, b, c;

	(void)state;
	/* Ties rotate. */
	a = pick(p, &rnd);
	b = pick(p, &rnd);
	c = pick(p, &rnd);
	assert_true(a != b && b != c && a != c);
	/* 3/1 vs 4/2 vs 5/1: B is least loaded relative to its weight. */
	atomic_store(&p->servers[0].st->active, 3);
	atomic_store(&p->servers[1].st->active, 4);
	atomic_store(&p->servers[2].st->active, 5);
	for (int i = 0; i < 10; i++)
		assert_int_equal(pick(p, &rnd), 1);
	/* 3/1 vs 6/2 vs 5/1: A and B tie; both get picks. */
	atomic_store(&p->servers[1].st->active, 6);
	{
		unsigned cnt[3] = { 0, 0, 0 };

		for (int i = 0; i < 30; i++)
			cnt[pick(p, &rnd)]++;
		assert_true(cnt[0] > 0 && cnt[1] > 0);
		assert_int_equal(cnt[2], 0);
	}
	tp_free(p);

	/* Held connections settle in proportion to the weights. */
	{
		static const uint32_t w13[] = { 1, 3 };
		struct pool *q = tp_new(BAL_LEASTCONN, 2, w13);
		struct server *held[400];

		for (int i = 0; i < 400; i++) {
			held[i] = pool_pick(q, NULL, NULL, 0, 1000, &rnd);
			assert_non_null(held[i]);
		}
		printf("leastconn 1:3, 400 held: A=%u B=%u\n",
		    atomic_load(&q->servers[0].st->active),
		    atomic_load(&q->servers[1].st->active));
		assert_int_equal(atomic_load(&q->servers[0].st->active), 100);
		assert_int_equal(atomic_load(&q->servers[1].st->active), 300);
		for (int i = 0; i < 400; i++)
			pool_release(held[i]);
		tp_free(q);
	}
}

/* ---- source ------------------------------------------------------------ */

static int
source_pick(struct pool *p, uint32_t k)
{
	struct sockaddr_in c = client_addr(k);
	uint32_t rnd = 1;

	return balance_pick(p, (struct sockaddr *)&c, NULL, 0, 1000, &rnd);
}

static void
test_source_stable(void **state)
{
	struct pool *p = tp_new(BAL_SOURCE, 5, NULL);

	(void)state;
	for (uint32_t k = 0; k < 1000; k++) {
		int first = source_pick(p, k);

		assert_true(first >= 0);
		for (int r = 0; r < 3; r++)
			assert_int_equal(source_pick(p, k), first);
	}
	/* The port is not part of the hash. */
	{
		struct sockaddr_in c = client_addr(42);
		uint32_t rnd = 1;
		int a = balance_pick(p, (struct sockaddr *)&c, NULL, 0, 0, &rnd);

		c.sin_port = htons(9);
		assert_int_equal(balance_pick(p, (struct sockaddr *)&c, NULL,
		    0, 0, &rnd), a);
	}
	tp_free(p);
}

/* Remove server C from five: rebuild the ring without it (as a reload
 * would) and compare by server identity. */
static void
test_source_consistent(void **state)
{
	struct pool *p5 = tp_new(BAL_SOURCE, 5, NULL);
	struct pool *p4 = tp_new(BAL_SOURCE, 5, NULL);
	unsigned moved = 0, moved_other = 0, on_removed = 0;
	unsigned c5[5] = { 0 };

	(void)state;
	/* p4 = p5 without its third server, names/addresses unchanged. */
	free(p4->servers[2].name);
	free(p4->servers[2].addr_text);
	server_state_put(p4->servers[2].st);
	memmove(&p4->servers[2], &p4->servers[3], 2 * sizeof(*p4->servers));
	p4->nservers = 4;
	assert_int_equal(balance_prepare(p4), 0);

	for (uint32_t k = 0; k < NPICKS; k++) {
		int a = source_pick(p5, k), b = source_pick(p4, k);
		const char *na = p5->servers[a].name;
		const char *nb = p4->servers[b].name;

		c5[a]++;
		if (strcmp(na, "C") == 0)
			on_removed++;
		if (strcmp(na, nb) != 0) {
			moved++;
			if (strcmp(na, "C") != 0)
				moved_other++;
		}
	}
	printf("source 5 servers, %d clients: A=%u B=%u C=%u D=%u E=%u\n",
	    NPICKS, c5[0], c5[1], c5[2], c5[3], c5[4]);
	printf("source remove C: moved %u of %d (%.2f%%, 1/N = 20%%), "
	    "moved from others %u, C had %u\n", moved, NPICKS,
	    100.0 * moved / NPICKS, moved_other, on_removed);
	assert_int_equal(moved_other, 0);
	assert_int_equal(moved, on_removed);
	assert_true(moved <= NPICKS * (0.20 + 0.02));
	for (int i = 0; i < 5; i++)
		assert_true(c5[i] > NPICKS * 0.20 * 0.75 &&
		    c5[i] < NPICKS * 0.20 * 1.25);

	/* A down server behaves like a removed one, and nobody else moves. */
	p5->health.enabled = true;
	set_up(p5, 2, false);
	moved = moved_other = 0;
	for (uint32_t k = 0; k < NPICKS; k++) {
		int b = source_pick(p5, k);
		int a;

		set_up(p5, 2, true);
		a = source_pick(p5, k);
		set_up(p5, 2, false);
		assert_int_not_equal(b, 2);
		if (a != b) {
			moved++;
			if (a != 2)
				moved_other++;
		}
	}
	printf("source C down: moved %u (%.2f%%), from others %u\n", moved,
	    100.0 * moved / NPICKS, moved_other);
	assert_int_equal(moved_other, 0);
	tp_free(p5);
	tp_free(p4);
}

/* Instances that list the same servers in different orders build the same
 * ring, even where two servers' points have equal hashes (a ring of 2^18
 * points has several such ties): a tie is broken by address, not by the
 * position in the file.  This is what keeps `source` picks identical across
 * a tier of tcplb instances. */
static void
test_source_order_independent(void **state)
{
	uint32_t w[64];
	struct pool *p, *q;
	unsigned ties = 0;

	(void)state;
	for (unsigned i = 0; i < 64; i++)
		w[i] = i + 1;	/* 2080 units x 160 points: scaled to 2^18 */
	p = tp_new(BAL_SOURCE, 64, w);
	q = tp_new(BAL_SOURCE, 64, w);
	/* q: the same servers, listed in reverse */
	for (unsigned i = 0; i < 32; i++) {
		struct server t = q->servers[i];

		q->servers[i] = q->servers[63 - i];
		q->servers[63 - i] = t;
	}
	for (unsigned i = 0; i < 64; i++)
		q->servers[i].index = i;
	balance_free(q->bal);
	q->bal = NULL;
	assert_int_equal(balance_prepare(q), 0);

	assert_int_equal(p->bal->ring_len, q->bal->ring_len);
	for (uint32_t k = 0; k < p->bal->ring_len; k++) {
		const struct balance_point *a = &p->bal->ring[k], *b = &q->bal->ring[k];

		assert_int_equal(a->hash, b->hash);
		assert_string_equal(p->servers[a->server].addr_text,
		    q->servers[b->server].addr_text);
		if (k > 0 && p->bal->ring[k - 1].hash == a->hash &&
		    p->bal->ring[k - 1].server != a->server)
			ties++;
	}
	printf("source ring of %u points: %u ties between servers, same order "
	    "with the servers listed in reverse\n", p->bal->ring_len, ties);
	assert_true(ties > 0);	/* else this test proves nothing */
	for (uint32_t k = 0; k < NPICKS; k++)
		assert_string_equal(p->servers[source_pick(p, k)].addr_text,
		    q->servers[source_pick(q, k)].addr_text);
	tp_free(p);
	tp_free(q);
}

/* Weights 1:3 with a hash of the client: B's share of NPICKS clients. */
static double
hash_weights(enum balance_alg alg)
{
	static const uint32_t w[] = { 1, 3 };
	struct pool *p = tp_new(alg, 2, w);
	unsigned c[2] = { 0, 0 };
	double share;

	for (uint32_t k = 0; k < NPICKS; k++)
		c[source_pick(p, k)]++;
	share = (double)c[1] / NPICKS;
	printf("%s 1:3 over %d clients: A=%u B=%u (B %.2f%%, want 75%%)\n",
	    gen_balance_name(alg), NPICKS, c[0], c[1], share * 100);
	tp_free(p);
	return share;
}

static void
test_source_weights(void **state)
{
	double share = hash_weights(BAL_SOURCE);

	(void)state;
	assert_true(share > 0.70 && share < 0.80);
}

/* ---- maglev ------------------------------------------------------------ */

/* p without its server i, as a reload that dropped it would build. */
static void
tp_remove(struct pool *p, uint32_t i)
{
	free(p->servers[i].name);
	free(p->servers[i].addr_text);
	server_state_put(p->servers[i].st);
	memmove(&p->servers[i], &p->servers[i + 1],
	    (p->nservers - i - 1) * sizeof(*p->servers));
	p->nservers--;
	for (uint32_t k = 0; k < p->nservers; k++)
		p->servers[k].index = k;
	assert_int_equal(balance_prepare(p), 0);
}

struct hash_figures {
	double spread;		/* largest |share - mean| / mean */
	double moved_other;	/* clients of kept servers that moved */
	double moved;		/* all clients that moved */
	double removed_share;	/* clients the removed server had */
};

/* nserv servers, nclients client addresses: the spread of clients over
 * the servers, then the movement when the server at position `victim`
 * goes (compared by name: indices shift). */
static struct hash_figures
hash_measure(enum balance_alg alg, uint32_t nserv, uint32_t nclients,
    uint32_t victim)
{
	struct pool *p = tp_new(alg, nserv, NULL);
	struct pool *q = tp_new(alg, nserv, NULL);
	unsigned *cnt = xcalloc(nserv, sizeof(*cnt));
	char **before = xcalloc(nclients, sizeof(*before));
	unsigned moved = 0, moved_other = 0, had = 0;
	struct hash_figures f = { 0 };
	double mean = (double)nclients / nserv;

	for (uint32_t k = 0; k < nclients; k++) {
		int a = source_pick(p, k);

		cnt[a]++;
		before[k] = p->servers[a].name;
	}
	for (uint32_t i = 0; i < nserv; i++) {
		double d = (cnt[i] - mean) / mean;

		if (d < 0)
			d = -d;
		if (d > f.spread)
			f.spread = d;
	}
	tp_remove(q, victim);
	for (uint32_t k = 0; k < nclients; k++) {
		const char *now = q->servers[source_pick(q, k)].name;
		bool was_victim = strcmp(before[k],
		    p->servers[victim].name) == 0;

		had += was_victim;
		if (strcmp(now, before[k]) != 0) {
			moved++;
			moved_other += !was_victim;
		}
	}
	f.moved = (double)moved / nclients;
	f.moved_other = (double)moved_other / nclients;
	f.removed_share = (double)had / nclients;
	free(before);
	free(cnt);
	tp_free(p);
	tp_free(q);
	return f;
}

static void
test_maglev_table_len(void **state)
{
	(void)state;
	assert_int_equal(maglev_table_len(0), 0);
	assert_int_equal(maglev_table_len(1), 65537);
	assert_int_equal(maglev_table_len(655), 65537);
	/* 100 per server, rounded up to a prime */
	assert_int_equal(maglev_table_len(1000), 100003);
	assert_int_equal(maglev_table_len(10000), 1000003);
	{
		uint32_t t[7];
		struct maglev_server sv[] = { { "a", 1 } };

		assert_int_equal(maglev_build(sv, 1, t, 6), -1);
		assert_int_equal(maglev_build(sv, 1, t, 7), 0);
		for (int i = 0; i < 7; i++)
			assert_int_equal(t[i], 0);
		sv[0].weight = 0;
		assert_int_equal(maglev_build(sv, 1, t, 7), 0);
		assert_int_equal(t[3], MAGLEV_NONE);
	}
}

/* The figures the issue asks for, side by side with the `source` ring:
 * spread of 100,000 and 600 clients over 5 and 50 servers, and how many
 * clients move when one server goes.  Maglev trades a little movement of
 * other servers' clients (the paper's "minimal disruption", not zero) for
 * a spread a ring cannot match at the same memory. */
static void
test_maglev_vs_source(void **state)
{
	static const struct { uint32_t nserv, nclients, victim; } cases[] = {
		{ 5, 100000, 2 }, { 50, 100000, 17 }, { 5, 600, 2 },
		{ 50, 600, 17 },
	};

	(void)state;
	for (size_t c = 0; c < ARRAY_SIZE(cases); c++) {
		struct hash_figures m = hash_measure(BAL_MAGLEV,
		    cases[c].nserv, cases[c].nclients, cases[c].victim);
		struct hash_figures r = hash_measure(BAL_SOURCE,
		    cases[c].nserv, cases[c].nclients, cases[c].victim);

		printf("%2u servers, %6u clients: spread (max |share-mean|/"
		    "mean) maglev %.2f%% source %.2f%%; remove one: moved "
		    "maglev %.2f%% (others' %.3f%%) source %.2f%% (others' "
		    "%.3f%%), it had %.2f%% / %.2f%%\n", cases[c].nserv,
		    cases[c].nclients, m.spread * 100, r.spread * 100,
		    m.moved * 100, m.moved_other * 100, r.moved * 100,
		    r.moved_other * 100, m.removed_share * 100,
		    r.removed_share * 100);
		assert_true(r.moved_other == 0);
		/* Small: under 2% of all clients besides the removed
		 * server's own (about 0.3-1% measured). */
		assert_true(m.moved_other < 0.02);
		assert_true(m.moved >= m.removed_share);
		if (cases[c].nclients >= 100000) {
			/* The table is within 0.1% (test_maglev_slot_shares);
			 * what is left is sampling noise, 1/sqrt(clients per
			 * server): four of those plus 1% (1/sqrt(20000) =
			 * 0.7%, 1/sqrt(2000) = 2.2%). */
			assert_true(m.spread < (cases[c].nserv == 5 ?
			    0.04 : 0.10));
			assert_true(m.spread <= r.spread);
		}
	}
}

/* The table itself: each server's share of the slots. */
static void
test_maglev_slot_shares(void **state)
{
	static const uint32_t w[] = { 1, 3, 1, 2, 1 };

	(void)state;
	for (int weighted = 0; weighted < 2; weighted++) {
		struct pool *p = tp_new(BAL_MAGLEV, 5, weighted ? w : NULL);
		unsigned cnt[5] = { 0 };
		double worst = 0;
		uint32_t wsum = 0;

		for (int i = 0; i < 5; i++)
			wsum += p->servers[i].weight;
		assert_int_equal(p->bal->maglev_len, 65537);
		for (uint32_t k = 0; k < p->bal->maglev_len; k++)
			cnt[p->bal->maglev[k]]++;
		for (int i = 0; i < 5; i++) {
			double want = (double)p->bal->maglev_len *
			    p->servers[i].weight / wsum;
			double d = (cnt[i] - want) / want;

			if (d < 0)
				d = -d;
			if (d > worst)
				worst = d;
		}
		printf("maglev %s slots: %u %u %u %u %u of %u, worst %.3f%% "
		    "off the weight's share (memory %zu KiB a pool)\n",
		    weighted ? "1:3:1:2:1" : "equal", cnt[0], cnt[1], cnt[2],
		    cnt[3], cnt[4], p->bal->maglev_len, worst * 100,
		    p->bal->maglev_len * sizeof(uint32_t) / 1024);
		assert_true(worst < 0.01);
		tp_free(p);
	}
}

/* The same servers listed in any order build the same table (by address),
 * so a tier of instances sends a client to the same server. */
static void
test_maglev_order_independent(void **state)
{
	struct pool *p = tp_new(BAL_MAGLEV, 20, NULL);
	struct pool *q = tp_new(BAL_MAGLEV, 20, NULL);

	(void)state;
	for (unsigned i = 0; i < 10; i++) {
		struct server t = q->servers[i];

		q->servers[i] = q->servers[19 - i];
		q->servers[19 - i] = t;
	}
	for (unsigned i = 0; i < 20; i++)
		q->servers[i].index = i;
	assert_int_equal(balance_prepare(q), 0);
	assert_int_equal(p->bal->maglev_len, q->bal->maglev_len);
	for (uint32_t k = 0; k < p->bal->maglev_len; k++)
		assert_string_equal(p->servers[p->bal->maglev[k]].addr_text,
		    q->servers[q->bal->maglev[k]].addr_text);
	for (uint32_t k = 0; k < NPICKS; k++)
		assert_string_equal(p->servers[source_pick(p, k)].addr_text,
		    q->servers[source_pick(q, k)].addr_text);
	tp_free(p);
	tp_free(q);
}

/* A down (or full, or tried) server's clients go elsewhere, always to the
 * same place, and nobody else moves; they come back when it does. */
static void
test_maglev_down(void **state)
{
	struct pool *p = tp_new(BAL_MAGLEV, 5, NULL);
	int before[NPICKS];
	unsigned moved = 0, spill[5] = { 0 };

	(void)state;
	p->health.enabled = true;
	for (uint32_t k = 0; k < NPICKS; k++)
		before[k] = source_pick(p, k);
	set_up(p, 2, false);
	for (uint32_t k = 0; k < NPICKS; k++) {
		int b = source_pick(p, k);

		assert_int_not_equal(b, 2);
		assert_int_equal(source_pick(p, k), b);
		if (before[k] != 2)
			assert_int_equal(b, before[k]);
		else {
			moved++;
			spill[b]++;
		}
	}
	printf("maglev C down: its %u clients went to A=%u B=%u D=%u E=%u\n",
	    moved, spill[0], spill[1], spill[3], spill[4]);
	for (int i = 0; i < 5; i++)
		if (i != 2)
			assert_true(spill[i] > moved / 4 * 0.7);
	set_up(p, 2, true);
	for (uint32_t k = 0; k < NPICKS; k++)
		assert_int_equal(source_pick(p, k), before[k]);
	/* Every server but one down: one pass finds it. */
	for (int i = 0; i < 5; i++)
		set_up(p, i, i == 3);
	for (uint32_t k = 0; k < 1000; k++)
		assert_int_equal(source_pick(p, k), 3);
	tp_free(p);
}

static void
test_maglev_weights(void **state)
{
	double share = hash_weights(BAL_MAGLEV);

	(void)state;
	assert_true(share > 0.73 && share < 0.77);
}

/* ---- first ------------------------------------------------------------- */

static void
test_first_fills_in_order(void **state)
{
	struct pool *p = tp_new(BAL_FIRST, 3, NULL);
	struct server *held[6];
	uint32_t rnd = 1;
	char seq[8];

	(void)state;
	for (int i = 0; i < 3; i++)
		p->servers[i].max_conns = 2;
	for (int i = 0; i < 6; i++) {
		held[i] = pool_pick(p, NULL, NULL, 0, 1000, &rnd);
		assert_non_null(held[i]);
		seq[i] = (char)('A' + held[i]->index);
	}
	seq[6] = '\0';
	printf("first, max_connections 2: %s\n", seq);
	assert_string_equal(seq, "AABBCC");
	assert_null(pool_pick(p, NULL, NULL, 0, 1000, &rnd));
	pool_release(held[0]);
	held[0] = pool_pick(p, NULL, NULL, 0, 1000, &rnd);
	assert_non_null(held[0]);
	assert_int_equal(held[0]->index, 0);
	for (int i = 0; i < 6; i++)
		pool_release(held[i]);
	assert_int_equal(atomic_load(&p->servers[0].st->active), 0);
	tp_free(p);
}

/* ---- eligibility ------------------------------------------------------- */

static void
test_backup(void **state)
{
	for (int alg = BAL_ROUNDROBIN; alg <= BAL_MAGLEV; alg++) {
		struct pool *p = tp_new(alg, 3, NULL);
		struct sockaddr_in c = client_addr(7);
		uint32_t rnd = 99;

		(void)state;
		p->health.enabled = true;
		p->servers[2].backup = true;
		for (int i = 0; i < 200; i++)
			assert_int_not_equal(balance_pick(p,
			    (struct sockaddr *)&c, NULL, 0, 0, &rnd), 2);
		/* A full primary is no reason to use the backup. */
		p->servers[0].max_conns = 1;
		p->servers[1].max_conns = 1;
		atomic_store(&p->servers[0].st->active, 1);
		atomic_store(&p->servers[1].st->active, 1);
		assert_int_equal(balance_pick(p, (struct sockaddr *)&c, NULL, 0,
		    0, &rnd), -1);
		atomic_store(&p->servers[0].st->active, 0);
		atomic_store(&p->servers[1].st->active, 0);
		set_up(p, 0, false);
		set_up(p, 1, false);
		for (int i = 0; i < 20; i++)
			assert_int_equal(balance_pick(p, (struct sockaddr *)&c,
			    NULL, 0, 0, &rnd), 2);
		set_up(p, 1, true);
		for (int i = 0; i < 20; i++)
			assert_int_equal(balance_pick(p, (struct sockaddr *)&c,
			    NULL, 0, 0, &rnd), 1);
		/* A client that every healthy primary already failed (say,
		 * refused before passive health noticed) moves on to the
		 * backup instead of being turned away. */
		{
			uint32_t tried[] = { 0, 1 };

			set_up(p, 0, true);
			assert_int_equal(balance_pick(p, (struct sockaddr *)&c,
			    tried, 2, 0, &rnd), 2);
			assert_int_not_equal(balance_pick(p, (struct sockaddr *)&c,
			    tried, 1, 0, &rnd), 2);
		}
		tp_free(p);
	}
}

static void
test_weight_zero_and_exclude(void **state)
{
	static const uint32_t w[] = { 0, 1, 1 };
	static const uint32_t zero[] = { 0, 0 };

	(void)state;
	for (int alg = BAL_ROUNDROBIN; alg <= BAL_MAGLEV; alg++) {
		struct pool *p = tp_new(alg, 3, w);
		struct pool *z = tp_new(alg, 2, zero);
		uint32_t rnd = 5, ex1[] = { 1 }, ex12[] = { 2, 1 };

		for (uint32_t k = 0; k < 500; k++) {
			struct sockaddr_in c = client_addr(k);
			const struct sockaddr *sa = (struct sockaddr *)&c;
			int i = balance_pick(p, sa, NULL, 0, 0, &rnd);

			assert_true(i == 1 || i == 2);
			assert_int_equal(balance_pick(p, sa, ex1, 1, 0, &rnd), 2);
			assert_int_equal(balance_pick(p, sa, ex12, 2, 0, &rnd),
			    -1);
			assert_int_equal(balance_pick(z, sa, NULL, 0, 0, &rnd),
			    -1);
		}
		{
			struct server *s = pool_pick(p, NULL, ex1, 1, 0, &rnd);

			assert_non_null(s);
			assert_int_equal(s->index, 2);
			pool_release(s);
			assert_null(pool_pick(p, NULL, ex12, 2, 0, &rnd));
		}
		tp_free(p);
		tp_free(z);
	}
}

struct race {
	struct pool *p;
	atomic_uint holding[2];
	atomic_uint over;
	atomic_uint got;
	atomic_uint none;
};

static void *
race_thread(void *arg)
{
	struct race *r = arg;
	uint32_t rnd = (uint32_t)(uintptr_t)&rnd | 1;

	for (int i = 0; i < 20000; i++) {
		struct server *s = pool_pick(r->p, NULL, NULL, 0, 1000, &rnd);
		unsigned h;

		if (s == NULL) {
			atomic_fetch_add(&r->none, 1);
			continue;
		}
		h = atomic_fetch_add(&r->holding[s->index], 1) + 1;
		if (h > s->max_conns)
			atomic_fetch_add(&r->over, 1);
		atomic_fetch_add(&r->got, 1);
		atomic_fetch_sub(&r->holding[s->index], 1);
		pool_release(s);
	}
	return NULL;
}

static void
test_max_conns_race(void **state)
{
	pthread_t t[8];

	(void)state;
	for (int alg = BAL_ROUNDROBIN; alg <= BAL_MAGLEV; alg++) {
		struct race r;

		memset(&r, 0, sizeof(r));
		r.p = tp_new(alg, 2, NULL);
		r.p->servers[0].max_conns = 2;
		r.p->servers[1].max_conns = 1;
		for (int i = 0; i < 8; i++)
			assert_int_equal(pthread_create(&t[i], NULL,
			    race_thread, &r), 0);
		for (int i = 0; i < 8; i++)
			pthread_join(t[i], NULL);
		printf("max_connections race (%s): %u picks, %u refused, "
		    "%u over the limit\n", gen_balance_name(alg),
		    atomic_load(&r.got), atomic_load(&r.none),
		    atomic_load(&r.over));
		assert_int_equal(atomic_load(&r.over), 0);
		assert_int_equal(atomic_load(&r.p->servers[0].st->active), 0);
		assert_int_equal(atomic_load(&r.p->servers[1].st->active), 0);
		tp_free(r.p);
	}
}

/* ---- passive health ---------------------------------------------------- */

static void
test_passive(void **state)
{
	struct pool *p = tp_new(BAL_FIRST, 2, NULL);
	struct server *a = &p->servers[0], *s;
	uint32_t rnd = 1;

	(void)state;
	p->max_fails = 3;
	p->fail_timeout_ms = 10000;

	/* A success in between resets the count. */
	pool_report_connect(a, false, "refused", 1000);
	pool_report_connect(a, false, "refused", 1000);
	pool_report_connect(a, true, NULL, 1000);
	pool_report_connect(a, false, "refused", 1000);
	pool_report_connect(a, false, "refused", 1000);
	assert_true(atomic_load(&a->st->up));
	/* The third in a row marks it down for fail_timeout. */
	pool_report_connect(a, false, "refused", 1000);
	assert_false(atomic_load(&a->st->up));
	assert_true(atomic_load(&a->st->passive_down));
	assert_int_equal(atomic_load(&a->st->retry_at_ms), 11000);
	s = pool_pick(p, NULL, NULL, 0, 5000, &rnd);
	assert_ptr_equal(s, &p->servers[1]);
	pool_release(s);

	/* Rest over: exactly one trial, then the others again. */
	s = pool_pick(p, NULL, NULL, 0, 11000, &rnd);
	assert_ptr_equal(s, a);
	assert_int_equal(atomic_load(&a->st->retry_at_ms), 21000);
	{
		struct server *s2 = pool_pick(p, NULL, NULL, 0, 11000, &rnd);

		assert_ptr_equal(s2, &p->servers[1]);
		pool_release(s2);
	}
	/* The trial fails: rest again from now. */
	pool_report_connect(a, false, "timeout", 12000);
	pool_release(s);
	assert_false(atomic_load(&a->st->up));
	assert_int_equal(atomic_load(&a->st->retry_at_ms), 22000);
	s = pool_pick(p, NULL, NULL, 0, 21999, &rnd);
	assert_ptr_equal(s, &p->servers[1]);
	pool_release(s);
	/* Next trial succeeds: up for everyone. */
	s = pool_pick(p, NULL, NULL, 0, 22000, &rnd);
	assert_ptr_equal(s, a);
	pool_report_connect(a, true, NULL, 22001);
	pool_release(s);
	assert_true(atomic_load(&a->st->up));
	assert_false(atomic_load(&a->st->passive_down));
	assert_int_equal(atomic_load(&a->st->fails), 0);
	s = pool_pick(p, NULL, NULL, 0, 22002, &rnd);
	assert_ptr_equal(s, a);
	pool_release(s);

	/* max_fails 0: never marked down. */
	p->max_fails = 0;
	for (int i = 0; i < 10; i++)
		pool_report_connect(a, false, "refused", 30000);
	assert_true(atomic_load(&a->st->up));
	tp_free(p);
}

static void
test_passive_all_down(void **state)
{
	struct pool *p = tp_new(BAL_ROUNDROBIN, 2, NULL);
	struct server *s;
	uint32_t rnd = 1;

	(void)state;
	p->max_fails = 1;
	p->fail_timeout_ms = 10000;
	pool_report_connect(&p->servers[0], false, "refused", 1000);
	pool_report_connect(&p->servers[1], false, "refused", 1000);
	assert_false(atomic_load(&p->servers[0].st->up));
	assert_false(atomic_load(&p->servers[1].st->up));
	/* No active check: a transient fault must not black-hole the pool. */
	s = pool_pick(p, NULL, NULL, 0, 2000, &rnd);
	assert_non_null(s);
	pool_release(s);
	/* With an active check too: resting only because of traffic, they
	 * are the last resort (nginx never black-holes a pool either). */
	p->health.enabled = true;
	s = pool_pick(p, NULL, NULL, 0, 2000, &rnd);
	assert_non_null(s);
	pool_release(s);
	/* Once the check condemns them too (health.c sets check_failing
	 * after `fall` failures), refuse. */
	atomic_store(&p->servers[0].st->check_failing, true);
	s = pool_pick(p, NULL, NULL, 0, 2000, &rnd);
	assert_ptr_equal(s, &p->servers[1]);
	pool_release(s);
	atomic_store(&p->servers[1].st->check_failing, true);
	assert_null(pool_pick(p, NULL, NULL, 0, 2000, &rnd));
	/* A pool without a check ignores what an old check said. */
	p->health.enabled = false;
	s = pool_pick(p, NULL, NULL, 0, 2000, &rnd);
	assert_non_null(s);
	pool_release(s);
	tp_free(p);

	/* A one-server pool with a check: the resting server still serves. */
	p = tp_new(BAL_ROUNDROBIN, 1, NULL);
	p->max_fails = 1;
	p->fail_timeout_ms = 10000;
	p->health.enabled = true;
	pool_report_connect(&p->servers[0], false, "refused", 1000);
	assert_false(atomic_load(&p->servers[0].st->up));
	s = pool_pick(p, NULL, NULL, 0, 2000, &rnd);
	assert_ptr_equal(s, &p->servers[0]);
	pool_release(s);
	/* ... but not for a client it already failed. */
	{
		uint32_t tried = 0;

		assert_null(pool_pick(p, NULL, &tried, 1, 2000, &rnd));
	}
	tp_free(p);

	/* A backup resting too: all of them are the last resort. */
	p = tp_new(BAL_FIRST, 2, NULL);
	p->servers[1].backup = true;
	p->max_fails = 1;
	p->fail_timeout_ms = 10000;
	p->health.enabled = true;
	atomic_store(&p->servers[0].st->up, false);	/* down by check */
	pool_report_connect(&p->servers[1], false, "refused", 1000);
	s = pool_pick(p, NULL, NULL, 0, 2000, &rnd);
	assert_ptr_equal(s, &p->servers[1]);
	pool_release(s);
	tp_free(p);

	/* A full server is no reason to reach for a resting one: queue. */
	p = tp_new(BAL_FIRST, 2, NULL);
	p->servers[0].max_conns = 1;
	p->max_fails = 1;
	p->fail_timeout_ms = 10000;
	p->health.enabled = true;
	pool_report_connect(&p->servers[1], false, "refused", 1000);
	s = pool_pick(p, NULL, NULL, 0, 2000, &rnd);
	assert_ptr_equal(s, &p->servers[0]);
	assert_null(pool_pick(p, NULL, NULL, 0, 2000, &rnd));
	pool_release(s);
	tp_free(p);

	/* And passive marking leaves the comeback to the checker. */
	p = tp_new(BAL_ROUNDROBIN, 2, NULL);
	p->max_fails = 1;
	p->fail_timeout_ms = 10000;
	p->health.enabled = true;
	pool_report_connect(&p->servers[0], false, "refused", 3000);
	assert_false(atomic_load(&p->servers[0].st->up));
	assert_int_equal(atomic_load(&p->servers[0].st->retry_at_ms), 0);
	for (int i = 0; i < 10; i++) {
		s = pool_pick(p, NULL, NULL, 0, 999999, &rnd);
		assert_ptr_equal(s, &p->servers[1]);
		pool_release(s);
	}
	/* A connect that happens to work does not overrule the checker. */
	pool_report_connect(&p->servers[0], true, NULL, 4000);
	assert_false(atomic_load(&p->servers[0].st->up));
	tp_free(p);
}

static void
test_set_up_transitions(void **state)
{
	struct pool *p = tp_new(BAL_ROUNDROBIN, 1, NULL);
	struct server *s = &p->servers[0];

	(void)state;
	assert_false(server_set_up(s, true, "check passed", 1));
	assert_true(server_set_up(s, false, "connection refused", 1));
	assert_false(server_set_up(s, false, "connection refused", 2));
	assert_true(server_set_up(s, true, "check passed", 3));
	/* No slow start configured: no ramp. */
	assert_int_equal(atomic_load(&s->st->up_since_ms), 0);
	tp_free(p);
}

/* ---- slow start -------------------------------------------------------- */

static unsigned
admitted(struct server *s, int64_t now, unsigned n)
{
	unsigned a = 0;

	for (unsigned i = 0; i < n; i++)
		a += server_ramp_admit(s, now, NULL);
	return a;
}

static void
test_slow_start(void **state)
{
	struct pool *p = tp_new(BAL_ROUNDROBIN, 2, NULL);
	struct server *b = &p->servers[1];
	unsigned a0, a50, a100, c[2] = { 0, 0 };
	uint32_t rnd = 1;

	(void)state;
	p->slow_start_ms = 10000;
	/* Up since startup: no ramp. */
	assert_int_equal(admitted(b, 5000, 100), 100);
	server_set_up(b, false, "connection refused", 500);
	server_set_up(b, true, "check passed", 1000);
	assert_int_equal(atomic_load(&b->st->up_since_ms), 1000);
	a0 = admitted(b, 1000, 1000);
	a50 = admitted(b, 6000, 1000);
	for (int i = 0; i < 1000; i++) {
		struct server *s = pool_pick(p, NULL, NULL, 0, 6000, &rnd);

		c[s->index]++;
		pool_release(s);
	}
	a100 = admitted(b, 11000, 1000);
	printf("slow start 10s: admitted %u/1000 at 0s, %u/1000 at 5s, "
	    "%u/1000 at 10s; roundrobin 1:1 at 5s: A=%u B=%u\n",
	    a0, a50, a100, c[0], c[1]);
	assert_true(a0 >= 495 && a0 <= 505);
	assert_true(a50 >= 745 && a50 <= 755);
	assert_int_equal(a100, 1000);
	/* Half way, B weighs 0.75 against A's 1: 3/7 of the picks. */
	assert_true(c[1] > 400 && c[1] < 460);
	assert_int_equal(atomic_load(&b->st->up_since_ms), 0);

	/* Ramping alone: still taken rather than refusing the client. */
	server_set_up(b, false, "connection refused", 20000);
	server_set_up(b, true, "check passed", 20000);
	p->health.enabled = true;
	set_up(p, 0, false);
	for (int i = 0; i < 20; i++) {
		struct server *s = pool_pick(p, NULL, NULL, 0, 20000, &rnd);

		assert_ptr_equal(s, b);
		pool_release(s);
	}
	tp_free(p);
}

/* balance: source ramps by clients, not by picks: each client gets the
 * same answer every time, about half of them at the start, a set that
 * only grows. */
static void
test_slow_start_source(void **state)
{
	struct pool *p = tp_new(BAL_SOURCE, 2, NULL);
	struct server *b = &p->servers[1];
	unsigned early = 0, late = 0;

	(void)state;
	p->slow_start_ms = 10000;
	server_set_up(b, false, "connection refused", 500);
	server_set_up(b, true, "check passed", 1000);
	for (uint32_t c = 1; c <= 1000; c++) {
		struct sockaddr_in sin = { .sin_family = AF_INET };
		bool first;

		sin.sin_addr.s_addr = htonl(0xc0a80000u + c);
		first = server_ramp_admit(b, 1000,
		    (const struct sockaddr *)&sin);
		for (int k = 0; k < 5; k++)
			assert_true(server_ramp_admit(b, 1000,
			    (const struct sockaddr *)&sin) == first);
		early += first;
		if (server_ramp_admit(b, 8000, (const struct sockaddr *)&sin)) {
			late++;
		} else {
			/* admitted at 0s, refused at 7s: the set shrank */
			assert_false(first);
		}
	}
	printf("slow start, source: %u/1000 clients admitted at 0s, %u at "
	    "7s\n", early, late);
	assert_true(early > 430 && early < 570);
	assert_true(late > early);
	tp_free(p);
}

/* ---- active checks (loopback) ------------------------------------------ */

/* Servers on 127.0.0.1: one answers "+PONG", one refuses, one answers
 * "-ERR".  Timing is left loose (a sanitizer build is slow); the exact
 * detection bounds are measured in the lead's integration tests. */
struct hc_env {
	int lfd[3];
	ev_io lio[3];
	const char *reply[3];
	struct gen *g;
	ev_timer poll;
	ev_timer limit;
	bool timed_out;
};

static void
hc_accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	const char *reply = w->data;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd = net_accept(w->fd, &ss, &len);
	char buf[64];

	(void)loop;
	(void)revents;
	if (fd < 0)
		return;
	/* Blocking-ish on purpose: the check sends its PING right away. */
	for (int i = 0; i < 100 && recv(fd, buf, sizeof(buf), 0) < 0; i++)
		usleep(1000);
	if (send(fd, reply, strlen(reply), MSG_NOSIGNAL) < 0)
		fail_msg("reply: %s", strerror(errno));
	close(fd);
}

static void
hc_poll_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct hc_env *e = w->data;
	struct pool *p = &e->g->pools[0];

	(void)revents;
	if (atomic_load(&p->servers[0].st->up) &&
	    p->servers[0].st->check_ok >= 3 &&
	    !atomic_load(&p->servers[1].st->up) &&
	    !atomic_load(&p->servers[2].st->up))
		ev_break(loop, EVBREAK_ALL);
}

static void
hc_limit_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct hc_env *e = w->data;

	(void)revents;
	e->timed_out = true;
	ev_break(loop, EVBREAK_ALL);
}

static int
hc_fdcount(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	assert_non_null(d);
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n;
}

static void
test_health_checks(void **state)
{
	static const char *const names[] = { "good", "refused", "badreply" };
	struct ev_loop *loop;
	struct hc_env e;
	struct pool *p;
	int fds_before;

	(void)state;
	memset(&e, 0, sizeof(e));
	e.reply[0] = "+PONG\r\n";
	e.reply[2] = "-ERR\r\n";
	fds_before = hc_fdcount();
	loop = ev_loop_new(EVFLAG_AUTO);
	assert_non_null(loop);
	e.g = gen_new("test");
	e.g->npools = 1;
	e.g->pools = xcalloc(1, sizeof(*e.g->pools));
	p = &e.g->pools[0];
	p->name = xstrdup("web");
	p->health.enabled = true;
	p->health.interval_ms = 50;
	p->health.timeout_ms = 500;
	p->health.rise = 2;
	p->health.fall = 2;
	p->health.send = xstrdup("PING\r\n");
	p->health.send_len = 6;
	p->health.expect = xstrdup("+PONG");
	p->health.expect_len = 5;
	p->nservers = 3;
	p->servers = xcalloc(3, sizeof(*p->servers));
	for (int i = 0; i < 3; i++) {
		struct server *s = &p->servers[i];
		struct sockaddr_in *sin = (struct sockaddr_in *)&s->addr;
		socklen_t len = sizeof(*sin);

		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		e.lfd[i] = net_listen((struct sockaddr *)sin, len, false, 8);
		assert_true(e.lfd[i] >= 0);
		assert_int_equal(getsockname(e.lfd[i], (struct sockaddr *)sin,
		    &len), 0);
		s->addrlen = len;
		s->name = xstrdup(names[i]);
		s->addr_text = xasprintf("127.0.0.1:%u", ntohs(sin->sin_port));
		s->weight = 1;
		s->index = (uint32_t)i;
		s->pool = p;
		s->st = server_state_new();
		if (e.reply[i] == NULL) {
			/* Nobody listens there any more: refused. */
			close(e.lfd[i]);
			e.lfd[i] = -1;
			continue;
		}
		ev_io_init(&e.lio[i], hc_accept_cb, e.lfd[i], EV_READ);
		e.lio[i].data = (void *)e.reply[i];
		ev_io_start(loop, &e.lio[i]);
	}
	assert_int_equal(balance_prepare(p), 0);
	/* The good one starts down: rise must bring it up. */
	atomic_store(&p->servers[0].st->up, false);

	health_start(e.g);
	ev_timer_init(&e.poll, hc_poll_cb, 0.01, 0.01);
	e.poll.data = &e;
	ev_timer_start(loop, &e.poll);
	ev_timer_init(&e.limit, hc_limit_cb, 10., 0.);
	e.limit.data = &e;
	ev_timer_start(loop, &e.limit);
	ev_run(loop, 0);
	/* Restarting with the same generation (a reload that kept it) must
	 * be safe: health holds the only other reference here. */
	health_start(e.g);
	printf("health: good up=%d ok=%u, refused up=%d fail=%u, "
	    "badreply up=%d fail=%u\n",
	    atomic_load(&p->servers[0].st->up), p->servers[0].st->check_ok,
	    atomic_load(&p->servers[1].st->up), p->servers[1].st->check_fail,
	    atomic_load(&p->servers[2].st->up), p->servers[2].st->check_fail);
	assert_false(e.timed_out);
	assert_true(atomic_load(&p->servers[0].st->up));
	assert_false(atomic_load(&p->servers[1].st->up));
	assert_false(atomic_load(&p->servers[2].st->up));

	ev_timer_stop(loop, &e.poll);
	ev_timer_stop(loop, &e.limit);
	/* The pool's parts (tables) are freed by the service's wiring, which
	 * this generation has not: free them here.  Checks never read them. */
	pool_parts_free(p);
	gen_put(e.g);
	health_stop();	/* drops the last reference */
	for (int i = 0; i < 3; i++) {
		if (e.lfd[i] < 0)
			continue;
		ev_io_stop(loop, &e.lio[i]);
		close(e.lfd[i]);
	}
	ev_loop_destroy(loop);
	assert_int_equal(hc_fdcount(), fds_before);
}

/* The timeout of a check whose answer is already waiting (the loop ran
 * late, its events not handled yet) gives the socket's verdict, not
 * "connect timeout" (issue 21): the kind's progress() takes the
 * completed connect and the check passes. */
static void
test_health_timeout_looks_at_socket(void **state)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct sockaddr_in *sin;
	struct health_check c;
	struct health_cfg cfg = { .enabled = true, .interval_ms = 1000,
	    .timeout_ms = 100, .rise = 1, .fall = 1 };
	char pname[] = "web", sname[] = "a";
	struct pool p = { .name = pname };
	struct server s = { .name = sname, .addr_text = sname, .pool = &p };
	socklen_t len = sizeof(*sin);
	int lfd;

	(void)state;
	sin = (struct sockaddr_in *)&s.addr;
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = net_listen((struct sockaddr *)sin, len, false, 8);
	assert_true(lfd >= 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)sin, &len), 0);
	s.addrlen = len;
	s.st = server_state_new();
	atomic_store(&s.st->up, false);
	memset(&c, 0, sizeof(c));
	c.srv = &s;
	c.kind = &health_kind_conn;
	c.loop = loop;
	c.fd = -1;
	ev_init(&c.timeout, NULL);
	ev_init(&c.sched, NULL);
	c.kind->prepare(&c, &s, &cfg);
	c.cfg = &cfg;
	c.running = true;
	c.started = ev_now(loop);
	c.kind->start(&c);
	/* The loop never ran: whatever the connect did, only the socket
	 * knows.  Let the handshake finish, then "time out". */
	usleep(20000);
	if (c.running)
		assert_true(c.kind->progress(&c));
	assert_false(c.running);
	assert_true(atomic_load(&s.st->up));
	assert_int_equal(atomic_load(&s.st->check_ok), 1);
	ev_timer_stop(loop, &c.sched);
	c.kind->release(&c);
	close(lfd);
	server_state_put(s.st);
	ev_loop_destroy(loop);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alg_names),
		cmocka_unit_test(test_rr_equal_alternates),
		cmocka_unit_test(test_rr_down_still_alternates),
		cmocka_unit_test(test_rr_weights),
		cmocka_unit_test(test_rr_smooth),
		cmocka_unit_test(test_rr_schedule_exact),
		cmocka_unit_test(test_random_weights),
		cmocka_unit_test(test_random_prefers_less_loaded),
		cmocka_unit_test(test_leastconn),
		cmocka_unit_test(test_source_stable),
		cmocka_unit_test(test_source_consistent),
		cmocka_unit_test(test_source_order_independent),
		cmocka_unit_test(test_source_weights),
		cmocka_unit_test(test_maglev_table_len),
		cmocka_unit_test(test_maglev_vs_source),
		cmocka_unit_test(test_maglev_slot_shares),
		cmocka_unit_test(test_maglev_order_independent),
		cmocka_unit_test(test_maglev_down),
		cmocka_unit_test(test_maglev_weights),
		cmocka_unit_test(test_first_fills_in_order),
		cmocka_unit_test(test_backup),
		cmocka_unit_test(test_weight_zero_and_exclude),
		cmocka_unit_test(test_max_conns_race),
		cmocka_unit_test(test_passive),
		cmocka_unit_test(test_passive_all_down),
		cmocka_unit_test(test_set_up_transitions),
		cmocka_unit_test(test_slow_start),
		cmocka_unit_test(test_slow_start_source),
		cmocka_unit_test(test_health_checks),
		cmocka_unit_test(test_health_timeout_looks_at_socket),
	};

	/* Transitions log at notice/warning; keep the test output to the
	 * figures unless asked. */
	if (getenv("TEST_VERBOSE") == NULL)
		log_set_level(LOG_CRIT);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
