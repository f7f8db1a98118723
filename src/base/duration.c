/*
 * duration: the text form of time spans in the configuration -- "250ms",
 * "30s", "1.5m", "1h", or a bare integer of seconds -- and back.  Pure and
 * exact: values are whole milliseconds computed with integer arithmetic, so
 * "0.1s" is 100 ms and not 99 after a floating-point round trip.
 */
#include "autoconfig.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "base/duration.h"

#define DURATION_UNITS "ms, s, m or h"

struct duration_unit {
	const char *name;
	uint64_t ms;
};

static const struct duration_unit duration_units[] = {
	{ "ms", 1 },
	{ "s", 1000 },
	{ "m", 60 * 1000 },
	{ "h", 3600 * 1000 },
};

static int
duration_isdigit(char c)
{
	return c >= '0' && c <= '9';
}

int
duration_parse(const char *s, uint64_t *ms, char *err, size_t errlen)
{
	const char *p = s, *unit;
	uint64_t whole = 0, frac = 0, scale = 1, mult = 1000, v;
	bool found = false;

	if (s == NULL || *s == '\0') {
		snprintf(err, errlen, "empty duration");
		return -1;
	}
	if (*p == '-' || *p == '+') {
		snprintf(err, errlen, "a sign is not allowed");
		return -1;
	}
	if (!duration_isdigit(*p)) {
		/* "fast", "never": most likely a unit with the number
		 * forgotten, or a word that is no duration at all. */
		snprintf(err, errlen, "unknown unit (expected a number with "
		    "an optional unit: %s)", DURATION_UNITS);
		return -1;
	}
	for (; duration_isdigit(*p); p++) {
		/* Anything past DURATION_MAX_MS hours is out of range anyway;
		 * stop early so the arithmetic below cannot wrap. */
		if (whole > DURATION_MAX_MS)
			goto range;
		whole = whole * 10 + (uint64_t)(*p - '0');
	}
	if (*p == '.') {
		p++;
		if (!duration_isdigit(*p)) {
			snprintf(err, errlen, "expected a digit after '.'");
			return -1;
		}
		for (; duration_isdigit(*p); p++) {
			/* A non-zero 10th decimal is below a millisecond
			 * even for hours; trailing zeros are harmless. */
			if (scale >= 1000000000ULL) {
				if (*p != '0')
					goto precision;
				continue;
			}
			frac = frac * 10 + (uint64_t)(*p - '0');
			scale *= 10;
		}
	}
	unit = p;
	if (*unit != '\0') {
		for (size_t i = 0; i < sizeof(duration_units) /
		    sizeof(duration_units[0]); i++) {
			if (strcmp(unit, duration_units[i].name) == 0) {
				mult = duration_units[i].ms;
				found = true;
				break;
			}
		}
		if (!found) {
			snprintf(err, errlen, "unknown unit '%.16s' (%s)", unit,
			    DURATION_UNITS);
			return -1;
		}
	}
	if (whole > DURATION_MAX_MS / mult)
		goto range;
	v = whole * mult;
	/* frac/scale of a unit must come out as whole milliseconds. */
	if ((frac * mult) % scale != 0)
		goto precision;
	v += frac * mult / scale;
	if (v > DURATION_MAX_MS)
		goto range;
	*ms = v;
	return 0;

range:
	snprintf(err, errlen, "too large (at most %lluh)",
	    (unsigned long long)(DURATION_MAX_MS / 3600000));
	return -1;
precision:
	snprintf(err, errlen, "finer than a millisecond");
	return -1;
}

const char *
duration_format(uint64_t ms, char *buf, size_t len)
{
	if (ms == 0)
		snprintf(buf, len, "0s");
	else if (ms % 3600000 == 0)
		snprintf(buf, len, "%lluh", (unsigned long long)(ms / 3600000));
	else if (ms % 60000 == 0)
		snprintf(buf, len, "%llum", (unsigned long long)(ms / 60000));
	else if (ms % 1000 == 0)
		snprintf(buf, len, "%llus", (unsigned long long)(ms / 1000));
	else
		snprintf(buf, len, "%llums", (unsigned long long)ms);
	return buf;
}
