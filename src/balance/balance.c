/*
 * balance: the pure part of choosing a server.  It owns the per-pool tables
 * built at load time (smooth-WRR schedule, consistent-hash ring, Maglev
 * table (maglev.c builds it), weight prefix sums) and the six pick
 * algorithms that read them.
 *
 * It must not: open sockets, touch an event loop, allocate or lock while
 * picking, or reserve anything.  A pick only reads the atomics in struct
 * pool and struct server_state (plus the pool's shared cursor, which it
 * advances); pool_pick() turns the answer into a reservation.  That keeps
 * one balancing decision across all worker threads without a lock, and lets
 * the unit tests drive every algorithm offline.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "balance/balance.h"
#include "balance/maglev.h"
#include "config/gen.h"
#include "base/util.h"

/* The smooth-WRR schedule is one full cycle of the nginx algorithm.  Its
 * length is the sum of the weights (divided by their gcd); beyond this
 * the weights are scaled down, which costs a little precision on absurd
 * weight ratios and nothing else. */
#define BAL_SCHED_MAX	65536u
/* Points on the hash ring per unit of (gcd-reduced) weight: enough that
 * each server's share is within a few percent of its weight. */
#define BAL_RING_PER_WEIGHT	160u
/* Ring size above which the points per unit are scaled down. */
#define BAL_RING_MAX	(1u << 18)
/* Never fewer points than this for a server with weight > 0, or its share
 * (and the share that moves when a neighbour goes) gets lumpy. */
#define BAL_RING_MIN_POINTS	40u

/* ---- preparation (load time, main thread) ------------------------------- */

static uint64_t
bal_gcd(uint64_t a, uint64_t b)
{
	while (b != 0) {
		uint64_t t = a % b;

		a = b;
		b = t;
	}
	return a;
}

/* splitmix64 finalizer: spreads FNV output (poor in the low bits) and
 * addr_hash_host() output over the whole ring. */
static uint64_t
bal_mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

