/*
 * resolve: re-resolution of servers given by host name or SRV name, on the
 * main thread's loop.  c-ares does the DNS without blocking: its sockets
 * are ev_io watchers (its socket-state callback adds and removes them) and
 * its retransmission clock is one ev_timer re-armed from ares_timeout().
 * c-ares reads /etc/hosts at each lookup ("fb": files before DNS) and
 * /etc/resolv.conf when the channel is made -- at start-up and after each
 * new generation -- unless global.resolvers names the servers.  The main
 * loop carries no client traffic, so a lookup can never delay a byte.
 *
 * Every resolve_interval each pool's dynamic entries are looked up again.
 * An answer that fails or is empty changes nothing: the entry keeps the
 * addresses it has (so DNS trouble never takes a server out of service),
 * the failure is counted, and logged once when it starts or its reason
 * changes -- not at every attempt.  An answer whose address set differs
 * from the running generation's asks reload.c for a new generation, built
 * from the same source with the new addresses (resolve_snapshot) and
 * published exactly as a reload is; servers that stay keep their state
 * (gen_inherit), removed ones drain, added ones join.
 *
 * Per-entry status (for show servers / metrics, resolve_foreach) survives
 * new generations, matched by pool, kind and name.
 */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "dns/resolve.h"
#include "dns/resolve_int.h"
#include "base/util.h"

struct rentry {
	struct rjob *job;
	char *pool;
	uint32_t entry;
	enum server_entry_kind kind;
	char *name;
	char *host;
	uint16_t port;
	size_t max;			/* the pool's resolve_max_addresses */
	int family;			/* its servers' source's (AF_UNSPEC: any) */
	size_t capped;			/* addresses before the cap, last said */
	/* the latest good answer this round, if any */
	struct resolved_addr *good;
	size_t ngood;
	bool have_good;
	/* the last answer a new generation could not take (and why): not
	 * asked for again, nor logged, until the answer changes */
	struct resolved_addr *rejected;
	size_t nrejected;
	char *reject_error;
	uint64_t rejects;
	/* status */
	bool ever, ok, failing;
	char *error;
	int64_t last_ms;
	uint64_t attempts, failures, changes;
};

struct rjob {
	char *pool;
	uint64_t interval_ms;
	ev_timer timer;
	size_t first, n;		/* its entries in R.entries */
	unsigned pending;
};

struct rio {
	ev_io io;
	struct rio *next;
};

static struct {
	struct ev_loop *loop;
	void (*changed)(void);		/* the service rebuilds (resolve_init) */
	ares_channel ch;
	bool have_ch;
	bool destroying;		/* cancelled lookups report nothing */
	ev_timer tmo;
	struct rio *ios;
	struct gen *gen;
	struct rentry *entries;
	size_t nentries;
	struct rjob *jobs;
	size_t njobs;
} R;

static atomic_uint_fast64_t total_failures;
static atomic_uint_fast64_t total_changes;
static atomic_uint_fast64_t total_rejected;

uint64_t
resolve_total_rejected(void)
{
	return atomic_load(&total_rejected);
}

uint64_t
resolve_total_failures(void)
{
	return atomic_load(&total_failures);
}

uint64_t
resolve_total_changes(void)
{
	return atomic_load(&total_changes);
}

/* ---- c-ares on libev ---------------------------------------------------- */

static void
resolve_arm_timer(void)
{
	struct timeval tv, *tvp;

	ev_timer_stop(R.loop, &R.tmo);
	if (!R.have_ch)
		return;
	if ((tvp = ares_timeout(R.ch, NULL, &tv)) == NULL)
		return;
	ev_timer_set(&R.tmo, (double)tvp->tv_sec + tvp->tv_usec / 1e6 + 0.001,
	    0.);
	ev_timer_start(R.loop, &R.tmo);
}

static void
resolve_io_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	ares_process_fd(R.ch, revents & EV_READ ? io->fd : ARES_SOCKET_BAD,
	    revents & EV_WRITE ? io->fd : ARES_SOCKET_BAD);
	resolve_arm_timer();
}

static void
resolve_tmo_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	ares_process_fd(R.ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	resolve_arm_timer();
}

