/*
 * proxy_proto: parse and build PROXY protocol headers (v1 text, v2
 * binary), following haproxy.org/download/2.9/doc/proxy-protocol.txt.
 * Strict where a sloppy header could hide an attack (exactly one space
 * between v1 fields, ports in range, CRLF required, v2 lengths checked
 * against the address family and every TLV's length checked against the
 * header), and bounded: nothing beyond PROXY_V1_MAX / PROXY_V2_MAX bytes is
 * ever asked for.  TLVs are walked to check their framing and otherwise
 * skipped.
 */
#include "autoconfig.h"

#include "parse/proxy_proto.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

static const unsigned char v2_sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};
static const char v1_sig[6] = "PROXY ";

#define V2_HDR		16
#define V2_CMD_LOCAL	0x0
#define V2_CMD_PROXY	0x1
#define V2_AF_UNSPEC	0x0
#define V2_AF_INET	0x1
#define V2_AF_INET6	0x2
#define V2_AF_UNIX	0x3
#define V2_P_UNSPEC	0x0
#define V2_P_STREAM	0x1
#define V2_P_DGRAM	0x2
#define V2_INET_LEN	12
#define V2_INET6_LEN	36
#define V2_UNIX_LEN	216

static bool
prefix_matches(const unsigned char *b, size_t len, const void *sig, size_t siglen)
{
	return memcmp(b, sig, len < siglen ? len : siglen) == 0;
}

/* One v1 port: 1-5 digits, 0..65535. */
static int
v1_port(const char *s, size_t n, uint16_t *out)
{
	unsigned v = 0;

	if (n == 0 || n > 5)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > 65535)
		return -1;
	*out = (uint16_t)v;
	return 0;
}

static int
v1_addr(int family, const char *s, size_t n, struct sockaddr_storage *ss)
{
	char tmp[INET6_ADDRSTRLEN];

	memset(ss, 0, sizeof(*ss));
	if (n == 0 || n >= sizeof(tmp))
		return -1;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	if (family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;

		in->sin_family = AF_INET;
		return inet_pton(AF_INET, tmp, &in->sin_addr) == 1 ? 0 : -1;
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

		/* inet_pton(AF_INET6) also takes "::ffff:1.2.3.4", which
		 * is an IPv6 address as far as TCP6 is concerned. */
		in6->sin6_family = AF_INET6;
		return inet_pton(AF_INET6, tmp, &in6->sin6_addr) == 1 ? 0 : -1;
	}
}

static void
set_port(struct sockaddr_storage *ss, uint16_t port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
}

/* The line without its CRLF: "PROXY TCP4 a b p q". */
static enum proxy_status
v1_line(const char *line, size_t n, struct proxy_hdr *out, const char **why)
{
	const char *f[6];
	size_t fl[6], nf = 0, i = 0;
	int family;
	uint16_t sport, dport;

	/* Split on single spaces; an empty field (two spaces, a trailing
	 * space) is an error. */
	while (nf < 6) {
		size_t start = i;

		while (i < n && line[i] != ' ')
			i++;
		f[nf] = line + start;
		fl[nf] = i - start;
		nf++;
		if (i == n)
			break;
		i++;		/* the space */
		if (nf == 2 && fl[1] == 7 && memcmp(f[1], "UNKNOWN", 7) == 0)
			break;	/* the rest of an UNKNOWN line is ignored */
	}
	if (nf >= 2 && fl[1] == 7 && memcmp(f[1], "UNKNOWN", 7) == 0) {
		out->has_addr = false;
		return PROXY_OK;
	}
	if (nf < 2 || fl[1] != 4 || (memcmp(f[1], "TCP4", 4) != 0 &&
	    memcmp(f[1], "TCP6", 4) != 0)) {
		*why = "bad v1 protocol (expected TCP4, TCP6 or UNKNOWN)";
		return PROXY_INVALID;
	}
	family = f[1][3] == '4' ? AF_INET : AF_INET6;
	if (nf != 6 || f[5] + fl[5] != line + n) {
		*why = "wrong number of v1 fields";
		return PROXY_INVALID;
	}
	for (size_t k = 2; k < 6; k++) {
		if (fl[k] == 0) {
			*why = "empty v1 field";
			return PROXY_INVALID;
		}
	}
	if (v1_addr(family, f[2], fl[2], &out->src) == -1) {
		*why = "bad v1 source address";
		return PROXY_INVALID;
	}
	if (v1_addr(family, f[3], fl[3], &out->dst) == -1) {
		*why = "bad v1 destination address";
		return PROXY_INVALID;
	}
	if (v1_port(f[4], fl[4], &sport) == -1) {
		*why = "bad v1 source port";
		return PROXY_INVALID;
	}
	if (v1_port(f[5], fl[5], &dport) == -1) {
		*why = "bad v1 destination port";
		return PROXY_INVALID;
	}
	set_port(&out->src, sport);
	set_port(&out->dst, dport);
	out->has_addr = true;
	return PROXY_OK;
}

