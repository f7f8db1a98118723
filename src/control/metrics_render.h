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

void metrics_render_prom(struct sbuf *b, const struct gen *g, const char *state);
void metrics_render_html(struct sbuf *b, const struct gen *g, const char *state);

#endif
