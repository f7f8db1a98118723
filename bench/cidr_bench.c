/*
 * cidr_bench: lookups per second in an allow/deny set of N random IPv4
 * prefixes (default 100,000), half the probes inside a prefix, half random.
 * Built by `make bench/cidr_bench` (not installed, not part of make check).
 *
 *   bench/cidr_bench [N] [LOOKUPS]
 */
#include "autoconfig.h"

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "parse/cidr.h"

static uint32_t
rnd(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	unsigned long n = argc > 1 ? strtoul(argv[1], NULL, 10) : 100000;
	unsigned long q = argc > 2 ? strtoul(argv[2], NULL, 10) : 20000000;
	struct cidr_set set = { 0 };
	struct cidr_key *probe;
	uint32_t x = 2463534242u;
	unsigned long hits = 0;
	double t0, t1, t2;
	enum { NPROBE = 1 << 16 };

	t0 = now();
	for (unsigned long i = 0; i < n; i++) {
		char text[64], err[128];
		struct cidr_range r;
		uint32_t a = rnd(&x), len = 16 + rnd(&x) % 17;

		a &= len == 32 ? ~0u : ~(~0u >> len);
		snprintf(text, sizeof(text), "%u.%u.%u.%u/%u", a >> 24,
		    (a >> 16) & 255, (a >> 8) & 255, a & 255, len);
		if (cidr_parse(text, &r, err, sizeof(err)) != 0) {
			fprintf(stderr, "%s: %s\n", text, err);
			return 1;
		}
		cidr_set_add(&set, &r);
	}
	cidr_set_finish(&set);
	t1 = now();
	probe = calloc(NPROBE, sizeof(*probe));
	for (unsigned i = 0; i < NPROBE; i++) {
		struct sockaddr_in in = { .sin_family = AF_INET };
		uint32_t a = i % 2 ? rnd(&x) :
		    set.v4first[rnd(&x) % set.n4] + rnd(&x) % 256;

		in.sin_addr.s_addr = htonl(a);
		cidr_key_of((struct sockaddr *)&in, &probe[i]);
	}
	t1 = now();
	for (unsigned long i = 0; i < q; i++)
		hits += cidr_set_contains_key(&set, &probe[i & (NPROBE - 1)]);
	t2 = now();
	printf("prefixes %lu (merged ranges %zu), lookups %lu, hits %lu\n", n,
	    set.n + set.n4, q, hits);
	printf("lookups/s %.0f (%.1f ns each)\n", (double)q / (t2 - t1),
	    (t2 - t1) * 1e9 / (double)q);
	(void)t0;
	cidr_set_free(&set);
	free(probe);
	return 0;
}
