/*
 * fuzz_config: libFuzzer target for the configuration loader -- libyaml
 * parsing, the schema walk in config_yaml.c, address parsing/resolution,
 * duplicate detection and balance_prepare() -- via config_load_mem().
 * Resolution goes through resolv_stub.h: no DNS query ever leaves the host.
 * The generation gets its runtime parts as in tcplb (service/wiring.c).
 */
#include "autoconfig.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "balance/balance.h"
#include "config/config.h"
#include "config/gen.h"
#include "parse/route.h"
#include "service/wiring.h"

#include "resolv_stub.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config_errors e = { 0 };
	struct gen *g;
	/* An exact-size heap copy, so ASan sees any read past the end (libFuzzer's
	 * own buffer is exact-size too, but this keeps the contract explicit). */
	char *buf = malloc(size ? size : 1);
	/* As in tcplb (balancing tables, queues, limit tables), but names
	 * are looked up by the stub. */
	static const struct config_env env = {
		.lookup = fuzz_lookup,
	};
	static bool installed;

	if (!installed) {
		struct config_env e2 = env;

		e2.parts = wiring_gen_parts();
		config_install(&e2);
		installed = true;
	}
	if (size)
		memcpy(buf, data, size);
	g = config_load_mem("fuzz.yaml", buf, size, &e);
	/* The documented contract: a generation, or NULL with errors. */
	if (g == NULL && e.n == 0)
		abort();
	if (g != NULL) {
		if (e.n != 0 || g->nlisteners == 0)
			abort();
		for (uint32_t i = 0; i < g->nlisteners; i++) {
			const struct listener *l = &g->listeners[i];

			/* no pool only on a listener with routes */
			if ((l->pool == NULL && l->nroutes == 0) ||
			    l->nbinds == 0)
				abort();
			for (uint32_t r = 0; r < l->nroutes; r++)
				if (l->routes[r].pool == NULL ||
				    (l->routes[r].nnames == 0 &&
				    l->routes[r].alpn == NULL))
					abort();
		}
		for (uint32_t i = 0; i < g->npools; i++) {
			const struct pool *p = &g->pools[i];

			for (uint32_t k = 0; k < p->bal->sched_len; k++)
				if (p->bal->sched[k] >= p->nservers)
					abort();
			for (uint32_t k = 0; k < p->bal->ring_len; k++)
				if (p->bal->ring[k].server >= p->nservers)
					abort();
		}
	}
	for (size_t i = 0; i < e.n; i++) {
		if (e.msg[i] == NULL)
			abort();
		/* FUZZ_VERBOSE=1: show the messages when replaying an input. */
		if (getenv("FUZZ_VERBOSE") != NULL)
			fprintf(stderr, "%s\n", e.msg[i]);
	}
	if (getenv("FUZZ_VERBOSE") != NULL && g != NULL)
		fprintf(stderr, "loaded: %u listener(s), %u pool(s)\n",
		    g->nlisteners, g->npools);
	gen_put(g);
	config_errors_free(&e);
	free(buf);
	return 0;
}
