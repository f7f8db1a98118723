/*
 * check: what the kinds of check share -- failure reasons and their fixed
 * names, sending the prepared bytes, socket errors in words, the PROXY
 * header -- and the table from health_check.type to its kind.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "health/check.h"
#include "parse/proxy_proto.h"

static const char *const reason_names[CR_N] = {
	[CR_NONE] = "none",
	[CR_REFUSED] = "refused",
	[CR_CONNECT_TIMEOUT] = "connect_timeout",
	[CR_TIMEOUT] = "timeout",
	[CR_RESET] = "reset",
	[CR_CLOSED] = "closed",
	[CR_NETWORK] = "network",
	[CR_BAD_REPLY] = "bad_reply",
	[CR_HTTP_STATUS] = "http_status",
	[CR_HTTP_INVALID] = "http_invalid",
	[CR_TLS_HANDSHAKE] = "tls_handshake",
	[CR_TLS_VERIFY] = "tls_verify",
	[CR_AGENT_DOWN] = "agent_down",
	[CR_AGENT_INVALID] = "agent_invalid",
	[CR_OTHER] = "other",
};

const char *
check_reason_name(enum check_reason r)
{
	return r < CR_N ? reason_names[r] : "other";
}

const struct check_kind *
check_kind_of(enum health_type t)
{
	switch (t) {
	case HEALTH_HTTP:
		return &check_kind_http;
	case HEALTH_TLS:
		return &check_kind_tls;
	case HEALTH_AGENT:
		return &check_kind_agent;
	case HEALTH_TCP:
		break;
	}
	return &check_kind_tcp;
}

enum check_step
check_fail(struct check_io *io, enum check_reason r, const char *fmt, ...)
{
	va_list ap;

	io->reason = r;
	va_start(ap, fmt);
	vsnprintf(io->text, sizeof(io->text), fmt, ap);
	va_end(ap);
	return CS_FAIL;
}

const char *
check_errno_text(int err, enum check_reason *r)
{
	switch (err) {
	case ECONNREFUSED:
		*r = CR_REFUSED;
		return "connection refused";
	case ECONNRESET:
		*r = CR_RESET;
		return "connection reset";
	case ETIMEDOUT:
		*r = CR_TIMEOUT;
		return "timeout";
	case ENETUNREACH:
		*r = CR_NETWORK;
		return "network unreachable";
	case EHOSTUNREACH:
		*r = CR_NETWORK;
		return "host unreachable";
	case EPIPE:
		*r = CR_CLOSED;
		return "connection closed";
	default:
		*r = CR_OTHER;
		return strerror(err);
	}
}

enum check_step
check_errno(struct check_io *io, int err, enum check_step want)
{
	enum check_reason r;
	const char *t;

	if (err == EAGAIN || err == EWOULDBLOCK || err == EINTR)
		return want;
	t = check_errno_text(err, &r);
	return check_fail(io, r, "%s", t);
}

enum check_step
check_send(struct check_io *io, enum check_step then)
{
	while (io->sent < io->out_len) {
		ssize_t n = send(io->fd, io->out + io->sent,
		    io->out_len - io->sent, MSG_NOSIGNAL);

		if (n < 0)
			return check_errno(io, errno, CS_WRITE);
		io->sent += (size_t)n;
	}
	return then;
}

size_t
check_proxy_header(const struct server *s, const struct health_cfg *cfg,
    char *out, size_t outlen)
{
	if (!cfg->send_proxy || outlen < PROXY_BUILD_MAX)
		return 0;
	/* "No client": v2 LOCAL, or v1 "PROXY UNKNOWN" for a server that
	 * is sent v1 -- a server expecting a header rejects a check
	 * without one. */
	return proxy_build_local(s->proxy_protocol == PROXY_V1 ? PROXY_V1 :
	    PROXY_V2, out, outlen);
}