static uint64_t
bal_fnv1a(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* What a server is on the ring: its resolved address (else its name). */
static const char *
bal_server_id(const struct server *s)
{
	return s->addr_text != NULL ? s->addr_text : s->name != NULL ? s->name : "";
}

/* A ring point depends only on the server's identity (its resolved
 * address) and the replica number, never on its position in the file, so
 * adding or removing another server leaves this server's points where they
 * were: that is what makes the hash consistent. */
static uint32_t
bal_point_hash(const struct server *s, uint32_t replica)
{
	const char *id = bal_server_id(s);
	uint64_t h = 0xcbf29ce484222325ULL;
	unsigned char r[4] = {
		(unsigned char)(replica >> 24), (unsigned char)(replica >> 16),
		(unsigned char)(replica >> 8), (unsigned char)replica,
	};

	h = bal_fnv1a(h, id, strlen(id));
	h = bal_fnv1a(h, "#", 1);
	h = bal_fnv1a(h, r, sizeof(r));
	return (uint32_t)(bal_mix64(h) >> 32);
}

/* Equal hashes (about n^2 / 2^33 of them on a ring of n points: rare on a
 * small pool, several near the 2^18-point cap): order by the servers' identity,
 * not their index, so that instances listing the same servers in another
 * order still build the same ring and pick the same server for a client.
 * The index decides only between two entries with the same address. */
static int
bal_point_cmp(const void *a, const void *b, void *arg)
{
	const struct balance_point *x = a, *y = b;
	const struct pool *p = arg;
	int c;

	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	if (x->server == y->server)
		return 0;
	c = strcmp(bal_server_id(&p->servers[x->server]),
	    bal_server_id(&p->servers[y->server]));
	if (c != 0)
		return c;
	return x->server < y->server ? -1 : 1;
}

/* Weights reduced by their gcd and, if their sum exceeds cap, scaled down
 * proportionally (each weight > 0 keeps at least 1).  Returns the sum. */
static uint64_t
bal_reduced_weights(const struct pool *p, uint64_t *w, uint64_t cap)
{
	uint64_t g = 0, sum = 0;

	for (uint32_t i = 0; i < p->nservers; i++)
		if (p->servers[i].weight > 0)
			g = bal_gcd(g, p->servers[i].weight);
	if (g == 0)
		g = 1;
	for (uint32_t i = 0; i < p->nservers; i++) {
		w[i] = p->servers[i].weight / g;
		sum += w[i];
	}
	if (sum > cap) {
		uint64_t scaled = 0;

		for (uint32_t i = 0; i < p->nservers; i++) {
			if (w[i] == 0)
				continue;
			/* No overflow: w < 2^32 and cap < 2^32. */
			w[i] = w[i] * cap / sum;
			if (w[i] == 0)
				w[i] = 1;
			scaled += w[i];
		}
		sum = scaled;
	}
	return sum;
}

/* One cycle of nginx's smooth weighted round robin: every step each server
 * gains its weight, the richest is chosen and pays the total.  The result
 * interleaves (5:1:1 gives A B A A C A A, not A A A A A B C), and equal
 * weights give plain alternation.
 *
 * One departure: each server starts half a weight in debt instead of at 0,
 * which centres its picks in its share of the cycle.  nginx runs the
 * recurrence forever; we replay one cycle, and from 0 the heaviest server
 * is picked both first and last, so 5:1:1 repeats as A A B A C A A|A A ..
 * (four A's across the seam).  Centred, the cycle is A B A A C A A and no
 * run exceeds three anywhere in the repetition.
 *
 * Run literally the recurrence is O(len * n): 100,000 servers took minutes.
 * But servers of equal weight start equal and gain equally, so within such
 * a group the richest is always the one picked fewest times, lowest index
 * first: a cursor walking the group in file order.  After k steps a group
 * member picked q times holds init + k*w - q*total, whatever the others
 * did.  So each step compares only one candidate per distinct weight --
 * at most 257 of them (weights are 0-256) -- and the result is the same
 * schedule, tie-breaks included, in O(len * distinct weights). */
struct bal_group {
	uint64_t w;
	uint32_t *members;	/* server indices, in file order */
	uint32_t n, cursor;	/* members[cursor] is the next candidate */
	uint64_t rounds;	/* full passes over the group so far */
};

static int
bal_build_sched(struct pool *p, struct balance_data *b)
{
	uint32_t n = p->nservers;
	uint64_t *w = xcalloc(n ? n : 1, sizeof(*w));
	uint64_t total = bal_reduced_weights(p, w, BAL_SCHED_MAX);
	struct bal_group *grp = NULL;
	uint32_t ngrp = 0, *members = xcalloc(n ? n : 1, sizeof(*members));
	uint32_t *gof = xcalloc(n ? n : 1, sizeof(*gof));

	b->sched_len = (uint32_t)total;
	b->sched = total ? xcalloc(total, sizeof(*b->sched)) : NULL;
	/* One group per distinct weight, then every server placed in its
	 * group in file order (a counting pass). */
	for (uint32_t i = 0; i < n; i++) {
		uint32_t g;

		if (w[i] == 0)
			continue;
		for (g = 0; g < ngrp && grp[g].w != w[i]; g++)
			;
		/* At most 256 distinct weights (scaling only merges them):
		 * the scan stays short. */
		if (g == ngrp) {
			grp = xrealloc(grp, (ngrp + 1) * sizeof(*grp));
			memset(&grp[ngrp], 0, sizeof(*grp));
			grp[ngrp++].w = w[i];
		}
		grp[g].n++;
		gof[i] = g;
	}
	{
		uint32_t off = 0;

		for (uint32_t g = 0; g < ngrp; g++) {
			grp[g].members = members + off;
			off += grp[g].n;
			grp[g].n = 0;
		}
		for (uint32_t i = 0; i < n; i++)
			if (w[i] != 0) {
				struct bal_group *G = &grp[gof[i]];

				G->members[G->n++] = i;
			}
	}
	for (uint64_t k = 1; k <= total; k++) {
		struct bal_group *best = NULL;
		int64_t bestcur = 0;

		for (uint32_t g = 0; g < ngrp; g++) {
			struct bal_group *G = &grp[g];
			int64_t q = (int64_t)G->rounds;
			int64_t cur = -(int64_t)(G->w / 2) +
			    (int64_t)k * (int64_t)G->w - q * (int64_t)total;

			/* Equal balances: the lower server index wins, as a
			 * strict '>' over servers in file order would. */
			if (best == NULL || cur > bestcur || (cur == bestcur &&
			    G->members[G->cursor] < best->members[best->cursor])) {
				best = G;
				bestcur = cur;
			}
		}
		b->sched[k - 1] = best->members[best->cursor];
		if (++best->cursor == best->n) {
			best->cursor = 0;
			best->rounds++;
		}
	}
	free(grp);
	free(gof);
	free(members);
	free(w);
	return 0;
}

/* Points on the ring for each server, into w[]; returns their sum. */
static uint64_t
bal_ring_points(const struct pool *p, uint64_t *w)
{
	uint64_t units = bal_reduced_weights(p, w, UINT32_MAX);
	uint64_t per_unit = BAL_RING_PER_WEIGHT, len = 0;

	if (units * BAL_RING_PER_WEIGHT > BAL_RING_MAX)
		per_unit = 0;	/* scaled per server below */
	for (uint32_t i = 0; i < p->nservers; i++) {
		uint64_t pts;

		if (w[i] == 0)
			continue;
		pts = per_unit ? w[i] * per_unit : w[i] * BAL_RING_MAX / units;
		if (pts < BAL_RING_MIN_POINTS)
			pts = BAL_RING_MIN_POINTS;
		w[i] = pts;
		len += pts;
	}
	return len;
}

uint64_t
balance_table_size(const struct pool *p)
{
	uint64_t *w = xcalloc(p->nservers ? p->nservers : 1, sizeof(*w));
	uint64_t n = bal_reduced_weights(p, w, BAL_SCHED_MAX);

	if (p->alg == BAL_SOURCE)
		n += bal_ring_points(p, w);
	if (p->alg == BAL_MAGLEV)
		n += maglev_table_len(p->nservers);
	free(w);
	return n;
}

/* The Maglev table: 4 bytes a slot, 65,537 slots (256 KiB) for a pool of
 * up to 655 servers, about 100 per server (400 bytes) beyond. */
static int
bal_build_maglev(struct pool *p, struct balance_data *b)
{
	uint64_t len = maglev_table_len(p->nservers);
	struct maglev_server *sv;
	int rc;

	if (len == 0)
		return 0;
	if (len > UINT32_MAX) {
		errno = E2BIG;
		return -1;
	}
	sv = xcalloc(p->nservers, sizeof(*sv));
	for (uint32_t i = 0; i < p->nservers; i++) {
		sv[i].id = bal_server_id(&p->servers[i]);
		sv[i].weight = p->servers[i].weight;
	}
	b->maglev = xcalloc(len, sizeof(*b->maglev));
	b->maglev_len = (uint32_t)len;
	rc = maglev_build(sv, p->nservers, b->maglev, len);
	free(sv);
	return rc;
}

static int
bal_build_ring(struct pool *p, struct balance_data *b)
{
	uint64_t *w = xcalloc(p->nservers ? p->nservers : 1, sizeof(*w));
	uint64_t len = bal_ring_points(p, w);
	uint32_t k = 0;

	if (len > UINT32_MAX) {
		free(w);
		errno = E2BIG;
		return -1;
	}
	b->ring_len = (uint32_t)len;
	b->ring = len ? xcalloc(len, sizeof(*b->ring)) : NULL;
	for (uint32_t i = 0; i < p->nservers; i++) {
		for (uint64_t r = 0; r < w[i]; r++) {
			b->ring[k].hash = bal_point_hash(&p->servers[i],
			    (uint32_t)r);
			b->ring[k].server = i;
			k++;
		}
	}
	if (len)
		qsort_r(b->ring, len, sizeof(*b->ring), bal_point_cmp, p);
	free(w);
	return 0;
}

static void
bal_build_cum(struct pool *p, struct balance_data *b)
{
	uint64_t sum = 0;

	b->cum_weight = xcalloc(p->nservers ? p->nservers : 1,
	    sizeof(*b->cum_weight));
	for (uint32_t i = 0; i < p->nservers; i++) {
		sum += p->servers[i].weight;
		b->cum_weight[i] = sum;
	}
	b->total_weight = sum;
}

/* The schedule and the prefix sums are built for every pool (they are small,
 * and roundrobin is every algorithm's fallback); the hash ring, up to 2^18
 * points, only for `balance: source`, the one algorithm that reads it, and
 * the Maglev table only for `balance: maglev`. */
int
balance_prepare(struct pool *p)
{
	struct balance_data *b = xcalloc(1, sizeof(*b));

	for (uint32_t i = 0; i < p->nservers; i++)
		p->servers[i].index = i;
	if (bal_build_sched(p, b) < 0 ||
	    (p->alg == BAL_SOURCE && bal_build_ring(p, b) < 0) ||
	    (p->alg == BAL_MAGLEV && bal_build_maglev(p, b) < 0)) {
		balance_free(b);
		return -1;
	}
	bal_build_cum(p, b);
	balance_free(p->bal);
	p->bal = b;
	atomic_store(&p->rr_next, 0);
	return 0;
}

void
balance_free(struct balance_data *b)
{
	if (b == NULL)
		return;
	free(b->sched);
	free(b->ring);
	free(b->cum_weight);
	free(b->maglev);
	free(b);
}

/* ---- picking (any worker thread, lock-free, no allocation) -------------- */

/* What one pick may consider.  Built once per balance_pick() call. */
struct bal_ctx {
	const struct pool *p;
	const uint32_t *exclude;
	unsigned nexclude;
	unsigned nfailed;	/* exclude[0..nfailed) failed this client */
	int64_t now_ms;
	bool use_backup;	/* no non-backup server is up (and untried) */
	bool force_passive;	/* last resort: passively-down servers too */
};

/* Is server i among the first n entries of the exclusion list? */
static bool
bal_listed(const struct bal_ctx *c, unsigned n, uint32_t i)
{
	for (unsigned k = 0; k < n; k++)
		if (c->exclude[k] == i)
			return true;
	return false;
}

static bool
bal_eligible(const struct bal_ctx *c, uint32_t i)
{
	const struct server *s = &c->p->servers[i];
	const struct server_state *st = s->st;
	uint32_t active;

	if (server_weight(s) == 0)
		return false;
	if (s->backup && !c->use_backup)
		return false;
	if (bal_listed(c, c->nexclude, i))
		return false;
	if (s->max_conns) {
		active = atomic_load_explicit(&st->active, memory_order_relaxed);
		if (active >= s->max_conns)
			return false;
	}
	if (server_available(s, c->now_ms))
		return true;
	return c->force_passive &&
	    atomic_load_explicit(&st->passive_down, memory_order_relaxed) &&
	    !(c->p->health.enabled && atomic_load_explicit(&st->check_failing,
	    memory_order_relaxed));
}

/* a/wa < b/wb without division (weights are > 0 for eligible servers). */
static bool
bal_less_loaded(const struct server *a, const struct server *b)
{
	uint64_t la = atomic_load_explicit(&a->st->active, memory_order_relaxed);
	uint64_t lb = atomic_load_explicit(&b->st->active, memory_order_relaxed);

	return la * server_weight(b) < lb * server_weight(a);
}

/* Smooth WRR.  The shared cursor is moved past the entry actually chosen
 * (CAS rather than a blind fetch_add): skipping a down server then costs
 * the others nothing, so with A B C and C down the picks still alternate
 * A B A B instead of A B A A B A.  The cursor stays in [0, sched_len), so
 * it never wraps mid-cycle. */
static int
bal_pick_rr(const struct bal_ctx *c)
{
	struct pool *p = (struct pool *)c->p;
	const struct balance_data *b = p->bal;
	unsigned cur, next;

	if (b->sched_len == 0)
		return -1;
	cur = atomic_load_explicit(&p->rr_next, memory_order_relaxed);
	for (;;) {
		uint32_t start = cur % b->sched_len;
		int found = -1;

		for (uint32_t k = 0; k < b->sched_len; k++) {
			uint32_t pos = start + k;

			if (pos >= b->sched_len)
				pos -= b->sched_len;
			if (bal_eligible(c, b->sched[pos])) {
				found = (int)b->sched[pos];
				next = pos + 1 == b->sched_len ? 0 : pos + 1;
				break;
			}
		}
		if (found < 0)
			return -1;
		/* Lost a race: another thread took this slot; redo from the
		 * cursor it left (cur is reloaded by the failed CAS). */
		if (atomic_compare_exchange_weak_explicit(&p->rr_next, &cur,
		    next, memory_order_relaxed, memory_order_relaxed))
			return found;
	}
}

/* Fewest active connections relative to weight, scanning from start so
 * that ties go to whoever comes first after a rotating offset. */
static int
bal_scan_least(const struct bal_ctx *c, uint32_t start)
{
	const struct pool *p = c->p;
	int best = -1;

	for (uint32_t k = 0; k < p->nservers; k++) {
		uint32_t i = (start + k) % p->nservers;

		if (!bal_eligible(c, i))
			continue;
		if (best < 0 || bal_less_loaded(&p->servers[i],
		    &p->servers[best]))
			best = (int)i;
	}
	return best;
}

static int
bal_pick_leastconn(const struct bal_ctx *c)
{
	struct pool *p = (struct pool *)c->p;
	unsigned start;

	if (p->nservers == 0)
		return -1;
	/* The pool's cursor is otherwise unused by leastconn: it is the
	 * rotating tie-breaker. */
	start = atomic_fetch_add_explicit(&p->rr_next, 1, memory_order_relaxed);
	return bal_scan_least(c, start % p->nservers);
}

/* Consistent hash: the first eligible point clockwise of the client's
 * hash.  A down server's clients spill to the next points, which belong to
 * many different servers, and come back when it does. */
static int
bal_pick_source(const struct bal_ctx *c, const struct sockaddr *client)
{
	const struct balance_data *b = c->p->bal;
	uint32_t h, lo = 0, hi;

	if (b->ring_len == 0)
		return -1;
	h = (uint32_t)(bal_mix64(addr_hash_host(client)) >> 32);
	hi = b->ring_len;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (b->ring[mid].hash < h)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (uint32_t k = 0; k < b->ring_len; k++) {
		uint32_t pos = lo + k;

		if (pos >= b->ring_len)
			pos -= b->ring_len;
		/* Consecutive points often name the same ineligible server;
		 * bal_eligible is cheap enough not to memoise. */
		if (bal_eligible(c, b->ring[pos].server))
			return (int)b->ring[pos].server;
	}
	return -1;
}

/* Maglev: the server in the client's slot.  When it may not take the
 * client (down, full, drained, tried), the client probes a fixed sequence
 * of further slots drawn from its own hash, so its picks stay the same
 * from one connection to the next, a down server's clients spread over
 * the others in proportion to their slots, and nobody else moves.  After
 * MAGLEV_PROBES draws (a pool mostly down) one pass over the servers, from
 * an offset the client's hash gives, finds whatever is left: O(servers),
 * not O(slots), for a pool that is all down. */
#define MAGLEV_PROBES	32u

static int
bal_pick_maglev(const struct bal_ctx *c, const struct sockaddr *client)
{
	const struct balance_data *b = c->p->bal;
	uint64_t h, slot;

	if (b->maglev_len == 0)
		return -1;
	h = bal_mix64(addr_hash_host(client));
	slot = h % b->maglev_len;
	for (uint32_t k = 0; k < MAGLEV_PROBES; k++) {
		uint32_t i = b->maglev[slot];

		if (i != MAGLEV_NONE && bal_eligible(c, i))
			return (int)i;
		h = bal_mix64(h + 0x9e3779b97f4a7c15ULL);
		slot = h % b->maglev_len;
	}
	for (uint32_t k = 0, n = c->p->nservers; k < n; k++) {
		uint32_t i = (uint32_t)((slot + k) % n);

		if (bal_eligible(c, i))
			return (int)i;
	}
	return -1;
}

/* A server drawn with probability weight / total_weight. */
static uint32_t
bal_draw(const struct balance_data *b, uint32_t nservers, uint32_t *rnd)
{
	uint64_t r, lo = 0, hi = nservers - 1;

	/* 64 random bits, then reduce: total_weight may exceed 2^32. */
	r = (uint64_t)xorshift32(rnd) << 32 | xorshift32(rnd);
	r %= b->total_weight;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;

		if (b->cum_weight[mid] > r)
			hi = mid;
		else
			lo = mid + 1;
	}
	return (uint32_t)lo;
}

