/*
 * proxy_proto: the PROXY protocol (HAProxy's, versions 1 and 2) as pure
 * code -- parse a header at the start of a byte string, build one for a
 * pair of addresses.  No sockets, no loop, no allocation: the inspection
 * stage (inspect.c) feeds it the bytes read so far, health checks and
 * sessions ask it for the bytes to send.
 */
#ifndef TCPLB_PROXY_PROTO_H
#define TCPLB_PROXY_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* A v1 line is at most 107 bytes with its CRLF (the specification's
 * bound).  A v2 header is 16 bytes plus a length of up to 65535; we accept
 * at most PROXY_V2_MAX in all (the address block and TLVs such as AWS's or
 * Azure's fit many times over) and refuse longer ones, so a header can
 * never make the inspection buffer grow. */
#define PROXY_V1_MAX	107
#define PROXY_V2_MAX	4096
#define PROXY_MAX_HEADER PROXY_V2_MAX
/* Room for any header proxy_build() writes (v2 TCP6: 16 + 36). */
#define PROXY_BUILD_MAX	PROXY_V1_MAX

enum proxy_version {
	PROXY_NONE = 0,
	PROXY_V1 = 1,
	PROXY_V2 = 2,
};

enum proxy_status {
	PROXY_OK,		/* a complete header: see struct proxy_hdr */
	PROXY_MORE,		/* a valid prefix: read more bytes */
	PROXY_INVALID,		/* not a (valid) header: *why says how */
};

struct proxy_hdr {
	enum proxy_version version;
	/* false: the header carries no usable address (v1 UNKNOWN, v2
	 * LOCAL, v2 UNSPEC/UNIX/UDP): keep the connection's own addresses. */
	bool has_addr;
	bool local;			/* v2 LOCAL command (a health check) */
	struct sockaddr_storage src;	/* AF_INET or AF_INET6 when has_addr */
	struct sockaddr_storage dst;
	size_t len;			/* header bytes to consume */
};

/*
 * Parse a header at the start of buf[0..len).  PROXY_MORE: everything so
 * far is a valid beginning (len may be 0).  PROXY_INVALID: *why is a
 * short static string fit for a log ("bad v1 source address", ...).
 */
enum proxy_status proxy_parse(const void *buf, size_t len,
    struct proxy_hdr *out, const char **why);

/*
 * Write a header saying the connection came from src to dst (AF_INET or
 * AF_INET6; a mixed pair is sent as IPv6 with the IPv4 one mapped; any
 * other family, or src/dst NULL, is sent as v1 UNKNOWN / v2 LOCAL).
 * Returns the length written (at most PROXY_BUILD_MAX), 0 if cap is too
 * small.
 */
size_t proxy_build(enum proxy_version v, const struct sockaddr *src,
    const struct sockaddr *dst, void *buf, size_t cap);
/* The header a health check sends: v2 LOCAL, or v1 "PROXY UNKNOWN\r\n". */
size_t proxy_build_local(enum proxy_version v, void *buf, size_t cap);

/* "v1", "v2" -> version; -1 otherwise. */
int proxy_version_parse(const char *s, enum proxy_version *out);

#endif
