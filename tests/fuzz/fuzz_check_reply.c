/*
 * fuzz_check_reply: libFuzzer target for the health-check reply parsers
 * (parse/check_reply.c), with invariants:
 *   - the HTTP status-line verdict only firms up as bytes arrive: "bad"
 *     on a prefix stays "bad" on the whole, a status is 100-599 and only
 *     given once a newline arrived;
 *   - the header end found lies within the input;
 *   - an expect_status set never holds more than STATUS_SET_MAX ranges,
 *     each lo <= hi;
 *   - an agent line either parses (weight within 0-100000) or says why,
 *     in printable ASCII of bounded length.
 */
#include "autoconfig.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parse/check_reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *b = (const char *)data;
	enum http_parse r, prev = HTTP_MORE;
	struct status_set set;
	struct agent_reply ar;
	char err[128], *z;
	size_t end;
	int code;

	for (size_t k = 0; k <= size; k++) {
		code = -1;
		r = http_status_line(b, k, &code);
		if (prev == HTTP_BAD && r != HTTP_BAD)
			abort();
		if (r == HTTP_DONE && (code < 100 || code > 599 ||
		    memchr(b, '\n', k) == NULL))
			abort();
		prev = r;
	}
	if (http_head_end(b, size, &end) == HTTP_DONE && (end > size || end < 2))
		abort();

	z = malloc(size + 1);
	if (z == NULL)
		return 0;
	memcpy(z, data, size);
	z[size] = '\0';
	memset(&set, 0, sizeof(set));
	err[0] = '\0';
	if (status_set_parse(&set, z, err, sizeof(err)) == 0) {
		if (set.n == 0 || set.n > STATUS_SET_MAX)
			abort();
		for (unsigned i = 0; i < set.n; i++)
			if (set.lo[i] > set.hi[i] || set.lo[i] < 100 ||
			    set.hi[i] > 599)
				abort();
	} else if (err[0] == '\0') {
		abort();
	}
	free(z);

	err[0] = '\0';
	if (agent_parse(b, size, &ar, err, sizeof(err)) == 0) {
		if (ar.weight_pct < -1 || ar.weight_pct > 100000)
			abort();
		if (ar.desc && (ar.desc < b || ar.desc + ar.desc_len > b + size))
			abort();
	} else {
		if (err[0] == '\0' || strlen(err) > 100)
			abort();
		printable(err);
	}
	check_text_sanitize(err, sizeof(err), b, size);
	printable(err);
	return 0;
}