/* Weighted power of two choices: two weighted draws, the less loaded (per
 * weight) wins.  Nearly as even as leastconn, but without every thread
 * converging on the same "least" server at the same moment. */
static int
bal_pick_random(const struct bal_ctx *c, uint32_t *rnd)
{
	const struct pool *p = c->p;
	const struct balance_data *b = p->bal;
	uint32_t a, d;
	bool ea, ed;

	if (p->nservers == 0 || b->total_weight == 0)
		return -1;
	a = bal_draw(b, p->nservers, rnd);
	d = bal_draw(b, p->nservers, rnd);
	ea = bal_eligible(c, a);
	ed = bal_eligible(c, d);
	if (ea && ed)
		return bal_less_loaded(&p->servers[d], &p->servers[a]) ?
		    (int)d : (int)a;
	if (ea)
		return (int)a;
	if (ed)
		return (int)d;
	/* Both drawn servers are out: scan from a random offset instead of
	 * drawing again, so a mostly-down pool costs one pass, not a loop. */
	return bal_scan_least(c, xorshift32(rnd) % p->nservers);
}

static int
bal_pick_first(const struct bal_ctx *c)
{
	for (uint32_t i = 0; i < c->p->nservers; i++)
		if (bal_eligible(c, i))
			return (int)i;
	return -1;
}

