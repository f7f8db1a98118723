/*
 * byterate: parsing and printing byte rates ("10MB/s", "100Mbit/s").
 * Decimal units are powers of 1000 and binary ones (KiB, MiB, GiB) of 1024,
 * as in iperf3 and systemd; a bare number is bytes.  Overflow and junk are
 * errors, never a silently different value.
 */
#include "autoconfig.h"

#include <stdio.h>
#include <string.h>

#include "parse/byterate.h"

struct br_unit {
	const char *name;
	uint64_t num, den;	/* bytes = N * num / den */
};

static const struct br_unit br_units[] = {
	{ "", 1, 1 }, { "B", 1, 1 },
	{ "kB", 1000, 1 }, { "KB", 1000, 1 }, { "MB", 1000000, 1 },
	{ "GB", 1000000000, 1 }, { "TB", 1000000000000ull, 1 },
	{ "KiB", 1024, 1 }, { "MiB", 1048576, 1 }, { "GiB", 1073741824, 1 },
	{ "bit", 1, 8 }, { "kbit", 1000, 8 }, { "Kbit", 1000, 8 },
	{ "Mbit", 1000000, 8 }, { "Gbit", 1000000000, 8 },
};

int
byterate_parse(const char *s, uint64_t *out, char *why, size_t whylen)
{
	uint64_t whole = 0, frac = 0, scale = 1;
	const char *p = s, *unit, *slash;
	size_t ulen;

	if (*p < '0' || *p > '9')
		goto bad;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (whole > (UINT64_MAX - 9) / 10)
			goto big;
		whole = whole * 10 + (uint64_t)(*p - '0');
	}
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			goto bad;
		for (; *p >= '0' && *p <= '9'; p++) {
			if (scale == 1000) {
				snprintf(why, whylen, "at most 3 decimal "
				    "places");
				return -1;
			}
			frac = frac * 10 + (uint64_t)(*p - '0');
			scale *= 10;
		}
	}
	unit = p;
	slash = strchr(unit, '/');
	if (slash == NULL || strcmp(slash, "/s") != 0)
		goto bad;
	ulen = (size_t)(slash - unit);
	for (size_t i = 0; i < sizeof(br_units) / sizeof(br_units[0]); i++) {
		const struct br_unit *u = &br_units[i];

		if (strlen(u->name) != ulen || strncmp(u->name, unit, ulen) != 0)
			continue;
		/* whole and fraction apart: frac * num < 2^40, no overflow */
		if (whole > UINT64_MAX / u->num)
			goto big;
		*out = whole * u->num / u->den +
		    (whole * u->num % u->den * scale + frac * u->num) /
		    (scale * u->den);
		return 0;
	}
	snprintf(why, whylen, "unknown unit '%.*s' (%s)", (int)ulen, unit,
	    BYTERATE_UNITS);
	return -1;
big:
	snprintf(why, whylen, "too large");
	return -1;
bad:
	snprintf(why, whylen, "expected N[UNIT]/s, UNIT one of %s",
	    BYTERATE_UNITS);
	return -1;
}

void
byterate_format(uint64_t bps, char *buf, size_t len)
{
	static const char *const names[] = { "B", "kB", "MB", "GB", "TB" };
	uint64_t div = 1;
	size_t u = 0;

	while (u + 1 < sizeof(names) / sizeof(names[0]) && bps / div >= 1000) {
		div *= 1000;
		u++;
	}
	if (bps % div == 0)
		snprintf(buf, len, "%llu%s/s", (unsigned long long)(bps / div),
		    names[u]);
	else
		snprintf(buf, len, "%.3g%s/s", (double)bps / (double)div,
		    names[u]);
}
