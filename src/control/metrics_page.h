/*
 * metrics_page: /metrics and the status page rendered on a thread of their
 * own, so that a render (a long stretch of CPU with thousands of servers)
 * never delays the main loop -- signals, the watchdog, admin, reloads.
 * Requests that wait for the same page at the same time share one render,
 * so a scrape flood costs one render at a time, whatever its size.
 */
#ifndef TCPLB_METRICS_PAGE_H
#define TCPLB_METRICS_PAGE_H

#include <ev.h>
#include <stdatomic.h>

#include "control/admin_fmt.h"

enum mpage_kind {
	MPAGE_PROM,			/* GET /metrics */
	MPAGE_HTML,			/* GET / */
};

/* A rendered page, shared (refcounted) by every request that waited for
 * it; immutable once handed out. */
struct mpage {
	atomic_int refs;
	struct sbuf body;
};

struct mjob;

/* Called on the main loop with the page (a reference the callee owns). */
typedef void (*mpage_ready_fn)(void *arg, struct mpage *page);

/* Main thread.  Ask for a page: what only the main thread may read (the
 * generation, instance state, reload and DNS figures) is taken now, the
 * rest is rendered on the page thread.  NULL if that thread cannot run
 * (then the caller renders in place). */
struct mjob *mpage_request(struct ev_loop *loop, enum mpage_kind kind,
    mpage_ready_fn fn, void *arg);
/* The requester went away: fn is never called for j. */
void mpage_cancel(struct mjob *j);
void mpage_put(struct mpage *p);
/* Render in place, on the calling thread (the fallback, and tests). */
struct mpage *mpage_render_now(enum mpage_kind kind);
/* Stop the thread (pending requests are dropped); before the workers go. */
void mpage_stop(void);

#endif