static void
resolve_sock_cb(void *data, ares_socket_t fd, int readable, int writable)
{
	struct rio **pp, *r;
	int ev = (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0);

	for (pp = &R.ios; (r = *pp) != NULL; pp = &r->next)
		if (r->io.fd == fd)
			break;
	if (ev == 0) {
		if (r != NULL) {
			ev_io_stop(R.loop, &r->io);
			*pp = r->next;
			free(r);
		}
		return;
	}
	if (r == NULL) {
		r = xcalloc(1, sizeof(*r));
		ev_io_init(&r->io, resolve_io_cb, fd, ev);
		r->next = R.ios;
		R.ios = r;
	} else {
		ev_io_stop(R.loop, &r->io);
		ev_io_set(&r->io, fd, ev);
	}
	ev_io_start(R.loop, &r->io);
}

static void
resolve_channel_close(void)
{
	if (!R.have_ch)
		return;
	/* Lookups still running call back with "cancelled" from in here. */
	R.destroying = true;
	ares_destroy(R.ch);
	R.destroying = false;
	R.have_ch = false;
	ev_timer_stop(R.loop, &R.tmo);
	while (R.ios) {
		struct rio *next = R.ios->next;

		ev_io_stop(R.loop, &R.ios->io);
		free(R.ios);
		R.ios = next;
	}
}

/* ---- comparing an answer with the running generation -------------------- */

size_t
resolve_current(const struct gen *g, const char *pool, uint32_t entry,
    struct resolved_addr **out)
{
	const struct pool *p = g ? gen_find_pool(g, pool) : NULL;
	size_t n = 0;

	*out = NULL;
	if (p == NULL)
		return 0;
	for (uint32_t i = 0; i < p->nservers; i++) {
		const struct server *s = &p->servers[i];

		if (s->entry != entry)
			continue;
		*out = xrealloc(*out, (n + 1) * sizeof(**out));
		memset(&(*out)[n], 0, sizeof(**out));
		(*out)[n].addr = s->addr;
		(*out)[n].weight = p->entries[entry].kind == SE_SRV ?
		    s->weight : 0;
		(*out)[n].backup = p->entries[entry].kind == SE_SRV ?
		    s->backup : false;
		n++;
	}
	return resolved_sort(*out, n);
}

static bool
resolved_has(const struct resolved_addr *v, size_t n,
    const struct resolved_addr *a, bool exact)
{
	for (size_t i = 0; i < n; i++)
		if (addr_equal((const struct sockaddr *)&v[i].addr,
		    (const struct sockaddr *)&a->addr) &&
		    (!exact || (v[i].weight == a->weight &&
		    v[i].backup == a->backup)))
			return true;
	return false;
}

/* Log what changes for e ("+addr -addr"); true if anything does. */
static bool
resolve_diff(struct rentry *e, const struct resolved_addr *cur, size_t ncur)
{
	char buf[1024], a[ADDR_STRLEN];
	size_t len = 0;
	bool changed = false;

	buf[0] = '\0';
	for (size_t i = 0; i < e->ngood; i++) {
		if (resolved_has(cur, ncur, &e->good[i], true))
			continue;
		changed = true;
		if (len < sizeof(buf) - 80)
			len += (size_t)snprintf(buf + len, sizeof(buf) - len,
			    " +%s%s", addr_format((const struct sockaddr *)
			    &e->good[i].addr, a, sizeof(a)),
			    resolved_has(cur, ncur, &e->good[i], false) ?
			    " (weight/backup)" : "");
	}
	for (size_t i = 0; i < ncur; i++) {
		if (resolved_has(e->good, e->ngood, &cur[i], false))
			continue;
		changed = true;
		if (len < sizeof(buf) - 80)
			len += (size_t)snprintf(buf + len, sizeof(buf) - len,
			    " -%s", addr_format((const struct sockaddr *)
			    &cur[i].addr, a, sizeof(a)));
	}
	if (changed) {
		struct log_ctx ctx = { .pool = e->pool, .server = e->name };

		e->changes++;
		atomic_fetch_add(&total_changes, 1);
		log_msg(LOG_NOTICE, &ctx, "pool %s: %s'%s' changed:%s",
		    e->pool, e->kind == SE_SRV ? "SRV " : "", e->host, buf);
	}
	return changed;
}

static bool
resolved_same(const struct resolved_addr *a, size_t na,
    const struct resolved_addr *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (!resolved_has(b, nb, &a[i], true))
			return false;
	return true;
}

/* A round of job j is complete: ask for a new generation if any of its
 * entries now resolves to something the running one does not have. */
