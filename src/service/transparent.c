/*
 * transparent: what `source: client` needs from the host, checked when a
 * generation is about to run (start and every reload) so that tcplb says
 * once what is missing instead of failing connection by connection.
 *
 * Two things make a connection from the client's address work:
 *  - the capability: IP_TRANSPARENT / IPV6_TRANSPARENT need CAP_NET_RAW
 *    or CAP_NET_ADMIN (either; the unit drop-in grants CAP_NET_RAW, the
 *    narrower, as HAProxy does for `usesrc`).  Without it no such connection can be made: the generation is refused
 *    (at start tcplb exits, at reload the old configuration keeps serving).
 *  - the routes back: a server answers to the client's address, which is
 *    not ours.  Those replies must be routed to tcplb (the servers' route
 *    to clients goes through this host), then delivered locally: nftables
 *    marks packets of transparent sockets (`socket transparent 1`), and a
 *    policy rule sends marked packets to a table holding `local default
 *    dev lo` (contrib/transparent).  tcplb can see the second half: some
 *    fwmark rule whose lookup answers "local" for a foreign address.
 *    When none exists it warns (the operator may route replies some other
 *    way, so this is not an error).  The nftables half is checked by
 *    contrib/transparent/tcplb-transparent check.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdbool.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <linux/fib_rules.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "base/log.h"
#include "base/net.h"
#include "service/transparent.h"

#define NL_BUF 32768
#define NL_MAX_MARKS 16

/* Is there a whole message at nh among the len bytes left?  (NLMSG_OK
 * with a signed length: NLMSG_NEXT may take len below zero.) */
static bool
nl_ok(const struct nlmsghdr *nh, ssize_t len)
{
	return len >= (ssize_t)sizeof(*nh) && nh->nlmsg_len >= sizeof(*nh) &&
	    nh->nlmsg_len <= (size_t)len;
}

