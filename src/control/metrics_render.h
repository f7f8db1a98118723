/*
 * metrics_render: tcplb's state as Prometheus text (exposition format
 * 0.0.4) and as the human status page (one HTML document, inline CSS, no
 * script, refreshing itself).  Reads the current generation and the summed
 * per-worker counters; labels are configured names only, escaped.
 */
#ifndef TCPLB_METRICS_RENDER_H
#define TCPLB_METRICS_RENDER_H

#include "control/admin_fmt.h"
#include "config/gen.h"
#include "stats/stats.h"

/* Any thread: reads atomics and per-worker counters only.  rc and dns
 * (metrics_render_dns's output) come from the main thread. */
void metrics_render_prom(struct sbuf *b, const struct gen *g, const char *state,
    const struct stats_reloads *rc, const struct sbuf *dns);
/* Main thread only: the DNS families (resolver state is the main loop's). */
void metrics_render_dns(struct sbuf *b);
/* Main thread: the same without the per-server families (16 MB at 10,000
 * servers), for what an upgrade carries by name (metrics_carry.h). */
void metrics_render_prom_shared(struct sbuf *b, const struct gen *g);
void metrics_render_html(struct sbuf *b, const struct gen *g, const char *state);

#endif
