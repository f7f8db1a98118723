/*
 * fuzz_addr: libFuzzer target for the pure text parsers -- addr_parse(),
 * addr_parse_bare() and duration_parse() -- on a NUL-terminated copy of the
 * input, with round-trip invariants:
 *   - duration_format(duration_parse(s)) parses back to the same value;
 *   - an accepted address has a NUL-terminated host shorter than 256 and
 *     formats (addr_resolve + addr_format) to something that parses again.
 * Error messages must always be NUL-terminated and fit their buffer.
 */
#include "autoconfig.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/addr.h"
#include "base/duration.h"

#include "resolv_stub.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_err(const char *err, size_t len)
{
	if (memchr(err, '\0', len) == NULL)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	char err[256], small[8], fmt[32], abuf[ADDR_STRLEN];
	struct addr_spec spec, spec2;
	uint64_t ms, ms2;

	memcpy(s, data, size);
	s[size] = '\0';

	/* durations */
	memset(err, 'x', sizeof(err));
	if (duration_parse(s, &ms, err, sizeof(err)) == 0) {
		if (ms > DURATION_MAX_MS)
			abort();
		duration_format(ms, fmt, sizeof(fmt));
		if (duration_parse(fmt, &ms2, err, sizeof(err)) != 0 ||
		    ms2 != ms)
			abort();
	} else {
		check_err(err, sizeof(err));
	}
	(void)duration_parse(s, &ms, small, sizeof(small));

	/* addresses */
	memset(err, 'x', sizeof(err));
	if (addr_parse(s, &spec, err, sizeof(err)) == 0) {
		struct sockaddr_storage *addrs = NULL;
		size_t n = 0;

		if (memchr(spec.host, '\0', sizeof(spec.host)) == NULL)
			abort();
		if (spec.wildcard && spec.host[0] != '\0')
			abort();
		if (addr_parse_bare(s, &spec2, err, sizeof(err)) != 0 ||
		    memcmp(&spec, &spec2, sizeof(spec)) != 0)
			abort();
		if (addr_resolve(&spec, true, &addrs, &n, err,
		    sizeof(err)) == 0) {
			for (size_t i = 0; i < n; i++) {
				addr_format((struct sockaddr *)&addrs[i], abuf,
				    sizeof(abuf));
				if (addr_parse(abuf, &spec2, err,
				    sizeof(err)) != 0 ||
				    spec2.port != spec.port)
					abort();
				(void)addr_hash_host(
				    (struct sockaddr *)&addrs[i]);
			}
			free(addrs);
		} else {
			check_err(err, sizeof(err));
		}
	} else {
		check_err(err, sizeof(err));
		memset(err, 'x', sizeof(err));
		if (addr_parse_bare(s, &spec2, err, sizeof(err)) == 0)
			abort();
		check_err(err, sizeof(err));
	}
	(void)addr_parse(s, &spec, small, sizeof(small));
	free(s);
	return 0;
}
