/*
 * check_tcp: health_check type tcp -- the connection opens, then the
 * optional `send` goes out and the optional `expect` must begin the reply
 * (compared as bytes arrive, so a wrong first byte fails at once).
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "base/util.h"
#include "health/check.h"
#include "parse/proxy_proto.h"

static void
tcp_build(const struct server *s, const struct health_cfg *cfg, char **out,
    size_t *out_len)
{
	char hdr[PROXY_BUILD_MAX];
	size_t hl = check_proxy_header(s, cfg, hdr, sizeof(hdr));

	*out_len = hl + cfg->send_len;
	*out = NULL;
	if (*out_len == 0)
		return;
	*out = xmalloc(*out_len);
	memcpy(*out, hdr, hl);
	if (cfg->send_len)
		memcpy(*out + hl, cfg->send, cfg->send_len);
}

static enum check_step
tcp_readable(struct check_io *io)
{
	const struct health_cfg *cfg = io->cfg;

	while (io->in_len < cfg->expect_len) {
		ssize_t n = recv(io->fd, io->in + io->in_len,
		    cfg->expect_len - io->in_len, 0);

		if (n < 0)
			return check_errno(io, errno, CS_READ);
		if (n == 0)
			return check_fail(io, CR_CLOSED, "connection closed");
		if (memcmp(io->in + io->in_len, cfg->expect + io->in_len,
		    (size_t)n) != 0)
			return check_fail(io, CR_BAD_REPLY, "bad reply");
		io->in_len += (size_t)n;
	}
	return CS_PASS;
}

static enum check_step
tcp_writable(struct check_io *io)
{
	enum check_step st = check_send(io, CS_READ);

	if (st == CS_READ && io->cfg->expect_len == 0)
		return CS_PASS;
	if (st == CS_READ && io->in == NULL)
		io->in = xmalloc(io->cfg->expect_len);
	return st;
}

static enum check_step
tcp_start(struct check_io *io)
{
	return tcp_writable(io);
}

const struct check_kind check_kind_tcp = {
	.build = tcp_build,
	.start = tcp_start,
	.readable = tcp_readable,
	.writable = tcp_writable,
	.end = NULL,
};