static void
resolve_evaluate(struct rjob *j)
{
	bool changed = false;

	for (size_t i = j->first; i < j->first + j->n; i++) {
		struct rentry *e = &R.entries[i];
		struct resolved_addr *cur;
		size_t ncur;

		if (!e->have_good)
			continue;
		/* Refused already (and said so): not again every round. */
		if (e->rejected != NULL &&
		    resolved_same(e->good, e->ngood, e->rejected, e->nrejected))
			continue;
		ncur = resolve_current(R.gen, e->pool, e->entry, &cur);
		if (resolve_diff(e, cur, ncur))
			changed = true;
		free(cur);
	}
	if (changed)
		R.changed();
}

static int64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
resolve_entry_cb(void *arg, bool ok, const char *error,
    struct resolved_addr *addrs, size_t n, size_t total)
{
	struct rentry *e = arg;
	struct rjob *j = e->job;
	struct log_ctx ctx = { .pool = e->pool, .server = e->name };

	if (R.destroying) {
		free(addrs);
		return;
	}
	e->ever = true;
	e->attempts++;
	e->last_ms = wall_ms();
	e->ok = ok;
	if (ok) {
		if (e->failing)
			log_msg(LOG_NOTICE, &ctx, "pool %s: %s'%s' resolves "
			    "again (%zu address%s)", e->pool, e->kind ==
			    SE_SRV ? "SRV " : "", e->host, n, n == 1 ? "" :
			    "es");
		e->failing = false;
		free(e->error);
		e->error = NULL;
		log_debug("pool %s: %s'%s' resolved to %zu address%s", e->pool,
		    e->kind == SE_SRV ? "SRV " : "", e->host, n,
		    n == 1 ? "" : "es");
		/* Once per change of the answer's size, not per round. */
		if (total > n && total != e->capped)
			log_msg(LOG_WARNING, &ctx, "pool %s: %s'%s' has %zu "
			    "addresses; using %zu of them (resolve_max_addresses; "
			    "primaries first, then by address)", e->pool,
			    e->kind == SE_SRV ? "SRV " : "", e->host, total, n);
		e->capped = total > n ? total : 0;
		free(e->good);
		e->good = addrs;
		e->ngood = n;
		e->have_good = true;
	} else {
		struct resolved_addr *cur;
		size_t ncur = resolve_current(R.gen, e->pool, e->entry, &cur);

		free(cur);
		e->failures++;
		atomic_fetch_add(&total_failures, 1);
		/* Once per change, not per attempt: a resolver outage must
		 * not flood the journal. */
		if (!e->failing || e->error == NULL || strcmp(e->error, error))
			log_msg(LOG_WARNING, &ctx, "pool %s: cannot resolve "
			    "%s'%s': %s; keeping its %zu address%s in service",
			    e->pool, e->kind == SE_SRV ? "SRV " : "", e->host,
			    error, ncur, ncur == 1 ? "" : "es");
		e->failing = true;
		free(e->error);
		e->error = xstrdup(error);
	}
	if (--j->pending == 0)
		resolve_evaluate(j);
}

static void
resolve_job_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct rjob *j = t->data;

	if (j->pending > 0 || !R.have_ch)
		return;		/* the last round is still out */
	/* Count first: a hosts-file answer calls back at once. */
	j->pending = (unsigned)j->n + 1;
	for (size_t i = j->first; i < j->first + j->n; i++) {
		struct rentry *e = &R.entries[i];

		resolve_lookup(R.ch, e->kind, e->host, e->port, e->max,
		    e->family, resolve_entry_cb, e);
	}
	if (--j->pending == 0)
		resolve_evaluate(j);
	resolve_arm_timer();
}

/* ---- generations -------------------------------------------------------- */

/* The one address family entry k's servers can use: their source's (all
 * of an entry's servers share its options), or AF_UNSPEC when they have
 * none or follow the client's. */
static int
resolve_entry_family(const struct pool *p, uint32_t k)
{
	for (uint32_t i = 0; i < p->nservers; i++) {
		const struct server *s = &p->servers[i];

		if (s->entry != k)
			continue;
		if (s->source_client || s->source.len == 0)
			return AF_UNSPEC;
		return s->source.u.sa.sa_family;
	}
	return AF_UNSPEC;
}

static void
rentry_free(struct rentry *e)
{
	free(e->pool);
	free(e->name);
	free(e->host);
	free(e->good);
	free(e->error);
	free(e->rejected);
	free(e->reject_error);
}

static void
resolve_clear(void)
{
	for (size_t i = 0; i < R.njobs; i++) {
		ev_timer_stop(R.loop, &R.jobs[i].timer);
		free(R.jobs[i].pool);
	}
	free(R.jobs);
	R.jobs = NULL;
	R.njobs = 0;
}

