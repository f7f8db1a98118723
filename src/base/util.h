/*
 * util: allocation wrappers that never return NULL, monotonic time, and the
 * small string helpers every module needs.  No sockets, no event loop.
 */
#ifndef TCPLB_UTIL_H
#define TCPLB_UTIL_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Allocation failure is not something a load balancer can recover from
 * mid-operation in a meaningful way; these abort with a message instead. */
void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Milliseconds on CLOCK_MONOTONIC: for control-path timestamps only; the
 * hot path uses ev_now(). */
uint64_t now_ms(void);
/* Is process pid running (not gone, not a zombie)? */
bool proc_alive(long pid);

/* Parse a non-negative decimal integer with no sign, no trailing garbage and
 * no overflow beyond max.  Returns 0 on success, -1 otherwise. */
int parse_uint(const char *s, uint64_t max, uint64_t *out);

/* The value of a hexadecimal digit (either case), or -1. */
int hex_digit(int c);

/* xorshift32 step for per-thread pseudo random choices (not crypto). */
static inline uint32_t
xorshift32(uint32_t *state)
{
	uint32_t x = *state;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *state = x ? x : 0x9e3779b9u;
}

#endif
