/*
 * cidr: prefix sets as sorted, non-overlapping, non-adjacent ranges of
 * 128-bit keys, those inside the IPv4 block kept as 32-bit pairs.  A prefix trie would do the same in more memory and more
 * cache misses; ranges make overlapping and adjacent prefixes collapse for
 * free (100,000 scattered /32s stay 100,000 ranges of 32 bytes, a /8 that
 * covers them becomes one).
 */
#include "autoconfig.h"

#include "parse/cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

static int
key_cmp(const struct cidr_key *a, const struct cidr_key *b)
{
	if (a->hi != b->hi)
		return a->hi < b->hi ? -1 : 1;
	if (a->lo != b->lo)
		return a->lo < b->lo ? -1 : 1;
	return 0;
}

static void
key_from_bytes(const unsigned char b[16], struct cidr_key *k)
{
	k->hi = k->lo = 0;
	for (int i = 0; i < 8; i++) {
		k->hi = (k->hi << 8) | b[i];
		k->lo = (k->lo << 8) | b[8 + i];
	}
}

static void
key_v4(const unsigned char a[4], struct cidr_key *k)
{
	k->hi = 0;
	k->lo = 0xffff00000000ull | ((uint64_t)a[0] << 24) |
	    ((uint64_t)a[1] << 16) | ((uint64_t)a[2] << 8) | a[3];
}

/* The mask of the low (128 - len) bits: host part. */
static void
host_mask(unsigned len, struct cidr_key *m)
{
	if (len >= 128) {
		m->hi = m->lo = 0;
	} else if (len >= 64) {
		m->hi = 0;
		m->lo = len == 64 ? ~0ull : (~0ull >> (len - 64));
	} else {
		m->hi = len == 0 ? ~0ull : (~0ull >> len);
		m->lo = ~0ull;
	}
}

int
cidr_parse(const char *text, struct cidr_range *out, char *err, size_t errlen)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(text, '/');
	size_t hl = slash ? (size_t)(slash - text) : strlen(text);
	unsigned char b[16];
	unsigned len, max, base;
	struct cidr_key k, m;
	bool v4;

	if (hl == 0 || hl >= sizeof(host)) {
		snprintf(err, errlen, "invalid address '%.*s'", (int)(hl > 64 ? 64 : hl), text);
		return -1;
	}
	memcpy(host, text, hl);
	host[hl] = '\0';
	if (inet_pton(AF_INET, host, b) == 1) {
		v4 = true;
		max = 32;
		key_v4(b, &k);
	} else if (inet_pton(AF_INET6, host, b) == 1) {
		v4 = false;
		max = 128;
		key_from_bytes(b, &k);
	} else {
		snprintf(err, errlen, "invalid address '%s' (expected IPv4 or "
		    "IPv6, optionally /prefix length)", host);
		return -1;
	}
	len = max;
	if (slash != NULL) {
		uint64_t v;

		if (parse_uint(slash + 1, max, &v) == -1) {
			snprintf(err, errlen, "invalid prefix length '%s' "
			    "(0-%u)", slash + 1, max);
			return -1;
		}
		len = (unsigned)v;
	}
	base = v4 ? 96 : 0;
	host_mask(base + len, &m);
	if ((k.hi & m.hi) != 0 || (k.lo & m.lo) != 0) {
		snprintf(err, errlen, "'%s' has bits set beyond the /%u "
		    "prefix", text, len);
		return -1;
	}
	out->first = k;
	out->last.hi = k.hi | m.hi;
	out->last.lo = k.lo | m.lo;
	return 0;
}

static void
cidr_set_push(struct cidr_set *s, const struct cidr_range *r)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 8;
		s->r = xrealloc(s->r, s->cap * sizeof(*s->r));
	}
	s->r[s->n++] = *r;
	s->finished = false;
}

/* An IPv6 prefix matches IPv6 clients only, as in nginx: "::/0" in deny
 * must not lock out every IPv4 client (IPv4 lives in ::ffff:0:0/96 here).
 * So a range that covers more than that block leaves the block out; a
 * range wholly inside it (::ffff:10.0.0.0/104) is the IPv4 prefix it
 * spells, and matches IPv4 clients. */
void
cidr_set_add(struct cidr_set *s, const struct cidr_range *r)
{
	static const struct cidr_key v4_first = { 0, 0xffff00000000ull };
	static const struct cidr_key v4_last = { 0, 0xffffffffffffull };
	struct cidr_range part;

	if (key_cmp(&r->last, &v4_first) < 0 || key_cmp(&r->first, &v4_last) > 0 ||
	    (key_cmp(&r->first, &v4_first) >= 0 && key_cmp(&r->last, &v4_last) <= 0)) {
		cidr_set_push(s, r);
		return;
	}
	if (key_cmp(&r->first, &v4_first) < 0) {
		part.first = r->first;
		part.last.hi = 0;
		part.last.lo = v4_first.lo - 1;
		cidr_set_push(s, &part);
	}
	if (key_cmp(&r->last, &v4_last) > 0) {
		part.first.hi = 0;
		part.first.lo = v4_last.lo + 1;
		part.last = r->last;
		cidr_set_push(s, &part);
	}
}