static struct rentry *
resolve_find_old(struct rentry *old, size_t nold, const char *pool,
    const struct server_entry *se)
{
	/* A taken entry has no pool any more: one old status, one heir. */
	for (size_t i = 0; i < nold; i++)
		if (old[i].pool != NULL && old[i].kind == se->kind &&
		    old[i].port == se->port && strcmp(old[i].pool, pool) == 0 &&
		    strcmp(old[i].host, se->host) == 0)
			return &old[i];
	return NULL;
}

void
resolve_init(struct ev_loop *loop, void (*changed)(void))
{
	R.loop = loop;
	R.changed = changed;
	ev_init(&R.tmo, resolve_tmo_cb);
	ares_library_init(ARES_LIB_INIT_ALL);
}

void
resolve_start(struct gen *g, bool keep_answers)
{
	struct rentry *old = R.entries;
	size_t nold = R.nentries, n = 0;
	char err[512];

	/* Lookups of the previous generation are cancelled: their entries
	 * are about to go, and the new generation was just resolved. */
	resolve_channel_close();
	resolve_clear();
	R.entries = NULL;
	R.nentries = 0;
	if (R.gen)
		gen_put(R.gen);
	R.gen = g ? gen_get(g) : NULL;

	for (uint32_t i = 0; g && i < g->npools; i++) {
		const struct pool *p = &g->pools[i];
		size_t first = n;

		if (p->resolve_interval_ms == 0)
			continue;
		for (uint32_t k = 0; k < p->nentries; k++) {
			const struct server_entry *se = &p->entries[k];
			struct rentry *e, *o;

			if (se->kind == SE_ADDR)
				continue;
			R.entries = xrealloc(R.entries, (n + 1) *
			    sizeof(*R.entries));
			e = &R.entries[n++];
			memset(e, 0, sizeof(*e));
			if ((o = resolve_find_old(old, nold, p->name, se)) !=
			    NULL) {
				/* Status carries over.  The answer does
				 * too after a DNS change (another change
				 * may still be waiting to be built from
				 * it), not after a reload, whose own
				 * answer is fresher. */
				*e = *o;
				o->pool = o->name = o->host = o->error = NULL;
				o->good = NULL;
				o->rejected = NULL;
				o->reject_error = NULL;
				if (!keep_answers) {
					free(e->good);
					e->good = NULL;
					e->ngood = 0;
					e->have_good = false;
				}
				free(e->name);
				free(e->pool);
			}
			e->pool = xstrdup(p->name);
			e->name = xstrdup(se->name);
			if (e->host == NULL)
				e->host = xstrdup(se->host);
			e->entry = k;
			e->kind = se->kind;
			e->port = se->port;
			e->max = p->resolve_max_addrs;
			e->family = resolve_entry_family(p, k);
		}
		if (n == first)
			continue;
		R.jobs = xrealloc(R.jobs, (R.njobs + 1) * sizeof(*R.jobs));
		{
			struct rjob *j = &R.jobs[R.njobs++];
			double iv = (double)p->resolve_interval_ms / 1000.0;

			memset(j, 0, sizeof(*j));
			j->pool = xstrdup(p->name);
			j->interval_ms = p->resolve_interval_ms;
			j->first = first;
			j->n = n - first;
			ev_timer_init(&j->timer, resolve_job_cb, iv, iv);
		}
	}
	R.nentries = n;
	for (size_t i = 0; i < nold; i++)
		rentry_free(&old[i]);
	free(old);
	/* Pointers into the arrays are final only now. */
	for (size_t i = 0; i < R.njobs; i++) {
		struct rjob *j = &R.jobs[i];

		for (size_t k = j->first; k < j->first + j->n; k++)
			R.entries[k].job = j;
		j->timer.data = j;
		ev_timer_start(R.loop, &j->timer);
	}
	if (R.njobs == 0)
		return;
	if (resolve_channel_new(&R.ch, g->global.resolvers, resolve_sock_cb,
	    NULL, err, sizeof(err)) == -1) {
		log_errx("%s: host names will not be re-resolved", err);
		return;
	}
	R.have_ch = true;
}

void
resolve_stop(void)
{
	resolve_channel_close();
	resolve_clear();
	for (size_t i = 0; i < R.nentries; i++)
		rentry_free(&R.entries[i]);
	free(R.entries);
	R.entries = NULL;
	R.nentries = 0;
	if (R.gen)
		gen_put(R.gen);
	R.gen = NULL;
	if (R.loop)
		ares_library_cleanup();
}