static int
bal_pick_alg(const struct bal_ctx *c, const struct sockaddr *client,
    uint32_t *rnd)
{
	switch (c->p->alg) {
	case BAL_ROUNDROBIN:
		return bal_pick_rr(c);
	case BAL_LEASTCONN:
		return bal_pick_leastconn(c);
	case BAL_SOURCE:
		if (client == NULL)
			return bal_pick_rr(c);
		return bal_pick_source(c, client);
	case BAL_MAGLEV:
		if (client == NULL)
			return bal_pick_rr(c);
		return bal_pick_maglev(c, client);
	case BAL_RANDOM:
		return bal_pick_random(c, rnd);
	case BAL_FIRST:
		return bal_pick_first(c);
	}
	return -1;
}

/* Backups stand in only while no regular server is healthy -- or, for one
 * client, once every healthy regular server already failed it: the client
 * should see an error only when every try failed.  Capacity
 * (max_connections) deliberately does not count: a full primary is not a
 * reason to spill to a backup. */
static bool
bal_primary_up(const struct bal_ctx *c)
{
	const struct pool *p = c->p;

	for (uint32_t i = 0; i < p->nservers; i++) {
		const struct server *s = &p->servers[i];

		if (!s->backup && server_weight(s) > 0 &&
		    atomic_load_explicit(&s->st->admin, memory_order_relaxed) ==
		    SRV_ADMIN_READY &&
		    atomic_load_explicit(&s->st->up, memory_order_relaxed) &&
		    !bal_listed(c, c->nfailed, i))
			return true;
	}
	return false;
}

