/*
 * duration: "250ms", "30s", "5m", "1h", or a bare integer of seconds.
 * Pure; values are milliseconds.
 */
#ifndef TCPLB_DURATION_H
#define TCPLB_DURATION_H

#include <stddef.h>
#include <stdint.h>

#define DURATION_MAX_MS (366ULL * 24 * 3600 * 1000)

/* Returns 0, or -1 with a message in err. Fractions are allowed
 * ("1.5s"); negative numbers, empty strings and unknown units are not. */
int duration_parse(const char *s, uint64_t *ms, char *err, size_t errlen);
/* Shortest exact spelling: 1500 -> "1500ms", 60000 -> "1m". */
const char *duration_format(uint64_t ms, char *buf, size_t len);

#endif