static enum proxy_status
parse_v1(const unsigned char *b, size_t len, struct proxy_hdr *out,
    const char **why)
{
	size_t lim = len < PROXY_V1_MAX ? len : PROXY_V1_MAX;

	for (size_t i = 0; i < lim; i++) {
		if (b[i] == '\n') {
			if (i == 0 || b[i - 1] != '\r') {
				*why = "v1 header line not ended by CRLF";
				return PROXY_INVALID;
			}
			out->version = PROXY_V1;
			out->len = i + 1;
			return v1_line((const char *)b, i - 1, out, why);
		}
		/* Printable ASCII and the final CR only: a NUL or a
		 * control byte means this is not a header, and saying so
		 * now beats waiting for 107 bytes or the timeout. */
		if ((b[i] < 0x20 || b[i] > 0x7e) &&
		    !(b[i] == '\r' && (i + 1 == len || b[i + 1] == '\n'))) {
			*why = "bad character in v1 header";
			return PROXY_INVALID;
		}
	}
	if (len >= PROXY_V1_MAX) {
		*why = "v1 header too long (no CRLF within 107 bytes)";
		return PROXY_INVALID;
	}
	return PROXY_MORE;
}

/* Every TLV's framing must fit the header exactly. */
static int
v2_tlvs(const unsigned char *p, size_t n)
{
	while (n > 0) {
		size_t l;

		if (n < 3)
			return -1;
		l = ((size_t)p[1] << 8) | p[2];
		if (l > n - 3)
			return -1;
		p += 3 + l;
		n -= 3 + l;
	}
	return 0;
}

static enum proxy_status
parse_v2(const unsigned char *b, size_t len, struct proxy_hdr *out,
    const char **why)
{
	unsigned ver, cmd, af, proto;
	size_t body, need;
	const unsigned char *a;

	if (len < V2_HDR)
		return PROXY_MORE;
	ver = b[12] >> 4;
	cmd = b[12] & 0xf;
	af = b[13] >> 4;
	proto = b[13] & 0xf;
	body = ((size_t)b[14] << 8) | b[15];
	if (ver != 2) {
		*why = "bad v2 version";
		return PROXY_INVALID;
	}
	if (cmd != V2_CMD_LOCAL && cmd != V2_CMD_PROXY) {
		*why = "bad v2 command";
		return PROXY_INVALID;
	}
	if (af > V2_AF_UNIX || proto > V2_P_DGRAM) {
		*why = "bad v2 address family or protocol";
		return PROXY_INVALID;
	}
	if (V2_HDR + body > PROXY_V2_MAX) {
		*why = "v2 header too long";
		return PROXY_INVALID;
	}
	if (len < V2_HDR + body)
		return PROXY_MORE;
	out->version = PROXY_V2;
	out->len = V2_HDR + body;
	out->has_addr = false;
	if (cmd == V2_CMD_LOCAL) {
		/* The sender's own connection (a health check): the
		 * specification says to ignore the address block. */
		out->local = true;
		return PROXY_OK;
	}
	need = af == V2_AF_INET ? V2_INET_LEN : af == V2_AF_INET6 ?
	    V2_INET6_LEN : af == V2_AF_UNIX ? V2_UNIX_LEN : 0;
	if (body < need) {
		*why = "v2 address block shorter than its family needs";
		return PROXY_INVALID;
	}
	if (v2_tlvs(b + V2_HDR + need, body - need) == -1) {
		*why = "bad v2 TLV length";
		return PROXY_INVALID;
	}
	a = b + V2_HDR;
	if (proto != V2_P_STREAM || (af != V2_AF_INET && af != V2_AF_INET6))
		return PROXY_OK;	/* unusable: keep the real addresses */
	memset(&out->src, 0, sizeof(out->src));
	memset(&out->dst, 0, sizeof(out->dst));
	if (af == V2_AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)&out->src;
		struct sockaddr_in *d = (struct sockaddr_in *)&out->dst;

		s->sin_family = d->sin_family = AF_INET;
		memcpy(&s->sin_addr, a, 4);
		memcpy(&d->sin_addr, a + 4, 4);
		memcpy(&s->sin_port, a + 8, 2);
		memcpy(&d->sin_port, a + 10, 2);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&out->src;
		struct sockaddr_in6 *d = (struct sockaddr_in6 *)&out->dst;

		s->sin6_family = d->sin6_family = AF_INET6;
		memcpy(&s->sin6_addr, a, 16);
		memcpy(&d->sin6_addr, a + 16, 16);
		memcpy(&s->sin6_port, a + 32, 2);
		memcpy(&d->sin6_port, a + 34, 2);
	}
	out->has_addr = true;
	return PROXY_OK;
}

enum proxy_status
proxy_parse(const void *buf, size_t len, struct proxy_hdr *out,
    const char **why)
{
	const unsigned char *b = buf;

	memset(out, 0, sizeof(*out));
	*why = NULL;
	if (len == 0)
		return PROXY_MORE;
	if (prefix_matches(b, len, v1_sig, sizeof(v1_sig))) {
		if (len < sizeof(v1_sig))
			return PROXY_MORE;
		return parse_v1(b, len, out, why);
	}
	if (prefix_matches(b, len, v2_sig, sizeof(v2_sig)))
		return parse_v2(b, len, out, why);
	*why = "no PROXY protocol header";
	return PROXY_INVALID;
}