/* Send one request, return the socket to read the answer from, or -1. */
static int
nl_request(struct nlmsghdr *req)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	struct timeval tv = { .tv_sec = 1 };
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);

	if (fd < 0)
		return -1;
	/* Runs at start and on the reload path, never on a worker: a
	 * bounded wait is acceptable, an endless one is not. */
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (sendto(fd, req, req->nlmsg_len, 0, (struct sockaddr *)&sa,
	    sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The fwmarks that policy rules of family af select on (at most max). */
static int
nl_rule_marks(int af, uint32_t *marks, int max)
{
	struct {
		struct nlmsghdr nh;
		struct fib_rule_hdr fr;
	} req = {
		.nh = { .nlmsg_len = sizeof(req), .nlmsg_type = RTM_GETRULE,
		    .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP, .nlmsg_seq = 1 },
		.fr = { .family = (unsigned char)af },
	};
	static char buf[NL_BUF];
	int fd, n = 0;
	bool done = false;

	if ((fd = nl_request(&req.nh)) < 0)
		return -1;
	while (!done) {
		ssize_t len = recv(fd, buf, sizeof(buf), 0);
		struct nlmsghdr *nh = (struct nlmsghdr *)buf;

		if (len <= 0)
			break;
		for (; nl_ok(nh, len); nh = NLMSG_NEXT(nh, len)) {
			struct fib_rule_hdr *fr = NLMSG_DATA(nh);
			struct rtattr *a = (struct rtattr *)((char *)fr +
			    NLMSG_ALIGN(sizeof(*fr)));
			int alen = (int)nh->nlmsg_len -
			    NLMSG_LENGTH(sizeof(*fr));

			if (nh->nlmsg_type == NLMSG_DONE ||
			    nh->nlmsg_type == NLMSG_ERROR) {
				done = true;
				break;
			}
			for (; RTA_OK(a, alen); a = RTA_NEXT(a, alen))
				if (a->rta_type == FRA_FWMARK && n < max &&
				    RTA_PAYLOAD(a) >= sizeof(uint32_t))
					memcpy(&marks[n++], RTA_DATA(a),
					    sizeof(uint32_t));
		}
	}
	close(fd);
	return n;
}

/* Is a packet to a foreign address (TEST-NET / documentation prefix)
 * carrying mark delivered locally?  1 yes, 0 no, -1 cannot tell. */
static int
nl_mark_is_local(int af, uint32_t mark)
{
	struct {
		struct nlmsghdr nh;
		struct rtmsg rt;
		char attrs[64];
	} req;
	static char buf[NL_BUF];
	struct rtattr *a;
	struct nlmsghdr *nh;
	unsigned char dst[16];
	size_t dlen = af == AF_INET6 ? 16 : 4;
	ssize_t len;
	int fd, r = -1;

	memset(&req, 0, sizeof(req));
	memset(dst, 0, sizeof(dst));
	if (af == AF_INET6) {
		dst[0] = 0x20, dst[1] = 0x01, dst[2] = 0x0d, dst[3] = 0xb8;
		dst[15] = 1;			/* 2001:db8::1 */
	} else {
		dst[0] = 198, dst[1] = 51, dst[2] = 100, dst[3] = 1;
	}
	req.nh.nlmsg_type = RTM_GETROUTE;
	req.nh.nlmsg_flags = NLM_F_REQUEST;
	req.nh.nlmsg_seq = 2;
	req.rt.rtm_family = (unsigned char)af;
	req.rt.rtm_dst_len = (unsigned char)(dlen * 8);
	req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(req.rt));
	a = (struct rtattr *)((char *)&req + NLMSG_ALIGN(req.nh.nlmsg_len));
	a->rta_type = RTA_DST;
	a->rta_len = (unsigned short)RTA_LENGTH(dlen);
	memcpy(RTA_DATA(a), dst, dlen);
	req.nh.nlmsg_len = NLMSG_ALIGN(req.nh.nlmsg_len) + RTA_ALIGN(a->rta_len);
	a = (struct rtattr *)((char *)&req + req.nh.nlmsg_len);
	a->rta_type = RTA_MARK;
	a->rta_len = (unsigned short)RTA_LENGTH(sizeof(mark));
	memcpy(RTA_DATA(a), &mark, sizeof(mark));
	req.nh.nlmsg_len += RTA_ALIGN(a->rta_len);

	if ((fd = nl_request(&req.nh)) < 0)
		return -1;
	len = recv(fd, buf, sizeof(buf), 0);
	nh = (struct nlmsghdr *)buf;
	if (nl_ok(nh, len)) {
		if (nh->nlmsg_type == RTM_NEWROUTE)
			r = ((struct rtmsg *)NLMSG_DATA(nh))->rtm_type ==
			    RTN_LOCAL;
		else if (nh->nlmsg_type == NLMSG_ERROR)
			r = 0;		/* unreachable: not local either */
	}
	close(fd);
	return r;
}

/* 1: some fwmark rule delivers foreign addresses locally; 0: none;
 * -1: netlink failed (said in err). */
static int
transparent_routes(int af, char *err, size_t errlen)
{
	uint32_t marks[NL_MAX_MARKS];
	int n = nl_rule_marks(af, marks, NL_MAX_MARKS);

	if (n < 0) {
		snprintf(err, errlen, "cannot read the policy rules: %s",
		    strerror(errno));
		return -1;
	}
	for (int i = 0; i < n; i++)
		if (nl_mark_is_local(af, marks[i]) == 1)
			return 1;
	return 0;
}

/* Which families `source: client` servers of g use: bit 0 IPv4, 1 IPv6. */
static unsigned
transparent_families(const struct gen *g)
{
	unsigned fam = 0;

	for (uint32_t p = 0; p < g->npools; p++)
		for (uint32_t i = 0; i < g->pools[p].nservers; i++) {
			const struct server *s = &g->pools[p].servers[i];

			if (s->source_client)
				fam |= s->addr.ss_family == AF_INET6 ? 2 : 1;
		}
	return fam;
}

int
transparent_check(const struct gen *g, char *err, size_t errlen)
{
	unsigned fam = transparent_families(g);

	for (int i = 0; i < 2; i++) {
		int af = i ? AF_INET6 : AF_INET;
		const char *v = i ? "IPv6" : "IPv4";
		char why[256];
		int e;

		if (!(fam & (1u << i)))
			continue;
		if ((e = net_transparent_probe(af)) != 0) {
			snprintf(err, errlen, "source: client needs "
			    "CAP_NET_RAW (or CAP_NET_ADMIN) to connect from "
			    "the clients' addresses (%s_TRANSPARENT: %s); "
			    "grant it with the unit drop-in "
			    "contrib/transparent/transparent.conf",
			    i ? "IPV6" : "IP", strerror(e));
			return -1;
		}
		switch (transparent_routes(af, why, sizeof(why))) {
		case 0:
			log_warnx("source: client (%s): no policy route "
			    "delivers replies to the clients' addresses to "
			    "tcplb: servers' answers will not arrive.  Needed: "
			    "`ip%s rule add fwmark 0x1 lookup 100`, `ip%s route "
			    "add local default dev lo table 100`, and nftables "
			    "marking packets of transparent sockets; "
			    "contrib/transparent/tcplb-transparent sets them up "
			    "and `tcplb-transparent check` says what is missing",
			    v, i ? " -6" : "", i ? " -6" : "");
			break;
		case -1:
			log_warnx("source: client (%s): %s; not checked", v,
			    why);
			break;
		}
	}
	return 0;
}
