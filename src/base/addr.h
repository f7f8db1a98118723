/*
 * addr: parsing and printing of "HOST:PORT", "[IPv6]:PORT" and "*:PORT", and
 * resolution at load time.  addr_parse/addr_format/addr_equal are pure;
 * addr_resolve may block on DNS and must never run on a worker loop.
 */
#ifndef TCPLB_ADDR_H
#define TCPLB_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

#define ADDR_STRLEN 64	/* "[ffff:...:ffff%ifname]:65535" fits */

struct addr_spec {
	char host[256];		/* without brackets; empty for "*" */
	uint16_t port;
	bool wildcard;		/* "*:PORT" */
	bool bracketed;		/* written as [IPv6]:PORT */
};

/* Returns 0, or -1 with a message in err naming what is wrong. */
int addr_parse(const char *text, struct addr_spec *out, char *err, size_t errlen);
/* The same, but err does not repeat text ("missing port (expected ...)"):
 * for callers that quote the text themselves ("invalid backend 'x': ..."). */
int addr_parse_bare(const char *text, struct addr_spec *out, char *err,
    size_t errlen);

/* A bare IP address, port 0 (`source:`); small enough to keep one in every
 * server. */
struct addr_ip {
	socklen_t len;			/* 0: none */
	union {
		struct sockaddr sa;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
	} u;
};

/* "192.0.2.7", "2001:db8::7" or "[2001:db8::7]": a numeric address of
 * this host, no port, no name.  Returns 0, or -1 with a message in err. */
int addr_parse_ip(const char *text, struct addr_ip *out, char *err,
    size_t errlen);

/* Resolve to one or more socket addresses (all of them, in resolver order,
 * duplicates removed).  passive: for bind (wildcard = 0.0.0.0 and ::).
 * *out is malloc'd.  Returns 0 or -1 with a message in err. */
int addr_resolve(const struct addr_spec *spec, bool passive,
    struct sockaddr_storage **out, size_t *n, char *err, size_t errlen);

/* "1.2.3.4:80" or "[::1]:80"; always NUL-terminated; returns buf. */
const char *addr_format(const struct sockaddr *sa, char *buf, size_t len);
/* Address only, no port. */
const char *addr_format_host(const struct sockaddr *sa, char *buf, size_t len);
socklen_t addr_len(const struct sockaddr *sa);
bool addr_equal(const struct sockaddr *a, const struct sockaddr *b);
uint16_t addr_port(const struct sockaddr *sa);
void addr_set_port(struct sockaddr *sa, uint16_t port);
/* Hash of the address part only (not the port): for `balance: source`. */
uint64_t addr_hash_host(const struct sockaddr *sa);
/* Hash of everything addr_equal() compares, for lookup tables. */
uint64_t addr_hash(const struct sockaddr *sa);

#endif