/* Both addresses as IPv6 when their families differ. */
static void
to_v6(const struct sockaddr *sa, struct sockaddr_in6 *out)
{
	memset(out, 0, sizeof(*out));
	out->sin6_family = AF_INET6;
	if (sa->sa_family == AF_INET6) {
		*out = *(const struct sockaddr_in6 *)sa;
		return;
	}
	const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

	out->sin6_addr.s6_addr[10] = 0xff;
	out->sin6_addr.s6_addr[11] = 0xff;
	memcpy(&out->sin6_addr.s6_addr[12], &in->sin_addr, 4);
	out->sin6_port = in->sin_port;
}

static bool
inet_family(const struct sockaddr *sa)
{
	return sa != NULL && (sa->sa_family == AF_INET || sa->sa_family == AF_INET6);
}

size_t
proxy_build_local(enum proxy_version v, void *buf, size_t cap)
{
	unsigned char *b = buf;

	if (v == PROXY_V1) {
		static const char unk[] = "PROXY UNKNOWN\r\n";

		if (cap < sizeof(unk) - 1)
			return 0;
		memcpy(b, unk, sizeof(unk) - 1);
		return sizeof(unk) - 1;
	}
	if (cap < V2_HDR)
		return 0;
	memcpy(b, v2_sig, sizeof(v2_sig));
	b[12] = 0x20;			/* version 2, LOCAL */
	b[13] = 0x00;			/* UNSPEC */
	b[14] = b[15] = 0;
	return V2_HDR;
}

size_t
proxy_build(enum proxy_version v, const struct sockaddr *src,
    const struct sockaddr *dst, void *buf, size_t cap)
{
	struct sockaddr_in6 s6, d6;
	unsigned char *b = buf;
	bool six;

	if (!inet_family(src) || !inet_family(dst)) {
		if (v == PROXY_V1) {
			static const char unk[] = "PROXY UNKNOWN\r\n";

			if (cap < sizeof(unk) - 1)
				return 0;
			memcpy(b, unk, sizeof(unk) - 1);
			return sizeof(unk) - 1;
		}
		return proxy_build_local(v, buf, cap);
	}
	six = src->sa_family == AF_INET6 || dst->sa_family == AF_INET6;
	if (six) {
		to_v6(src, &s6);
		to_v6(dst, &d6);
	}
	if (v == PROXY_V1) {
		char sa[INET6_ADDRSTRLEN], da[INET6_ADDRSTRLEN];
		unsigned sp, dp;
		int n;

		if (six) {
			inet_ntop(AF_INET6, &s6.sin6_addr, sa, sizeof(sa));
			inet_ntop(AF_INET6, &d6.sin6_addr, da, sizeof(da));
			sp = ntohs(s6.sin6_port);
			dp = ntohs(d6.sin6_port);
		} else {
			const struct sockaddr_in *s = (const struct sockaddr_in *)src;
			const struct sockaddr_in *d = (const struct sockaddr_in *)dst;

			inet_ntop(AF_INET, &s->sin_addr, sa, sizeof(sa));
			inet_ntop(AF_INET, &d->sin_addr, da, sizeof(da));
			sp = ntohs(s->sin_port);
			dp = ntohs(d->sin_port);
		}
		n = snprintf((char *)b, cap, "PROXY %s %s %s %u %u\r\n",
		    six ? "TCP6" : "TCP4", sa, da, sp, dp);
		if (n < 0 || (size_t)n >= cap)
			return 0;
		return (size_t)n;
	}
	if (cap < V2_HDR + (six ? V2_INET6_LEN : V2_INET_LEN))
		return 0;
	memcpy(b, v2_sig, sizeof(v2_sig));
	b[12] = 0x21;			/* version 2, PROXY */
	b[13] = six ? 0x21 : 0x11;	/* TCP over IPv6 / IPv4 */
	b[14] = 0;
	b[15] = six ? V2_INET6_LEN : V2_INET_LEN;
	if (six) {
		memcpy(b + 16, &s6.sin6_addr, 16);
		memcpy(b + 32, &d6.sin6_addr, 16);
		memcpy(b + 48, &s6.sin6_port, 2);
		memcpy(b + 50, &d6.sin6_port, 2);
		return V2_HDR + V2_INET6_LEN;
	}
	const struct sockaddr_in *s = (const struct sockaddr_in *)src;
	const struct sockaddr_in *d = (const struct sockaddr_in *)dst;

	memcpy(b + 16, &s->sin_addr, 4);
	memcpy(b + 20, &d->sin_addr, 4);
	memcpy(b + 24, &s->sin_port, 2);
	memcpy(b + 26, &d->sin_port, 2);
	return V2_HDR + V2_INET_LEN;
}

int
proxy_version_parse(const char *s, enum proxy_version *out)
{
	if (strcmp(s, "v1") == 0) {
		*out = PROXY_V1;
		return 0;
	}
	if (strcmp(s, "v2") == 0) {
		*out = PROXY_V2;
		return 0;
	}
	return -1;
}
