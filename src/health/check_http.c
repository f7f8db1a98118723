/*
 * check_http: health_check type http -- one HTTP/1.1 request with
 * `Connection: close`; the status line must parse and its code be in
 * expect_status, and the headers must end within HTTP_CHECK_HEAD_MAX
 * bytes.  The body is never read: a 10 MB body costs one small read.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "base/util.h"
#include "health/check.h"
#include "parse/proxy_proto.h"

static void
http_build(const struct server *s, const struct health_cfg *cfg, char **out,
    size_t *out_len)
{
	char hdr[PROXY_BUILD_MAX];
	size_t hl = check_proxy_header(s, cfg, hdr, sizeof(hdr));
	char *req;
	size_t n;

	/* Host: the configured name, else the address checked (HTTP/1.1
	 * requires one). */
	req = xasprintf("%s %s HTTP/1.1\r\nHost: %s\r\n"
	    "User-Agent: tcplb-check\r\nAccept: */*\r\n"
	    "Connection: close\r\n\r\n",
	    cfg->method ? cfg->method : "GET", cfg->path ? cfg->path : "/",
	    cfg->host ? cfg->host : s->addr_text);
	n = strlen(req);
	*out_len = hl + n;
	*out = xmalloc(*out_len);
	memcpy(*out, hdr, hl);
	memcpy(*out + hl, req, n);
	free(req);
}

static enum check_step
http_verdict(struct check_io *io)
{
	enum http_parse r;
	size_t end;
	int code = 0;

	r = http_status_line(io->in, io->in_len, &code);
	if (r == HTTP_BAD || r == HTTP_TOO_LONG)
		return check_fail(io, CR_HTTP_INVALID, "not an HTTP response");
	if (r == HTTP_MORE)
		return CS_READ;
	r = http_head_end(io->in, io->in_len, &end);
	if (r == HTTP_TOO_LONG)
		return check_fail(io, CR_HTTP_INVALID, "HTTP %d, headers "
		    "longer than %d bytes", code, HTTP_CHECK_HEAD_MAX);
	if (r == HTTP_MORE)
		return CS_READ;
	if (!status_set_match(&io->cfg->expect_status, code))
		return check_fail(io, CR_HTTP_STATUS, "HTTP %d", code);
	snprintf(io->text, sizeof(io->text), "HTTP %d", code);
	return CS_PASS;
}

static enum check_step
http_readable(struct check_io *io)
{
	for (;;) {
		ssize_t n;
		enum check_step st;

		if (io->in_len == HTTP_CHECK_HEAD_MAX)
			return http_verdict(io);
		n = recv(io->fd, io->in + io->in_len,
		    HTTP_CHECK_HEAD_MAX - io->in_len, 0);
		if (n < 0) {
			st = check_errno(io, errno, CS_READ);
			/* A server may reset after answering (it closed
			 * with our request unread): judge what came. */
			if (st == CS_FAIL && io->in_len > 0 &&
			    io->reason == CR_RESET) {
				st = http_verdict(io);
				if (st == CS_READ)
					return check_fail(io, CR_RESET,
					    "connection reset");
			}
			return st;
		}
		if (n == 0) {
			st = http_verdict(io);
			if (st != CS_READ)
				return st;
			return check_fail(io, io->in_len ? CR_HTTP_INVALID :
			    CR_CLOSED, io->in_len ? "incomplete HTTP "
			    "response" : "connection closed");
		}
		io->in_len += (size_t)n;
		st = http_verdict(io);
		if (st != CS_READ)
			return st;
	}
}

static enum check_step
http_writable(struct check_io *io)
{
	enum check_step st = check_send(io, CS_READ);

	if (st == CS_READ && io->in == NULL)
		io->in = xmalloc(HTTP_CHECK_HEAD_MAX);
	return st;
}

const struct check_kind check_kind_http = {
	.build = http_build,
	.start = http_writable,
	.readable = http_readable,
	.writable = http_writable,
	.end = NULL,
};
