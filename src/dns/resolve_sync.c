/*
 * resolve_sync: a lookup for the configuration loader -- SRV names at load
 * and reload, and host names when global.resolvers replaces the system's
 * name servers -- driven by poll() until it completes.  It blocks, bounded
 * by c-ares' per-query timeout and tries (RESOLVE_TIMEOUT_MS x
 * RESOLVE_TRIES per name server), so it runs only where loading already
 * may block: at start-up before any loop runs, or on the reload helper
 * thread.  Never on an event loop.
 */
#include "autoconfig.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns/resolve.h"
#include "dns/resolve_int.h"

struct sync_result {
	bool done;
	bool ok;
	char error[320];
	struct resolved_addr *addrs;
	size_t n, total;
};

static void
sync_cb(void *arg, bool ok, const char *error, struct resolved_addr *addrs,
    size_t n, size_t total)
{
	struct sync_result *r = arg;

	r->done = true;
	r->ok = ok;
	snprintf(r->error, sizeof(r->error), "%s", error ? error : "failed");
	r->addrs = addrs;
	r->n = n;
	r->total = total;
}

int
resolve_sync(bool srv, const char *host, uint16_t port,
    const char *resolvers, size_t max, int family, struct resolved_addr **out,
    size_t *n, size_t *total, char *err, size_t errlen)
{
	struct sync_result r = { 0 };
	ares_channel ch;

	*out = NULL;
	*n = 0;
	*total = 0;
	if (resolve_channel_new(&ch, resolvers, NULL, NULL, err, errlen) == -1)
		return -1;
	resolve_lookup(ch, srv ? SE_SRV : SE_HOST, host, port, max, family,
	    sync_cb, &r);
	while (!r.done) {
		ares_socket_t socks[ARES_GETSOCK_MAXNUM];
		struct pollfd pfd[ARES_GETSOCK_MAXNUM];
		struct timeval tv, *tvp;
		int bits = ares_getsock(ch, socks, ARES_GETSOCK_MAXNUM);
		nfds_t np = 0;
		int rc;

		for (int i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
			/* Not ARES_GETSOCK_WRITABLE(): it shifts an int by
			 * up to 31. */
			bool rd = ((unsigned)bits >> i) & 1u;
			bool wr = ((unsigned)bits >> (i + ARES_GETSOCK_MAXNUM)) & 1u;

			if (!rd && !wr)
				continue;
			pfd[np].fd = socks[i];
			pfd[np].events = (rd ? POLLIN : 0) | (wr ? POLLOUT : 0);
			pfd[np].revents = 0;
			np++;
		}
		tvp = ares_timeout(ch, NULL, &tv);
		rc = poll(pfd, np, tvp ? (int)(tvp->tv_sec * 1000 +
		    tvp->tv_usec / 1000) + 1 : 1000);
		if (rc < 0 && errno != EINTR)
			break;
		if (rc <= 0) {
			ares_process_fd(ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
			continue;
		}
		for (nfds_t i = 0; i < np; i++) {
			short re = pfd[i].revents;

			if (re == 0)
				continue;
			ares_process_fd(ch,
			    re & (POLLIN | POLLERR | POLLHUP) ? pfd[i].fd :
			    ARES_SOCKET_BAD,
			    re & (POLLOUT | POLLERR) ? pfd[i].fd :
			    ARES_SOCKET_BAD);
		}
	}
	ares_destroy(ch);	/* completes a lookup cut short by poll() */
	if (!r.ok) {
		snprintf(err, errlen, "cannot resolve %s'%s': %s",
		    srv ? "SRV " : "", host, r.error);
		return -1;
	}
	*out = r.addrs;
	*n = r.n;
	*total = r.total;
	return 0;
}
