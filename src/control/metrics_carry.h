/*
 * metrics_carry: Prometheus counters never go back across a binary
 * upgrade.  Servers', listeners' and the process's connection counters
 * are carried with the state they belong to (upgrade.c); every other
 * counter sample -- refusals by reason, route hits, TLS inspection,
 * queues, DNS, reloads, and whatever counter is added later -- is carried
 * here generically: the old process writes its rendered value, the new
 * one adds it to the sample with the same name and labels from then on.
 */
#ifndef TCPLB_METRICS_CARRY_H
#define TCPLB_METRICS_CARRY_H

#include <stdio.h>

#include "control/admin_fmt.h"

/* Old process: one "PREFIX VALUE SAMPLE" line per counter sample of text
 * (a metrics_render_prom() rendering) that is not carried with its state. */
void metrics_carry_write(FILE *f, const char *text, size_t len, const char *prefix);
/* New process: take one "VALUE SAMPLE" (the rest of such a line); reset
 * forgets them all (the state is read again at the handover). */
void metrics_carry_take(const char *rest);
void metrics_carry_reset(void);
/* Add what was carried to the samples rendered into b from offset start
 * (metrics_render_prom() does it).  O(1) when nothing was carried. */
void metrics_carry_apply(struct sbuf *b, size_t start);

#endif