/* Is any server (backups too) available, apart from those that already
 * failed this client?  A full one counts: capacity is the queue's
 * business, not a reason to reach for a resting server. */
static bool
bal_any_available(const struct bal_ctx *c)
{
	const struct pool *p = c->p;

	for (uint32_t i = 0; i < p->nservers; i++) {
		const struct server *s = &p->servers[i];

		if (s->weight > 0 && !bal_listed(c, c->nfailed, i) &&
		    server_available(s, c->now_ms))
			return true;
	}
	return false;
}

int
balance_pick(struct pool *p, const struct sockaddr *client,
    const uint32_t *exclude, unsigned nexclude, int64_t now_ms, uint32_t *rnd)
{
	return balance_pick_ex(p, client, exclude, nexclude, nexclude, now_ms, rnd);
}

int
balance_pick_ex(struct pool *p, const struct sockaddr *client,
    const uint32_t *exclude, unsigned nexclude, unsigned nfailed,
    int64_t now_ms, uint32_t *rnd)
{
	struct bal_ctx c = {
		.p = p,
		.exclude = exclude,
		.nexclude = nexclude,
		.nfailed = nfailed < nexclude ? nfailed : nexclude,
		.now_ms = now_ms,
	};
	int i;

	c.use_backup = !bal_primary_up(&c);
	i = bal_pick_alg(&c, client, rnd);
	if (i >= 0)
		return i;
	/* Last resort: nothing is eligible, but some servers (backups
	 * included: use_backup is set, no primary being up) are unavailable
	 * only because real traffic sent them to rest, perhaps one transient
	 * fault hitting them all (every backend restarted at once, a
	 * one-server pool).  Refusing every client until fail_timeout is
	 * worse than trying them, as nginx does.  With an active check a
	 * server the check also finds failing (check_failing: `fall` failed
	 * checks, none passed since) is not merely resting, so only servers
	 * the checker has not condemned come back this way. */
	if (bal_any_available(&c))
		return -1;	/* full or tried, not resting: queue or refuse */
	c.force_passive = true;
	return bal_pick_alg(&c, client, rnd);
}
