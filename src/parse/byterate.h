/*
 * byterate: bandwidth values as written in the file -- "10MB/s",
 * "512KiB/s", "100Mbit/s", "2000/s" -- to bytes per second.  Pure.
 */
#ifndef TCPLB_BYTERATE_H
#define TCPLB_BYTERATE_H

#include <stddef.h>
#include <stdint.h>

/* The units, for error messages. */
#define BYTERATE_UNITS "B, kB, MB, GB, TB, KiB, MiB, GiB, kbit, Mbit, Gbit"

/* Parse "N[UNIT]/s" (N an integer, or a decimal with up to 3 places) into
 * bytes per second, rounded down; bit rates are divided by 8.  Returns 0,
 * or -1 with why[] filled. */
int byterate_parse(const char *s, uint64_t *out, char *why, size_t whylen);
/* "12.5MB/s" style, the largest unit that keeps three digits. */
void byterate_format(uint64_t bps, char *buf, size_t len);

#endif
