/*
 * metrics_carry: the generic carrying of counter samples across a binary
 * upgrade (see metrics_carry.h).  A sample is the text before its value,
 * "name{labels}", exactly as rendered; the table is an open-addressing
 * hash of those keys, filled once at start and read on every scrape.
 */
#include "autoconfig.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "control/metrics_carry.h"

/* Families carried with their state (the counter sums of server_state,
 * pool_state and listener_state, the process total): a value here would
 * count twice.  Everything else -- a server's check counters too -- goes
 * by name and labels. */
static const char *const structural[] = {
	"tcplb_server_connections_total", "tcplb_server_bytes_in_total",
	"tcplb_server_bytes_out_total", "tcplb_server_retries_total",
	"tcplb_server_connect_failures_total",
	"tcplb_listener_", "tcplb_connections_total",
	"tcplb_pool_connections_total", "tcplb_pool_bytes_in_total",
	"tcplb_pool_bytes_out_total", "tcplb_pool_retries_total",
	"tcplb_pool_connect_failures_total",
};

struct entry {
	char *key;
	uint64_t value;		/* integer samples */
	double fvalue;		/* the others (seconds) */
	bool is_float;
};

static struct entry *table;
static size_t cap, used;

static uint64_t
hash(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
	return h;
}

static struct entry *
slot(const char *key, size_t n)
{
	size_t i = (size_t)hash(key, n) & (cap - 1);

	for (;; i = (i + 1) & (cap - 1))
		if (table[i].key == NULL ||
		    (strncmp(table[i].key, key, n) == 0 && table[i].key[n] == '\0'))
			return &table[i];
}

static void
grow(void)
{
	struct entry *old = table;
	size_t oldcap = cap;

	cap = cap ? cap * 2 : 64;
	table = xcalloc(cap, sizeof(*table));
	for (size_t i = 0; i < oldcap; i++)
		if (old[i].key)
			*slot(old[i].key, strlen(old[i].key)) = old[i];
	free(old);
}

static bool
structural_family(const char *name, size_t n)
{
	for (size_t i = 0; i < sizeof(structural) / sizeof(structural[0]); i++) {
		size_t l = strlen(structural[i]);

		if (n >= l && strncmp(name, structural[i], l) == 0)
			return true;
	}
	return false;
}

/* One sample line of a counter family not carried with its state. */
struct sample {
	const char *key;
	size_t keylen;
	const char *val;	/* its digits */
	size_t vallen;
};

static bool
next_sample(const char **pp, const char *end, bool *counter, struct sample *s,
    const char **line, const char **eol)
{
	while (*pp < end) {
		const char *p = *pp, *nl = memchr(p, '\n', (size_t)(end - p));
		const char *sp;

		nl = nl ? nl : end;
		*pp = nl < end ? nl + 1 : end;
		*line = p;
		*eol = nl;
		if (*p == '#') {
			/* "# TYPE name counter" starts a family. */
			if (nl - p > 7 && strncmp(p, "# TYPE ", 7) == 0) {
				const char *name = p + 7;
				const char *t = memchr(name, ' ', (size_t)(nl - name));

				*counter = t && (size_t)(nl - t - 1) == 7 &&
				    strncmp(t + 1, "counter", 7) == 0 &&
				    !structural_family(name, (size_t)(t - name));
			}
			continue;
		}
		if (!*counter || nl == p)
			continue;
		for (sp = nl; sp > p && sp[-1] != ' '; sp--)
			;
		if (sp == p || sp == nl)
			continue;
		s->key = p;
		s->keylen = (size_t)(sp - 1 - p);
		s->val = sp;
		s->vallen = (size_t)(nl - sp);
		/* A number: integers, or seconds in floating point (no
		 * NaN, no Inf). */
		if (strspn(sp, "0123456789.e+-") < s->vallen || !isdigit((unsigned char)*sp))
			continue;
		return true;
	}
	return false;
}

void
metrics_carry_write(FILE *f, const char *text, size_t len, const char *prefix)
{
	const char *p = text, *line, *eol;
	bool counter = false;
	struct sample s;

	while (p && next_sample(&p, text + len, &counter, &s, &line, &eol))
		fprintf(f, "%s %.*s %.*s\n", prefix, (int)s.vallen, s.val, (int)s.keylen, s.key);
}

void
metrics_carry_reset(void)
{
	for (size_t i = 0; i < cap; i++)
		free(table[i].key);
	free(table);
	table = NULL;
	cap = used = 0;
}

void
metrics_carry_take(const char *rest)
{
	char *end, *iend;
	double fv = strtod(rest, &end);
	uint64_t v = strtoull(rest, &iend, 10);
	bool is_float = iend != end;
	size_t n;
	struct entry *e;

	if (end == rest || *end != ' ')
		return;
	end++;
	n = strcspn(end, "\n");
	if (n == 0)
		return;
	if ((used + 1) * 2 > cap)
		grow();
	e = slot(end, n);
	if (e->key == NULL) {
		e->key = xstrndup(end, n);
		used++;
	}
	if (is_float || e->is_float) {
		if (!e->is_float)
			e->fvalue = (double)e->value;
		e->is_float = true;
		e->fvalue += is_float ? fv : (double)v;
	} else {
		e->value += v;
	}
}

void
metrics_carry_apply(struct sbuf *b, size_t start)
{
	struct sbuf out = { 0 };
	const char *p, *end, *line, *eol, *copied;
	bool counter = false;
	struct sample s;

	if (used == 0 || b->len <= start)
		return;
	p = copied = b->p + start;
	end = b->p + b->len;
	while (next_sample(&p, end, &counter, &s, &line, &eol)) {
		struct entry *e = slot(s.key, s.keylen);

		if (e->key == NULL)
			continue;
		sbuf_add(&out, copied, (size_t)(s.val - copied));
		if (e->is_float || strspn(s.val, "0123456789") < s.vallen)
			sbuf_prom_double(&out, strtod(s.val, NULL) +
			    (e->is_float ? e->fvalue : (double)e->value));
		else
			sbuf_printf(&out, "%" PRIu64,
			    (uint64_t)strtoull(s.val, NULL, 10) + e->value);
		copied = eol;
	}
	if (out.len == 0)
		return;
	sbuf_add(&out, copied, (size_t)(end - copied));
	b->len = start;
	sbuf_add(b, out.p, out.len);
	sbuf_free(&out);
}