static int
range_cmp(const void *a, const void *b)
{
	const struct cidr_range *x = a, *y = b;

	return key_cmp(&x->first, &y->first);
}

static bool
key_is_max(const struct cidr_key *k)
{
	return k->hi == ~0ull && k->lo == ~0ull;
}

static struct cidr_key
key_next(struct cidr_key k)
{
	if (++k.lo == 0)
		k.hi++;
	return k;
}

/* Inside ::ffff:0:0/96? */
static bool
key_is_v4(const struct cidr_key *k)
{
	return k->hi == 0 && (k->lo >> 32) == 0xffff;
}

void
cidr_set_finish(struct cidr_set *s)
{
	size_t out = 0, n4 = 0;

	/* Adding after finishing (not done today) starts from everything. */
	for (size_t i = 0; i < s->n4; i++) {
		struct cidr_range r = {
			{ 0, 0xffff00000000ull | s->v4first[i] },
			{ 0, 0xffff00000000ull | s->v4last[i] },
		};

		cidr_set_add(s, &r);
	}
	free(s->v4first);
	free(s->v4last);
	s->v4first = s->v4last = NULL;
	s->n4 = 0;
	if (s->n > 1)
		qsort(s->r, s->n, sizeof(*s->r), range_cmp);
	for (size_t i = 0; i < s->n; i++) {
		struct cidr_range *cur = out ? &s->r[out - 1] : NULL;

		if (cur != NULL) {
			struct cidr_key nx = key_next(cur->last);

			/* Overlapping or adjacent: one range. */
			if (key_is_max(&cur->last) ||
			    key_cmp(&s->r[i].first, &nx) <= 0) {
				if (key_cmp(&s->r[i].last, &cur->last) > 0)
					cur->last = s->r[i].last;
				continue;
			}
		}
		s->r[out++] = s->r[i];
	}
	s->n = out;
	/* Move the ranges wholly inside the IPv4 block to the compact
	 * arrays (they stay sorted and disjoint). */
	for (size_t i = 0; i < s->n; i++)
		n4 += key_is_v4(&s->r[i].first) && key_is_v4(&s->r[i].last);
	if (n4 > 0) {
		s->v4first = xmalloc(n4 * sizeof(*s->v4first));
		s->v4last = xmalloc(n4 * sizeof(*s->v4last));
		out = 0;
		for (size_t i = 0; i < s->n; i++) {
			if (key_is_v4(&s->r[i].first) && key_is_v4(&s->r[i].last)) {
				s->v4first[s->n4] = (uint32_t)s->r[i].first.lo;
				s->v4last[s->n4] = (uint32_t)s->r[i].last.lo;
				s->n4++;
			} else {
				s->r[out++] = s->r[i];
			}
		}
		s->n = out;
	}
	s->finished = true;
}

void
cidr_set_free(struct cidr_set *s)
{
	free(s->r);
	free(s->v4first);
	free(s->v4last);
	memset(s, 0, sizeof(*s));
}

bool
cidr_key_of(const struct sockaddr *sa, struct cidr_key *out)
{
	if (sa->sa_family == AF_INET) {
		key_v4((const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr, out);
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		key_from_bytes(((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr, out);
		return true;
	}
	return false;
}

bool
cidr_set_contains_key(const struct cidr_set *s, const struct cidr_key *k)
{
	size_t lo = 0, hi;

	if (s->n4 > 0 && key_is_v4(k) && s->v4first[0] <= (uint32_t)k->lo) {
		uint32_t a = (uint32_t)k->lo;
		const uint32_t *b = s->v4first;
		size_t n = s->n4;

		/* The last first <= a, without a branch to mispredict per
		 * step (the compiler makes the step a conditional move). */
		while (n > 1) {
			size_t h = n / 2;

			b = b[h] <= a ? b + h : b;
			n -= h;
		}
		if (a <= s->v4last[b - s->v4first])
			return true;
		/* else a wider range (::/0) may still hold it */
	}
	/* The last range whose first <= k, then check its end. */
	hi = s->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (key_cmp(&s->r[mid].first, k) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo > 0 && key_cmp(k, &s->r[lo - 1].last) <= 0;
}

bool
cidr_set_contains(const struct cidr_set *s, const struct sockaddr *sa)
{
	struct cidr_key k;

	return cidr_key_of(sa, &k) && cidr_set_contains_key(s, &k);
}
