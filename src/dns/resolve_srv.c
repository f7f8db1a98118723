/*
 * resolve_srv: SRV records -> weighted primary/backup targets (pure; see
 * resolve_srv.h for the rules and why).
 */
#include "autoconfig.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dns/resolve_srv.h"
#include "base/util.h"

static int
srv_cmp(const void *a, const void *b)
{
	const struct srv_record *x = *(const struct srv_record *const *)a;
	const struct srv_record *y = *(const struct srv_record *const *)b;
	int c;

	if (x->priority != y->priority)
		return x->priority < y->priority ? -1 : 1;
	if ((c = strcasecmp(x->target, y->target)) != 0)
		return c;
	return x->port < y->port ? -1 : x->port > y->port;
}

size_t
resolve_srv_expand(const struct srv_record *recs, size_t n,
    struct srv_target *out, size_t *dropped)
{
	const struct srv_record **v;
	size_t m = 0, k = 0;
	uint32_t maxw = 0;

	*dropped = 0;
	if (n == 0)
		return 0;
	v = xcalloc(n, sizeof(*v));
	for (size_t i = 0; i < n; i++)
		if (strcmp(recs[i].target, ".") != 0 && recs[i].target[0] != '\0'
		    && recs[i].port != 0)
			v[m++] = &recs[i];
	qsort(v, m, sizeof(*v), srv_cmp);
	for (size_t i = 0; i < m; i++) {
		bool repeat = false;

		/* The same target:port again (at this priority or a later
		 * one, adjacent or not): the first priority wins.  Checked
		 * before the cap, so a repeat never takes a distinct
		 * target's place. */
		for (size_t j = 0; j < k && !repeat; j++)
			repeat = out[j].rec->port == v[i]->port &&
			    strcasecmp(out[j].rec->target, v[i]->target) == 0;
		if (repeat || (i > 0 && v[i]->port == v[i - 1]->port &&
		    strcasecmp(v[i]->target, v[i - 1]->target) == 0))
			continue;
		if (k == SRV_MAX_TARGETS) {
			(*dropped)++;
			continue;
		}
		out[k].rec = v[i];
		out[k].backup = v[i]->priority != v[0]->priority;
		k++;
	}
	for (size_t i = 0; i < k; i++)
		if (out[i].rec->weight > maxw)
			maxw = out[i].rec->weight;
	for (size_t i = 0; i < k; i++) {
		uint32_t w = out[i].rec->weight;

		if (maxw > 256)
			w = (w * 256 + maxw - 1) / maxw;
		out[i].weight = w ? w : 1;
	}
	free(v);
	return k;
}
