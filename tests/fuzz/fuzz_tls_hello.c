/*
 * fuzz_tls_hello: libFuzzer target for the ClientHello parser
 * (tls_hello_parse) and the route matcher fed by it.  Invariants:
 *   - parsing the input in one call and one byte at a time gives the same
 *     status, name and ALPN list (incremental state is consistent);
 *   - the hello completes exactly at hello_end (every shorter prefix is
 *     NEED_MORE);
 *   - a name reported is a valid, lower-case host name, and hello_end lies
 *     inside the input;
 *   - a reason is given for every failure.
 */
#include "autoconfig.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parse/route.h"
#include "parse/tls_hello.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tls_hello a, b;
	enum tls_hello_status sa, sb = TLS_HELLO_NEED_MORE;
	uint8_t *copy = malloc(size ? size : 1);
	size_t n;

	/* An exact-size copy: ASan catches any read past the end. */
	memcpy(copy, data, size);
	tls_hello_init(&a);
	sa = tls_hello_parse(&a, copy, size);
	tls_hello_init(&b);
	for (n = 0; n <= size; n++) {
		sb = tls_hello_parse(&b, copy, n);
		if (sb != TLS_HELLO_NEED_MORE)
			break;
	}
	if (sa != sb)
		abort();
	if (sa == TLS_HELLO_OK) {
		if (n != b.hello_end || a.hello_end != b.hello_end ||
		    a.hello_end > size)
			abort();
		if (a.has_sni != b.has_sni || a.nalpn != b.nalpn ||
		    a.alpn_len != b.alpn_len ||
		    memcmp(tls_hello_alpn(&a), tls_hello_alpn(&b),
		    a.alpn_len) != 0)
			abort();
		if (a.has_sni) {
			if (strcmp(a.sni, b.sni) != 0 ||
			    strlen(a.sni) != a.sni_len ||
			    !tls_hello_valid_host(a.sni, a.sni_len))
				abort();
			for (size_t i = 0; i < a.sni_len; i++)
				if (a.sni[i] >= 'A' && a.sni[i] <= 'Z')
					abort();
		}
		/* the route matcher on what the parser found */
		{
			static const char *const pats[] = { "*.example.com",
				"a.example.com", "*.com" };
			struct route_name names[3];
			char err[256];
			struct route r[3] = {
				{ .names = names, .nnames = 2 },
				{ .alpn = (char *)"h2", .alpn_len = 2 },
				{ .names = names + 2, .nnames = 1,
				  .alpn = (char *)"http/1.1", .alpn_len = 8 },
			};
			int m;

			for (size_t i = 0; i < 3; i++)
				if (route_name_parse(pats[i], &names[i], err,
				    sizeof(err)) != 0)
					abort();
			m = route_match(r, 3, a.has_sni ? a.sni : NULL,
			    a.sni_len, tls_hello_alpn(&a), a.alpn_len);
			if (m < -1 || m > 2)
				abort();
			if (a.has_sni && route_name_match(&names[1], a.sni,
			    a.sni_len) != (strcmp(a.sni, "a.example.com") == 0))
				abort();
			for (size_t i = 0; i < 3; i++)
				route_name_clear(&names[i]);
		}
	} else if (sa != TLS_HELLO_NEED_MORE && (a.reason == NULL ||
	    b.reason == NULL)) {
		abort();
	}
	tls_hello_clear(&a);
	tls_hello_clear(&b);
	free(copy);
	return 0;
}