void
resolve_snapshot(const struct gen *cur, struct resolved_set *out)
{
	out->v = NULL;
	out->n = 0;
	for (uint32_t i = 0; i < cur->npools; i++) {
		const struct pool *p = &cur->pools[i];

		for (uint32_t k = 0; k < p->nentries; k++) {
			const struct server_entry *se = &p->entries[k];
			struct resolved_entry *re;
			const struct rentry *e = NULL;

			if (se->kind == SE_ADDR)
				continue;
			for (size_t x = 0; x < R.nentries; x++)
				if (R.entries[x].entry == k &&
				    strcmp(R.entries[x].pool, p->name) == 0 &&
				    strcmp(R.entries[x].host, se->host) == 0)
					e = &R.entries[x];
			out->v = xrealloc(out->v, (out->n + 1) *
			    sizeof(*out->v));
			re = &out->v[out->n++];
			memset(re, 0, sizeof(*re));
			re->pool = xstrdup(p->name);
			re->entry = k;
			re->host = xstrdup(se->host);
			if (e != NULL && e->have_good) {
				re->n = e->ngood;
				re->addrs = xcalloc(e->ngood, sizeof(*re->addrs));
				memcpy(re->addrs, e->good, e->ngood *
				    sizeof(*re->addrs));
			} else {
				re->n = resolve_current(cur, p->name, k,
				    &re->addrs);
			}
		}
	}
}

void
resolve_foreach(resolve_status_fn fn, void *arg)
{
	for (size_t i = 0; i < R.nentries; i++) {
		const struct rentry *e = &R.entries[i];
		struct resolved_addr *cur;
		struct resolve_status st = {
			.pool = e->pool,
			.entry = e->entry,
			.name = e->name,
			.host = e->host,
			.srv = e->kind == SE_SRV,
			.ok = e->ok,
			.ever = e->ever,
			.error = e->error,
			.last_ms = e->last_ms,
			.attempts = e->attempts,
			.failures = e->failures,
			.changes = e->changes,
		};

		st.naddrs = resolve_current(R.gen, e->pool, e->entry, &cur);
		free(cur);
		fn(&st, arg);
	}
}

void
resolve_rejected(const struct resolved_set *set)
{
	for (size_t i = 0; i < set->n; i++) {
		const struct resolved_entry *re = &set->v[i];
		struct rentry *e = NULL;
		struct log_ctx ctx;
		bool again;

		for (size_t x = 0; x < R.nentries && e == NULL; x++)
			if (R.entries[x].entry == re->entry &&
			    strcmp(R.entries[x].pool, re->pool) == 0 &&
			    strcmp(R.entries[x].host, re->host) == 0)
				e = &R.entries[x];
		if (e == NULL)
			continue;
		if (re->rejected == NULL) {
			/* Taken (or unchanged): a later refusal of the
			 * same answer is news again. */
			if (re->n > 0 && e->rejected != NULL &&
			    !resolved_same(re->addrs, re->n, e->rejected,
			    e->nrejected)) {
				free(e->rejected);
				e->rejected = NULL;
				e->nrejected = 0;
			}
			continue;
		}
		again = e->rejected != NULL && e->reject_error != NULL &&
		    strcmp(e->reject_error, re->rejected) == 0 &&
		    resolved_same(re->rejected_addrs, re->nrejected_addrs,
		    e->rejected, e->nrejected);
		free(e->rejected);
		e->nrejected = re->nrejected_addrs;
		e->rejected = xcalloc(e->nrejected ? e->nrejected : 1,
		    sizeof(*e->rejected));
		memcpy(e->rejected, re->rejected_addrs,
		    e->nrejected * sizeof(*e->rejected));
		free(e->reject_error);
		e->reject_error = xstrdup(re->rejected);
		if (again)
			continue;
		e->rejects++;
		atomic_fetch_add(&total_rejected, 1);
		memset(&ctx, 0, sizeof(ctx));
		ctx.pool = e->pool;
		ctx.server = e->name;
		log_msg(LOG_WARNING, &ctx, "pool %s: cannot use the new addresses "
		    "of %s'%s': %s; keeping its %zu address%s (other names "
		    "change as usual)", e->pool, e->kind == SE_SRV ? "SRV " : "",
		    e->host, re->rejected, re->n, re->n == 1 ? "" : "es");
	}
}
